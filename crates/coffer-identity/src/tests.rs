//! Unit tests: issue→validate round trips, JWKS, rotation, PKCS#8 persistence, the
//! discovery document, and a table of hostile tokens covering every `TokenError`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde_json::{Map, Value, json};

use crate::*;

const AUTHORITY: &str = "https://login.localhost:8443";
const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const OTHER_TENANT: &str = "2ac36096-05f9-482e-ae23-1bdb78adb0bb";
const VAULT: &str = "https://vault.localhost:8443";
const APP: &str = "fad7d5b3-69d6-4b48-9259-8d12124e1cf1";
const OID: &str = "3975aeed-7d08-453b-b6f4-445f32698091";
const NOW: i64 = 1_548_697_513;
const SKEW: i64 = 300;

/// The access token shown in the seed document (Azure Key Vault error-code reference).
const SEED_TOKEN: &str = concat!(
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Im5iQ3dXMTF3M1hrQi14VWFYd0tSU0xqTUhHUSIsImtp",
    "ZCI6Im5iQ3dXMTF3M1hrQi14VWFYd0tSU0xqTUhHUSJ9.eyJhdWQiOiJodHRwczovL3ZhdWx0LmF6dXJlLm5ldCI",
    "sImlzcyI6Imh0dHBzOi8vc3RzLndpbmRvd3MubmV0LzcyZjk4OGJmLTg2ZjEtNDFhZi05MWFiLTJkN2NkMDExZGI",
    "0Ny8iLCJpYXQiOjE1NDg2OTc1MTMsIm5iZiI6MTU0ODY5NzUxMywiZXhwIjoxNTQ4NzAxNDEzLCJhaW8iOiI0Mkp",
    "nWUhoODVqaVBnZHF5ZlRGZE5TdHY3bGUvQkFBPSIsImFwcGlkIjoiZmFkN2Q1YjMtNjlkNi00YjQ4LTkyNTktOGQ",
    "xMjEyNGUxY2YxIiwiYXBwaWRhY3IiOiIxIiwiaWRwIjoiaHR0cHM6Ly9zdHMud2luZG93cy5uZXQvNzJmOTg4YmY",
    "tODZmMS00MWFmLTkxYWItMmQ3Y2QwMTFkYjQ3LyIsIm9pZCI6IjM5NzVhZWVkLTdkMDgtNDUzYi1iNmY0LTQ0NWY",
    "zMjY5ODA5MSIsInN1YiI6IjM5NzVhZWVkLTdkMDgtNDUzYi1iNmY0LTQ0NWYzMjY5ODA5MSIsInRpZCI6IjcyZjk",
    "4OGJmLTg2ZjEtNDFhZi05MWFiLTJkN2NkMDExZGI0NyIsInV0aSI6IjItZ3JoUmtlSWs2QmVZLUxuNDJtQUEiLCJ",
    "2ZXIiOiIxLjAifQ.fgubiz1MKqTJTXI8dHIV7t9Fle6FdHrkaGYKcBeVRX1WtLVuk1QVxzIFDlZKLXJ7QPNs0KWp",
    "eiWQI9IWIRK-8wO38yCqKTfDlfHOiNWGOpkKddlG729KFqakVf2w0GPyGPFCONRDAR5wjQarN9Bt8I8YbHwZQz_M",
    "1hztlnv-Lmsk1jBmech9ujD9-lTMBmSfFFbHcqquev119V7sneI-zxBZLf8C0pIDkaXf1t8y6Xr8CUJDMdlWLslC",
    "f3pBCNIOy65_TyGvy4Z4AJryTPBarNBPwOkNAtjCfZ4BDc2KqUZM5QN_VK4foP64sVzUL6mSr0Gh7lQJIL5b1qIp",
    "JxjxyQ",
);

/// Key generation is slow in unoptimised builds, so the tests share three keys.
struct Keys {
    current: SigningKey,
    previous: SigningKey,
    stranger: SigningKey,
}

fn shared() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| Keys {
        current: SigningKey::generate().unwrap(),
        previous: SigningKey::generate().unwrap(),
        stranger: SigningKey::generate().unwrap(),
    })
}

fn key_set(list: &[&SigningKey]) -> KeySet {
    KeySet::new(list.iter().map(|k| (*k).clone()).collect()).unwrap()
}

fn issuer() -> Issuer {
    Issuer::new(AUTHORITY)
}

fn request(version: TokenVersion) -> AccessTokenRequest<'static> {
    AccessTokenRequest {
        tenant_id: TENANT,
        audience: VAULT,
        app_id: APP,
        object_id: OID,
        version,
        lifetime_secs: 3900,
        now: NOW,
        extra: Map::new(),
    }
}

fn audiences() -> Vec<String> {
    vec![VAULT.to_owned()]
}

