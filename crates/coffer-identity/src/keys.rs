//! RSA signing keys for the token issuer and the set of keys a verifier trusts, with
//! their JWK/JWKS forms. Callers persist the PKCS#8 bytes; nothing here does I/O.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::error::IdentityError;

/// One RS256 signing key: the private key (PKCS#8, wiped on drop) and its public half.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    pkcs8: Zeroizing<Vec<u8>>,
    spki: Vec<u8>,
    // jsonwebtoken's aws-lc backend parses RSA private keys as PKCS#1 `RSAPrivateKey`,
    // so the signing key holds the PKCS#1 body extracted from the PKCS#8 wrapper.
    // `EncodingKey` zeroizes its bytes on drop.
    encoding: EncodingKey,
    decoding: DecodingKey,
    n: String,
    e: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private material.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Generates a fresh RSA-2048 key.
    pub fn generate() -> Result<SigningKey, IdentityError> {
        let pair = KeyPair::generate(KeySize::Rsa2048).map_err(|_| IdentityError::KeyGeneration)?;
        SigningKey::from_key_pair(&pair)
    }

    /// Loads a key from unencrypted PKCS#8 DER (what `pkcs8_der` returned earlier).
    pub fn from_pkcs8(der: &[u8]) -> Result<SigningKey, IdentityError> {
        let pair = KeyPair::from_pkcs8(der).map_err(|e| {
            IdentityError::InvalidKey(format!("not an RSA PKCS#8 private key ({e})"))
        })?;
        SigningKey::from_key_pair(&pair)
    }

    fn from_key_pair(pair: &KeyPair) -> Result<SigningKey, IdentityError> {
        if pair.public_modulus_len() < 256 {
            return Err(IdentityError::InvalidKey(
                "RSA keys shorter than 2048 bits are not accepted".to_owned(),
            ));
        }
        // Re-export instead of keeping the caller's bytes so the stored form is canonical
        // (PKCS#8 v1, no attributes) whatever encoding it was loaded from.
        let pkcs8 = Zeroizing::new(
            pair.as_der()
                .map_err(|_| IdentityError::InvalidKey("cannot export PKCS#8".to_owned()))?
                .as_ref()
                .to_vec(),
        );
        let pkcs1 = der::rsa_private_key_from_pkcs8(&pkcs8).ok_or_else(|| {
            IdentityError::InvalidKey("PKCS#8 structure does not hold an RSA key".to_owned())
        })?;
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| IdentityError::InvalidKey("cannot export the public key".to_owned()))?
            .as_ref()
            .to_vec();
        let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let n = URL_SAFE_NO_PAD.encode(&components.n);
        let e = URL_SAFE_NO_PAD.encode(&components.e);
        let decoding = DecodingKey::from_rsa_components(&n, &e)
            .map_err(|err| IdentityError::InvalidKey(format!("public key unusable: {err}")))?;
        // Like Azure's x5t: base64url SHA-1 thumbprint. We have no certificate, so the
        // thumbprint is taken over the SubjectPublicKeyInfo; it only depends on the public
        // key, so it survives a PKCS#8 round trip.
        let kid = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &spki));
        Ok(SigningKey {
            kid,
            encoding: EncodingKey::from_rsa_der(pkcs1),
            pkcs8,
            spki,
            decoding,
            n,
            e,
        })
    }

    /// The private key as PKCS#8 DER. Secret: the caller encrypts it before storing it.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// Key id: base64url (no padding) SHA-1 of the SubjectPublicKeyInfo, 27 characters.
    /// Used as both `kid` and `x5t` in token headers and the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Base64url modulus `n` of the public key.
    pub fn modulus(&self) -> &str {
        &self.n
    }

    /// Base64url public exponent `e`.
    pub fn exponent(&self) -> &str {
        &self.e
    }

    /// The public key as a JWK: `{"kty":"RSA","use":"sig","kid","x5t","n","e","alg":"RS256"}`.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": self.n,
            "e": self.e,
            "alg": "RS256",
        })
    }

    pub(crate) fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}

