//! Proof Key for Code Exchange (RFC 7636) with the `S256` method only: the challenge an
//! authorization request carries, and the check of the verifier the token request sends.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::SigninError;

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`, for verifiers and (S256, which is
/// 43 base64url characters) challenges alike.
fn well_formed(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Checks the PKCE parameters of an authorization request. `plain` is refused: it protects
/// nothing once the request is seen, and every current client library sends S256.
pub(crate) fn check_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
) -> Result<Option<String>, SigninError> {
    let Some(challenge) = challenge else {
        if method.is_some() {
            return Err(SigninError::MissingParameter("code_challenge"));
        }
        return Ok(None);
    };
    match method {
        Some("S256") => {}
        // RFC 7636 defaults a missing method to plain.
        None | Some("plain") => return Err(SigninError::PlainPkce),
        Some(other) => return Err(SigninError::UnknownPkceMethod(clip(other))),
    }
    // An S256 challenge is the base64url of 32 bytes: exactly 43 characters.
    if challenge.len() != 43 || !well_formed(challenge) {
        return Err(SigninError::InvalidCodeChallenge);
    }
    Ok(Some(challenge.to_owned()))
}

/// Whether `verifier` hashes to `challenge` (`BASE64URL(SHA256(verifier))`).
pub(crate) fn verify(challenge: &str, verifier: &str) -> bool {
    if !well_formed(verifier) {
        return false;
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    let computed = URL_SAFE_NO_PAD.encode(digest.as_ref());
    // Both are public once the code is redeemed, but compare without early exit anyway.
    computed.len() == challenge.len()
        && computed
            .bytes()
            .zip(challenge.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_verifies() {
        assert!(verify(CHALLENGE, VERIFIER));
        assert!(!verify(
            CHALLENGE,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx"
        ));
        // Too short to be a verifier at all, even if someone hashed it.
        assert!(!verify(CHALLENGE, "short"));
        assert!(!verify(CHALLENGE, ""));
    }

    #[test]
    fn only_s256_challenges_are_accepted() {
        assert_eq!(
            check_challenge(Some(CHALLENGE), Some("S256")).unwrap(),
            Some(CHALLENGE.to_owned())
        );
        assert_eq!(check_challenge(None, None).unwrap(), None);
        assert!(matches!(
            check_challenge(Some(CHALLENGE), Some("plain")),
            Err(SigninError::PlainPkce)
        ));
        assert!(matches!(
            check_challenge(Some(CHALLENGE), None),
            Err(SigninError::PlainPkce)
        ));
        assert!(matches!(
            check_challenge(Some(CHALLENGE), Some("S512")),
            Err(SigninError::UnknownPkceMethod(_))
        ));
        assert!(matches!(
            check_challenge(Some("abc"), Some("S256")),
            Err(SigninError::InvalidCodeChallenge)
        ));
        assert!(matches!(
            check_challenge(Some(&format!("{}=", &CHALLENGE[..42])), Some("S256")),
            Err(SigninError::InvalidCodeChallenge)
        ));
        assert!(matches!(
            check_challenge(None, Some("S256")),
            Err(SigninError::MissingParameter("code_challenge"))
        ));
    }
}
