//! The directory: tenants and applications (each with its service principal), their client
//! secrets, which are kept only as salted hashes, and their client certificates; and who may
//! administer a tenant's directory. Users live in `users.rs`.
//!
//! Three identifiers name an application, as in Entra ID: the application (client) id `appId`,
//! the object id of the application object (Graph's `/applications/{id}`), and the object id of
//! its service principal (the `oid` of its tokens, what access policies name). Display names are
//! not unique; every view carries the object ids.

use coffer_domain::Principal;
use coffer_store::{DocMode, DocWrite, StoreError};

use crate::certificate::{self, ParsedCertificate};
use crate::records::{
    APP, ApplicationDoc, ClientSecretDoc, INSTANCE, KeyCredentialDoc, TENANT, TenantDoc, UserDoc,
};
use crate::{AuthError, BootstrapInfo, Coffer, ServiceError};

/// Where the first start records the bootstrap identifiers (see `bootstrap.rs`).
const BOOTSTRAP_DOC: &str = "bootstrap";
/// Default lifetime of a password credential made without an end date (Graph's: two years).
const DEFAULT_PASSWORD_LIFETIME_SECS: i64 = 2 * 365 * 24 * 3600;
/// Longest display name accepted (Graph allows 256 characters for applications and users).
pub(crate) const MAX_DISPLAY_NAME: usize = 256;
/// Most client secrets or certificates one application may hold.
const MAX_CREDENTIALS: usize = 50;

pub(crate) fn app_doc_id(tenant: &str, app_id: &str) -> String {
    format!(
        "{}:{}",
        tenant.to_ascii_lowercase(),
        app_id.to_ascii_lowercase()
    )
}

/// How a caller names an application.
#[derive(Clone, Copy, Debug)]
pub enum AppRef<'a> {
    /// The object id of the application object (Graph's `/applications/{id}`).
    ObjectId(&'a str),
    /// The application (client) id (Graph's `/applications(appId='...')`).
    AppId(&'a str),
}

impl AppRef<'_> {
    fn id(&self) -> &str {
        match self {
            Self::ObjectId(s) | Self::AppId(s) => s,
        }
    }
}

/// A filter over a directory listing: the `$filter` forms Graph clients (the Azure CLI) send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirectoryFilter {
    /// `displayName eq '...'` (case-insensitive, like Graph).
    DisplayNameEq(String),
    /// `startswith(displayName,'...')` (case-insensitive).
    DisplayNameStartsWith(String),
    /// `appId eq '...'`.
    AppIdEq(String),
    /// `servicePrincipalNames/any(c:c eq '...')`: a service principal's names are its app id.
    ServicePrincipalName(String),
    /// `id eq '...'`.
    IdEq(String),
    /// `userPrincipalName eq '...'`.
    UserPrincipalNameEq(String),
}

impl DirectoryFilter {
    pub(crate) fn matches_name(&self, display_name: &str) -> Option<bool> {
        match self {
            Self::DisplayNameEq(v) => Some(display_name.to_lowercase() == v.to_lowercase()),
            Self::DisplayNameStartsWith(v) => {
                Some(display_name.to_lowercase().starts_with(&v.to_lowercase()))
            }
            _ => None,
        }
    }
}

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

/// An application registration.
#[derive(Clone, Debug)]
pub struct ApplicationView {
    pub tenant_id: String,
    /// Object id of the application object.
    pub object_id: String,
    pub app_id: String,
    pub display_name: String,
    /// Object id of its service principal (the `oid` of its tokens).
    pub service_principal_id: String,
    /// Unix seconds; unknown for applications made before it was recorded.
    pub created: Option<i64>,
    /// Graph's `isFallbackPublicClient`.
    pub public_client: bool,
    /// May administer the tenant's directory.
    pub directory_admin: bool,
    pub passwords: Vec<PasswordCredentialView>,
    pub keys: Vec<KeyCredentialView>,
}

/// A service principal (one per application).
#[derive(Clone, Debug)]
pub struct ServicePrincipalView {
    pub tenant_id: String,
    /// The service principal's object id: the `oid` of the application's tokens.
    pub object_id: String,
    pub app_id: String,
    pub display_name: String,
    /// Object id of the application object it belongs to.
    pub application_object_id: String,
    pub created: Option<i64>,
}

