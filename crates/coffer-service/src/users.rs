//! Users of a tenant: they sign in through an application with the resource-owner password grant
//! or interactively (`interactive/`), a compound identity: the token's `oid` is the user, its
//! `appid` the application. Passwords
//! are kept only as salted hashes; user principal names are unique per tenant, case-insensitively.

use coffer_store::{DocMode, DocWrite, StoreError};

use crate::directory::{DirectoryFilter, check_display_name, clip, not_found};
use crate::records::{USER, USER_UPN, UpnIndexDoc, UserDoc};
use crate::{AuthError, Coffer, ServiceError};

const MAX_UPN: usize = 113;
const MAX_PASSWORD: usize = 256;
const MIN_PASSWORD: usize = 8;

/// A user to create.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub display_name: String,
    pub user_principal_name: String,
    pub password: String,
    pub account_enabled: bool,
}

/// Changes to a user; `None` leaves a property as it is.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    pub display_name: Option<String>,
    pub account_enabled: Option<bool>,
    pub password: Option<String>,
}

/// A user as listed: never the password.
#[derive(Clone, Debug)]
pub struct UserView {
    pub tenant_id: String,
    pub object_id: String,
    pub user_principal_name: String,
    pub display_name: String,
    pub account_enabled: bool,
    /// Unix seconds.
    pub created: i64,
}

pub(crate) fn user_doc_id(tenant: &str, object_id: &str) -> String {
    format!(
        "{}:{}",
        tenant.to_ascii_lowercase(),
        object_id.to_ascii_lowercase()
    )
}

fn upn_doc_id(tenant: &str, upn: &str) -> String {
    format!("{}:{}", tenant.to_ascii_lowercase(), upn.to_lowercase())
}

fn view(u: &UserDoc) -> UserView {
    UserView {
        tenant_id: u.tenant_id.clone(),
        object_id: u.object_id.clone(),
        user_principal_name: u.user_principal_name.clone(),
        display_name: u.display_name.clone(),
        account_enabled: u.account_enabled,
        created: u.created,
    }
}

fn check_upn(upn: &str) -> Result<String, ServiceError> {
    let upn = upn.trim();
    let valid = upn.chars().count() <= MAX_UPN
        && upn.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !local.starts_with('.')
                && !local.ends_with('.')
        })
        && upn
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "@.-_'".contains(c));
    if valid {
        Ok(upn.to_owned())
    } else {
        Err(ServiceError::BadParameter(format!(
            "Invalid value specified for property 'userPrincipalName' of resource 'User': '{}' must be alias@domain, with letters, digits and . - _ ' only.",
            clip(upn, 120)
        )))
    }
}

/// Entra ID's rule: 8 to 256 characters, and three of: lowercase, uppercase, digits, symbols.
fn check_password(p: &str) -> Result<(), ServiceError> {
    let len = p.chars().count();
    let classes = [
        p.chars().any(|c| c.is_lowercase()),
        p.chars().any(|c| c.is_uppercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| !c.is_alphanumeric()),
    ]
    .iter()
    .filter(|x| **x)
    .count();
    if (MIN_PASSWORD..=MAX_PASSWORD).contains(&len) && classes >= 3 {
        Ok(())
    } else {
        Err(ServiceError::BadParameter(
            "The specified password does not comply with password complexity requirements. Please provide a different password (8 to 256 characters, with three of: lowercase letters, uppercase letters, digits, symbols).".to_owned(),
        ))
    }
}

impl Coffer {
    pub(crate) async fn user_doc_by_id(
        &self,
        tenant_id: &str,
        object_id: &str,
    ) -> Result<Option<(UserDoc, u64)>, ServiceError> {
        match self
            .store
            .get_doc(USER, &user_doc_id(tenant_id, object_id.trim()))
            .await?
        {
            Some(d) => Ok(Some((serde_json::from_slice(&d.body)?, d.revision))),
            None => Ok(None),
        }
    }

