//! The certificates API: create with a policy (issuer `Self` signs at once; `Unknown` leaves a
//! pending operation with a CSR, completed by merge), import of PFX and PEM, and the shared
//! lifecycle. Every certificate version comes with a managed key and a managed secret of the
//! same name and version; the secret's value (PFX or PEM) is what a gateway serves.

mod extras;
mod lifecycle;
mod pending;
mod policy;
mod renewal;

use std::collections::BTreeMap;
use std::net::IpAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use coffer_crypto::keys::{NewKey, SoftwareKeys};
use coffer_domain::{Attributes, ObjectName, VaultOp};
use coffer_store::{Deletion, DocMode, DocWrite, ObjectKind, Version};
use coffer_x509::{Bundle, CertificateSpec, KeyUsage, SigningKeyRef};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub(crate) use extras::{CERT_CONTACTS, CERT_ISSUER};
pub use pending::CertificateOperation;
pub use policy::{
    CertKeyProps, CertLifetimeAction, CertificateIssuer, CertificatePolicy, Contact, IssuerAdmin,
    IssuerRef,
};

use crate::keys::KeyCreate;
use crate::keys::record::KeyMeta;
use crate::objects::{CERTIFICATES, KEYS, SECRETS, aad, object_ref, parse_name};
use crate::records::SecretMeta;
use crate::secrets::validate_tags;
use crate::{Coffer, ServiceError, VaultSession};
use policy::{PEM, PKCS12};

pub(crate) const CERT_POLICY: &str = "cert-policy";

/// Version metadata of a certificate.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct CertMeta {
    pub(crate) name: String,
    /// The leaf certificate, DER, standard base64.
    pub(crate) cer: String,
    /// Its issuers, DER, standard base64, in order.
    #[serde(default)]
    pub(crate) chain: Vec<String>,
    pub(crate) enabled: bool,
    pub(crate) nbf: Option<i64>,
    pub(crate) exp: Option<i64>,
    pub(crate) tags: Option<BTreeMap<String, String>>,
    pub(crate) content_type: String,
    #[serde(default)]
    pub(crate) preserve_order: Option<bool>,
}

/// A certificate version as returned.
#[derive(Debug)]
pub struct CertificateView {
    pub name: String,
    pub version: String,
    /// The certificate, DER.
    pub cer: Vec<u8>,
    /// SHA-1 thumbprint.
    pub x5t: Vec<u8>,
    pub attributes: Attributes,
    pub tags: Option<BTreeMap<String, String>>,
    pub content_type: String,
    pub policy: Option<CertificatePolicy>,
    pub preserve_order: Option<bool>,
    pub recovery_level: &'static str,
    pub recoverable_days: Option<u32>,
    pub deletion: Option<Deletion>,
}

/// Attributes and tags a caller sets with a certificate.
#[derive(Debug, Default, Clone)]
pub struct CertificateInput {
    pub enabled: Option<bool>,
    pub tags: Option<BTreeMap<String, String>>,
    pub preserve_order: Option<bool>,
}

/// `POST /certificates/{name}/import`.
pub struct CertificateImport {
    /// Base64 of a PFX, or a PEM (as text or base64 of it).
    pub value: Zeroizing<String>,
    pub password: Option<Zeroizing<String>>,
    pub policy: Option<CertificatePolicy>,
    pub input: CertificateInput,
}

pub(super) fn policy_id(s: &VaultSession, name: &ObjectName) -> String {
    format!("{}/{}", s.doc.id, name.canonical())
}

fn x509_err(e: coffer_x509::X509Error) -> ServiceError {
    ServiceError::BadParameter(match e {
        coffer_x509::X509Error::WrongPassword => {
            "The specified PKCS#12 X509 certificate content could not be read: the password is wrong.".to_owned()
        }
        other => format!("The certificate content is invalid: {other}."),
    })
}

