//! The audit conformance suite against SQLite (in memory and on disk), and what the audit database
//! adds: a file of its own beside the main one, reopening, schema versioning and file permissions.

// Tests: failing loudly is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use coffer_store::{AuditQuery, AuditRecord, AuditStore, ObjectKind, ObjectRef, Store, StoreError};
use coffer_store_sqlite::{
    AUDIT_DB_FILE, AUDIT_SCHEMA_VERSION, SchemaTooNew, SqliteAuditStore, SqliteStore,
};

fn record(request_id: &str) -> AuditRecord {
    AuditRecord {
        vault: "v".into(),
        time_ms: 1_700_000_000_000,
        status: 200,
        operation: "SecretGet".into(),
        caller_oid: Some("oid".into()),
        request_id: request_id.into(),
        body: b"{}".to_vec(),
    }
}

fn everything() -> AuditQuery {
    AuditQuery {
        limit: 1000,
        ..AuditQuery::default()
    }
}

fn tables(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap();
    stmt.query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<Vec<_>>>()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_conformance_in_memory() {
    let store = SqliteAuditStore::open_in_memory().unwrap();
    coffer_store::audit_conformance::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_conformance_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteAuditStore::open(&dir.path().join(AUDIT_DB_FILE)).unwrap();
    coffer_store::audit_conformance::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_conformance_durable_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_DB_FILE);
    coffer_store::audit_conformance::durable_across_reopen(|| {
        let path = path.clone();
        async move { Box::new(SqliteAuditStore::open(&path).unwrap()) as Box<dyn AuditStore> }
    })
    .await;

    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal", "the audit database is in WAL mode");
    let versions: Vec<i64> = conn
        .prepare("SELECT version FROM schema_migrations ORDER BY version")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    assert_eq!(
        versions,
        (1..=AUDIT_SCHEMA_VERSION).collect::<Vec<_>>(),
        "each audit migration is recorded once, however often the file is opened"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lives_in_its_own_file_and_does_not_wait_for_vault_writes() {
    let dir = tempfile::tempdir().unwrap();
    let main_path = dir.path().join("coffer.db");
    let audit_path = dir.path().join(AUDIT_DB_FILE);
    let main = SqliteStore::open(&main_path).unwrap();
    let audit = SqliteAuditStore::open(&audit_path).unwrap();

    assert!(
        tables(&main_path).iter().all(|t| !t.starts_with("audit")),
        "no audit table in the main database: {:?}",
        tables(&main_path)
    );
    assert!(
        tables(&audit_path).contains(&"audit".to_owned()),
        "the audit table is in audit.db: {:?}",
        tables(&audit_path)
    );
    assert!(
        !tables(&audit_path).contains(&"versions".to_owned()),
        "and no vault table there"
    );

    // Another connection holds the main database's write lock, as a long vault write would.
    let blocker = rusqlite::Connection::open(&main_path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let started = Instant::now();
    audit
        .append(vec![record("while-locked")].into())
        .await
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an audit append does not wait for the main database's lock"
    );
    let got = audit
        .query(&AuditQuery {
            request_id: Some("while-locked".into()),
            ..everything()
        })
        .await
        .unwrap();
    assert_eq!(got.len(), 1);

    blocker.execute_batch("ROLLBACK").unwrap();
    // The main store still works alongside.
    let secret = ObjectRef {
        vault: "v".into(),
        kind: ObjectKind::Secret,
        name: "s".into(),
    };
    assert_eq!(main.get_version(&secret, None).await.unwrap(), None);
}

#[tokio::test]
async fn newer_audit_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_DB_FILE);
    drop(SqliteAuditStore::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, 0)",
            [AUDIT_SCHEMA_VERSION + 1],
        )
        .unwrap();
    }
    let err = SqliteAuditStore::open(&path).unwrap_err();
    let StoreError::Backend(source) = &err else {
        panic!("expected a Backend error, got {err:?}");
    };
    assert_eq!(
        source.downcast_ref::<SchemaTooNew>(),
        Some(&SchemaTooNew {
            found: AUDIT_SCHEMA_VERSION + 1,
            supported: AUDIT_SCHEMA_VERSION,
        })
    );
}

#[cfg(unix)]
#[tokio::test]
async fn audit_files_are_private() {
    use std::os::unix::fs::PermissionsExt;

    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_DB_FILE);
    let store = SqliteAuditStore::open(&path).unwrap();
    store.append(vec![record("r")].into()).await.unwrap();
    assert_eq!(mode(&path), 0o600, "audit.db");
    for suffix in ["-wal", "-shm"] {
        let companion = dir.path().join(format!("{AUDIT_DB_FILE}{suffix}"));
        assert!(
            companion.exists(),
            "{suffix} exists while the store is open"
        );
        assert_eq!(mode(&companion), 0o600, "{suffix} file");
    }
    drop(store);

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = SqliteAuditStore::open(&path).unwrap();
    assert_eq!(mode(&path), 0o600, "a widened audit.db is narrowed on open");
    assert_eq!(store.query(&everything()).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_every_acknowledged_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteAuditStore::open(&dir.path().join(AUDIT_DB_FILE)).unwrap();
    // Reads go to read-only connections; each must see what was acknowledged before it began.
    for i in 0..20 {
        store
            .append(vec![record(&format!("r{i}"))].into())
            .await
            .unwrap();
        let got = store.query(&everything()).await.unwrap();
        assert_eq!(got.len(), i + 1, "read {i} sees every acknowledged append");
    }
}
