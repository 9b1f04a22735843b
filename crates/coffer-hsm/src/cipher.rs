//! Encryption and key wrapping inside the token: RSA1_5 (`CKM_RSA_PKCS`), RSA-OAEP and
//! RSA-OAEP-256 (`CKM_RSA_PKCS_OAEP` with SHA-1 or SHA-256), AES-GCM, AES-CBC (with and without
//! PKCS#7 padding) and AES key wrap (`CKM_AES_KEY_WRAP`, RFC 3394). What the token refuses is
//! reported as unsupported, never done in software.

use coffer_crypto::keys::{CipherParams, Encrypted, EncryptionAlgorithm, KeyError, PublicKey};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use zeroize::Zeroizing;

use crate::error::{is_infrastructure, is_mechanism_refusal, provider, rv_of};
use crate::handle::KeyId;
use crate::objects;
use crate::sign::key_kind;

const GCM_IV_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;
const CBC_IV_LEN: usize = 16;

/// How an algorithm applies to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Rsa,
    Gcm { bits: u32 },
    Cbc { bits: u32, pad: bool },
    KeyWrap { bits: u32 },
}

fn kind(alg: EncryptionAlgorithm) -> Kind {
    use EncryptionAlgorithm as A;
    match alg {
        A::Rsa1_5 | A::RsaOaep | A::RsaOaep256 => Kind::Rsa,
        A::A128Gcm => Kind::Gcm { bits: 128 },
        A::A192Gcm => Kind::Gcm { bits: 192 },
        A::A256Gcm => Kind::Gcm { bits: 256 },
        A::A128Cbc => Kind::Cbc {
            bits: 128,
            pad: false,
        },
        A::A192Cbc => Kind::Cbc {
            bits: 192,
            pad: false,
        },
        A::A256Cbc => Kind::Cbc {
            bits: 256,
            pad: false,
        },
        A::A128CbcPad => Kind::Cbc {
            bits: 128,
            pad: true,
        },
        A::A192CbcPad => Kind::Cbc {
            bits: 192,
            pad: true,
        },
        A::A256CbcPad => Kind::Cbc {
            bits: 256,
            pad: true,
        },
        A::A128Kw => Kind::KeyWrap { bits: 128 },
        A::A192Kw => Kind::KeyWrap { bits: 192 },
        A::A256Kw => Kind::KeyWrap { bits: 256 },
    }
}

/// Checks that `alg` fits the key: RSA algorithms need an RSA key, AES ones an AES key of the
/// algorithm's size.
fn check_key(alg: EncryptionAlgorithm, public: &PublicKey) -> Result<Kind, KeyError> {
    let k = kind(alg);
    let fits = match (k, public) {
        (Kind::Rsa, PublicKey::Rsa { .. }) => true,
        (
            Kind::Gcm { bits } | Kind::Cbc { bits, .. } | Kind::KeyWrap { bits },
            PublicKey::Oct { bits: key_bits },
        ) => {
            if bits != *key_bits {
                return Err(KeyError::UnsupportedAlgorithm(format!(
                    "{} needs a {bits}-bit AES key; this key has {key_bits} bits",
                    alg.as_str()
                )));
            }
            true
        }
        _ => false,
    };
    if fits {
        Ok(k)
    } else {
        Err(KeyError::UnsupportedAlgorithm(format!(
            "{} cannot be used with {} key",
            alg.as_str(),
            key_kind(public)
        )))
    }
}

fn unsupported(alg: EncryptionAlgorithm, token_label: &str) -> KeyError {
    KeyError::UnsupportedAlgorithm(format!(
        "{} is not supported by the PKCS#11 token '{token_label}'",
        alg.as_str()
    ))
}

fn rsa_mechanism(alg: EncryptionAlgorithm) -> Mechanism<'static> {
    match alg {
        EncryptionAlgorithm::RsaOaep => Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
            MechanismType::SHA1,
            PkcsMgfType::MGF1_SHA1,
            PkcsOaepSource::empty(),
        )),
        EncryptionAlgorithm::RsaOaep256 => Mechanism::RsaPkcsOaep(PkcsOaepParams::new(
            MechanismType::SHA256,
            PkcsMgfType::MGF1_SHA256,
            PkcsOaepSource::empty(),
        )),
        _ => Mechanism::RsaPkcs,
    }
}

