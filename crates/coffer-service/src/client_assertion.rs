//! Client authentication by certificate: a JWT (`client_assertion`) signed with the private key
//! of a certificate registered on the application, as MSAL and the Azure SDKs send it
//! (RFC 7523, `private_key_jwt`). The header's `x5t` (SHA-1) or `x5t#S256` thumbprint picks the
//! certificate; the signature is verified with `jsonwebtoken`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::certificate;
use crate::directory::clip;
use crate::records::{ApplicationDoc, KeyCredentialDoc};
use crate::{AuthError, Coffer};

/// The only `client_assertion_type` Entra ID accepts for certificates.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Assertions longer than this are refused before decoding (real ones are about 1.5 KiB, or a
/// few KiB with an `x5c` chain).
const MAX_ASSERTION_BYTES: usize = 32 * 1024;

/// Algorithms accepted for assertions: Entra ID takes RS256 and PS256 (MSAL uses PS256 with
/// `x5t#S256`); the other RSA variants cost nothing to allow.
const ALGORITHMS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::RS384,
    Algorithm::PS384,
    Algorithm::RS512,
    Algorithm::PS512,
];

/// Which certificate the assertion's header names.
enum Thumbprint {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
}

impl Thumbprint {
    fn hex(&self) -> String {
        match self {
            Self::Sha1(b) | Self::Sha256(b) => certificate::hex_upper(b),
        }
    }

    fn matches(&self, k: &KeyCredentialDoc) -> bool {
        match self {
            Self::Sha1(_) => k.sha1 == self.hex(),
            Self::Sha256(_) => k.sha256 == self.hex(),
        }
    }
}

/// A thumbprint as a header carries it: base64url (standard), or hex (some clients put the
/// hex thumbprint in `kid`).
fn decode_thumbprint(s: &str, len: usize) -> Option<Vec<u8>> {
    let s = s.trim();
    if let Ok(b) = URL_SAFE_NO_PAD.decode(s.trim_end_matches('='))
        && b.len() == len
    {
        return Some(b);
    }
    if s.len() == len * 2 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        return Some(certificate::hex_decode(s));
    }
    None
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// A NumericDate claim: integer or fractional seconds (PyJWT writes floats).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, AuthError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| {
                AuthError::InvalidClientAssertion(format!(
                    "The '{name}' claim must be a number of seconds since 1970."
                ))
            }),
    }
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

impl Coffer {
    /// The audiences a client assertion may name for a token request to `tenant_id`: the v1 and
    /// v2 token endpoints, and the authority with the tenant (with or without `/v2.0`).
    fn assertion_audiences(&self, tenant_id: &str) -> Vec<String> {
        let base = format!("{}/{}", self.issuer.authority(), tenant_id);
        vec![
            format!("{base}/oauth2/v2.0/token"),
            format!("{base}/oauth2/token"),
            format!("{base}/v2.0"),
            base,
        ]
    }

