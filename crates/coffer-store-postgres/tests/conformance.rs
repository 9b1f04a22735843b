//! The store and audit conformance suites against PostgreSQL, and what sharing one database
//! between nodes adds: concurrent appends from two pools (two nodes) to one object, nodes
//! migrating at the same time, and a schema newer than this build.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use coffer_store::{AuditStore, ObjectKind, ObjectRef, Store, StoreError, Version};
use coffer_store_postgres::{PgAuditStore, PgStore, SCHEMA_VERSION};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_conformance() {
    let Some(url) = support::server_url("store_conformance") else {
        return;
    };
    let store = PgStore::open(&support::fresh_db(&url).await).await.unwrap();
    coffer_store::conformance::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_conformance() {
    let Some(url) = support::server_url("audit_conformance") else {
        return;
    };
    let options = support::fresh_db(&url).await;
    let store = PgAuditStore::open(&options).await.unwrap();
    coffer_store::audit_conformance::run_all(&store).await;
    let options = support::fresh_db(&url).await;
    coffer_store::audit_conformance::durable_across_reopen(|| {
        let options = options.clone();
        async move { Box::new(PgAuditStore::open(&options).await.unwrap()) as Box<dyn AuditStore> }
    })
    .await;
}

fn secret(name: &str) -> ObjectRef {
    ObjectRef {
        vault: "shared".into(),
        kind: ObjectKind::Secret,
        name: name.into(),
    }
}

/// Two nodes (two stores, each its own pool) append to one secret at once: every acknowledged
/// append is a version, none is lost or doubled, and each has its own place in the order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_two_nodes() {
    let Some(url) = support::server_url("concurrent_appends_from_two_nodes") else {
        return;
    };
    let options = support::fresh_db(&url).await;
    let a: Arc<dyn Store> = Arc::new(PgStore::open(&options).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(PgStore::open(&options).await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..80 {
        let node = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        tasks.push(tokio::spawn(async move {
            let v = Version {
                version: format!("{i:032x}"),
                created: i,
                updated: i,
                meta: vec![],
                sealed: vec![u8::try_from(i).unwrap()],
            };
            node.append_version(&secret("hot"), v).await
        }));
    }
    let mut acknowledged = 0;
    for t in tasks {
        if t.await.unwrap().is_ok() {
            acknowledged += 1;
        }
    }
    assert_eq!(acknowledged, 80, "no append should fail");
    let versions = a.list_versions(&secret("hot"), None, 1000).await.unwrap();
    assert_eq!(versions.len(), 80);
    // The latest is one of the writes, and both nodes agree on it.
    let latest_a = a.get_version(&secret("hot"), None).await.unwrap().unwrap();
    let latest_b = b.get_version(&secret("hot"), None).await.unwrap().unwrap();
    assert_eq!(latest_a, latest_b);
    // A version id taken on one node is refused on the other.
    let dup = versions[0].clone();
    assert!(matches!(
        b.append_version(&secret("hot"), dup).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(
        a.list_versions(&secret("hot"), None, 1000)
            .await
            .unwrap()
            .len(),
        80
    );
}

/// Nodes starting together on an empty database: one migrates, the others wait for it and find
/// the schema current; each migration is recorded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_migrating_at_once() {
    let Some(url) = support::server_url("nodes_migrating_at_once") else {
        return;
    };
    let options = support::fresh_db(&url).await;
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let options = options.clone();
            tokio::spawn(async move { PgStore::open(&options).await.map(|_| ()) })
        })
        .collect();
    for o in opens {
        o.await.unwrap().unwrap();
    }
    let (client, conn) = tokio_postgres::connect(&options.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let rows = client
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let versions: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION).collect::<Vec<_>>());

    // A schema from a newer Coffer is refused, naming both versions.
    client
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)",
            &[&(SCHEMA_VERSION + 7)],
        )
        .await
        .unwrap();
    let err = PgStore::open(&options).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&(SCHEMA_VERSION + 7).to_string()), "{text}");
}

/// Paging a vault's listing while another node inserts into it: no name twice, none of those
/// present before the listing began missing, and pages in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_paging_is_stable_under_concurrent_inserts() {
    let Some(url) = support::server_url("list_paging_is_stable_under_concurrent_inserts") else {
        return;
    };
    let options = support::fresh_db(&url).await;
    let reader = PgStore::open(&options).await.unwrap();
    let writer = Arc::new(PgStore::open(&options).await.unwrap());
    let v = |i: u32| Version {
        version: format!("{i:032x}"),
        created: 1,
        updated: 1,
        meta: vec![],
        sealed: vec![1],
    };
    let before: Vec<String> = (0..200).map(|i| format!("n{:04}", i * 2)).collect();
    for name in &before {
        reader.append_version(&secret(name), v(0)).await.unwrap();
    }
    // Odd names land between the pages being read.
    let w = Arc::clone(&writer);
    let inserting = tokio::spawn(async move {
        for i in 0..200u32 {
            w.append_version(&secret(&format!("n{:04}", i * 2 + 1)), v(i))
                .await
                .unwrap();
        }
    });
    let mut seen: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = reader
            .list_objects("shared", ObjectKind::Secret, false, after.as_deref(), 7)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        seen.extend(page.into_iter().map(|s| s.name));
        tokio::task::yield_now().await;
    }
    inserting.await.unwrap();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "ordered, no repeats");
    for name in &before {
        assert!(
            seen.contains(name),
            "{name} was there before the listing and is missing"
        );
    }
}
