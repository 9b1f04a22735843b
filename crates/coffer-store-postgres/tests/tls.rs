//! TLS to the database: with `sslmode=require` the connection is encrypted and the server's
//! certificate verified against the given CA (chain and host name); without that CA the same
//! server is refused rather than trusted.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use coffer_store::{ObjectKind, ObjectRef, Store, StoreError};
use coffer_store_postgres::{PgOptions, PgStore};

fn with_sslmode(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}sslmode=require")
}

#[tokio::test]
async fn require_verifies_the_server_certificate() {
    let Some(url) = support::server_url("require_verifies_the_server_certificate") else {
        return;
    };
    let Ok(ca) = std::env::var("COFFER_TEST_POSTGRES_CA") else {
        panic!("COFFER_TEST_POSTGRES_CA (printed by scripts/postgres.sh) is needed with the URL");
    };
    let plain = support::fresh_db(&url).await;
    let tls_url = with_sslmode(&plain.url);

    let mut trusted = PgOptions::new(&tls_url);
    trusted.ca_file = Some(ca.into());
    let store = PgStore::open(&trusted).await.unwrap();
    let missing = ObjectRef {
        vault: "v".into(),
        kind: ObjectKind::Secret,
        name: "s".into(),
    };
    assert!(store.get_version(&missing, None).await.unwrap().is_none());
    // The session really is encrypted.
    let (client, conn) = tokio_postgres::connect(&plain.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let encrypted: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM pg_stat_ssl s JOIN pg_stat_activity a ON a.pid = s.pid
             WHERE s.ssl AND a.application_name = 'coffer'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(encrypted >= 1, "no encrypted coffer session");

    // The same server without its CA: not trusted, so unavailable, never silently plain.
    let untrusted = PgOptions::new(&tls_url);
    match PgStore::open(&untrusted).await {
        Err(StoreError::Unavailable(e)) => {
            let text = format!("{e:?}");
            assert!(text.to_lowercase().contains("certificate"), "{text}");
        }
        other => panic!("expected the certificate to be refused, got {other:?}"),
    }
}