/// One certificate to register: `certificate` is PEM or DER. Without a certificate, `key_id`
/// must name a credential the application already has (kept as it is).
#[derive(Clone, Debug, Default)]
pub struct KeyCredentialInput {
    pub key_id: Option<String>,
    pub certificate: Option<Vec<u8>>,
    pub display_name: Option<String>,
}

/// What a new application starts with.
#[derive(Clone, Debug, Default)]
pub struct ApplicationSpec {
    pub display_name: String,
    pub public_client: bool,
    pub key_credentials: Vec<KeyCredentialInput>,
}

/// Changes to an application; `None` leaves a property as it is. `key_credentials` replaces
/// the whole collection, like Graph's PATCH.
#[derive(Clone, Debug, Default)]
pub struct ApplicationUpdate {
    pub display_name: Option<String>,
    pub public_client: Option<bool>,
    pub key_credentials: Option<Vec<KeyCredentialInput>>,
}

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

/// A newly registered application and its first client secret.
#[derive(Debug, Clone)]
pub struct NewApplication {
    pub app_id: String,
    pub object_id: String,
    pub display_name: String,
    pub client_secret: String,
}

pub(crate) fn not_found(id: &str) -> ServiceError {
    ServiceError::NotFound {
        message: format!(
            "Resource '{}' does not exist or one of its queried reference-property objects are not present.",
            clip(id, 100)
        ),
        code: "Request_ResourceNotFound",
    }
}

pub(crate) fn clip(s: &str, n: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(n).collect()
}

pub(crate) fn check_display_name(name: &str) -> Result<String, ServiceError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ServiceError::BadParameter(
            "Invalid value specified for property 'displayName': it must not be empty.".to_owned(),
        ));
    }
    if name.chars().count() > MAX_DISPLAY_NAME || name.chars().any(char::is_control) {
        return Err(ServiceError::BadParameter(format!(
            "Invalid value specified for property 'displayName': at most {MAX_DISPLAY_NAME} characters, no control characters."
        )));
    }
    Ok(name.to_owned())
}

