//! Key rotation policies: what `GET|PUT /keys/{name}/rotationpolicy` stores, and the background
//! pass that carries out their lifetime actions (`Rotate` after a time since creation or before
//! expiry; `Notify`, which Coffer records in its log).

use coffer_domain::duration::parse_iso_duration;
use coffer_domain::{ObjectName, VaultOp};
use coffer_store::{Doc, DocMode, DocWrite};

use super::record::{LifetimeActionRecord, ROTATION_POLICY, RotationPolicyDoc};
use crate::objects::{KEYS, parse_name};
use crate::{Coffer, ServiceError, VaultSession};

const DAY: i64 = 86_400;

/// One lifetime action: `Rotate` or `Notify`, triggered a duration after creation or before
/// expiry (ISO 8601).
#[derive(Debug, Clone, Default)]
pub struct LifetimeAction {
    pub action: String,
    pub time_after_create: Option<String>,
    pub time_before_expiry: Option<String>,
}

/// A key's rotation policy.
#[derive(Debug, Clone, Default)]
pub struct RotationPolicy {
    pub lifetime_actions: Vec<LifetimeAction>,
    pub expiry_time: Option<String>,
    pub created: Option<i64>,
    pub updated: Option<i64>,
}

fn doc_id(s: &VaultSession, name: &ObjectName) -> String {
    format!("{}/{}", s.doc.id, name.canonical())
}

fn bad(m: String) -> ServiceError {
    ServiceError::BadParameter(m)
}

fn duration(s: &str) -> Result<i64, ServiceError> {
    parse_iso_duration(s).map_err(|e| bad(e.to_string()))
}

/// Checks a policy as Key Vault does: known actions, one trigger each, sane minimums.
fn validate(p: &RotationPolicy) -> Result<Vec<LifetimeActionRecord>, ServiceError> {
    let expiry = p.expiry_time.as_deref().map(duration).transpose()?;
    if expiry.is_some_and(|e| e < 28 * DAY) {
        return Err(bad(
            "The rotation policy's expiryTime must be at least 28 days (P28D).".to_owned(),
        ));
    }
    let mut out = Vec::new();
    for a in &p.lifetime_actions {
        let action = if a.action.eq_ignore_ascii_case("rotate") {
            "Rotate"
        } else if a.action.eq_ignore_ascii_case("notify") {
            "Notify"
        } else {
            return Err(bad(format!(
                "Invalid lifetime action type '{}'. Valid values: Rotate, Notify.",
                a.action.chars().take(40).collect::<String>()
            )));
        };
        match (&a.time_after_create, &a.time_before_expiry) {
            (Some(t), None) => {
                if duration(t)? < 7 * DAY {
                    return Err(bad(
                        "timeAfterCreate must be at least 7 days (P7D).".to_owned()
                    ));
                }
            }
            (None, Some(t)) => {
                let before = duration(t)?;
                if before < 7 * DAY {
                    return Err(bad(
                        "timeBeforeExpiry must be at least 7 days (P7D).".to_owned()
                    ));
                }
                if expiry.is_some_and(|e| before >= e) {
                    return Err(bad(
                        "timeBeforeExpiry must be shorter than the policy's expiryTime.".to_owned(),
                    ));
                }
            }
            _ => {
                return Err(bad(
                    "Each lifetime action needs exactly one trigger: timeAfterCreate or timeBeforeExpiry.".to_owned(),
                ));
            }
        }
        out.push(LifetimeActionRecord {
            action: action.to_owned(),
            time_after_create: a.time_after_create.clone(),
            time_before_expiry: a.time_before_expiry.clone(),
        });
    }
    if out.iter().filter(|a| a.action == "Rotate").count() > 1 {
        return Err(bad(
            "A rotation policy can have at most one Rotate action.".to_owned()
        ));
    }
    Ok(out)
}

