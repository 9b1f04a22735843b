//! A vault's diagnostic settings (`{vault id}/providers/Microsoft.Insights/diagnosticSettings/
//! {name}`, as `az monitor diagnostic-settings` writes them), stored on the vault's record: one
//! with the `AuditEvent` category enabled turns the vault's audit log on from its next request.
//! And the audit log itself, read through Coffer's own `Coffer.Diagnostics/auditEvents`, for
//! principals of the vault's tenant only.

use coffer_domain::Principal;

use super::vault_resource_id;
use crate::Coffer;
use crate::audit::{AuditFilter, LoggedEvent};
use crate::management::{ManagementError, bad, clip};
use crate::records::{DiagnosticLogDoc, DiagnosticMetricDoc, DiagnosticSettingDoc, VaultDoc};

/// Resource type of a diagnostic setting.
pub const DIAGNOSTIC_SETTING_TYPE: &str = "Microsoft.Insights/diagnosticSettings";
/// Namespace of Coffer's own audit log resource under a vault.
pub const AUDIT_EVENTS_NAMESPACE: &str = "Coffer.Diagnostics";
/// Azure's limit of diagnostic settings per resource.
const MAX_SETTINGS: usize = 5;
/// Log categories of Key Vault; category groups are `audit` and `allLogs`.
const LOG_CATEGORIES: &[&str] = &["AuditEvent", "AzurePolicyEvaluationDetails"];
const LOG_GROUPS: &[&str] = &["audit", "allLogs"];
const METRIC_CATEGORIES: &[&str] = &["AllMetrics"];

