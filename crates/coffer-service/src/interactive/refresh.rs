//! Refresh tokens: opaque random values (never JWTs, so they can be revoked), kept hashed in
//! the store, rotated on every use, valid for 90 days from their issue. A user's tokens are
//! revoked together by bumping the user's session generation (Graph's
//! `revokeSignInSessions`); a disabled or deleted user's tokens stop working at once.

use coffer_store::{DocMode, DocWrite, StoreError};
use serde::{Deserialize, Serialize};

use super::authorize::with_tenant;
use super::{digest, is_random_value, random_value};
use crate::directory::clip;
use crate::records::{REFRESH_TOKEN, USER, UserDoc};
use crate::tokens::{ClientAuth, IssuedGrant, RefreshPlan, UserGrant};
use crate::users::user_doc_id;
use crate::{AuthError, Coffer, ServiceError, TokenRequest};

/// Lifetime of a refresh token (Entra ID's inactivity limit).
const REFRESH_TTL_SECS: i64 = 90 * 24 * 3600;

/// Record of a refresh token (kind `refresh-token`, id: hash of the token).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RefreshTokenDoc {
    tenant_id: String,
    client_id: String,
    user_object_id: String,
    /// Issued to a confidential client: redeeming it needs the client's credential again.
    confidential: bool,
    /// The user's session generation when issued.
    generation: u64,
    issued: i64,
    expires: i64,
}

impl Coffer {
    /// A new refresh token and the writes that store it (and drop the one it replaces).
    pub(crate) fn refresh_token_writes(
        &self,
        client_id: &str,
        user: &UserDoc,
        plan: &RefreshPlan,
    ) -> Result<Option<(String, Vec<DocWrite>)>, ServiceError> {
        let (confidential, replaces) = match plan {
            RefreshPlan::None => return Ok(None),
            RefreshPlan::Issue { confidential } => (*confidential, None),
            RefreshPlan::Rotate {
                confidential,
                old_id,
            } => (*confidential, Some(old_id)),
        };
        let token = random_value()?;
        let now = self.now();
        let doc = RefreshTokenDoc {
            tenant_id: user.tenant_id.clone(),
            client_id: client_id.to_ascii_lowercase(),
            user_object_id: user.object_id.clone(),
            confidential,
            generation: user.session_generation,
            issued: now,
            expires: now + REFRESH_TTL_SECS,
        };
        let mut writes = Vec::with_capacity(2);
        if let Some(old) = replaces {
            writes.push(DocWrite::Delete {
                kind: REFRESH_TOKEN.to_owned(),
                id: old.clone(),
            });
        }
        writes.push(Self::signin_put(
            REFRESH_TOKEN,
            &digest(&token),
            &doc,
            DocMode::Create,
        )?);
        Ok(Some((token, writes)))
    }

    /// `grant_type=refresh_token`: a new access token (for whichever resource the request
    /// names) and a new refresh token in place of the old.
    pub(crate) async fn redeem_refresh_token(
        &self,
        tenant_id: &str,
        req: &TokenRequest,
        v2: bool,
    ) -> Result<IssuedGrant, AuthError> {
        let token = super::required(&req.refresh_token, "refresh_token")?;
        let client_id = super::required(&req.client_id, "client_id")?;
        if !is_random_value(token) {
            return Err(AuthError::InvalidRefreshToken);
        }
        let id = digest(token);
        let Some((doc, _)) = self
            .signin_doc::<RefreshTokenDoc>(REFRESH_TOKEN, &id)
            .await?
        else {
            return Err(AuthError::InvalidRefreshToken);
        };
        if !doc.tenant_id.eq_ignore_ascii_case(tenant_id) {
            return Err(AuthError::InvalidRefreshToken);
        }
        if !doc.client_id.eq_ignore_ascii_case(client_id) {
            return Err(AuthError::RefreshTokenOtherClient);
        }
        if doc.expires <= self.now() {
            return Err(AuthError::RefreshTokenExpired(iso(doc.issued)));
        }
        let (app, auth) = if doc.confidential {
            self.authenticate_token_client(tenant_id, client_id, req, false)
                .await?
        } else {
            if req.client_secret.is_some() || req.client_assertion.is_some() {
                return Err(AuthError::PublicClientWithCredential);
            }
            (
                self.client_app(tenant_id, client_id).await?,
                ClientAuth::Public,
            )
        };
        let user = self.signed_in_user(tenant_id, &doc.user_object_id).await?;
        if user.session_generation != doc.generation {
            return Err(AuthError::RefreshTokenRevoked);
        }
        let (requested, audience) = self
            .check_requested(req.scope.as_deref(), req.resource.as_deref())
            .map_err(|e| with_tenant(e, tenant_id))?;
        self.user_grant(UserGrant {
            app: &app,
            auth,
            user: &user,
            audience,
            id_token: requested.openid,
            requested,
            nonce: None,
            client_info: req.client_info,
            refresh: RefreshPlan::Rotate {
                confidential: doc.confidential,
                old_id: id,
            },
            v2,
        })
        .await
    }

    /// Revokes every refresh token of a user (Graph's `revokeSignInSessions`).
    pub async fn revoke_sign_in_sessions(
        &self,
        tenant_id: &str,
        id_or_upn: &str,
    ) -> Result<(), ServiceError> {
        for _ in 0..5 {
            let Some((mut u, rev)) = self.user_doc(tenant_id, id_or_upn).await? else {
                return Err(crate::directory::not_found(id_or_upn));
            };
            u.session_generation = u.session_generation.wrapping_add(1);
            let write = DocWrite::Put {
                kind: USER.to_owned(),
                id: user_doc_id(&u.tenant_id, &u.object_id),
                body: serde_json::to_vec(&u)?,
                mode: DocMode::Update(rev),
            };
            match self.store.write_docs(vec![write]).await {
                Ok(()) => return Ok(()),
                Err(StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Conflict(format!(
            "The user '{}' changed concurrently; try again.",
            clip(id_or_upn, 100)
        )))
    }
}

fn iso(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}
