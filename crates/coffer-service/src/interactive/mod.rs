//! Interactive sign-in as Entra ID does it, for directory users: the authorization code flow
//! with PKCE (`authorize.rs`: the `/authorize` request, the sign-in form, the code's
//! redemption), the device code flow (`device.rs`), and refresh tokens (`refresh.rs`).
//!
//! The sign-in page's protections live here too: every rendered page has a single-use CSRF
//! token whose record is bound to a random cookie of the browser (`SigninPageDoc`), redirect
//! URIs must match a registered one exactly (`redirect.rs`), public clients must use PKCE with
//! S256 (`pkce.rs`), and repeated bad passwords lock a user name for a while (`lockout.rs`).
//! Codes, device codes, refresh tokens and CSRF tokens are random values the client holds; the
//! store keeps only their SHA-256, so reading the database yields nothing usable. The HTML is
//! the API layer's; nothing here knows HTTP.

mod authorize;
mod device;
mod lockout;
mod pkce;
mod redirect;
mod refresh;
mod scope;

pub use authorize::{AuthorizeRefusal, AuthorizeRequest, ReplyTarget, ResponseMode};
pub use device::DeviceFlowStart;
pub(crate) use lockout::Lockout;
pub(crate) use redirect::check_redirect_uris;
pub use redirect::{Platform, origin_of};
pub(crate) use scope::Requested;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_store::{DocMode, DocWrite, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::records::{AUTH_CODE, DEVICE_CODE, DEVICE_USER_CODE, REFRESH_TOKEN, SIGNIN_PAGE};
use crate::{Coffer, ServiceError, SigninError};

/// How long a rendered sign-in page can be submitted.
const PAGE_TTL_SECS: i64 = 15 * 60;
/// Longest `login_hint` kept (a user principal name is at most 113 characters).
const MAX_HINT: usize = 113;

/// A sign-in page to render.
#[derive(Clone, Debug)]
pub struct SigninPage {
    /// The page's single-use CSRF token (a hidden form field).
    pub csrf: String,
    /// A new value for the browser-binding cookie, when the browser sent none (or a bad one).
    pub set_cookie: Option<String>,
    /// The tenant the form posts to (`/{tenant}/login`).
    pub tenant_id: String,
    /// The application the user signs in to.
    pub app_name: String,
    pub login_hint: Option<String>,
    /// The origin the form's answer redirects to (`scheme://host[:port]`), for the page's
    /// `form-action`; `None` for the device flow.
    pub reply_origin: Option<String>,
    /// The device code flow's page (it offers to decline).
    pub device: bool,
}

/// What the sign-in form sends.
#[derive(Clone, Debug, Default)]
pub struct SigninForm {
    pub csrf: String,
    /// The browser-binding cookie.
    pub cookie: Option<String>,
    pub username: String,
    pub password: String,
    /// The device flow's "Cancel": the device's poll then gets `authorization_declined`.
    pub decline: bool,
}

/// A finished sign-in.
#[derive(Clone, Debug)]
pub enum SigninDone {
    /// Back to the application with a code.
    Reply {
        target: ReplyTarget,
        code: String,
    },
    /// The device may now redeem its device code.
    DeviceApproved {
        app_name: String,
    },
    DeviceDeclined {
        app_name: String,
    },
}

/// A refused sign-in: the error, and a fresh page to try again when trying again makes sense
/// (wrong password, lockout) rather than starting over (expired or reused page).
#[derive(Debug)]
pub struct SigninRetry {
    pub error: SigninError,
    pub page: Option<SigninPage>,
}

/// What a sign-in page leads to once the user is known.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub(crate) enum SigninFlow {
    Code(authorize::PendingCode),
    /// The device flow of this device code hash.
    Device {
        device_id: String,
    },
}

/// Record of a rendered sign-in page (kind `signin-page`, id: hash of its CSRF token).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SigninPageDoc {
    tenant_id: String,
    /// Hash of the browser-binding cookie the page was rendered for.
    cookie_hash: String,
    expires: i64,
    app_name: String,
    login_hint: Option<String>,
    reply_origin: Option<String>,
    flow: SigninFlow,
}

