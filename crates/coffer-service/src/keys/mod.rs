//! The keys API: create (software or in the PKCS#11 token), import, get, update, rotate, and the
//! lifecycle in `lifecycle`; the cryptographic operations are in `crypto`, rotation policies in
//! `rotation`. A key's material is sealed with the vault's data key like a secret's value, and
//! only its public half is ever returned.

mod crypto;
mod lifecycle;
pub(crate) mod provider;
pub(crate) mod record;
mod rotation;
mod throttle;

use std::collections::BTreeMap;
use std::sync::Arc;

use coffer_crypto::keys::{
    Curve, KeyMaterial, KeyProvider, KeySpec, NewKey, PrivateKeyParts, PublicKey,
};
use coffer_domain::{Attributes, ObjectName, VaultOp};
use coffer_store::{Deletion, ObjectKind, ObjectSummary, Version};
use zeroize::Zeroizing;

pub use crypto::{CryptoOutput, CryptoRequest};
pub use rotation::{LifetimeAction, RotationPolicy};

use crate::objects::{KEYS, aad, parse_name};
use crate::secrets::validate_tags;
use crate::{Coffer, ServiceError, VaultSession};
use record::{KeyMeta, PublicRecord, ReleasePolicyRecord};

/// Attributes a caller may set on a key version.
#[derive(Debug, Default, Clone)]
pub struct KeyAttributesInput {
    pub enabled: Option<bool>,
    pub nbf: Option<i64>,
    pub exp: Option<i64>,
    pub exportable: Option<bool>,
}

/// A release policy, kept as sent.
#[derive(Debug, Clone, Default)]
pub struct ReleasePolicy {
    pub content_type: Option<String>,
    pub immutable: Option<bool>,
    pub data: Option<String>,
}

/// `POST /keys/{name}/create`.
#[derive(Debug, Default)]
pub struct KeyCreate {
    pub kty: String,
    pub key_size: Option<u32>,
    pub public_exponent: Option<u32>,
    pub crv: Option<String>,
    pub key_ops: Option<Vec<String>>,
    pub attributes: KeyAttributesInput,
    pub tags: Option<BTreeMap<String, String>>,
    pub release_policy: Option<ReleasePolicy>,
}

/// The members of an imported JWK, base64url already decoded.
#[derive(Default)]
pub struct JwkInput {
    pub kty: Option<String>,
    pub key_ops: Option<Vec<String>>,
    pub crv: Option<String>,
    pub n: Option<Vec<u8>>,
    pub e: Option<Vec<u8>>,
    pub d: Option<Zeroizing<Vec<u8>>>,
    pub p: Option<Zeroizing<Vec<u8>>>,
    pub q: Option<Zeroizing<Vec<u8>>>,
    pub dp: Option<Zeroizing<Vec<u8>>>,
    pub dq: Option<Zeroizing<Vec<u8>>>,
    pub qi: Option<Zeroizing<Vec<u8>>>,
    pub k: Option<Zeroizing<Vec<u8>>>,
    pub x: Option<Vec<u8>>,
    pub y: Option<Vec<u8>>,
}

/// `PUT /keys/{name}` (import).
#[derive(Default)]
pub struct KeyImport {
    pub hsm: Option<bool>,
    pub key: JwkInput,
    pub attributes: KeyAttributesInput,
    pub tags: Option<BTreeMap<String, String>>,
    pub release_policy: Option<ReleasePolicy>,
}

/// `PATCH /keys/{name}/{version}`.
#[derive(Debug, Default)]
pub struct KeyUpdate {
    pub key_ops: Option<Vec<String>>,
    pub attributes: KeyAttributesInput,
    pub tags: Option<BTreeMap<String, String>>,
    pub release_policy: Option<ReleasePolicy>,
}

/// A key version as returned: public half only.
#[derive(Debug)]
pub struct KeyView {
    pub name: String,
    pub version: String,
    pub kty: String,
    pub key_ops: Vec<String>,
    pub public: PublicKey,
    pub attributes: Attributes,
    pub exportable: Option<bool>,
    pub recovery_level: &'static str,
    pub recoverable_days: Option<u32>,
    pub tags: Option<BTreeMap<String, String>>,
    pub managed: bool,
    pub release_policy: Option<ReleasePolicy>,
    pub deletion: Option<Deletion>,
}