/// One diagnostic setting, as ARM shows and takes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiagnosticSetting {
    /// The setting's ARM id (output only).
    pub id: String,
    pub name: String,
    pub logs: Vec<DiagnosticLog>,
    pub metrics: Vec<DiagnosticMetric>,
    pub storage_account_id: Option<String>,
    pub workspace_id: Option<String>,
    pub event_hub_authorization_rule_id: Option<String>,
    pub event_hub_name: Option<String>,
    pub service_bus_rule_id: Option<String>,
    pub marketplace_partner_id: Option<String>,
    pub log_analytics_destination_type: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiagnosticLog {
    pub category: Option<String>,
    pub category_group: Option<String>,
    pub enabled: bool,
    /// `retentionPolicy`: enabled and days.
    pub retention: Option<(bool, u32)>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiagnosticMetric {
    pub category: Option<String>,
    pub time_grain: Option<String>,
    pub enabled: bool,
    pub retention: Option<(bool, u32)>,
}

impl Coffer {
    /// Creates (`true`) or replaces (`false`) a diagnostic setting of a vault.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_diagnostic_setting(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
        name: &str,
        input: DiagnosticSetting,
    ) -> Result<(DiagnosticSetting, bool), ManagementError> {
        validate_setting_name(name)?;
        let mut doc = setting_doc(name, input)?;
        let sub = self
            .authorize_vault(
                caller,
                subscription,
                rg,
                vault,
                "providers/Microsoft.Insights/diagnosticSettings/write",
            )
            .await?;
        let mut created = false;
        let mut after = None;
        self.modify_vault(&sub, rg, vault, |v| {
            match v
                .diagnostic_settings
                .iter_mut()
                .find(|d| d.name.eq_ignore_ascii_case(name))
            {
                Some(existing) => {
                    doc.name = existing.name.clone();
                    *existing = doc.clone();
                    created = false;
                }
                None => {
                    if v.diagnostic_settings.len() >= MAX_SETTINGS {
                        return Err(bad(
                            "BadRequest",
                            format!(
                                "A resource can have at most {MAX_SETTINGS} diagnostic settings; vault '{}' has them already.",
                                v.name
                            ),
                        ));
                    }
                    v.diagnostic_settings.push(doc.clone());
                    created = true;
                }
            }
            after = Some(v.clone());
            Ok(())
        })
        .await?;
        let v = after.ok_or_else(|| ManagementError::Internal("vault not written".into()))?;
        Ok((view(&v, &doc), created))
    }

    pub async fn get_diagnostic_setting(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
        name: &str,
    ) -> Result<DiagnosticSetting, ManagementError> {
        let v = self
            .vault_for_diagnostics(caller, subscription, rg, vault)
            .await?;
        v.diagnostic_settings
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
            .map(|d| view(&v, d))
            .ok_or_else(|| setting_not_found(name))
    }

    pub async fn list_diagnostic_settings(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
    ) -> Result<Vec<DiagnosticSetting>, ManagementError> {
        let v = self
            .vault_for_diagnostics(caller, subscription, rg, vault)
            .await?;
        Ok(v.diagnostic_settings.iter().map(|d| view(&v, d)).collect())
    }

    /// Deletes a diagnostic setting; `false` when there was none of that name (Azure answers
    /// 204 then).
    pub async fn delete_diagnostic_setting(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
        name: &str,
    ) -> Result<bool, ManagementError> {
        let sub = self
            .authorize_vault(
                caller,
                subscription,
                rg,
                vault,
                "providers/Microsoft.Insights/diagnosticSettings/delete",
            )
            .await?;
        let mut removed = false;
        self.modify_vault(&sub, rg, vault, |v| {
            let before = v.diagnostic_settings.len();
            v.diagnostic_settings
                .retain(|d| !d.name.eq_ignore_ascii_case(name));
            removed = v.diagnostic_settings.len() != before;
            Ok(())
        })
        .await?;
        Ok(removed)
    }

    /// The audit records of a vault matching `filter` (its `vault` is set here). Only principals
    /// of the vault's own tenant may read them.
    #[allow(clippy::too_many_arguments)]
    pub async fn vault_audit_events(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
        mut filter: AuditFilter,
    ) -> Result<Vec<LoggedEvent>, ManagementError> {
        let v = self
            .vault_for_diagnostics(caller, subscription, rg, vault)
            .await?;
        self.require_vault_tenant(caller, &v, "read the audit log of")?;
        let Some(log) = self.audit_log() else {
            return Err(ManagementError::Conflict {
                code: "AuditLogNotConfigured",
                message: "This Coffer instance runs without an audit log.".to_owned(),
            });
        };
        filter.vault = Some(v.name.clone());
        log.query(&filter)
            .await
            .map_err(|e| ManagementError::Internal(format!("audit log: {e}")))
    }

    /// Only principals of a vault's own tenant may read what its requests did.
    /// Applies each vault's own audit retention (its diagnostic settings' `retentionPolicy`,
    /// see `VaultDoc::audit_retention_days`) on top of the instance's; returns how many records
    /// went. Runs on the background pass.
    pub async fn prune_audit_by_vault_retention(&self) -> Result<u64, crate::ServiceError> {
        let Some(log) = self.audit_log() else {
            return Ok(0);
        };
        let now_ms = self.now().saturating_mul(1000);
        let mut pruned = 0;
        for d in self.store.list_docs(crate::records::VAULT).await? {
            let v: VaultDoc = serde_json::from_slice(&d.body)?;
            let Some(days) = v.audit_retention_days() else {
                continue;
            };
            let cutoff = now_ms.saturating_sub(i64::from(days).saturating_mul(86_400_000));
            pruned += log
                .prune(Some(&v.name), cutoff)
                .await
                .map_err(|e| crate::ServiceError::Internal(format!("audit log: {e}")))?;
        }
        Ok(pruned)
    }

    pub(super) fn require_vault_tenant(
        &self,
        caller: &Principal,
        v: &VaultDoc,
        what: &str,
    ) -> Result<(), ManagementError> {
        if v.tenant_id.eq_ignore_ascii_case(&caller.tenant_id) {
            return Ok(());
        }
        Err(ManagementError::Forbidden {
            code: "AuthorizationFailed",
            message: format!(
                "The client '{}' with object id '{}' does not have authorization to {what} vault '{}': only principals of the vault's tenant '{}' may.",
                caller.app_id.as_deref().unwrap_or(&caller.object_id),
                caller.object_id,
                v.name,
                v.tenant_id
            ),
        })
    }

    pub(super) async fn vault_for_diagnostics(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
    ) -> Result<VaultDoc, ManagementError> {
        let sub = self
            .authorize_vault(
                caller,
                subscription,
                rg,
                vault,
                "providers/Microsoft.Insights/diagnosticSettings/read",
            )
            .await?;
        Ok(self.vault_in(&sub, rg, vault).await?.0)
    }
}

