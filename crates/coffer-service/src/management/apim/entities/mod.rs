//! The child entities of a service: `apis` (with `operations`), `products` (with the APIs they
//! hold), `subscriptions` (keys sealed, shown only by `listSecrets`), `backends` and
//! `certificates` (uploaded or read from a vault like host names). Each carries an ETag; PATCH
//! and DELETE name it in `If-Match` (`*` for any), a stale one is refused with 412. This root
//! holds the records, inputs, views and shared checks; the use cases live in `apis.rs` (APIs,
//! operations, products), `subscriptions.rs` and `backends.rs` (backends, certificates).

mod apis;
mod backends;
mod subscriptions;

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

/// A child entity kept in one map of [`Entities`] by its lowercase id: what reading, listing
/// and deleting need, so those are written once for every kind.
pub(super) trait Entity: Sized {
    const KIND: EntityKind;
    type View;
    fn map(e: &Entities) -> &BTreeMap<String, Self>;
    fn map_mut(e: &mut Entities) -> &mut BTreeMap<String, Self>;
    fn etag(&self) -> &str;
    fn view(&self) -> Self::View;
}

macro_rules! entity {
    ($doc:ty, $kind:ident, $field:ident, $view:ty) => {
        impl Entity for $doc {
            const KIND: EntityKind = EntityKind::$kind;
            type View = $view;
            fn map(e: &Entities) -> &BTreeMap<String, Self> {
                &e.$field
            }
            fn map_mut(e: &mut Entities) -> &mut BTreeMap<String, Self> {
                &mut e.$field
            }
            fn etag(&self) -> &str {
                &self.etag
            }
            fn view(&self) -> $view {
                <$doc>::view(self)
            }
        }
    };
}

entity!(ApiDoc, Api, apis, ApiView);
entity!(ProductDoc, Product, products, ProductView);
entity!(
    SubscriptionDoc,
    Subscription,
    subscriptions,
    SubscriptionView
);
entity!(BackendDoc, Backend, backends, BackendView);
entity!(
    CertificateDoc,
    Certificate,
    certificates,
    CertificateEntityView
);

impl Coffer {
    /// Every entity of kind `E` of a service.
    pub(super) async fn list_entities<E: Entity>(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
    ) -> Result<Vec<E::View>, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        Ok(E::map(&doc.entities).values().map(E::view).collect())
    }

    /// One entity of kind `E` by id (case-insensitive).
    pub(super) async fn get_entity<E: Entity>(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<E::View, ManagementError> {
        let doc = self.read_apim(caller, s, rg, svc).await?;
        E::map(&doc.entities)
            .get(&id.to_ascii_lowercase())
            .map(E::view)
            .ok_or_else(|| entity_not_found(E::KIND, id))
    }

    /// Deletes an entity of kind `E` whose ETag `if_match` admits (required); `false` if it did
    /// not exist. `before` sees the other entities first: it removes what goes with this one,
    /// or refuses (nothing is then written).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn delete_entity<E: Entity>(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
        if_match: Option<&str>,
        before: impl Fn(&mut Entities, &str) -> Result<(), ManagementError>,
    ) -> Result<bool, ManagementError> {
        let key = id.to_ascii_lowercase();
        self.modify_apim(caller, s, rg, svc, |doc| {
            let Some(e) = E::map(&doc.entities).get(&key) else {
                return Ok(false);
            };
            check_if_match(e.etag(), if_match, true)?;
            before(&mut doc.entities, &key)?;
            E::map_mut(&mut doc.entities).remove(&key);
            Ok(true)
        })
        .await
    }
}

impl Coffer {
    /// Read-modify-write of a service's record by the caller; `f` may refuse.
    pub(super) async fn modify_apim<T>(
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

    pub(super) async fn read_apim(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
    ) -> Result<ApimDoc, ManagementError> {
        Ok(self.existing_apim(caller, s, rg, svc, "read").await?.0)
    }
}
