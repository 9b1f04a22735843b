//! Cryptographic operations with a vault key, with Key Vault's rules on when a key may be used:
//! its `key_ops`, its enabled flag (a disabled RSA or EC key refuses the private-key operations,
//! decrypt, unwrap and sign, and still encrypts, wraps and verifies, as live Key Vault does; a
//! disabled `oct` key refuses everything, since each of its operations uses the secret key) and its validity window (outside it only decrypt, unwrap and verify
//! work, so old data stays readable). An algorithm the key's type can never do is refused
//! as a bad parameter before any of those rules, so the caller learns what is actually wrong.

use std::sync::Arc;

use coffer_crypto::keys::{
    CipherParams, EncryptionAlgorithm, KeyError, KeyMaterial, KeyProvider, PublicKey,
    SignatureAlgorithm,
};
use coffer_domain::VaultOp;
use zeroize::Zeroizing;

use super::record::KeyMeta;
use super::{KeyFamily, parse_kty};
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
}

/// The algorithm an operation names, for the key-type check in [`Coffer::prepare`].
#[derive(Clone, Copy)]
enum Alg {
    Cipher(EncryptionAlgorithm),
    Signature(SignatureAlgorithm),
}

impl Alg {
    fn as_str(self) -> &'static str {
        match self {
            Self::Cipher(a) => a.as_str(),
            Self::Signature(a) => a.as_str(),
        }
    }
}

/// Whether keys of `family` can do `u` with `alg` at all (size and curve are the provider's to
/// check). RSA encrypts and wraps with the RSA schemes; `oct` encrypts with AES-GCM/CBC and wraps
/// with AES-KW; EC only signs.
fn family_fits(family: KeyFamily, u: Use, alg: Alg) -> bool {
    use EncryptionAlgorithm as E;
    use SignatureAlgorithm as S;
    let rsa_cipher = |a| matches!(a, E::Rsa1_5 | E::RsaOaep | E::RsaOaep256);
    let aes_wrap = |a| matches!(a, E::A128Kw | E::A192Kw | E::A256Kw);
    match (family, alg) {
        (KeyFamily::Rsa, Alg::Cipher(a)) => rsa_cipher(a),
        (KeyFamily::Rsa, Alg::Signature(a)) => {
            !matches!(a, S::Es256 | S::Es384 | S::Es512 | S::Es256K)
        }
        (KeyFamily::Ec, Alg::Signature(a)) => {
            matches!(a, S::Es256 | S::Es384 | S::Es512 | S::Es256K)
        }
        (KeyFamily::Ec, Alg::Cipher(_)) | (KeyFamily::Oct, Alg::Signature(_)) => false,
        (KeyFamily::Oct, Alg::Cipher(a)) => {
            let wrapping = matches!(u, Use::Wrap | Use::Unwrap);
            !rsa_cipher(a) && aes_wrap(a) == wrapping
        }
    }
}