fn check(token: &str, keys: &KeySet, now: i64) -> Result<ValidatedToken, TokenError> {
    let issuer = issuer();
    let audiences = audiences();
    let expect = Expectation {
        audiences: &audiences,
        tenant_id: TENANT,
        issuer: &issuer,
        now,
        skew_secs: SKEW,
    };
    validate(token, keys, &expect)
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Signs arbitrary header/claims the way an attacker (or a buggy issuer) could.
fn sign_with(header: &Value, claims: &Value, key: &EncodingKey, alg: Algorithm) -> String {
    let message = format!("{}.{}", b64(header), b64(claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).unwrap();
    format!("{message}.{signature}")
}

fn rs256_header(key: &SigningKey) -> Value {
    json!({"typ": "JWT", "alg": "RS256", "x5t": key.kid(), "kid": key.kid()})
}

/// Claims a correct v1 token for the vault would carry.
fn good_claims() -> Value {
    json!({
        "aud": VAULT,
        "iss": format!("{AUTHORITY}/{TENANT}/"),
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 3600,
        "appid": APP,
        "appidacr": "1",
        "idp": format!("{AUTHORITY}/{TENANT}/"),
        "oid": OID,
        "sub": OID,
        "tid": TENANT,
        "uti": "2-grhRkeIk6BeY-Ln42mAA",
        "ver": "1.0",
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

fn signed(claims: &Value) -> String {
    let key = &shared().current;
    sign_with(
        &rs256_header(key),
        claims,
        key.encoding_key(),
        Algorithm::RS256,
    )
}

fn pem(der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// The raw JSON text of a token segment, to check member order.
fn segment_text(token: &str, index: usize) -> String {
    let part = token.split('.').nth(index).unwrap();
    String::from_utf8(URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

fn keys_in_order(text: &str) -> Vec<String> {
    // Decoding into a Map would sort keys; walk the text instead. Our values never
    // contain `":` so a simple scan for `"name":` at object depth 1 is enough.
    let value: Value = serde_json::from_str(text).unwrap();
    let mut names: Vec<(usize, String)> = value
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (text.find(&format!("\"{k}\":")).unwrap(), k.clone()))
        .collect();
    names.sort();
    names.into_iter().map(|(_, k)| k).collect()
}

#[test]
fn v1_round_trip_matches_azure_shape() {
    let keys = key_set(&[&shared().current]);
    let mut req = request(TokenVersion::V1);
    req.extra.insert("idtyp".into(), json!("app"));
    let issued = issuer().issue(&keys, &req).unwrap();
    assert_eq!(issued.expires_in, 3900);
    assert_eq!(issued.expires_on, NOW + 3900);
    assert_eq!(issued.not_before, NOW);

    let token = &issued.access_token;
    let kid = keys.current().kid();
    assert_eq!(
        segment_text(token, 0),
        format!(r#"{{"typ":"JWT","alg":"RS256","x5t":"{kid}","kid":"{kid}"}}"#)
    );
    assert_eq!(
        keys_in_order(&segment_text(token, 1)),
        [
            "aud", "iss", "iat", "nbf", "exp", "appid", "appidacr", "idp", "oid", "sub", "tid",
            "uti", "ver", "idtyp"
        ]
    );

    let ok = check(token, &keys, NOW + 10).unwrap();
    assert_eq!(ok.tenant_id, TENANT);
    assert_eq!(ok.object_id, OID);
    assert_eq!(ok.app_id.as_deref(), Some(APP));
    assert_eq!(ok.expires_at, NOW + 3900);
    let c = &ok.claims;
    assert_eq!(c["aud"], VAULT);
    assert_eq!(c["iss"], format!("{AUTHORITY}/{TENANT}/"));
    assert_eq!(c["idp"], format!("{AUTHORITY}/{TENANT}/"));
    assert_eq!(c["iat"], NOW);
    assert_eq!(c["nbf"], NOW);
    assert_eq!(c["exp"], NOW + 3900);
    assert_eq!(c["appidacr"], "1");
    assert_eq!(c["sub"], OID);
    assert_eq!(c["tid"], TENANT);
    assert_eq!(c["ver"], "1.0");
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["uti"].as_str().unwrap().len(), 22);
    assert!(c.get("azp").is_none());
}

#[test]
fn extra_may_set_the_client_authentication_level() {
    let keys = key_set(&[&shared().current]);
    let mut req = request(TokenVersion::V2);
    req.extra.insert("azpacr".into(), json!("2"));
    let token = issuer().issue(&keys, &req).unwrap().access_token;
    assert_eq!(
        keys_in_order(&segment_text(&token, 1)),
        [
            "aud", "iss", "iat", "nbf", "exp", "azp", "azpacr", "idp", "oid", "sub", "tid", "uti",
            "ver"
        ]
    );
    assert_eq!(check(&token, &keys, NOW).unwrap().claims["azpacr"], "2");
}

#[test]
fn v2_round_trip() {
    let keys = key_set(&[&shared().current]);
    let issued = issuer().issue(&keys, &request(TokenVersion::V2)).unwrap();
    let ok = check(&issued.access_token, &keys, NOW).unwrap();
    let c = &ok.claims;
    assert_eq!(c["iss"], format!("{AUTHORITY}/{TENANT}/v2.0"));
    assert_eq!(c["idp"], format!("{AUTHORITY}/{TENANT}/"));
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["azp"], APP);
    assert_eq!(c["azpacr"], "1");
    assert!(c.get("appid").is_none());
    assert_eq!(ok.app_id.as_deref(), Some(APP));
}

#[test]
fn uti_is_unique_per_token() {
    let keys = key_set(&[&shared().current]);
    let a = issuer().issue(&keys, &request(TokenVersion::V1)).unwrap();
    let b = issuer().issue(&keys, &request(TokenVersion::V1)).unwrap();
    let (_, ca) = decode_unverified(&a.access_token).unwrap();
    let (_, cb) = decode_unverified(&b.access_token).unwrap();
    assert_ne!(ca["uti"], cb["uti"]);
}

#[test]
fn issue_rejects_bad_requests() {
    let keys = key_set(&[&shared().current]);
    let mut req = request(TokenVersion::V1);
    req.lifetime_secs = 0;
    assert!(matches!(
        issuer().issue(&keys, &req),
        Err(IdentityError::InvalidLifetime(0))
    ));

    let mut req = request(TokenVersion::V1);
    req.now = i64::MAX - 1;
    assert!(matches!(
        issuer().issue(&keys, &req),
        Err(IdentityError::TimeOverflow { .. })
    ));

    let mut req = request(TokenVersion::V1);
    req.extra.insert("oid".into(), json!("someone-else"));
    match issuer().issue(&keys, &req) {
        Err(IdentityError::ReservedClaim(name)) => assert_eq!(name, "oid"),
        other => panic!("expected ReservedClaim, got {other:?}"),
    }

    let mut req = request(TokenVersion::V1);
    req.extra.insert("aud".into(), json!("https://evil"));
    match issuer().issue(&keys, &req) {
        Err(IdentityError::ReservedClaim(name)) => assert_eq!(name, "aud"),
        other => panic!("expected ReservedClaim, got {other:?}"),
    }
}

#[test]
fn jwks_publishes_the_keys_that_verify() {
    let keys = key_set(&[&shared().current, &shared().previous]);
    let jwks = keys.jwks();
    let list = jwks["keys"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["kid"], shared().current.kid());
    assert_eq!(list[1]["kid"], shared().previous.kid());

    let issued = issuer().issue(&keys, &request(TokenVersion::V1)).unwrap();
    let jwk = &list[0];
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["alg"], "RS256");
    assert_eq!(jwk["x5t"], jwk["kid"]);
    assert_eq!(jwk["e"], "AQAB");
    assert_eq!(jwk["kid"].as_str().unwrap().len(), 27);
    // The modulus of a 2048-bit key is 256 bytes: 342 base64url characters.
    assert_eq!(jwk["n"].as_str().unwrap().len(), 342);

    // Verify independently of `validate`: jsonwebtoken's full decode with the JWK's n/e.
    let decoding =
        DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap())
            .unwrap();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[VAULT]);
    validation.set_issuer(&[format!("{AUTHORITY}/{TENANT}/")]);
    validation.validate_exp = false;
    let data = jsonwebtoken::decode::<Value>(&issued.access_token, &decoding, &validation).unwrap();
    assert_eq!(data.header.kid.as_deref(), Some(shared().current.kid()));
    assert_eq!(data.claims["oid"], OID);

    // The previous key's n/e do not verify the current key's token.
    let other = &list[1];
    let wrong = DecodingKey::from_rsa_components(
        other["n"].as_str().unwrap(),
        other["e"].as_str().unwrap(),
    )
    .unwrap();
    assert!(jsonwebtoken::decode::<Value>(&issued.access_token, &wrong, &validation).is_err());
}

#[test]
fn rotation_keeps_old_tokens_until_the_old_key_is_dropped() {
    let old_only = key_set(&[&shared().previous]);
    let old_token = issuer()
        .issue(&old_only, &request(TokenVersion::V1))
        .unwrap()
        .access_token;

    let rotated = key_set(&[&shared().current, &shared().previous]);
    assert_eq!(rotated.current().kid(), shared().current.kid());
    check(&old_token, &rotated, NOW).unwrap();
    let new_token = issuer()
        .issue(&rotated, &request(TokenVersion::V1))
        .unwrap()
        .access_token;
    assert_eq!(
        decode_unverified(&new_token).unwrap().0["kid"],
        shared().current.kid()
    );
    check(&new_token, &rotated, NOW).unwrap();

    let retired = key_set(&[&shared().current]);
    assert_eq!(
        check(&old_token, &retired, NOW),
        Err(TokenError::UnknownSigningKey(
            shared().previous.kid().to_owned()
        ))
    );
    check(&new_token, &retired, NOW).unwrap();
}

#[test]
fn pkcs8_round_trip_keeps_kid_and_signs_compatibly() {
    let original = &shared().current;
    let reloaded = SigningKey::from_pkcs8(original.pkcs8_der()).unwrap();
    assert_eq!(reloaded.kid(), original.kid());
    assert_eq!(reloaded.jwk(), original.jwk());
    assert_eq!(reloaded.pkcs8_der(), original.pkcs8_der());
    assert_eq!(reloaded.public_key_der(), original.public_key_der());

    let token = issuer()
        .issue(&key_set(&[&reloaded]), &request(TokenVersion::V1))
        .unwrap()
        .access_token;
    check(&token, &key_set(&[original]), NOW).unwrap();

    // Debug output never shows private material.
    let debug = format!("{original:?}");
    assert!(debug.contains(original.kid()));
    assert!(debug.len() < 100);
}

#[test]
fn bad_key_material_and_empty_sets_are_refused() {
    assert!(matches!(
        SigningKey::from_pkcs8(b"not a key"),
        Err(IdentityError::InvalidKey(_))
    ));
    assert!(matches!(
        SigningKey::from_pkcs8(shared().current.public_key_der()),
        Err(IdentityError::InvalidKey(_))
    ));
    assert!(matches!(
        KeySet::new(Vec::new()),
        Err(IdentityError::EmptyKeySet)
    ));
}

#[test]
fn tokens_within_skew_and_slash_variants_are_accepted() {
    let keys = key_set(&[&shared().current]);
    let cases = [
        (
            "aud with trailing slash",
            with(good_claims(), "aud", json!(format!("{VAULT}/"))),
        ),
        (
            "aud as array",
            with(good_claims(), "aud", json!(["https://other", VAULT])),
        ),
        (
            "expired within skew",
            with(good_claims(), "exp", json!(NOW - SKEW + 1)),
        ),
        (
            "nbf within skew",
            with(good_claims(), "nbf", json!(NOW + SKEW)),
        ),
        ("no nbf", without(good_claims(), "nbf")),
        (
            "v2 issuer",
            with(
                good_claims(),
                "iss",
                json!(format!("{AUTHORITY}/{TENANT}/v2.0")),
            ),
        ),
    ];
    for (name, claims) in cases {
        let result = check(&signed(&claims), &keys, NOW);
        assert!(result.is_ok(), "{name}: {result:?}");
    }

    // Expected audience configured with a slash, token without.
    let issuer = issuer();
    let slashed = vec![format!("{VAULT}/")];
    let expect = Expectation {
        audiences: &slashed,
        tenant_id: TENANT,
        issuer: &issuer,
        now: NOW,
        skew_secs: SKEW,
    };
    validate(&signed(&good_claims()), &keys, &expect).unwrap();

    // Only ONE slash is trimmed.
    let result = check(
        &signed(&with(good_claims(), "aud", json!(format!("{VAULT}//")))),
        &keys,
        NOW,
    );
    assert_eq!(result.unwrap_err().code(), "AKV10022");
}

#[test]
fn hostile_tokens_fail_the_right_check() {
    let k = shared();
    let set = key_set(&[&k.current]);
    let good = signed(&good_claims());
    let [h, _, s] = <[&str; 3]>::try_from(good.split('.').collect::<Vec<_>>()).unwrap();

    let none_header = json!({"typ": "JWT", "alg": "none"});
    let hs_header = json!({"typ": "JWT", "alg": "HS256", "kid": k.current.kid()});
    let spki = k.current.public_key_der();
    let other_tenant_iss = format!("{AUTHORITY}/{OTHER_TENANT}/");
    let huge_header = json!({"alg": "RS256", "kid": k.current.kid(), "pad": "x".repeat(9000)});
    let many_claims = with(good_claims(), "pad", json!("y".repeat(17_000)));

    let cases: Vec<(&str, String, TokenError)> = vec![
        (
            "alg none, unsigned",
            format!("{}.{}.", b64(&none_header), b64(&good_claims())),
            TokenError::UnsupportedAlgorithm("none".into()),
        ),
        (
            "alg none, with a real signature attached",
            format!("{}.{}.{s}", b64(&none_header), b64(&good_claims())),
            TokenError::UnsupportedAlgorithm("none".into()),
        ),
        (
            "HS256 keyed with the public key DER",
            sign_with(
                &hs_header,
                &good_claims(),
                &EncodingKey::from_secret(spki),
                Algorithm::HS256,
            ),
            TokenError::UnsupportedAlgorithm("HS256".into()),
        ),
        (
            "HS256 keyed with the public key PEM",
            sign_with(
                &hs_header,
                &good_claims(),
                &EncodingKey::from_secret(pem(spki).as_bytes()),
                Algorithm::HS256,
            ),
            TokenError::UnsupportedAlgorithm("HS256".into()),
        ),
        (
            "RS512 with the right key",
            sign_with(
                &json!({"typ": "JWT", "alg": "RS512", "kid": k.current.kid()}),
                &good_claims(),
                k.current.encoding_key(),
                Algorithm::RS512,
            ),
            TokenError::UnsupportedAlgorithm("RS512".into()),
        ),
        (
            "alg of the wrong JSON type",
            format!("{}.{}.{s}", b64(&json!({"alg": 256})), b64(&good_claims())),
            TokenError::UnsupportedAlgorithm("256".into()),
        ),
        (
            "signed by a key the vault does not trust",
            sign_with(
                &rs256_header(&k.stranger),
                &good_claims(),
                k.stranger.encoding_key(),
                Algorithm::RS256,
            ),
            TokenError::UnknownSigningKey(k.stranger.kid().to_owned()),
        ),
        (
            "no kid and no x5t",
            sign_with(
                &json!({"typ": "JWT", "alg": "RS256"}),
                &good_claims(),
                k.current.encoding_key(),
                Algorithm::RS256,
            ),
            TokenError::UnknownSigningKey("none".into()),
        ),
        (
            "tampered payload",
            format!(
                "{h}.{}.{s}",
                b64(&with(good_claims(), "oid", json!("attacker")))
            ),
            TokenError::BadSignature,
        ),
        (
            "trusted kid, signed by another key",
            sign_with(
                &rs256_header(&k.current),
                &good_claims(),
                k.stranger.encoding_key(),
                Algorithm::RS256,
            ),
            TokenError::BadSignature,
        ),
        (
            "signature stripped",
            format!("{h}.{}.", b64(&good_claims())),
            TokenError::BadSignature,
        ),
        (
            "management audience",
            signed(&with(
                good_claims(),
                "aud",
                json!("https://management.localhost:8443/"),
            )),
            TokenError::WrongAudience {
                expected: VAULT.into(),
                found: "https://management.localhost:8443/".into(),
            },
        ),
        (
            "no audience",
            signed(&without(good_claims(), "aud")),
            TokenError::WrongAudience {
                expected: VAULT.into(),
                found: "(none)".into(),
            },
        ),
        (
            "another tenant's issuer and tid",
            signed(&with(
                with(good_claims(), "iss", json!(other_tenant_iss)),
                "tid",
                json!(OTHER_TENANT),
            )),
            TokenError::UntrustedIssuer {
                expected: format!("{AUTHORITY}/{TENANT}/, {AUTHORITY}/{TENANT}/v2.0"),
                found: other_tenant_iss,
            },
        ),
        (
            "real Azure issuer",
            signed(&with(
                good_claims(),
                "iss",
                json!(format!("https://sts.windows.net/{TENANT}/")),
            )),
            TokenError::UntrustedIssuer {
                expected: format!("{AUTHORITY}/{TENANT}/, {AUTHORITY}/{TENANT}/v2.0"),
                found: format!("https://sts.windows.net/{TENANT}/"),
            },
        ),
        (
            "right issuer, wrong tid",
            signed(&with(good_claims(), "tid", json!(OTHER_TENANT))),
            TokenError::WrongTenant {
                expected: TENANT.into(),
                found: OTHER_TENANT.into(),
            },
        ),
        (
            "expired beyond skew",
            signed(&with(good_claims(), "exp", json!(NOW - SKEW))),
            TokenError::Expired {
                exp: NOW - SKEW,
                now: NOW,
            },
        ),
        (
            "nbf beyond skew",
            signed(&with(good_claims(), "nbf", json!(NOW + SKEW + 1))),
            TokenError::NotYetValid {
                nbf: NOW + SKEW + 1,
                now: NOW,
            },
        ),
        (
            "no oid",
            signed(&without(good_claims(), "oid")),
            TokenError::MissingClaim("oid"),
        ),
        (
            "garbage",
            "definitely not a token".into(),
            TokenError::Malformed(
                "expected three dot-separated parts (header.payload.signature), found 1".into(),
            ),
        ),
        (
            "empty",
            String::new(),
            TokenError::Malformed(
                "expected three dot-separated parts (header.payload.signature), found 1".into(),
            ),
        ),
        (
            "two parts",
            format!("{h}.{}", b64(&good_claims())),
            TokenError::Malformed(
                "expected three dot-separated parts (header.payload.signature), found 2".into(),
            ),
        ),
        (
            "four parts",
            format!("{good}.{s}"),
            TokenError::Malformed(
                "expected three dot-separated parts (header.payload.signature), found 4".into(),
            ),
        ),
        (
            "dots only",
            "..".into(),
            TokenError::Malformed("header is not valid JSON".into()),
        ),
        (
            "header not base64url",
            format!("!!!.{}.{s}", b64(&good_claims())),
            TokenError::Malformed("header is not valid base64url".into()),
        ),
        (
            "padded base64",
            format!("{h}=.{}.{s}", b64(&good_claims())),
            TokenError::Malformed("header is not valid base64url".into()),
        ),
        (
            "header is a JSON array",
            format!("{}.{}.{s}", b64(&json!(["RS256"])), b64(&good_claims())),
            TokenError::Malformed("header is not a JSON object".into()),
        ),
        (
            "payload is a JSON string",
            format!("{h}.{}.{s}", b64(&json!("claims"))),
            TokenError::Malformed("payload is not a JSON object".into()),
        ),
        (
            "payload not JSON",
            format!("{h}.{}.{s}", URL_SAFE_NO_PAD.encode("{\"aud\":")),
            TokenError::Malformed("payload is not valid JSON".into()),
        ),
        (
            "signature not base64url",
            format!("{h}.{}.***", b64(&good_claims())),
            TokenError::Malformed("signature is not valid base64url".into()),
        ),
        (
            "no exp",
            signed(&without(good_claims(), "exp")),
            TokenError::Malformed("claims have no \"exp\"".into()),
        ),
        (
            "exp as a string",
            signed(&with(good_claims(), "exp", json!("1548701413"))),
            TokenError::Malformed("\"exp\" is not an integer number of seconds".into()),
        ),
        (
            "exp as a float",
            signed(&with(good_claims(), "exp", json!(1.5e9))),
            TokenError::Malformed("\"exp\" is not an integer number of seconds".into()),
        ),
        (
            "nbf as a string",
            signed(&with(good_claims(), "nbf", json!("soon"))),
            TokenError::Malformed("\"nbf\" is not an integer number of seconds".into()),
        ),
        (
            "no alg",
            format!(
                "{}.{}.{s}",
                b64(&json!({"kid": k.current.kid()})),
                b64(&good_claims())
            ),
            TokenError::Malformed("header has no \"alg\"".into()),
        ),
        (
            "crit header",
            sign_with(
                &json!({"alg": "RS256", "kid": k.current.kid(), "crit": ["exp"]}),
                &good_claims(),
                k.current.encoding_key(),
                Algorithm::RS256,
            ),
            TokenError::Malformed("header has a \"crit\" parameter, which is not supported".into()),
        ),
        (
            "huge header",
            sign_with(
                &huge_header,
                &good_claims(),
                k.current.encoding_key(),
                Algorithm::RS256,
            ),
            TokenError::Malformed(format!(
                "header is {} bytes, more than the 8192-byte (8 KiB) limit",
                b64(&huge_header).len()
            )),
        ),
        (
            "huge token",
            signed(&many_claims),
            TokenError::Malformed(format!(
                "token is {} bytes, more than the 16384-byte (16 KiB) limit",
                signed(&many_claims).len()
            )),
        ),
        (
            "the seed's real Azure token",
            SEED_TOKEN.into(),
            TokenError::UnknownSigningKey("nbCwW11w3XkB-xUaXwKRSLjMHGQ".into()),
        ),
    ];

    let mut codes = BTreeSet::new();
    for (name, token, expected) in &cases {
        let err = check(token, &set, NOW).expect_err(name);
        assert_eq!(&err, expected, "{name}");
        let message = err.to_string();
        for part in token.split('.').filter(|p| p.len() > 16) {
            assert!(
                !message.contains(part),
                "{name}: message quotes the token: {message}"
            );
        }
        codes.insert(err.code());
    }
    // Header-parsing failures are TokenErrors too.
    for (header, expected) in [
        (None, TokenError::Missing),
        (Some("Basic dXNlcjpwYXNz"), TokenError::NotBearer),
    ] {
        let err = bearer_token(header).unwrap_err();
        assert_eq!(err, expected);
        codes.insert(err.code());
    }
    let all_codes: BTreeSet<&str> = [
        TokenError::Missing,
        TokenError::NotBearer,
        TokenError::Malformed(String::new()),
        TokenError::UnsupportedAlgorithm(String::new()),
        TokenError::UnknownSigningKey(String::new()),
        TokenError::BadSignature,
        TokenError::WrongAudience {
            expected: String::new(),
            found: String::new(),
        },
        TokenError::UntrustedIssuer {
            expected: String::new(),
            found: String::new(),
        },
        TokenError::WrongTenant {
            expected: String::new(),
            found: String::new(),
        },
        TokenError::Expired { exp: 0, now: 0 },
        TokenError::NotYetValid { nbf: 0, now: 0 },
        TokenError::MissingClaim("oid"),
    ]
    .iter()
    .map(TokenError::code)
    .collect();
    assert_eq!(all_codes.len(), 12, "codes must be distinct");
    assert_eq!(codes, all_codes, "every TokenError variant is exercised");
}

#[test]
fn quoted_values_are_clipped_and_cleaned() {
    let keys = key_set(&[&shared().current]);
    let nasty = format!("evil\r\nX-Injected: 1{}", "a".repeat(500));
    let err = check(
        &signed(&with(good_claims(), "aud", json!(nasty))),
        &keys,
        NOW,
    )
    .unwrap_err();
    let TokenError::WrongAudience { found, .. } = &err else {
        panic!("expected WrongAudience, got {err:?}");
    };
    assert!(!found.contains('\n') && !found.contains('\r'));
    assert!(found.starts_with("evil??X-Injected: 1"));
    assert_eq!(found.chars().count(), 201);
    assert!(found.ends_with('…'));
}

#[test]
fn error_messages_follow_azure_wording() {
    let messages = [
        (
            TokenError::Missing,
            "AKV10000: Request is missing a Bearer or PoP token.",
        ),
        (
            TokenError::WrongAudience {
                expected: VAULT.into(),
                found: "https://x/".into(),
            },
            "AKV10022: Invalid audience. Expected https://vault.localhost:8443, found: https://x/.",
        ),
        (
            TokenError::UntrustedIssuer {
                expected: "a, b".into(),
                found: "c".into(),
            },
            "AKV10032: Invalid issuer. Expected one of a, b, found c.",
        ),
        (
            TokenError::UnknownSigningKey("k".into()),
            "AKV10046: Unable to resolve the key used for signature validation. No signing key with kid \"k\" is trusted.",
        ),
    ];
    for (err, text) in messages {
        assert_eq!(err.to_string(), text);
    }
}

#[test]
fn bearer_token_parsing() {
    assert_eq!(bearer_token(None), Err(TokenError::Missing));
    assert_eq!(bearer_token(Some("")), Err(TokenError::Missing));
    assert_eq!(bearer_token(Some("   ")), Err(TokenError::Missing));
    assert_eq!(bearer_token(Some("Bearer")), Err(TokenError::Missing));
    assert_eq!(bearer_token(Some("Bearer    ")), Err(TokenError::Missing));
    assert_eq!(bearer_token(Some("Bearer abc.def.ghi")), Ok("abc.def.ghi"));
    assert_eq!(bearer_token(Some("bearer abc")), Ok("abc"));
    assert_eq!(bearer_token(Some("BEARER \t abc  ")), Ok("abc"));
    assert_eq!(bearer_token(Some("  Bearer abc")), Ok("abc"));
    assert_eq!(
        bearer_token(Some("Basic dXNlcjpwYXNz")),
        Err(TokenError::NotBearer)
    );
    assert_eq!(bearer_token(Some("PoP abc")), Err(TokenError::NotBearer));
    assert_eq!(bearer_token(Some("Bearerabc")), Err(TokenError::NotBearer));
    assert_eq!(
        bearer_token(Some("eyJ0eXAi.eyJhdWQi.sig")),
        Err(TokenError::NotBearer)
    );
}

#[test]
fn decode_unverified_reads_the_seed_token() {
    let (header, claims) = decode_unverified(SEED_TOKEN).unwrap();
    assert_eq!(
        header,
        json!({
            "typ": "JWT",
            "alg": "RS256",
            "x5t": "nbCwW11w3XkB-xUaXwKRSLjMHGQ",
            "kid": "nbCwW11w3XkB-xUaXwKRSLjMHGQ",
        })
    );
    assert_eq!(claims["aud"], "https://vault.azure.net");
    assert_eq!(
        claims["iss"],
        "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"
    );
    assert_eq!(claims["exp"], 1_548_701_413);
    assert_eq!(claims["uti"], "2-grhRkeIk6BeY-Ln42mAA");

    // Our v1 token carries exactly the seed's claims, except `aio` (an opaque Azure blob).
    let keys = key_set(&[&shared().current]);
    let ours = issuer().issue(&keys, &request(TokenVersion::V1)).unwrap();
    let (our_header, our_claims) = decode_unverified(&ours.access_token).unwrap();
    let names = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(names(&our_header), names(&header));
    let mut seed_names = names(&claims);
    seed_names.remove("aio");
    assert_eq!(names(&our_claims), seed_names);
    // Same x5t/kid shape: 27 base64url characters.
    assert_eq!(
        keys.current().kid().len(),
        header["kid"].as_str().unwrap().len()
    );
}

#[test]
fn decode_unverified_rejects_non_jwts() {
    for bad in [
        "", "abc", "a.b", "a.b.c.d", "!!.e30.", "e30.W10.", "W10.e30.",
    ] {
        assert!(
            matches!(decode_unverified(bad), Err(TokenError::Malformed(_))),
            "{bad:?} should be malformed"
        );
    }
    // Unsigned and expired tokens still decode: this is for inspection, not trust.
    let token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none"})),
        b64(&json!({"exp": 1}))
    );
    let (header, claims) = decode_unverified(&token).unwrap();
    assert_eq!(header["alg"], "none");
    assert_eq!(claims["exp"], 1);
}

#[test]
fn openid_configuration_v2_and_v1() {
    let issuer = Issuer::new("https://login.localhost:8443/");
    assert_eq!(issuer.authority(), AUTHORITY);
    let base = format!("{AUTHORITY}/{TENANT}");

    let v2 = issuer.openid_configuration(TENANT, TokenVersion::V2);
    assert_eq!(v2["issuer"], format!("{base}/v2.0"));
    assert_eq!(
        v2["authorization_endpoint"],
        format!("{base}/oauth2/v2.0/authorize")
    );
    assert_eq!(v2["token_endpoint"], format!("{base}/oauth2/v2.0/token"));
    assert_eq!(
        v2["device_authorization_endpoint"],
        format!("{base}/oauth2/v2.0/devicecode")
    );
    assert_eq!(v2["code_challenge_methods_supported"], json!(["S256"]));
    for g in [
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",
    ] {
        assert!(
            v2["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(g)),
            "{g}"
        );
    }
    assert_eq!(v2["jwks_uri"], format!("{base}/discovery/v2.0/keys"));
    assert_eq!(
        v2["id_token_signing_alg_values_supported"],
        json!(["RS256"])
    );
    assert_eq!(
        v2["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic"
        ])
    );
    assert!(v2["tenant_region_scope"].is_null());
    assert_eq!(v2["cloud_instance_name"], "localhost:8443");
    assert!(v2["response_types_supported"].is_array());
    assert!(v2["subject_types_supported"].is_array());
    assert!(
        v2["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials"))
    );
    assert!(
        v2["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("azp"))
    );
    // MSAL JS: issuer's scheme://host:port must equal the authority's.
    assert!(
        v2["issuer"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{AUTHORITY}/"))
    );

    let v1 = issuer.openid_configuration(TENANT, TokenVersion::V1);
    assert_eq!(v1["issuer"], format!("{base}/"));
    assert_eq!(
        v1["authorization_endpoint"],
        format!("{base}/oauth2/authorize")
    );
    assert_eq!(v1["token_endpoint"], format!("{base}/oauth2/token"));
    assert_eq!(
        v1["device_authorization_endpoint"],
        format!("{base}/oauth2/devicecode")
    );
    assert_eq!(v1["jwks_uri"], format!("{base}/discovery/keys"));
    assert!(
        v1["claims_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("appid"))
    );

    assert_eq!(
        issuer.issuer_for(TENANT, TokenVersion::V1),
        format!("{base}/")
    );
    assert_eq!(
        issuer.issuer_for(TENANT, TokenVersion::V2),
        format!("{base}/v2.0")
    );
}

/// Signs raw header and payload text, so a test can send JSON that `serde_json` would never
/// write (a member named twice).
fn sign_raw(header: &str, claims: &str, key: &EncodingKey) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, Algorithm::RS256).unwrap();
    format!("{message}.{signature}")
}

#[test]
fn duplicate_members_and_disagreeing_key_ids_are_refused() {
    let k = shared();
    let set = key_set(&[&k.current]);
    let kid = k.current.kid();
    let claims = serde_json::to_string(&good_claims()).unwrap();
    let good_header = format!(r#"{{"alg":"RS256","kid":"{kid}","x5t":"{kid}"}}"#);
    assert!(
        check(
            &sign_raw(&good_header, &claims, k.current.encoding_key()),
            &set,
            NOW
        )
        .is_ok(),
        "the control token passes"
    );
    let dup_alg = format!(r#"{{"alg":"none","alg":"RS256","kid":"{kid}"}}"#);
    let dup_oid = claims.replacen('{', r#"{"oid":"attacker","#, 1);
    let nested_dup = claims.replacen('{', r#"{"x":{"a":1,"a":2},"#, 1);
    let junk_kid = format!(r#"{{"alg":"RS256","kid":"junk","x5t":"{kid}"}}"#);
    let cases = [
        (
            "alg twice",
            sign_raw(&dup_alg, &claims, k.current.encoding_key()),
            "MalformedToken",
        ),
        (
            "oid twice",
            sign_raw(&good_header, &dup_oid, k.current.encoding_key()),
            "MalformedToken",
        ),
        (
            "a nested member twice",
            sign_raw(&good_header, &nested_dup, k.current.encoding_key()),
            "MalformedToken",
        ),
        (
            "junk kid, right x5t",
            sign_raw(&junk_kid, &claims, k.current.encoding_key()),
            "AKV10046",
        ),
    ];
    for (what, token, code) in cases {
        let err = check(&token, &set, NOW).unwrap_err();
        assert_eq!(err.code(), code, "{what}: {err}");
    }
    let err = check(
        &sign_raw(&dup_alg, &claims, k.current.encoding_key()),
        &set,
        NOW,
    )
    .unwrap_err();
    assert!(err.to_string().contains("more than once"), "{err}");
}
