//! Symmetric (`oct`) keys in software: AES-GCM, AES-CBC with and without PKCS#7 padding, and AES
//! key wrap (RFC 3394). Each algorithm takes only a key of its own size.

use aes_kw::{KeyInit as _, KwAes192};
use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{
    self, DecryptingKey, DecryptionContext, EncryptingKey, EncryptionContext,
    PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::key_wrap::{self, KeyEncryptionKey, KeyWrap as _};
use zeroize::Zeroizing;

use super::{library, unsupported};
use crate::keys::{
    CipherParams, Encrypted, EncryptionAlgorithm, KeyError, KeyMaterial, NewKey, PublicKey,
};

const GCM_IV_LEN: usize = 12;
const GCM_TAG_LEN: usize = 16;
const BLOCK_LEN: usize = 16;
/// RFC 3394 works on 8-byte semiblocks, at least two of them, and adds one.
const SEMIBLOCK: usize = 8;

const ENCRYPTION_HINT: &str = "they encrypt with AES-GCM or AES-CBC of their size (A128GCM, A128CBC, A128CBCPAD, and the 192- and 256-bit forms)";
const WRAP_HINT: &str = "they wrap with A128KW, A192KW or A256KW, matching their size";
const SIGNATURE_HINT: &str = "they only encrypt, decrypt, wrap and unwrap";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Gcm,
    Cbc,
    CbcPad,
    Kw,
}

/// The AES mode an algorithm names and the key length (bytes) it requires.
fn mode_of(alg: EncryptionAlgorithm) -> Option<(Mode, usize)> {
    use EncryptionAlgorithm as A;
    Some(match alg {
        A::A128Gcm => (Mode::Gcm, 16),
        A::A192Gcm => (Mode::Gcm, 24),
        A::A256Gcm => (Mode::Gcm, 32),
        A::A128Cbc => (Mode::Cbc, 16),
        A::A192Cbc => (Mode::Cbc, 24),
        A::A256Cbc => (Mode::Cbc, 32),
        A::A128CbcPad => (Mode::CbcPad, 16),
        A::A192CbcPad => (Mode::CbcPad, 24),
        A::A256CbcPad => (Mode::CbcPad, 32),
        A::A128Kw => (Mode::Kw, 16),
        A::A192Kw => (Mode::Kw, 24),
        A::A256Kw => (Mode::Kw, 32),
        A::Rsa1_5 | A::RsaOaep | A::RsaOaep256 => return None,
    })
}

/// Checks that `alg` is one of this operation's modes and fits the key's size.
fn mode_for(alg: EncryptionAlgorithm, key: &[u8], wrapping: bool) -> Result<Mode, KeyError> {
    let hint = if wrapping { WRAP_HINT } else { ENCRYPTION_HINT };
    let (mode, len) = match mode_of(alg) {
        Some((mode, len)) if (mode == Mode::Kw) == wrapping => (mode, len),
        _ => return Err(unsupported(alg.as_str(), "oct", hint)),
    };
    if key.len() != len {
        return Err(KeyError::UnsupportedAlgorithm(format!(
            "The algorithm {} needs a {}-bit key; this key has {} bits.",
            alg.as_str(),
            len * 8,
            key.len() * 8
        )));
    }
    Ok(mode)
}

/// Symmetric keys do not sign.
pub(super) fn cannot_sign(alg: &str) -> KeyError {
    unsupported(alg, "oct", SIGNATURE_HINT)
}

pub(super) fn generate(bits: u32) -> Result<NewKey, KeyError> {
    let len = match bits {
        128 | 192 | 256 => bits as usize / 8,
        _ => {
            return Err(KeyError::InvalidKey(format!(
                "AES keys are 128, 192 or 256 bits; {bits} is not allowed."
            )));
        }
    };
    let mut key = Zeroizing::new(vec![0; len]);
    aws_lc_rs::rand::fill(&mut key).map_err(|_| library("random generation"))?;
    Ok(NewKey {
        material: KeyMaterial(key),
        public: PublicKey::Oct { bits },
    })
}

pub(super) fn import(k: &[u8]) -> Result<NewKey, KeyError> {
    match k.len() {
        16 | 24 | 32 => Ok(NewKey {
            material: KeyMaterial(Zeroizing::new(k.to_vec())),
            public: PublicKey::Oct {
                bits: (k.len() * 8) as u32,
            },
        }),
        other => Err(KeyError::InvalidKey(format!(
            "An AES key k is 16, 24 or 32 bytes (128, 192 or 256 bits); this one is {other} bytes."
        ))),
    }
}

