//! The child entities of a service: `apis` (with `operations`), `products` (with the APIs they
//! hold), `subscriptions` (keys sealed, shown only by `listSecrets`), `backends` and
//! `certificates` (uploaded or read from a vault like host names). Each carries an ETag; PATCH
//! and DELETE name it in `If-Match` (`*` for any), a stale one is refused with 412.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_domain::Principal;
use coffer_store::DocMode;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::ApimDoc;
use super::hostnames::{Fetched, StoredCert, iso};
use crate::Coffer;
use crate::management::{ManagementError, WRITE_ATTEMPTS, bad, clip, concurrent};

/// Most entities of one kind in one service.
const MAX_ENTITIES: usize = 500;

/// Which kind of child entity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntityKind {
    Api,
    Operation,
    Product,
    Subscription,
    Backend,
    Certificate,
}

impl EntityKind {
    fn label(self) -> &'static str {
        match self {
            Self::Api => "Api",
            Self::Operation => "Operation",
            Self::Product => "Product",
            Self::Subscription => "Subscription",
            Self::Backend => "Backend",
            Self::Certificate => "Certificate",
        }
    }
}

fn entity_not_found(kind: EntityKind, id: &str) -> ManagementError {
    ManagementError::NotFound {
        code: "ResourceNotFound",
        message: format!("{} not found: '{}'.", kind.label(), clip(id)),
    }
}

/// Entity ids: 1 to 256 letters, digits, `-`, `_` and `.`.
fn validate_entity_id(kind: EntityKind, id: &str) -> Result<(), ManagementError> {
    let ok = (1..=256).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(bad(
            "ValidationError",
            format!(
                "{} identifier '{}' is invalid: use 1 to 256 letters, digits, '-', '_' or '.'.",
                kind.label(),
                clip(id)
            ),
        ))
    }
}

