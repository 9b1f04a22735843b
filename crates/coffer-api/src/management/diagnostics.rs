//! Routes under a vault's id for its logs: `providers/Microsoft.Insights/diagnosticSettings`
//! (list, and PUT/GET/DELETE of one setting, as `az monitor diagnostic-settings` calls them) and
//! Coffer's own `providers/Coffer.Diagnostics/auditEvents`, the vault's audit log:
//!
//! `GET {vaultId}/providers/Coffer.Diagnostics/auditEvents?api-version=2024-01-01` with the
//! optional filters `since`/`until` (RFC 3339, or an age such as `90s`, `15m`, `1h`, `7d`),
//! `status`, `operation` (`SecretGet`...), `caller` (object id), `requestId`, `after` (a
//! `sequence` seen before: what came since), `top` (at most 1000) and `order` (`newest` for
//! newest first). It answers `{"value":[<AuditEvent>...]}`, each event in Key Vault's shape plus
//! its `sequence`, oldest first.

use axum::response::{IntoResponse, Response};
use coffer_domain::Principal;
use coffer_service::{
    AuditFilter, AuditOperation, Coffer, DIAGNOSTIC_SETTING_TYPE, DiagnosticLog, DiagnosticMetric,
    DiagnosticSetting, DoctorRequest, MAX_LOG_PAGE, ManagementError,
};
use coffer_wire::arm::ResourceList;
use coffer_wire::arm::insights::{
    self as wire, DiagnosticSettingIn, LogSettings, MetricSettings, RetentionPolicy,
};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::toolkit::{ArmRequest, Failure, ok};
use crate::error::arm::ArmError;
use crate::text::clip;

/// Diagnostic settings of vault `vault`: all of them, or the one called `name`.
pub(super) async fn settings_route(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    (subscription, rg, vault): (&str, &str, &str),
    name: Option<&str>,
) -> Result<Response, Failure> {
    let Some(name) = name else {
        r.only(Method::GET)?;
        let items = app
            .list_diagnostic_settings(caller, subscription, rg, vault)
            .await?;
        return Ok(ok(ResourceList::of(
            items.into_iter().map(setting_out).collect(),
        )));
    };
    match r.method {
        Method::GET => {
            let s = app
                .get_diagnostic_setting(caller, subscription, rg, vault, name)
                .await?;
            Ok(ok(setting_out(s)))
        }
        Method::PUT => {
            let body: DiagnosticSettingIn = r.json_or_default()?;
            let props = body.properties.ok_or_else(|| {
                ArmError::invalid_content(
                    "The request content must be {\"properties\": {\"logs\": [...], ...}}.",
                )
            })?;
            // Azure answers 200 whether the setting was created or replaced (the CLI refuses a
            // 201).
            let (s, _created) = app
                .put_diagnostic_setting(caller, subscription, rg, vault, name, setting_in(props))
                .await?;
            Ok(ok(setting_out(s)))
        }
        Method::DELETE => {
            let removed = app
                .delete_diagnostic_setting(caller, subscription, rg, vault, name)
                .await?;
            Ok(if removed {
                StatusCode::OK
            } else {
                StatusCode::NO_CONTENT
            }
            .into_response())
        }
        _ => Err(r.method_not_allowed().into()),
    }
}

/// The vault's audit log, filtered by the query.
pub(super) async fn audit_events(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    (subscription, rg, vault): (&str, &str, &str),
) -> Result<Response, Failure> {
    r.only(Method::GET)?;
    let now_ms = OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let filter = audit_filter(|k| r.query(k), now_ms)?;
    let events = app
        .vault_audit_events(caller, subscription, rg, vault, filter)
        .await?;
    let mut value = Vec::with_capacity(events.len());
    for e in events {
        let mut v = serde_json::to_value(&e.event)
            .map_err(|e| ManagementError::Internal(format!("audit event: {e}")))?;
        if let Some(o) = v.as_object_mut() {
            o.insert("sequence".to_owned(), json!(e.seq));
        }
        value.push(v);
    }
    Ok(ok(json!({ "value": Value::Array(value) })))
}

