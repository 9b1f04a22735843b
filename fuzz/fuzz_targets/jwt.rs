//! The JWT parser and validator: any text as a bearer header is refused with a `TokenError`
//! (or, for a real token, accepted), never a panic.
#![no_main]

use std::sync::OnceLock;

use coffer_identity::{Expectation, Issuer, KeySet, SigningKey};
use libfuzzer_sys::fuzz_target;

struct Fixture {
    keys: KeySet,
    issuer: Issuer,
    audiences: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = SigningKey::generate().unwrap_or_else(|e| panic!("{e}"));
        Fixture {
            keys: KeySet::new(vec![key]).unwrap_or_else(|e| panic!("{e}")),
            issuer: Issuer::new("https://login.localhost:8443"),
            audiences: vec!["https://vault.localhost:8443".to_owned()],
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let f = fixture();
    let _ = coffer_identity::decode_unverified(&text);
    let Ok(token) = coffer_identity::bearer_token(Some(&text)) else {
        return;
    };
    let expect = Expectation {
        audiences: &f.audiences,
        tenant_id: "00000000-0000-0000-0000-000000000001",
        issuer: &f.issuer,
        now: 1_800_000_000,
        skew_secs: 300,
    };
    let _ = coffer_identity::validate(token, &f.keys, &expect);
});