/// Maps an encryption failure: a refused mechanism is unsupported, an input the token rejects
/// is the caller's, anything else is the provider's.
fn encrypt_error(alg: EncryptionAlgorithm, token_label: &str, err: &CkError) -> KeyError {
    match rv_of(err) {
        Some((rv, f)) if is_mechanism_refusal(rv, f) => unsupported(alg, token_label),
        Some((RvError::DataLenRange | RvError::DataInvalid, _)) => KeyError::InvalidInput(format!(
            "the data is too long or malformed for {} with this key",
            alg.as_str()
        )),
        _ => provider("C_Encrypt", err),
    }
}

/// Maps a decryption failure. Whatever the token says about the ciphertext becomes the one
/// uniform [`KeyError::DecryptFailed`] (SoftHSM even reports bad padding as
/// `CKR_GENERAL_ERROR`); only a broken session is a provider fault.
fn decrypt_error(alg: EncryptionAlgorithm, token_label: &str, err: &CkError) -> KeyError {
    match rv_of(err) {
        Some((rv, f)) if is_mechanism_refusal(rv, f) => unsupported(alg, token_label),
        Some((rv, _)) if is_infrastructure(rv) => provider("C_Decrypt", err),
        Some(_) => KeyError::DecryptFailed,
        None => provider("C_Decrypt", err),
    }
}

fn fixed<const N: usize>(
    value: Option<&[u8]>,
    what: &str,
    alg: EncryptionAlgorithm,
) -> Result<[u8; N], KeyError> {
    let value = value.ok_or_else(|| {
        KeyError::InvalidInput(format!("{} needs a {N}-byte {what}", alg.as_str()))
    })?;
    value.try_into().map_err(|_| {
        KeyError::InvalidInput(format!(
            "{} needs a {N}-byte {what}; got {} bytes",
            alg.as_str(),
            value.len()
        ))
    })
}

fn check_block_multiple(alg: EncryptionAlgorithm, len: usize, what: &str) -> Result<(), KeyError> {
    if len.is_multiple_of(16) {
        Ok(())
    } else {
        Err(KeyError::InvalidInput(format!(
            "{} needs {what} whose length is a multiple of 16 bytes; got {len}",
            alg.as_str()
        )))
    }
}

/// RSA plaintext limits (RFC 8017 §7.1.1, §7.2.1), checked here because SoftHSM reports an
/// oversized plaintext only as `CKR_GENERAL_ERROR`.
fn check_rsa_plaintext(
    alg: EncryptionAlgorithm,
    public: &PublicKey,
    len: usize,
) -> Result<(), KeyError> {
    let PublicKey::Rsa { n, .. } = public else {
        return Ok(());
    };
    let overhead = match alg {
        EncryptionAlgorithm::RsaOaep => 2 * 20 + 2,
        EncryptionAlgorithm::RsaOaep256 => 2 * 32 + 2,
        _ => 11,
    };
    let max = n.len().saturating_sub(overhead);
    if len > max {
        return Err(KeyError::InvalidInput(format!(
            "{} encrypts at most {max} bytes with this key; got {len}",
            alg.as_str()
        )));
    }
    Ok(())
}

fn key_wrap_only(alg: EncryptionAlgorithm) -> KeyError {
    KeyError::UnsupportedAlgorithm(format!(
        "{} is a key-wrap algorithm: use wrap/unwrap",
        alg.as_str()
    ))
}

pub(crate) struct Call<'a> {
    pub(crate) session: &'a Session,
    pub(crate) token_label: &'a str,
    pub(crate) id: &'a KeyId,
    pub(crate) public: &'a PublicKey,
    pub(crate) alg: EncryptionAlgorithm,
}

