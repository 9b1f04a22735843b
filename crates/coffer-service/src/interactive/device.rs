//! The device code flow: `/devicecode` starts it (a long device code for the device, a short
//! user code for the person), the code-entry page finds it by user code and leads to the usual
//! sign-in page, and the device polls the token endpoint until the person signs in or declines.

use coffer_store::{DocMode, DocWrite, StoreError};
use serde::{Deserialize, Serialize};

use super::authorize::with_tenant;
use super::{SigninFlow, SigninPage, digest, is_random_value, random_value};
use crate::directory::clip;
use crate::records::{DEVICE_CODE, DEVICE_USER_CODE, UserDoc};
use crate::tokens::{ClientAuth, IssuedGrant, RefreshPlan, UserGrant};
use crate::{AuthError, Coffer, ServiceError, SigninError, TokenRequest};

/// Entra ID's defaults: 15 minutes to sign in, a poll every 5 seconds.
const DEVICE_TTL_SECS: i64 = 15 * 60;
const POLL_INTERVAL_SECS: i64 = 5;
/// User codes: 9 characters without vowels (no words) or look-alikes (0/O, 1/I/L).
const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKMNPQRSTVWXZ23456789";
const USER_CODE_LEN: usize = 9;

/// What `/devicecode` answers.
#[derive(Clone, Debug)]
pub struct DeviceFlowStart {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: i64,
    pub interval: i64,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
enum DeviceStatus {
    Pending,
    Approved { user_object_id: String },
    Declined,
}

/// Record of a device flow (kind `device-code`, id: hash of the device code).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct DeviceCodeDoc {
    tenant_id: String,
    client_id: String,
    user_code: String,
    scope: Option<String>,
    resource: Option<String>,
    expires: i64,
    status: DeviceStatus,
}

/// Index entry (kind `device-user-code`, id: the user code).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct UserCodeDoc {
    device_id: String,
    expires: i64,
}

fn new_user_code() -> Result<String, ServiceError> {
    let bytes = coffer_crypto::random::bytes(USER_CODE_LEN * 2)?;
    // Two bytes per character keep the modulo bias negligible.
    Ok(bytes
        .chunks(2)
        .map(|b| {
            let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
            char::from(USER_CODE_ALPHABET[n % USER_CODE_ALPHABET.len()])
        })
        .collect())
}

/// A typed user code as stored: upper case, without spaces or dashes.
pub(crate) fn normalize_user_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .take(32)
        .collect::<String>()
        .to_ascii_uppercase()
}

impl Coffer {
    /// `POST /{tenant}/oauth2/v2.0/devicecode` (`v2`, with `scope`) or `/oauth2/devicecode`
    /// (`resource`). Only applications that allow public client flows may use it.
    pub async fn start_device_flow(
        &self,
        tenant_id: &str,
        client_id: Option<&str>,
        scope: Option<&str>,
        resource: Option<&str>,
        v2: bool,
    ) -> Result<DeviceFlowStart, AuthError> {
        if !self.tenant_exists(tenant_id).await? {
            return Err(AuthError::TenantNotFound(clip(tenant_id, 100)));
        }
        let client_id = client_id
            .filter(|c| !c.is_empty())
            .ok_or(AuthError::MissingParameter("client_id"))?;
        let app = self.client_app(tenant_id, client_id).await?;
        if !app.public_client {
            return Err(AuthError::PublicFlowsDisabled(app.app_id));
        }
        if v2 && scope.is_none() {
            return Err(AuthError::MissingParameter("scope"));
        }
        let resource = if v2 { None } else { resource };
        self.check_requested(scope, resource)
            .map_err(|e| with_tenant(e, tenant_id))?;
        let now = self.now();
        for _ in 0..5 {
            let device_code = random_value()?;
            let user_code = new_user_code()?;
            let device_id = digest(&device_code);
            let doc = DeviceCodeDoc {
                tenant_id: tenant_id.to_ascii_lowercase(),
                client_id: app.app_id.clone(),
                user_code: user_code.clone(),
                scope: scope.map(str::to_owned),
                resource: resource.map(str::to_owned),
                expires: now + DEVICE_TTL_SECS,
                status: DeviceStatus::Pending,
            };
            let index = UserCodeDoc {
                device_id: device_id.clone(),
                expires: doc.expires,
            };
            let writes = vec![
                Self::signin_put(DEVICE_USER_CODE, &user_code, &index, DocMode::Create)?,
                Self::signin_put(DEVICE_CODE, &device_id, &doc, DocMode::Create)?,
            ];
            match self.store.write_docs(writes).await {
                Ok(()) => {
                    let verification_uri = format!("{}/devicelogin", self.settings.authority());
                    return Ok(DeviceFlowStart {
                        message: format!(
                            "To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."
                        ),
                        device_code,
                        user_code,
                        verification_uri,
                        expires_in: DEVICE_TTL_SECS,
                        interval: POLL_INTERVAL_SECS,
                    });
                }
                // A user code still in use: draw another.
                Err(StoreError::AlreadyExists) => continue,
                Err(e) => return Err(ServiceError::from(e).into()),
            }
        }
        Err(AuthError::Internal(
            "no free user code after five draws".to_owned(),
        ))
    }

