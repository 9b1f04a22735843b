//! `coffer doctor`: why a request to a vault failed, and what fixes it. From an audit record
//! (by request id) or from a token and the operation it is for, it gathers the vault's current
//! settings, the caller, the directory's view of the principals the policies name and, when
//! asked, the object's state, and hands them to the pure reasoning in `coffer_domain::diagnosis`.

use std::collections::HashMap;
use std::net::IpAddr;

use coffer_domain::diagnosis::{
    DiagnosisInput, DirectoryEntry, Finding, ObjectState, Throttled, diagnose,
};
use coffer_domain::{Permission, Principal, VaultOp};
use coffer_store::{ObjectKind, ObjectRef};
use serde::Deserialize;

use crate::management::ManagementError;
use crate::records::{APP, ApplicationDoc, MANAGED_IDENTITY, ManagedIdentityDoc, USER, UserDoc};
use crate::{Coffer, ServiceError};

/// What to diagnose: a logged request, or a token for an operation.
#[derive(Debug, Default, Clone)]
pub struct DoctorRequest {
    pub request_id: Option<String>,
    pub token: Option<String>,
    /// An audit operation name such as `SecretGet`; `SecretGet` when absent.
    pub operation: Option<String>,
    pub address: Option<IpAddr>,
    /// The object the request named (a secret, key or certificate name).
    pub object: Option<String>,
}

/// The doctor's answer.
#[derive(Debug)]
pub struct DoctorReport {
    pub vault: String,
    pub operation: &'static str,
    /// `appid=...;oid=...;iss=...`, when the caller is known.
    pub caller: Option<String>,
    pub address: Option<String>,
    /// The logged status, when diagnosing a logged request.
    pub status: Option<u16>,
    pub findings: Vec<Finding>,
    /// For a gateway's refused certificate read: which service, identity and secret.
    pub gateway: Option<String>,
}

/// The attributes every object family keeps in its version metadata.
#[derive(Deserialize)]
struct Lifetime {
    enabled: bool,
    nbf: Option<i64>,
    exp: Option<i64>,
}

/// The vault name of a secret URL (`https://<vault>.vault.<domain>/secrets/...`).
fn vault_of_url(url: &str) -> &str {
    url.trim_start_matches("https://")
        .split(['.', '/', ':'])
        .next()
        .unwrap_or_default()
}

/// The secret name of a secret URL.
fn secret_of_url(url: &str) -> Option<String> {
    let path = url.trim_start_matches("https://").split_once('/')?.1;
    let mut segs = path.split('/');
    (segs.next()? == "secrets").then_some(())?;
    segs.next().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn bad(m: String) -> ManagementError {
    ManagementError::from(ServiceError::BadParameter(m))
}

fn operation(name: Option<&str>) -> Result<VaultOp, ManagementError> {
    let name = name.unwrap_or("SecretGet");
    VaultOp::ALL
        .iter()
        .copied()
        .find(|o| o.audit_name().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            bad(format!(
                "Unknown operation '{}': use a Key Vault audit operation name such as SecretGet, KeySign or CertificateGet.",
                name.chars().take(60).collect::<String>()
            ))
        })
}