pub(super) fn encrypt(
    key: &[u8],
    alg: EncryptionAlgorithm,
    plaintext: &[u8],
    params: CipherParams<'_>,
) -> Result<Encrypted, KeyError> {
    match mode_for(alg, key, false)? {
        Mode::Gcm => {
            let iv: [u8; GCM_IV_LEN] = match params.iv {
                Some(iv) => fixed(iv, alg, "IV")?,
                None => {
                    let mut iv = [0; GCM_IV_LEN];
                    aws_lc_rs::rand::fill(&mut iv).map_err(|_| library("random generation"))?;
                    iv
                }
            };
            let mut data = plaintext.to_vec();
            let tag = gcm_key(key)?
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(iv),
                    Aad::from(params.aad.unwrap_or_default()),
                    &mut data,
                )
                .map_err(|_| library("AES-GCM encryption"))?;
            Ok(Encrypted {
                ciphertext: data,
                iv: Some(iv.to_vec()),
                tag: Some(tag.as_ref().to_vec()),
            })
        }
        mode @ (Mode::Cbc | Mode::CbcPad) => {
            let iv = cbc_iv(alg, params)?;
            let mut data = plaintext.to_vec();
            let context = EncryptionContext::Iv128(FixedLength::from(iv));
            if mode == Mode::Cbc {
                check_blocks(alg, plaintext.len(), "data")?;
                EncryptingKey::cbc(cbc_key(key)?)
                    .and_then(|k| k.less_safe_encrypt(&mut data, context))
                    .map_err(|_| library("AES-CBC encryption"))?;
            } else {
                PaddedBlockEncryptingKey::cbc_pkcs7(cbc_key(key)?)
                    .and_then(|k| k.less_safe_encrypt(&mut data, context))
                    .map_err(|_| library("AES-CBC encryption"))?;
            }
            Ok(Encrypted {
                ciphertext: data,
                iv: Some(iv.to_vec()),
                tag: None,
            })
        }
        Mode::Kw => Err(library("mode selection")),
    }
}

pub(super) fn decrypt(
    key: &[u8],
    alg: EncryptionAlgorithm,
    ciphertext: &[u8],
    params: CipherParams<'_>,
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    match mode_for(alg, key, false)? {
        Mode::Gcm => {
            let iv: [u8; GCM_IV_LEN] = fixed(required(params.iv, alg, "IV")?, alg, "IV")?;
            let tag: [u8; GCM_TAG_LEN] =
                fixed(required(params.tag, alg, "authentication tag")?, alg, "tag")?;
            let mut data = Zeroizing::new(ciphertext.to_vec());
            gcm_key(key)?
                .open_in_place_separate_tag(
                    Nonce::assume_unique_for_key(iv),
                    Aad::from(params.aad.unwrap_or_default()),
                    &tag,
                    &mut data,
                )
                .map_err(|_| KeyError::DecryptFailed)?;
            Ok(data)
        }
        mode @ (Mode::Cbc | Mode::CbcPad) => {
            let iv = cbc_iv(alg, params)?;
            if mode == Mode::CbcPad && ciphertext.is_empty() {
                return Err(KeyError::InvalidInput(format!(
                    "The ciphertext is empty; {} produces at least one 16-byte block.",
                    alg.as_str()
                )));
            }
            check_blocks(alg, ciphertext.len(), "ciphertext")?;
            let mut data = Zeroizing::new(ciphertext.to_vec());
            let context = DecryptionContext::Iv128(FixedLength::from(iv));
            let len = if mode == Mode::Cbc {
                DecryptingKey::cbc(cbc_key(key)?)
                    .and_then(|k| k.decrypt(&mut data, context).map(|out| out.len()))
            } else {
                PaddedBlockDecryptingKey::cbc_pkcs7(cbc_key(key)?)
                    .and_then(|k| k.decrypt(&mut data, context).map(|out| out.len()))
            }
            .map_err(|_| KeyError::DecryptFailed)?;
            data.truncate(len);
            Ok(data)
        }
        Mode::Kw => Err(library("mode selection")),
    }
}

/// AES key wrap (RFC 3394) of `cek`.
pub(super) fn wrap(key: &[u8], alg: EncryptionAlgorithm, cek: &[u8]) -> Result<Vec<u8>, KeyError> {
    mode_for(alg, key, true)?;
    if cek.len() < 2 * SEMIBLOCK || !cek.len().is_multiple_of(SEMIBLOCK) {
        return Err(KeyError::InvalidInput(format!(
            "{} wraps a key of at least 16 bytes in whole 8-byte blocks; this one is {} bytes.",
            alg.as_str(),
            cek.len()
        )));
    }
    let mut out = vec![0; cek.len() + SEMIBLOCK];
    match key.len() {
        24 => {
            KwAes192::new_from_slice(key)
                .map_err(|_| library("AES key wrap"))?
                .wrap_key(cek, &mut out)
                .map_err(|_| library("AES key wrap"))?;
        }
        _ => {
            aws_kek(key)?
                .wrap(cek, &mut out)
                .map_err(|_| library("AES key wrap"))?;
        }
    }
    Ok(out)
}

