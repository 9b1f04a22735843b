//! Encryption at rest and small cryptographic utilities for Coffer.
//!
//! Key hierarchy: a 256-bit root key (file, environment or, later, an HSM) wraps one data key per
//! vault; data keys seal payloads with AES-256-GCM whose associated data is the identity of the
//! object, so a ciphertext moved to another object, vault or version fails to open. No I/O here.

pub mod envelope;
pub mod keys;
pub mod password;
pub mod random;

pub use envelope::{DataKey, RootKey};

/// Cryptographic failures. Messages never contain key material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// A sealed blob failed authentication: wrong key, wrong associated data, or tampered bytes.
    #[error("sealed data failed authentication")]
    Unauthentic,
    /// A key had the wrong length or encoding.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// The platform's crypto library refused an operation.
    #[error("cryptographic operation failed")]
    Failed,
}
