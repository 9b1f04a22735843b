//! System-assigned identities: one per resource that asks for it (a gateway), living and dying
//! with its owner, whose tokens name the owner in `xms_mirid`.

use std::collections::BTreeMap;

use coffer_domain::Principal;
use coffer_store::{DocMode, StoreError};

use super::{IdentityView, identity_put, new_identity_header};
use crate::Coffer;
use crate::management::{
    ManagementError, WRITE_ATTEMPTS, clip, concurrent, normalize_location, scope_parts,
};
use crate::records::ManagedIdentityDoc;

impl Coffer {
    /// Gives the resource `resource_id` (e.g. a gateway) a system-assigned identity in `tenant_id`,
    /// or returns the one it has. A new identity comes with its first App Service-style header.
    pub async fn ensure_system_identity(
        &self,
        tenant_id: &str,
        resource_id: &str,
        location: &str,
    ) -> Result<(IdentityView, Option<String>), ManagementError> {
        for _ in 0..WRITE_ATTEMPTS {
            if let Some((d, _)) = self.identity_doc(resource_id).await? {
                if d.system {
                    return Ok((d.view(), None));
                }
                return Err(ManagementError::Conflict {
                    code: "Conflict",
                    message: format!(
                        "'{}' is a user-assigned identity, not a resource that can have a system-assigned one.",
                        clip(resource_id)
                    ),
                });
            }
            let (subscription_id, resource_group) = scope_parts(resource_id);
            let name = resource_id
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let (header, rec) = new_identity_header(self.now())?;
            let doc = ManagedIdentityDoc {
                tenant_id: tenant_id.to_owned(),
                system: true,
                resource_id: resource_id.to_owned(),
                subscription_id,
                resource_group,
                name,
                location: normalize_location(location),
                tags: BTreeMap::new(),
                principal_id: uuid::Uuid::new_v4().to_string(),
                client_id: uuid::Uuid::new_v4().to_string(),
                created: self.now(),
                header: Some(rec),
                imds_addresses: Vec::new(),
            };
            match self
                .store
                .write_docs(vec![identity_put(&doc, DocMode::Create)?])
                .await
            {
                Ok(()) => return Ok((doc.view(), Some(header))),
                Err(StoreError::AlreadyExists) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(concurrent())
    }

    /// The system-assigned identity of a resource, if it has one.
    pub async fn system_identity(
        &self,
        resource_id: &str,
    ) -> Result<Option<IdentityView>, ManagementError> {
        Ok(match self.identity_doc(resource_id).await? {
            Some((d, _)) if d.system => Some(d.view()),
            _ => None,
        })
    }

    /// Removes a resource's system-assigned identity; `false` if it had none.
    pub async fn remove_system_identity(&self, resource_id: &str) -> Result<bool, ManagementError> {
        match self.identity_doc(resource_id).await? {
            Some((d, _)) if d.system => {}
            _ => return Ok(false),
        }
        self.delete_identity_doc(resource_id).await
    }

    /// Removes an identity's record; `false` if it was already gone.
    /// identity of the resource `scope`.
    pub async fn get_system_identity(
        &self,
        caller: &Principal,
        scope: &str,
    ) -> Result<IdentityView, ManagementError> {
        let (subscription, _) = scope_parts(scope);
        self.authorize(
            caller,
            &subscription,
            "Microsoft.ManagedIdentity/identities/read",
            &clip(scope),
        )
        .await?;
        self.system_identity(scope)
            .await?
            .ok_or_else(|| ManagementError::NotFound {
                code: "ResourceNotFound",
                message: format!(
                    "The resource '{}' has no system-assigned managed identity.",
                    clip(scope)
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use coffer_store_sqlite::SqliteStore;

    use crate::management::testing::{app, caller};

    #[tokio::test]
    async fn system_assigned_identities() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let coffer = app(store).await;
        let boot = coffer.bootstrap().await.unwrap();
        let owner = format!(
            "/subscriptions/{}/resourceGroups/coffer-rg/providers/Microsoft.ApiManagement/service/gw",
            boot.subscription_id
        );
        let (v, header) = coffer
            .ensure_system_identity(&boot.tenant_id, &owner, "local")
            .await
            .unwrap();
        assert!(header.is_some() && v.system_assigned);
        assert_eq!(v.name, "default");
        assert!(v.id.ends_with("/providers/Microsoft.ManagedIdentity/identities/default"));
        let (again, none) = coffer
            .ensure_system_identity(&boot.tenant_id, &owner, "local")
            .await
            .unwrap();
        assert!(none.is_none());
        assert_eq!(again.principal_id, v.principal_id);
        let me = caller(&boot.tenant_id);
        let got = coffer
            .get_system_identity(&me, &owner.to_lowercase())
            .await
            .unwrap();
        assert_eq!(got.client_id, v.client_id);
        // Its header gets tokens naming the owner in xms_mirid.
        let secrets = coffer.rotate_identity_header(&owner).await.unwrap();
        let t = coffer
            .mi_token_app_service(
                Some(&secrets.identity_header),
                &crate::MiTokenRequest {
                    resource: Some("https://vault.localhost:8443".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let (_, claims) = coffer_identity::decode_unverified(&t.access_token).unwrap();
        assert_eq!(claims["xms_mirid"], owner.as_str());
        assert_eq!(claims["oid"], v.principal_id.as_str());
        // System identities are not listed as user-assigned ones.
        let listed = coffer
            .list_user_assigned_identities(&me, &boot.subscription_id, None)
            .await
            .unwrap();
        assert!(listed.is_empty());
        assert!(coffer.remove_system_identity(&owner).await.unwrap());
        assert!(!coffer.remove_system_identity(&owner).await.unwrap());
        assert!(coffer.system_identity(&owner).await.unwrap().is_none());
    }
}