/// Azure's key operation names.
const KEY_OPS: &[&str] = &[
    "encrypt",
    "decrypt",
    "sign",
    "verify",
    "wrapKey",
    "unwrapKey",
    "import",
    "export",
];

/// The family a `kty` names, and whether it lives in an HSM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyFamily {
    Rsa,
    Ec,
    Oct,
}

pub(crate) fn parse_kty(kty: &str) -> Result<(KeyFamily, bool), ServiceError> {
    match kty {
        "RSA" => Ok((KeyFamily::Rsa, false)),
        "RSA-HSM" => Ok((KeyFamily::Rsa, true)),
        "EC" => Ok((KeyFamily::Ec, false)),
        "EC-HSM" => Ok((KeyFamily::Ec, true)),
        "oct" => Ok((KeyFamily::Oct, false)),
        "oct-HSM" => Ok((KeyFamily::Oct, true)),
        other => Err(ServiceError::BadParameter(format!(
            "Invalid key type (kty) '{}'. Valid values: RSA, RSA-HSM, EC, EC-HSM, oct, oct-HSM.",
            other.chars().take(40).collect::<String>()
        ))),
    }
}

fn default_ops(f: KeyFamily) -> Vec<String> {
    let ops: &[&str] = match f {
        KeyFamily::Rsa => &[
            "encrypt",
            "decrypt",
            "sign",
            "verify",
            "wrapKey",
            "unwrapKey",
        ],
        KeyFamily::Ec => &["sign", "verify"],
        KeyFamily::Oct => &["encrypt", "decrypt", "wrapKey", "unwrapKey"],
    };
    ops.iter().map(|s| (*s).to_owned()).collect()
}

/// Canonical key operations: known names (case-insensitive), meaningful for the key type.
fn validate_ops(f: KeyFamily, ops: &[String]) -> Result<Vec<String>, ServiceError> {
    let mut out: Vec<String> = Vec::new();
    for o in ops {
        let Some(k) = KEY_OPS.iter().find(|k| k.eq_ignore_ascii_case(o)) else {
            return Err(ServiceError::BadParameter(format!(
                "Invalid key operation '{}'. Valid values: {}.",
                o.chars().take(40).collect::<String>(),
                KEY_OPS.join(", ")
            )));
        };
        let fits = match f {
            KeyFamily::Rsa => true,
            KeyFamily::Ec => matches!(*k, "sign" | "verify" | "import" | "export"),
            KeyFamily::Oct => !matches!(*k, "sign" | "verify"),
        };
        if !fits {
            return Err(ServiceError::BadParameter(format!(
                "Key operation '{k}' is not supported for {} keys.",
                match f {
                    KeyFamily::Rsa => "RSA",
                    KeyFamily::Ec => "EC",
                    KeyFamily::Oct => "oct",
                }
            )));
        }
        if !out.iter().any(|x| x == k) {
            out.push((*k).to_owned());
        }
    }
    Ok(out)
}

fn spec_for(f: KeyFamily, c: &KeyCreate) -> Result<KeySpec, ServiceError> {
    Ok(match f {
        KeyFamily::Rsa => {
            if c.crv.is_some() {
                return Err(ServiceError::BadParameter(
                    "The crv parameter applies to EC keys only.".to_owned(),
                ));
            }
            KeySpec::Rsa {
                bits: c.key_size.unwrap_or(2048),
                public_exponent: c.public_exponent,
            }
        }
        KeyFamily::Ec => {
            let curve = match c.crv.as_deref() {
                None => Curve::P256,
                Some(s) => Curve::parse(s).ok_or_else(|| {
                    ServiceError::BadParameter(format!(
                        "Invalid curve name (crv) '{}'. Valid values: P-256, P-384, P-521, P-256K.",
                        s.chars().take(40).collect::<String>()
                    ))
                })?,
            };
            KeySpec::Ec { curve }
        }
        KeyFamily::Oct => KeySpec::Oct {
            bits: c.key_size.unwrap_or(256),
        },
    })
}

fn release_record(p: Option<ReleasePolicy>) -> Option<ReleasePolicyRecord> {
    p.map(|p| ReleasePolicyRecord {
        content_type: p.content_type,
        immutable: p.immutable,
        data: p.data,
    })
}