/// The object id of an application object: stored, or for records made before it was stored,
/// derived from the app id (stable, and distinct from the app id and the service principal's).
fn derived_object_id(app_id: &str) -> String {
    let d = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        format!("coffer/application-object/{}", app_id.to_ascii_lowercase()).as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d.as_ref()[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

fn decode_app(body: &[u8]) -> Result<ApplicationDoc, ServiceError> {
    let mut doc: ApplicationDoc = serde_json::from_slice(body)?;
    if doc.app_object_id.is_empty() {
        doc.app_object_id = derived_object_id(&doc.app_id);
    }
    Ok(doc)
}

fn password_view(s: &ClientSecretDoc) -> PasswordCredentialView {
    PasswordCredentialView {
        key_id: s.key_id.clone(),
        display_name: s.display_name.clone(),
        hint: s.hint.clone(),
        start: s.start,
        end: s.expires,
    }
}

fn key_view(k: &KeyCredentialDoc) -> KeyCredentialView {
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

fn application_view(d: &ApplicationDoc, admin: bool) -> ApplicationView {
    ApplicationView {
        tenant_id: d.tenant_id.clone(),
        object_id: d.app_object_id.clone(),
        app_id: d.app_id.clone(),
        display_name: d.display_name.clone(),
        service_principal_id: d.object_id.clone(),
        created: d.created,
        public_client: d.public_client,
        directory_admin: admin,
        passwords: d.secrets.iter().map(password_view).collect(),
        keys: d.key_credentials.iter().map(key_view).collect(),
    }
}

fn service_principal_view(d: &ApplicationDoc) -> ServicePrincipalView {
    ServicePrincipalView {
        tenant_id: d.tenant_id.clone(),
        object_id: d.object_id.clone(),
        app_id: d.app_id.clone(),
        display_name: d.display_name.clone(),
        application_object_id: d.app_object_id.clone(),
        created: d.created,
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
    pub(crate) async fn tenant(&self, tenant_id: &str) -> Result<Option<TenantDoc>, ServiceError> {
        match self
            .store
            .get_doc(TENANT, &tenant_id.to_ascii_lowercase())
            .await?
        {
            Some(d) => Ok(Some(serde_json::from_slice(&d.body)?)),
            None => Ok(None),
        }
    }

    /// Whether a tenant exists (discovery documents are served only for known tenants).
    pub async fn tenant_exists(&self, tenant_id: &str) -> Result<bool, ServiceError> {
        Ok(self.tenant(tenant_id).await?.is_some())
    }

    async fn require_tenant(&self, tenant_id: &str) -> Result<(), ServiceError> {
        if self.tenant(tenant_id).await?.is_none() {
            return Err(ServiceError::NotFound {
                message: format!("Tenant '{}' was not found.", clip(tenant_id, 64)),
                code: "Request_ResourceNotFound",
            });
        }
        Ok(())
    }

    /// An application by its app (client) id, with the revision of its record.
    pub(crate) async fn app(
        &self,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<Option<(ApplicationDoc, u64)>, ServiceError> {
        match self
            .store
            .get_doc(APP, &app_doc_id(tenant_id, app_id))
            .await?
        {
            Some(d) => Ok(Some((decode_app(&d.body)?, d.revision))),
            None => Ok(None),
        }
    }

    /// Every application of a tenant, with revisions, in app id order.
    async fn apps_of(&self, tenant_id: &str) -> Result<Vec<(ApplicationDoc, u64)>, ServiceError> {
        let prefix = format!("{}:", tenant_id.to_ascii_lowercase());
        let mut out = Vec::new();
        for d in self.store.list_docs(APP).await? {
            if d.id.starts_with(&prefix) {
                out.push((decode_app(&d.body)?, d.revision));
            }
        }
        Ok(out)
    }

    async fn find_app(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
    ) -> Result<Option<(ApplicationDoc, u64)>, ServiceError> {
        match r {
            AppRef::AppId(id) => self.app(tenant_id, id).await,
            AppRef::ObjectId(id) => Ok(self
                .apps_of(tenant_id)
                .await?
                .into_iter()
                .find(|(a, _)| a.app_object_id.eq_ignore_ascii_case(id.trim()))),
        }
    }

    /// The bootstrap identifiers, if this instance has been bootstrapped.
    pub(crate) async fn bootstrap_info(&self) -> Result<Option<BootstrapInfo>, ServiceError> {
        match self.store.get_doc(INSTANCE, BOOTSTRAP_DOC).await? {
            Some(d) => Ok(Some(serde_json::from_slice(&d.body)?)),
            None => Ok(None),
        }
    }

    /// The tenant the first start created (the one challenges point to when a request names
    /// none).
    pub async fn default_tenant_id(&self) -> Result<Option<String>, ServiceError> {
        Ok(self.bootstrap_info().await?.map(|b| b.tenant_id))
    }

    /// Whether an application administers its tenant's directory: flagged so, or the bootstrap
    /// administrator.
    async fn app_is_admin(&self, app: &ApplicationDoc) -> Result<bool, ServiceError> {
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

    /// Reads an application, applies `f`, and writes it back if it did not change meanwhile.
    async fn update_app<T>(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
        mut f: impl FnMut(&mut ApplicationDoc) -> Result<T, ServiceError>,
    ) -> Result<(T, ApplicationDoc), ServiceError> {
        for _ in 0..5 {
            let Some((mut app, rev)) = self.find_app(tenant_id, r).await? else {
                return Err(not_found(r.id()));
            };
            let out = f(&mut app)?;
            let write = DocWrite::Put {
                kind: APP.to_owned(),
                id: app_doc_id(&app.tenant_id, &app.app_id),
                body: serde_json::to_vec(&app)?,
                mode: DocMode::Update(rev),
            };
            match self.store.write_docs(vec![write]).await {
                Ok(()) => return Ok((out, app)),
                Err(StoreError::PreconditionFailed) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Conflict(
            "The application changed concurrently; try again.".to_owned(),
        ))
    }

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

    /// The application a token request names, or AADSTS700016.
    pub(crate) async fn client_app(
        &self,
        tenant_id: &str,
        client_id: &str,
    ) -> Result<ApplicationDoc, AuthError> {
        match self.app(tenant_id, client_id).await? {
            Some((app, _)) => Ok(app),
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

    /// Registers an application with its service principal in a tenant, with a first client
    /// secret that never expires (the bootstrap and CLI path).
    pub async fn create_application(
        &self,
        tenant_id: &str,
        display_name: &str,
    ) -> Result<NewApplication, ServiceError> {
        self.require_tenant(tenant_id).await?;
        let display_name = check_display_name(display_name)?;
        let (secret, mut secret_doc) = new_client_secret()?;
        secret_doc.start = Some(self.now());
        let app = self.new_app_doc(tenant_id, display_name, vec![secret_doc]);
        self.insert_app(&app).await?;
        Ok(NewApplication {
            app_id: app.app_id,
            object_id: app.object_id,
            display_name: app.display_name,
            client_secret: secret,
        })
    }

    fn new_app_doc(
        &self,
        tenant_id: &str,
        display_name: String,
        secrets: Vec<ClientSecretDoc>,
    ) -> ApplicationDoc {
        ApplicationDoc {
            tenant_id: tenant_id.to_ascii_lowercase(),
            app_id: uuid::Uuid::new_v4().to_string(),
            object_id: uuid::Uuid::new_v4().to_string(),
            display_name,
            secrets,
            app_object_id: uuid::Uuid::new_v4().to_string(),
            key_credentials: Vec::new(),
            directory_admin: false,
            public_client: false,
            created: Some(self.now()),
        }
    }

    async fn insert_app(&self, app: &ApplicationDoc) -> Result<(), ServiceError> {
        self.store
            .write_docs(vec![DocWrite::Put {
                kind: APP.to_owned(),
                id: app_doc_id(&app.tenant_id, &app.app_id),
                body: serde_json::to_vec(app)?,
                mode: DocMode::Create,
            }])
            .await?;
        Ok(())
    }

    /// Registers an application and its service principal without any client secret (Graph's
    /// `POST /applications`).
    pub async fn register_application(
        &self,
        tenant_id: &str,
        spec: ApplicationSpec,
    ) -> Result<ApplicationView, ServiceError> {
        self.require_tenant(tenant_id).await?;
        let display_name = check_display_name(&spec.display_name)?;
        let mut app = self.new_app_doc(tenant_id, display_name, Vec::new());
        app.public_client = spec.public_client;
        app.key_credentials = replace_key_credentials(&[], spec.key_credentials)?;
        self.insert_app(&app).await?;
        Ok(application_view(&app, false))
    }

    /// Applications of a tenant, optionally filtered, in app id order.
    pub async fn list_applications(
        &self,
        tenant_id: &str,
        filter: Option<&DirectoryFilter>,
    ) -> Result<Vec<ApplicationView>, ServiceError> {
        let mut out = Vec::new();
        for (a, _) in self.apps_of(tenant_id).await? {
            let keep = match filter {
                None => true,
                Some(DirectoryFilter::AppIdEq(v)) => a.app_id.eq_ignore_ascii_case(v),
                Some(DirectoryFilter::IdEq(v)) => a.app_object_id.eq_ignore_ascii_case(v),
                Some(f) => f.matches_name(&a.display_name).unwrap_or(false),
            };
            if keep {
                let admin = self.app_is_admin(&a).await?;
                out.push(application_view(&a, admin));
            }
        }
        Ok(out)
    }

    /// One application.
    pub async fn get_application(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
    ) -> Result<ApplicationView, ServiceError> {
        let Some((a, _)) = self.find_app(tenant_id, r).await? else {
            return Err(not_found(r.id()));
        };
        let admin = self.app_is_admin(&a).await?;
        Ok(application_view(&a, admin))
    }

    /// Changes an application's display name, public-client flag or certificates.
    pub async fn update_application(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
        update: ApplicationUpdate,
    ) -> Result<ApplicationView, ServiceError> {
        let display_name = update
            .display_name
            .as_deref()
            .map(check_display_name)
            .transpose()?;
        let (_, app) = self
            .update_app(tenant_id, r, |app| {
                if let Some(n) = &display_name {
                    app.display_name = n.clone();
                }
                if let Some(p) = update.public_client {
                    app.public_client = p;
                }
                if let Some(keys) = &update.key_credentials {
                    app.key_credentials =
                        replace_key_credentials(&app.key_credentials, keys.clone())?;
                }
                Ok(())
            })
            .await?;
        let admin = self.app_is_admin(&app).await?;
        Ok(application_view(&app, admin))
    }

    /// Grants or withdraws the right to administer the tenant's directory.
    pub async fn set_directory_admin(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
        admin: bool,
    ) -> Result<(), ServiceError> {
        self.update_app(tenant_id, r, |app| {
            app.directory_admin = admin;
            Ok(())
        })
        .await
        .map(|_| ())
    }

    /// Deletes an application and its service principal. The bootstrap administrator cannot be
    /// deleted: it is the way into the instance.
    pub async fn delete_application(
        &self,
        tenant_id: &str,
        r: AppRef<'_>,
    ) -> Result<(), ServiceError> {
        let Some((app, _)) = self.find_app(tenant_id, r).await? else {
            return Err(not_found(r.id()));
        };
        if self.bootstrap_info().await?.is_some_and(|b| {
            b.tenant_id.eq_ignore_ascii_case(&app.tenant_id)
                && b.client_id.eq_ignore_ascii_case(&app.app_id)
        }) {
            return Err(ServiceError::BadParameter(format!(
                "Application '{}' is this instance's bootstrap administrator and cannot be deleted.",
                app.app_id
            )));
        }
        match self
            .store
            .write_docs(vec![DocWrite::Delete {
                kind: APP.to_owned(),
                id: app_doc_id(&app.tenant_id, &app.app_id),
            }])
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(not_found(r.id())),
            Err(e) => Err(e.into()),
        }
    }

    /// Service principals of a tenant, optionally filtered, in app id order.
    pub async fn list_service_principals(
        &self,
        tenant_id: &str,
        filter: Option<&DirectoryFilter>,
    ) -> Result<Vec<ServicePrincipalView>, ServiceError> {
        Ok(self
            .apps_of(tenant_id)
            .await?
            .iter()
            .filter(|(a, _)| match filter {
                None => true,
                Some(DirectoryFilter::AppIdEq(v) | DirectoryFilter::ServicePrincipalName(v)) => {
                    a.app_id.eq_ignore_ascii_case(v)
                }
                Some(DirectoryFilter::IdEq(v)) => a.object_id.eq_ignore_ascii_case(v),
                Some(f) => f.matches_name(&a.display_name).unwrap_or(false),
            })
            .map(|(a, _)| service_principal_view(a))
            .collect())
    }

    /// A service principal by its object id.
    pub async fn get_service_principal(
        &self,
        tenant_id: &str,
        object_id: &str,
    ) -> Result<ServicePrincipalView, ServiceError> {
        self.apps_of(tenant_id)
            .await?
            .iter()
            .find(|(a, _)| a.object_id.eq_ignore_ascii_case(object_id.trim()))
            .map(|(a, _)| service_principal_view(a))
            .ok_or_else(|| not_found(object_id))
    }

    /// The service principal of an application (every application has exactly one).
    pub async fn service_principal_of(
        &self,
        tenant_id: &str,
        app_id: &str,
    ) -> Result<ServicePrincipalView, ServiceError> {
        match self.app(tenant_id, app_id).await? {
            Some((a, _)) => Ok(service_principal_view(&a)),
            None => Err(ServiceError::BadParameter(format!(
                "The appId '{}' of the service principal does not reference a valid application object.",
                clip(app_id, 64)
            ))),
        }
    }
}

/// Graph's PATCH of `keyCredentials`: the new collection. An entry with a certificate adds it;
/// an entry without one keeps the existing credential its `keyId` names.
fn replace_key_credentials(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_object_ids_are_stable_and_distinct() {
        let a = derived_object_id("11111111-2222-3333-4444-555555555555");
        assert_eq!(a, derived_object_id("11111111-2222-3333-4444-555555555555"));
        assert_ne!(a, "11111111-2222-3333-4444-555555555555");
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn filters_compare_names_case_insensitively() {
        let f = DirectoryFilter::DisplayNameEq("My App".into());
        assert_eq!(f.matches_name("my app"), Some(true));
        assert_eq!(f.matches_name("my app 2"), Some(false));
        let s = DirectoryFilter::DisplayNameStartsWith("my".into());
        assert_eq!(s.matches_name("MY app"), Some(true));
        assert_eq!(DirectoryFilter::AppIdEq("x".into()).matches_name("x"), None);
    }
}
