//! `Microsoft.ApiManagement`: API Management service instances (the gateway's management side).
//! A service is one record holding everything it serves: identity, custom host names with their
//! certificates (sealed with the service's own data key), and its child entities (`apis` with
//! operations, `products`, `subscriptions`, `backends`, `certificates`), so a service and its
//! children change and disappear together. Host names read their certificates from vaults over
//! the vault's real data plane (`hostnames.rs`); child entities live in `entities.rs`, the
//! OpenAPI import in `openapi.rs`, what the gateway runtime reads in `runtime.rs`.

mod entities;
mod hostnames;
mod openapi;
mod runtime;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::DataKey;
use coffer_domain::Principal;
use coffer_store::{DocMode, DocWrite, StoreError};
use serde::{Deserialize, Serialize};

pub use entities::{
    ApiInput, ApiView, BackendInput, BackendView, CertificateEntityInput, CertificateEntityView,
    EntityKind, OperationInput, OperationView, ProductInput, ProductView, SubscriptionInput,
    SubscriptionKeys, SubscriptionView,
};
pub use hostnames::{HostnameInput, HostnameView};

use self::entities::Entities;
use self::hostnames::HostnameDoc;
use super::{
    ManagementError, Provider, WRITE_ATTEMPTS, bad, clip, concurrent, in_scope, rg_id,
    validate_location, validate_tags,
};
use crate::Coffer;

/// Resource type of API Management services.
pub const APIM_SERVICE_TYPE: &str = "Microsoft.ApiManagement/service";

pub(super) const PROVIDER: Provider = Provider {
    namespace: "Microsoft.ApiManagement",
    resource_types: &["service"],
};

/// Store kind of service records (one per service, keyed by the lowercase resource id).
const APIM_SERVICE: &str = "apim_service";
/// Failed hostname updates kept per service for `coffer doctor`.
const MAX_FAILURES: usize = 10;
/// User-assigned identities per service, as Azure allows.
const MAX_USER_IDENTITIES: usize = 10;

/// The stored service.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ApimDoc {
    /// The resource id as created.
    id: String,
    name: String,
    subscription_id: String,
    resource_group: String,
    tenant_id: String,
    location: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    sku_name: String,
    sku_capacity: i64,
    publisher_email: String,
    publisher_name: String,
    created: i64,
    /// Whether the system-assigned identity is on (its record lives with the identities).
    system_identity: bool,
    /// User-assigned identities, by resource id as given.
    #[serde(default)]
    user_identities: Vec<String>,
    /// The service's data key, wrapped by the root key: seals certificate material and keys.
    wrapped_key: String,
    #[serde(default)]
    hostnames: Vec<HostnameDoc>,
    #[serde(default)]
    failures: Vec<FailureDoc>,
    #[serde(default)]
    entities: Entities,
    /// Grows with every write of an entity; the entity ETags are taken from it.
    #[serde(default)]
    etag_counter: u64,
}

/// A refused hostname update, for `coffer doctor`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FailureDoc {
    pub at: i64,
    /// The vault's request id, when the vault answered.
    pub request_id: Option<String>,
    pub secret_url: String,
    pub status: Option<u16>,
    /// `SystemAssigned` or `UserAssigned`.
    pub identity_type: String,
    pub client_id: String,
    pub object_id: String,
    pub message: String,
}

impl ApimDoc {
    fn data_key(&self, coffer: &Coffer) -> Result<DataKey, ManagementError> {
        let wrapped = B64
            .decode(&self.wrapped_key)
            .map_err(|e| ManagementError::Internal(format!("wrapped key: {e}")))?;
        Ok(coffer.root.unwrap_key(&wrapped, &key_context(&self.id))?)
    }

    fn next_etag(&mut self) -> String {
        self.etag_counter += 1;
        format!("\"{:x}\"", self.etag_counter)
    }

    fn identity_type(&self) -> &'static str {
        match (self.system_identity, !self.user_identities.is_empty()) {
            (true, true) => "SystemAssigned, UserAssigned",
            (true, false) => "SystemAssigned",
            (false, true) => "UserAssigned",
            (false, false) => "None",
        }
    }
}

fn key_context(id: &str) -> String {
    format!("apim:{}", id.to_ascii_lowercase())
}

fn service_id(subscription: &str, rg: &str, name: &str) -> String {
    format!(
        "{}/providers/{APIM_SERVICE_TYPE}/{name}",
        rg_id(subscription, rg)
    )
}

fn doc_key(id: &str) -> String {
    id.to_ascii_lowercase()
}