impl Coffer {
    /// Configures the PKCS#11 token that holds `-HSM` keys.
    pub fn set_hsm_provider(&self, p: Arc<dyn KeyProvider>) {
        self.key_providers.set_hsm(p);
    }

    /// Picks the provider for a new key: the token for `-HSM` types, software otherwise.
    fn provider_for(&self, hsm: bool, kty: &str) -> Result<Arc<dyn KeyProvider>, ServiceError> {
        if !hsm {
            return Ok(self.key_providers.software());
        }
        self.key_providers.hsm().ok_or_else(|| {
            ServiceError::BadParameter(format!(
                "Key type {kty} needs an HSM, and this Coffer instance has no PKCS#11 token configured (as a Standard-tier vault has none). Start coffer serve with --pkcs11-module, --pkcs11-token and --pkcs11-pin, or use a software key type."
            ))
        })
    }

    pub(crate) fn key_meta(v: &Version) -> Result<KeyMeta, ServiceError> {
        Ok(serde_json::from_slice(&v.meta)?)
    }

    pub(crate) fn key_view(
        &self,
        s: &VaultSession,
        v: &Version,
        deletion: Option<Deletion>,
    ) -> Result<KeyView, ServiceError> {
        let m = Self::key_meta(v)?;
        Ok(KeyView {
            public: m.public.to_key()?,
            name: m.name,
            version: v.version.clone(),
            kty: m.kty,
            key_ops: m.key_ops,
            attributes: Attributes {
                enabled: m.enabled,
                not_before: m.nbf,
                expires: m.exp,
                created: v.created,
                updated: v.updated,
            },
            exportable: m.exportable,
            recovery_level: s.vault.recovery_level().as_str(),
            recoverable_days: s.vault.recoverable_days(),
            tags: m.tags,
            managed: m.managed,
            release_policy: m.release_policy.map(|r| ReleasePolicy {
                content_type: r.content_type,
                immutable: r.immutable,
                data: r.data,
            }),
            deletion,
        })
    }

    fn key_summary(&self, s: &VaultSession, r: ObjectSummary) -> Result<KeyView, ServiceError> {
        self.key_view(s, &r.latest, r.deletion)
    }

    /// The sealed material of a key version, opened.
    pub(crate) fn key_material(
        &self,
        s: &VaultSession,
        canonical: &str,
        v: &Version,
    ) -> Result<KeyMaterial, ServiceError> {
        let plain = s
            .key
            .open(&aad(s, ObjectKind::Key, canonical, &v.version), &v.sealed)?;
        Ok(KeyMaterial(plain))
    }

    /// Seals a new key's material and stores it as a new version of `name` with `meta`.
    pub(crate) async fn store_key_version(
        &self,
        s: &VaultSession,
        name: &ObjectName,
        version: String,
        key: &NewKey,
        meta: &KeyMeta,
    ) -> Result<Version, ServiceError> {
        let record = self.key_version(s, name, version, key, meta)?;
        self.append_object_version(s, &KEYS, name, record.clone())
            .await?;
        Ok(record)
    }

    /// A new key's material sealed as version `version` of `name`, with `meta`.
    pub(crate) fn key_version(
        &self,
        s: &VaultSession,
        name: &ObjectName,
        version: String,
        key: &NewKey,
        meta: &KeyMeta,
    ) -> Result<Version, ServiceError> {
        let now = self.vault_now(s);
        Ok(Version {
            sealed: s.key.seal(
                &aad(s, ObjectKind::Key, &name.canonical(), &version),
                &key.material.0,
            )?,
            version,
            created: now,
            updated: now,
            meta: serde_json::to_vec(meta)?,
        })
    }

