//! An application's credentials: client secrets (Graph's passwords, kept only as salted
//! hashes, their value shown once) and client certificates (key credentials), and checking a
//! client id and secret at the token endpoint.

use super::{AppRef, MAX_CREDENTIALS, MAX_DISPLAY_NAME, check_display_name, clip};
use crate::certificate::{self, ParsedCertificate};
use crate::records::{ApplicationDoc, ClientSecretDoc, KeyCredentialDoc};
use crate::{AuthError, Coffer, ServiceError};

/// Default lifetime of a password credential made without an end date (Graph's: two years).
const DEFAULT_PASSWORD_LIFETIME_SECS: i64 = 2 * 365 * 24 * 3600;

/// A client secret as listed: never its value.
#[derive(Clone, Debug)]
pub struct PasswordCredentialView {
    pub key_id: String,
    pub display_name: Option<String>,
    /// The first three characters of the secret.
    pub hint: String,
    /// Unix seconds.
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// A client secret just added: the only time its value is visible.
#[derive(Clone, Debug)]
pub struct NewPassword {
    pub credential: PasswordCredentialView,
    pub secret_text: String,
}

/// A client certificate as listed.
#[derive(Clone, Debug)]
pub struct KeyCredentialView {
    pub key_id: String,
    pub display_name: Option<String>,
    /// SHA-1 thumbprint of the certificate (what `x5t` carries, base64url-encoded).
    pub thumbprint: Vec<u8>,
    /// SHA-1 thumbprint as uppercase hex, as portals show it.
    pub thumbprint_hex: String,
    /// SHA-256 thumbprint as uppercase hex (`x5t#S256`).
    pub thumbprint_sha256_hex: String,
    /// Validity of the certificate, unix seconds.
    pub start: i64,
    pub end: i64,
}

/// One certificate to register: `certificate` is PEM or DER. Without a certificate, `key_id`
/// must name a credential the application already has (kept as it is).
#[derive(Clone, Debug, Default)]
pub struct KeyCredentialInput {
    pub key_id: Option<String>,
    pub certificate: Option<Vec<u8>>,
    pub display_name: Option<String>,
}

pub(super) fn password_view(s: &ClientSecretDoc) -> PasswordCredentialView {
    PasswordCredentialView {
        key_id: s.key_id.clone(),
        display_name: s.display_name.clone(),
        hint: s.hint.clone(),
        start: s.start,
        end: s.expires,
    }
}

pub(super) fn key_view(k: &KeyCredentialDoc) -> KeyCredentialView {
    KeyCredentialView {
        key_id: k.key_id.clone(),
        display_name: k.display_name.clone(),
        thumbprint: certificate::hex_decode(&k.sha1),
        thumbprint_hex: k.sha1.clone(),
        thumbprint_sha256_hex: k.sha256.clone(),
        start: k.start,
        end: k.end,
    }
}

fn key_credential_doc(
    parsed: ParsedCertificate,
    key_id: Option<String>,
    display_name: Option<String>,
) -> Result<KeyCredentialDoc, ServiceError> {
    let key_id = match key_id {
        Some(k) => check_key_id(&k)?,
        None => uuid::Uuid::new_v4().to_string(),
    };
    let display_name = match display_name {
        Some(n) if !n.trim().is_empty() => Some(check_display_name(&n)?),
        _ => Some(clip(&parsed.subject, MAX_DISPLAY_NAME)),
    };
    Ok(KeyCredentialDoc {
        key_id,
        display_name,
        der: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &parsed.der),
        sha1: certificate::hex_upper(&parsed.sha1),
        sha256: certificate::hex_upper(&parsed.sha256),
        start: parsed.not_before,
        end: parsed.not_after,
    })
}

fn check_key_id(k: &str) -> Result<String, ServiceError> {
    uuid::Uuid::parse_str(k.trim())
        .map(|u| u.to_string())
        .map_err(|_| {
            ServiceError::BadParameter(format!(
                "Invalid value specified for property 'keyId': '{}' is not a GUID.",
                clip(k, 64)
            ))
        })
}

impl Coffer {
    /// Checks a client id and secret; returns the application.
    pub(crate) async fn authenticate_client(
        &self,
        tenant_id: &str,
        client_id: &str,
        client_secret: &str,
    ) -> Result<ApplicationDoc, AuthError> {
        let app = self.client_app(tenant_id, client_id).await?;
        let now = self.now();
        let mut expired = false;
        for s in &app.secrets {
            if coffer_crypto::password::verify(client_secret, &s.hash) {
                if s.expires.is_some_and(|e| e <= now) {
                    expired = true;
                    continue;
                }
                return Ok(app);
            }
        }
        if expired {
            Err(AuthError::ExpiredClientSecret(app.app_id))
        } else {
            Err(AuthError::InvalidClientSecret(app.app_id))
        }
    }