fn not_found(name: &str) -> ManagementError {
    ManagementError::NotFound {
        code: "ResourceNotFound",
        message: format!(
            "The Resource '{APIM_SERVICE_TYPE}/{}' was not found.",
            clip(name)
        ),
    }
}

/// Service names: 1 to 50 letters, digits and hyphens, starting with a letter, not ending with a
/// hyphen (they become the host name `<name>.gateway.<domain>`).
fn validate_service_name(name: &str) -> Result<(), ManagementError> {
    let ok = (1..=50).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(bad(
            "InvalidResourceName",
            format!(
                "The API Management service name '{}' is invalid: it can contain only letters, numbers and hyphens, must start with a letter, must not end with a hyphen, and has 1 to 50 characters.",
                clip(name)
            ),
        ))
    }
}

/// `identity` of a PUT or PATCH.
#[derive(Clone, Debug, Default)]
pub struct ApimIdentityInput {
    /// `None`, `SystemAssigned`, `UserAssigned` or `SystemAssigned, UserAssigned`.
    pub kind: String,
    /// Resource ids of the user-assigned identities.
    pub user_assigned: Vec<String>,
}

/// The body of a service PUT or PATCH that Coffer looks at; read-only and unknown properties
/// (and the SDK's always-sent defaults) are ignored. `None` keeps what is stored.
#[derive(Clone, Debug, Default)]
pub struct ApimServiceInput {
    pub location: Option<String>,
    pub tags: Option<BTreeMap<String, String>>,
    pub sku_name: Option<String>,
    pub sku_capacity: Option<i64>,
    pub publisher_email: Option<String>,
    pub publisher_name: Option<String>,
    /// Absent in the CLI's whole-resource PUT: the identity is kept.
    pub identity: Option<ApimIdentityInput>,
    /// The whole custom host name set; entries marked `BuiltIn` are dropped by the caller.
    pub hostnames: Option<Vec<HostnameInput>>,
    /// `customProperties` that ask for TLS 1.0 or 1.1 on the gateway (`…Protocols.Tls10` = true).
    pub legacy_tls: Vec<String>,
}

/// A user-assigned identity of a service as shown.
#[derive(Clone, Debug)]
pub struct UserIdentityView {
    pub resource_id: String,
    pub principal_id: String,
    pub client_id: String,
}

/// A service as ARM shows it.
#[derive(Clone, Debug)]
pub struct ApimServiceView {
    pub id: String,
    pub name: String,
    pub location: String,
    pub tags: BTreeMap<String, String>,
    pub sku_name: String,
    pub sku_capacity: i64,
    pub publisher_email: String,
    pub publisher_name: String,
    pub created: i64,
    pub gateway_url: String,
    /// `<name>.gateway.<domain>`, without the port.
    pub default_host: String,
    pub identity_type: &'static str,
    pub tenant_id: String,
    pub principal_id: Option<String>,
    pub user_identities: Vec<UserIdentityView>,
    /// Custom host names (the built-in entry is added by the caller from `default_host`).
    pub hostnames: Vec<HostnameView>,
    /// The most recent refused hostname updates, newest last.
    pub failures: Vec<FailureDoc>,
}

impl Coffer {
    fn apim_default_host(&self, name: &str) -> String {
        format!(
            "{}.gateway.{}",
            name.to_ascii_lowercase(),
            self.settings.domain
        )
    }

    fn apim_gateway_url(&self, name: &str) -> String {
        let host = self.apim_default_host(name);
        if self.settings.port == 443 {
            format!("https://{host}")
        } else {
            format!("https://{host}:{}", self.settings.port)
        }
    }

    async fn apim_docs(&self) -> Result<Vec<(ApimDoc, u64)>, ManagementError> {
        self.store
            .list_docs(APIM_SERVICE)
            .await?
            .iter()
            .map(|d| Ok((serde_json::from_slice(&d.body)?, d.revision)))
            .collect()
    }

    async fn apim_doc(&self, id: &str) -> Result<Option<(ApimDoc, u64)>, ManagementError> {
        match self.store.get_doc(APIM_SERVICE, &doc_key(id)).await? {
            Some(d) => Ok(Some((serde_json::from_slice(&d.body)?, d.revision))),
            None => Ok(None),
        }
    }

