//! Certificate contacts (one list per vault) and certificate issuers (per vault, by name).

use coffer_domain::VaultOp;
use coffer_store::{DocMode, DocWrite, StoreError};

use super::policy::{CertificateIssuer, Contact};
use crate::{Coffer, ServiceError, VaultSession};

pub(crate) const CERT_CONTACTS: &str = "cert-contacts";
pub(crate) const CERT_ISSUER: &str = "cert-issuer";

fn issuer_id(s: &VaultSession, name: &str) -> String {
    format!("{}/{}", s.doc.id, name.to_ascii_lowercase())
}

fn contacts_not_found() -> ServiceError {
    ServiceError::NotFound {
        message: "Contacts not found".to_owned(),
        code: "ContactsNotFound",
    }
}

fn issuer_not_found(name: &str) -> ServiceError {
    ServiceError::NotFound {
        message: format!("CertificateIssuer not found: {name}"),
        code: "CertificateIssuerNotFound",
    }
}

fn valid_issuer_name(name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name.len() <= 127
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok && !name.eq_ignore_ascii_case("self") && !name.eq_ignore_ascii_case("unknown") {
        Ok(())
    } else {
        Err(ServiceError::BadParameter(format!(
            "Invalid issuer name '{}': 1-127 letters, digits and hyphens, and not Self or Unknown.",
            name.chars().take(60).collect::<String>()
        )))
    }
}

impl Coffer {
    async fn put_doc(&self, kind: &str, id: String, body: Vec<u8>) -> Result<(), ServiceError> {
        self.store
            .write_docs(vec![DocWrite::Put {
                kind: kind.to_owned(),
                id,
                body,
                mode: DocMode::Overwrite,
            }])
            .await?;
        Ok(())
    }

    async fn delete_doc(&self, kind: &str, id: String) -> Result<bool, ServiceError> {
        match self
            .store
            .write_docs(vec![DocWrite::Delete {
                kind: kind.to_owned(),
                id,
            }])
            .await
        {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /certificates/contacts`.
    pub async fn get_certificate_contacts(
        &self,
        s: &VaultSession,
    ) -> Result<Vec<Contact>, ServiceError> {
        s.require(VaultOp::CertificateContactsGet)?;
        match self.store.get_doc(CERT_CONTACTS, &s.doc.id).await? {
            Some(d) => Ok(serde_json::from_slice(&d.body)?),
            None => Err(contacts_not_found()),
        }
    }

    /// `PUT /certificates/contacts`.
    pub async fn set_certificate_contacts(
        &self,
        s: &VaultSession,
        contacts: Vec<Contact>,
    ) -> Result<Vec<Contact>, ServiceError> {
        s.require(VaultOp::CertificateContactsSet)?;
        if contacts.len() > 100 {
            return Err(ServiceError::BadParameter(
                "A vault can have at most 100 certificate contacts.".to_owned(),
            ));
        }
        for c in &contacts {
            if c.email
                .as_deref()
                .is_none_or(|e| !e.contains('@') || e.len() > 254)
            {
                return Err(ServiceError::BadParameter(
                    "Each certificate contact needs a valid email address.".to_owned(),
                ));
            }
        }
        self.put_doc(
            CERT_CONTACTS,
            s.doc.id.clone(),
            serde_json::to_vec(&contacts)?,
        )
        .await?;
        Ok(contacts)
    }

    /// `DELETE /certificates/contacts`: returns the contacts that were removed.
    pub async fn delete_certificate_contacts(
        &self,
        s: &VaultSession,
    ) -> Result<Vec<Contact>, ServiceError> {
        s.require(VaultOp::CertificateContactsDelete)?;
        let old: Vec<Contact> = match self.store.get_doc(CERT_CONTACTS, &s.doc.id).await? {
            Some(d) => serde_json::from_slice(&d.body)?,
            None => return Err(contacts_not_found()),
        };
        self.delete_doc(CERT_CONTACTS, s.doc.id.clone()).await?;
        Ok(old)
    }

    pub(super) async fn get_issuer_doc(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<Option<CertificateIssuer>, ServiceError> {
        match self.store.get_doc(CERT_ISSUER, &issuer_id(s, name)).await? {
            Some(d) => Ok(Some(serde_json::from_slice(&d.body)?)),
            None => Ok(None),
        }
    }

    /// `GET /certificates/issuers`.
    pub async fn list_certificate_issuers(
        &self,
        s: &VaultSession,
    ) -> Result<Vec<CertificateIssuer>, ServiceError> {
        s.require(VaultOp::CertificateIssuerList)?;
        let prefix = format!("{}/", s.doc.id);
        let mut out = Vec::new();
        for d in self.store.list_docs(CERT_ISSUER).await? {
            if d.id.starts_with(&prefix) {
                out.push(serde_json::from_slice(&d.body)?);
            }
        }
        Ok(out)
    }

    /// `GET /certificates/issuers/{name}`.
    pub async fn get_certificate_issuer(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<CertificateIssuer, ServiceError> {
        s.require(VaultOp::CertificateIssuerGet)?;
        self.get_issuer_doc(s, name)
            .await?
            .ok_or_else(|| issuer_not_found(name))
    }

    /// `PUT /certificates/issuers/{name}` (replace) and `PATCH` (fields given change).
    pub async fn set_certificate_issuer(
        &self,
        s: &VaultSession,
        name: &str,
        mut issuer: CertificateIssuer,
        patch: bool,
    ) -> Result<CertificateIssuer, ServiceError> {
        s.require(if patch {
            VaultOp::CertificateIssuerUpdate
        } else {
            VaultOp::CertificateIssuerSet
        })?;
        valid_issuer_name(name)?;
        let now = self.vault_now(s);
        let old = self.get_issuer_doc(s, name).await?;
        if patch {
            let Some(old) = old else {
                return Err(issuer_not_found(name));
            };
            issuer = CertificateIssuer {
                name: old.name,
                provider: if issuer.provider.is_empty() {
                    old.provider
                } else {
                    issuer.provider
                },
                account_id: issuer.account_id.or(old.account_id),
                organization_id: issuer.organization_id.or(old.organization_id),
                admins: if issuer.admins.is_empty() {
                    old.admins
                } else {
                    issuer.admins
                },
                enabled: issuer.enabled,
                created: old.created,
                updated: now,
            };
        } else {
            if issuer.provider.trim().is_empty() {
                return Err(ServiceError::BadParameter(
                    "A certificate issuer needs a provider.".to_owned(),
                ));
            }
            issuer.name = name.to_owned();
            issuer.created = old.map_or(now, |o| o.created);
            issuer.updated = now;
        }
        self.put_doc(
            CERT_ISSUER,
            issuer_id(s, name),
            serde_json::to_vec(&issuer)?,
        )
        .await?;
        Ok(issuer)
    }

    /// `DELETE /certificates/issuers/{name}`: returns the issuer removed.
    pub async fn delete_certificate_issuer(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<CertificateIssuer, ServiceError> {
        s.require(VaultOp::CertificateIssuerDelete)?;
        let old = self
            .get_issuer_doc(s, name)
            .await?
            .ok_or_else(|| issuer_not_found(name))?;
        self.delete_doc(CERT_ISSUER, issuer_id(s, name)).await?;
        Ok(old)
    }
}
