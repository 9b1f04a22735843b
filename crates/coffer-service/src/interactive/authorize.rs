//! The authorization code flow: the `/authorize` request (checked in Entra ID's order, so only a
//! verified redirect URI ever receives an error), the code a successful sign-in issues, and its
//! redemption at the token endpoint (single use, ten minutes, bound to client, redirect URI,
//! user, scope, nonce and PKCE challenge).

use coffer_store::{DocMode, StoreError};
use serde::{Deserialize, Serialize};

use super::redirect::{has_redirects, match_redirect, origin_of};
use super::scope::Requested;
use super::{Platform, SigninFlow, SigninPage, digest, pkce, random_value};
use crate::directory::clip;
use crate::records::{AUTH_CODE, UserDoc};
use crate::tokens::{ClientAuth, IssuedGrant, RefreshPlan, UserGrant};
use crate::{AuthError, Coffer, ServiceError, SigninError, TokenRequest};

/// How long an authorization code can be redeemed.
const CODE_TTL_SECS: i64 = 10 * 60;

/// The parameters of an authorization request (query string or form).
#[derive(Clone, Debug, Default)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub response_type: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    /// The v1 endpoint's resource.
    pub resource: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub nonce: Option<String>,
    pub prompt: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
}

/// How the answer travels back to the redirect URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// `?code=...&state=...` on a 302.
    Query,
    /// An HTML form posted to the redirect URI.
    FormPost,
}

/// Where and how an answer goes back to the application (only ever a verified redirect URI).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReplyTarget {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub response_mode: ResponseMode,
}

/// A refused authorization request: shown on the page while the redirect URI is not verified,
/// sent back to it once it is.
#[derive(Debug)]
pub enum AuthorizeRefusal {
    Page(SigninError),
    Reply {
        target: ReplyTarget,
        error: SigninError,
    },
}

/// A validated authorization request waiting for the user to sign in.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PendingCode {
    client_id: String,
    platform: Platform,
    target: ReplyTarget,
    scope: Option<String>,
    resource: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
}

