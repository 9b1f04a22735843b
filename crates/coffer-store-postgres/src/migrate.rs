//! Schema migrations, applied on start by whichever node comes first: one transaction that takes
//! a transaction-scoped advisory lock before it looks, so nodes starting together queue behind
//! each other and the later ones find the schema current. A schema newer than this build is
//! refused.
//!
//! The SQL stays to what PostgreSQL-compatible distributed engines also accept (no stored
//! procedures, no `SERIAL`, no triggers); text keys are `COLLATE "C"` so order is byte order, as
//! in the embedded store.

use std::fmt;

use coffer_store::StoreError;
use deadpool_postgres::GenericClient as _;

use crate::error::{Fail, message};
use crate::pool::{Pool, transaction};

/// Migration `i` (0-based) brings the schema to version `i + 1`. Never edit a released entry:
/// append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: documents, objects (with their latest version's sequence), versions, the audit log and
    // its sequence counter.
    r#"
    CREATE TABLE docs (
        kind TEXT COLLATE "C" NOT NULL,
        id TEXT COLLATE "C" NOT NULL,
        revision BIGINT NOT NULL,
        body BYTEA NOT NULL,
        PRIMARY KEY (kind, id)
    );

    CREATE TABLE objects (
        vault TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL CHECK (kind IN ('certificate', 'key', 'secret')),
        name TEXT COLLATE "C" NOT NULL,
        latest_seq BIGINT NOT NULL,
        deleted_date BIGINT,
        scheduled_purge_date BIGINT,
        PRIMARY KEY (vault, kind, name),
        CHECK ((deleted_date IS NULL) = (scheduled_purge_date IS NULL))
    );
    CREATE INDEX objects_purge ON objects (scheduled_purge_date) WHERE deleted_date IS NOT NULL;

    CREATE TABLE versions (
        vault TEXT COLLATE "C" NOT NULL,
        kind TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        version TEXT COLLATE "C" NOT NULL,
        seq BIGINT NOT NULL,
        created BIGINT NOT NULL,
        updated BIGINT NOT NULL,
        meta BYTEA NOT NULL,
        sealed BYTEA NOT NULL,
        PRIMARY KEY (vault, kind, name, version),
        UNIQUE (vault, kind, name, seq),
        FOREIGN KEY (vault, kind, name) REFERENCES objects (vault, kind, name) ON DELETE CASCADE
    );

    CREATE TABLE audit (
        seq BIGINT NOT NULL PRIMARY KEY,
        vault TEXT COLLATE "C" NOT NULL,
        time_ms BIGINT NOT NULL,
        status INTEGER NOT NULL,
        operation TEXT COLLATE "C" NOT NULL,
        caller_oid TEXT COLLATE "C",
        request_id TEXT COLLATE "C" NOT NULL,
        body BYTEA NOT NULL
    );
    CREATE INDEX audit_vault_seq ON audit (vault, seq);
    CREATE INDEX audit_time ON audit (time_ms);
    CREATE INDEX audit_request ON audit (request_id);

    CREATE TABLE counters (
        name TEXT COLLATE "C" NOT NULL PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO counters (name, value) VALUES ('audit_seq', 0);
    "#,
    // 2: the soft-deleted namespace by name, so listing deleted objects reads only deleted
    // rows instead of stepping over every live one of the vault.
    r#"
    CREATE INDEX objects_deleted_by_name ON objects (vault, kind, name)
        WHERE deleted_date IS NOT NULL;
    "#,
];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Any fixed number: the advisory lock every node takes while it migrates.
const MIGRATION_LOCK: i64 = 0x636f_6666_6572; // "coffer"

/// The database was written by a newer Coffer: its schema is past what this build knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaTooNew {
    pub found: i64,
    pub supported: i64,
}

impl fmt::Display for SchemaTooNew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the PostgreSQL schema version {} is newer than this build of coffer supports ({}); \
             upgrade coffer on this node",
            self.found, self.supported
        )
    }
}

impl std::error::Error for SchemaTooNew {}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Brings the database's schema to [`SCHEMA_VERSION`].
pub(crate) async fn migrate(pool: &Pool) -> Result<(), StoreError> {
    transaction!(pool, |tx| async {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        // "already exists, skipping" is every start but the first: not worth a log line.
        tx.batch_execute("SET LOCAL client_min_messages TO WARNING")
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT NOT NULL PRIMARY KEY,
                applied_at BIGINT NOT NULL
            )",
        )
        .await?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                &[],
            )
            .await?
            .try_get(0)?;
        if current > SCHEMA_VERSION {
            return Err(Fail::Store(StoreError::Backend(Box::new(SchemaTooNew {
                found: current,
                supported: SCHEMA_VERSION,
            }))));
        }
        let applied = usize::try_from(current)
            .map_err(|_| Fail::Store(message(format!("schema_migrations holds {current}"))))?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
            tx.batch_execute(sql).await?;
            let version = i64::try_from(i + 1).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&version, &unix_now()],
            )
            .await?;
        }
        Ok(())
    })
}
