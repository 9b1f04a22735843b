//! Schema migrations: each database (the store's, the audit log's) lists its own, and one loop
//! applies the pending ones, one transaction each, and refuses a schema newer than this build.

use std::error::Error as StdError;
use std::fmt;

use coffer_store::StoreError;
use rusqlite::{Connection, TransactionBehavior, params};

use crate::error::{backend, message};

/// A database's migrations and how its errors name it.
pub(crate) struct Schema {
    /// Migration `i` (0-based) brings the schema to version `i + 1`.
    pub(crate) migrations: &'static [&'static str],
    /// The schema version this build writes and understands: the number of migrations.
    pub(crate) version: i64,
    /// How the error for a corrupt version table names it.
    pub(crate) table: &'static str,
}

/// Schema migrations, in order; migration `i` (0-based) brings the schema to version `i + 1`.
/// Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: documents, objects, versions and the version sequence counter.
    "
    CREATE TABLE docs (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        revision BIGINT NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (kind, id)
    );

    CREATE TABLE objects (
        vault TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('certificate', 'key', 'secret')),
        name TEXT NOT NULL,
        deleted_date BIGINT,
        scheduled_purge_date BIGINT,
        PRIMARY KEY (vault, kind, name),
        CHECK ((deleted_date IS NULL) = (scheduled_purge_date IS NULL))
    );
    CREATE INDEX objects_purge ON objects (scheduled_purge_date);

    CREATE TABLE versions (
        vault TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        seq BIGINT NOT NULL,
        created BIGINT NOT NULL,
        updated BIGINT NOT NULL,
        meta BLOB NOT NULL,
        sealed BLOB NOT NULL,
        PRIMARY KEY (vault, kind, name, version),
        FOREIGN KEY (vault, kind, name) REFERENCES objects (vault, kind, name) ON DELETE CASCADE
    );
    CREATE INDEX versions_latest ON versions (vault, kind, name, seq);

    CREATE TABLE counters (
        name TEXT NOT NULL PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO counters (name, value) VALUES ('version_seq', 0);
    ",
    // 2: the soft-deleted namespace by name, so listing deleted objects reads only deleted
    // rows instead of stepping over every live one of the vault.
    "
    CREATE INDEX objects_deleted ON objects (vault, kind, name) WHERE deleted_date IS NOT NULL;
    ",
];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The store's schema.
pub(crate) const STORE_SCHEMA: Schema = Schema {
    migrations: MIGRATIONS,
    version: SCHEMA_VERSION,
    table: "schema_migrations",
};

/// The database was written by a newer Coffer: its schema is past what this build knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaTooNew {
    /// Schema version recorded in the database.
    pub found: i64,
    /// Newest schema version this build knows.
    pub supported: i64,
}

impl fmt::Display for SchemaTooNew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "database schema version {} is newer than this build of coffer supports ({}); \
             upgrade coffer or restore a backup made for this version",
            self.found, self.supported
        )
    }
}

impl StdError for SchemaTooNew {}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Applies pending migrations, one transaction each, and refuses a schema newer than this build.
pub(crate) fn migrate(conn: &mut Connection, schema: &Schema) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )",
    )
    .map_err(backend)?;
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let current: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |row| row.get(0),
            )
            .map_err(backend)?;
        if current > schema.version {
            return Err(StoreError::Backend(Box::new(SchemaTooNew {
                found: current,
                supported: schema.version,
            })));
        }
        // A negative version cannot be written by us.
        if current < 0 {
            return Err(message(format!(
                "{} holds an invalid version {current}",
                schema.table
            )));
        }
        let Some(sql) = usize::try_from(current)
            .ok()
            .and_then(|applied| schema.migrations.get(applied))
        else {
            // Up to date (`current == schema.version`).
            return Ok(());
        };
        tx.execute_batch(sql).map_err(backend)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![current + 1, unix_now()],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const FIRST: &[&str] = &["CREATE TABLE a (x INTEGER);"];
    const BOTH: &[&str] = &["CREATE TABLE a (x INTEGER);", "CREATE TABLE b (y INTEGER);"];

    fn schema(migrations: &'static [&'static str]) -> Schema {
        Schema {
            migrations,
            version: i64::try_from(migrations.len()).unwrap(),
            table: "schema_migrations of the test database",
        }
    }

    fn versions(conn: &Connection) -> Vec<i64> {
        let mut stmt = conn
            .prepare("SELECT version FROM schema_migrations ORDER BY version")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn applies_only_pending_migrations_in_order() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &schema(FIRST)).unwrap();
        assert_eq!(versions(&conn), [1]);
        // Re-running `CREATE TABLE a` would fail: only the second migration may run now.
        migrate(&mut conn, &schema(BOTH)).unwrap();
        migrate(&mut conn, &schema(BOTH)).unwrap();
        assert_eq!(versions(&conn), [1, 2]);
        conn.execute_batch("INSERT INTO b (y) VALUES (1)").unwrap();
    }

    #[test]
    fn refuses_newer_and_invalid_versions_naming_the_database() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &schema(BOTH)).unwrap();
        let Err(StoreError::Backend(e)) = migrate(&mut conn, &schema(FIRST)) else {
            unreachable!("a newer schema must be refused");
        };
        assert_eq!(
            e.downcast_ref::<SchemaTooNew>(),
            Some(&SchemaTooNew {
                found: 2,
                supported: 1
            })
        );

        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &schema(FIRST)).unwrap();
        conn.execute_batch(
            "DELETE FROM schema_migrations; INSERT INTO schema_migrations VALUES (-1, 0)",
        )
        .unwrap();
        let Err(StoreError::Backend(e)) = migrate(&mut conn, &schema(FIRST)) else {
            unreachable!("a negative version must be refused");
        };
        assert_eq!(
            e.to_string(),
            "schema_migrations of the test database holds an invalid version -1"
        );
    }
}