    /// Generates a key as `c` describes, in software or the token; shared with certificates.
    pub(crate) async fn generate_key(
        &self,
        c: &KeyCreate,
    ) -> Result<(NewKey, KeyMeta), ServiceError> {
        let (family, hsm) = parse_kty(&c.kty)?;
        validate_tags(c.tags.as_ref())?;
        let key_ops = match &c.key_ops {
            Some(ops) => validate_ops(family, ops)?,
            None => default_ops(family),
        };
        let spec = spec_for(family, c)?;
        let provider = self.provider_for(hsm, &c.kty)?;
        let name = provider.name();
        let p = Arc::clone(&provider);
        let key = self.key_providers.run(move || p.generate(&spec)).await?;
        let meta = KeyMeta {
            name: String::new(),
            kty: c.kty.clone(),
            key_ops,
            public: PublicRecord::from_key(&key.public),
            enabled: c.attributes.enabled.unwrap_or(true),
            nbf: c.attributes.nbf,
            exp: c.attributes.exp,
            exportable: c.attributes.exportable,
            tags: c.tags.clone(),
            managed: false,
            release_policy: release_record(c.release_policy.clone()),
            provider: name.to_owned(),
        };
        Ok((key, meta))
    }

    /// Destroys the token objects of purged key versions. The purge has happened already, so a
    /// failure only leaves an unreachable object in the token: it is logged, not returned.
    pub(crate) async fn release_key_versions(
        &self,
        s: &VaultSession,
        canonical: &str,
        removed: &[Version],
    ) {
        for v in removed {
            let Ok(m) = Self::key_meta(v) else { continue };
            if m.provider == provider::SOFTWARE {
                continue;
            }
            let released = match (
                self.key_material(s, canonical, v),
                self.key_providers.named(&m.provider),
            ) {
                (Ok(material), Ok(p)) => self.key_providers.run(move || p.destroy(&material)).await,
                (Err(e), _) | (_, Err(e)) => Err(e),
            };
            if let Err(e) = released {
                tracing::warn!(vault = %s.doc.name, key = %m.name, version = %v.version, error = %e, "a purged key's token object could not be destroyed");
            }
        }
    }

    /// `POST /keys/{name}/create`.
    pub async fn create_key(
        &self,
        s: &VaultSession,
        name: &str,
        c: KeyCreate,
    ) -> Result<KeyView, ServiceError> {
        s.require(VaultOp::KeyCreate)?;
        let name = parse_name(name)?;
        s.throttle_key(VaultOp::KeyCreate, &c.kty, throttle::create_size(&c))?;
        let (key, mut meta) = self.generate_key(&c).await?;
        meta.name = name.as_str().to_owned();
        let version = coffer_crypto::random::hex(16)?;
        let record = self
            .store_key_version(s, &name, version, &key, &meta)
            .await?;
        self.key_view(s, &record, None)
    }

    /// `PUT /keys/{name}`: imports a private JWK.
    pub async fn import_key(
        &self,
        s: &VaultSession,
        name: &str,
        i: KeyImport,
    ) -> Result<KeyView, ServiceError> {
        s.require(VaultOp::KeyImport)?;
        let name = parse_name(name)?;
        validate_tags(i.tags.as_ref())?;
        let kty = i.key.kty.clone().ok_or_else(|| {
            ServiceError::BadParameter("The JSON Web Key has no kty member.".to_owned())
        })?;
        let (family, kty_hsm) = parse_kty(&kty)?;
        let hsm = kty_hsm || i.hsm.unwrap_or(false);
        let (throttle_kty, size) = throttle::import_class(family, hsm, &i.key);
        s.throttle_key(VaultOp::KeyImport, &throttle_kty, size)?;
        let key_ops = match &i.key.key_ops {
            Some(ops) => validate_ops(family, ops)?,
            None => default_ops(family),
        };
        let parts = jwk_parts(family, i.key)?;
        let provider = self.provider_for(hsm, &kty)?;
        let p = Arc::clone(&provider);
        let key = self.key_providers.run(move || p.import(parts)).await?;
        let stored_kty = match (family, hsm) {
            (KeyFamily::Rsa, true) => "RSA-HSM",
            (KeyFamily::Rsa, false) => "RSA",
            (KeyFamily::Ec, true) => "EC-HSM",
            (KeyFamily::Ec, false) => "EC",
            (KeyFamily::Oct, true) => "oct-HSM",
            (KeyFamily::Oct, false) => "oct",
        };
        let meta = KeyMeta {
            name: name.as_str().to_owned(),
            kty: stored_kty.to_owned(),
            key_ops,
            public: PublicRecord::from_key(&key.public),
            enabled: i.attributes.enabled.unwrap_or(true),
            nbf: i.attributes.nbf,
            exp: i.attributes.exp,
            exportable: i.attributes.exportable,
            tags: i.tags,
            managed: false,
            release_policy: release_record(i.release_policy),
            provider: provider.name().to_owned(),
        };
        let version = coffer_crypto::random::hex(16)?;
        let record = self
            .store_key_version(s, &name, version, &key, &meta)
            .await?;
        self.key_view(s, &record, None)
    }

