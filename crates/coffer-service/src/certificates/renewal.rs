//! Certificate lifetime actions, carried out by a background pass: `AutoRenew` issues a new
//! version (issuer `Self` only: an outside CA is not reachable from Coffer) once the lifetime
//! percentage or the days before expiry are reached; `EmailContacts` is recorded in the log, as
//! Coffer sends no mail. A renewed version starts a new lifetime, so no state is needed to act
//! once per version.

use std::collections::HashMap;

use coffer_x509::SigningKeyRef;

use super::{CERT_POLICY, CertificateInput, CertificatePolicy, spec_of};
use crate::objects::{CERTIFICATES, parse_name};
use crate::records::{VAULT, VaultDoc};
use crate::{Coffer, ServiceError};

/// Whether a lifetime action is due for a certificate valid from `nbf` to `exp`.
fn due(action: &super::CertLifetimeAction, nbf: i64, exp: i64, now: i64) -> bool {
    match (action.lifetime_percentage, action.days_before_expiry) {
        (Some(p), _) => now >= nbf + (exp - nbf) * i64::from(p) / 100,
        (None, Some(d)) => now >= exp - i64::from(d) * 86_400,
        (None, None) => false,
    }
}

impl Coffer {
    /// Runs due lifetime actions of every certificate policy. Returns how many certificates
    /// were renewed; one certificate's failure is logged and does not stop the others.
    pub async fn run_certificate_renewals(&self) -> Result<usize, ServiceError> {
        let mut vaults: HashMap<String, String> = HashMap::new();
        for d in self.store.list_docs(VAULT).await? {
            let v: VaultDoc = serde_json::from_slice(&d.body)?;
            vaults.insert(v.id, v.name);
        }
        let mut renewed = 0;
        for d in self.store.list_docs(CERT_POLICY).await? {
            let Some((vault_id, cert)) = d.id.split_once('/') else {
                continue;
            };
            let Some(vault) = vaults.get(vault_id) else {
                continue;
            };
            let policy: CertificatePolicy = serde_json::from_slice(&d.body)?;
            match self.renew_if_due(vault, cert, policy).await {
                Ok(true) => renewed += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(vault = %vault, certificate = %cert, error = %e, "certificate lifetime action failed");
                }
            }
        }
        Ok(renewed)
    }

    async fn renew_if_due(
        &self,
        vault: &str,
        cert: &str,
        policy: CertificatePolicy,
    ) -> Result<bool, ServiceError> {
        let Some(s) = self.system_session(vault).await? else {
            return Ok(false);
        };
        let latest = match self.object_version(&s, &CERTIFICATES, cert, None).await {
            Ok((_, v)) => v,
            Err(ServiceError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        let meta = Self::cert_meta(&latest)?;
        let (Some(nbf), Some(exp)) = (meta.nbf, meta.exp) else {
            return Ok(false);
        };
        let now = self.vault_now(&s);
        let mut renew = false;
        for a in policy
            .lifetime_actions
            .iter()
            .filter(|a| due(a, nbf, exp, now))
        {
            if a.action == "AutoRenew" {
                renew = true;
            } else {
                tracing::info!(vault = %vault, certificate = %meta.name, expires = exp, "certificate lifetime action EmailContacts is due (Coffer sends no mail)");
            }
        }
        if !renew || policy.issuer_name() != "Self" {
            return Ok(false);
        }
        let name = parse_name(&meta.name)?;
        let key = self.certificate_key(&s, &name, &policy).await?;
        let spec = spec_of(&policy, now)?;
        let material = key.material.0.clone();
        let der = self
            .key_providers
            .run(move || {
                coffer_x509::self_signed(&spec, &SigningKeyRef::Pkcs8(&material))
                    .map_err(|e| coffer_crypto::keys::KeyError::InvalidInput(e.to_string()))
            })
            .await?;
        let input = CertificateInput {
            enabled: Some(meta.enabled),
            tags: meta.tags.clone(),
            preserve_order: meta.preserve_order,
        };
        self.store_certificate(&s, &name, &key, vec![der], &policy, &input)
            .await?;
        tracing::info!(vault = %vault, certificate = %meta.name, "renewed certificate by its AutoRenew lifetime action");
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certificates::CertLifetimeAction;

    fn action(p: Option<u32>, d: Option<u32>) -> CertLifetimeAction {
        CertLifetimeAction {
            action: "AutoRenew".into(),
            lifetime_percentage: p,
            days_before_expiry: d,
        }
    }

    #[test]
    fn triggers() {
        let (nbf, exp) = (0, 100 * 86_400);
        assert!(!due(&action(Some(80), None), nbf, exp, 79 * 86_400));
        assert!(due(&action(Some(80), None), nbf, exp, 80 * 86_400));
        assert!(!due(&action(None, Some(30)), nbf, exp, 69 * 86_400));
        assert!(due(&action(None, Some(30)), nbf, exp, 70 * 86_400));
        assert!(!due(&action(None, None), nbf, exp, exp));
    }

    fn self_policy(actions: Vec<CertLifetimeAction>) -> CertificatePolicy {
        CertificatePolicy {
            subject: Some("CN=renew.example.test".into()),
            validity_months: Some(12),
            issuer: Some(crate::certificates::IssuerRef {
                name: "Self".into(),
                ..Default::default()
            }),
            key: crate::certificates::CertKeyProps {
                kty: Some("EC".into()),
                ..Default::default()
            },
            lifetime_actions: actions,
            ..CertificatePolicy::default()
        }
    }

    #[tokio::test]
    async fn auto_renew_issues_a_new_version_once_due_and_only_then() {
        let (c, clock, s) = crate::testing::setup().await;
        let input = CertificateInput::default();
        c.create_certificate(
            &s,
            "renew",
            self_policy(vec![action(None, Some(30))]),
            input.clone(),
        )
        .await
        .unwrap();
        c.create_certificate(
            &s,
            "notify",
            {
                let mut p = self_policy(vec![action(Some(50), None)]);
                p.lifetime_actions[0].action = "EmailContacts".into();
                p
            },
            input,
        )
        .await
        .unwrap();
        let first = c.get_certificate(&s, "renew", None).await.unwrap();
        assert_eq!(
            c.run_certificate_renewals().await.unwrap(),
            0,
            "nothing is due yet"
        );
        // Twelve months of 30 days are counted by the calendar; 340 days is within 30 days of it.
        clock.advance(340 * 86_400);
        assert_eq!(c.run_certificate_renewals().await.unwrap(), 1);
        let second = c.get_certificate(&s, "renew", None).await.unwrap();
        assert_ne!(first.version, second.version);
        assert!(second.attributes.not_before > first.attributes.not_before);
        // Its managed key and secret moved on to the same version.
        let key = c.get_key(&s, "renew", None).await.unwrap();
        assert_eq!(key.version, second.version);
        let secret = c.get_secret(&s, "renew", None).await.unwrap();
        assert_eq!(secret.version, second.version);
        // The new version starts a new lifetime: the next pass does nothing.
        assert_eq!(c.run_certificate_renewals().await.unwrap(), 0);
        // EmailContacts never issues a version.
        let versions = c
            .list_certificate_versions(&s, "notify", None, None)
            .await
            .unwrap();
        assert_eq!(versions.items.len(), 1);
    }
}
