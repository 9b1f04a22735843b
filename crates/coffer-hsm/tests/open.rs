//! Opening a token fails with a clear [`HsmError`] for each configuration mistake. A binary of
//! its own: PKCS#11 login state is per process, and no other test may have logged in when the
//! wrong PIN is tried.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use coffer_hsm::{HsmError, Pkcs11Config, Pkcs11Keys};
use zeroize::Zeroizing;

fn open_err(cfg: Pkcs11Config) -> HsmError {
    match Pkcs11Keys::open(cfg) {
        Err(e) => e,
        Ok(keys) => panic!("expected a failure, opened {keys:?}"),
    }
}

#[test]
fn configuration_mistakes_fail_with_their_own_message() {
    let Some(cfg) = common::config("configuration_mistakes_fail_with_their_own_message") else {
        return;
    };

    let err = open_err(Pkcs11Config {
        pin: Zeroizing::new("not-the-pin-0000".into()),
        ..cfg.clone()
    });
    assert!(matches!(err, HsmError::PinIncorrect(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the user PIN was refused by PKCS#11 token '{}'",
            cfg.token_label
        )
    );
    assert!(!err.to_string().contains("not-the-pin"));

    let err = open_err(Pkcs11Config {
        token_label: "no-such-token".into(),
        ..cfg.clone()
    });
    let HsmError::TokenNotFound { present, .. } = &err else {
        panic!("expected TokenNotFound, got {err:?}");
    };
    assert!(present.contains(&cfg.token_label), "{present:?}");
    assert!(
        err.to_string()
            .starts_with("no PKCS#11 token labelled 'no-such-token' in module "),
        "{err}"
    );

    let err = open_err(Pkcs11Config {
        module: PathBuf::from("/nonexistent/libpkcs11-module.so"),
        ..cfg.clone()
    });
    assert_eq!(
        err.to_string(),
        "PKCS#11 module /nonexistent/libpkcs11-module.so does not exist"
    );

    // After all that, the right configuration still opens.
    let keys = Pkcs11Keys::open(cfg.clone()).unwrap();
    assert_eq!(keys.token_label(), cfg.token_label);
}