    /// `GET /keys/{name}/{version?}`.
    pub async fn get_key(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
    ) -> Result<KeyView, ServiceError> {
        s.require(VaultOp::KeyGet)?;
        let (_, v) = self.object_version(s, &KEYS, name, version).await?;
        let m = Self::key_meta(&v)?;
        s.throttle_key(VaultOp::KeyGet, &m.kty, m.public.throttle_size())?;
        self.key_view(s, &v, None)
    }

    /// `PATCH /keys/{name}/{version?}`.
    pub async fn update_key(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
        u: KeyUpdate,
    ) -> Result<KeyView, ServiceError> {
        s.require(VaultOp::KeyUpdate)?;
        validate_tags(u.tags.as_ref())?;
        let (name, v) = self.object_version(s, &KEYS, name, version).await?;
        let mut m = Self::key_meta(&v)?;
        s.throttle_key(VaultOp::KeyUpdate, &m.kty, m.public.throttle_size())?;
        if m.managed {
            return Err(ServiceError::BadParameter(format!(
                "Key {} is managed by certificate {}; update the certificate instead.",
                m.name, m.name
            )));
        }
        let (family, _) = parse_kty(&m.kty)?;
        if let Some(ops) = u.key_ops {
            m.key_ops = validate_ops(family, &ops)?;
        }
        if let Some(t) = u.tags {
            m.tags = Some(t);
        }
        if let Some(e) = u.attributes.enabled {
            m.enabled = e;
        }
        if u.attributes.nbf.is_some() {
            m.nbf = u.attributes.nbf;
        }
        if u.attributes.exp.is_some() {
            m.exp = u.attributes.exp;
        }
        if let Some(p) = u.release_policy {
            if m.release_policy
                .as_ref()
                .is_some_and(|r| r.immutable == Some(true))
            {
                return Err(ServiceError::BadParameter(
                    "The key's release policy is immutable and cannot be changed.".to_owned(),
                ));
            }
            m.release_policy = release_record(Some(p));
        }
        let updated = self
            .update_object_meta(s, &KEYS, &name, &v.version, serde_json::to_vec(&m)?)
            .await?;
        self.key_view(s, &updated, None)
    }

    /// `POST /keys/{name}/rotate`: a new version like the latest one, with fresh material.
    pub async fn rotate_key(&self, s: &VaultSession, name: &str) -> Result<KeyView, ServiceError> {
        s.require(VaultOp::KeyRotate)?;
        self.rotate_key_now(s, name).await
    }