/// Whether `if_match` admits the entity's ETag `current`; `required` for PATCH and DELETE.
pub(super) fn check_if_match(
    current: &str,
    if_match: Option<&str>,
    required: bool,
) -> Result<(), ManagementError> {
    let Some(v) = if_match else {
        if required {
            return Err(bad(
                "ValidationError",
                "The If-Match header is required: send the entity's ETag, or * for any version."
                    .to_owned(),
            ));
        }
        return Ok(());
    };
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    if v.split(',')
        .any(|t| t.trim() == "*" || strip(t) == strip(current))
    {
        Ok(())
    } else {
        Err(ManagementError::PreconditionFailed {
            message: format!(
                "The specified precondition 'If-Match' failed: the entity's current ETag is {current}."
            ),
        })
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Entities {
    #[serde(default)]
    pub(super) apis: BTreeMap<String, ApiDoc>,
    #[serde(default)]
    pub(super) products: BTreeMap<String, ProductDoc>,
    #[serde(default)]
    pub(super) subscriptions: BTreeMap<String, SubscriptionDoc>,
    #[serde(default)]
    pub(super) backends: BTreeMap<String, BackendDoc>,
    #[serde(default)]
    pub(super) certificates: BTreeMap<String, CertificateDoc>,
}

impl Entities {
    /// `(what, identityClientId)` of every certificate entity read from a vault.
    pub(super) fn key_vault_refs(&self) -> Vec<(String, Option<String>)> {
        self.certificates
            .values()
            .filter_map(|c| {
                c.key_vault.as_ref().map(|k| {
                    (
                        format!("certificate '{}'", c.name),
                        k.identity_client_id.clone(),
                    )
                })
            })
            .collect()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct ApiDoc {
    pub(super) name: String,
    pub(super) etag: String,
    pub(super) display_name: String,
    pub(super) path: String,
    pub(super) service_url: Option<String>,
    pub(super) protocols: Vec<String>,
    pub(super) subscription_required: bool,
    pub(super) key_header: String,
    pub(super) key_query: String,
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) operations: BTreeMap<String, OperationDoc>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct OperationDoc {
    pub(super) name: String,
    pub(super) etag: String,
    pub(super) display_name: String,
    pub(super) method: String,
    pub(super) url_template: String,
    pub(super) description: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct ProductDoc {
    pub(super) name: String,
    pub(super) etag: String,
    pub(super) display_name: String,
    pub(super) description: Option<String>,
    pub(super) subscription_required: bool,
    pub(super) approval_required: bool,
    pub(super) state: String,
    #[serde(default)]
    pub(super) apis: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct SubscriptionDoc {
    pub(super) name: String,
    pub(super) etag: String,
    pub(super) display_name: String,
    /// `/apis`, `/apis/{id}` or `/products/{id}`.
    pub(super) scope: String,
    pub(super) state: String,
    pub(super) created: i64,
    /// `{"p": primary, "s": secondary}` sealed with the service's data key.
    sealed_keys: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct BackendDoc {
    pub(super) name: String,
    pub(super) etag: String,
    pub(super) url: String,
    pub(super) protocol: String,
    pub(super) title: Option<String>,
    pub(super) description: Option<String>,
    pub(super) validate_chain: bool,
    pub(super) validate_name: bool,
    #[serde(default)]
    pub(super) certificate_ids: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct KeyVaultRef {
    pub(super) secret_identifier: String,
    pub(super) identity_client_id: Option<String>,
    pub(super) last_status: Option<LastStatus>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct LastStatus {
    pub(super) code: String,
    pub(super) message: String,
    pub(super) at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct CertificateDoc {
    pub(super) name: String,
    pub(super) etag: String,
    pub(super) key_vault: Option<KeyVaultRef>,
    pub(super) cert: StoredCert,
}

// ---- inputs and views -----------------------------------------------------------------------

/// An API PUT or PATCH. `None` keeps (PATCH) or defaults (PUT).
#[derive(Clone, Debug, Default)]
pub struct ApiInput {
    pub display_name: Option<String>,
    pub path: Option<String>,
    pub service_url: Option<String>,
    pub protocols: Option<Vec<String>>,
    pub subscription_required: Option<bool>,
    pub key_header: Option<String>,
    pub key_query: Option<String>,
    pub description: Option<String>,
    /// `properties.format` and `properties.value` of an import.
    pub import: Option<(String, String)>,
}

#[derive(Clone, Debug)]
pub struct ApiView {
    pub name: String,
    pub etag: String,
    pub display_name: String,
    pub path: String,
    pub service_url: Option<String>,
    pub protocols: Vec<String>,
    pub subscription_required: bool,
    pub key_header: String,
    pub key_query: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct OperationInput {
    pub display_name: Option<String>,
    pub method: Option<String>,
    pub url_template: Option<String>,
    pub description: Option<String>,
}

#[derive(Clone, Debug)]
pub struct OperationView {
    pub api: String,
    pub name: String,
    pub etag: String,
    pub display_name: String,
    pub method: String,
    pub url_template: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct ProductInput {
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub subscription_required: Option<bool>,
    pub approval_required: Option<bool>,
    pub state: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ProductView {
    pub name: String,
    pub etag: String,
    pub display_name: String,
    pub description: Option<String>,
    pub subscription_required: bool,
    pub approval_required: bool,
    pub state: String,
}

#[derive(Clone, Debug, Default)]
pub struct SubscriptionInput {
    pub display_name: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub primary_key: Option<String>,
    pub secondary_key: Option<String>,
}

#[derive(Clone, Debug)]
pub struct SubscriptionView {
    pub name: String,
    pub etag: String,
    pub display_name: String,
    pub scope: String,
    pub state: String,
    pub created: i64,
}

/// A subscription's keys (`listSecrets`).
#[derive(Clone, Debug)]
pub struct SubscriptionKeys {
    pub primary_key: String,
    pub secondary_key: String,
}

#[derive(Clone, Debug, Default)]
pub struct BackendInput {
    pub url: Option<String>,
    pub protocol: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    pub validate_chain: Option<bool>,
    pub validate_name: Option<bool>,
    pub certificate_ids: Option<Vec<String>>,
}

#[derive(Clone, Debug)]
pub struct BackendView {
    pub name: String,
    pub etag: String,
    pub url: String,
    pub protocol: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub validate_chain: bool,
    pub validate_name: bool,
    pub certificate_ids: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct CertificateEntityInput {
    /// `keyVault.secretIdentifier` and `keyVault.identityClientId`.
    pub key_vault: Option<(String, Option<String>)>,
    /// `data` (base64 PFX) and `password`.
    pub data: Option<(String, Option<String>)>,
}

#[derive(Clone, Debug)]
pub struct CertificateEntityView {
    pub name: String,
    pub etag: String,
    pub subject: String,
    pub thumbprint: String,
    pub expiry: i64,
    pub secret_identifier: Option<String>,
    pub identity_client_id: Option<String>,
    /// `(code, message, RFC 3339 time)` of the last read from the vault.
    pub last_status: Option<(String, String, String)>,
}

impl ApiDoc {
    fn view(&self) -> ApiView {
        ApiView {
            name: self.name.clone(),
            etag: self.etag.clone(),
            display_name: self.display_name.clone(),
            path: self.path.clone(),
            service_url: self.service_url.clone(),
            protocols: self.protocols.clone(),
            subscription_required: self.subscription_required,
            key_header: self.key_header.clone(),
            key_query: self.key_query.clone(),
            description: self.description.clone(),
        }
    }
}

impl OperationDoc {
    fn view(&self, api: &str) -> OperationView {
        OperationView {
            api: api.to_owned(),
            name: self.name.clone(),
            etag: self.etag.clone(),
            display_name: self.display_name.clone(),
            method: self.method.clone(),
            url_template: self.url_template.clone(),
            description: self.description.clone(),
        }
    }
}

impl ProductDoc {
    fn view(&self) -> ProductView {
        ProductView {
            name: self.name.clone(),
            etag: self.etag.clone(),
            display_name: self.display_name.clone(),
            description: self.description.clone(),
            subscription_required: self.subscription_required,
            approval_required: self.approval_required,
            state: self.state.clone(),
        }
    }
}

impl SubscriptionDoc {
    fn view(&self) -> SubscriptionView {
        SubscriptionView {
            name: self.name.clone(),
            etag: self.etag.clone(),
            display_name: self.display_name.clone(),
            scope: self.scope.clone(),
            state: self.state.clone(),
            created: self.created,
        }
    }

    pub(super) fn keys(
        &self,
        doc: &ApimDoc,
        coffer: &Coffer,
    ) -> Result<SubscriptionKeys, ManagementError> {
        let key = doc.data_key(coffer)?;
        let sealed = B64
            .decode(&self.sealed_keys)
            .map_err(|e| ManagementError::Internal(format!("sealed keys: {e}")))?;
        let plain = key.open(keys_aad(&doc.id, &self.name).as_bytes(), &sealed)?;
        let k: KeysDoc = serde_json::from_slice(&plain)?;
        Ok(SubscriptionKeys {
            primary_key: k.p,
            secondary_key: k.s,
        })
    }

    fn set_keys(
        &mut self,
        doc: &ApimDoc,
        coffer: &Coffer,
        keys: &SubscriptionKeys,
    ) -> Result<(), ManagementError> {
        let key = doc.data_key(coffer)?;
        let plain = Zeroizing::new(serde_json::to_vec(&KeysDoc {
            p: keys.primary_key.clone(),
            s: keys.secondary_key.clone(),
        })?);
        self.sealed_keys = B64.encode(key.seal(keys_aad(&doc.id, &self.name).as_bytes(), &plain)?);
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct KeysDoc {
    p: String,
    s: String,
}

fn keys_aad(service: &str, sub: &str) -> String {
    format!(
        "apim-sub:{}:{}",
        service.to_ascii_lowercase(),
        sub.to_ascii_lowercase()
    )
}

fn new_key() -> Result<String, ManagementError> {
    Ok(coffer_crypto::random::hex(16)?)
}

impl BackendDoc {
    fn view(&self) -> BackendView {
        BackendView {
            name: self.name.clone(),
            etag: self.etag.clone(),
            url: self.url.clone(),
            protocol: self.protocol.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            validate_chain: self.validate_chain,
            validate_name: self.validate_name,
            certificate_ids: self.certificate_ids.clone(),
        }
    }
}

impl CertificateDoc {
    fn view(&self) -> CertificateEntityView {
        CertificateEntityView {
            name: self.name.clone(),
            etag: self.etag.clone(),
            subject: self.cert.subject.clone(),
            thumbprint: self.cert.thumbprint.clone(),
            expiry: self.cert.expiry,
            secret_identifier: self.key_vault.as_ref().map(|k| k.secret_identifier.clone()),
            identity_client_id: self
                .key_vault
                .as_ref()
                .and_then(|k| k.identity_client_id.clone()),
            last_status: self
                .key_vault
                .as_ref()
                .and_then(|k| k.last_status.as_ref())
                .map(|s| (s.code.clone(), s.message.clone(), iso(s.at))),
        }
    }
}

/// The normalised subscription scope: `/apis`, `/apis/{id}` or `/products/{id}`, from that form
/// or a full ARM id ending in it.
fn normalize_scope(scope: &str) -> Result<(String, Option<(bool, String)>), ManagementError> {
    let lower = scope.to_ascii_lowercase();
    let tail = match lower.find("/service/") {
        Some(i) => {
            let after = &scope[i + "/service/".len()..];
            after.find('/').map_or("", |j| &after[j..])
        }
        None => scope,
    };
    let segs: Vec<&str> = tail.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [] | ["apis"] => Ok(("/apis".to_owned(), None)),
        [a, id] if a.eq_ignore_ascii_case("apis") => {
            Ok((format!("/apis/{id}"), Some((true, (*id).to_owned()))))
        }
        [p, id] if p.eq_ignore_ascii_case("products") => {
            Ok((format!("/products/{id}"), Some((false, (*id).to_owned()))))
        }
        _ => Err(bad(
            "ValidationError",
            format!(
                "Subscription scope '{}' is invalid: use /apis, /apis/{{apiId}} or /products/{{productId}}.",
                clip(scope)
            ),
        )),
    }
}

fn normalize_protocols(p: &[String]) -> Result<Vec<String>, ManagementError> {
    let mut out = Vec::new();
    for x in p {
        let l = x.to_ascii_lowercase();
        if !matches!(l.as_str(), "http" | "https" | "ws" | "wss") {
            return Err(bad(
                "ValidationError",
                format!(
                    "Protocol '{}' is invalid: use http, https, ws or wss.",
                    clip(x)
                ),
            ));
        }
        if !out.contains(&l) {
            out.push(l);
        }
    }
    Ok(out)
}

fn check_url(what: &str, u: &str) -> Result<String, ManagementError> {
    let t = u.trim();
    if (t.starts_with("http://") || t.starts_with("https://")) && t.len() > 8 && t.len() <= 2000 {
        Ok(t.trim_end_matches('/').to_owned())
    } else {
        Err(bad(
            "ValidationError",
            format!("{what} '{}' is not an absolute http or https URL.", clip(u)),
        ))
    }
}

fn check_count<T>(
    kind: EntityKind,
    map: &BTreeMap<String, T>,
    key: &str,
) -> Result<(), ManagementError> {
    if !map.contains_key(key) && map.len() >= MAX_ENTITIES {
        return Err(bad(
            "ValidationError",
            format!(
                "A service holds at most {MAX_ENTITIES} entities of type {}.",
                kind.label()
            ),
        ));
    }
    Ok(())
}

impl Coffer {
    /// Read-modify-write of a service's record by the caller; `f` may refuse.
    async fn modify_apim<T>(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        mut f: impl FnMut(&mut ApimDoc) -> Result<T, ManagementError>,
    ) -> Result<T, ManagementError> {
        for _ in 0..WRITE_ATTEMPTS {
            let (mut doc, rev) = self.existing_apim(caller, s, rg, svc, "write").await?;
            let out = f(&mut doc)?;
            if self.apim_write(&doc, DocMode::Update(rev)).await? {
                self.gateway_changed();
                return Ok(out);
            }
        }
        Err(concurrent())
    }

    async fn read_apim(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
    ) -> Result<ApimDoc, ManagementError> {
        Ok(self.existing_apim(caller, s, rg, svc, "read").await?.0)
    }

    // ---- apis ----------------------------------------------------------------------------

    /// Creates or replaces an API (an import when `input.import` is set). Returns the view and
    /// whether it was created.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_apim_api(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        input: ApiInput,
        if_match: Option<&str>,
    ) -> Result<(ApiView, bool), ManagementError> {
        validate_entity_id(EntityKind::Api, id)?;
        let imported = match &input.import {
            Some((format, value)) => Some(super::openapi::import(format, value)?),
            None => None,
        };
        let key = id.to_ascii_lowercase();
        self.modify_apim(caller, s, rg, svc, |doc| {
            check_count(EntityKind::Api, &doc.entities.apis, &key)?;
            let existing = doc.entities.apis.get(&key).cloned();
            if let Some(e) = &existing {
                check_if_match(&e.etag, if_match, false)?;
            }
            let path = input
                .path
                .clone()
                .or_else(|| existing.as_ref().map(|e| e.path.clone()))
                .map(|p| p.trim().trim_matches('/').to_owned())
                .ok_or_else(|| bad("ValidationError", "The API's path is required.".to_owned()))?;
            if path.len() > 400 || path.contains(['?', '#', ' ']) {
                return Err(bad(
                    "ValidationError",
                    format!("API path '{}' is invalid.", clip(&path)),
                ));
            }
            if let Some((other, _)) = doc
                .entities
                .apis
                .iter()
                .find(|(k, a)| **k != key && a.path.eq_ignore_ascii_case(&path))
            {
                return Err(bad(
                    "ValidationError",
                    format!(
                        "Cannot create API '{}' with the same path '{}' as API '{}'.",
                        clip(id),
                        clip(&path),
                        clip(other)
                    ),
                ));
            }
            let service_url = match input
                .service_url
                .as_deref()
                .filter(|u| !u.trim().is_empty())
            {
                Some(u) => Some(check_url("serviceUrl", u)?),
                None => imported
                    .as_ref()
                    .and_then(|i| i.server_url.clone())
                    .or_else(|| existing.as_ref().and_then(|e| e.service_url.clone())),
            };
            let protocols = match &input.protocols {
                Some(p) if !p.is_empty() => normalize_protocols(p)?,
                _ => existing
                    .as_ref()
                    .map_or_else(|| vec!["https".to_owned()], |e| e.protocols.clone()),
            };
            let mut operations = existing
                .as_ref()
                .map(|e| e.operations.clone())
                .unwrap_or_default();
            let etag = doc.next_etag();
            if let Some(i) = &imported {
                operations.clear();
                for op in &i.operations {
                    let oe = doc.next_etag();
                    operations.insert(
                        op.id.to_ascii_lowercase(),
                        OperationDoc {
                            name: op.id.clone(),
                            etag: oe,
                            display_name: op.display_name.clone(),
                            method: op.method.clone(),
                            url_template: op.url_template.clone(),
                            description: op.description.clone(),
                        },
                    );
                }
            }
            let api = ApiDoc {
                name: existing
                    .as_ref()
                    .map_or_else(|| id.to_owned(), |e| e.name.clone()),
                etag,
                display_name: input
                    .display_name
                    .clone()
                    .or_else(|| imported.as_ref().and_then(|i| i.title.clone()))
                    .or_else(|| existing.as_ref().map(|e| e.display_name.clone()))
                    .unwrap_or_else(|| id.to_owned()),
                path,
                service_url,
                protocols,
                subscription_required: input
                    .subscription_required
                    .or(existing.as_ref().map(|e| e.subscription_required))
                    .unwrap_or(true),
                key_header: input
                    .key_header
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.key_header.clone()))
                    .unwrap_or_else(|| "Ocp-Apim-Subscription-Key".to_owned()),
                key_query: input
                    .key_query
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.key_query.clone()))
                    .unwrap_or_else(|| "subscription-key".to_owned()),
                description: input
                    .description
                    .clone()
                    .or_else(|| imported.as_ref().and_then(|i| i.description.clone()))
                    .or_else(|| existing.as_ref().and_then(|e| e.description.clone())),
                operations,
            };
            let view = api.view();
            doc.entities.apis.insert(key.clone(), api);
            Ok((view, existing.is_none()))
        })
        .await
    }

    /// Changes the given properties of an API.
    #[allow(clippy::too_many_arguments)]
    pub async fn patch_apim_api(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        input: ApiInput,
        if_match: Option<&str>,
    ) -> Result<ApiView, ManagementError> {
        let key = id.to_ascii_lowercase();
        {
            let doc = self.read_apim(caller, s, rg, svc).await?;
            let e = doc
                .entities
                .apis
                .get(&key)
                .ok_or_else(|| entity_not_found(EntityKind::Api, id))?;
            check_if_match(&e.etag, if_match, true)?;
        }
        Ok(self
            .put_apim_api(
                caller,
                s,
                rg,
                svc,
                id,
                ApiInput {
                    import: None,
                    ..input
                },
                if_match,
            )
            .await?
            .0)
    }

    pub async fn get_apim_api(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<ApiView, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        doc.entities
            .apis
            .get(&id.to_ascii_lowercase())
            .map(ApiDoc::view)
            .ok_or_else(|| entity_not_found(EntityKind::Api, id))
    }

    pub async fn list_apim_apis(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
    ) -> Result<Vec<ApiView>, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        Ok(doc.entities.apis.values().map(ApiDoc::view).collect())
    }

    /// Deletes an API, its operations and its product links; `false` if it did not exist.
    pub async fn delete_apim_api(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<bool, ManagementError> {
        let key = id.to_ascii_lowercase();
        self.modify_apim(caller, s, rg, svc, |doc| {
            let Some(e) = doc.entities.apis.get(&key) else {
                return Ok(false);
            };
            check_if_match(&e.etag, if_match, true)?;
            doc.entities.apis.remove(&key);
            for p in doc.entities.products.values_mut() {
                p.apis.retain(|a| *a != key);
            }
            Ok(true)
        })
        .await
    }

    // ---- operations ----------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn put_apim_operation(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        api: &str,
        id: &str,
        input: OperationInput,
        if_match: Option<&str>,
        patch: bool,
    ) -> Result<(OperationView, bool), ManagementError> {
        validate_entity_id(EntityKind::Operation, id)?;
        let api_key = api.to_ascii_lowercase();
        let key = id.to_ascii_lowercase();
        self.modify_apim(caller, s, rg, svc, |doc| {
            let etag = doc.next_etag();
            let a = doc
                .entities
                .apis
                .get_mut(&api_key)
                .ok_or_else(|| entity_not_found(EntityKind::Api, api))?;
            let existing = a.operations.get(&key).cloned();
            match &existing {
                Some(e) => check_if_match(&e.etag, if_match, patch)?,
                None if patch => return Err(entity_not_found(EntityKind::Operation, id)),
                None => {}
            }
            let method = input
                .method
                .clone()
                .or_else(|| existing.as_ref().map(|e| e.method.clone()))
                .map(|m| m.trim().to_ascii_uppercase())
                .filter(|m| {
                    !m.is_empty() && (m == "*" || m.chars().all(|c| c.is_ascii_alphabetic()))
                })
                .ok_or_else(|| {
                    bad(
                        "ValidationError",
                        "The operation's method is required.".to_owned(),
                    )
                })?;
            let url_template = input
                .url_template
                .clone()
                .or_else(|| existing.as_ref().map(|e| e.url_template.clone()))
                .filter(|u| u.starts_with('/'))
                .ok_or_else(|| {
                    bad(
                        "ValidationError",
                        "The operation's urlTemplate is required and starts with '/'.".to_owned(),
                    )
                })?;
            let op = OperationDoc {
                name: existing
                    .as_ref()
                    .map_or_else(|| id.to_owned(), |e| e.name.clone()),
                etag,
                display_name: input
                    .display_name
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.display_name.clone()))
                    .unwrap_or_else(|| id.to_owned()),
                method,
                url_template,
                description: input
                    .description
                    .clone()
                    .or_else(|| existing.as_ref().and_then(|e| e.description.clone())),
            };
            let view = op.view(&a.name);
            a.operations.insert(key.clone(), op);
            Ok((view, existing.is_none()))
        })
        .await
    }

    pub async fn list_apim_operations(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        api: &str,
    ) -> Result<Vec<OperationView>, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        let a = doc
            .entities
            .apis
            .get(&api.to_ascii_lowercase())
            .ok_or_else(|| entity_not_found(EntityKind::Api, api))?;
        Ok(a.operations.values().map(|o| o.view(&a.name)).collect())
    }

    pub async fn get_apim_operation(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        api: &str,
        id: &str,
    ) -> Result<OperationView, ManagementError> {
        self.list_apim_operations(caller, s, rg, svc, api)
            .await?
            .into_iter()
            .find(|o| o.name.eq_ignore_ascii_case(id))
            .ok_or_else(|| entity_not_found(EntityKind::Operation, id))
    }

    #[allow(clippy::too_many_arguments)]
    pub async fn delete_apim_operation(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        api: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<bool, ManagementError> {
        let (api_key, key) = (api.to_ascii_lowercase(), id.to_ascii_lowercase());
        self.modify_apim(caller, s, rg, svc, |doc| {
            let a = doc
                .entities
                .apis
                .get_mut(&api_key)
                .ok_or_else(|| entity_not_found(EntityKind::Api, api))?;
            let Some(e) = a.operations.get(&key) else {
                return Ok(false);
            };
            check_if_match(&e.etag, if_match, true)?;
            a.operations.remove(&key);
            Ok(true)
        })
        .await
    }

    // ---- products ------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn put_apim_product(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        input: ProductInput,
        if_match: Option<&str>,
        patch: bool,
    ) -> Result<(ProductView, bool), ManagementError> {
        validate_entity_id(EntityKind::Product, id)?;
        let key = id.to_ascii_lowercase();
        if let Some(st) = &input.state
            && !matches!(
                st.to_ascii_lowercase().as_str(),
                "published" | "notpublished"
            )
        {
            return Err(bad(
                "ValidationError",
                format!(
                    "Product state '{}' is invalid: use published or notPublished.",
                    clip(st)
                ),
            ));
        }
        self.modify_apim(caller, s, rg, svc, |doc| {
            check_count(EntityKind::Product, &doc.entities.products, &key)?;
            let existing = doc.entities.products.get(&key).cloned();
            match &existing {
                Some(e) => check_if_match(&e.etag, if_match, patch)?,
                None if patch => return Err(entity_not_found(EntityKind::Product, id)),
                None => {}
            }
            let etag = doc.next_etag();
            let p = ProductDoc {
                name: existing
                    .as_ref()
                    .map_or_else(|| id.to_owned(), |e| e.name.clone()),
                etag,
                display_name: input
                    .display_name
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.display_name.clone()))
                    .unwrap_or_else(|| id.to_owned()),
                description: input
                    .description
                    .clone()
                    .or_else(|| existing.as_ref().and_then(|e| e.description.clone())),
                subscription_required: input
                    .subscription_required
                    .or(existing.as_ref().map(|e| e.subscription_required))
                    .unwrap_or(true),
                approval_required: input
                    .approval_required
                    .or(existing.as_ref().map(|e| e.approval_required))
                    .unwrap_or(false),
                state: input
                    .state
                    .as_deref()
                    .map(|s| {
                        if s.eq_ignore_ascii_case("published") {
                            "published"
                        } else {
                            "notPublished"
                        }
                        .to_owned()
                    })
                    .or_else(|| existing.as_ref().map(|e| e.state.clone()))
                    .unwrap_or_else(|| "notPublished".to_owned()),
                apis: existing
                    .as_ref()
                    .map(|e| e.apis.clone())
                    .unwrap_or_default(),
            };
            let view = p.view();
            doc.entities.products.insert(key.clone(), p);
            Ok((view, existing.is_none()))
        })
        .await
    }

    pub async fn list_apim_products(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
    ) -> Result<Vec<ProductView>, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        Ok(doc
            .entities
            .products
            .values()
            .map(ProductDoc::view)
            .collect())
    }

    pub async fn get_apim_product(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<ProductView, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        doc.entities
            .products
            .get(&id.to_ascii_lowercase())
            .map(ProductDoc::view)
            .ok_or_else(|| entity_not_found(EntityKind::Product, id))
    }

    /// Deletes a product and the subscriptions scoped to it.
    pub async fn delete_apim_product(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<bool, ManagementError> {
        let key = id.to_ascii_lowercase();
        self.modify_apim(caller, s, rg, svc, |doc| {
            let Some(e) = doc.entities.products.get(&key) else {
                return Ok(false);
            };
            check_if_match(&e.etag, if_match, true)?;
            doc.entities.products.remove(&key);
            let scope = format!("/products/{key}");
            doc.entities
                .subscriptions
                .retain(|_, sub| !sub.scope.eq_ignore_ascii_case(&scope));
            Ok(true)
        })
        .await
    }

    /// Adds (`add`) or removes an API from a product; returns whether the link existed before.
    #[allow(clippy::too_many_arguments)]
    pub async fn link_apim_product_api(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        product: &str,
        api: &str,
        add: bool,
    ) -> Result<(ApiView, bool), ManagementError> {
        let (pk, ak) = (product.to_ascii_lowercase(), api.to_ascii_lowercase());
        self.modify_apim(caller, s, rg, svc, |doc| {
            let view = doc
                .entities
                .apis
                .get(&ak)
                .map(ApiDoc::view)
                .ok_or_else(|| entity_not_found(EntityKind::Api, api))?;
            let p = doc
                .entities
                .products
                .get_mut(&pk)
                .ok_or_else(|| entity_not_found(EntityKind::Product, product))?;
            let had = p.apis.contains(&ak);
            if add && !had {
                p.apis.push(ak.clone());
            } else if !add {
                p.apis.retain(|a| *a != ak);
            }
            Ok((view, had))
        })
        .await
    }

    pub async fn list_apim_product_apis(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        product: &str,
    ) -> Result<Vec<ApiView>, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        let p = doc
            .entities
            .products
            .get(&product.to_ascii_lowercase())
            .ok_or_else(|| entity_not_found(EntityKind::Product, product))?;
        Ok(p.apis
            .iter()
            .filter_map(|a| doc.entities.apis.get(a).map(ApiDoc::view))
            .collect())
    }

    // ---- subscriptions -------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn put_apim_subscription(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        input: SubscriptionInput,
        if_match: Option<&str>,
        patch: bool,
    ) -> Result<(SubscriptionView, bool), ManagementError> {
        validate_entity_id(EntityKind::Subscription, id)?;
        let key = id.to_ascii_lowercase();
        let scope = input.scope.as_deref().map(normalize_scope).transpose()?;
        let state = match input.state.as_deref() {
            None => None,
            Some(st) => {
                let l = st.to_ascii_lowercase();
                match l.as_str() {
                    "active" | "suspended" | "submitted" | "rejected" | "cancelled" | "expired" => {
                        Some(l)
                    }
                    _ => {
                        return Err(bad(
                            "ValidationError",
                            format!(
                                "Subscription state '{}' is invalid: use active, suspended, submitted, rejected, cancelled or expired.",
                                clip(st)
                            ),
                        ));
                    }
                }
            }
        };
        for k in [&input.primary_key, &input.secondary_key]
            .into_iter()
            .flatten()
        {
            if !(1..=256).contains(&k.len()) {
                return Err(bad(
                    "ValidationError",
                    "Subscription keys have 1 to 256 characters.".to_owned(),
                ));
            }
        }
        let fresh = (new_key()?, new_key()?);
        self.modify_apim(caller, s, rg, svc, |doc| {
            check_count(EntityKind::Subscription, &doc.entities.subscriptions, &key)?;
            let existing = doc.entities.subscriptions.get(&key).cloned();
            match &existing {
                Some(e) => check_if_match(&e.etag, if_match, patch)?,
                None if patch => return Err(entity_not_found(EntityKind::Subscription, id)),
                None => {}
            }
            let scope = match &scope {
                Some((norm, target)) => {
                    match target {
                        Some((true, a))
                            if !doc.entities.apis.contains_key(&a.to_ascii_lowercase()) =>
                        {
                            return Err(bad(
                                "ValidationError",
                                format!(
                                    "Subscription scope names API '{}', which does not exist.",
                                    clip(a)
                                ),
                            ));
                        }
                        Some((false, p))
                            if !doc.entities.products.contains_key(&p.to_ascii_lowercase()) =>
                        {
                            return Err(bad(
                                "ValidationError",
                                format!(
                                    "Subscription scope names product '{}', which does not exist.",
                                    clip(p)
                                ),
                            ));
                        }
                        _ => {}
                    }
                    norm.clone()
                }
                None => match &existing {
                    Some(e) => e.scope.clone(),
                    None => {
                        return Err(bad(
                            "ValidationError",
                            "The subscription's scope is required.".to_owned(),
                        ));
                    }
                },
            };
            let old_keys = match &existing {
                Some(e) => Some(e.keys(doc, self)?),
                None => None,
            };
            let keys = SubscriptionKeys {
                primary_key: input
                    .primary_key
                    .clone()
                    .or_else(|| old_keys.as_ref().map(|k| k.primary_key.clone()))
                    .unwrap_or_else(|| fresh.0.clone()),
                secondary_key: input
                    .secondary_key
                    .clone()
                    .or_else(|| old_keys.as_ref().map(|k| k.secondary_key.clone()))
                    .unwrap_or_else(|| fresh.1.clone()),
            };
            let etag = doc.next_etag();
            let mut sub = SubscriptionDoc {
                name: existing
                    .as_ref()
                    .map_or_else(|| id.to_owned(), |e| e.name.clone()),
                etag,
                display_name: input
                    .display_name
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.display_name.clone()))
                    .unwrap_or_else(|| id.to_owned()),
                scope,
                state: state
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.state.clone()))
                    .unwrap_or_else(|| "active".to_owned()),
                created: existing.as_ref().map_or_else(|| self.now(), |e| e.created),
                sealed_keys: String::new(),
            };
            sub.set_keys(doc, self, &keys)?;
            let view = sub.view();
            doc.entities.subscriptions.insert(key.clone(), sub);
            Ok((view, existing.is_none()))
        })
        .await
    }

    pub async fn list_apim_subscriptions(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
    ) -> Result<Vec<SubscriptionView>, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        Ok(doc
            .entities
            .subscriptions
            .values()
            .map(SubscriptionDoc::view)
            .collect())
    }

    pub async fn get_apim_subscription(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<SubscriptionView, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        doc.entities
            .subscriptions
            .get(&id.to_ascii_lowercase())
            .map(SubscriptionDoc::view)
            .ok_or_else(|| entity_not_found(EntityKind::Subscription, id))
    }

    /// A subscription's keys (`POST …/listSecrets`).
    pub async fn apim_subscription_keys(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<(SubscriptionKeys, String), ManagementError> {
        let doc = self
            .existing_apim(caller, s, rg, svc, "subscriptions/listSecrets/action")
            .await?
            .0;
        let sub = doc
            .entities
            .subscriptions
            .get(&id.to_ascii_lowercase())
            .ok_or_else(|| entity_not_found(EntityKind::Subscription, id))?;
        Ok((sub.keys(&doc, self)?, sub.etag.clone()))
    }

    /// Replaces the primary (`primary`) or secondary key with a fresh one.
    pub async fn regenerate_apim_subscription_key(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        primary: bool,
    ) -> Result<(), ManagementError> {
        let key = id.to_ascii_lowercase();
        let fresh = new_key()?;
        self.modify_apim(caller, s, rg, svc, |doc| {
            let sub = doc
                .entities
                .subscriptions
                .get(&key)
                .cloned()
                .ok_or_else(|| entity_not_found(EntityKind::Subscription, id))?;
            let mut keys = sub.keys(doc, self)?;
            if primary {
                keys.primary_key = fresh.clone();
            } else {
                keys.secondary_key = fresh.clone();
            }
            let mut sub = sub;
            sub.etag = doc.next_etag();
            sub.set_keys(doc, self, &keys)?;
            doc.entities.subscriptions.insert(key.clone(), sub);
            Ok(())
        })
        .await
    }

    pub async fn delete_apim_subscription(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<bool, ManagementError> {
        let key = id.to_ascii_lowercase();
        self.modify_apim(caller, s, rg, svc, |doc| {
            let Some(e) = doc.entities.subscriptions.get(&key) else {
                return Ok(false);
            };
            check_if_match(&e.etag, if_match, true)?;
            doc.entities.subscriptions.remove(&key);
            Ok(true)
        })
        .await
    }

    // ---- backends ------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub async fn put_apim_backend(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        input: BackendInput,
        if_match: Option<&str>,
        patch: bool,
    ) -> Result<(BackendView, bool), ManagementError> {
        validate_entity_id(EntityKind::Backend, id)?;
        let key = id.to_ascii_lowercase();
        if let Some(p) = &input.protocol
            && !matches!(p.to_ascii_lowercase().as_str(), "http" | "soap")
        {
            return Err(bad(
                "ValidationError",
                format!(
                    "Backend protocol '{}' is invalid: use http or soap.",
                    clip(p)
                ),
            ));
        }
        let url = input
            .url
            .as_deref()
            .map(|u| check_url("Backend url", u))
            .transpose()?;
        self.modify_apim(caller, s, rg, svc, |doc| {
            check_count(EntityKind::Backend, &doc.entities.backends, &key)?;
            let existing = doc.entities.backends.get(&key).cloned();
            match &existing {
                Some(e) => check_if_match(&e.etag, if_match, patch)?,
                None if patch => return Err(entity_not_found(EntityKind::Backend, id)),
                None => {}
            }
            let certificate_ids = input
                .certificate_ids
                .clone()
                .or_else(|| existing.as_ref().map(|e| e.certificate_ids.clone()))
                .unwrap_or_default();
            for c in &certificate_ids {
                let cid = c.trim_end_matches('/').rsplit('/').next().unwrap_or(c);
                if !doc
                    .entities
                    .certificates
                    .contains_key(&cid.to_ascii_lowercase())
                {
                    return Err(bad(
                        "ValidationError",
                        format!(
                            "Backend credentials name certificate '{}', which does not exist.",
                            clip(c)
                        ),
                    ));
                }
            }
            let etag = doc.next_etag();
            let b = BackendDoc {
                name: existing
                    .as_ref()
                    .map_or_else(|| id.to_owned(), |e| e.name.clone()),
                etag,
                url: url
                    .clone()
                    .or_else(|| existing.as_ref().map(|e| e.url.clone()))
                    .ok_or_else(|| {
                        bad(
                            "ValidationError",
                            "The backend's url is required.".to_owned(),
                        )
                    })?,
                protocol: input
                    .protocol
                    .clone()
                    .map(|p| p.to_ascii_lowercase())
                    .or_else(|| existing.as_ref().map(|e| e.protocol.clone()))
                    .unwrap_or_else(|| "http".to_owned()),
                title: input
                    .title
                    .clone()
                    .or_else(|| existing.as_ref().and_then(|e| e.title.clone())),
                description: input
                    .description
                    .clone()
                    .or_else(|| existing.as_ref().and_then(|e| e.description.clone())),
                validate_chain: input
                    .validate_chain
                    .or(existing.as_ref().map(|e| e.validate_chain))
                    .unwrap_or(true),
                validate_name: input
                    .validate_name
                    .or(existing.as_ref().map(|e| e.validate_name))
                    .unwrap_or(true),
                certificate_ids,
            };
            let view = b.view();
            doc.entities.backends.insert(key.clone(), b);
            Ok((view, existing.is_none()))
        })
        .await
    }

    pub async fn list_apim_backends(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
    ) -> Result<Vec<BackendView>, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        Ok(doc
            .entities
            .backends
            .values()
            .map(BackendDoc::view)
            .collect())
    }

    pub async fn get_apim_backend(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<BackendView, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        doc.entities
            .backends
            .get(&id.to_ascii_lowercase())
            .map(BackendDoc::view)
            .ok_or_else(|| entity_not_found(EntityKind::Backend, id))
    }

    pub async fn delete_apim_backend(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<bool, ManagementError> {
        let key = id.to_ascii_lowercase();
        self.modify_apim(caller, s, rg, svc, |doc| {
            let Some(e) = doc.entities.backends.get(&key) else {
                return Ok(false);
            };
            check_if_match(&e.etag, if_match, true)?;
            doc.entities.backends.remove(&key);
            Ok(true)
        })
        .await
    }

    // ---- certificates --------------------------------------------------------------------

    /// Creates or replaces a certificate entity: read from a vault with the service's identity,
    /// or uploaded; validated before anything is stored.
    #[allow(clippy::too_many_arguments)]
    pub async fn put_apim_certificate(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        input: CertificateEntityInput,
        if_match: Option<&str>,
    ) -> Result<(CertificateEntityView, bool), ManagementError> {
        validate_entity_id(EntityKind::Certificate, id)?;
        let key = id.to_ascii_lowercase();
        let snapshot = self.existing_apim(caller, s, rg, svc, "write").await?.0;
        let (fetched, kv): (Fetched, Option<KeyVaultRef>) = match (&input.key_vault, &input.data) {
            (Some((url, cid)), None) => {
                let f = self
                    .apim_fetch(&snapshot, url, cid.as_deref(), None)
                    .await
                    .map_err(super::hostnames::HostnameFailure::into_error)?;
                (
                    f,
                    Some(KeyVaultRef {
                        secret_identifier: url.clone(),
                        identity_client_id: cid.clone(),
                        last_status: Some(LastStatus {
                            code: "Success".to_owned(),
                            message: "The certificate was read from Key Vault.".to_owned(),
                            at: self.now(),
                        }),
                    }),
                )
            }
            (None, Some((data, password))) => {
                (self.apim_upload(data, password.as_deref(), None)?, None)
            }
            _ => {
                return Err(bad(
                    "ValidationError",
                    "A certificate needs either keyVault.secretIdentifier or data (with password), not both."
                        .to_owned(),
                ));
            }
        };
        self.modify_apim(caller, s, rg, svc, |doc| {
            check_count(EntityKind::Certificate, &doc.entities.certificates, &key)?;
            let existing = doc.entities.certificates.get(&key).cloned();
            if let Some(e) = &existing {
                check_if_match(&e.etag, if_match, false)?;
            }
            let sealed = fetched.seal(&doc.data_key(self)?, &doc.id)?;
            let etag = doc.next_etag();
            let c = CertificateDoc {
                name: existing
                    .as_ref()
                    .map_or_else(|| id.to_owned(), |e| e.name.clone()),
                etag,
                key_vault: kv.clone(),
                cert: sealed,
            };
            let view = c.view();
            doc.entities.certificates.insert(key.clone(), c);
            Ok((view, existing.is_none()))
        })
        .await
    }

    pub async fn list_apim_certificates(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
    ) -> Result<Vec<CertificateEntityView>, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        Ok(doc
            .entities
            .certificates
            .values()
            .map(CertificateDoc::view)
            .collect())
    }

    pub async fn get_apim_certificate(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<CertificateEntityView, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        doc.entities
            .certificates
            .get(&id.to_ascii_lowercase())
            .map(CertificateDoc::view)
            .ok_or_else(|| entity_not_found(EntityKind::Certificate, id))
    }

    /// Deletes a certificate entity; refused while a backend's credentials name it.
    pub async fn delete_apim_certificate(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> Result<bool, ManagementError> {
        let key = id.to_ascii_lowercase();
        self.modify_apim(caller, s, rg, svc, |doc| {
            let Some(e) = doc.entities.certificates.get(&key) else {
                return Ok(false);
            };
            check_if_match(&e.etag, if_match, true)?;
            if let Some(b) = doc.entities.backends.values().find(|b| {
                b.certificate_ids.iter().any(|c| {
                    c.trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or(c)
                        .eq_ignore_ascii_case(&key)
                })
            }) {
                return Err(bad(
                    "ValidationError",
                    format!(
                        "Certificate '{}' is used by backend '{}'.",
                        clip(id),
                        b.name
                    ),
                ));
            }
            doc.entities.certificates.remove(&key);
            Ok(true)
        })
        .await
    }

    /// Reads a vault-backed certificate entity again now (`refreshSecret`).
    pub async fn refresh_apim_certificate(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<CertificateEntityView, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        if !doc
            .entities
            .certificates
            .contains_key(&id.to_ascii_lowercase())
        {
            return Err(entity_not_found(EntityKind::Certificate, id));
        }
        self.refresh_apim_service(&doc.id).await?;
        self.get_apim_certificate(caller, s, rg, svc, id).await
    }
}
