//! Pending certificate operations: what create returns, the CSR an outside CA signs for the
//! `Unknown` issuer (its private key kept sealed until merge), cancel, delete and merge.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::keys::{KeyMaterial, NewKey};
use coffer_domain::{ObjectName, VaultOp};
use coffer_store::{DocMode, DocWrite};
use serde::{Deserialize, Serialize};

use super::{CertificateInput, CertificateView, x509_err};
use crate::keys::record::PublicRecord;
use crate::objects::parse_name;
use crate::{Coffer, ServiceError, VaultSession};

const CERT_PENDING: &str = "cert-pending";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct PendingDoc {
    name: String,
    issuer: String,
    status: String,
    request_id: String,
    cancellation_requested: bool,
    csr: Option<String>,
    /// The new key, sealed with the vault's data key until a merge uses it.
    sealed_key: Option<String>,
    public: Option<PublicRecord>,
    enabled: Option<bool>,
    tags: Option<BTreeMap<String, String>>,
    error: Option<(String, String)>,
}

/// A certificate operation as returned by create and the `pending` routes.
#[derive(Debug)]
pub struct CertificateOperation {
    pub name: String,
    pub issuer: String,
    pub csr: Option<Vec<u8>>,
    pub cancellation_requested: bool,
    pub status: String,
    pub status_details: Option<String>,
    pub error: Option<(String, String)>,
    /// Whether the certificate it made exists (then `target` names it).
    pub has_target: bool,
    pub request_id: String,
}

fn pending_id(s: &VaultSession, name: &ObjectName) -> String {
    format!("{}/{}", s.doc.id, name.canonical())
}

fn key_aad(s: &VaultSession, name: &ObjectName, request_id: &str) -> Vec<u8> {
    format!(
        "coffer/v1/{}/pending/{}/{request_id}",
        s.doc.id,
        name.canonical()
    )
    .into_bytes()
}

fn no_pending(name: &str) -> ServiceError {
    ServiceError::NotFound {
        message: format!("Pending certificate not found: {name}"),
        code: "PendingCertificateNotFound",
    }
}

fn view(d: &PendingDoc) -> Result<CertificateOperation, ServiceError> {
    Ok(CertificateOperation {
        name: d.name.clone(),
        issuer: d.issuer.clone(),
        csr: d
            .csr
            .as_ref()
            .map(|c| B64.decode(c))
            .transpose()
            .map_err(|_| ServiceError::Internal("stored CSR is malformed".to_owned()))?,
        cancellation_requested: d.cancellation_requested,
        status_details: match d.status.as_str() {
            "inProgress" => Some(
                "Pending certificate created. Please merge the certificate your CA signed (POST .../pending/merge)."
                    .to_owned(),
            ),
            _ => None,
        },
        status: d.status.clone(),
        error: d.error.clone(),
        has_target: d.status == "completed",
        request_id: d.request_id.clone(),
    })
}

impl Coffer {
    async fn pending_doc(
        &self,
        s: &VaultSession,
        name: &ObjectName,
    ) -> Result<Option<(u64, PendingDoc)>, ServiceError> {
        match self
            .store
            .get_doc(CERT_PENDING, &pending_id(s, name))
            .await?
        {
            Some(d) => Ok(Some((d.revision, serde_json::from_slice(&d.body)?))),
            None => Ok(None),
        }
    }

    async fn put_pending(
        &self,
        s: &VaultSession,
        name: &ObjectName,
        d: &PendingDoc,
    ) -> Result<(), ServiceError> {
        self.store
            .write_docs(vec![DocWrite::Put {
                kind: CERT_PENDING.to_owned(),
                id: pending_id(s, name),
                body: serde_json::to_vec(d)?,
                mode: DocMode::Overwrite,
            }])
            .await?;
        Ok(())
    }

    pub(super) async fn refuse_if_pending(
        &self,
        s: &VaultSession,
        name: &ObjectName,
    ) -> Result<(), ServiceError> {
        if let Some((_, d)) = self.pending_doc(s, name).await?
            && d.status == "inProgress"
        {
            return Err(ServiceError::Conflict(format!(
                "There is a pending operation on certificate {}; complete it with merge or delete it first.",
                d.name
            )));
        }
        Ok(())
    }

    /// Records an `Unknown`-issuer operation: the CSR and the sealed key wait for a merge.
    pub(super) async fn start_pending(
        &self,
        s: &VaultSession,
        name: &ObjectName,
        key: &NewKey,
        csr: Vec<u8>,
        _policy: &super::CertificatePolicy,
        input: &CertificateInput,
    ) -> Result<CertificateOperation, ServiceError> {
        let request_id = uuid::Uuid::new_v4().simple().to_string();
        let sealed = s
            .key
            .seal(&key_aad(s, name, &request_id), &key.material.0)?;
        let d = PendingDoc {
            name: name.as_str().to_owned(),
            issuer: "Unknown".to_owned(),
            status: "inProgress".to_owned(),
            request_id,
            cancellation_requested: false,
            csr: Some(B64.encode(csr)),
            sealed_key: Some(B64.encode(sealed)),
            public: Some(PublicRecord::from_key(&key.public)),
            enabled: input.enabled,
            tags: input.tags.clone(),
            error: None,
        };
        self.put_pending(s, name, &d).await?;
        view(&d)
    }

