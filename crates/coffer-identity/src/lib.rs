//! Entra-ID-style token issuer and validator for Coffer. No I/O: callers persist signing
//! keys (as encrypted PKCS#8) and pass the current time in, so everything here is
//! deterministic apart from key generation and the random `uti`.
//!
//! - [`SigningKey`] / [`KeySet`]: RS256 keys, JWK and JWKS documents, rotation.
//! - [`Issuer`]: v1/v2 access tokens shaped like Azure's, and the OpenID discovery document.
//! - [`validate`]: the vault's checks on a presented bearer token, each failure a [`TokenError`].

mod error;
mod issuer;
mod keys;
mod validate;

pub use error::{IdentityError, TokenError};
pub use issuer::{AccessTokenRequest, IssuedToken, Issuer, TokenVersion};
pub use keys::{KeySet, SigningKey};
pub use validate::{
    DUPLICATE_AUTHORIZATION, Expectation, MAX_HEADER_BYTES, MAX_TOKEN_BYTES, ValidatedToken,
    bearer_token, decode_unverified, validate,
};

#[cfg(test)]
mod tests;
