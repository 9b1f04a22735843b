//! Access-token validation for the vault: parses the `Authorization` header, checks a
//! JWT's structure, algorithm, signing key, signature, issuer, tenant, audience and
//! lifetime in that order, and reports the first failed check as a `TokenError`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize as _;
use serde_json::{Map, Value};

use crate::error::TokenError;
use crate::issuer::{Issuer, TokenVersion};
use crate::keys::{KeySet, SigningKey};

/// Tokens longer than this are refused before any decoding (Azure tokens are ~1.5 KiB).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Encoded headers longer than this are refused before decoding.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Attacker-supplied values quoted in error messages are cut to this many characters.
const MAX_QUOTED_CHARS: usize = 200;

/// What the vault expects of a token.
#[derive(Debug, Clone)]
pub struct Expectation<'a> {
    /// Accepted `aud` values; compared after trimming ONE trailing '/' on both sides.
    pub audiences: &'a [String],
    /// The vault's tenant: `tid` must equal it, `iss` must be `issuer_for(tenant, V1 or V2)`.
    pub tenant_id: &'a str,
    /// The issuer whose tokens are trusted.
    pub issuer: &'a Issuer,
    /// Verifier clock, unix seconds.
    pub now: i64,
    /// Allowed clock skew for `exp`/`nbf` (callers use 300 like Azure).
    pub skew_secs: i64,
}

/// A token that passed every check, with the identity fields the vault needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedToken {
    /// All claims as sent.
    pub claims: Map<String, Value>,
    /// `tid`.
    pub tenant_id: String,
    /// `oid`: the caller's principal, what access policies name.
    pub object_id: String,
    /// `appid` (v1) or `azp` (v2), when present.
    pub app_id: Option<String>,
    /// `exp`, unix seconds.
    pub expires_at: i64,
}

/// What the HTTP edge passes as the `Authorization` value when a request has several: no real
/// header can hold a NUL, so it cannot be forged.
pub const DUPLICATE_AUTHORIZATION: &str = "\u{0}duplicate-authorization";

/// Parses the `Authorization` header value: None → Missing; not `Bearer <t>` (case-insensitive scheme) → NotBearer.
///
/// An empty header or a bare `Bearer` counts as Missing: there is no token to check.
pub fn bearer_token(header: Option<&str>) -> Result<&str, TokenError> {
    if header == Some(DUPLICATE_AUTHORIZATION) {
        return Err(TokenError::DuplicateAuthorization);
    }
    let value = header.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(TokenError::Missing);
    }
    let (scheme, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(TokenError::NotBearer);
    }
    let token = rest.trim();
    if token.is_empty() {
        return Err(TokenError::Missing);
    }
    Ok(token)
}

/// Decodes header and claims WITHOUT verifying (for `coffer token decode`); error if not a 3-part JWT of base64url JSON.
pub fn decode_unverified(token: &str) -> Result<(Value, Value), TokenError> {
    let parts = Parts::parse(token)?;
    Ok((Value::Object(parts.header), Value::Object(parts.claims)))
}

