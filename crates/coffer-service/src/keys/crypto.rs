//! Cryptographic operations with a vault key, with Key Vault's rules on when a key may be used:
//! its `key_ops`, its enabled flag (a disabled key still encrypts, wraps and verifies, but does
//! not decrypt, unwrap or sign) and its validity window (outside it only decrypt, unwrap and
//! verify work, so old data stays readable).

use std::sync::Arc;

use coffer_crypto::keys::{
    CipherParams, EncryptionAlgorithm, KeyMaterial, KeyProvider, PublicKey, SignatureAlgorithm,
};
use coffer_domain::VaultOp;
use zeroize::Zeroizing;

use super::record::KeyMeta;
use crate::objects::KEYS;
use crate::{Coffer, ServiceError, VaultSession};

/// Input of encrypt, decrypt, wrap and unwrap, base64url already decoded.
#[derive(Default)]
pub struct CryptoRequest {
    pub alg: String,
    pub value: Zeroizing<Vec<u8>>,
    pub iv: Option<Vec<u8>>,
    pub aad: Option<Vec<u8>>,
    pub tag: Option<Vec<u8>>,
}

/// What an operation returns, with the key version that did it.
pub struct CryptoOutput {
    pub name: String,
    pub version: String,
    pub value: Zeroizing<Vec<u8>>,
    pub iv: Option<Vec<u8>>,
    pub tag: Option<Vec<u8>>,
    pub aad: Option<Vec<u8>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    Wrap,
    Unwrap,
}

impl Use {
    fn key_op(self) -> &'static str {
        match self {
            Self::Encrypt => "encrypt",
            Self::Decrypt => "decrypt",
            Self::Sign => "sign",
            Self::Verify => "verify",
            Self::Wrap => "wrapKey",
            Self::Unwrap => "unwrapKey",
        }
    }

    fn vault_op(self) -> VaultOp {
        match self {
            Self::Encrypt => VaultOp::KeyEncrypt,
            Self::Decrypt => VaultOp::KeyDecrypt,
            Self::Sign => VaultOp::KeySign,
            Self::Verify => VaultOp::KeyVerify,
            Self::Wrap => VaultOp::KeyWrap,
            Self::Unwrap => VaultOp::KeyUnwrap,
        }
    }

    /// Whether the operation produces new protected data (refused outside the validity window).
    fn protects(self) -> bool {
        matches!(self, Self::Encrypt | Self::Sign | Self::Wrap)
    }

    /// Whether a disabled key refuses the operation.
    fn needs_enabled(self) -> bool {
        matches!(self, Self::Decrypt | Self::Sign | Self::Unwrap)
    }
}

struct Prepared {
    name: String,
    version: String,
    material: KeyMaterial,
    public: PublicKey,
    provider: Arc<dyn KeyProvider>,
}

fn refused(message: String, inner_code: &'static str) -> ServiceError {
    ServiceError::Disabled {
        message,
        inner_code,
    }
}