/// The one field every sign-in record has, for the expiry sweep.
#[derive(Deserialize)]
struct Expiring {
    expires: i64,
}

/// A new random value: 32 bytes, base64url (43 characters).
pub(crate) fn random_value() -> Result<String, ServiceError> {
    Ok(URL_SAFE_NO_PAD.encode(coffer_crypto::random::bytes(32)?))
}

/// Whether `s` looks like a value [`random_value`] made (so junk never reaches the store).
fn is_random_value(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The record id of a random value: its SHA-256, hex.
/// A token request parameter the grant cannot go without (AADSTS900144 when absent).
pub(crate) fn required<'a>(
    value: &'a Option<String>,
    name: &'static str,
) -> Result<&'a str, crate::AuthError> {
    value
        .as_deref()
        .ok_or(crate::AuthError::MissingParameter(name))
}

pub(crate) fn digest(value: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn clean_hint(hint: Option<&str>) -> Option<String> {
    hint.map(|h| {
        h.chars()
            .filter(|c| !c.is_control())
            .take(MAX_HINT)
            .collect::<String>()
    })
    .map(|h| h.trim().to_owned())
    .filter(|h| !h.is_empty())
}

impl Coffer {
    /// A sign-in record and its revision.
    async fn signin_doc<T: DeserializeOwned>(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<(T, u64)>, ServiceError> {
        match self.store.get_doc(kind, id).await? {
            Some(d) => Ok(Some((serde_json::from_slice(&d.body)?, d.revision))),
            None => Ok(None),
        }
    }

    fn signin_put<T: Serialize>(
        kind: &str,
        id: &str,
        body: &T,
        mode: DocMode,
    ) -> Result<DocWrite, ServiceError> {
        Ok(DocWrite::Put {
            kind: kind.to_owned(),
            id: id.to_owned(),
            body: serde_json::to_vec(body)?,
            mode,
        })
    }

    /// Records a sign-in page for `flow` and returns what to render.
    async fn new_signin_page(
        &self,
        tenant_id: &str,
        app_name: &str,
        flow: SigninFlow,
        login_hint: Option<&str>,
        cookie: Option<&str>,
        reply_origin: Option<String>,
    ) -> Result<SigninPage, ServiceError> {
        let (cookie, set_cookie) = match cookie.filter(|c| is_random_value(c)) {
            Some(c) => (c.to_owned(), None),
            None => {
                let c = random_value()?;
                (c.clone(), Some(c))
            }
        };
        let csrf = random_value()?;
        let device = matches!(flow, SigninFlow::Device { .. });
        let login_hint = clean_hint(login_hint);
        let doc = SigninPageDoc {
            tenant_id: tenant_id.to_ascii_lowercase(),
            cookie_hash: digest(&cookie),
            expires: self.now() + PAGE_TTL_SECS,
            app_name: app_name.to_owned(),
            login_hint: login_hint.clone(),
            reply_origin: reply_origin.clone(),
            flow,
        };
        self.store
            .write_docs(vec![Self::signin_put(
                SIGNIN_PAGE,
                &digest(&csrf),
                &doc,
                DocMode::Create,
            )?])
            .await?;
        Ok(SigninPage {
            csrf,
            set_cookie,
            tenant_id: doc.tenant_id,
            app_name: doc.app_name,
            login_hint,
            reply_origin,
            device,
        })
    }

    /// Takes a sign-in page's record, once: it must exist, be unexpired, belong to `tenant_id`
    /// and have been rendered for this browser's cookie.
    async fn take_signin_page(
        &self,
        tenant_id: &str,
        csrf: &str,
        cookie: Option<&str>,
    ) -> Result<(SigninPageDoc, String), SigninError> {
        let Some(cookie) = cookie.filter(|c| is_random_value(c)) else {
            return Err(SigninError::PageExpired);
        };
        if !is_random_value(csrf) {
            return Err(SigninError::PageExpired);
        }
        let id = digest(csrf);
        let Some((doc, _)) = self.signin_doc::<SigninPageDoc>(SIGNIN_PAGE, &id).await? else {
            return Err(SigninError::PageExpired);
        };
        // Deleting it first makes it single use even when two posts race.
        match self
            .store
            .write_docs(vec![DocWrite::Delete {
                kind: SIGNIN_PAGE.to_owned(),
                id,
            }])
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(SigninError::PageExpired),
            Err(e) => return Err(ServiceError::from(e).into()),
        }
        if doc.expires <= self.now()
            || !doc.tenant_id.eq_ignore_ascii_case(tenant_id)
            || doc.cookie_hash != digest(cookie)
        {
            return Err(SigninError::PageExpired);
        }
        Ok((doc, cookie.to_owned()))
    }

    /// Handles the sign-in form: checks the page, then the user's password (with lockout), and
    /// finishes the page's flow.
    pub async fn sign_in(
        &self,
        tenant_id: &str,
        form: SigninForm,
    ) -> Result<SigninDone, SigninRetry> {
        let fatal = |error: SigninError| SigninRetry { error, page: None };
        let (page, cookie) = self
            .take_signin_page(tenant_id, &form.csrf, form.cookie.as_deref())
            .await
            .map_err(fatal)?;
        if form.decline {
            return match &page.flow {
                SigninFlow::Device { device_id } => {
                    self.decline_device(device_id).await.map_err(fatal)?;
                    Ok(SigninDone::DeviceDeclined {
                        app_name: page.app_name.clone(),
                    })
                }
                SigninFlow::Code(_) => Err(fatal(SigninError::PageExpired)),
            };
        }
        let user = match self
            .authenticate_user(&page.tenant_id, &form.username, &form.password)
            .await
        {
            Ok(u) => u,
            Err(e) => {
                let error = SigninError::from(e);
                if matches!(error, SigninError::Internal(_)) {
                    return Err(fatal(error));
                }
                let hint = Some(form.username.as_str()).filter(|u| !u.trim().is_empty());
                let retry = self
                    .new_signin_page(
                        &page.tenant_id,
                        &page.app_name,
                        page.flow.clone(),
                        hint.or(page.login_hint.as_deref()),
                        Some(&cookie),
                        page.reply_origin.clone(),
                    )
                    .await
                    .map_err(|e| fatal(e.into()))?;
                return Err(SigninRetry {
                    error,
                    page: Some(retry),
                });
            }
        };
        match page.flow {
            SigninFlow::Code(pending) => {
                let (target, code) = self
                    .issue_code(&page.tenant_id, pending, &user)
                    .await
                    .map_err(|e| fatal(e.into()))?;
                Ok(SigninDone::Reply { target, code })
            }
            SigninFlow::Device { device_id } => {
                self.approve_device(&device_id, &user)
                    .await
                    .map_err(fatal)?;
                Ok(SigninDone::DeviceApproved {
                    app_name: page.app_name,
                })
            }
        }
    }

    /// Deletes sign-in records (pages, codes, device codes, refresh tokens) past their expiry;
    /// returns how many. Run by the server's background pass.
    pub async fn purge_expired_signin_records(&self) -> Result<usize, ServiceError> {
        let now = self.now();
        let mut removed = 0;
        for kind in [
            SIGNIN_PAGE,
            AUTH_CODE,
            DEVICE_CODE,
            DEVICE_USER_CODE,
            REFRESH_TOKEN,
        ] {
            for d in self.store.list_docs(kind).await? {
                let Ok(e) = serde_json::from_slice::<Expiring>(&d.body) else {
                    continue;
                };
                if e.expires > now {
                    continue;
                }
                match self
                    .store
                    .write_docs(vec![DocWrite::Delete {
                        kind: kind.to_owned(),
                        id: d.id,
                    }])
                    .await
                {
                    Ok(()) => removed += 1,
                    Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests;