impl Coffer {
    /// Diagnoses a request to vault `vault`; the caller must belong to the vault's tenant.
    pub async fn vault_doctor(
        &self,
        caller: &Principal,
        subscription: &str,
        rg: &str,
        vault: &str,
        req: DoctorRequest,
    ) -> Result<DoctorReport, ManagementError> {
        let doc = self
            .vault_for_diagnostics(caller, subscription, rg, vault)
            .await?;
        self.require_vault_tenant(caller, &doc, "diagnose requests to")?;
        let domain = crate::vaults::to_domain(&doc);
        let mut op = operation(req.operation.as_deref())?;
        let mut address = req.address;
        let mut object = req.object.clone();
        let mut status = None;
        let mut principal: Option<Principal> = None;
        let mut token_error: Option<String> = None;
        let mut throttled: Option<(String, u64, bool)> = None;
        // A gateway's refused certificate read is recorded by the gateway too, so it can be
        // explained with the vault's audit log off.
        let gateway_failure = match &req.request_id {
            Some(id) => self
                .apim_failure_by_request_id(id)
                .await?
                .filter(|(_, f)| vault_of_url(&f.secret_url).eq_ignore_ascii_case(&doc.name)),
            None => None,
        };
        let gateway = gateway_failure.as_ref().map(|(svc, f)| {
            format!(
                "API Management service '{svc}' read secret {} with its {} identity (clientId {}, objectId {}); the vault answered {}.",
                f.secret_url,
                f.identity_type,
                f.client_id,
                f.object_id,
                f.status.map_or_else(|| "nothing".to_owned(), |s| s.to_string())
            )
        });
        if let Some(id) = &req.request_id {
            let logged = match self.audit_log() {
                Some(log) => log
                    .find_request(id)
                    .await
                    .map_err(|e| ManagementError::from(ServiceError::Internal(e.to_string())))?
                    .filter(|l| l.vault.eq_ignore_ascii_case(&doc.name)),
                None => None,
            };
            let logged = match (logged, &gateway_failure) {
                (Some(l), _) => Some(l),
                (None, Some((_, f))) => {
                    principal = Some(Principal {
                        tenant_id: doc.tenant_id.clone(),
                        object_id: f.object_id.clone(),
                        app_id: Some(f.client_id.clone()),
                        issuer: String::new(),
                    });
                    status = f.status;
                    object = object.or_else(|| secret_of_url(&f.secret_url));
                    None
                }
                (None, None) if self.audit_log().is_none() => {
                    return Err(ManagementError::Conflict {
                        code: "AuditLogNotConfigured",
                        message: "This Coffer instance keeps no audit log, so requests cannot be looked up by id.".to_owned(),
                    });
                }
                (None, None) => {
                    return Err(ManagementError::from(ServiceError::NotFound {
                        message: format!(
                            "No audit record of request '{}' exists for vault '{}'. Is its diagnostic setting on (coffer vault diagnostics set --name {})?",
                            id.chars().take(64).collect::<String>(),
                            doc.name,
                            doc.name
                        ),
                        code: "AuditRecordNotFound",
                    }));
                }
            };
            if let Some(logged) = logged {
                let e = logged.event;
                if let Some(o) = VaultOp::ALL
                    .iter()
                    .find(|o| o.audit_name() == e.operation_name)
                {
                    op = *o;
                }
                status = Some(e.properties.http_status_code);
                let injected = e
                    .properties
                    .deny_reason
                    .as_ref()
                    .is_some_and(|d| d.id == "InjectedFault");
                throttled = match &e.properties.throttling {
                    Some(t) => Some((t.limit.clone(), t.retry_after_seconds, injected)),
                    None if injected => Some((String::new(), 1, true)),
                    None => None,
                };
                address = address.or_else(|| e.caller_ip_address.parse().ok());
                object = object.or_else(|| object_of(&e.properties.request_uri));
                if e.properties.http_status_code == 401 {
                    token_error = Some(e.result_description.unwrap_or_default());
                } else if let Some(claim) = e.identity.map(|i| i.claim) {
                    principal = Some(Principal {
                        tenant_id: claim.tid.unwrap_or_else(|| doc.tenant_id.clone()),
                        object_id: claim.oid.unwrap_or_default(),
                        app_id: claim.appid,
                        issuer: String::new(),
                    });
                }
            }
        } else if let Some(t) = &req.token {
            match self.authenticate(Some(&format!("Bearer {}", t.trim())), &doc) {
                Ok((p, _)) => principal = Some(p),
                Err(ServiceError::Unauthenticated { error, .. }) => {
                    token_error = Some(error.to_string());
                }
                Err(e) => return Err(e.into()),
            }
        } else {
            return Err(bad(
                "Name a request (its x-ms-request-id) or give the caller's token (--token)."
                    .to_owned(),
            ));
        }
        let directory = self.directory_entries(&doc.tenant_id).await?;
        let trusted = match &principal {
            Some(p) => self.is_trusted_service(p).await?,
            None => false,
        };
        let policy_entries: Vec<DirectoryEntry> = domain
            .access_policies
            .iter()
            .filter_map(|p| directory.get(&p.object_id.to_ascii_lowercase()).cloned())
            .collect();
        let caller_entry = principal
            .as_ref()
            .and_then(|p| directory.get(&p.object_id.to_ascii_lowercase()));
        let state = match (&object, op.permission()) {
            (Some(name), Some(p)) => Some(self.object_state(&doc.id, p, name).await?),
            _ => None,
        };
        let findings = diagnose(&DiagnosisInput {
            vault: &domain,
            caller: principal.as_ref(),
            token_error: token_error.as_deref(),
            caller_entry,
            trusted_service: trusted,
            address,
            op,
            policy_entries: &policy_entries,
            object: object.as_deref().zip(state),
            throttled: throttled
                .as_ref()
                .map(|(limit, retry, injected)| Throttled {
                    limit,
                    retry_after_secs: *retry,
                    injected: *injected,
                }),
        });
        Ok(DoctorReport {
            vault: doc.name.clone(),
            operation: op.audit_name(),
            caller: principal.as_ref().map(|p| {
                format!(
                    "appid={};oid={}",
                    p.app_id.as_deref().unwrap_or(""),
                    p.object_id
                )
            }),
            address: address.map(|a| a.to_string()),
            status,
            findings,
            gateway,
        })
    }

