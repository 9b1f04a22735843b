//! `coffer vault diagnostics set|show|delete`: a vault's diagnostic settings, the switch of its
//! audit log, through the same ARM resource `az monitor diagnostic-settings` writes.

use anyhow::Result;
use clap::Subcommand;
use serde_json::{Value, json};

use crate::client::print_output;
use crate::vault_cmd::{Arm, At};

/// The setting `coffer` creates unless told another name.
const DEFAULT_SETTING: &str = "coffer-audit";

const COLUMNS: &[(&str, &str)] = &[("Name", "name"), ("AuditEvent", "auditEvent")];

#[derive(Subcommand, Debug)]
pub(crate) enum DiagnosticsCommand {
    /// Create or replace a diagnostic setting with the AuditEvent category on (or off).
    Set {
        #[command(flatten)]
        at: At,
        /// Name of the diagnostic setting.
        #[arg(long, default_value = DEFAULT_SETTING)]
        setting_name: String,
        /// Whether the setting enables the audit log.
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        enabled: bool,
    },
    /// The vault's diagnostic settings (or the one named).
    Show {
        #[command(flatten)]
        at: At,
        /// Name of the diagnostic setting.
        #[arg(long)]
        setting_name: Option<String>,
    },
    /// Delete a diagnostic setting; with none left enabling it, the audit log stops.
    Delete {
        #[command(flatten)]
        at: At,
        /// Name of the diagnostic setting.
        #[arg(long, default_value = DEFAULT_SETTING)]
        setting_name: String,
    },
}

pub(crate) async fn run(arm: &Arm, cmd: DiagnosticsCommand, table: bool) -> Result<()> {
    use reqwest::Method as M;
    let base = |at: &At, rg: &str| {
        format!(
            "{}/providers/Microsoft.Insights/diagnosticSettings",
            arm.vault_path(rg, &at.name)
        )
    };
    match cmd {
        DiagnosticsCommand::Set {
            at,
            setting_name,
            enabled,
        } => {
            let rg = arm.group_of(&at).await?;
            let body = json!({"properties": {
                "logs": [{"category": "AuditEvent", "enabled": enabled}],
                "metrics": [],
            }});
            let v = arm
                .call(
                    M::PUT,
                    &format!("{}/{}", base(&at, &rg), seg(&setting_name)),
                    Some(body),
                )
                .await?;
            print_output(&summary(v), table, COLUMNS)
        }
        DiagnosticsCommand::Show { at, setting_name } => {
            let rg = arm.group_of(&at).await?;
            let v = match setting_name {
                Some(n) => {
                    let one = arm
                        .call(M::GET, &format!("{}/{}", base(&at, &rg), seg(&n)), None)
                        .await?;
                    summary(one)
                }
                None => {
                    let list = arm.call(M::GET, &base(&at, &rg), None).await?;
                    Value::Array(
                        list["value"]
                            .as_array()
                            .cloned()
                            .unwrap_or_default()
                            .into_iter()
                            .map(summary)
                            .collect(),
                    )
                }
            };
            print_output(&v, table, COLUMNS)
        }
        DiagnosticsCommand::Delete { at, setting_name } => {
            let rg = arm.group_of(&at).await?;
            arm.call(
                M::DELETE,
                &format!("{}/{}", base(&at, &rg), seg(&setting_name)),
                None,
            )
            .await?;
            print_output(
                &json!({"deleted": setting_name, "vault": at.name}),
                table,
                &[("Deleted", "deleted"), ("Vault", "vault")],
            )
        }
    }
}

/// The setting as ARM answered it, plus `auditEvent`: whether it turns the audit log on.
fn summary(mut v: Value) -> Value {
    let on = v["properties"]["logs"].as_array().is_some_and(|logs| {
        logs.iter().any(|l| {
            l["enabled"] == json!(true)
                && (l["category"]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case("AuditEvent"))
                    || l["categoryGroup"].as_str().is_some_and(|g| {
                        g.eq_ignore_ascii_case("audit") || g.eq_ignore_ascii_case("allLogs")
                    }))
        })
    });
    v["auditEvent"] = json!(on);
    v
}

fn seg(s: &str) -> String {
    percent_encode(s)
}

/// Percent-encodes a path segment.
pub(crate) fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_say_whether_audit_is_on() {
        let on = json!({"properties": {"logs": [{"category": "auditevent", "enabled": true}]}});
        assert_eq!(summary(on)["auditEvent"], true);
        let group =
            json!({"properties": {"logs": [{"categoryGroup": "allLogs", "enabled": true}]}});
        assert_eq!(summary(group)["auditEvent"], true);
        let off = json!({"properties": {"logs": [{"category": "AuditEvent", "enabled": false}]}});
        assert_eq!(summary(off)["auditEvent"], false);
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
    }
}
