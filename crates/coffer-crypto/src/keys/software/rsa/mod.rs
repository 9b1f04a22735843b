//! RSA keys in software: generation, import from JWK members, RSA1_5 / RSA-OAEP / RSA-OAEP-256
//! encryption (also used for key wrap), and RS*/PS* signatures over a caller's digest.

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeyPairComponents, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm,
    OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicKeyComponents,
};
use aws_lc_rs::signature::{self as sig, KeyPair as _, RsaEncoding, RsaKeyPair, RsaParameters};
use zeroize::Zeroizing;

use super::cache::Parsed;
use super::{bad_material, library, unsupported};
use crate::keys::{EncryptionAlgorithm, KeyError, NewKey, PublicKey, SignatureAlgorithm};

const ENCRYPTION_HINT: &str = "they encrypt and wrap with RSA1_5, RSA-OAEP or RSA-OAEP-256";
const SIGNATURE_HINT: &str = "they sign with RS256, RS384, RS512, PS256, PS384 or PS512";
/// Key Vault's RSA sizes; imports may be any size in between.
const MIN_BITS: usize = 2048;
const MAX_BITS: usize = 4096;

/// The JWK members of an RSA private key, borrowed for import.
pub(super) struct Parts<'a> {
    pub(super) n: &'a [u8],
    pub(super) e: &'a [u8],
    pub(super) d: &'a [u8],
    pub(super) p: &'a [u8],
    pub(super) q: &'a [u8],
    pub(super) dp: &'a [u8],
    pub(super) dq: &'a [u8],
    pub(super) qi: &'a [u8],
}

/// An RSA encryption scheme: PKCS#1 v1.5 or OAEP with one hash.
#[derive(Clone, Copy)]
pub(super) struct Cipher {
    alg: EncryptionAlgorithm,
    oaep: Option<&'static OaepAlgorithm>,
}

/// Maps a Key Vault algorithm to the RSA encryption scheme it names.
pub(super) fn cipher(alg: EncryptionAlgorithm) -> Result<Cipher, KeyError> {
    let oaep = match alg {
        EncryptionAlgorithm::Rsa1_5 => None,
        EncryptionAlgorithm::RsaOaep => Some(&OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithm::RsaOaep256 => Some(&OAEP_SHA256_MGF1SHA256),
        _ => return Err(unsupported(alg.as_str(), "RSA", ENCRYPTION_HINT)),
    };
    Ok(Cipher { alg, oaep })
}

/// An RSA signature scheme: padding and digest for signing, the matching verification parameters.
#[derive(Clone, Copy)]
pub(super) struct SignatureScheme {
    encoding: &'static dyn RsaEncoding,
    verification: &'static RsaParameters,
    digest: &'static digest::Algorithm,
}

/// Maps a Key Vault algorithm to its RSA signature scheme. PSS uses a salt as long as the digest,
/// as Key Vault does (aws-lc-rs's default for both signing and verifying).
pub(super) fn signature_scheme(alg: SignatureAlgorithm) -> Result<SignatureScheme, KeyError> {
    let (encoding, verification, digest): (&'static dyn RsaEncoding, _, _) = match alg {
        SignatureAlgorithm::Rs256 => (
            &sig::RSA_PKCS1_SHA256,
            &sig::RSA_PKCS1_2048_8192_SHA256,
            &digest::SHA256,
        ),
        SignatureAlgorithm::Rs384 => (
            &sig::RSA_PKCS1_SHA384,
            &sig::RSA_PKCS1_2048_8192_SHA384,
            &digest::SHA384,
        ),
        SignatureAlgorithm::Rs512 => (
            &sig::RSA_PKCS1_SHA512,
            &sig::RSA_PKCS1_2048_8192_SHA512,
            &digest::SHA512,
        ),
        SignatureAlgorithm::Ps256 => (
            &sig::RSA_PSS_SHA256,
            &sig::RSA_PSS_2048_8192_SHA256,
            &digest::SHA256,
        ),
        SignatureAlgorithm::Ps384 => (
            &sig::RSA_PSS_SHA384,
            &sig::RSA_PSS_2048_8192_SHA384,
            &digest::SHA384,
        ),
        SignatureAlgorithm::Ps512 => (
            &sig::RSA_PSS_SHA512,
            &sig::RSA_PSS_2048_8192_SHA512,
            &digest::SHA512,
        ),
        SignatureAlgorithm::Es256
        | SignatureAlgorithm::Es384
        | SignatureAlgorithm::Es512
        | SignatureAlgorithm::Es256K => {
            return Err(unsupported(alg.as_str(), "RSA", SIGNATURE_HINT));
        }
    };
    Ok(SignatureScheme {
        encoding,
        verification,
        digest,
    })
}

pub(super) fn generate(bits: u32, public_exponent: Option<u32>) -> Result<NewKey, KeyError> {
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        _ => {
            return Err(KeyError::InvalidKey(format!(
                "RSA keys are 2048, 3072 or 4096 bits; {bits} is not allowed."
            )));
        }
    };
    match public_exponent {
        None | Some(65537) => {}
        Some(other) => {
            return Err(KeyError::InvalidKey(format!(
                "Generated RSA keys have the public exponent 65537; {other} is not supported."
            )));
        }
    }
    let pair = RsaKeyPair::generate(size).map_err(|_| library("RSA key generation"))?;
    new_key(&pair)
}