    /// Service principals, managed identities and users of a tenant, by object id.
    async fn directory_entries(
        &self,
        tenant_id: &str,
    ) -> Result<HashMap<String, DirectoryEntry>, ServiceError> {
        let mut out = HashMap::new();
        for d in self.store.list_docs(APP).await? {
            let a: ApplicationDoc = crate::directory::decode_app(&d.body)?;
            if a.tenant_id.eq_ignore_ascii_case(tenant_id) {
                out.insert(
                    a.object_id.to_ascii_lowercase(),
                    DirectoryEntry {
                        application_object_id: Some(a.app_object_id.clone()),
                        object_id: a.object_id,
                        display_name: a.display_name,
                        app_id: Some(a.app_id),
                    },
                );
            }
        }
        for d in self.store.list_docs(MANAGED_IDENTITY).await? {
            let m: ManagedIdentityDoc = serde_json::from_slice(&d.body)?;
            if m.tenant_id.eq_ignore_ascii_case(tenant_id) {
                out.insert(
                    m.principal_id.to_ascii_lowercase(),
                    DirectoryEntry {
                        object_id: m.principal_id,
                        display_name: m.name,
                        app_id: Some(m.client_id),
                        application_object_id: None,
                    },
                );
            }
        }
        for d in self.store.list_docs(USER).await? {
            let u: UserDoc = serde_json::from_slice(&d.body)?;
            if u.tenant_id.eq_ignore_ascii_case(tenant_id) {
                out.insert(
                    u.object_id.to_ascii_lowercase(),
                    DirectoryEntry {
                        object_id: u.object_id,
                        display_name: u.display_name,
                        app_id: None,
                        application_object_id: None,
                    },
                );
            }
        }
        Ok(out)
    }

    /// Where the object `name` of the family `p` names stands in vault `vault_id`.
    async fn object_state(
        &self,
        vault_id: &str,
        p: Permission,
        name: &str,
    ) -> Result<ObjectState, ServiceError> {
        let kind = match p {
            Permission::Key(_) => ObjectKind::Key,
            Permission::Certificate(_) => ObjectKind::Certificate,
            _ => ObjectKind::Secret,
        };
        let o = ObjectRef {
            vault: vault_id.to_owned(),
            kind,
            name: name.to_ascii_lowercase(),
        };
        if let Some(v) = self.store.get_version(&o, None).await? {
            let m: Lifetime = serde_json::from_slice(&v.meta)?;
            let now = self.now();
            return Ok(if !m.enabled {
                ObjectState::Disabled
            } else if m.exp.is_some_and(|e| now >= e) {
                ObjectState::Expired
            } else if m.nbf.is_some_and(|n| now < n) {
                ObjectState::NotYetValid
            } else {
                ObjectState::Active
            });
        }
        Ok(if self.store.get_deleted(&o).await?.is_some() {
            ObjectState::Deleted
        } else {
            ObjectState::Missing
        })
    }
}

/// The object name in a logged request URI (`https://v.vault.d/secrets/name/version?...`).
fn object_of(uri: &str) -> Option<String> {
    let path = uri.split('?').next()?;
    let after_host = path.split("://").nth(1).unwrap_or(path);
    let mut segs = after_host.split('/').skip(1);
    let family = segs.next()?;
    let name = segs.next().filter(|n| !n.is_empty())?;
    matches!(
        family,
        "secrets"
            | "keys"
            | "certificates"
            | "deletedsecrets"
            | "deletedkeys"
            | "deletedcertificates"
    )
    .then(|| name.to_owned())
    .filter(|n| !matches!(n.as_str(), "restore" | "contacts" | "issuers"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names_from_logged_uris() {
        assert_eq!(
            object_of("https://dev.vault.localhost:8443/secrets/db/abc?api-version=7.6"),
            Some("db".into())
        );
        assert_eq!(
            object_of("https://dev.vault.localhost/keys/k//sign"),
            Some("k".into())
        );
        assert_eq!(
            object_of("https://dev.vault.localhost/secrets?api-version=7.6"),
            None
        );
        assert_eq!(
            object_of("https://dev.vault.localhost/secrets/restore"),
            None
        );
        assert_eq!(object_of("https://dev.vault.localhost/rng"), None);
    }

    #[test]
    fn operations_by_audit_name() {
        assert_eq!(operation(None).unwrap(), VaultOp::SecretGet);
        assert_eq!(operation(Some("keysign")).unwrap(), VaultOp::KeySign);
        assert!(operation(Some("Explode")).is_err());
    }
}