/// Key Vault's lifetime actions for a key without a policy: notify 30 days before expiry.
fn default_actions() -> Vec<LifetimeActionRecord> {
    vec![LifetimeActionRecord {
        action: "Notify".to_owned(),
        time_after_create: None,
        time_before_expiry: Some("P30D".to_owned()),
    }]
}

fn view(d: RotationPolicyDoc) -> RotationPolicy {
    RotationPolicy {
        lifetime_actions: d
            .lifetime_actions
            .into_iter()
            .map(|a| LifetimeAction {
                action: a.action,
                time_after_create: a.time_after_create,
                time_before_expiry: a.time_before_expiry,
            })
            .collect(),
        expiry_time: d.expiry_time,
        created: Some(d.created),
        updated: Some(d.updated),
    }
}

impl Coffer {
    pub(crate) async fn rotation_policy_doc(
        &self,
        s: &VaultSession,
        name: &ObjectName,
    ) -> Result<Option<RotationPolicyDoc>, ServiceError> {
        match self
            .store
            .get_doc(ROTATION_POLICY, &doc_id(s, name))
            .await?
        {
            Some(d) => Ok(Some(serde_json::from_slice(&d.body)?)),
            None => Ok(None),
        }
    }

    /// `GET /keys/{name}/rotationpolicy`: the stored policy, or Key Vault's default (notify 30
    /// days before expiry).
    pub async fn get_rotation_policy(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<RotationPolicy, ServiceError> {
        s.require(VaultOp::KeyRotationPolicyGet)?;
        let (name, _) = self.object_version(s, &KEYS, name, None).await?;
        Ok(match self.rotation_policy_doc(s, &name).await? {
            Some(d) => view(d),
            None => RotationPolicy {
                lifetime_actions: default_actions()
                    .into_iter()
                    .map(|a| LifetimeAction {
                        action: a.action,
                        time_after_create: a.time_after_create,
                        time_before_expiry: a.time_before_expiry,
                    })
                    .collect(),
                ..RotationPolicy::default()
            },
        })
    }

    /// `PUT /keys/{name}/rotationpolicy`.
    pub async fn set_rotation_policy(
        &self,
        s: &VaultSession,
        name: &str,
        p: RotationPolicy,
    ) -> Result<RotationPolicy, ServiceError> {
        s.require(VaultOp::KeyRotationPolicySet)?;
        let name = parse_name(name)?;
        self.object_version(s, &KEYS, name.as_str(), None).await?;
        let mut actions = validate(&p)?;
        // An empty list of lifetime actions puts the default ones back, as Key Vault does.
        if actions.is_empty() {
            actions = default_actions();
        }
        let now = self.vault_now(s);
        let old = self.rotation_policy_doc(s, &name).await?;
        let doc = RotationPolicyDoc {
            lifetime_actions: actions,
            expiry_time: p.expiry_time,
            created: old.as_ref().map_or(now, |o| o.created),
            updated: now,
            rotated_from: old.as_ref().and_then(|o| o.rotated_from.clone()),
            notified_for: old.and_then(|o| o.notified_for),
            vault: s.doc.name.clone(),
            key: name.as_str().to_owned(),
        };
        self.store
            .write_docs(vec![DocWrite::Put {
                kind: ROTATION_POLICY.to_owned(),
                id: doc_id(s, &name),
                body: serde_json::to_vec(&doc)?,
                mode: DocMode::Overwrite,
            }])
            .await?;
        Ok(view(doc))
    }

    /// Carries out due lifetime actions of every key rotation policy. Returns how many keys
    /// were rotated. A key whose actions fail is logged and skipped, so one broken key (say,
    /// held by a token this instance no longer has) does not stop every other key's rotation.
    pub async fn run_key_rotations(&self) -> Result<usize, ServiceError> {
        let mut rotated = 0;
        for d in self.store.list_docs(ROTATION_POLICY).await? {
            match self.run_key_rotation(&d).await {
                Ok(n) => rotated += n,
                Err(e) => {
                    tracing::warn!(policy = %d.id, error = %e, "key rotation policy could not be carried out");
                }
            }
        }
        Ok(rotated)
    }

    /// Carries out the due lifetime actions of one policy document; returns 1 if it rotated.
    async fn run_key_rotation(&self, d: &Doc) -> Result<usize, ServiceError> {
        let mut doc: RotationPolicyDoc = serde_json::from_slice(&d.body)?;
        let Some(s) = self.system_session(&doc.vault).await? else {
            return Ok(0);
        };
        let Ok(name) = parse_name(&doc.key) else {
            return Ok(0);
        };
        let latest = match self.object_version(&s, &KEYS, name.as_str(), None).await {
            Ok((_, v)) => v,
            Err(ServiceError::NotFound { .. }) => return Ok(0),
            Err(e) => return Err(e),
        };
        let meta = Self::key_meta(&latest)?;
        let now = self.vault_now(&s);
        let due = |a: &LifetimeActionRecord| -> Result<bool, ServiceError> {
            Ok(match (&a.time_after_create, &a.time_before_expiry) {
                (Some(t), _) => now >= latest.created + duration(t)?,
                (None, Some(t)) => match meta.exp {
                    Some(exp) => now >= exp - duration(t)?,
                    None => false,
                },
                (None, None) => false,
            })
        };
        let mut rotated = 0;
        let mut changed = false;
        for a in doc.lifetime_actions.clone() {
            if !due(&a)? {
                continue;
            }
            if a.action == "Rotate" && doc.rotated_from.as_deref() != Some(&latest.version) {
                self.rotate_key_now(&s, name.as_str()).await?;
                doc.rotated_from = Some(latest.version.clone());
                rotated = 1;
                changed = true;
            } else if a.action == "Notify" && doc.notified_for.as_deref() != Some(&latest.version) {
                tracing::info!(vault = %doc.vault, key = %doc.key, version = %latest.version, "key rotation policy: Notify action is due");
                doc.notified_for = Some(latest.version.clone());
                changed = true;
            }
        }
        if changed {
            self.store
                .write_docs(vec![DocWrite::Put {
                    kind: ROTATION_POLICY.to_owned(),
                    id: d.id.clone(),
                    body: serde_json::to_vec(&doc)?,
                    mode: DocMode::Update(d.revision),
                }])
                .await?;
        }
        Ok(rotated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(a: &str, after: Option<&str>, before: Option<&str>) -> LifetimeAction {
        LifetimeAction {
            action: a.into(),
            time_after_create: after.map(Into::into),
            time_before_expiry: before.map(Into::into),
        }
    }

    #[test]
    fn policy_rules() {
        let ok = RotationPolicy {
            lifetime_actions: vec![
                action("rotate", Some("P30D"), None),
                action("Notify", None, Some("P30D")),
            ],
            expiry_time: Some("P90D".into()),
            ..RotationPolicy::default()
        };
        let v = validate(&ok).unwrap();
        assert_eq!(v[0].action, "Rotate");
        let bad_cases = [
            RotationPolicy {
                lifetime_actions: vec![action("Explode", Some("P30D"), None)],
                ..RotationPolicy::default()
            },
            RotationPolicy {
                lifetime_actions: vec![action("Rotate", Some("P1D"), None)],
                ..RotationPolicy::default()
            },
            RotationPolicy {
                lifetime_actions: vec![action("Rotate", Some("P30D"), Some("P30D"))],
                ..RotationPolicy::default()
            },
            RotationPolicy {
                lifetime_actions: vec![action("Rotate", None, None)],
                ..RotationPolicy::default()
            },
            RotationPolicy {
                expiry_time: Some("P10D".into()),
                ..RotationPolicy::default()
            },
            RotationPolicy {
                lifetime_actions: vec![action("Rotate", None, Some("P60D"))],
                expiry_time: Some("P30D".into()),
                ..RotationPolicy::default()
            },
        ];
        for (i, p) in bad_cases.iter().enumerate() {
            assert!(validate(p).is_err(), "case {i}");
        }
    }
}