/// The X.509 request a policy describes.
fn spec_of(p: &CertificatePolicy, now: i64) -> Result<CertificateSpec, ServiceError> {
    let mut ips: Vec<IpAddr> = Vec::new();
    for ip in &p.ip_addresses {
        ips.push(ip.parse().map_err(|_| {
            ServiceError::BadParameter(format!(
                "Invalid IP address '{}' in the certificate policy.",
                ip.chars().take(60).collect::<String>()
            ))
        })?);
    }
    let mut usages = Vec::new();
    for u in p.key_usage.iter().flatten() {
        usages.push(KeyUsage::from_name(u).ok_or_else(|| {
            ServiceError::BadParameter(format!(
                "Invalid key usage '{}' in the certificate policy.",
                u.chars().take(40).collect::<String>()
            ))
        })?);
    }
    Ok(CertificateSpec {
        subject: p.subject.clone().unwrap_or_default(),
        dns_names: p.dns_names.clone(),
        emails: p.emails.clone(),
        upns: p.upns.clone(),
        ip_addresses: ips,
        uris: p.uris.clone(),
        validity_months: p.validity_months.unwrap_or(12),
        not_before: now,
        ekus: p.ekus.clone().unwrap_or_default(),
        key_usage: usages,
    })
}

/// The key a policy asks for, as a key creation request (software keys only for now).
fn key_request(p: &CertificatePolicy) -> Result<KeyCreate, ServiceError> {
    let kty = p.kty().to_owned();
    if kty.ends_with("-HSM") {
        return Err(ServiceError::BadParameter(format!(
            "Certificates with {kty} keys are not supported by Coffer yet; use RSA or EC."
        )));
    }
    let ops: &[&str] = if kty == "EC" {
        &["sign", "verify"]
    } else {
        &[
            "sign",
            "verify",
            "wrapKey",
            "unwrapKey",
            "encrypt",
            "decrypt",
        ]
    };
    Ok(KeyCreate {
        kty,
        key_size: p.key.key_size,
        crv: p.key.crv.clone(),
        key_ops: Some(ops.iter().map(|s| (*s).to_owned()).collect()),
        attributes: crate::keys::KeyAttributesInput {
            exportable: p.key.exportable,
            ..Default::default()
        },
        ..KeyCreate::default()
    })
}

/// A policy describing a certificate that was imported without one.
fn policy_from_cert(
    info: &coffer_x509::CertInfo,
    key: &NewKey,
    content_type: &str,
) -> CertificatePolicy {
    let (kty, key_size, crv) = match &key.public {
        coffer_crypto::keys::PublicKey::Rsa { n, .. } => ("RSA", Some((n.len() * 8) as u32), None),
        coffer_crypto::keys::PublicKey::Ec { curve, .. } => {
            ("EC", None, Some(curve.as_str().to_owned()))
        }
        coffer_crypto::keys::PublicKey::Oct { .. } => ("oct", None, None),
    };
    let months = ((info.not_after - info.not_before).max(0) / (30 * 86_400)) as u32;
    CertificatePolicy {
        key: CertKeyProps {
            kty: Some(kty.to_owned()),
            key_size,
            crv,
            exportable: Some(true),
            reuse_key: Some(false),
        },
        content_type: Some(content_type.to_owned()),
        subject: Some(info.subject.clone()),
        dns_names: info.dns_names.clone(),
        emails: info.emails.clone(),
        upns: info.upns.clone(),
        uris: info.uris.clone(),
        ip_addresses: info.ips.iter().map(ToString::to_string).collect(),
        ekus: Some(info.ekus.clone()),
        key_usage: Some(info.key_usage.iter().map(|u| u.name().to_owned()).collect()),
        validity_months: Some(months.max(1)),
        lifetime_actions: vec![CertLifetimeAction {
            action: "EmailContacts".to_owned(),
            lifetime_percentage: Some(80),
            days_before_expiry: None,
        }],
        issuer: Some(IssuerRef {
            name: "Unknown".to_owned(),
            ..IssuerRef::default()
        }),
        enabled: Some(true),
        created: None,
        updated: None,
    }
}

