//! A fresh database per test on the PostgreSQL the test command started
//! (`COFFER_TEST_POSTGRES_URL`, a `postgres://user:password@host:port/db` URL). Without it the
//! tests say they were skipped, unless `COFFER_REQUIRE_POSTGRES=1` (the README's test command
//! sets it), which makes a missing server a failure.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU32, Ordering};

use coffer_store_postgres::PgOptions;

/// The server's URL, or `None` (after saying so) when these tests are to be skipped.
pub(crate) fn server_url(test: &str) -> Option<String> {
    match std::env::var("COFFER_TEST_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("COFFER_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
            panic!("COFFER_REQUIRE_POSTGRES=1 but COFFER_TEST_POSTGRES_URL is not set")
        }
        _ => {
            eprintln!(
                "{test}: skipped: no PostgreSQL (run `eval \"$(bash scripts/postgres.sh start)\"` first)"
            );
            None
        }
    }
}

/// `url` with its database name replaced.
pub(crate) fn with_db(url: &str, db: &str) -> String {
    let (base, rest) = url.rsplit_once('/').expect("a postgres://.../db URL");
    match rest.split_once('?') {
        Some((_, query)) => format!("{base}/{db}?{query}"),
        None => format!("{base}/{db}"),
    }
}

/// Creates an empty database and returns options for it.
pub(crate) async fn fresh_db(url: &str) -> PgOptions {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "coffer_t_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connecting to the test PostgreSQL");
    let task = tokio::spawn(conn);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    drop(client);
    let _ = task.await;
    PgOptions::new(with_db(url, &name))
}
