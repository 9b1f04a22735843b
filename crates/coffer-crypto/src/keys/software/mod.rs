//! The software key provider: vault keys whose private half is held by this process (sealed at
//! rest by the service) and used through aws-lc-rs. RSA and EC material is PKCS#8 DER, `oct`
//! material the raw AES key.

mod cache;
mod ec;
mod oct;
mod rsa;

use zeroize::Zeroizing;

use super::{
    CipherParams, Encrypted, EncryptionAlgorithm, KeyError, KeyMaterial, KeyProvider, KeySpec,
    NewKey, PrivateKeyParts, PublicKey, SignatureAlgorithm,
};

/// Key operations in software with aws-lc-rs (and RustCrypto `aes-kw` for A192KW, which
/// aws-lc-rs lacks). Holds no state: every call brings its key material.
#[derive(Clone, Copy, Debug, Default)]
pub struct SoftwareKeys;

impl SoftwareKeys {
    /// Takes a PKCS#8 private key (as a PFX or PEM carries it) as software key material: RSA,
    /// or EC on one of Key Vault's curves.
    pub fn from_pkcs8(der: &[u8]) -> Result<NewKey, KeyError> {
        if let Ok(pair) = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(der) {
            return rsa::new_key(&pair);
        }
        for curve in crate::keys::Curve::ALL {
            if let Ok(pair) =
                aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(ec::signing(curve), der)
            {
                return ec::new_key(curve, &pair);
            }
        }
        Err(KeyError::InvalidKey(
            "The private key is neither an RSA key nor an EC key on P-256, P-384, P-521 or P-256K."
                .to_owned(),
        ))
    }
}

impl KeyProvider for SoftwareKeys {
    fn name(&self) -> &'static str {
        "software"
    }

    fn generate(&self, spec: &KeySpec) -> Result<NewKey, KeyError> {
        match *spec {
            KeySpec::Rsa {
                bits,
                public_exponent,
            } => rsa::generate(bits, public_exponent),
            KeySpec::Ec { curve } => ec::generate(curve),
            KeySpec::Oct { bits } => oct::generate(bits),
        }
    }

    fn import(&self, parts: PrivateKeyParts) -> Result<NewKey, KeyError> {
        match parts {
            PrivateKeyParts::Rsa {
                n,
                e,
                d,
                p,
                q,
                dp,
                dq,
                qi,
            } => rsa::import(&rsa::Parts {
                n: &n,
                e: &e,
                d: &d,
                p: &p,
                q: &q,
                dp: &dp,
                dq: &dq,
                qi: &qi,
            }),
            PrivateKeyParts::Ec { curve, x, y, d } => ec::import(curve, &x, &y, &d),
            PrivateKeyParts::Oct { k } => oct::import(&k),
        }
    }

    fn encrypt(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        plaintext: &[u8],
        params: CipherParams<'_>,
    ) -> Result<Encrypted, KeyError> {
        match public {
            PublicKey::Rsa { .. } => Ok(Encrypted {
                ciphertext: rsa::encrypt(&key.0, rsa::cipher(alg)?, plaintext)?,
                iv: None,
                tag: None,
            }),
            PublicKey::Ec { .. } => Err(ec::cannot_encrypt(alg.as_str())),
            PublicKey::Oct { bits } => oct::encrypt(oct_key(key, *bits)?, alg, plaintext, params),
        }
    }

    fn decrypt(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        ciphertext: &[u8],
        params: CipherParams<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match public {
            PublicKey::Rsa { .. } => rsa::decrypt(&key.0, rsa::cipher(alg)?, ciphertext),
            PublicKey::Ec { .. } => Err(ec::cannot_encrypt(alg.as_str())),
            PublicKey::Oct { bits } => oct::decrypt(oct_key(key, *bits)?, alg, ciphertext, params),
        }
    }

    fn sign(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: SignatureAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        match public {
            PublicKey::Rsa { .. } => {
                let scheme = rsa::signature_scheme(alg)?;
                check_digest(alg, digest)?;
                rsa::sign(&key.0, scheme, digest)
            }
            PublicKey::Ec { curve, .. } => {
                ec::check_algorithm(*curve, alg)?;
                check_digest(alg, digest)?;
                ec::sign(&key.0, *curve, digest)
            }
            PublicKey::Oct { .. } => Err(oct::cannot_sign(alg.as_str())),
        }
    }

    fn verify(
        &self,
        _key: &KeyMaterial,
        public: &PublicKey,
        alg: SignatureAlgorithm,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<bool, KeyError> {
        // Verification needs only the public half, which the caller already holds.
        match public {
            PublicKey::Rsa { n, e } => {
                let scheme = rsa::signature_scheme(alg)?;
                check_digest(alg, digest)?;
                rsa::verify(n, e, scheme, digest, signature)
            }
            PublicKey::Ec { curve, x, y } => {
                ec::check_algorithm(*curve, alg)?;
                check_digest(alg, digest)?;
                ec::verify(*curve, x, y, digest, signature)
            }
            PublicKey::Oct { .. } => Err(oct::cannot_sign(alg.as_str())),
        }
    }

    fn wrap(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        cek: &[u8],
    ) -> Result<Vec<u8>, KeyError> {
        match public {
            PublicKey::Rsa { .. } => rsa::encrypt(&key.0, rsa::cipher(alg)?, cek),
            PublicKey::Ec { .. } => Err(ec::cannot_encrypt(alg.as_str())),
            PublicKey::Oct { bits } => oct::wrap(oct_key(key, *bits)?, alg, cek),
        }
    }

    fn unwrap(
        &self,
        key: &KeyMaterial,
        public: &PublicKey,
        alg: EncryptionAlgorithm,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        match public {
            PublicKey::Rsa { .. } => rsa::decrypt(&key.0, rsa::cipher(alg)?, wrapped),
            PublicKey::Ec { .. } => Err(ec::cannot_encrypt(alg.as_str())),
            PublicKey::Oct { bits } => oct::unwrap(oct_key(key, *bits)?, alg, wrapped),
        }
    }

    fn destroy(&self, _key: &KeyMaterial) -> Result<(), KeyError> {
        Ok(())
    }
}