    /// Authenticates a client by its assertion; returns the application.
    pub(crate) async fn authenticate_assertion(
        &self,
        tenant_id: &str,
        client_id: &str,
        assertion_type: Option<&str>,
        assertion: &str,
    ) -> Result<ApplicationDoc, AuthError> {
        match assertion_type {
            Some(JWT_BEARER) => {}
            Some(other) => {
                return Err(AuthError::InvalidClientAssertion(format!(
                    "The client_assertion_type '{}' is not supported; use '{JWT_BEARER}'.",
                    clip(other, 100)
                )));
            }
            None => return Err(AuthError::MissingParameter("client_assertion_type")),
        }
        if assertion.len() > MAX_ASSERTION_BYTES {
            return Err(AuthError::InvalidClientAssertion(format!(
                "The assertion is longer than {MAX_ASSERTION_BYTES} bytes."
            )));
        }
        let header = jsonwebtoken::decode_header(assertion).map_err(|_| {
            AuthError::InvalidClientAssertion(
                "It is not a JWT: three base64url parts, the first a JSON header.".to_owned(),
            )
        })?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(AuthError::InvalidClientAssertion(format!(
                "The signing algorithm {:?} is not accepted; sign with RS256 or PS256.",
                header.alg
            )));
        }
        let app = self.client_app(tenant_id, client_id).await?;
        let thumbprint = if let Some(t) = header.x5t_s256.as_deref() {
            decode_thumbprint(t, 32).map(Thumbprint::Sha256)
        } else if let Some(t) = header.x5t.as_deref().or(header.kid.as_deref()) {
            decode_thumbprint(t, 20).map(Thumbprint::Sha1)
        } else {
            None
        };
        let Some(thumbprint) = thumbprint else {
            return Err(AuthError::ClientAssertionKey {
                reason: "The client assertion does not name its certificate: its header needs 'x5t' (the base64url SHA-1 thumbprint) or 'x5t#S256' (the SHA-256 one).".to_owned(),
                thumbprint: String::new(),
                app: app.app_id,
            });
        };
        let key_error = |reason: String| AuthError::ClientAssertionKey {
            reason,
            thumbprint: thumbprint.hex(),
            app: app.app_id.clone(),
        };
        let Some(key) = app.key_credentials.iter().find(|k| thumbprint.matches(k)) else {
            return Err(key_error(
                "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found.]".to_owned(),
            ));
        };
        let now = self.now();
        let skew = self.settings.clock_skew_secs;
        if now > key.end + skew || now + skew < key.start {
            return Err(key_error(format!(
                "The certificate used to sign the client assertion is outside its validity: valid from {} to {}.",
                rfc3339(key.start),
                rfc3339(key.end)
            )));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(&key.der)
            .map_err(|e| AuthError::Internal(format!("stored certificate: {e}")))?;
        let cert = certificate::parse(&der)
            .map_err(|e| AuthError::Internal(format!("stored certificate: {e}")))?;
        let mut validation = Validation::new(header.alg);
        validation.algorithms = ALGORITHMS.to_vec();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Map<String, Value>>(
            assertion,
            &DecodingKey::from_rsa_der(&cert.rsa_public_key),
            &validation,
        )
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature
            | jsonwebtoken::errors::ErrorKind::InvalidRsaKey(_)
            | jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => key_error(
                "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]".to_owned(),
            ),
            _ => AuthError::InvalidClientAssertion(
                "Its claims are not a JSON object.".to_owned(),
            ),
        })?;
        self.check_assertion_claims(tenant_id, &app, &data.claims)?;
        Ok(app)
    }

    /// The claims checks, after the signature: issuer and subject, audience, lifetime, `jti`.
    fn check_assertion_claims(
        &self,
        tenant_id: &str,
        app: &ApplicationDoc,
        claims: &Map<String, Value>,
    ) -> Result<(), AuthError> {
        let iss = string_claim(claims, "iss").unwrap_or_default();
        let sub = string_claim(claims, "sub").unwrap_or_default();
        if !iss.eq_ignore_ascii_case(&app.app_id) || !sub.eq_ignore_ascii_case(&app.app_id) {
            return Err(AuthError::AssertionClientMismatch(format!(
                "Both 'iss' and 'sub' must be the client id '{}'; found iss '{}' and sub '{}'.",
                app.app_id,
                clip(iss, 100),
                clip(sub, 100)
            )));
        }
        let accepted = self.assertion_audiences(tenant_id);
        let auds: Vec<&str> = match claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let ok = auds.iter().any(|a| {
            let a = a.trim_end_matches('/');
            accepted.iter().any(|x| x.eq_ignore_ascii_case(a))
        });
        if !ok {
            return Err(AuthError::InvalidClientAssertion(format!(
                "The audience {} is not this token endpoint; use '{}' (or the v1 endpoint '{}').",
                if auds.is_empty() {
                    "(none)".to_owned()
                } else {
                    format!("'{}'", clip(&auds.join(" "), 200))
                },
                accepted[0],
                accepted[1]
            )));
        }
        let Some(exp) = numeric_date(claims, "exp")? else {
            return Err(AuthError::InvalidClientAssertion(
                "The 'exp' claim is required.".to_owned(),
            ));
        };
        let nbf = numeric_date(claims, "nbf")?;
        let now = self.now();
        let skew = self.settings.clock_skew_secs;
        if now > exp + skew || nbf.is_some_and(|n| now + skew < n) {
            return Err(AuthError::AssertionOutsideValidity {
                now: rfc3339(now),
                nbf: nbf.map_or_else(|| "(no nbf)".to_owned(), rfc3339),
                exp: rfc3339(exp),
            });
        }
        if string_claim(claims, "jti").is_none() {
            return Err(AuthError::InvalidClientAssertion(
                "The 'jti' claim (a unique identifier of the assertion) is required.".to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_in_base64url_or_hex() {
        let bytes: Vec<u8> = (0u8..20).collect();
        let b64 = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(decode_thumbprint(&b64, 20), Some(bytes.clone()));
        assert_eq!(
            decode_thumbprint(&format!("{b64}="), 20),
            Some(bytes.clone())
        );
        let hex = certificate::hex_upper(&bytes);
        assert_eq!(decode_thumbprint(&hex, 20), Some(bytes));
        assert_eq!(decode_thumbprint("abc", 20), None);
    }

    #[test]
    fn numeric_dates_accept_floats() {
        let mut m = Map::new();
        m.insert("exp".into(), serde_json::json!(1700000000.75));
        m.insert("nbf".into(), serde_json::json!(1700000000));
        m.insert("iat".into(), serde_json::json!("soon"));
        assert_eq!(numeric_date(&m, "exp").ok().flatten(), Some(1700000000));
        assert_eq!(numeric_date(&m, "nbf").ok().flatten(), Some(1700000000));
        assert!(numeric_date(&m, "iat").is_err());
        assert_eq!(numeric_date(&m, "jti").ok().flatten(), None);
    }
}