/// `POST {vaultId}/providers/Coffer.Diagnostics/doctor`: why a request failed and the fix.
pub(super) async fn doctor(
    app: &Coffer,
    caller: &Principal,
    r: &ArmRequest,
    (subscription, rg, vault): (&str, &str, &str),
) -> Result<Response, Failure> {
    r.only(Method::POST)?;
    let body: coffer_wire::arm::doctor::DoctorRequest = r.json_or_default()?;
    let address = match body.address.as_deref() {
        None => None,
        Some(a) => Some(a.trim().parse().map_err(|_| {
            ArmError::invalid_content(format!("'{}' is not an IP address.", clip(a)))
        })?),
    };
    let report = app
        .vault_doctor(
            caller,
            subscription,
            rg,
            vault,
            DoctorRequest {
                request_id: body.request_id,
                token: body.token,
                operation: body.operation,
                address,
                object: body.object,
            },
        )
        .await?;
    Ok(ok(coffer_wire::arm::doctor::DoctorReport {
        vault: report.vault,
        operation: report.operation.to_owned(),
        caller: report.caller,
        address: report.address,
        status: report.status,
        gateway: report.gateway,
        findings: report
            .findings
            .into_iter()
            .map(|f| coffer_wire::arm::doctor::DoctorFinding {
                id: f.id.to_owned(),
                summary: f.summary,
                fix: f.fix,
            })
            .collect(),
    }))
}

/// Reads the query's filters; `now_ms` anchors ages such as `1h`.
fn audit_filter<'a>(
    q: impl Fn(&str) -> Option<&'a str>,
    now_ms: i64,
) -> Result<AuditFilter, ArmError> {
    let bad = |name: &str, v: &str, what: &str| {
        ArmError::invalid_content(format!(
            "The query parameter '{name}' has the invalid value '{}': {what}.",
            clip(v)
        ))
    };
    let time = |name: &str| -> Result<Option<i64>, ArmError> {
        q(name)
            .map(|v| {
                parse_time(v, now_ms).ok_or_else(|| {
                    bad(
                        name,
                        v,
                        "use an RFC 3339 time (2024-05-01T12:00:00Z) or an age such as 90s, 15m, 1h or 7d",
                    )
                })
            })
            .transpose()
    };
    let number = |name: &str| -> Result<Option<u64>, ArmError> {
        q(name)
            .map(|v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| bad(name, v, "expected a number"))
            })
            .transpose()
    };
    let status = number("status")?
        .map(|s| u16::try_from(s).map_err(|_| bad("status", &s.to_string(), "not an HTTP status")))
        .transpose()?;
    let operation = q("operation")
        .map(|v| {
            v.parse::<AuditOperation>()
                .map_err(|e| bad("operation", v, &e.to_string()))
        })
        .transpose()?;
    let limit = number("top")?
        .or(number("$top")?)
        .map(|n| usize::try_from(n).unwrap_or(MAX_LOG_PAGE).min(MAX_LOG_PAGE));
    let newest_first = match q("order") {
        None => false,
        Some(o) if o.eq_ignore_ascii_case("newest") => true,
        Some(o) if o.eq_ignore_ascii_case("oldest") => false,
        Some(o) => return Err(bad("order", o, "use newest or oldest")),
    };
    Ok(AuditFilter {
        vault: None,
        since_ms: time("since")?,
        until_ms: time("until")?,
        status,
        operation,
        caller_oid: q("caller").map(|c| c.trim().to_ascii_lowercase()),
        request_id: q("requestId").map(|c| c.trim().to_owned()),
        after_seq: number("after")?,
        before_seq: None,
        limit,
        newest_first,
    })
}

