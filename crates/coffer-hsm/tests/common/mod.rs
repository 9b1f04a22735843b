//! What the SoftHSM integration tests share: the token from the environment
//! (`eval "$(bash scripts/softhsm.sh DIR)"` sets it), and a look at the token's objects through
//! a session of the test's own, independent of the provider under test.

#![allow(dead_code, unreachable_pub)]

pub mod rsa_fixture;

use std::path::PathBuf;

use coffer_crypto::keys::KeyMaterial;
use coffer_hsm::Pkcs11Config;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::object::{Attribute, ObjectHandle};
use cryptoki::session::Session;
use zeroize::Zeroizing;

const VARS: [&str; 3] = [
    "COFFER_TEST_PKCS11_MODULE",
    "COFFER_TEST_PKCS11_TOKEN",
    "COFFER_TEST_PKCS11_PIN",
];

/// The token to test against, or `None` (after a skip line) when `COFFER_SKIP_HSM_TESTS=1`.
/// Without the variables the test fails, saying how to set them: an HSM suite that passes
/// without a token would prove nothing.
pub fn config(test: &str) -> Option<Pkcs11Config> {
    if std::env::var("COFFER_SKIP_HSM_TESTS").as_deref() == Ok("1") {
        eprintln!("skipping {test}: COFFER_SKIP_HSM_TESTS=1");
        return None;
    }
    let values: Vec<Option<String>> = VARS.iter().map(|v| std::env::var(v).ok()).collect();
    let missing: Vec<&str> = VARS
        .iter()
        .zip(&values)
        .filter(|(_, value)| value.as_deref().is_none_or(str::is_empty))
        .map(|(name, _)| *name)
        .collect();
    assert!(
        missing.is_empty(),
        "{test} needs a PKCS#11 token; {} not set. Run `eval \"$(bash scripts/softhsm.sh target/softhsm)\"` \
         from the repository root first (it installs SoftHSM if needed and sets \
         COFFER_TEST_PKCS11_MODULE, COFFER_TEST_PKCS11_TOKEN, COFFER_TEST_PKCS11_PIN and \
         SOFTHSM2_CONF), or set COFFER_SKIP_HSM_TESTS=1 to skip these tests.",
        missing.join(", ")
    );
    let [module, token, pin] = <[Option<String>; 3]>::try_from(values).unwrap();
    Some(Pkcs11Config {
        module: PathBuf::from(module.unwrap()),
        token_label: token.unwrap(),
        pin: Zeroizing::new(pin.unwrap()),
    })
}

/// A session of the test's own on the configured token. Login state is per process in
/// PKCS#11, so while the provider under test is open this session can see private objects.
pub struct Inspector {
    _ctx: Pkcs11,
    pub session: Session,
}

impl Inspector {
    pub fn open(cfg: &Pkcs11Config) -> Self {
        let ctx = Pkcs11::new(&cfg.module).unwrap();
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => panic!("C_Initialize: {e}"),
        }
        let slot = ctx
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|s| ctx.get_token_info(*s).unwrap().label() == cfg.token_label)
            .expect("the configured token is present");
        let session = ctx.open_ro_session(slot).unwrap();
        Self { _ctx: ctx, session }
    }

    /// The token objects whose `CKA_ID` is the one in the descriptor.
    pub fn objects(&self, material: &KeyMaterial) -> Vec<ObjectHandle> {
        self.session
            .find_objects(&[Attribute::Token(true), Attribute::Id(id_of(material))])
            .unwrap()
    }
}

/// The `CKA_ID` a `pkcs11:v1:<hex>` descriptor names.
pub fn id_of(material: &KeyMaterial) -> Vec<u8> {
    let text = std::str::from_utf8(&material.0).unwrap();
    hex::decode(text.strip_prefix("pkcs11:v1:").unwrap()).unwrap()
}

pub fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}