    async fn device_by_user_code(
        &self,
        typed: &str,
    ) -> Result<(String, DeviceCodeDoc, u64), SigninError> {
        let code = normalize_user_code(typed);
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SigninError::BadUserCode);
        }
        let Some((idx, _)) = self
            .signin_doc::<UserCodeDoc>(DEVICE_USER_CODE, &code)
            .await?
        else {
            return Err(SigninError::BadUserCode);
        };
        let Some((doc, rev)) = self
            .signin_doc::<DeviceCodeDoc>(DEVICE_CODE, &idx.device_id)
            .await?
        else {
            return Err(SigninError::BadUserCode);
        };
        Ok((idx.device_id, doc, rev))
    }

    /// The code-entry page's answer: the sign-in page for the device flow a user code names.
    pub async fn device_sign_in_page(
        &self,
        user_code: &str,
        cookie: Option<&str>,
    ) -> Result<SigninPage, SigninError> {
        let (device_id, doc, _) = self.device_by_user_code(user_code).await?;
        if doc.expires <= self.now() {
            return Err(SigninError::UserCodeExpired);
        }
        if doc.status != DeviceStatus::Pending {
            return Err(SigninError::DeviceFlowDone);
        }
        let app = self.client_app(&doc.tenant_id, &doc.client_id).await?;
        Ok(self
            .new_signin_page(
                &doc.tenant_id,
                &app.display_name,
                SigninFlow::Device { device_id },
                None,
                cookie,
                None,
            )
            .await?)
    }

    async fn set_device_status(
        &self,
        device_id: &str,
        status: DeviceStatus,
    ) -> Result<(), SigninError> {
        let Some((mut doc, rev)) = self
            .signin_doc::<DeviceCodeDoc>(DEVICE_CODE, device_id)
            .await?
        else {
            return Err(SigninError::UserCodeExpired);
        };
        if doc.expires <= self.now() {
            return Err(SigninError::UserCodeExpired);
        }
        if doc.status != DeviceStatus::Pending {
            return Err(SigninError::DeviceFlowDone);
        }
        doc.status = status;
        match self
            .store
            .write_docs(vec![Self::signin_put(
                DEVICE_CODE,
                device_id,
                &doc,
                DocMode::Update(rev),
            )?])
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::PreconditionFailed | StoreError::NotFound) => {
                Err(SigninError::DeviceFlowDone)
            }
            Err(e) => Err(ServiceError::from(e).into()),
        }
    }

    pub(super) async fn approve_device(
        &self,
        device_id: &str,
        user: &UserDoc,
    ) -> Result<(), SigninError> {
        self.set_device_status(
            device_id,
            DeviceStatus::Approved {
                user_object_id: user.object_id.clone(),
            },
        )
        .await
    }

    pub(super) async fn decline_device(&self, device_id: &str) -> Result<(), SigninError> {
        self.set_device_status(device_id, DeviceStatus::Declined)
            .await
    }

    /// Removes a finished device flow and its user code; false if another request did first.
    async fn end_device_flow(
        &self,
        device_id: &str,
        doc: &DeviceCodeDoc,
    ) -> Result<bool, AuthError> {
        let writes = vec![
            DocWrite::Delete {
                kind: DEVICE_CODE.to_owned(),
                id: device_id.to_owned(),
            },
            DocWrite::Delete {
                kind: DEVICE_USER_CODE.to_owned(),
                id: doc.user_code.clone(),
            },
        ];
        match self.store.write_docs(writes).await {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(ServiceError::from(e).into()),
        }
    }

    /// `grant_type=urn:ietf:params:oauth:grant-type:device_code`: pending until the user signs
    /// in, then tokens, once.
    pub(crate) async fn poll_device_code(
        &self,
        tenant_id: &str,
        req: &TokenRequest,
        v2: bool,
    ) -> Result<IssuedGrant, AuthError> {
        let code = super::required(&req.device_code, "device_code")?;
        let client_id = super::required(&req.client_id, "client_id")?;
        if !is_random_value(code) {
            return Err(AuthError::BadDeviceCode);
        }
        let device_id = digest(code);
        let Some((doc, _)) = self
            .signin_doc::<DeviceCodeDoc>(DEVICE_CODE, &device_id)
            .await?
        else {
            return Err(AuthError::BadDeviceCode);
        };
        if !doc.tenant_id.eq_ignore_ascii_case(tenant_id)
            || !doc.client_id.eq_ignore_ascii_case(client_id)
        {
            return Err(AuthError::BadDeviceCode);
        }
        if doc.expires <= self.now() {
            self.end_device_flow(&device_id, &doc).await?;
            return Err(AuthError::DeviceCodeExpired);
        }
        let user_object_id = match &doc.status {
            DeviceStatus::Pending => return Err(AuthError::AuthorizationPending),
            DeviceStatus::Declined => {
                self.end_device_flow(&device_id, &doc).await?;
                return Err(AuthError::AuthorizationDeclined);
            }
            DeviceStatus::Approved { user_object_id } => user_object_id.clone(),
        };
        if req.client_secret.is_some() || req.client_assertion.is_some() {
            return Err(AuthError::PublicClientWithCredential);
        }
        let app = self.client_app(tenant_id, client_id).await?;
        let user = self.signed_in_user(tenant_id, &user_object_id).await?;
        let (requested, audience) = self
            .check_requested(doc.scope.as_deref(), doc.resource.as_deref())
            .map_err(|e| with_tenant(e, tenant_id))?;
        // Tokens are issued once: the request that removes the flow gets them.
        if !self.end_device_flow(&device_id, &doc).await? {
            return Err(AuthError::BadDeviceCode);
        }
        self.user_grant(UserGrant {
            app: &app,
            auth: ClientAuth::Public,
            user: &user,
            audience,
            id_token: requested.openid,
            refresh: if requested.offline_access {
                RefreshPlan::Issue {
                    confidential: false,
                }
            } else {
                RefreshPlan::None
            },
            requested,
            nonce: None,
            client_info: req.client_info,
            v2,
        })
        .await
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn user_codes_are_short_and_unambiguous() {
        let a = new_user_code().unwrap();
        let b = new_user_code().unwrap();
        assert_eq!(a.len(), USER_CODE_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| USER_CODE_ALPHABET.contains(&c)));
        assert_eq!(normalize_user_code(" bcd-fgh jkm "), "BCDFGHJKM");
    }
}