/// Validates a bearer token against the trusted keys and the vault's expectations.
///
/// Checks run in a fixed order and the first failure is returned: structure → alg →
/// kid → signature → iss → tid → aud → exp → nbf → oid. Nothing about the claims is
/// trusted (or reported beyond structure) until the signature has verified.
pub fn validate(
    token: &str,
    keys: &KeySet,
    expect: &Expectation<'_>,
) -> Result<ValidatedToken, TokenError> {
    let parts = Parts::parse(token)?;
    let exp =
        integer_claim(&parts.claims, "exp")?.ok_or_else(|| malformed("claims have no \"exp\""))?;
    let nbf = integer_claim(&parts.claims, "nbf")?;

    // The algorithm is pinned before any key is touched, so `none` and the classic
    // "HS256 keyed with the RSA public key" confusion never reach a verifier.
    match parts.header.get("alg") {
        Some(Value::String(alg)) if alg == "RS256" => {}
        Some(Value::String(alg)) => return Err(TokenError::UnsupportedAlgorithm(quote(alg))),
        Some(other) => return Err(TokenError::UnsupportedAlgorithm(quote(&other.to_string()))),
        None => return Err(malformed("header has no \"alg\"")),
    }

    let key = signing_key(&parts.header, keys)?;

    match jsonwebtoken::crypto::verify(
        parts.signature,
        parts.signed.as_bytes(),
        key.decoding_key(),
        Algorithm::RS256,
    ) {
        Ok(true) => {}
        Ok(false) | Err(_) => return Err(TokenError::BadSignature),
    }

    let claims = parts.claims;
    let accepted_issuers = [
        expect.issuer.issuer_for(expect.tenant_id, TokenVersion::V1),
        expect.issuer.issuer_for(expect.tenant_id, TokenVersion::V2),
    ];
    let iss = claims.get("iss");
    if !matches!(iss, Some(Value::String(s)) if accepted_issuers.contains(s)) {
        return Err(TokenError::UntrustedIssuer {
            expected: accepted_issuers.join(", "),
            found: describe(iss),
        });
    }

    let tid = match claims.get("tid") {
        Some(Value::String(t)) if t == expect.tenant_id => t.clone(),
        other => {
            return Err(TokenError::WrongTenant {
                expected: expect.tenant_id.to_owned(),
                found: describe(other),
            });
        }
    };

    check_audience(claims.get("aud"), expect.audiences)?;

    let skew = expect.skew_secs.max(0);
    if expect.now.saturating_sub(skew) >= exp {
        return Err(TokenError::Expired {
            exp,
            now: expect.now,
        });
    }
    if let Some(nbf) = nbf
        && nbf > expect.now.saturating_add(skew)
    {
        return Err(TokenError::NotYetValid {
            nbf,
            now: expect.now,
        });
    }

    let object_id = match claims.get("oid") {
        Some(Value::String(oid)) if !oid.is_empty() => oid.clone(),
        _ => return Err(TokenError::MissingClaim("oid")),
    };
    let app_id = ["appid", "azp"]
        .iter()
        .find_map(|name| claims.get(*name).and_then(Value::as_str))
        .map(str::to_owned);

    Ok(ValidatedToken {
        tenant_id: tid,
        object_id,
        app_id,
        expires_at: exp,
        claims,
    })
}

/// A compact JWT split and decoded, not yet verified.
struct Parts<'t> {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    /// `base64url(header) "." base64url(claims)`: the bytes the signature covers.
    signed: &'t str,
    signature: &'t str,
}

impl<'t> Parts<'t> {
    fn parse(token: &'t str) -> Result<Parts<'t>, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(malformed(&format!(
                "token is {} bytes, more than the {MAX_TOKEN_BYTES}-byte (16 KiB) limit",
                token.len()
            )));
        }
        let segments = token.split('.').count();
        let (signed, signature) = match token.rsplit_once('.') {
            Some(split) if segments == 3 => split,
            _ => {
                return Err(malformed(&format!(
                    "expected three dot-separated parts (header.payload.signature), found {segments}"
                )));
            }
        };
        let (header_b64, claims_b64) = signed
            .split_once('.')
            .ok_or_else(|| malformed("expected three dot-separated parts"))?;
        if header_b64.len() > MAX_HEADER_BYTES {
            return Err(malformed(&format!(
                "header is {} bytes, more than the {MAX_HEADER_BYTES}-byte (8 KiB) limit",
                header_b64.len()
            )));
        }
        let header = json_object(header_b64, "header")?;
        let claims = json_object(claims_b64, "payload")?;
        if URL_SAFE_NO_PAD.decode(signature).is_err() {
            return Err(malformed("signature is not valid base64url"));
        }
        if header.contains_key("crit") {
            // RFC 7515 §4.1.11: extensions we do not implement must make the token invalid.
            return Err(malformed(
                "header has a \"crit\" parameter, which is not supported",
            ));
        }
        Ok(Parts {
            header,
            claims,
            signed,
            signature,
        })
    }
}