/// Reverses [`wrap`]; a wrong key or altered bytes fail the RFC 3394 integrity check.
pub(super) fn unwrap(
    key: &[u8],
    alg: EncryptionAlgorithm,
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    mode_for(alg, key, true)?;
    if wrapped.len() < 3 * SEMIBLOCK || !wrapped.len().is_multiple_of(SEMIBLOCK) {
        return Err(KeyError::InvalidInput(format!(
            "A key wrapped with {} is at least 24 bytes in whole 8-byte blocks; this one is {} bytes.",
            alg.as_str(),
            wrapped.len()
        )));
    }
    let mut out = Zeroizing::new(vec![0; wrapped.len() - SEMIBLOCK]);
    match key.len() {
        24 => {
            KwAes192::new_from_slice(key)
                .map_err(|_| library("AES key unwrap"))?
                .unwrap_key(wrapped, &mut out)
                .map_err(|_| KeyError::DecryptFailed)?;
        }
        _ => {
            aws_kek(key)?
                .unwrap(wrapped, &mut out)
                .map_err(|_| KeyError::DecryptFailed)?;
        }
    }
    Ok(out)
}

/// aws-lc-rs's key wrap, which has AES-128 and AES-256 only.
fn aws_kek(key: &[u8]) -> Result<KeyEncryptionKey<key_wrap::AesBlockCipher>, KeyError> {
    let cipher = match key.len() {
        16 => &key_wrap::AES_128,
        32 => &key_wrap::AES_256,
        _ => return Err(library("AES key wrap")),
    };
    KeyEncryptionKey::new(cipher, key).map_err(|_| library("AES key wrap"))
}

fn gcm_key(key: &[u8]) -> Result<LessSafeKey, KeyError> {
    let algorithm = match key.len() {
        16 => &aead::AES_128_GCM,
        24 => &aead::AES_192_GCM,
        _ => &aead::AES_256_GCM,
    };
    let key = UnboundKey::new(algorithm, key).map_err(|_| library("AES-GCM key setup"))?;
    Ok(LessSafeKey::new(key))
}

fn cbc_key(key: &[u8]) -> Result<UnboundCipherKey, KeyError> {
    let algorithm = match key.len() {
        16 => &cipher::AES_128,
        24 => &cipher::AES_192,
        _ => &cipher::AES_256,
    };
    UnboundCipherKey::new(algorithm, key).map_err(|_| library("AES-CBC key setup"))
}

/// CBC needs the caller's 16-byte IV and takes neither AAD nor a tag, which only GCM has.
fn cbc_iv(alg: EncryptionAlgorithm, params: CipherParams<'_>) -> Result<[u8; BLOCK_LEN], KeyError> {
    if params.aad.is_some() || params.tag.is_some() {
        return Err(KeyError::InvalidInput(format!(
            "{} takes no additional authenticated data or tag; only the AES-GCM algorithms do.",
            alg.as_str()
        )));
    }
    fixed(required(params.iv, alg, "IV")?, alg, "IV")
}

fn required<'a>(
    value: Option<&'a [u8]>,
    alg: EncryptionAlgorithm,
    what: &str,
) -> Result<&'a [u8], KeyError> {
    value.ok_or_else(|| KeyError::InvalidInput(format!("{} needs the {what}.", alg.as_str())))
}

/// `value` as an array of the length the algorithm takes for `what`.
fn fixed<const N: usize>(
    value: &[u8],
    alg: EncryptionAlgorithm,
    what: &str,
) -> Result<[u8; N], KeyError> {
    value.try_into().map_err(|_| {
        KeyError::InvalidInput(format!(
            "The {what} is {} bytes long; {} takes a {N}-byte {what}.",
            value.len(),
            alg.as_str()
        ))
    })
}

fn check_blocks(alg: EncryptionAlgorithm, len: usize, what: &str) -> Result<(), KeyError> {
    if len.is_multiple_of(BLOCK_LEN) {
        Ok(())
    } else {
        Err(KeyError::InvalidInput(format!(
            "The {what} is {len} bytes long; {} works on whole 16-byte blocks (the CBCPAD algorithms pad).",
            alg.as_str()
        )))
    }
}

#[cfg(test)]
mod tests;