    /// Records a finished operation (issuer `Self`, or after a merge).
    pub(super) async fn complete_pending(
        &self,
        s: &VaultSession,
        name: &ObjectName,
        issuer: &str,
    ) -> Result<CertificateOperation, ServiceError> {
        let d = PendingDoc {
            name: name.as_str().to_owned(),
            issuer: issuer.to_owned(),
            status: "completed".to_owned(),
            request_id: uuid::Uuid::new_v4().simple().to_string(),
            cancellation_requested: false,
            csr: None,
            sealed_key: None,
            public: None,
            enabled: None,
            tags: None,
            error: None,
        };
        self.put_pending(s, name, &d).await?;
        view(&d)
    }

    /// `GET /certificates/{name}/pending`.
    pub async fn get_certificate_operation(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<CertificateOperation, ServiceError> {
        s.require(VaultOp::CertificatePendingGet)?;
        let name = parse_name(name)?;
        let (_, d) = self
            .pending_doc(s, &name)
            .await?
            .ok_or_else(|| no_pending(name.as_str()))?;
        view(&d)
    }

    /// `PATCH /certificates/{name}/pending` with `cancellation_requested`.
    pub async fn cancel_certificate_operation(
        &self,
        s: &VaultSession,
        name: &str,
        cancel: bool,
    ) -> Result<CertificateOperation, ServiceError> {
        s.require(VaultOp::CertificatePendingUpdate)?;
        let name = parse_name(name)?;
        let (_, mut d) = self
            .pending_doc(s, &name)
            .await?
            .ok_or_else(|| no_pending(name.as_str()))?;
        if cancel && d.status == "inProgress" {
            d.cancellation_requested = true;
            d.status = "cancelled".to_owned();
            d.sealed_key = None;
            self.put_pending(s, &name, &d).await?;
        }
        view(&d)
    }

    /// `DELETE /certificates/{name}/pending`.
    pub async fn delete_certificate_operation(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<CertificateOperation, ServiceError> {
        s.require(VaultOp::CertificatePendingDelete)?;
        let name = parse_name(name)?;
        let (_, d) = self
            .pending_doc(s, &name)
            .await?
            .ok_or_else(|| no_pending(name.as_str()))?;
        match self
            .store
            .write_docs(vec![DocWrite::Delete {
                kind: CERT_PENDING.to_owned(),
                id: pending_id(s, &name),
            }])
            .await
        {
            Ok(()) | Err(coffer_store::StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        view(&d)
    }

    /// `POST /certificates/{name}/pending/merge`: the CA's certificate (and chain) for the CSR.
    pub async fn merge_certificate(
        &self,
        s: &VaultSession,
        name: &str,
        x5c: Vec<Vec<u8>>,
        input: CertificateInput,
    ) -> Result<CertificateView, ServiceError> {
        s.require(VaultOp::CertificatePendingMerge)?;
        let name = parse_name(name)?;
        let (_, d) = self
            .pending_doc(s, &name)
            .await?
            .ok_or_else(|| no_pending(name.as_str()))?;
        let (Some(sealed), Some(public), true) = (
            d.sealed_key.as_ref(),
            d.public.as_ref(),
            d.status == "inProgress",
        ) else {
            return Err(ServiceError::BadParameter(format!(
                "Certificate {} has no pending operation waiting for a merge.",
                d.name
            )));
        };
        let Some(leaf) = x5c.first() else {
            return Err(ServiceError::BadParameter(
                "The x5c member must hold at least the signed certificate.".to_owned(),
            ));
        };
        let material = KeyMaterial(s.key.open(
            &key_aad(s, &name, &d.request_id),
            &B64.decode(sealed).map_err(|_| {
                ServiceError::Internal("stored pending key is malformed".to_owned())
            })?,
        )?);
        if !coffer_x509::key_matches(leaf, &material.0).map_err(x509_err)? {
            return Err(ServiceError::BadParameter(
                "The public key of the certificate to merge does not match the key of the pending certificate request.".to_owned(),
            ));
        }
        let chain = coffer_x509::order_chain(leaf, &x5c[1..]).map_err(x509_err)?;
        let policy = self.cert_policy(s, &name).await?.unwrap_or_default();
        let key = NewKey {
            material,
            public: public.to_key()?,
        };
        let input = CertificateInput {
            enabled: input.enabled.or(d.enabled),
            tags: input.tags.or(d.tags.clone()),
            preserve_order: input.preserve_order,
        };
        let record = self
            .store_certificate(s, &name, &key, chain, &policy, &input)
            .await?;
        self.complete_pending(s, &name, "Unknown").await?;
        self.cert_view(s, &record, Some(policy), None)
    }
}
