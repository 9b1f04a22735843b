//! Backends, and certificate entities (uploaded, or read from a vault with the service's
//! identity and refreshed like host names).

use coffer_domain::Principal;

use super::*;
use crate::Coffer;
use crate::management::{ManagementError, bad, clip};

impl Coffer {
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
        self.list_entities::<BackendDoc>(caller, s, rg, svc).await
    }

    pub async fn get_apim_backend(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<BackendView, ManagementError> {
        self.get_entity::<BackendDoc>(caller, s, rg, svc, id).await
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
        self.delete_entity::<BackendDoc>(caller, s, rg, svc, id, if_match, |_, _| Ok(()))
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
                    .map_err(super::super::hostnames::HostnameFailure::into_error)?;
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
        self.list_entities::<CertificateDoc>(caller, s, rg, svc)
            .await
    }

    pub async fn get_apim_certificate(
        &self,
        caller: &Principal,
        s: &str,
        rg: &str,
        svc: &str,
        id: &str,
    ) -> Result<CertificateEntityView, ManagementError> {
        self.get_entity::<CertificateDoc>(caller, s, rg, svc, id)
            .await
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
        self.delete_entity::<CertificateDoc>(caller, s, rg, svc, id, if_match, |e, key| {
            let used = e.backends.values().find(|b| {
                b.certificate_ids.iter().any(|c| {
                    c.trim_end_matches('/')
                        .rsplit('/')
                        .next()
                        .unwrap_or(c)
                        .eq_ignore_ascii_case(key)
                })
            });
            match used {
                Some(b) => Err(bad(
                    "ValidationError",
                    format!(
                        "Certificate '{}' is used by backend '{}'.",
                        clip(id),
                        b.name
                    ),
                )),
                None => Ok(()),
            }
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