/// Keys a verifier trusts: current signing key first, then previous ones (rotation keeps old tokens valid).
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<SigningKey>,
}

impl KeySet {
    /// Builds a key set; the first key is the one new tokens are signed with.
    pub fn new(keys: Vec<SigningKey>) -> Result<KeySet, IdentityError> {
        if keys.is_empty() {
            return Err(IdentityError::EmptyKeySet);
        }
        Ok(KeySet { keys })
    }

    /// The key new tokens are signed with.
    pub fn current(&self) -> &SigningKey {
        // `new` refuses an empty list, so index 0 exists; `keys` is never mutated.
        &self.keys[0]
    }

    /// All trusted keys, current first.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The trusted key with this kid (or x5t, which is the same value), if any.
    pub fn find(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The JWKS document served at the discovery `jwks_uri`: `{"keys":[jwk...]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(SigningKey::jwk).collect::<Vec<_>>() })
    }
}

/// Just enough DER reading to take the `RSAPrivateKey` out of a PKCS#8 `PrivateKeyInfo`.
mod der {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const OCTET_STRING: u8 = 0x04;
    const OID: u8 = 0x06;
    /// 1.2.840.113549.1.1.1 (rsaEncryption), encoded.
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

    /// Splits one tag-length-value off the front: (tag, value, rest).
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let (bytes, rest) = rest.split_at(count);
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, rest)
        };
        if rest.len() < len {
            return None;
        }
        let (value, rest) = rest.split_at(len);
        Some((tag, value, rest))
    }

    /// `PrivateKeyInfo ::= SEQUENCE { version INTEGER, algorithm AlgorithmIdentifier,
    /// privateKey OCTET STRING, ... }`; returns the privateKey contents for RSA keys.
    pub(super) fn rsa_private_key_from_pkcs8(pkcs8: &[u8]) -> Option<&[u8]> {
        let (tag, body, trailing) = tlv(pkcs8)?;
        if tag != SEQUENCE || !trailing.is_empty() {
            return None;
        }
        let (tag, _version, body) = tlv(body)?;
        if tag != INTEGER {
            return None;
        }
        let (tag, algorithm, body) = tlv(body)?;
        if tag != SEQUENCE {
            return None;
        }
        let (tag, oid, _params) = tlv(algorithm)?;
        if tag != OID || oid != RSA_ENCRYPTION {
            return None;
        }
        let (tag, key, _attributes) = tlv(body)?;
        if tag != OCTET_STRING {
            return None;
        }
        Some(key)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn rejects_truncated_and_foreign_structures() {
            assert_eq!(rsa_private_key_from_pkcs8(&[]), None);
            assert_eq!(rsa_private_key_from_pkcs8(&[0x30, 0x05, 0x02]), None);
            // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.2.3 }, OCTET STRING "ab" }
            let foreign = [
                0x30, 0x0d, 0x02, 0x01, 0x00, 0x30, 0x04, 0x06, 0x02, 0x2a, 0x03, 0x04, 0x02, b'a',
                b'b',
            ];
            assert_eq!(
                rsa_private_key_from_pkcs8(&foreign),
                None,
                "not rsaEncryption"
            );
            let mut rsa = vec![0x30, 0x14, 0x02, 0x01, 0x00, 0x30, 0x0b, 0x06, 0x09];
            rsa.extend_from_slice(RSA_ENCRYPTION);
            rsa.extend_from_slice(&[0x04, 0x02, b'a', b'b']);
            assert_eq!(rsa_private_key_from_pkcs8(&rsa), Some(&b"ab"[..]));
            rsa.push(0);
            assert_eq!(rsa_private_key_from_pkcs8(&rsa), None, "trailing bytes");
        }
    }
}
