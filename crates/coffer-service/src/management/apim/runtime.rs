//! What the gateway runtime reads: the served configuration built from the service records
//! (certificates unsealed), and the refresh pass that reads versionless vault certificates
//! again, swapping in a new version and keeping the last good one when a read fails.

use std::sync::Arc;

use coffer_domain::gateway::{
    CertificateMaterial, GatewayApi, GatewayBackend, GatewayOperation, GatewayService,
    GatewaySubscription, HostnameType, ServedHostname, SubscriptionScope,
};
use coffer_store::DocMode;

use super::entities::LastStatus;
use super::hostnames::parse_secret_url;
use super::{ApimDoc, WRITE_ATTEMPTS};
use crate::Coffer;
use crate::management::ManagementError;

impl Coffer {
    /// Every service as the gateway serves it. A certificate that cannot be opened leaves its
    /// host name out (and is logged), never the whole configuration.
    pub(crate) async fn apim_gateway_services(
        &self,
    ) -> Result<Vec<GatewayService>, ManagementError> {
        let mut out = Vec::new();
        for (d, _) in self.apim_docs().await? {
            out.push(self.gateway_service(&d)?);
        }
        Ok(out)
    }

    fn gateway_service(&self, d: &ApimDoc) -> Result<GatewayService, ManagementError> {
        let key = d.data_key(self)?;
        let open = |c: &super::hostnames::StoredCert| -> Option<Arc<CertificateMaterial>> {
            match c.open(&key, &d.id) {
                Ok(m) => Some(Arc::new(m)),
                Err(e) => {
                    tracing::warn!(service = %d.name, error = %e, "a gateway certificate could not be opened");
                    None
                }
            }
        };
        let hostnames = d
            .hostnames
            .iter()
            .filter_map(|h| {
                Some(ServedHostname {
                    host: h.host_name.clone(),
                    kind: HostnameType::parse(&h.kind)?,
                    default_ssl_binding: h.default_ssl_binding,
                    negotiate_client_certificate: h.negotiate_client_certificate,
                    certificate: open(&h.cert)?,
                })
            })
            .collect();
        let e = &d.entities;
        let apis = e
            .apis
            .iter()
            .map(|(k, a)| GatewayApi {
                id: a.name.clone(),
                path: a.path.clone(),
                service_url: a.service_url.clone(),
                subscription_required: a.subscription_required,
                subscription_key_header: a.key_header.clone(),
                subscription_key_query: a.key_query.clone(),
                operations: a
                    .operations
                    .values()
                    .map(|o| GatewayOperation {
                        id: o.name.clone(),
                        method: o.method.clone(),
                        url_template: o.url_template.clone(),
                    })
                    .collect(),
                products: e
                    .products
                    .values()
                    .filter(|p| p.apis.contains(k))
                    .map(|p| p.name.clone())
                    .collect(),
            })
            .collect();
        let mut subscriptions = Vec::new();
        for s in e.subscriptions.values() {
            let keys = s.keys(d, self)?;
            let scope = match s.scope.split('/').collect::<Vec<_>>().as_slice() {
                ["", "apis", id] => SubscriptionScope::Api(
                    e.apis
                        .get(&id.to_ascii_lowercase())
                        .map_or_else(|| (*id).to_owned(), |a| a.name.clone()),
                ),
                ["", "products", id] => SubscriptionScope::Product(
                    e.products
                        .get(&id.to_ascii_lowercase())
                        .map_or_else(|| (*id).to_owned(), |p| p.name.clone()),
                ),
                _ => SubscriptionScope::AllApis,
            };
            subscriptions.push(GatewaySubscription {
                id: s.name.clone(),
                scope,
                primary_key: keys.primary_key,
                secondary_key: keys.secondary_key,
                active: s.state == "active",
            });
        }
        let backends = e
            .backends
            .values()
            .map(|b| GatewayBackend {
                id: b.name.clone(),
                url: b.url.clone(),
                validate_certificate_chain: b.validate_chain,
                validate_certificate_name: b.validate_name,
                client_certificate: b.certificate_ids.first().and_then(|c| {
                    let id = c.trim_end_matches('/').rsplit('/').next().unwrap_or(c);
                    e.certificates
                        .get(&id.to_ascii_lowercase())
                        .and_then(|c| open(&c.cert))
                }),
            })
            .collect();
        Ok(GatewayService {
            name: d.name.clone(),
            resource_id: d.id.clone(),
            default_host: self.apim_default_host(&d.name),
            hostnames,
            apis,
            subscriptions,
            backends,
        })
    }