pub(super) fn import(parts: &Parts<'_>) -> Result<NewKey, KeyError> {
    // JWK producers sometimes keep a sign byte; aws-lc-rs wants the minimal encoding.
    let n = strip_leading_zeros(parts.n);
    let e = strip_leading_zeros(parts.e);
    let bits = bit_len(n);
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(KeyError::InvalidKey(format!(
            "RSA keys are {MIN_BITS} to {MAX_BITS} bits; the modulus n has {bits}."
        )));
    }
    if e.is_empty() {
        return Err(KeyError::InvalidKey(
            "The RSA public exponent e is missing.".into(),
        ));
    }
    let private = [parts.d, parts.p, parts.q, parts.dp, parts.dq, parts.qi];
    if private.iter().any(|part| part.is_empty()) {
        return Err(KeyError::InvalidKey(
            "An RSA private key needs all of d, p, q, dp, dq and qi.".into(),
        ));
    }
    let components = KeyPairComponents {
        public_key: PublicKeyComponents { n, e },
        d: parts.d,
        p: parts.p,
        q: parts.q,
        dP: parts.dp,
        dQ: parts.dq,
        qInv: parts.qi,
    };
    let pair = RsaKeyPair::from_components(&components).map_err(|_| {
        KeyError::InvalidKey(
            "The RSA key parts do not form one valid key (n, e, d, p, q, dp, dq and qi must agree)."
                .into(),
        )
    })?;
    new_key(&pair)
}

/// The PKCS#8 material of a key pair and its public half as JWK members.
pub(super) fn new_key(pair: &RsaKeyPair) -> Result<NewKey, KeyError> {
    let der = pair.as_der().map_err(|_| library("RSA PKCS#8 encoding"))?;
    let material = Zeroizing::new(der.as_ref().to_vec());
    let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    Ok(NewKey {
        material: crate::keys::KeyMaterial(material),
        public: PublicKey::Rsa {
            n: components.n,
            e: components.e,
        },
    })
}

fn decrypting_key(material: &[u8]) -> Result<PrivateDecryptingKey, KeyError> {
    PrivateDecryptingKey::from_pkcs8(material).map_err(|_| bad_material("RSA"))
}