/// The raw AES key, after checking it is the size its public description says.
fn oct_key(key: &KeyMaterial, bits: u32) -> Result<&[u8], KeyError> {
    if key.0.len().checked_mul(8) == usize::try_from(bits).ok() {
        Ok(&key.0)
    } else {
        Err(bad_material("oct"))
    }
}

/// Key Vault signs a digest the caller made, so its length is the only check of it we can do.
fn check_digest(alg: SignatureAlgorithm, digest: &[u8]) -> Result<(), KeyError> {
    if digest.len() == alg.digest_len() {
        Ok(())
    } else {
        Err(KeyError::InvalidInput(format!(
            "The digest is {} bytes long; {} signs a {}-byte digest.",
            digest.len(),
            alg.as_str(),
            alg.digest_len()
        )))
    }
}

/// `alg` does not apply to keys of `kind`; `hint` says what does.
fn unsupported(alg: &str, kind: &str, hint: &str) -> KeyError {
    KeyError::UnsupportedAlgorithm(format!(
        "The algorithm {alg} is not supported by {kind} keys; {hint}."
    ))
}

/// Stored material that the library refuses: never the caller's fault, so a provider failure.
fn bad_material(kind: &str) -> KeyError {
    KeyError::Provider(format!("the stored {kind} key material is not usable"))
}

/// An aws-lc-rs call that should not fail did.
fn library(what: &str) -> KeyError {
    KeyError::Provider(format!("{what} failed in the crypto library"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Curve;

    #[test]
    fn name_and_destroy() {
        let provider = SoftwareKeys;
        assert_eq!(provider.name(), "software");
        let key = provider.generate(&KeySpec::Oct { bits: 128 }).unwrap();
        assert_eq!(provider.destroy(&key.material), Ok(()));
    }

    #[test]
    fn digest_length_is_checked_before_signing() {
        let provider = SoftwareKeys;
        let key = provider
            .generate(&KeySpec::Ec { curve: Curve::P256 })
            .unwrap();
        let err = provider
            .sign(
                &key.material,
                &key.public,
                SignatureAlgorithm::Es256,
                &[0; 20],
            )
            .unwrap_err();
        assert_eq!(
            err,
            KeyError::InvalidInput(
                "The digest is 20 bytes long; ES256 signs a 32-byte digest.".into()
            )
        );
        let err = provider
            .verify(
                &key.material,
                &key.public,
                SignatureAlgorithm::Es256,
                &[0; 48],
                &[0; 64],
            )
            .unwrap_err();
        assert!(matches!(err, KeyError::InvalidInput(_)), "{err:?}");
    }

    #[test]
    fn oct_material_must_match_its_public_size() {
        let provider = SoftwareKeys;
        let key = provider.generate(&KeySpec::Oct { bits: 256 }).unwrap();
        let err = provider
            .encrypt(
                &key.material,
                &PublicKey::Oct { bits: 128 },
                EncryptionAlgorithm::A128Gcm,
                b"data",
                CipherParams::default(),
            )
            .unwrap_err();
        assert!(matches!(err, KeyError::Provider(_)), "{err:?}");
    }

    #[test]
    fn symmetric_and_ec_keys_refuse_what_they_cannot_do() {
        let provider = SoftwareKeys;
        let oct = provider.generate(&KeySpec::Oct { bits: 256 }).unwrap();
        let err = provider
            .sign(
                &oct.material,
                &oct.public,
                SignatureAlgorithm::Rs256,
                &[0; 32],
            )
            .unwrap_err();
        assert!(matches!(err, KeyError::UnsupportedAlgorithm(_)), "{err:?}");

        let ec = provider
            .generate(&KeySpec::Ec { curve: Curve::P384 })
            .unwrap();
        for alg in EncryptionAlgorithm::ALL {
            let err = provider
                .encrypt(
                    &ec.material,
                    &ec.public,
                    alg,
                    b"data",
                    CipherParams::default(),
                )
                .unwrap_err();
            assert!(matches!(err, KeyError::UnsupportedAlgorithm(_)), "{err:?}");
            let err = provider
                .wrap(&ec.material, &ec.public, alg, &[0; 16])
                .unwrap_err();
            assert!(matches!(err, KeyError::UnsupportedAlgorithm(_)), "{err:?}");
        }
    }
}