    /// Refreshes every service; whether anything served changed.
    pub(crate) async fn refresh_all_apim(&self) -> Result<bool, ManagementError> {
        let mut changed = false;
        for (d, _) in self.apim_docs().await? {
            changed |= self.refresh_apim_service(&d.id).await?;
        }
        Ok(changed)
    }

    /// Reads again the versionless vault certificates of one service (host names and
    /// certificate entities). Returns whether a served certificate changed.
    pub(crate) async fn refresh_apim_service(&self, id: &str) -> Result<bool, ManagementError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some((mut doc, rev)) = self.apim_doc(id).await? else {
                return Ok(false);
            };
            let snapshot = doc.clone();
            let key = doc.data_key(self)?;
            let mut served_changed = false;
            for h in &mut doc.hostnames {
                let Some(url) = h.key_vault_id.clone() else {
                    continue;
                };
                if !matches!(parse_secret_url(self, &url), Ok((_, _, None))) {
                    continue;
                }
                match self
                    .apim_fetch(
                        &snapshot,
                        &url,
                        h.identity_client_id.as_deref(),
                        Some(&h.host_name),
                    )
                    .await
                {
                    Ok(f) => {
                        if f.thumbprint != h.cert.thumbprint || f.version != h.cert.version {
                            served_changed |= f.thumbprint != h.cert.thumbprint;
                            h.cert = f.seal(&key, &snapshot.id)?;
                        }
                        h.failed = None;
                    }
                    Err(e) => {
                        let reason = e.message();
                        tracing::warn!(service = %snapshot.name, host = %h.host_name, reason = %reason, "gateway certificate refresh failed; the last good certificate keeps serving");
                        h.failed = Some(reason);
                    }
                }
            }
            for c in doc.entities.certificates.values_mut() {
                let Some(kv) = c.key_vault.as_mut() else {
                    continue;
                };
                let url = kv.secret_identifier.clone();
                let versionless = matches!(parse_secret_url(self, &url), Ok((_, _, None)));
                if !versionless {
                    continue;
                }
                match self
                    .apim_fetch(&snapshot, &url, kv.identity_client_id.as_deref(), None)
                    .await
                {
                    Ok(f) => {
                        if f.thumbprint != c.cert.thumbprint || f.version != c.cert.version {
                            served_changed |= f.thumbprint != c.cert.thumbprint;
                            c.cert = f.seal(&key, &snapshot.id)?;
                        }
                        kv.last_status = Some(LastStatus {
                            code: "Success".to_owned(),
                            message: "The certificate was read from Key Vault.".to_owned(),
                            at: self.now(),
                        });
                    }
                    Err(e) => {
                        kv.last_status = Some(LastStatus {
                            code: "Failed".to_owned(),
                            message: e.message(),
                            at: self.now(),
                        });
                    }
                }
            }
            let unchanged = serde_json::to_vec(&doc)? == serde_json::to_vec(&snapshot)?;
            if unchanged {
                return Ok(false);
            }
            if self.apim_write(&doc, DocMode::Update(rev)).await? {
                if served_changed {
                    self.gateway_changed();
                }
                return Ok(served_changed);
            }
        }
        Ok(false)
    }
}
