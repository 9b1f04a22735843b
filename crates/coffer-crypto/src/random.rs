//! Random values from the operating system's CSPRNG (through aws-lc-rs).

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::CryptoError;

/// Fills a new buffer of `n` random bytes.
pub fn bytes(n: usize) -> Result<Vec<u8>, CryptoError> {
    let mut buf = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| CryptoError::Failed)?;
    Ok(buf)
}

/// `n` random bytes as lowercase hex (object version ids are 16 bytes → 32 hex digits).
pub fn hex(n: usize) -> Result<String, CryptoError> {
    Ok(bytes(n)?.iter().map(|b| format!("{b:02x}")).collect())
}
