//! The shared lifecycle for certificates: list, versions, delete, recover and purge take the
//! managed key and secret along; backup and restore carry all three in one blob.

use base64::Engine as _;
use coffer_domain::VaultOp;
use coffer_store::{DocWrite, ObjectSummary};
use serde::{Deserialize, Serialize};

use super::{CERT_POLICY, CertificatePolicy, CertificateView, policy_id};
use crate::objects::{CERTIFICATES, KEYS, ListPage, SECRETS, parse_name};
use crate::{Coffer, ServiceError, VaultSession};

impl Coffer {
    fn cert_summary(
        &self,
        s: &VaultSession,
        r: ObjectSummary,
    ) -> Result<CertificateView, ServiceError> {
        self.cert_view(s, &r.latest, None, r.deletion)
    }

    /// `GET /certificates`.
    pub async fn list_certificates(
        &self,
        s: &VaultSession,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<CertificateView>, ServiceError> {
        s.require(VaultOp::CertificateList)?;
        self.list_object_rows(s, &CERTIFICATES, false, max, skiptoken)
            .await?
            .try_map(|r| self.cert_summary(s, r))
    }

    /// `GET /deletedcertificates`.
    pub async fn list_deleted_certificates(
        &self,
        s: &VaultSession,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<CertificateView>, ServiceError> {
        s.require(VaultOp::CertificateListDeleted)?;
        self.list_object_rows(s, &CERTIFICATES, true, max, skiptoken)
            .await?
            .try_map(|r| self.cert_summary(s, r))
    }

    /// `GET /certificates/{name}/versions`.
    pub async fn list_certificate_versions(
        &self,
        s: &VaultSession,
        name: &str,
        max: Option<u32>,
        skiptoken: Option<&str>,
    ) -> Result<ListPage<CertificateView>, ServiceError> {
        s.require(VaultOp::CertificateListVersions)?;
        self.list_version_rows(s, &CERTIFICATES, name, max, skiptoken)
            .await?
            .try_map(|v| self.cert_view(s, &v, None, None))
    }

    /// `DELETE /certificates/{name}`: the certificate with its managed key and secret.
    pub async fn delete_certificate(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<CertificateView, ServiceError> {
        s.require(VaultOp::CertificateDelete)?;
        let (parsed, _) = self.object_version(s, &CERTIFICATES, name, None).await?;
        let policy = self.cert_policy(s, &parsed).await?;
        let (latest, deletion) = self.delete_object(s, &CERTIFICATES, name).await?;
        for fam in [&KEYS, &SECRETS] {
            match self.delete_object(s, fam, name).await {
                Ok(_) | Err(ServiceError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        self.cert_view(s, &latest, policy, deletion)
    }

    /// `GET /deletedcertificates/{name}`.
    pub async fn get_deleted_certificate(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<CertificateView, ServiceError> {
        s.require(VaultOp::CertificateGetDeleted)?;
        let d = self.deleted_object(s, &CERTIFICATES, name).await?;
        let policy = self.cert_policy(s, &parse_name(name)?).await?;
        self.cert_view(s, &d.latest, policy, d.deletion)
    }

    /// `POST /deletedcertificates/{name}/recover`: with its key and secret.
    pub async fn recover_deleted_certificate(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<CertificateView, ServiceError> {
        s.require(VaultOp::CertificateRecover)?;
        let v = self.recover_object(s, &CERTIFICATES, name).await?;
        for fam in [&KEYS, &SECRETS] {
            match self.recover_object(s, fam, name).await {
                Ok(_) | Err(ServiceError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let policy = self.cert_policy(s, &parse_name(name)?).await?;
        self.cert_view(s, &v, policy, None)
    }

    /// `DELETE /deletedcertificates/{name}`: with its key and secret, and its policy.
    pub async fn purge_deleted_certificate(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<(), ServiceError> {
        s.require(VaultOp::CertificatePurge)?;
        self.purge_object(s, &CERTIFICATES, name).await?;
        for fam in [&KEYS, &SECRETS] {
            match self.purge_object(s, fam, name).await {
                Ok(()) | Err(ServiceError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let parsed = parse_name(name)?;
        match self
            .store
            .write_docs(vec![DocWrite::Delete {
                kind: CERT_POLICY.to_owned(),
                id: policy_id(s, &parsed),
            }])
            .await
        {
            Ok(()) | Err(coffer_store::StoreError::NotFound) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// `POST /certificates/{name}/backup`: the certificate, its key and its secret in one blob.
    pub async fn backup_certificate(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<String, ServiceError> {
        s.require(VaultOp::CertificateBackup)?;
        let blob = CertificateBackup {
            certificate: self.backup_object(s, &CERTIFICATES, name).await?,
            key: self.backup_object(s, &KEYS, name).await?,
            secret: self.backup_object(s, &SECRETS, name).await?,
            policy: self.cert_policy(s, &parse_name(name)?).await?,
        };
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&blob)?))
    }

    /// `POST /certificates/restore`.
    pub async fn restore_certificate(
        &self,
        s: &VaultSession,
        blob: &str,
    ) -> Result<CertificateView, ServiceError> {
        s.require(VaultOp::CertificateRestore)?;
        let corrupt = || {
            ServiceError::BadParameter(
                "The backup blob is corrupt, was altered, or was not made by this Coffer instance for a vault of this tenant.".to_owned(),
            )
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(blob.trim_end_matches('='))
            .map_err(|_| corrupt())?;
        let b: CertificateBackup = serde_json::from_slice(&raw).map_err(|_| corrupt())?;
        let v = self
            .restore_object(s, &CERTIFICATES, &b.certificate)
            .await?;
        self.restore_object(s, &KEYS, &b.key).await?;
        self.restore_object(s, &SECRETS, &b.secret).await?;
        let m = Self::cert_meta(&v)?;
        let name = parse_name(&m.name)?;
        let policy = match b.policy {
            Some(p) => Some(self.put_cert_policy(s, &name, p).await?),
            None => None,
        };
        self.cert_view(s, &v, policy, None)
    }
}

#[derive(Serialize, Deserialize)]
struct CertificateBackup {
    certificate: String,
    key: String,
    secret: String,
    policy: Option<CertificatePolicy>,
}