    pub(crate) async fn rotate_key_now(
        &self,
        s: &VaultSession,
        name: &str,
    ) -> Result<KeyView, ServiceError> {
        let (name, latest) = self.object_version(s, &KEYS, name, None).await?;
        let m = Self::key_meta(&latest)?;
        s.throttle_key(VaultOp::KeyRotate, &m.kty, m.public.throttle_size())?;
        if m.managed {
            return Err(ServiceError::BadParameter(format!(
                "Key {} is managed by a certificate and rotates with it.",
                m.name
            )));
        }
        let spec = match m.public.to_key()? {
            PublicKey::Rsa { n, e } => KeySpec::Rsa {
                bits: (n.len() * 8) as u32,
                public_exponent: Some(e.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b))),
            },
            PublicKey::Ec { curve, .. } => KeySpec::Ec { curve },
            PublicKey::Oct { bits } => KeySpec::Oct { bits },
        };
        let provider = self.key_providers.named(&m.provider)?;
        let key = self
            .key_providers
            .run(move || provider.generate(&spec))
            .await?;
        // The policy's expiryTime is what dates a rotated version. Without one the new version
        // does not expire: copying the old `exp` would give a rotated expired key no validity
        // at all, and would make a `Rotate` before expiry fire again at once, endlessly.
        let policy = self.rotation_policy_doc(s, &name).await?;
        let exp = match policy.and_then(|p| p.expiry_time) {
            Some(d) => Some(
                self.vault_now(s)
                    + coffer_domain::duration::parse_iso_duration(&d)
                        .map_err(|e| ServiceError::BadParameter(e.to_string()))?,
            ),
            None => None,
        };
        let meta = KeyMeta {
            public: PublicRecord::from_key(&key.public),
            enabled: true,
            nbf: None,
            exp,
            ..m
        };
        let version = coffer_crypto::random::hex(16)?;
        let record = self
            .store_key_version(s, &name, version, &key, &meta)
            .await?;
        self.key_view(s, &record, None)
    }

    /// `POST /rng`: `count` random bytes (1 to 128).
    pub async fn random_bytes(
        &self,
        s: &VaultSession,
        count: i64,
    ) -> Result<Vec<u8>, ServiceError> {
        s.require(VaultOp::RandomBytesGet)?;
        if !(1..=128).contains(&count) {
            return Err(ServiceError::BadParameter(format!(
                "Invalid count {count}: between 1 and 128 random bytes can be requested."
            )));
        }
        Ok(coffer_crypto::random::bytes(count as usize)?)
    }

    /// `POST /keys/{name}/{version}/release`: needs an attestation service, which Coffer has not.
    pub async fn release_key(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
    ) -> Result<(), ServiceError> {
        s.require(VaultOp::KeyRelease)?;
        let (_, v) = self.object_version(s, &KEYS, name, version).await?;
        let m = Self::key_meta(&v)?;
        let reason = if m.release_policy.is_none() || m.exportable != Some(true) {
            "it is not exportable or has no release policy"
        } else {
            "releasing a key needs an attestation token from an attestation service, and Coffer has none"
        };
        Err(ServiceError::BadParameter(format!(
            "Key {} cannot be released: {reason}.",
            m.name
        )))
    }

    /// `GET /keys/{name}/{version}/attestation`: only Managed HSM keys have one.
    pub async fn key_attestation(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
    ) -> Result<(), ServiceError> {
        s.require(VaultOp::KeyAttestationGet)?;
        self.object_version(s, &KEYS, name, version).await?;
        Err(ServiceError::BadParameter(
            "Key attestation is available only for keys in a Managed HSM.".to_owned(),
        ))
    }
}

/// Turns a JWK's members into the private parts a provider imports, refusing public-only JWKs.
fn jwk_parts(f: KeyFamily, k: JwkInput) -> Result<PrivateKeyParts, ServiceError> {
    let missing = |m: &str| {
        ServiceError::BadParameter(format!(
            "The JSON Web Key lacks the '{m}' member; importing a key needs its private part."
        ))
    };
    Ok(match f {
        KeyFamily::Rsa => PrivateKeyParts::Rsa {
            n: k.n.ok_or_else(|| missing("n"))?,
            e: k.e.ok_or_else(|| missing("e"))?,
            d: k.d.ok_or_else(|| missing("d"))?,
            p: k.p.ok_or_else(|| missing("p"))?,
            q: k.q.ok_or_else(|| missing("q"))?,
            dp: k.dp.ok_or_else(|| missing("dp"))?,
            dq: k.dq.ok_or_else(|| missing("dq"))?,
            qi: k.qi.ok_or_else(|| missing("qi"))?,
        },
        KeyFamily::Ec => {
            let crv = k.crv.ok_or_else(|| missing("crv"))?;
            PrivateKeyParts::Ec {
                curve: Curve::parse(&crv).ok_or_else(|| {
                    ServiceError::BadParameter(format!(
                        "Invalid curve name (crv) '{}'. Valid values: P-256, P-384, P-521, P-256K.",
                        crv.chars().take(40).collect::<String>()
                    ))
                })?,
                x: k.x.ok_or_else(|| missing("x"))?,
                y: k.y.ok_or_else(|| missing("y"))?,
                d: k.d.ok_or_else(|| missing("d"))?,
            }
        }
        KeyFamily::Oct => PrivateKeyParts::Oct {
            k: k.k.ok_or_else(|| missing("k"))?,
        },
    })
}

#[cfg(test)]
mod tests;