    async fn user_doc_by_upn(
        &self,
        tenant_id: &str,
        upn: &str,
    ) -> Result<Option<(UserDoc, u64)>, ServiceError> {
        let Some(idx) = self
            .store
            .get_doc(USER_UPN, &upn_doc_id(tenant_id, upn.trim()))
            .await?
        else {
            return Ok(None);
        };
        let idx: UpnIndexDoc = serde_json::from_slice(&idx.body)?;
        self.user_doc_by_id(tenant_id, &idx.object_id).await
    }

    /// A user by object id, or by user principal name when it contains `@`.
    pub(crate) async fn user_doc(
        &self,
        tenant_id: &str,
        id_or_upn: &str,
    ) -> Result<Option<(UserDoc, u64)>, ServiceError> {
        if id_or_upn.contains('@') {
            self.user_doc_by_upn(tenant_id, id_or_upn).await
        } else {
            self.user_doc_by_id(tenant_id, id_or_upn).await
        }
    }

    /// Creates a user; the user principal name must be unused in the tenant.
    pub async fn create_user(
        &self,
        tenant_id: &str,
        new: NewUser,
    ) -> Result<UserView, ServiceError> {
        if !self.tenant_exists(tenant_id).await? {
            return Err(not_found(tenant_id));
        }
        let display_name = check_display_name(&new.display_name)?;
        let upn = check_upn(&new.user_principal_name)?;
        check_password(&new.password)?;
        let doc = UserDoc {
            tenant_id: tenant_id.to_ascii_lowercase(),
            object_id: uuid::Uuid::new_v4().to_string(),
            user_principal_name: upn,
            display_name,
            password_hash: coffer_crypto::password::hash(&new.password)?,
            account_enabled: new.account_enabled,
            created: self.now(),
            directory_admin: false,
            session_generation: 0,
        };
        let writes = vec![
            DocWrite::Put {
                kind: USER_UPN.to_owned(),
                id: upn_doc_id(tenant_id, &doc.user_principal_name),
                body: serde_json::to_vec(&UpnIndexDoc {
                    object_id: doc.object_id.clone(),
                })?,
                mode: DocMode::Create,
            },
            DocWrite::Put {
                kind: USER.to_owned(),
                id: user_doc_id(tenant_id, &doc.object_id),
                body: serde_json::to_vec(&doc)?,
                mode: DocMode::Create,
            },
        ];
        match self.store.write_docs(writes).await {
            Ok(()) => Ok(view(&doc)),
            Err(StoreError::AlreadyExists) => Err(ServiceError::BadParameter(
                "Another object with the same value for property userPrincipalName already exists."
                    .to_owned(),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Users of a tenant, optionally filtered, in object id order.
    pub async fn list_users(
        &self,
        tenant_id: &str,
        filter: Option<&DirectoryFilter>,
    ) -> Result<Vec<UserView>, ServiceError> {
        let prefix = format!("{}:", tenant_id.to_ascii_lowercase());
        let mut out = Vec::new();
        for d in self.store.list_docs(USER).await? {
            if !d.id.starts_with(&prefix) {
                continue;
            }
            let u: UserDoc = serde_json::from_slice(&d.body)?;
            let keep = match filter {
                None => true,
                Some(DirectoryFilter::IdEq(v)) => u.object_id.eq_ignore_ascii_case(v),
                Some(DirectoryFilter::UserPrincipalNameEq(v)) => {
                    u.user_principal_name.to_lowercase() == v.to_lowercase()
                }
                Some(f) => f.matches_name(&u.display_name).unwrap_or(false),
            };
            if keep {
                out.push(view(&u));
            }
        }
        Ok(out)
    }

    /// A user by object id or user principal name.
    pub async fn get_user(
        &self,
        tenant_id: &str,
        id_or_upn: &str,
    ) -> Result<UserView, ServiceError> {
        match self.user_doc(tenant_id, id_or_upn).await? {
            Some((u, _)) => Ok(view(&u)),
            None => Err(not_found(id_or_upn)),
        }
    }

    /// Changes a user's display name, password or whether the account is enabled.
    pub async fn update_user(
        &self,
        tenant_id: &str,
        id_or_upn: &str,
        update: UserUpdate,
    ) -> Result<UserView, ServiceError> {
        let display_name = update
            .display_name
            .as_deref()
            .map(check_display_name)
            .transpose()?;
        let password_hash = match &update.password {
            Some(p) => {
                check_password(p)?;
                Some(coffer_crypto::password::hash(p)?)
            }
            None => None,
        };
        for _ in 0..5 {
            let Some((mut u, rev)) = self.user_doc(tenant_id, id_or_upn).await? else {
                return Err(not_found(id_or_upn));
            };
            if let Some(n) = &display_name {
                u.display_name = n.clone();
            }
            if let Some(e) = update.account_enabled {
                u.account_enabled = e;
            }
            if let Some(h) = &password_hash {
                u.password_hash = h.clone();
            }
            let write = DocWrite::Put {
                kind: USER.to_owned(),
                id: user_doc_id(&u.tenant_id, &u.object_id),
                body: serde_json::to_vec(&u)?,
                mode: DocMode::Update(rev),
            };
            match self.store.write_docs(vec![write]).await {
                Ok(()) => return Ok(view(&u)),
                Err(StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Conflict(
            "The user changed concurrently; try again.".to_owned(),
        ))
    }

    /// Deletes a user (and frees its user principal name).
    pub async fn delete_user(&self, tenant_id: &str, id_or_upn: &str) -> Result<(), ServiceError> {
        let Some((u, _)) = self.user_doc(tenant_id, id_or_upn).await? else {
            return Err(not_found(id_or_upn));
        };
        let writes = vec![
            DocWrite::Delete {
                kind: USER.to_owned(),
                id: user_doc_id(&u.tenant_id, &u.object_id),
            },
            DocWrite::Delete {
                kind: USER_UPN.to_owned(),
                id: upn_doc_id(&u.tenant_id, &u.user_principal_name),
            },
        ];
        match self.store.write_docs(writes).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(not_found(id_or_upn)),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a user's name and password (the password grant and the sign-in page), with the
    /// lockout after repeated failures (`interactive/lockout.rs`).
    pub(crate) async fn authenticate_user(
        &self,
        tenant_id: &str,
        username: &str,
        password: &str,
    ) -> Result<UserDoc, AuthError> {
        let now = self.now();
        if let Some(secs) = self.lockout.locked_for(tenant_id, username, now) {
            return Err(AuthError::AccountLocked(secs));
        }
        let found = if username.contains('@') {
            self.user_doc_by_upn(tenant_id, username).await?
        } else {
            None
        };
        let Some((user, _)) = found else {
            // Spend the same work as a real check, so timing does not tell which names exist.
            let _ = coffer_crypto::password::verify(password, DUMMY_HASH);
            self.lockout.failed(tenant_id, username, now);
            return Err(AuthError::InvalidUserCredentials);
        };
        if !coffer_crypto::password::verify(password, &user.password_hash) {
            self.lockout.failed(tenant_id, username, now);
            return Err(AuthError::InvalidUserCredentials);
        }
        self.lockout.succeeded(tenant_id, username);
        if !user.account_enabled {
            return Err(AuthError::UserDisabled);
        }
        Ok(user)
    }
}

/// A well-formed hash of a random value (same iterations as real ones) for unknown users.
const DUMMY_HASH: &str =
    "pbkdf2-sha256$50000$Y29mZmVyLWR1bW15LXNhbHQ$HwbHFVaBK2ImbH7bR/wFow5WhxpNG89RpZVulrlgL3U";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upn_rules() {
        assert!(check_upn("alice@contoso.example").is_ok());
        assert!(check_upn("o'brien.x@a.b").is_ok());
        for bad in ["alice", "@x", "a@", "a@b@c", "a b@c", ".a@b", "a\n@b"] {
            assert!(check_upn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn password_rules() {
        assert!(check_password("Passw0rd!").is_ok());
        assert!(check_password("Passw0rd").is_ok());
        assert!(check_password("password").is_err());
        assert!(check_password("Pa0!").is_err());
        assert!(check_password(&"Aa0".repeat(100)).is_err());
    }

    #[test]
    fn dummy_hash_is_well_formed() {
        assert!(!coffer_crypto::password::verify("x", DUMMY_HASH));
        assert_eq!(DUMMY_HASH.split('$').count(), 4);
    }
}
