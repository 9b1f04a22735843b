//! The store conformance suite against SQLite (in memory and on disk), and the SQLite-specific
//! guarantees: reopening, schema versioning and file permissions.

// Tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use coffer_store::{DocMode, DocWrite, ObjectKind, ObjectRef, Store, StoreError, Version};
use coffer_store_sqlite::{SCHEMA_VERSION, SchemaTooNew, SqliteStore};

fn secret(name: &str) -> ObjectRef {
    ObjectRef {
        vault: "v".into(),
        kind: ObjectKind::Secret,
        name: name.into(),
    }
}

fn version(id: &str) -> Version {
    Version {
        version: id.into(),
        created: 10,
        updated: 11,
        meta: b"meta\0".to_vec(),
        sealed: vec![0, 1, 2, 0],
    }
}

fn migrations(path: &Path) -> Vec<(i64, i64)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT version, applied_at FROM schema_migrations ORDER BY version")
        .unwrap();
    stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_in_memory() {
    let store = SqliteStore::open_in_memory().unwrap();
    coffer_store::conformance::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("coffer.db")).unwrap();
    coffer_store::conformance::run_all(&store).await;
}

/// The read cache `coffer serve` puts in front of this store must keep every guarantee.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conformance_file_behind_the_read_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("coffer.db")).unwrap();
    let cached = coffer_store::cache::ReadCache::new(
        std::sync::Arc::new(store),
        coffer_store::cache::DEFAULT_BUDGET_BYTES,
    );
    coffer_store::conformance::run_all(&cached).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopen_keeps_data_and_does_not_reapply_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coffer.db");
    {
        let store = SqliteStore::open(&path).unwrap();
        store
            .append_version(&secret("s"), version("a"))
            .await
            .unwrap();
        store
            .append_version(&secret("s"), version("b"))
            .await
            .unwrap();
        store
            .write_docs(vec![DocWrite::Put {
                kind: "tenant".into(),
                id: "t1".into(),
                body: b"{}".to_vec(),
                mode: DocMode::Create,
            }])
            .await
            .unwrap();
    }
    let first = migrations(&path);
    assert_eq!(
        first.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        (1..=SCHEMA_VERSION).collect::<Vec<_>>(),
        "every migration is recorded once"
    );
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal", "the database is in WAL mode");
    }

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.get_version(&secret("s"), None).await.unwrap(),
        Some(version("b"))
    );
    assert_eq!(
        store.get_version(&secret("s"), Some("a")).await.unwrap(),
        Some(version("a"))
    );
    let doc = store.get_doc("tenant", "t1").await.unwrap().unwrap();
    assert_eq!((doc.revision, doc.body), (1, b"{}".to_vec()));
    // The sequence counter survived too: a new append is the latest.
    store
        .append_version(&secret("s"), version("0"))
        .await
        .unwrap();
    assert_eq!(
        store.get_version(&secret("s"), None).await.unwrap(),
        Some(version("0"))
    );
    drop(store);

    assert_eq!(
        migrations(&path),
        first,
        "reopening applies no migration again"
    );
}

#[tokio::test]
async fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coffer.db");
    drop(SqliteStore::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)",
            [SCHEMA_VERSION + 1],
        )
        .unwrap();
    }

    let err = SqliteStore::open(&path).unwrap_err();
    let StoreError::Backend(source) = &err else {
        panic!("expected a Backend error, got {err:?}");
    };
    assert_eq!(
        source.downcast_ref::<SchemaTooNew>(),
        Some(&SchemaTooNew {
            found: SCHEMA_VERSION + 1,
            supported: SCHEMA_VERSION,
        })
    );
    let text = err.to_string();
    assert!(
        text.contains("newer than this build"),
        "clear message: {text}"
    );
    assert_eq!(
        migrations(&path).len() as i64,
        SCHEMA_VERSION + 1,
        "the refused database is left alone"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();

    let path = dir.path().join("coffer.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .append_version(&secret("s"), version("a"))
        .await
        .unwrap();
    assert_eq!(mode(&path), 0o600, "database file");
    for suffix in ["-wal", "-shm"] {
        let companion = dir.path().join(format!("coffer.db{suffix}"));
        assert!(
            companion.exists(),
            "{suffix} exists while the store is open"
        );
        assert_eq!(mode(&companion), 0o600, "{suffix} file");
    }
    drop(store);

    // A database left world-readable by someone else is narrowed on open.
    let lax = dir.path().join("lax.db");
    drop(SqliteStore::open(&lax).unwrap());
    std::fs::set_permissions(&lax, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqliteStore::open(&lax).unwrap();
    store
        .append_version(&secret("s"), version("a"))
        .await
        .unwrap();
    assert_eq!(
        mode(&lax),
        0o600,
        "an existing database is narrowed to 0600"
    );
    for suffix in ["-wal", "-shm"] {
        let companion = dir.path().join(format!("lax.db{suffix}"));
        assert_eq!(mode(&companion), 0o600, "{suffix} of a narrowed database");
    }
}

#[tokio::test]
async fn restore_with_repeated_version_ids_changes_nothing() {
    let store = SqliteStore::open_in_memory().unwrap();
    let res = store
        .restore(&secret("r"), vec![version("a"), version("b"), version("a")])
        .await;
    assert!(matches!(res, Err(StoreError::AlreadyExists)), "got {res:?}");
    assert_eq!(store.get_version(&secret("r"), None).await.unwrap(), None);
    let res = store.restore(&secret("r"), vec![]).await;
    assert!(
        matches!(res, Err(StoreError::Backend(_))),
        "an empty restore is refused: {res:?}"
    );
    assert_eq!(store.get_version(&secret("r"), None).await.unwrap(), None);
}