impl Coffer {
    pub(crate) fn cert_meta(v: &Version) -> Result<CertMeta, ServiceError> {
        Ok(serde_json::from_slice(&v.meta)?)
    }

    pub(super) fn cert_view(
        &self,
        s: &VaultSession,
        v: &Version,
        policy: Option<CertificatePolicy>,
        deletion: Option<Deletion>,
    ) -> Result<CertificateView, ServiceError> {
        let m = Self::cert_meta(v)?;
        let cer = B64
            .decode(&m.cer)
            .map_err(|_| ServiceError::Internal("stored certificate is malformed".to_owned()))?;
        let x5t = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &cer)
            .as_ref()
            .to_vec();
        Ok(CertificateView {
            name: m.name,
            version: v.version.clone(),
            cer,
            x5t,
            attributes: Attributes {
                enabled: m.enabled,
                not_before: m.nbf,
                expires: m.exp,
                created: v.created,
                updated: v.updated,
            },
            tags: m.tags,
            content_type: m.content_type,
            policy,
            preserve_order: m.preserve_order,
            recovery_level: s.vault.recovery_level().as_str(),
            recoverable_days: s.vault.recoverable_days(),
            deletion,
        })
    }

    pub(crate) async fn cert_policy(
        &self,
        s: &VaultSession,
        name: &ObjectName,
    ) -> Result<Option<CertificatePolicy>, ServiceError> {
        match self.store.get_doc(CERT_POLICY, &policy_id(s, name)).await? {
            Some(d) => Ok(Some(serde_json::from_slice(&d.body)?)),
            None => Ok(None),
        }
    }

    pub(super) async fn put_cert_policy(
        &self,
        s: &VaultSession,
        name: &ObjectName,
        mut p: CertificatePolicy,
    ) -> Result<CertificatePolicy, ServiceError> {
        let now = self.vault_now(s);
        let old = self.cert_policy(s, name).await?;
        p.created = Some(old.and_then(|o| o.created).unwrap_or(now));
        p.updated = Some(now);
        p.enabled = Some(p.enabled.unwrap_or(true));
        self.store
            .write_docs(vec![DocWrite::Put {
                kind: CERT_POLICY.to_owned(),
                id: policy_id(s, name),
                body: serde_json::to_vec(&p)?,
                mode: DocMode::Overwrite,
            }])
            .await?;
        Ok(p)
    }

    /// Stores a certificate version with its managed key and secret, all under one version id,
    /// in one transaction.
    pub(crate) async fn store_certificate(
        &self,
        s: &VaultSession,
        name: &ObjectName,
        key: &NewKey,
        chain: Vec<Vec<u8>>,
        policy: &CertificatePolicy,
        input: &CertificateInput,
    ) -> Result<Version, ServiceError> {
        let Some(leaf) = chain.first() else {
            return Err(ServiceError::BadParameter(
                "The certificate chain is empty.".to_owned(),
            ));
        };
        let info = coffer_x509::parse_certificate(leaf).map_err(x509_err)?;
        validate_tags(input.tags.as_ref())?;
        let version = coffer_crypto::random::hex(16)?;
        let canonical = name.canonical();
        let enabled = input.enabled.or(policy.enabled).unwrap_or(true);
        let exportable = policy.key.exportable.unwrap_or(true);
        let kty = policy.kty().to_owned();
        let key_ops: Vec<String> = if kty.starts_with("EC") {
            vec!["sign".into(), "verify".into()]
        } else {
            [
                "sign",
                "verify",
                "wrapKey",
                "unwrapKey",
                "encrypt",
                "decrypt",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
        };
        let key_meta = KeyMeta {
            name: name.as_str().to_owned(),
            kty,
            key_ops,
            public: crate::keys::record::PublicRecord::from_key(&key.public),
            enabled,
            nbf: Some(info.not_before),
            exp: Some(info.not_after),
            exportable: Some(exportable),
            tags: input.tags.clone(),
            managed: true,
            release_policy: None,
            provider: crate::keys::provider::SOFTWARE.to_owned(),
        };
        let key_record = self.key_version(s, name, version.clone(), key, &key_meta)?;
        // A non-exportable key never leaves: the secret then holds the certificate chain only.
        let bundle = Bundle {
            key_pkcs8: exportable.then(|| key.material.0.clone()),
            chain: chain.clone(),
        };
        let content_type = policy.content_type().to_owned();
        let value: Zeroizing<String> = if content_type == PEM {
            coffer_x509::build_pem(&bundle)
        } else {
            Zeroizing::new(B64.encode(coffer_x509::build_pfx(&bundle, None).map_err(x509_err)?))
        };
        let secret_meta = SecretMeta {
            name: name.as_str().to_owned(),
            content_type: Some(content_type.clone()),
            tags: input.tags.clone(),
            enabled,
            nbf: Some(info.not_before),
            exp: Some(info.not_after),
            managed: true,
            kid: Some(format!("/keys/{}/{version}", name.as_str())),
        };
        let secret = self.secret_version(
            s,
            &canonical,
            version.clone(),
            value.as_bytes(),
            &secret_meta,
        )?;

        let meta = CertMeta {
            name: name.as_str().to_owned(),
            cer: B64.encode(leaf),
            chain: chain[1..].iter().map(|c| B64.encode(c)).collect(),
            enabled,
            nbf: Some(info.not_before),
            exp: Some(info.not_after),
            tags: input.tags.clone(),
            content_type,
            preserve_order: input.preserve_order,
        };
        let now = self.vault_now(s);
        let record = Version {
            sealed: s
                .key
                .seal(&aad(s, ObjectKind::Certificate, &canonical, &version), b"")?,
            version,
            created: now,
            updated: now,
            meta: serde_json::to_vec(&meta)?,
        };
        let writes = vec![
            (object_ref(s, &KEYS, name), key_record),
            (object_ref(s, &SECRETS, name), secret),
            (object_ref(s, &CERTIFICATES, name), record.clone()),
        ];
        match self.store.append_versions(writes).await {
            Ok(()) => {}
            Err(coffer_store::StoreError::DeletedButRecoverable) => {
                return Err(crate::objects::deleted_but_recoverable(
                    &CERTIFICATES,
                    name.as_str(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
        Ok(record)
    }

    /// The key a new version uses: the latest one when the policy reuses keys, else a new one.
    async fn certificate_key(
        &self,
        s: &VaultSession,
        name: &ObjectName,
        policy: &CertificatePolicy,
    ) -> Result<NewKey, ServiceError> {
        if policy.key.reuse_key == Some(true)
            && let Ok((_, v)) = self.object_version(s, &KEYS, name.as_str(), None).await
        {
            let m = Self::key_meta(&v)?;
            return Ok(NewKey {
                material: self.key_material(s, &name.canonical(), &v)?,
                public: m.public.to_key()?,
            });
        }
        let (key, _) = self.generate_key(&key_request(policy)?).await?;
        Ok(key)
    }

    /// `POST /certificates/{name}/create`.
    pub async fn create_certificate(
        &self,
        s: &VaultSession,
        name: &str,
        policy: CertificatePolicy,
        input: CertificateInput,
    ) -> Result<CertificateOperation, ServiceError> {
        s.require(VaultOp::CertificateCreate)?;
        let name = parse_name(name)?;
        validate_tags(input.tags.as_ref())?;
        let policy = policy.validated()?;
        self.refuse_if_pending(s, &name).await?;
        let issuer = policy.issuer_name().to_owned();
        let key = self.certificate_key(s, &name, &policy).await?;
        let spec = spec_of(&policy, self.vault_now(s))?;
        let policy = self.put_cert_policy(s, &name, policy).await?;
        if issuer == "Unknown" {
            let csr = coffer_x509::csr(&spec, &SigningKeyRef::Pkcs8(&key.material.0))
                .map_err(x509_err)?;
            return self
                .start_pending(s, &name, &key, csr, &policy, &input)
                .await;
        }
        if issuer != "Self" {
            let known = self.get_issuer_doc(s, &issuer).await?;
            return Err(ServiceError::BadParameter(match known {
                Some(i) => format!(
                    "CertificateIssuer '{issuer}' (provider {}) cannot issue certificates from Coffer, which reaches no outside CA. Use the issuer Self, or Unknown and merge a certificate your CA signed.",
                    i.provider
                ),
                None => format!(
                    "CertificateIssuer '{issuer}' is not configured in this vault. Use Self, Unknown or a configured issuer."
                ),
            }));
        }
        let material = key.material.0.clone();
        let der = self
            .key_providers
            .run(move || {
                coffer_x509::self_signed(&spec, &SigningKeyRef::Pkcs8(&material))
                    .map_err(|e| coffer_crypto::keys::KeyError::InvalidInput(e.to_string()))
            })
            .await?;
        self.store_certificate(s, &name, &key, vec![der], &policy, &input)
            .await?;
        let mut op = self.complete_pending(s, &name, "Self").await?;
        // Key Vault's first answer to create is always inProgress, and the SDKs' pollers only
        // start polling on that (a completed first answer leaves their result empty); the stored
        // operation is already completed, so the first poll finishes.
        op.status = "inProgress".to_owned();
        op.has_target = false;
        Ok(op)
    }

    /// `POST /certificates/{name}/import`: a PFX (with or without password) or a PEM with key.
    pub async fn import_certificate(
        &self,
        s: &VaultSession,
        name: &str,
        i: CertificateImport,
    ) -> Result<CertificateView, ServiceError> {
        s.require(VaultOp::CertificateImport)?;
        let name = parse_name(name)?;
        validate_tags(i.input.tags.as_ref())?;
        let text = i.value.trim();
        let pem_text: Option<Zeroizing<String>> = if text.starts_with("-----BEGIN") {
            Some(Zeroizing::new(text.to_owned()))
        } else {
            None
        };
        let (bundle, content_type) = match pem_text {
            Some(p) => (coffer_x509::parse_pem(&p).map_err(x509_err)?, PEM),
            None => {
                let raw = Zeroizing::new(B64.decode(text).map_err(|_| {
                    ServiceError::BadParameter(
                        "The certificate value is neither a PEM document nor base64 of a PFX or PEM file.".to_owned(),
                    )
                })?);
                if raw.starts_with(b"-----BEGIN") {
                    let pem = Zeroizing::new(String::from_utf8(raw.to_vec()).map_err(|_| {
                        ServiceError::BadParameter(
                            "The PEM document is not valid UTF-8.".to_owned(),
                        )
                    })?);
                    (coffer_x509::parse_pem(&pem).map_err(x509_err)?, PEM)
                } else {
                    let pwd = i.password.as_ref().map_or("", |p| p.as_str());
                    (coffer_x509::parse_pfx(&raw, pwd).map_err(x509_err)?, PKCS12)
                }
            }
        };
        let Some(pkcs8) = bundle.key_pkcs8.as_ref() else {
            return Err(ServiceError::BadParameter(
                "The certificate to import has no private key; Key Vault imports a certificate together with its key.".to_owned(),
            ));
        };
        let key = SoftwareKeys::from_pkcs8(pkcs8)?;
        let leaf = bundle.chain.first().ok_or_else(|| {
            ServiceError::BadParameter("The file holds no certificate.".to_owned())
        })?;
        let info = coffer_x509::parse_certificate(leaf).map_err(x509_err)?;
        let policy = match i.policy {
            Some(mut p) => {
                if p.subject.is_none() && p.dns_names.is_empty() {
                    p.subject = Some(info.subject.clone());
                }
                if p.content_type.is_none() {
                    p.content_type = Some(content_type.to_owned());
                }
                p.validated()?
            }
            None => policy_from_cert(&info, &key, content_type),
        };
        let policy = self.put_cert_policy(s, &name, policy).await?;
        let record = self
            .store_certificate(s, &name, &key, bundle.chain.clone(), &policy, &i.input)
            .await?;
        self.cert_view(s, &record, Some(policy), None)
    }

    /// `GET /certificates/{name}/{version?}`.
    pub async fn get_certificate(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
    ) -> Result<CertificateView, ServiceError> {
        s.require(VaultOp::CertificateGet)?;
        let (name, v) = self.object_version(s, &CERTIFICATES, name, version).await?;
        let policy = self.cert_policy(s, &name).await?;
        self.cert_view(s, &v, policy, None)
    }

    /// `PATCH /certificates/{name}/{version?}`: attributes, tags and, optionally, the policy.
    pub async fn update_certificate(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
        input: CertificateInput,
        policy: Option<CertificatePolicy>,
    ) -> Result<CertificateView, ServiceError> {
        s.require(VaultOp::CertificateUpdate)?;
        validate_tags(input.tags.as_ref())?;
        let (name, v) = self.object_version(s, &CERTIFICATES, name, version).await?;
        let mut m = Self::cert_meta(&v)?;
        if let Some(e) = input.enabled {
            m.enabled = e;
        }
        if let Some(t) = input.tags {
            m.tags = Some(t);
        }
        let policy = match policy {
            Some(p) => Some(self.put_cert_policy(s, &name, p.validated()?).await?),
            None => self.cert_policy(s, &name).await?,
        };
        let updated = self
            .update_object_meta(s, &CERTIFICATES, &name, &v.version, serde_json::to_vec(&m)?)
            .await?;
        self.cert_view(s, &updated, policy, None)
    }

    /// `GET /certificates/{name}/policy`.
    pub async fn get_certificate_policy(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<CertificatePolicy, ServiceError> {
        s.require(VaultOp::CertificatePolicyGet)?;
        let (name, _) = self.object_version(s, &CERTIFICATES, name, None).await?;
        self.cert_policy(s, &name)
            .await?
            .ok_or_else(|| crate::objects::not_found(&CERTIFICATES, name.as_str(), None))
    }

    /// `PATCH /certificates/{name}/policy`: fields given replace the stored ones.
    pub async fn update_certificate_policy(
        &self,
        s: &VaultSession,
        name: &str,
        p: CertificatePolicy,
    ) -> Result<CertificatePolicy, ServiceError> {
        s.require(VaultOp::CertificatePolicyUpdate)?;
        let (name, _) = self.object_version(s, &CERTIFICATES, name, None).await?;
        let old = self.cert_policy(s, &name).await?.unwrap_or_default();
        let merged = CertificatePolicy {
            key: CertKeyProps {
                kty: p.key.kty.or(old.key.kty),
                key_size: p.key.key_size.or(old.key.key_size),
                crv: p.key.crv.or(old.key.crv),
                exportable: p.key.exportable.or(old.key.exportable),
                reuse_key: p.key.reuse_key.or(old.key.reuse_key),
            },
            content_type: p.content_type.or(old.content_type),
            subject: p.subject.or(old.subject),
            dns_names: if p.dns_names.is_empty() {
                old.dns_names
            } else {
                p.dns_names
            },
            emails: if p.emails.is_empty() {
                old.emails
            } else {
                p.emails
            },
            upns: if p.upns.is_empty() { old.upns } else { p.upns },
            uris: if p.uris.is_empty() { old.uris } else { p.uris },
            ip_addresses: if p.ip_addresses.is_empty() {
                old.ip_addresses
            } else {
                p.ip_addresses
            },
            ekus: p.ekus.or(old.ekus),
            key_usage: p.key_usage.or(old.key_usage),
            validity_months: p.validity_months.or(old.validity_months),
            lifetime_actions: if p.lifetime_actions.is_empty() {
                old.lifetime_actions
            } else {
                p.lifetime_actions
            },
            issuer: p.issuer.or(old.issuer),
            enabled: p.enabled.or(old.enabled),
            created: old.created,
            updated: None,
        };
        self.put_cert_policy(s, &name, merged.validated()?).await
    }
}