    async fn apim_write(&self, doc: &ApimDoc, mode: DocMode) -> Result<bool, ManagementError> {
        let w = DocWrite::Put {
            kind: APIM_SERVICE.to_owned(),
            id: doc_key(&doc.id),
            body: serde_json::to_vec(doc)?,
            mode,
        };
        match self.store.write_docs(vec![w]).await {
            Ok(()) => Ok(true),
            Err(StoreError::PreconditionFailed | StoreError::AlreadyExists) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn authorize_apim(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        verb: &str,
    ) -> Result<String, ManagementError> {
        let scope = service_id(&clip(subscription), &clip(rg), &clip(name));
        self.authorize(
            caller,
            subscription,
            &format!("{APIM_SERVICE_TYPE}/{verb}"),
            &scope,
        )
        .await?;
        self.existing_rg(subscription, rg).await?;
        Ok(scope)
    }

    /// The service of `(subscription, rg, name)` after the caller's check.
    async fn existing_apim(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        verb: &str,
    ) -> Result<(ApimDoc, u64), ManagementError> {
        let id = self
            .authorize_apim(caller, subscription, rg, name, verb)
            .await?;
        self.apim_doc(&id).await?.ok_or_else(|| not_found(name))
    }

    async fn apim_view(&self, d: &ApimDoc) -> Result<ApimServiceView, ManagementError> {
        let principal_id = if d.system_identity {
            self.system_identity(&d.id).await?.map(|v| v.principal_id)
        } else {
            None
        };
        let mut user_identities = Vec::new();
        for rid in &d.user_identities {
            if let Some((u, _)) = self.identity_doc(rid).await? {
                user_identities.push(UserIdentityView {
                    resource_id: rid.clone(),
                    principal_id: u.principal_id,
                    client_id: u.client_id,
                });
            }
        }
        Ok(ApimServiceView {
            id: d.id.clone(),
            name: d.name.clone(),
            location: d.location.clone(),
            tags: d.tags.clone(),
            sku_name: d.sku_name.clone(),
            sku_capacity: d.sku_capacity,
            publisher_email: d.publisher_email.clone(),
            publisher_name: d.publisher_name.clone(),
            created: d.created,
            gateway_url: self.apim_gateway_url(&d.name),
            default_host: self.apim_default_host(&d.name),
            identity_type: d.identity_type(),
            tenant_id: d.tenant_id.clone(),
            principal_id,
            user_identities,
            hostnames: d.hostnames.iter().map(HostnameDoc::view).collect(),
            failures: d.failures.clone(),
        })
    }

    /// Creates or replaces a service (PUT). Returns the view and whether it was created.
    pub async fn put_apim_service(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        input: ApimServiceInput,
    ) -> Result<(ApimServiceView, bool), ManagementError> {
        validate_service_name(name)?;
        let id = self
            .authorize_apim(caller, subscription, rg, name, "write")
            .await?;
        self.write_apim(caller, &id, name, input, true).await
    }

    /// Updates a service (PATCH): only the properties given change.
    pub async fn patch_apim_service(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
        input: ApimServiceInput,
    ) -> Result<ApimServiceView, ManagementError> {
        let id = self
            .authorize_apim(caller, subscription, rg, name, "write")
            .await?;
        if self.apim_doc(&id).await?.is_none() {
            return Err(not_found(name));
        }
        Ok(self.write_apim(caller, &id, name, input, false).await?.0)
    }

    async fn write_apim(
        &self,
        caller: &Principal,
        id: &str,
        name: &str,
        input: ApimServiceInput,
        may_create: bool,
    ) -> Result<(ApimServiceView, bool), ManagementError> {
        if let Some(p) = input.legacy_tls.first() {
            return Err(bad(
                "InvalidParameterValue",
                format!(
                    "Custom property '{}' cannot be enabled: Coffer's gateway serves TLS 1.2 and 1.3 only (TLS 1.0 and 1.1 are not offered).",
                    clip(p)
                ),
            ));
        }
        let location = input
            .location
            .as_deref()
            .map(validate_location)
            .transpose()?;
        if let Some(t) = &input.tags {
            validate_tags(t)?;
        }
        let identity = input.identity.as_ref().map(parse_identity).transpose()?;
        for _ in 0..WRITE_ATTEMPTS {
            let existing = self.apim_doc(id).await?;
            let created = existing.is_none();
            let (mut doc, mode) = match existing {
                Some((d, rev)) => (d, DocMode::Update(rev)),
                None if may_create => {
                    let Some(location) = location.clone() else {
                        return Err(bad(
                            "LocationRequired",
                            "The location property is required for this definition.".to_owned(),
                        ));
                    };
                    let (subscription_id, resource_group) = super::scope_parts(id);
                    (
                        ApimDoc {
                            id: id.to_owned(),
                            name: name.to_owned(),
                            subscription_id,
                            resource_group,
                            tenant_id: caller.tenant_id.clone(),
                            location,
                            tags: BTreeMap::new(),
                            sku_name: "Developer".to_owned(),
                            sku_capacity: 1,
                            publisher_email: String::new(),
                            publisher_name: String::new(),
                            created: self.now(),
                            system_identity: false,
                            user_identities: Vec::new(),
                            wrapped_key: B64
                                .encode(self.root.wrap(&DataKey::generate()?, &key_context(id))?),
                            hostnames: Vec::new(),
                            failures: Vec::new(),
                            entities: Entities::default(),
                            etag_counter: 0,
                        },
                        DocMode::Create,
                    )
                }
                None => return Err(not_found(name)),
            };
            if let Some(l) = &location {
                doc.location = l.clone();
            }
            if let Some(t) = &input.tags {
                doc.tags = t.clone();
            }
            if let Some(s) = &input.sku_name {
                doc.sku_name = s.clone();
            }
            if let Some(c) = input.sku_capacity {
                doc.sku_capacity = c;
            }
            if let Some(e) = &input.publisher_email {
                doc.publisher_email = e.clone();
            }
            if let Some(p) = &input.publisher_name {
                doc.publisher_name = p.clone();
            }
            let before_system = doc.system_identity;
            if let Some((system, users)) = &identity {
                for u in users {
                    if self.identity_doc(u).await?.is_none_or(|(d, _)| d.system) {
                        return Err(bad(
                            "InvalidParameterValue",
                            format!("The user-assigned identity '{}' does not exist.", clip(u)),
                        ));
                    }
                }
                doc.system_identity = *system;
                doc.user_identities = users.clone();
            }
            // The system identity exists before the host names are read with it.
            let mut made_identity = false;
            if doc.system_identity && !before_system {
                let (_, header) = self
                    .ensure_system_identity(&doc.tenant_id, &doc.id, &doc.location)
                    .await?;
                made_identity = header.is_some();
            }
            let result = match &input.hostnames {
                Some(list) => self.apply_hostnames(&mut doc, list).await,
                None => self.check_hostnames_keep_identity(&doc).await,
            };
            if let Err(e) = result {
                if made_identity {
                    self.remove_system_identity(&doc.id).await?;
                }
                // Record a refused update so the doctor can explain it (best effort: a write
                // that loses a race only loses the record).
                if let hostnames::HostnameFailure::Recorded(f, _) = &e
                    && !created
                {
                    self.record_apim_failure(id, f.clone()).await?;
                }
                return Err(e.into_error());
            }
            if self.apim_write(&doc, mode).await? {
                if before_system && !doc.system_identity {
                    self.remove_system_identity(&doc.id).await?;
                }
                self.gateway_changed();
                return Ok((self.apim_view(&doc).await?, created));
            }
            if made_identity {
                self.remove_system_identity(&doc.id).await?;
            }
        }
        Err(concurrent())
    }

    async fn record_apim_failure(&self, id: &str, f: FailureDoc) -> Result<(), ManagementError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some((mut doc, rev)) = self.apim_doc(id).await? else {
                return Ok(());
            };
            doc.failures.push(f.clone());
            let excess = doc.failures.len().saturating_sub(MAX_FAILURES);
            doc.failures.drain(..excess);
            if self.apim_write(&doc, DocMode::Update(rev)).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Reads a service.
    pub async fn get_apim_service(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
    ) -> Result<ApimServiceView, ManagementError> {
        let (d, _) = self
            .existing_apim(caller, subscription, rg, name, "read")
            .await?;
        self.apim_view(&d).await
    }

    /// Services of a subscription, or of one of its resource groups.
    pub async fn list_apim_services(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: Option<&str>,
    ) -> Result<Vec<ApimServiceView>, ManagementError> {
        let scope = match rg {
            Some(rg) => rg_id(&clip(subscription), &clip(rg)),
            None => format!("/subscriptions/{}", clip(subscription)),
        };
        self.authorize(
            caller,
            subscription,
            &format!("{APIM_SERVICE_TYPE}/read"),
            &scope,
        )
        .await?;
        if let Some(rg) = rg {
            self.existing_rg(subscription, rg).await?;
        }
        let mut out = Vec::new();
        for (d, _) in self.apim_docs().await? {
            if in_scope(&d.subscription_id, &d.resource_group, subscription, rg) {
                out.push(self.apim_view(&d).await?);
            }
        }
        Ok(out)
    }

    /// Deletes a service with its children and its system-assigned identity; `false` if it did
    /// not exist.
    pub async fn delete_apim_service(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        name: &str,
    ) -> Result<bool, ManagementError> {
        let id = self
            .authorize_apim(caller, subscription, rg, name, "delete")
            .await?;
        match self
            .store
            .write_docs(vec![DocWrite::Delete {
                kind: APIM_SERVICE.to_owned(),
                id: doc_key(&id),
            }])
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        self.remove_system_identity(&id).await?;
        self.gateway_changed();
        Ok(true)
    }

    /// Services of a subscription (or group) as generic resources, for `GET .../resources`.
    pub(in crate::management) async fn apim_resources(
        &self,
        subscription: &str,
        rg: Option<&str>,
    ) -> Result<Vec<crate::GenericResourceView>, ManagementError> {
        Ok(self
            .apim_docs()
            .await?
            .into_iter()
            .filter(|(d, _)| in_scope(&d.subscription_id, &d.resource_group, subscription, rg))
            .map(|(d, _)| crate::GenericResourceView {
                id: d.id,
                name: d.name,
                kind: APIM_SERVICE_TYPE.to_owned(),
                location: d.location,
                tags: d.tags,
            })
            .collect())
    }

    /// Deletes of every service in a resource group, for the group's own delete (their system
    /// identities go with the group's identities, their children with their records).
    pub(in crate::management) async fn apim_deletes_in(
        &self,
        subscription: &str,
        rg: &str,
    ) -> Result<Vec<DocWrite>, ManagementError> {
        Ok(self
            .apim_docs()
            .await?
            .into_iter()
            .filter(|(d, _)| {
                in_scope(
                    &d.subscription_id,
                    &d.resource_group,
                    subscription,
                    Some(rg),
                )
            })
            .map(|(d, _)| DocWrite::Delete {
                kind: APIM_SERVICE.to_owned(),
                id: doc_key(&d.id),
            })
            .collect())
    }

    /// Whether a service name is free (names are global, as host names are).
    pub async fn apim_name_available(&self, name: &str) -> Result<bool, ManagementError> {
        Ok(!self
            .apim_docs()
            .await?
            .iter()
            .any(|(d, _)| d.name.eq_ignore_ascii_case(name)))
    }

    /// The refused hostname updates recorded for the service whose vault request had
    /// `request_id` (for `coffer doctor`), with the service's name.
    pub async fn apim_failure_by_request_id(
        &self,
        request_id: &str,
    ) -> Result<Option<(String, FailureDoc)>, ManagementError> {
        for (d, _) in self.apim_docs().await? {
            if let Some(f) = d
                .failures
                .iter()
                .rev()
                .find(|f| f.request_id.as_deref() == Some(request_id))
            {
                return Ok(Some((d.name.clone(), f.clone())));
            }
        }
        Ok(None)
    }
}

/// `(system, user identity ids)` of an identity input.
fn parse_identity(i: &ApimIdentityInput) -> Result<(bool, Vec<String>), ManagementError> {
    let norm: String = i
        .kind
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let (system, user) = match norm.as_str() {
        "" | "none" => (false, false),
        "systemassigned" => (true, false),
        "userassigned" => (false, true),
        "systemassigned,userassigned" => (true, true),
        _ => {
            return Err(bad(
                "InvalidIdentityType",
                format!(
                    "The identity type '{}' is invalid: use None, SystemAssigned, UserAssigned or 'SystemAssigned, UserAssigned'.",
                    clip(&i.kind)
                ),
            ));
        }
    };
    if user && i.user_assigned.is_empty() {
        return Err(bad(
            "InvalidIdentity",
            "The identity type UserAssigned needs at least one entry in userAssignedIdentities."
                .to_owned(),
        ));
    }
    if !user && !i.user_assigned.is_empty() {
        return Err(bad(
            "InvalidIdentity",
            "userAssignedIdentities is given but the identity type has no UserAssigned.".to_owned(),
        ));
    }
    if i.user_assigned.len() > MAX_USER_IDENTITIES {
        return Err(bad(
            "InvalidIdentity",
            format!("At most {MAX_USER_IDENTITIES} user-assigned identities are allowed."),
        ));
    }
    let mut users: Vec<String> = Vec::new();
    for u in &i.user_assigned {
        if !users.iter().any(|x| x.eq_ignore_ascii_case(u)) {
            users.push(u.clone());
        }
    }
    Ok((system, users))
}