/// Azure's rule for diagnostic setting names: 1 to 260 characters, none of `<>*%&:\?/#|`
/// or control characters.
fn validate_setting_name(name: &str) -> Result<(), ManagementError> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= 260
        && !name
            .chars()
            .any(|c| c.is_control() || "<>*%&:\\?/#|+".contains(c));
    if ok {
        Ok(())
    } else {
        Err(bad(
            "InvalidResourceName",
            format!(
                "The diagnostic setting name '{}' is invalid: use 1 to 260 characters other than <>*%&:\\?/#|+.",
                clip(name)
            ),
        ))
    }
}

fn setting_doc(name: &str, s: DiagnosticSetting) -> Result<DiagnosticSettingDoc, ManagementError> {
    let mut logs = Vec::with_capacity(s.logs.len());
    for (i, l) in s.logs.into_iter().enumerate() {
        let category = match (&l.category, &l.category_group) {
            (Some(c), None) => Some(known(c, LOG_CATEGORIES, &format!("logs[{i}].category"))?),
            (None, Some(_)) => None,
            _ => {
                return Err(bad(
                    "BadRequest",
                    format!("logs[{i}] must name exactly one of 'category' and 'categoryGroup'."),
                ));
            }
        };
        let category_group = match &l.category_group {
            Some(g) => Some(known(g, LOG_GROUPS, &format!("logs[{i}].categoryGroup"))?),
            None => None,
        };
        logs.push(DiagnosticLogDoc {
            category,
            category_group,
            enabled: l.enabled,
            retention_enabled: l.retention.is_some_and(|r| r.0),
            retention_days: l.retention.map(|r| r.1),
        });
    }
    let mut metrics = Vec::with_capacity(s.metrics.len());
    for (i, m) in s.metrics.into_iter().enumerate() {
        let category = match &m.category {
            Some(c) => Some(known(
                c,
                METRIC_CATEGORIES,
                &format!("metrics[{i}].category"),
            )?),
            None => None,
        };
        metrics.push(DiagnosticMetricDoc {
            category,
            time_grain: m.time_grain.map(|t| clip(&t)),
            enabled: m.enabled,
            retention_enabled: m.retention.is_some_and(|r| r.0),
            retention_days: m.retention.map(|r| r.1),
        });
    }
    let c = |v: Option<String>| v.map(|s| clip(&s));
    Ok(DiagnosticSettingDoc {
        name: name.to_owned(),
        logs,
        metrics,
        storage_account_id: c(s.storage_account_id),
        workspace_id: c(s.workspace_id),
        event_hub_authorization_rule_id: c(s.event_hub_authorization_rule_id),
        event_hub_name: c(s.event_hub_name),
        service_bus_rule_id: c(s.service_bus_rule_id),
        marketplace_partner_id: c(s.marketplace_partner_id),
        log_analytics_destination_type: c(s.log_analytics_destination_type),
    })
}

/// `value` in the spelling of `names`, compared case-insensitively.
fn known(value: &str, names: &[&str], field: &str) -> Result<String, ManagementError> {
    names
        .iter()
        .find(|n| n.eq_ignore_ascii_case(value.trim()))
        .map(|n| (*n).to_owned())
        .ok_or_else(|| {
            bad(
                "BadRequest",
                format!(
                    "Category '{}' of {field} is not supported by Microsoft.KeyVault/vaults; supported: {}.",
                    clip(value),
                    names.join(", ")
                ),
            )
        })
}