impl Call<'_> {
    fn object(&self, class: ObjectClass) -> Result<ObjectHandle, KeyError> {
        objects::find(self.session, self.id, class, self.token_label)
    }

    fn secret(&self) -> Result<ObjectHandle, KeyError> {
        self.object(ObjectClass::SECRET_KEY)
    }

    pub(crate) fn encrypt(
        &self,
        plaintext: &[u8],
        params: CipherParams<'_>,
    ) -> Result<Encrypted, KeyError> {
        let alg = self.alg;
        let run = |mechanism: &Mechanism<'_>, key| {
            self.session
                .encrypt(mechanism, key, plaintext)
                .map_err(|e| encrypt_error(alg, self.token_label, &e))
        };
        match check_key(alg, self.public)? {
            // RSA takes no IV, AAD or tag; like Key Vault, extra members are ignored.
            Kind::Rsa => {
                check_rsa_plaintext(alg, self.public, plaintext.len())?;
                let key = self.object(ObjectClass::PUBLIC_KEY)?;
                Ok(Encrypted {
                    ciphertext: run(&rsa_mechanism(alg), key)?,
                    iv: None,
                    tag: None,
                })
            }
            Kind::Gcm { .. } => {
                let mut iv = match params.iv {
                    Some(given) => fixed::<GCM_IV_LEN>(Some(given), "iv", alg)?,
                    None => {
                        let mut iv = [0u8; GCM_IV_LEN];
                        self.session
                            .generate_random_slice(&mut iv)
                            .map_err(|e| provider("C_GenerateRandom", &e))?;
                        iv
                    }
                };
                let key = self.secret()?;
                let aad = params.aad.unwrap_or_default();
                let gcm = GcmParams::new(&mut iv, aad, ((GCM_TAG_LEN * 8) as u64).into())
                    .map_err(|e| provider("CK_GCM_PARAMS", &e))?;
                let mut sealed = run(&Mechanism::AesGcm(gcm), key)?;
                // The token appends the tag to the ciphertext.
                let Some(split) = sealed.len().checked_sub(GCM_TAG_LEN) else {
                    return Err(KeyError::Provider(
                        "the token returned a GCM output shorter than its tag".into(),
                    ));
                };
                let tag = sealed.split_off(split);
                Ok(Encrypted {
                    ciphertext: sealed,
                    iv: Some(iv.to_vec()),
                    tag: Some(tag),
                })
            }
            Kind::Cbc { pad, .. } => {
                let iv = fixed::<CBC_IV_LEN>(params.iv, "iv", alg)?;
                if !pad {
                    check_block_multiple(alg, plaintext.len(), "plaintext")?;
                }
                let key = self.secret()?;
                let mechanism = if pad {
                    Mechanism::AesCbcPad(iv)
                } else {
                    Mechanism::AesCbc(iv)
                };
                Ok(Encrypted {
                    ciphertext: run(&mechanism, key)?,
                    iv: Some(iv.to_vec()),
                    tag: None,
                })
            }
            Kind::KeyWrap { .. } => Err(key_wrap_only(alg)),
        }
    }

    pub(crate) fn decrypt(
        &self,
        ciphertext: &[u8],
        params: CipherParams<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let alg = self.alg;
        let run = |mechanism: &Mechanism<'_>, key, input: &[u8]| {
            self.session
                .decrypt(mechanism, key, input)
                .map(Zeroizing::new)
                .map_err(|e| decrypt_error(alg, self.token_label, &e))
        };
        match check_key(alg, self.public)? {
            Kind::Rsa => {
                let key = self.object(ObjectClass::PRIVATE_KEY)?;
                run(&rsa_mechanism(alg), key, ciphertext)
            }
            Kind::Gcm { .. } => {
                let mut iv = fixed::<GCM_IV_LEN>(params.iv, "iv", alg)?;
                let tag = params.tag.ok_or_else(|| {
                    KeyError::InvalidInput(format!("{} decryption needs the tag", alg.as_str()))
                })?;
                if !(12..=GCM_TAG_LEN).contains(&tag.len()) {
                    return Err(KeyError::InvalidInput(format!(
                        "{} tags are 12 to 16 bytes; got {}",
                        alg.as_str(),
                        tag.len()
                    )));
                }
                let key = self.secret()?;
                let aad = params.aad.unwrap_or_default();
                let gcm = GcmParams::new(&mut iv, aad, ((tag.len() * 8) as u64).into())
                    .map_err(|e| provider("CK_GCM_PARAMS", &e))?;
                let sealed = [ciphertext, tag].concat();
                run(&Mechanism::AesGcm(gcm), key, &sealed)
            }
            Kind::Cbc { pad, .. } => {
                let iv = fixed::<CBC_IV_LEN>(params.iv, "iv", alg)?;
                check_block_multiple(alg, ciphertext.len(), "ciphertext")?;
                let key = self.secret()?;
                let mechanism = if pad {
                    Mechanism::AesCbcPad(iv)
                } else {
                    Mechanism::AesCbc(iv)
                };
                run(&mechanism, key, ciphertext)
            }
            Kind::KeyWrap { .. } => Err(key_wrap_only(alg)),
        }
    }

    pub(crate) fn wrap(&self, cek: &[u8]) -> Result<Vec<u8>, KeyError> {
        let alg = self.alg;
        match check_key(alg, self.public)? {
            Kind::Rsa => Ok(self.encrypt(cek, CipherParams::default())?.ciphertext),
            Kind::KeyWrap { .. } => {
                // SoftHSM zero-pads other lengths silently, which is not RFC 3394.
                if cek.len() < 16 || !cek.len().is_multiple_of(8) {
                    return Err(KeyError::InvalidInput(format!(
                        "{} wraps keys of at least 16 bytes, in multiples of 8; got {}",
                        alg.as_str(),
                        cek.len()
                    )));
                }
                let kek = self.secret()?;
                // PKCS#11 wraps key objects, not bytes: the key to wrap becomes a short-lived
                // session object, destroyed whatever happens.
                let temporary = self
                    .session
                    .create_object(&[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::GENERIC_SECRET),
                        Attribute::Token(false),
                        Attribute::Private(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(true),
                        Attribute::Value(cek.to_vec()),
                    ])
                    .map_err(|e| provider("C_CreateObject", &e))?;
                let wrapped = self
                    .session
                    .wrap_key(&Mechanism::AesKeyWrap, kek, temporary)
                    .map_err(|e| encrypt_error(alg, self.token_label, &e));
                let destroyed = self.session.destroy_object(temporary);
                let wrapped = wrapped?;
                destroyed.map_err(|e| provider("C_DestroyObject", &e))?;
                Ok(wrapped)
            }
            Kind::Gcm { .. } | Kind::Cbc { .. } => Err(KeyError::UnsupportedAlgorithm(format!(
                "{} is not a key-wrap algorithm",
                alg.as_str()
            ))),
        }
    }

    pub(crate) fn unwrap(&self, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        let alg = self.alg;
        match check_key(alg, self.public)? {
            Kind::Rsa => self.decrypt(wrapped, CipherParams::default()),
            Kind::KeyWrap { .. } => {
                if wrapped.len() < 24 || !wrapped.len().is_multiple_of(8) {
                    return Err(KeyError::DecryptFailed);
                }
                let kek = self.secret()?;
                let unwrapped = self
                    .session
                    .unwrap_key(
                        &Mechanism::AesKeyWrap,
                        kek,
                        wrapped,
                        &[
                            Attribute::Class(ObjectClass::SECRET_KEY),
                            Attribute::KeyType(KeyType::GENERIC_SECRET),
                            Attribute::Token(false),
                            Attribute::Private(true),
                            Attribute::Sensitive(false),
                            Attribute::Extractable(true),
                        ],
                    )
                    .map_err(|e| decrypt_error(alg, self.token_label, &e))?;
                let value = self
                    .session
                    .get_attributes(unwrapped, &[AttributeType::Value])
                    .map_err(|e| provider("C_GetAttributeValue", &e));
                let destroyed = self.session.destroy_object(unwrapped);
                let value = value?.into_iter().find_map(|attr| match attr {
                    Attribute::Value(v) => Some(Zeroizing::new(v)),
                    _ => None,
                });
                destroyed.map_err(|e| provider("C_DestroyObject", &e))?;
                value.ok_or_else(|| {
                    KeyError::Provider("the token did not return the unwrapped key".into())
                })
            }
            Kind::Gcm { .. } | Kind::Cbc { .. } => Err(KeyError::UnsupportedAlgorithm(format!(
                "{} is not a key-wrap algorithm",
                alg.as_str()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_has_one_kind() {
        for alg in EncryptionAlgorithm::ALL {
            let k = kind(alg);
            let name = alg.as_str();
            match k {
                Kind::Rsa => assert!(name.starts_with("RSA")),
                Kind::Gcm { bits } => assert_eq!(name, format!("A{bits}GCM")),
                Kind::Cbc { bits, pad } => {
                    assert_eq!(name, format!("A{bits}CBC{}", if pad { "PAD" } else { "" }))
                }
                Kind::KeyWrap { bits } => assert_eq!(name, format!("A{bits}KW")),
            }
        }
    }

    #[test]
    fn algorithms_must_fit_the_key() {
        let rsa = PublicKey::Rsa {
            n: vec![1; 256],
            e: vec![3],
        };
        let aes128 = PublicKey::Oct { bits: 128 };
        assert_eq!(check_key(EncryptionAlgorithm::RsaOaep, &rsa), Ok(Kind::Rsa));
        assert_eq!(
            check_key(EncryptionAlgorithm::A128Gcm, &aes128),
            Ok(Kind::Gcm { bits: 128 })
        );
        assert_eq!(
            check_key(EncryptionAlgorithm::A256Kw, &aes128),
            Err(KeyError::UnsupportedAlgorithm(
                "A256KW needs a 256-bit AES key; this key has 128 bits".into()
            ))
        );
        assert_eq!(
            check_key(EncryptionAlgorithm::Rsa1_5, &aes128),
            Err(KeyError::UnsupportedAlgorithm(
                "RSA1_5 cannot be used with an oct (AES) key".into()
            ))
        );
        assert!(check_key(EncryptionAlgorithm::A128Cbc, &rsa).is_err());
    }

    #[test]
    fn decryption_failures_are_uniform() {
        let alg = EncryptionAlgorithm::Rsa1_5;
        for rv in [
            RvError::EncryptedDataInvalid,
            RvError::EncryptedDataLenRange,
            RvError::GeneralError,
            RvError::DataInvalid,
        ] {
            let err = CkError::Pkcs11(rv, cryptoki::context::Function::Decrypt);
            assert_eq!(decrypt_error(alg, "t", &err), KeyError::DecryptFailed);
        }
        let refused = CkError::Pkcs11(
            RvError::ArgumentsBad,
            cryptoki::context::Function::DecryptInit,
        );
        assert_eq!(
            decrypt_error(EncryptionAlgorithm::RsaOaep256, "coffer-test", &refused),
            KeyError::UnsupportedAlgorithm(
                "RSA-OAEP-256 is not supported by the PKCS#11 token 'coffer-test'".into()
            )
        );
        let broken = CkError::Pkcs11(
            RvError::SessionHandleInvalid,
            cryptoki::context::Function::Decrypt,
        );
        assert!(matches!(
            decrypt_error(alg, "t", &broken),
            KeyError::Provider(_)
        ));
    }

    #[test]
    fn rsa_plaintext_limits_follow_the_padding() {
        let rsa = PublicKey::Rsa {
            n: vec![0xc1; 256],
            e: vec![1, 0, 1],
        };
        for (alg, max) in [
            (EncryptionAlgorithm::Rsa1_5, 245),
            (EncryptionAlgorithm::RsaOaep, 214),
            (EncryptionAlgorithm::RsaOaep256, 190),
        ] {
            assert!(check_rsa_plaintext(alg, &rsa, max).is_ok());
            assert_eq!(
                check_rsa_plaintext(alg, &rsa, max + 1),
                Err(KeyError::InvalidInput(format!(
                    "{} encrypts at most {max} bytes with this key; got {}",
                    alg.as_str(),
                    max + 1
                )))
            );
        }
    }

    #[test]
    fn ivs_are_checked() {
        let alg = EncryptionAlgorithm::A128Cbc;
        assert!(fixed::<16>(Some(&[0; 16]), "iv", alg).is_ok());
        assert_eq!(
            fixed::<16>(Some(&[0; 12]), "iv", alg),
            Err(KeyError::InvalidInput(
                "A128CBC needs a 16-byte iv; got 12 bytes".into()
            ))
        );
        assert_eq!(
            fixed::<16>(None, "iv", alg),
            Err(KeyError::InvalidInput("A128CBC needs a 16-byte iv".into()))
        );
    }
}
