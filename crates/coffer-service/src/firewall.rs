//! The vault firewall on the request path (after authentication, before the access policy, as
//! Key Vault orders them), with Azure's refusal texts; and the trusted services, the principals
//! that pass a firewall whose `bypass` is `AzureServices`.

use std::net::IpAddr;

use coffer_domain::net::{self, Allowance, Bypass, Denial, FirewallDecision as Verdict};
use coffer_domain::{NetworkAcls, Principal};
use coffer_store::{DocMode, DocWrite};

use crate::audit::{DenyCheck, FirewallDecision};
use crate::directory::clip;
use crate::records::{
    APP, ApplicationDoc, MANAGED_IDENTITY, ManagedIdentityDoc, TRUSTED_SERVICE, TrustedServiceDoc,
    VaultDoc,
};
use crate::request::RequestFacts;
use crate::{Coffer, DirectoryCaller, ServiceError};

/// `innererror.code` of a refusal by the address rules.
pub const FORBIDDEN_BY_FIREWALL: &str = "ForbiddenByFirewall";
/// `innererror.code` of a refusal because public network access is disabled.
pub const FORBIDDEN_BY_CONNECTION: &str = "ForbiddenByConnection";

/// A principal's trusted-service flag, as the directory shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedServiceView {
    pub tenant_id: String,
    pub object_id: String,
    /// `ServicePrincipal` or `ManagedIdentity`.
    pub principal_type: &'static str,
    pub display_name: String,
    pub trusted_service: bool,
}

fn trusted_key(tenant_id: &str, object_id: &str) -> String {
    format!(
        "{}:{}",
        tenant_id.trim().to_ascii_lowercase(),
        object_id.trim().to_ascii_lowercase()
    )
}

impl Coffer {
    /// Judges `client` by the vault's network rules. A trusted service is looked up only when
    /// the rules alone refuse and the bypass could let it in, so allowed traffic costs no read.
    pub(crate) async fn check_firewall(
        &self,
        doc: &VaultDoc,
        acls: &NetworkAcls,
        principal: &Principal,
        client: IpAddr,
        facts: &RequestFacts,
    ) -> Result<(), ServiceError> {
        let mut verdict = net::evaluate(acls, client, false);
        if !verdict.is_allowed()
            && acls.bypass == Bypass::AzureServices
            && self.is_trusted_service(principal).await?
        {
            verdict = net::evaluate(acls, client, true);
        }
        facts.update(|f| f.firewall = Some(audit_decision(verdict, acls)));
        let vault = format!("{};location={}", doc.name, doc.location);
        match verdict {
            Verdict::Allowed(_) => Ok(()),
            Verdict::Denied(Denial::NotInIpRules) => {
                facts.deny(DenyCheck::Firewall, FORBIDDEN_BY_FIREWALL);
                Err(ServiceError::Firewall {
                    message: format!(
                        "Client address is not authorized and caller is not a trusted service.\r\nClient address: {}\r\nCaller: {}\r\nVault: {vault}",
                        client.to_canonical(),
                        principal.describe()
                    ),
                    inner_code: FORBIDDEN_BY_FIREWALL,
                })
            }
            Verdict::Denied(Denial::PublicNetworkAccessDisabled) => {
                facts.deny(DenyCheck::Firewall, FORBIDDEN_BY_CONNECTION);
                Err(ServiceError::Firewall {
                    message: format!(
                        "Public network access is disabled and request is not from a trusted service nor via an approved private link.\r\nCaller: {}\r\nVault: {vault}",
                        principal.describe()
                    ),
                    inner_code: FORBIDDEN_BY_CONNECTION,
                })
            }
        }
    }

