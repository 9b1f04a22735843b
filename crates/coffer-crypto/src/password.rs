//! One-way storage of client secrets: PBKDF2-HMAC-SHA256 with a random salt, checked in constant
//! time, so a copy of the data directory does not reveal any credential.

use std::num::NonZeroU32;

use aws_lc_rs::pbkdf2;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;

use crate::{CryptoError, random};

/// Generated client secrets carry 256 bits of entropy, so a moderate count suffices; it keeps a
/// token request cheap while still slowing a search over human-chosen secrets.
const ITERATIONS: u32 = 50_000;
const HASH_LEN: usize = 32;

/// Hashes a secret into a self-describing string `pbkdf2-sha256$<iterations>$<salt>$<hash>`.
pub fn hash(secret: &str) -> Result<String, CryptoError> {
    let salt = random::bytes(16)?;
    let iters = NonZeroU32::new(ITERATIONS).ok_or(CryptoError::Failed)?;
    let mut out = [0u8; HASH_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iters,
        &salt,
        secret.as_bytes(),
        &mut out,
    );
    Ok(format!(
        "pbkdf2-sha256${ITERATIONS}${}${}",
        B64.encode(salt),
        B64.encode(out)
    ))
}

/// Derives an AES-256-GCM key from a passphrase with PBKDF2-HMAC-SHA256 (for files a user
/// encrypts, such as vault exports). `iterations` should be at least 600 000 for
/// human-chosen passphrases.
pub fn derive_key(
    passphrase: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<crate::DataKey, CryptoError> {
    let iters = NonZeroU32::new(iterations).ok_or(CryptoError::Failed)?;
    let mut out = zeroize::Zeroizing::new([0u8; HASH_LEN]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iters,
        salt,
        passphrase,
        &mut out[..],
    );
    crate::DataKey::from_bytes(&out[..])
}

/// Checks a secret against a string made by [`hash`]; false on any malformed input.
pub fn verify(secret: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2-sha256"), Some(iters), Some(salt), Some(expected), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Some(iters), Ok(salt), Ok(expected)) = (
        iters.parse::<u32>().ok().and_then(NonZeroU32::new),
        B64.decode(salt),
        B64.decode(expected),
    ) else {
        return false;
    };
    pbkdf2::verify(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iters,
        &salt,
        secret.as_bytes(),
        &expected,
    )
    .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_keys_open_only_with_the_same_passphrase_and_salt() {
        let k = derive_key(b"correct horse", b"salt-salt-salt-1", 1000).unwrap();
        let sealed = k.seal(b"ad", b"plain").unwrap();
        let same = derive_key(b"correct horse", b"salt-salt-salt-1", 1000).unwrap();
        assert_eq!(&same.open(b"ad", &sealed).unwrap()[..], b"plain");
        let wrong = derive_key(b"wrong horse", b"salt-salt-salt-1", 1000).unwrap();
        assert!(wrong.open(b"ad", &sealed).is_err());
        assert!(derive_key(b"x", b"y", 0).is_err());
    }

    #[test]
    fn hash_and_verify() {
        let h = hash("s3cret").unwrap();
        assert!(!h.contains("s3cret"));
        assert!(verify("s3cret", &h));
        assert!(!verify("s3cres", &h));
        assert!(!verify("s3cret", "garbage"));
        assert!(!verify("s3cret", "pbkdf2-sha256$0$AA$AA"));
        assert_ne!(hash("s3cret").unwrap(), h, "salted");
    }
}
