//! Error types: `IdentityError` for key handling and token issuing, `TokenError` for
//! every way a presented access token can be refused (each maps to one 401 message).

use thiserror::Error;

/// Failures while creating keys or issuing tokens. These are operator or programming
/// errors, never caused by a client's request.
#[derive(Debug, Error)]
pub enum IdentityError {
    /// The crypto library could not generate an RSA key.
    #[error("could not generate an RSA-2048 signing key")]
    KeyGeneration,
    /// The stored key bytes are not a usable RSA private key.
    #[error("invalid signing key: {0}")]
    InvalidKey(String),
    /// A verifier with no keys would refuse everything; that is always a setup mistake.
    #[error("a key set needs at least one signing key")]
    EmptyKeySet,
    /// Tokens must live for a positive number of seconds.
    #[error("token lifetime must be positive, got {0} seconds")]
    InvalidLifetime(i64),
    /// `now + lifetime` does not fit in an i64.
    #[error("token expiry overflows: now {now} + lifetime {lifetime} seconds")]
    TimeOverflow {
        /// The `now` passed in.
        now: i64,
        /// The lifetime passed in.
        lifetime: i64,
    },
    /// An extra claim would overwrite one the issuer sets itself (`aud`, `iss`, `oid`...).
    #[error("extra claim \"{0}\" is reserved: the issuer sets it itself")]
    ReservedClaim(String),
    /// Signing or serialising the token failed.
    #[error("could not sign the token: {0}")]
    Signing(String),
}

/// Why an access token was refused. Each variant is one check; its `Display` text says
/// which check failed (Azure Key Vault's messages are the model, codes from `code()`).
///
/// Values taken from the token (audience, issuer, kid...) are clipped and stripped of
/// control characters before they reach a message; the token itself never does.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenError {
    /// No `Authorization` header (or an empty one, or `Bearer` with nothing after it).
    #[error("AKV10000: Request is missing a Bearer or PoP token.")]
    Missing,
    /// The request carries more than one `Authorization` header: which one counts is ambiguous.
    #[error(
        "Invalid authorization: the request has more than one Authorization header; send exactly one (\"Authorization: Bearer <token>\")."
    )]
    DuplicateAuthorization,
    /// The `Authorization` header uses a scheme other than `Bearer`.
    #[error(
        "Invalid authorization header: the scheme must be Bearer (\"Authorization: Bearer <token>\")."
    )]
    NotBearer,
    /// Not a well-formed JWT; the reason says which part is wrong.
    #[error("Malformed token: {0}.")]
    Malformed(String),
    /// The header's `alg` is not RS256 (e.g. `none`, `HS256`, `RS512`).
    #[error("Unsupported token algorithm \"{0}\": only RS256 is accepted.")]
    UnsupportedAlgorithm(String),
    /// The header's `kid`/`x5t` names no key this verifier trusts.
    #[error(
        "AKV10046: Unable to resolve the key used for signature validation. No signing key with kid \"{0}\" is trusted."
    )]
    UnknownSigningKey(String),
    /// The RS256 signature does not verify with the key the header names.
    #[error("Invalid token signature: the RS256 signature does not verify with the signing key.")]
    BadSignature,
    /// `aud` is not one of the accepted audiences.
    #[error("AKV10022: Invalid audience. Expected {expected}, found: {found}.")]
    WrongAudience {
        /// Accepted audiences, joined with " or ".
        expected: String,
        /// The token's `aud`.
        found: String,
    },
    /// `iss` is not this issuer's v1 or v2 issuer for the expected tenant.
    #[error("AKV10032: Invalid issuer. Expected one of {expected}, found {found}.")]
    UntrustedIssuer {
        /// Accepted issuers, joined with ", ".
        expected: String,
        /// The token's `iss`.
        found: String,
    },
    /// `tid` is not the vault's tenant.
    #[error("Invalid tenant. Expected tenant {expected}, found: {found}.")]
    WrongTenant {
        /// The vault's tenant id.
        expected: String,
        /// The token's `tid`.
        found: String,
    },
    /// `exp` is in the past by more than the allowed clock skew.
    #[error(
        "Token expired: it expired at {exp} (unix seconds) and the time now is {now}, beyond the allowed clock skew."
    )]
    Expired {
        /// The token's `exp`.
        exp: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// `nbf` is in the future by more than the allowed clock skew.
    #[error(
        "Token not yet valid: it is valid from {nbf} (unix seconds) and the time now is {now}, beyond the allowed clock skew."
    )]
    NotYetValid {
        /// The token's `nbf`.
        nbf: i64,
        /// The verifier's clock.
        now: i64,
    },
    /// A claim the vault needs to identify the caller (`oid`) is absent or not a string.
    #[error("Invalid token: the required claim \"{0}\" is missing or not a string.")]
    MissingClaim(&'static str),
}

impl TokenError {
    /// A stable short code for the failed check: Azure's `AKV…` code where Azure has
    /// one, otherwise a descriptive name. Suitable for `innererror.code` and logs.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Missing => "AKV10000",
            TokenError::DuplicateAuthorization => "DuplicateAuthorizationHeader",
            TokenError::NotBearer => "InvalidAuthorizationScheme",
            TokenError::Malformed(_) => "MalformedToken",
            TokenError::UnsupportedAlgorithm(_) => "UnsupportedTokenAlgorithm",
            TokenError::UnknownSigningKey(_) => "AKV10046",
            TokenError::BadSignature => "InvalidTokenSignature",
            TokenError::WrongAudience { .. } => "AKV10022",
            TokenError::UntrustedIssuer { .. } => "AKV10032",
            TokenError::WrongTenant { .. } => "InvalidTokenTenant",
            TokenError::Expired { .. } => "TokenExpired",
            TokenError::NotYetValid { .. } => "TokenNotYetValid",
            TokenError::MissingClaim(_) => "MissingTokenClaim",
        }
    }
}