/// Encrypts (or wraps) `plaintext` with the public half of the key in `material`.
pub(super) fn encrypt(
    material: &[u8],
    cipher: Cipher,
    plaintext: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let public = decrypting_key(material)?.public_key();
    let bits = public.key_size_bits();
    let too_long = |max: usize| {
        KeyError::InvalidInput(format!(
            "The plaintext is {} bytes long; {} with a {bits}-bit key encrypts at most {max} bytes.",
            plaintext.len(),
            cipher.alg.as_str(),
        ))
    };
    match cipher.oaep {
        None => {
            let key = Pkcs1PublicEncryptingKey::new(public).map_err(|_| bad_material("RSA"))?;
            if plaintext.len() > key.max_plaintext_size() {
                return Err(too_long(key.max_plaintext_size()));
            }
            let mut out = vec![0; key.ciphertext_size()];
            let len = key
                .encrypt(plaintext, &mut out)
                .map_err(|_| library("RSA encryption"))?
                .len();
            out.truncate(len);
            Ok(out)
        }
        Some(oaep) => {
            let key = OaepPublicEncryptingKey::new(public).map_err(|_| bad_material("RSA"))?;
            if plaintext.len() > key.max_plaintext_size(oaep) {
                return Err(too_long(key.max_plaintext_size(oaep)));
            }
            let mut out = vec![0; key.ciphertext_size()];
            let len = key
                .encrypt(oaep, plaintext, &mut out, None)
                .map_err(|_| library("RSA encryption"))?
                .len();
            out.truncate(len);
            Ok(out)
        }
    }
}

/// Decrypts (or unwraps). Every failure past parsing the key is the one `DecryptFailed`, so
/// callers learn nothing about padding.
pub(super) fn decrypt(
    material: &[u8],
    cipher: Cipher,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let key = decrypting_key(material)?;
    let (mut out, len) = match cipher.oaep {
        None => {
            let key = Pkcs1PrivateDecryptingKey::new(key).map_err(|_| bad_material("RSA"))?;
            let mut out = Zeroizing::new(vec![0; key.min_output_size()]);
            let len = key
                .decrypt(ciphertext, &mut out)
                .map_err(|_| KeyError::DecryptFailed)?
                .len();
            (out, len)
        }
        Some(oaep) => {
            let key = OaepPrivateDecryptingKey::new(key).map_err(|_| bad_material("RSA"))?;
            let mut out = Zeroizing::new(vec![0; key.min_output_size()]);
            let len = key
                .decrypt(oaep, ciphertext, &mut out, None)
                .map_err(|_| KeyError::DecryptFailed)?
                .len();
            (out, len)
        }
    };
    out.truncate(len);
    Ok(out)
}

/// Parsed signing keys in use (see `cache`): signing is the hot private operation.
static SIGNING_KEYS: std::sync::LazyLock<Parsed<RsaKeyPair>> =
    std::sync::LazyLock::new(Parsed::default);

/// Signs a digest whose length the caller has checked.
pub(super) fn sign(
    material: &[u8],
    scheme: SignatureScheme,
    digest: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let pair = SIGNING_KEYS.get_or_parse(material, |m| {
        RsaKeyPair::from_pkcs8(m).map_err(|_| bad_material("RSA"))
    })?;
    let digest = Digest::import_less_safe(digest, scheme.digest).map_err(|_| library("digest"))?;
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign_digest(scheme.encoding, &digest, &mut signature)
        .map_err(|_| library("RSA signing"))?;
    Ok(signature)
}

/// Verifies with the public members only; a wrong signature is `Ok(false)`.
pub(super) fn verify(
    n: &[u8],
    e: &[u8],
    scheme: SignatureScheme,
    digest: &[u8],
    signature: &[u8],
) -> Result<bool, KeyError> {
    let public = PublicKeyComponents {
        n: strip_leading_zeros(n),
        e: strip_leading_zeros(e),
    }
    .to_parsed_public_key(scheme.verification)
    .map_err(|_| bad_material("RSA public"))?;
    let digest = Digest::import_less_safe(digest, scheme.digest).map_err(|_| library("digest"))?;
    Ok(public.verify_digest_sig(&digest, signature).is_ok())
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

/// Bit length of a big-endian number without leading zero bytes.
fn bit_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        None => 0,
        Some(&first) => bytes.len() * 8 - first.leading_zeros() as usize,
    }
}

#[cfg(test)]
mod tests;