    /// The application a token request names (or the built-in Azure CLI), or AADSTS700016.
    pub(crate) async fn client_app(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> Result<ApplicationDoc, AuthError> {
        match self.app(tenant_id, client_id).await? {
            Some((app, _)) => Ok(app),
            None if client_id.trim().eq_ignore_ascii_case(AZURE_CLI_APP_ID) => {
                Ok(azure_cli_app(tenant_id))
            }
            None => Err(AuthError::UnknownClient {
                client: clip(client_id, 100),
                tenant: clip(tenant_id, 100),
            }),
        }
    }

    /// Adds a new client secret that never expires to an application and returns it (the only
    /// time it is visible). The first start uses it when the admin's secret was lost.
    pub async fn add_client_secret(
        &self,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<String, ServiceError> {
        let (secret, mut doc) = new_client_secret()?;
        doc.start = Some(self.now());
        self.update_app(tenant_id, AppRef::AppId(app_id), |app| {
            app.secrets.push(doc.clone());
            Ok(())
        })
        .await?;
        Ok(secret)
    }

    /// Adds a client secret (Graph's `addPassword`); without `end` it expires in two years.
    pub async fn add_password(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
        display_name: Option<String>,
        end: Option<i64>,
    ) -> Result<NewPassword, ServiceError> {
        let display_name = match display_name {
            Some(n) if !n.trim().is_empty() => Some(check_display_name(&n)?),
            _ => None,
        };
        let now = self.now();
        let end = end.unwrap_or(now + DEFAULT_PASSWORD_LIFETIME_SECS);
        if end <= now {
            return Err(ServiceError::BadParameter(
                "Invalid value specified for property 'endDateTime': it must be in the future."
                    .to_owned(),
            ));
        }
        let (secret, mut doc) = new_client_secret()?;
        doc.display_name = display_name;
        doc.start = Some(now);
        doc.expires = Some(end);
        let view = password_view(&doc);
        self.update_app(tenant_id, r, |app| {
            if app.secrets.len() >= MAX_CREDENTIALS {
                return Err(ServiceError::BadParameter(format!(
                    "An application can hold at most {MAX_CREDENTIALS} client secrets."
                )));
            }
            app.secrets.push(doc.clone());
            Ok(())
        })
        .await?;
        Ok(NewPassword {
            credential: view,
            secret_text: secret,
        })
    }

    /// Removes a client secret by its key id (Graph's `removePassword`).
    pub async fn remove_password(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
        key_id: &str,
    ) -> Result<(), ServiceError> {
        self.update_app(tenant_id, r, |app| {
            remove_by_key_id(
                &mut app.secrets,
                |c| &c.key_id,
                key_id,
                "password",
                &app.app_id,
            )
        })
        .await
        .map(|_| ())
    }

    /// Registers a client certificate (PEM or DER) on an application.
    pub async fn add_key_credential(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
        certificate: &[u8],
        display_name: Option<String>,
    ) -> Result<KeyCredentialView, ServiceError> {
        let parsed = certificate::parse(certificate).map_err(ServiceError::BadParameter)?;
        let doc = key_credential_doc(parsed, None, display_name)?;
        let view = key_view(&doc);
        self.update_app(tenant_id, r, |app| {
            if app.key_credentials.len() >= MAX_CREDENTIALS {
                return Err(ServiceError::BadParameter(format!(
                    "An application can hold at most {MAX_CREDENTIALS} certificates."
                )));
            }
            if app.key_credentials.iter().any(|k| k.sha1 == doc.sha1) {
                return Err(ServiceError::BadParameter(
                    "This certificate is already registered on the application.".to_owned(),
                ));
            }
            app.key_credentials.push(doc.clone());
            Ok(())
        })
        .await?;
        Ok(view)
    }

    /// Removes a client certificate by its key id.
    pub async fn remove_key_credential(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
        key_id: &str,
    ) -> Result<(), ServiceError> {
        self.update_app(tenant_id, r, |app| {
            remove_by_key_id(
                &mut app.key_credentials,
                |c| &c.key_id,
                key_id,
                "key",
                &app.app_id,
            )
        })
        .await
        .map(|_| ())
    }
}

/// Graph's PATCH of `keyCredentials`: the new collection. An entry with a certificate adds it;
/// an entry without one keeps the existing credential its `keyId` names.
pub(super) fn replace_key_credentials(
    existing: &[KeyCredentialDoc],
    input: Vec<KeyCredentialInput>,
) -> Result<Vec<KeyCredentialDoc>, ServiceError> {
    if input.len() > MAX_CREDENTIALS {
        return Err(ServiceError::BadParameter(format!(
            "An application can hold at most {MAX_CREDENTIALS} certificates."
        )));
    }
    let mut out: Vec<KeyCredentialDoc> = Vec::new();
    for k in input {
        let doc = match k.certificate {
            Some(cert) => {
                let parsed = certificate::parse(&cert).map_err(|e| {
                    ServiceError::BadParameter(format!(
                        "Invalid value specified for property 'key' of resource 'KeyCredential': {e}"
                    ))
                })?;
                key_credential_doc(parsed, k.key_id, k.display_name)?
            }
            None => {
                let Some(key_id) = k.key_id else {
                    return Err(ServiceError::BadParameter(
                        "Invalid value specified for property 'key' of resource 'KeyCredential': a key credential needs the certificate in 'key', or the 'keyId' of one the application has.".to_owned(),
                    ));
                };
                let key_id = check_key_id(&key_id)?;
                existing
                    .iter()
                    .find(|e| e.key_id.eq_ignore_ascii_case(&key_id))
                    .cloned()
                    .ok_or_else(|| {
                        ServiceError::BadParameter(format!(
                            "Invalid value specified for property 'key' of resource 'KeyCredential': the application has no key credential '{key_id}' to keep, and no certificate was given."
                        ))
                    })?
            }
        };
        if out
            .iter()
            .any(|o| o.key_id == doc.key_id || o.sha1 == doc.sha1)
        {
            return Err(ServiceError::BadParameter(
                "Invalid value specified for property 'keyCredentials': the same keyId or certificate appears twice.".to_owned(),
            ));
        }
        out.push(doc);
    }
    Ok(out)
}

/// A fresh client secret in Entra ID's style (40 characters, `~` in fourth place), and its record.
pub(crate) fn new_client_secret() -> Result<(String, ClientSecretDoc), ServiceError> {
    let raw = coffer_crypto::random::bytes(30)?;
    let body: String =
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, raw)
            .chars()
            .map(|c| if c == '-' { '.' } else { c })
            .collect();
    let secret = format!("{}~{}", &body[..3], &body[3..39]);
    let doc = ClientSecretDoc {
        key_id: uuid::Uuid::new_v4().to_string(),
        hint: secret[..3].to_owned(),
        hash: coffer_crypto::password::hash(&secret)?,
        expires: None,
        display_name: None,
        start: None,
    };
    Ok((secret, doc))
}

/// Removes the credential whose key id is `key_id` (case-insensitive); Graph's 404 if none is.
fn remove_by_key_id<T>(
    list: &mut Vec<T>,
    id_of: impl Fn(&T) -> &String,
    key_id: &str,
    kind: &str,
    app_id: &str,
) -> Result<(), ServiceError> {
    let before = list.len();
    list.retain(|c| !id_of(c).eq_ignore_ascii_case(key_id.trim()));
    if list.len() == before {
        return Err(ServiceError::NotFound {
            message: format!(
                "No {kind} credential with keyId '{}' exists on application '{app_id}'.",
                clip(key_id, 64)
            ),
            code: "Request_ResourceNotFound",
        });
    }
    Ok(())
}

/// Microsoft's Azure CLI application id. In Entra ID this first-party public client exists in
/// every tenant; `az login` and azure-identity's interactive credentials use it by default, so
/// Coffer knows it in every tenant too, with what Entra ID gives it: public client flows and
/// the loopback redirect URI. It has no credential, so it can never get an app-only token.
pub const AZURE_CLI_APP_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

fn azure_cli_app(tenant_id: &str) -> ApplicationDoc {
    ApplicationDoc {
        tenant_id: tenant_id.to_ascii_lowercase(),
        app_id: AZURE_CLI_APP_ID.to_owned(),
        object_id: super::derived_object_id(&format!("service-principal/{AZURE_CLI_APP_ID}")),
        display_name: "Microsoft Azure CLI".to_owned(),
        secrets: Vec::new(),
        app_object_id: super::derived_object_id(AZURE_CLI_APP_ID),
        key_credentials: Vec::new(),
        directory_admin: false,
        public_client: true,
        created: None,
        web_redirect_uris: Vec::new(),
        public_client_redirect_uris: vec!["http://localhost".to_owned()],
        spa_redirect_uris: Vec::new(),
    }
}