/// An RFC 3339 time, or an age before `now_ms` (`90s`, `15m`, `1h`, `7d`), as unix ms.
fn parse_time(v: &str, now_ms: i64) -> Option<i64> {
    let v = v.trim();
    if let Ok(t) = OffsetDateTime::parse(v, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    let unit = v.chars().last()?;
    let n: i64 = v.get(..v.len() - unit.len_utf8())?.parse().ok()?;
    let ms = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    (n >= 0).then(|| now_ms.saturating_sub(n.saturating_mul(ms)))
}

fn retention_in(r: Option<RetentionPolicy>) -> Option<(bool, u32)> {
    r.map(|r| (r.enabled, r.days))
}

fn retention_out(r: Option<(bool, u32)>) -> Option<RetentionPolicy> {
    r.map(|(enabled, days)| RetentionPolicy { enabled, days })
}

fn setting_in(p: wire::DiagnosticSettingProperties) -> DiagnosticSetting {
    DiagnosticSetting {
        id: String::new(),
        name: String::new(),
        logs: p
            .logs
            .into_iter()
            .map(|l| DiagnosticLog {
                category: l.category,
                category_group: l.category_group,
                enabled: l.enabled,
                retention: retention_in(l.retention_policy),
            })
            .collect(),
        metrics: p
            .metrics
            .into_iter()
            .map(|m| DiagnosticMetric {
                category: m.category,
                time_grain: m.time_grain,
                enabled: m.enabled,
                retention: retention_in(m.retention_policy),
            })
            .collect(),
        storage_account_id: p.storage_account_id,
        workspace_id: p.workspace_id,
        event_hub_authorization_rule_id: p.event_hub_authorization_rule_id,
        event_hub_name: p.event_hub_name,
        service_bus_rule_id: p.service_bus_rule_id,
        marketplace_partner_id: p.marketplace_partner_id,
        log_analytics_destination_type: p.log_analytics_destination_type,
    }
}

fn setting_out(s: DiagnosticSetting) -> wire::DiagnosticSetting {
    wire::DiagnosticSetting {
        id: s.id,
        name: s.name,
        kind: DIAGNOSTIC_SETTING_TYPE,
        properties: wire::DiagnosticSettingProperties {
            storage_account_id: s.storage_account_id,
            service_bus_rule_id: s.service_bus_rule_id,
            workspace_id: s.workspace_id,
            event_hub_authorization_rule_id: s.event_hub_authorization_rule_id,
            event_hub_name: s.event_hub_name,
            marketplace_partner_id: s.marketplace_partner_id,
            log_analytics_destination_type: s.log_analytics_destination_type,
            logs: s
                .logs
                .into_iter()
                .map(|l| LogSettings {
                    category: l.category,
                    category_group: l.category_group,
                    enabled: l.enabled,
                    retention_policy: retention_out(l.retention),
                })
                .collect(),
            metrics: s
                .metrics
                .into_iter()
                .map(|m| MetricSettings {
                    category: m.category,
                    time_grain: m.time_grain,
                    enabled: m.enabled,
                    retention_policy: retention_out(m.retention),
                })
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use coffer_domain::VaultOp;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn filter(pairs: &[(&str, &str)]) -> Result<AuditFilter, ArmError> {
        let q: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        audit_filter(|k| q.get(k).map(String::as_str), NOW)
    }

    #[test]
    fn times_are_rfc3339_or_ages() {
        assert_eq!(parse_time("1h", NOW), Some(NOW - 3_600_000));
        assert_eq!(parse_time("90s", NOW), Some(NOW - 90_000));
        assert_eq!(parse_time("7d", NOW), Some(NOW - 7 * 86_400_000));
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z", NOW),
            Some(1_700_000_000_000)
        );
        for bad in ["", "h", "1w", "-1h", "yesterday", "2023-13-01T00:00:00Z"] {
            assert_eq!(parse_time(bad, NOW), None, "{bad:?}");
        }
    }

    #[test]
    fn filters_come_from_the_query() {
        let f = filter(&[
            ("since", "15m"),
            ("status", "403"),
            ("operation", "secretget"),
            ("caller", " OID-1 "),
            ("requestId", "r-1"),
            ("after", "41"),
            ("top", "5000"),
            ("order", "newest"),
        ])
        .unwrap();
        assert_eq!(f.since_ms, Some(NOW - 900_000));
        assert_eq!(f.status, Some(403));
        assert_eq!(f.operation, Some(AuditOperation::Data(VaultOp::SecretGet)));
        assert_eq!(f.caller_oid.as_deref(), Some("oid-1"));
        assert_eq!(f.request_id.as_deref(), Some("r-1"));
        assert_eq!(f.after_seq, Some(41));
        assert_eq!(f.limit, Some(MAX_LOG_PAGE));
        assert!(f.newest_first);
        assert_eq!(filter(&[]).unwrap(), AuditFilter::default());
        for bad in [
            ("status", "forbidden"),
            ("status", "70000"),
            ("operation", "SecretGett"),
            ("since", "soon"),
            ("after", "-1"),
            ("order", "random"),
        ] {
            assert!(filter(&[bad]).is_err(), "{bad:?}");
        }
    }
}