    /// Whether the caller is flagged as a trusted service. Only a token of the principal itself
    /// counts: a user calling through a trusted application is not the application.
    /// The system-assigned identity of an API Management service counts without a flag, decided
    /// from the identity record (a token's claims alone prove nothing about its owner).
    pub(crate) async fn is_trusted_service(&self, p: &Principal) -> Result<bool, ServiceError> {
        if self
            .store
            .get_doc(TRUSTED_SERVICE, &trusted_key(&p.tenant_id, &p.object_id))
            .await?
            .is_some()
        {
            return Ok(true);
        }
        for d in self.store.list_docs(MANAGED_IDENTITY).await? {
            let mi: ManagedIdentityDoc = serde_json::from_slice(&d.body)?;
            if mi.system
                && mi.tenant_id.eq_ignore_ascii_case(&p.tenant_id)
                && mi.principal_id.eq_ignore_ascii_case(&p.object_id)
                && p.app_id
                    .as_deref()
                    .is_some_and(|a| a.eq_ignore_ascii_case(&mi.client_id))
                && mi
                    .resource_id
                    .to_ascii_lowercase()
                    .contains("/providers/microsoft.apimanagement/service/")
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The service principal or managed identity with object id `object_id` in the caller's
    /// tenant, with its flag.
    pub async fn trusted_service(
        &self,
        caller: &DirectoryCaller,
        object_id: &str,
    ) -> Result<TrustedServiceView, ServiceError> {
        let (principal_type, display_name) = self
            .service_principal_kind(&caller.tenant_id, object_id)
            .await?;
        let flagged = self
            .store
            .get_doc(TRUSTED_SERVICE, &trusted_key(&caller.tenant_id, object_id))
            .await?
            .is_some();
        Ok(TrustedServiceView {
            tenant_id: caller.tenant_id.to_ascii_lowercase(),
            object_id: object_id.trim().to_ascii_lowercase(),
            principal_type,
            display_name,
            trusted_service: flagged,
        })
    }

    /// Flags (or unflags) a service principal or managed identity of the caller's tenant as a
    /// trusted service. Only directory administrators may; the change applies to the next
    /// request.
    pub async fn set_trusted_service(
        &self,
        caller: &DirectoryCaller,
        object_id: &str,
        trusted: bool,
    ) -> Result<TrustedServiceView, ServiceError> {
        caller.require_admin()?;
        let (principal_type, display_name) = self
            .service_principal_kind(&caller.tenant_id, object_id)
            .await?;
        let key = trusted_key(&caller.tenant_id, object_id);
        let existing = self.store.get_doc(TRUSTED_SERVICE, &key).await?;
        let write = match (trusted, existing) {
            (true, None) => Some(DocWrite::Put {
                kind: TRUSTED_SERVICE.to_owned(),
                id: key,
                body: serde_json::to_vec(&TrustedServiceDoc {
                    tenant_id: caller.tenant_id.to_ascii_lowercase(),
                    object_id: object_id.trim().to_ascii_lowercase(),
                    principal_type: principal_type.to_owned(),
                    since: self.now(),
                })?,
                mode: DocMode::Overwrite,
            }),
            (false, Some(_)) => Some(DocWrite::Delete {
                kind: TRUSTED_SERVICE.to_owned(),
                id: key,
            }),
            _ => None,
        };
        if let Some(w) = write {
            match self.store.write_docs(vec![w]).await {
                Ok(()) | Err(coffer_store::StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(TrustedServiceView {
            tenant_id: caller.tenant_id.to_ascii_lowercase(),
            object_id: object_id.trim().to_ascii_lowercase(),
            principal_type,
            display_name,
            trusted_service: trusted,
        })
    }

    /// What kind of principal `object_id` is in `tenant_id`, and its display name; 404 when it
    /// is neither a service principal nor a managed identity.
    async fn service_principal_kind(
        &self,
        tenant_id: &str,
        object_id: &str,
    ) -> Result<(&'static str, String), ServiceError> {
        let oid = object_id.trim();
        let prefix = format!("{}:", tenant_id.to_ascii_lowercase());
        for d in self.store.list_docs(APP).await? {
            if !d.id.starts_with(&prefix) {
                continue;
            }
            let app: ApplicationDoc = serde_json::from_slice(&d.body)?;
            if app.object_id.eq_ignore_ascii_case(oid) {
                return Ok(("ServicePrincipal", app.display_name));
            }
        }
        for d in self.store.list_docs(MANAGED_IDENTITY).await? {
            let mi: ManagedIdentityDoc = serde_json::from_slice(&d.body)?;
            if mi.tenant_id.eq_ignore_ascii_case(tenant_id)
                && mi.principal_id.eq_ignore_ascii_case(oid)
            {
                return Ok(("ManagedIdentity", mi.name));
            }
        }
        Err(ServiceError::NotFound {
            message: format!(
                "No service principal or managed identity with object id '{}' exists in tenant '{}'.",
                clip(oid, 64),
                clip(tenant_id, 64)
            ),
            code: "Request_ResourceNotFound",
        })
    }
}

/// The verdict as the audit log records it: which rule or bypass decided.
fn audit_decision(v: Verdict, acls: &NetworkAcls) -> FirewallDecision {
    match v {
        Verdict::Allowed(Allowance::DefaultAction) => FirewallDecision::DefaultAllow,
        Verdict::Allowed(Allowance::IpRule(i)) => FirewallDecision::IpRule(
            acls.ip_rules
                .get(i)
                .map(ToString::to_string)
                .unwrap_or_default(),
        ),
        Verdict::Allowed(Allowance::TrustedService) => FirewallDecision::TrustedServiceBypass,
        Verdict::Denied(Denial::NotInIpRules) => FirewallDecision::DefaultDeny,
        Verdict::Denied(Denial::PublicNetworkAccessDisabled) => {
            FirewallDecision::PublicNetworkDisabled
        }
    }
}

#[cfg(test)]
mod tests {
    use coffer_domain::IpRule;
    use coffer_domain::net::{DefaultAction, PublicNetworkAccess};

    use super::*;

    #[test]
    fn verdicts_name_the_rule_that_decided() {
        let acls = NetworkAcls {
            default_action: DefaultAction::Deny,
            bypass: Bypass::None,
            ip_rules: vec![
                IpRule::parse("10.0.0.0/8").unwrap(),
                IpRule::parse("192.0.2.7").unwrap(),
            ],
            public_network_access: PublicNetworkAccess::Enabled,
        };
        let table = [
            (
                Verdict::Allowed(Allowance::IpRule(1)),
                FirewallDecision::IpRule("192.0.2.7/32".into()),
            ),
            (
                Verdict::Allowed(Allowance::DefaultAction),
                FirewallDecision::DefaultAllow,
            ),
            (
                Verdict::Allowed(Allowance::TrustedService),
                FirewallDecision::TrustedServiceBypass,
            ),
            (
                Verdict::Denied(Denial::NotInIpRules),
                FirewallDecision::DefaultDeny,
            ),
            (
                Verdict::Denied(Denial::PublicNetworkAccessDisabled),
                FirewallDecision::PublicNetworkDisabled,
            ),
        ];
        for (verdict, want) in table {
            assert_eq!(audit_decision(verdict, &acls), want);
        }
        assert_eq!(trusted_key(" T ", "OID"), "t:oid");
    }
}
