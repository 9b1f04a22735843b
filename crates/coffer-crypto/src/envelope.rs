//! Root key, per-vault data keys, and AES-256-GCM sealing bound to associated data.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::{CryptoError, random};

/// Format tag of sealed blobs, so the format can change later without guessing.
const FORMAT_V1: u8 = 1;
const KEY_LEN: usize = 32;

/// The key that wraps every data key. Kept only in memory, zeroed on drop.
pub struct RootKey(Zeroizing<[u8; KEY_LEN]>);

impl RootKey {
    pub fn generate() -> Result<Self, CryptoError> {
        Self::from_bytes(&random::bytes(KEY_LEN)?)
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; KEY_LEN] = b
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("root key must be 32 bytes"))?;
        Ok(Self(Zeroizing::new(arr)))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// Wraps a data key for the owner named by `context` (for example `vault:<id>`).
    pub fn wrap(&self, key: &DataKey, context: &str) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.0[..], &wrap_aad(context), key.as_bytes())
    }

    /// Unwraps a data key; fails if it was wrapped for another context or tampered with.
    pub fn unwrap_key(&self, wrapped: &[u8], context: &str) -> Result<DataKey, CryptoError> {
        let raw = open_with(&self.0[..], &wrap_aad(context), wrapped)?;
        DataKey::from_bytes(&raw)
    }
}

/// A key that seals the objects of one owner (a vault, or the instance's own records).
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl DataKey {
    pub fn generate() -> Result<Self, CryptoError> {
        Self::from_bytes(&random::bytes(KEY_LEN)?)
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; KEY_LEN] = b
            .try_into()
            .map_err(|_| CryptoError::InvalidKey("data key must be 32 bytes"))?;
        Ok(Self(Zeroizing::new(arr)))
    }

    fn as_bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// Encrypts `plaintext`, binding it to `aad` (the object's identity).
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        seal_with(&self.0[..], aad, plaintext)
    }

    /// Decrypts a blob made by [`DataKey::seal`] with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        open_with(&self.0[..], aad, sealed)
    }
}

fn wrap_aad(context: &str) -> Vec<u8> {
    let mut aad = b"coffer/data-key/v1/".to_vec();
    aad.extend_from_slice(context.as_bytes());
    aad
}

fn aead_key(key: &[u8]) -> Result<LessSafeKey, CryptoError> {
    let unbound =
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| CryptoError::InvalidKey("AES-256 key"))?;
    Ok(LessSafeKey::new(unbound))
}

/// Layout: format byte, 96-bit random nonce, ciphertext with its 128-bit tag.
fn seal_with(key: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let k = aead_key(key)?;
    let nonce_bytes: [u8; NONCE_LEN] = random::bytes(NONCE_LEN)?
        .try_into()
        .map_err(|_| CryptoError::Failed)?;
    let mut buf = plaintext.to_vec();
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce_bytes),
        Aad::from(aad),
        &mut buf,
    )
    .map_err(|_| CryptoError::Failed)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce_bytes);
    out.extend_from_slice(&buf);
    Ok(out)
}

fn open_with(key: &[u8], aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != FORMAT_V1 {
        return Err(CryptoError::Unauthentic);
    }
    let k = aead_key(key)?;
    let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN]
        .try_into()
        .map_err(|_| CryptoError::Unauthentic)?;
    let mut buf = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
    let len = k
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buf,
        )
        .map_err(|_| CryptoError::Unauthentic)?
        .len();
    buf.truncate(len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = DataKey::generate().unwrap();
        let sealed = k.seal(b"vault/dev/secret/a/v1", b"hunter2").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            &k.open(b"vault/dev/secret/a/v1", &sealed).unwrap()[..],
            b"hunter2"
        );
        // Moving the ciphertext to another object must fail.
        assert!(k.open(b"vault/dev/secret/b/v1", &sealed).is_err());
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(k.open(b"vault/dev/secret/a/v1", &tampered).is_err());
        assert!(k.open(b"x", &[]).is_err());
        assert!(
            DataKey::generate()
                .unwrap()
                .open(b"vault/dev/secret/a/v1", &sealed)
                .is_err()
        );
    }

    #[test]
    fn wrap_is_bound_to_context() {
        let root = RootKey::generate().unwrap();
        let dk = DataKey::generate().unwrap();
        let wrapped = root.wrap(&dk, "vault:1").unwrap();
        let back = root.unwrap_key(&wrapped, "vault:1").unwrap();
        let sealed = dk.seal(b"a", b"x").unwrap();
        assert_eq!(&back.open(b"a", &sealed).unwrap()[..], b"x");
        assert!(root.unwrap_key(&wrapped, "vault:2").is_err());
        assert!(RootKey::from_bytes(&[0u8; 31]).is_err());
    }
}
