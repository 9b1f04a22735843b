//! Test support shared by the providers' unit tests: an instance over an in-memory store and a
//! caller of a given tenant.

use std::sync::Arc;

use coffer_crypto::RootKey;
use coffer_domain::{Principal, SystemClock};
use coffer_store_sqlite::SqliteStore;

use crate::{Coffer, Settings};

pub(crate) async fn app(store: Arc<SqliteStore>) -> Coffer {
    let settings = Settings {
        domain: "localhost".into(),
        port: 8443,
        token_lifetime_secs: 3600,
        clock_skew_secs: 300,
    };
    Coffer::open(
        store,
        RootKey::generate().unwrap(),
        Arc::new(SystemClock),
        settings,
    )
    .await
    .unwrap()
}

pub(crate) fn caller(tenant: &str) -> Principal {
    Principal {
        tenant_id: tenant.to_owned(),
        object_id: "oid".to_owned(),
        app_id: Some("appid".to_owned()),
        issuer: String::new(),
    }
}
