//! Who is calling the directory: the caller a validated token names, and whether it may
//! change the directory (an administrator application, the bootstrap one, or an admin user).

use coffer_domain::Principal;

use crate::records::{ApplicationDoc, UserDoc};
use crate::{Coffer, ServiceError};

/// The authenticated caller of a directory request.
#[derive(Clone, Debug)]
pub struct DirectoryCaller {
    pub tenant_id: String,
    /// `oid`: the service principal, or the user of a delegated token.
    pub object_id: String,
    pub app_id: Option<String>,
    /// The token was issued to a user (through an application), not to the application alone.
    pub delegated: bool,
    /// May change the directory.
    pub admin: bool,
}

impl DirectoryCaller {
    /// Refuses callers that may not change the directory.
    pub fn require_admin(&self) -> Result<(), ServiceError> {
        if self.admin {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(
                "Insufficient privileges to complete the operation.".to_owned(),
            ))
        }
    }
}

impl Coffer {
    /// Whether an application administers its tenant's directory: flagged so, or the bootstrap
    /// administrator.
    pub(super) async fn app_is_admin(&self, app: &ApplicationDoc) -> Result<bool, ServiceError> {
        if app.directory_admin {
            return Ok(true);
        }
        Ok(self.bootstrap_info().await?.is_some_and(|b| {
            b.tenant_id.eq_ignore_ascii_case(&app.tenant_id)
                && b.client_id.eq_ignore_ascii_case(&app.app_id)
        }))
    }

    /// Who is calling the directory, from a validated token (see `authenticate_for`). A token
    /// with a `scp` claim is delegated: its `oid` is a user acting through the `appid`.
    pub async fn directory_caller(
        &self,
        principal: &Principal,
        claims: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<DirectoryCaller, ServiceError> {
        let delegated = claims.contains_key("scp");
        let admin = if delegated {
            self.user_doc_by_id(&principal.tenant_id, &principal.object_id)
                .await?
                .is_some_and(|(u, _): (UserDoc, u64)| u.directory_admin && u.account_enabled)
        } else {
            match &principal.app_id {
                Some(app_id) => match self.app(&principal.tenant_id, app_id).await? {
                    Some((app, _)) if app.object_id.eq_ignore_ascii_case(&principal.object_id) => {
                        self.app_is_admin(&app).await?
                    }
                    _ => false,
                },
                None => false,
            }
        };
        Ok(DirectoryCaller {
            tenant_id: principal.tenant_id.clone(),
            object_id: principal.object_id.clone(),
            app_id: principal.app_id.clone(),
            delegated,
            admin,
        })
    }
}