/// Record of an issued code (kind `auth-code`, id: hash of the code).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct AuthCodeDoc {
    tenant_id: String,
    client_id: String,
    platform: Platform,
    redirect_uri: String,
    user_object_id: String,
    scope: Option<String>,
    resource: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    expires: i64,
    /// Set on redemption; the record stays until it expires so a second use is named as such.
    redeemed: bool,
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl Coffer {
    /// `GET /{tenant}/oauth2/v2.0/authorize` (`v2`) or `/oauth2/authorize`: validates the
    /// request and records a sign-in page for it. `cookie` is the browser's binding cookie.
    pub async fn begin_authorization(
        &self,
        tenant_id: &str,
        req: AuthorizeRequest,
        v2: bool,
        cookie: Option<&str>,
    ) -> Result<SigninPage, AuthorizeRefusal> {
        use AuthorizeRefusal::Page;
        let page = |e: ServiceError| Page(e.into());
        if !self.tenant_exists(tenant_id).await.map_err(page)? {
            return Err(Page(SigninError::TenantNotFound(clip(tenant_id, 100))));
        }
        let client_id =
            nonempty(&req.client_id).ok_or(Page(SigninError::MissingParameter("client_id")))?;
        let app = self
            .client_app(tenant_id, client_id)
            .await
            .map_err(|e| Page(e.into()))?;
        if !has_redirects(&app) {
            return Err(Page(SigninError::NoRegisteredReplyAddress(app.app_id)));
        }
        let redirect_uri = nonempty(&req.redirect_uri).ok_or(Page(SigninError::NoReplyAddress))?;
        let platform = match_redirect(&app, redirect_uri).ok_or_else(|| {
            Page(SigninError::RedirectMismatch {
                uri: clip(redirect_uri, 200),
                app: app.app_id.clone(),
            })
        })?;
        // From here on the redirect URI is the application's own: errors go back to it.
        let mut target = ReplyTarget {
            redirect_uri: redirect_uri.to_owned(),
            state: req.state.clone(),
            response_mode: ResponseMode::Query,
        };
        match nonempty(&req.response_mode) {
            None | Some("query") => {}
            Some("form_post") => target.response_mode = ResponseMode::FormPost,
            Some(other) => {
                return Err(AuthorizeRefusal::Reply {
                    error: SigninError::UnsupportedResponseMode(clip(other, 40)),
                    target,
                });
            }
        }
        let reply = |error: SigninError| AuthorizeRefusal::Reply {
            target: target.clone(),
            error,
        };
        match nonempty(&req.response_type) {
            Some("code") => {}
            None => return Err(reply(SigninError::MissingParameter("response_type"))),
            Some(other) => {
                return Err(reply(SigninError::UnsupportedResponseType(clip(other, 40))));
            }
        }
        let code_challenge = pkce::check_challenge(
            nonempty(&req.code_challenge),
            nonempty(&req.code_challenge_method),
        )
        .map_err(reply)?;
        if platform.is_public() && code_challenge.is_none() {
            return Err(reply(SigninError::PkceRequired));
        }
        let scope = nonempty(&req.scope).map(str::to_owned);
        let resource = (!v2)
            .then(|| nonempty(&req.resource).map(str::to_owned))
            .flatten();
        if v2 && scope.is_none() {
            return Err(reply(SigninError::MissingParameter("scope")));
        }
        self.check_requested(scope.as_deref(), resource.as_deref())
            .map_err(|_| {
                reply(SigninError::InvalidScope(clip(
                    scope.as_deref().unwrap_or_default(),
                    200,
                )))
            })?;
        if nonempty(&req.prompt) == Some("none") {
            // No session cookie survives a sign-in here: a silent request cannot succeed.
            return Err(reply(SigninError::LoginRequired));
        }
        let pending = PendingCode {
            client_id: app.app_id.clone(),
            platform,
            target: target.clone(),
            scope,
            resource,
            nonce: nonempty(&req.nonce).map(|n| clip(n, 512)),
            code_challenge,
        };
        self.new_signin_page(
            tenant_id,
            &app.display_name,
            SigninFlow::Code(pending),
            nonempty(&req.login_hint),
            cookie,
            origin_of(redirect_uri),
        )
        .await
        .map_err(page)
    }

    /// Whether a delegated request names a resource this issuer knows (or none: Graph).
    pub(crate) fn check_requested(
        &self,
        scope: Option<&str>,
        resource: Option<&str>,
    ) -> Result<(Requested, String), AuthError> {
        let requested = Requested::parse(scope, resource)
            .map_err(|s| AuthError::InvalidScope(clip(&s, 200)))?;
        let wanted = requested
            .resource
            .clone()
            .unwrap_or_else(|| self.settings.graph_resource());
        let audience =
            self.resource_audience(&wanted)
                .ok_or_else(|| AuthError::UnknownResource {
                    resource: clip(&wanted, 200),
                    tenant: String::new(),
                })?;
        Ok((requested, audience))
    }

    /// Issues the code for a signed-in user and says where it goes.
    pub(super) async fn issue_code(
        &self,
        tenant_id: &str,
        pending: PendingCode,
        user: &UserDoc,
    ) -> Result<(ReplyTarget, String), ServiceError> {
        let code = random_value()?;
        let doc = AuthCodeDoc {
            tenant_id: tenant_id.to_ascii_lowercase(),
            client_id: pending.client_id,
            platform: pending.platform,
            redirect_uri: pending.target.redirect_uri.clone(),
            user_object_id: user.object_id.clone(),
            scope: pending.scope,
            resource: pending.resource,
            nonce: pending.nonce,
            code_challenge: pending.code_challenge,
            expires: self.now() + CODE_TTL_SECS,
            redeemed: false,
        };
        self.store
            .write_docs(vec![Self::signin_put(
                AUTH_CODE,
                &digest(&code),
                &doc,
                DocMode::Create,
            )?])
            .await?;
        Ok((pending.target, code))
    }

    /// `grant_type=authorization_code`.
    pub(crate) async fn redeem_code(
        &self,
        tenant_id: &str,
        req: &TokenRequest,
        v2: bool,
    ) -> Result<IssuedGrant, AuthError> {
        let code = super::required(&req.code, "code")?;
        let client_id = super::required(&req.client_id, "client_id")?;
        let redirect_uri = super::required(&req.redirect_uri, "redirect_uri")?;
        if !super::is_random_value(code) {
            return Err(AuthError::InvalidAuthCode);
        }
        let id = digest(code);
        let Some((doc, rev)) = self.signin_doc::<AuthCodeDoc>(AUTH_CODE, &id).await? else {
            return Err(AuthError::InvalidAuthCode);
        };
        if !doc.tenant_id.eq_ignore_ascii_case(tenant_id) {
            return Err(AuthError::AuthCodeOtherTenant);
        }
        if !doc.client_id.eq_ignore_ascii_case(client_id) {
            return Err(AuthError::AuthCodeOtherClient);
        }
        if doc.redeemed {
            return Err(AuthError::AuthCodeRedeemed);
        }
        if doc.expires <= self.now() {
            return Err(AuthError::AuthCodeExpired);
        }
        if doc.redirect_uri != redirect_uri {
            return Err(AuthError::RedirectUriMismatch {
                sent: clip(redirect_uri, 200),
                expected: clip(&doc.redirect_uri, 200),
            });
        }
        let (app, auth) = if doc.platform.is_public() {
            if req.client_secret.is_some() || req.client_assertion.is_some() {
                return Err(AuthError::PublicClientWithCredential);
            }
            (
                self.client_app(tenant_id, client_id).await?,
                ClientAuth::Public,
            )
        } else {
            self.authenticate_token_client(tenant_id, client_id, req, false)
                .await?
        };
        if let Some(challenge) = &doc.code_challenge {
            let verifier = super::required(&req.code_verifier, "code_verifier")?;
            if !pkce::verify(challenge, verifier) {
                return Err(AuthError::CodeVerifierMismatch);
            }
        }
        // Single use: only the request that moves the record from its read revision wins.
        let mut spent = doc.clone();
        spent.redeemed = true;
        match self
            .store
            .write_docs(vec![Self::signin_put(
                AUTH_CODE,
                &id,
                &spent,
                DocMode::Update(rev),
            )?])
            .await
        {
            Ok(()) => {}
            Err(StoreError::PreconditionFailed | StoreError::NotFound) => {
                return Err(AuthError::AuthCodeRedeemed);
            }
            Err(e) => return Err(ServiceError::from(e).into()),
        }
        let user = self.signed_in_user(tenant_id, &doc.user_object_id).await?;
        // The token request may name another resource than the authorization request did.
        let (scope, resource) = if req.scope.is_some() || req.resource.is_some() {
            (req.scope.clone(), req.resource.clone())
        } else {
            (doc.scope.clone(), doc.resource.clone())
        };
        let (requested, audience) = self
            .check_requested(scope.as_deref(), resource.as_deref())
            .map_err(|e| with_tenant(e, tenant_id))?;
        self.user_grant(UserGrant {
            app: &app,
            auth,
            user: &user,
            audience,
            id_token: requested.openid,
            refresh: if requested.offline_access {
                RefreshPlan::Issue {
                    confidential: !doc.platform.is_public(),
                }
            } else {
                RefreshPlan::None
            },
            requested,
            nonce: doc.nonce.as_deref(),
            client_info: req.client_info,
            v2,
        })
        .await
    }

    /// The user a code, device code or refresh token names, if it still may sign in.
    pub(crate) async fn signed_in_user(
        &self,
        tenant_id: &str,
        object_id: &str,
    ) -> Result<UserDoc, AuthError> {
        match self.user_doc_by_id(tenant_id, object_id).await? {
            Some((u, _)) if u.account_enabled => Ok(u),
            Some(_) => Err(AuthError::UserDisabled),
            None => Err(AuthError::InvalidUserCredentials),
        }
    }
}

/// Fills in the tenant of an unknown-resource error.
pub(crate) fn with_tenant(e: AuthError, tenant_id: &str) -> AuthError {
    match e {
        AuthError::UnknownResource { resource, .. } => AuthError::UnknownResource {
            resource,
            tenant: clip(tenant_id, 100),
        },
        other => other,
    }
}
