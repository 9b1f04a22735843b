//! The one error type of this crate. Messages are meant for the caller's user (they end up in
//! Key Vault error envelopes), so they say what is wrong with the input and never carry key
//! material, passwords or raw bytes.

/// Why a certificate, CSR, PKCS#12 or PEM operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum X509Error {
    /// The subject distinguished name could not be parsed or encoded.
    #[error("invalid subject: {0}")]
    InvalidSubject(String),
    /// A field of the certificate specification is invalid (SAN, EKU, validity).
    #[error("invalid certificate specification: {0}")]
    InvalidSpec(String),
    /// The private key could not be read as an RSA or EC private key.
    #[error("the private key could not be read")]
    InvalidKey,
    /// The key is readable but of a kind this service does not support.
    #[error("unsupported key: {0}")]
    UnsupportedKey(&'static str),
    /// The remote signer (for example an HSM) failed or returned an unusable signature.
    #[error("the signing key failed: {0}")]
    Signer(String),
    /// The PKCS#12 password is wrong (integrity check or decryption failed).
    #[error("the password of the PKCS#12 file is wrong")]
    WrongPassword,
    /// The input is not a well-formed certificate, CSR, PKCS#12 or PEM document.
    #[error("malformed input: {0}")]
    Malformed(String),
    /// The private key matches none of the certificates.
    #[error("the private key does not match any certificate")]
    KeyMismatch,
    /// The bundle has no certificate.
    #[error("no certificate found")]
    NoCertificate,
    /// The PEM private key is password-protected.
    #[error("encrypted PEM private keys are not supported; provide the key unencrypted")]
    EncryptedKey,
    /// The CSR's self-signature does not verify.
    #[error("the signature of the certificate signing request is invalid")]
    BadSignature,
    /// A well-formed input uses a feature this service does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The input exceeds the size limit.
    #[error("input too large: more than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The certificate chain exceeds the length limit.
    #[error("certificate chain too long: more than {max} certificates")]
    ChainTooLong {
        /// The largest accepted number of certificates.
        max: usize,
    },
    /// A library refused an operation that valid input should never make fail.
    #[error("internal certificate error: {0}")]
    Internal(&'static str),
}
