//! The IMDS-style token endpoint's bindings: which source addresses (IPs or CIDR prefixes) may
//! get tokens for an identity.

use std::net::IpAddr;

use coffer_domain::{IpRule, Principal};

use super::{MAX_IMDS_BINDINGS, identity_not_found};
use crate::Coffer;
use crate::management::{ManagementError, bad, clip};

/// An IMDS binding (an IP address or a CIDR prefix) in canonical form: the network, the address
/// alone for a single host. The firewall's own rule type does the parsing.
fn canonical_binding(s: &str) -> Option<String> {
    IpRule::parse(s).ok().map(|r| r.compact())
}

/// Whether a source address falls under a binding.
pub(crate) fn binding_matches(binding: &str, peer: IpAddr) -> bool {
    IpRule::parse(binding).is_ok_and(|r| r.contains(peer))
}

impl Coffer {
    /// Replaces the source addresses (IPs or CIDR prefixes) allowed to get tokens for an
    /// identity from the IMDS-style endpoint. Returns them in canonical form.
    pub async fn set_imds_bindings(
        &self,
        resource_id: &str,
        addresses: &[String],
    ) -> Result<Vec<String>, ManagementError> {
        if addresses.len() > MAX_IMDS_BINDINGS {
            return Err(bad(
                "InvalidRequestContent",
                format!("At most {MAX_IMDS_BINDINGS} addresses can be bound to one identity."),
            ));
        }
        let mut canon = Vec::with_capacity(addresses.len());
        for a in addresses {
            let c = canonical_binding(a).ok_or_else(|| {
                bad(
                    "InvalidRequestContent",
                    format!(
                        "'{}' is not an IP address or CIDR prefix (such as 127.0.0.1, 10.1.0.0/16 or ::1).",
                        clip(a)
                    ),
                )
            })?;
            if !canon.contains(&c) {
                canon.push(c);
            }
        }
        let (doc, ()) = self
            .modify_identity(
                resource_id,
                || identity_not_found(resource_id),
                |doc| {
                    doc.imds_addresses = canon.clone();
                    Ok(())
                },
            )
            .await?;
        Ok(doc.imds_addresses)
    }

    /// The source addresses bound to an identity for the IMDS-style endpoint.
    pub async fn imds_bindings(&self, resource_id: &str) -> Result<Vec<String>, ManagementError> {
        match self.identity_doc(resource_id).await? {
            Some((d, _)) => Ok(d.imds_addresses),
            None => Err(identity_not_found(resource_id)),
        }
    }

    /// The source addresses bound to a user-assigned identity (a Coffer extension).
    pub async fn get_identity_imds_bindings(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
    ) -> Result<Vec<String>, ManagementError> {
        let resource_id = self
            .authorize_identity(caller, subscription, rg, name, "read")
            .await?;
        self.ensure_user_identity(&resource_id, rg, name).await?;
        self.imds_bindings(&resource_id).await
    }

    /// Replaces the source addresses bound to a user-assigned identity (a Coffer extension).
    pub async fn put_identity_imds_bindings(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        addresses: &[String],
    ) -> Result<Vec<String>, ManagementError> {
        let resource_id = self
            .authorize_identity(caller, subscription, rg, name, "write")
            .await?;
        self.ensure_user_identity(&resource_id, rg, name).await?;
        self.set_imds_bindings(&resource_id, addresses).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use coffer_store_sqlite::SqliteStore;

    use super::*;
    use crate::management::testing::{app, caller};
    use crate::management::{DEFAULT_RESOURCE_GROUP, ResourceInput};

    #[tokio::test]
    async fn imds_selection() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let coffer = app(store).await;
        let boot = coffer.bootstrap().await.unwrap();
        let me = caller(&boot.tenant_id);
        let mut ids = Vec::new();
        for name in ["one-id", "two-id"] {
            let (v, _) = coffer
                .put_user_assigned_identity(
                    &me,
                    &boot.subscription_id,
                    DEFAULT_RESOURCE_GROUP,
                    name,
                    ResourceInput {
                        location: Some("local".into()),
                        tags: None,
                    },
                )
                .await
                .unwrap();
            coffer
                .set_imds_bindings(&v.resource_id, &["10.0.0.0/8".to_owned()])
                .await
                .unwrap();
            ids.push(v);
        }
        let req = |client_id: Option<&str>| crate::MiTokenRequest {
            resource: Some("https://vault.localhost:8443".into()),
            client_id: client_id.map(str::to_owned),
            ..Default::default()
        };
        let peer: IpAddr = "10.1.2.3".parse().unwrap();
        // Two identities bound: a selector is needed.
        let e = coffer
            .mi_token_imds(Some(peer), &req(None))
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("Multiple user assigned identities"),
            "{e}"
        );
        let t = coffer
            .mi_token_imds(Some(peer), &req(Some(&ids[1].client_id)))
            .await
            .unwrap();
        assert_eq!(t.client_id, ids[1].client_id);
        // Another address gets nothing.
        let e = coffer
            .mi_token_imds(
                Some("192.0.2.1".parse().unwrap()),
                &req(Some(&ids[1].client_id)),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, crate::MiError::IdentityNotFound(_)));
        // With one left bound, no selector is needed.
        coffer
            .set_imds_bindings(&ids[0].resource_id, &[])
            .await
            .unwrap();
        let t = coffer.mi_token_imds(Some(peer), &req(None)).await.unwrap();
        assert_eq!(t.client_id, ids[1].client_id);
    }

    #[test]
    fn bindings() {
        assert_eq!(canonical_binding("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(
            canonical_binding("10.1.2.3/16").as_deref(),
            Some("10.1.0.0/16")
        );
        assert_eq!(
            canonical_binding("::ffff:127.0.0.1").as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(canonical_binding("::1").as_deref(), Some("::1"));
        assert_eq!(canonical_binding("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(canonical_binding("1.2.3.4/33"), None);
        assert_eq!(canonical_binding("localhost"), None);
        assert!(binding_matches(
            "10.1.0.0/16",
            "10.1.200.3".parse().unwrap()
        ));
        assert!(!binding_matches("10.1.0.0/16", "10.2.0.1".parse().unwrap()));
        assert!(binding_matches(
            "127.0.0.1",
            "::ffff:127.0.0.1".parse().unwrap()
        ));
        assert!(!binding_matches("127.0.0.1", "::1".parse().unwrap()));
        assert!(binding_matches("::/0", "::1".parse().unwrap()));
    }
}