fn encryption_alg(alg: &str) -> Result<EncryptionAlgorithm, ServiceError> {
    EncryptionAlgorithm::parse(alg).ok_or_else(|| {
        ServiceError::BadParameter(format!(
            "Invalid algorithm '{}'. Valid values: {}.",
            alg.chars().take(40).collect::<String>(),
            EncryptionAlgorithm::ALL
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

fn signature_alg(alg: &str) -> Result<SignatureAlgorithm, ServiceError> {
    SignatureAlgorithm::parse(alg).ok_or_else(|| {
        ServiceError::BadParameter(format!(
            "Invalid signature algorithm '{}'. Valid values: {}.",
            alg.chars().take(40).collect::<String>(),
            SignatureAlgorithm::ALL
                .iter()
                .map(|a| a.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

impl Coffer {
    async fn prepare(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
        u: Use,
    ) -> Result<Prepared, ServiceError> {
        s.require(u.vault_op())?;
        let (name, v) = self.object_version(s, &KEYS, name, version).await?;
        let m: KeyMeta = Self::key_meta(&v)?;
        let op = u.key_op();
        if u.needs_enabled() && !m.enabled {
            return Err(refused(
                format!("Operation {op} is not allowed on a disabled key."),
                "KeyDisabled",
            ));
        }
        if !m.key_ops.iter().any(|o| o == op) {
            return Err(refused(
                format!("Operation {op} is not permitted on this key."),
                "KeyOperationForbidden",
            ));
        }
        if u.protects() {
            let now = self.now();
            if m.nbf.is_some_and(|nbf| now < nbf) {
                return Err(refused(
                    format!("Operation {op} is not allowed on a key that is not yet valid."),
                    "KeyNotYetValid",
                ));
            }
            if m.exp.is_some_and(|exp| now >= exp) {
                return Err(refused(
                    format!("Operation {op} is not allowed on an expired key."),
                    "KeyExpired",
                ));
            }
        }
        Ok(Prepared {
            material: self.key_material(s, &name.canonical(), &v)?,
            public: m.public.to_key()?,
            provider: self.key_providers.named(&m.provider)?,
            name: m.name,
            version: v.version,
        })
    }

    fn output(p: &Prepared, value: Zeroizing<Vec<u8>>) -> CryptoOutput {
        CryptoOutput {
            name: p.name.clone(),
            version: p.version.clone(),
            value,
            iv: None,
            tag: None,
            aad: None,
        }
    }

    /// `POST /keys/{name}/{version}/encrypt`.
    pub async fn encrypt(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
        r: CryptoRequest,
    ) -> Result<CryptoOutput, ServiceError> {
        let alg = encryption_alg(&r.alg)?;
        let p = self.prepare(s, name, version, Use::Encrypt).await?;
        let (provider, material, public) = (
            Arc::clone(&p.provider),
            p.material.0.clone(),
            p.public.clone(),
        );
        let (value, iv, aad) = (r.value, r.iv, r.aad.clone());
        let out = self
            .key_providers
            .run(move || {
                provider.encrypt(
                    &KeyMaterial(material),
                    &public,
                    alg,
                    &value,
                    CipherParams {
                        iv: iv.as_deref(),
                        aad: aad.as_deref(),
                        tag: None,
                    },
                )
            })
            .await?;
        let mut o = Self::output(&p, Zeroizing::new(out.ciphertext));
        o.iv = out.iv;
        o.tag = out.tag;
        o.aad = r.aad;
        Ok(o)
    }

    /// `POST /keys/{name}/{version}/decrypt`.
    pub async fn decrypt(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
        r: CryptoRequest,
    ) -> Result<CryptoOutput, ServiceError> {
        let alg = encryption_alg(&r.alg)?;
        let p = self.prepare(s, name, version, Use::Decrypt).await?;
        let (provider, material, public) = (
            Arc::clone(&p.provider),
            p.material.0.clone(),
            p.public.clone(),
        );
        let plain = self
            .key_providers
            .run(move || {
                provider.decrypt(
                    &KeyMaterial(material),
                    &public,
                    alg,
                    &r.value,
                    CipherParams {
                        iv: r.iv.as_deref(),
                        aad: r.aad.as_deref(),
                        tag: r.tag.as_deref(),
                    },
                )
            })
            .await?;
        Ok(Self::output(&p, plain))
    }

    /// `POST /keys/{name}/{version}/wrapkey`.
    pub async fn wrap_key(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
        r: CryptoRequest,
    ) -> Result<CryptoOutput, ServiceError> {
        let alg = encryption_alg(&r.alg)?;
        let p = self.prepare(s, name, version, Use::Wrap).await?;
        let (provider, material, public) = (
            Arc::clone(&p.provider),
            p.material.0.clone(),
            p.public.clone(),
        );
        let wrapped = self
            .key_providers
            .run(move || provider.wrap(&KeyMaterial(material), &public, alg, &r.value))
            .await?;
        Ok(Self::output(&p, Zeroizing::new(wrapped)))
    }

    /// `POST /keys/{name}/{version}/unwrapkey`.
    pub async fn unwrap_key(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
        r: CryptoRequest,
    ) -> Result<CryptoOutput, ServiceError> {
        let alg = encryption_alg(&r.alg)?;
        let p = self.prepare(s, name, version, Use::Unwrap).await?;
        let (provider, material, public) = (
            Arc::clone(&p.provider),
            p.material.0.clone(),
            p.public.clone(),
        );
        let cek = self
            .key_providers
            .run(move || provider.unwrap(&KeyMaterial(material), &public, alg, &r.value))
            .await?;
        Ok(Self::output(&p, cek))
    }

    /// `POST /keys/{name}/{version}/sign`: signs a digest the caller computed.
    pub async fn sign(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
        alg: &str,
        digest: Vec<u8>,
    ) -> Result<CryptoOutput, ServiceError> {
        let alg = signature_alg(alg)?;
        let p = self.prepare(s, name, version, Use::Sign).await?;
        let (provider, material, public) = (
            Arc::clone(&p.provider),
            p.material.0.clone(),
            p.public.clone(),
        );
        let sig = self
            .key_providers
            .run(move || provider.sign(&KeyMaterial(material), &public, alg, &digest))
            .await?;
        Ok(Self::output(&p, Zeroizing::new(sig)))
    }

    /// `POST /keys/{name}/{version}/verify`.
    pub async fn verify(
        &self,
        s: &VaultSession,
        name: &str,
        version: Option<&str>,
        alg: &str,
        digest: Vec<u8>,
        signature: Vec<u8>,
    ) -> Result<bool, ServiceError> {
        let alg = signature_alg(alg)?;
        let p = self.prepare(s, name, version, Use::Verify).await?;
        let (provider, material, public) = (
            Arc::clone(&p.provider),
            p.material.0.clone(),
            p.public.clone(),
        );
        self.key_providers
            .run(move || provider.verify(&KeyMaterial(material), &public, alg, &digest, &signature))
            .await
    }
}