fn view(v: &VaultDoc, d: &DiagnosticSettingDoc) -> DiagnosticSetting {
    let retention = |enabled: bool, days: Option<u32>| days.map(|d| (enabled, d));
    DiagnosticSetting {
        id: format!(
            "{}/providers/microsoft.insights/diagnosticSettings/{}",
            vault_resource_id(v),
            d.name
        ),
        name: d.name.clone(),
        logs: d
            .logs
            .iter()
            .map(|l| DiagnosticLog {
                category: l.category.clone(),
                category_group: l.category_group.clone(),
                enabled: l.enabled,
                retention: retention(l.retention_enabled, l.retention_days),
            })
            .collect(),
        metrics: d
            .metrics
            .iter()
            .map(|m| DiagnosticMetric {
                category: m.category.clone(),
                time_grain: m.time_grain.clone(),
                enabled: m.enabled,
                retention: retention(m.retention_enabled, m.retention_days),
            })
            .collect(),
        storage_account_id: d.storage_account_id.clone(),
        workspace_id: d.workspace_id.clone(),
        event_hub_authorization_rule_id: d.event_hub_authorization_rule_id.clone(),
        event_hub_name: d.event_hub_name.clone(),
        service_bus_rule_id: d.service_bus_rule_id.clone(),
        marketplace_partner_id: d.marketplace_partner_id.clone(),
        log_analytics_destination_type: d.log_analytics_destination_type.clone(),
    }
}

fn setting_not_found(name: &str) -> ManagementError {
    ManagementError::NotFound {
        code: "ResourceNotFound",
        message: format!("The diagnostic setting '{}' doesn't exist.", clip(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(category: Option<&str>, group: Option<&str>, enabled: bool) -> DiagnosticLog {
        DiagnosticLog {
            category: category.map(Into::into),
            category_group: group.map(Into::into),
            enabled,
            retention: None,
        }
    }

    fn setting(logs: Vec<DiagnosticLog>) -> DiagnosticSetting {
        DiagnosticSetting {
            logs,
            ..DiagnosticSetting::default()
        }
    }

    #[test]
    fn audit_is_on_only_with_an_enabled_audit_category() {
        let table = [
            (vec![log(Some("auditevent"), None, true)], true),
            (vec![log(Some("AuditEvent"), None, false)], false),
            (vec![log(None, Some("allLogs"), true)], true),
            (vec![log(None, Some("AUDIT"), true)], true),
            (
                vec![log(Some("AzurePolicyEvaluationDetails"), None, true)],
                false,
            ),
            (vec![], false),
        ];
        for (logs, want) in table {
            let doc = setting_doc("s", setting(logs.clone())).unwrap();
            assert_eq!(
                doc.logs.iter().any(DiagnosticLogDoc::enables_audit),
                want,
                "{logs:?}"
            );
        }
        let doc = setting_doc("s", setting(vec![log(Some("auditevent"), None, true)])).unwrap();
        assert_eq!(doc.logs[0].category.as_deref(), Some("AuditEvent"));
    }

    #[test]
    fn bad_settings_are_refused() {
        for logs in [
            vec![log(Some("Secrets"), None, true)],
            vec![log(None, None, true)],
            vec![log(Some("AuditEvent"), Some("audit"), true)],
            vec![log(None, Some("everything"), true)],
        ] {
            assert!(setting_doc("s", setting(logs.clone())).is_err(), "{logs:?}");
        }
        for name in ["", "a/b", "a?b", &"x".repeat(261)] {
            assert!(validate_setting_name(name).is_err(), "{name:?}");
        }
        assert!(validate_setting_name("coffer-audit 1").is_ok());
    }
}