fn json_object(segment: &str, what: &str) -> Result<Map<String, Value>, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| malformed(&format!("{what} is not valid base64url")))?;
    // Parsers disagree on which of two equal member names wins (the first, the last, or an
    // error), so a token that names `alg` twice could mean different things to different
    // readers: refuse it outright.
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let parsed = match UniqueMembers::deserialize(&mut de) {
        Ok(v) => de.end().map(|()| v.0),
        Err(e) => Err(e),
    };
    match parsed {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(malformed(&format!("{what} is not a JSON object"))),
        Err(e) if e.to_string().starts_with(DUPLICATE_MEMBER) => {
            Err(malformed(&format!("{what} names a member more than once")))
        }
        Err(_) => Err(malformed(&format!("{what} is not valid JSON"))),
    }
}

const DUPLICATE_MEMBER: &str = "duplicate member";

/// A JSON value that refuses an object naming one member twice, at any depth.
struct UniqueMembers(Value);

impl<'de> serde::Deserialize<'de> for UniqueMembers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(UniqueMembers)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueMembers(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let UniqueMembers(v) = map.next_value()?;
            if out.insert(key, v).is_some() {
                return Err(serde::de::Error::custom(DUPLICATE_MEMBER));
            }
        }
        Ok(Value::Object(out))
    }
}

/// `Ok(None)` if absent; a present claim must be an integer (NumericDate in whole seconds).
fn integer_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .map(Some)
            .ok_or_else(|| malformed(&format!("\"{name}\" is not an integer number of seconds"))),
    }
}

/// Finds the key the header names by `kid`, else by `x5t` (equal for our keys).
fn signing_key<'k>(
    header: &Map<String, Value>,
    keys: &'k KeySet,
) -> Result<&'k SigningKey, TokenError> {
    let kid = header.get("kid").and_then(Value::as_str);
    let x5t = header.get("x5t").and_then(Value::as_str);
    // Our kid and x5t are the same value; a header naming the key by either is enough, but one
    // naming it by both must not name two different keys (a junk kid beside the right x5t).
    if let (Some(k), Some(x)) = (kid, x5t)
        && k != x
    {
        return Err(TokenError::UnknownSigningKey(format!(
            "{}\" and x5t \"{}",
            quote(k),
            quote(x)
        )));
    }
    if let Some(key) = [kid, x5t]
        .into_iter()
        .flatten()
        .find_map(|id| keys.find(id))
    {
        return Ok(key);
    }
    Err(TokenError::UnknownSigningKey(
        kid.or(x5t).map_or_else(|| "none".to_owned(), quote),
    ))
}

fn check_audience(aud: Option<&Value>, accepted: &[String]) -> Result<(), TokenError> {
    let matches = |found: &str| {
        let found = trim_one_slash(found);
        accepted.iter().any(|a| trim_one_slash(a) == found)
    };
    let ok = match aud {
        Some(Value::String(s)) => matches(s),
        // RFC 7519 allows an array; one matching member is enough.
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(matches),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let expected = if accepted.is_empty() {
        "(no audience configured)".to_owned()
    } else {
        accepted
            .iter()
            .map(|a| quote(a))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    Err(TokenError::WrongAudience {
        expected,
        found: describe(aud),
    })
}

fn trim_one_slash(s: &str) -> &str {
    s.strip_suffix('/').unwrap_or(s)
}

fn malformed(reason: &str) -> TokenError {
    TokenError::Malformed(reason.to_owned())
}

/// A claim value for an error message: strings as they are (clipped), anything else as JSON.
fn describe(value: Option<&Value>) -> String {
    match value {
        None => "(none)".to_owned(),
        Some(Value::String(s)) => quote(s),
        Some(Value::Array(items)) => quote(
            &items
                .iter()
                .map(|v| describe(Some(v)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Some(other) => quote(&other.to_string()),
    }
}

/// Makes an attacker-controlled string safe to put in a message or log line: control
/// characters become '?', and long values are cut.
fn quote(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(MAX_QUOTED_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(MAX_QUOTED_CHARS).is_some() {
        out.push('…');
    }
    out
}
