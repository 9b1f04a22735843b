//! Test support shared by the use-case tests: a Coffer on an in-memory SQLite store with a clock
//! the tests move, bootstrapped, and a session of the bootstrap admin in the default vault.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use coffer_crypto::RootKey;
use coffer_domain::Clock;
use coffer_store_sqlite::SqliteStore;

use crate::{Coffer, DEFAULT_VAULT, Settings, VaultSession};

pub(crate) struct TestClock(AtomicI64);

impl Clock for TestClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

impl TestClock {
    pub(crate) fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

pub(crate) async fn setup() -> (Coffer, Arc<TestClock>, VaultSession) {
    let clock = Arc::new(TestClock(AtomicI64::new(1_800_000_000)));
    let settings = Settings {
        domain: "localhost".into(),
        port: 8443,
        token_lifetime_secs: 3600,
        clock_skew_secs: 300,
    };
    let store = Arc::new(SqliteStore::open_in_memory().unwrap());
    let coffer = Coffer::open(
        store,
        RootKey::generate().unwrap(),
        Arc::clone(&clock) as Arc<dyn Clock>,
        settings,
    )
    .await
    .unwrap();
    let boot = coffer.bootstrap().await.unwrap();
    let mut s = coffer.system_session(DEFAULT_VAULT).await.unwrap().unwrap();
    // The bootstrap application's access policy grants every permission.
    s.principal.object_id = boot.object_id;
    s.principal.app_id = Some(boot.client_id);
    (coffer, clock, s)
}