fn family_name(f: KeyFamily) -> &'static str {
    match f {
        KeyFamily::Rsa => "RSA",
        KeyFamily::Ec => "EC",
        KeyFamily::Oct => "oct",
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
        alg: Alg,
    ) -> Result<Prepared, ServiceError> {
        s.require(u.vault_op())?;
        let (name, v) = self.object_version(s, &KEYS, name, version).await?;
        let m: KeyMeta = Self::key_meta(&v)?;
        s.throttle_key(u.vault_op(), &m.kty, m.public.throttle_size())?;
        let op = u.key_op();
        let (family, _) = parse_kty(&m.kty)?;
        if !family_fits(family, u, alg) {
            return Err(ServiceError::BadParameter(format!(
                "The algorithm {} cannot be used to {op} with {} keys.",
                alg.as_str(),
                family_name(family)
            )));
        }
        let private =
            matches!(u, Use::Decrypt | Use::Unwrap | Use::Sign) || matches!(family, KeyFamily::Oct);
        if !m.enabled && private {
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
            let now = self.vault_now(s);
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

    /// Runs one provider call with a prepared key on the bounded blocking pool, moving the key
    /// material into it rather than copying it.
    async fn with_key<T: Send + 'static>(
        &self,
        p: Prepared,
        f: impl FnOnce(&dyn KeyProvider, &KeyMaterial, &PublicKey) -> Result<T, KeyError>
        + Send
        + 'static,
    ) -> Result<(KeyId, T), ServiceError> {
        let Prepared {
            name,
            version,
            material,
            public,
            provider,
        } = p;
        let out = self
            .key_providers
            .run(move || f(provider.as_ref(), &material, &public))
            .await?;
        Ok((KeyId { name, version }, out))
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
        let p = self
            .prepare(s, name, version, Use::Encrypt, Alg::Cipher(alg))
            .await?;
        let (value, iv, aad) = (r.value, r.iv, r.aad.clone());
        let (id, out) = self
            .with_key(p, move |provider, key, public| {
                let params = CipherParams {
                    iv: iv.as_deref(),
                    aad: aad.as_deref(),
                    tag: None,
                };
                provider.encrypt(key, public, alg, &value, params)
            })
            .await?;
        let mut o = id.output(Zeroizing::new(out.ciphertext));
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
        let p = self
            .prepare(s, name, version, Use::Decrypt, Alg::Cipher(alg))
            .await?;
        let (id, plain) = self
            .with_key(p, move |provider, key, public| {
                let params = CipherParams {
                    iv: r.iv.as_deref(),
                    aad: r.aad.as_deref(),
                    tag: r.tag.as_deref(),
                };
                provider.decrypt(key, public, alg, &r.value, params)
            })
            .await?;
        Ok(id.output(plain))
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
        let p = self
            .prepare(s, name, version, Use::Wrap, Alg::Cipher(alg))
            .await?;
        let (id, wrapped) = self
            .with_key(p, move |provider, key, public| {
                provider.wrap(key, public, alg, &r.value)
            })
            .await?;
        Ok(id.output(Zeroizing::new(wrapped)))
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
        let p = self
            .prepare(s, name, version, Use::Unwrap, Alg::Cipher(alg))
            .await?;
        let (id, cek) = self
            .with_key(p, move |provider, key, public| {
                provider.unwrap(key, public, alg, &r.value)
            })
            .await?;
        Ok(id.output(cek))
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
        let p = self
            .prepare(s, name, version, Use::Sign, Alg::Signature(alg))
            .await?;
        let (id, sig) = self
            .with_key(p, move |provider, key, public| {
                provider.sign(key, public, alg, &digest)
            })
            .await?;
        Ok(id.output(Zeroizing::new(sig)))
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
        let p = self
            .prepare(s, name, version, Use::Verify, Alg::Signature(alg))
            .await?;
        let (_, ok) = self
            .with_key(p, move |provider, key, public| {
                provider.verify(key, public, alg, &digest, &signature)
            })
            .await?;
        Ok(ok)
    }
}

/// The key version an operation used, for the answer's `kid`.
struct KeyId {
    name: String,
    version: String,
}

impl KeyId {
    fn output(self, value: Zeroizing<Vec<u8>>) -> CryptoOutput {
        CryptoOutput {
            name: self.name,
            version: self.version,
            value,
            iv: None,
            tag: None,
            aad: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_takes_only_its_algorithms() {
        use EncryptionAlgorithm as E;
        use SignatureAlgorithm as S;
        let c = Alg::Cipher;
        assert!(family_fits(KeyFamily::Rsa, Use::Encrypt, c(E::RsaOaep256)));
        assert!(family_fits(KeyFamily::Rsa, Use::Unwrap, c(E::Rsa1_5)));
        assert!(!family_fits(KeyFamily::Rsa, Use::Encrypt, c(E::A128Gcm)));
        assert!(family_fits(
            KeyFamily::Rsa,
            Use::Sign,
            Alg::Signature(S::Ps512)
        ));
        assert!(!family_fits(
            KeyFamily::Rsa,
            Use::Sign,
            Alg::Signature(S::Es256)
        ));
        assert!(family_fits(
            KeyFamily::Ec,
            Use::Verify,
            Alg::Signature(S::Es256K)
        ));
        assert!(!family_fits(
            KeyFamily::Ec,
            Use::Sign,
            Alg::Signature(S::Rs256)
        ));
        for a in E::ALL {
            assert!(!family_fits(KeyFamily::Ec, Use::Encrypt, c(a)));
            assert!(!family_fits(KeyFamily::Ec, Use::Wrap, c(a)));
        }
        assert!(family_fits(KeyFamily::Oct, Use::Encrypt, c(E::A192CbcPad)));
        assert!(family_fits(KeyFamily::Oct, Use::Decrypt, c(E::A256Gcm)));
        assert!(!family_fits(KeyFamily::Oct, Use::Encrypt, c(E::A128Kw)));
        assert!(family_fits(KeyFamily::Oct, Use::Wrap, c(E::A192Kw)));
        assert!(!family_fits(KeyFamily::Oct, Use::Unwrap, c(E::A128Gcm)));
        assert!(!family_fits(KeyFamily::Oct, Use::Wrap, c(E::RsaOaep)));
        assert!(!family_fits(
            KeyFamily::Oct,
            Use::Sign,
            Alg::Signature(S::Rs256)
        ));
    }
}
