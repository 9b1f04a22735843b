//! The audit log on SQLite, in a database file of its own (`audit.db` beside `coffer.db`) with its
//! own migrations and writer connection, so audit appends never wait for a vault write's lock nor
//! hold one up.
//!
//! The same guarantees as the main store: WAL with `synchronous=FULL` (an acknowledged batch
//! survives `kill -9` and power loss), files at 0600, blocking calls off the async executor.
//! Sequence numbers come from a counter row rather than the table's maximum, so pruning the newest
//! records never lets a number be handed out twice.

use std::fmt;
use std::path::Path;

use std::sync::Arc;

use async_trait::async_trait;
use coffer_store::{AuditOrder, AuditQuery, AuditRecord, AuditStore, StoreError, StoredAudit};
use rusqlite::types::Value;
use rusqlite::{Row, Transaction, params, params_from_iter};

use crate::error::{Fail, message};
use crate::limit_to_db;
use crate::migrate::Schema;
use crate::pool::Pool;

/// The audit database's file name, inside the data directory beside `coffer.db`.
pub const AUDIT_DB_FILE: &str = "audit.db";

/// Migrations of the audit database, in order; never edit a released entry, append a new one.
const AUDIT_MIGRATIONS: &[&str] = &[
    // 1: the records, their filter indexes and the sequence counter.
    "
    CREATE TABLE audit (
        seq INTEGER NOT NULL PRIMARY KEY,
        vault TEXT NOT NULL,
        time_ms BIGINT NOT NULL,
        status INTEGER NOT NULL,
        operation TEXT NOT NULL,
        caller_oid TEXT,
        request_id TEXT NOT NULL,
        body BLOB NOT NULL
    );
    CREATE INDEX audit_vault_seq ON audit (vault, seq);
    CREATE INDEX audit_time ON audit (time_ms);
    CREATE INDEX audit_request ON audit (request_id);

    CREATE TABLE audit_counters (
        name TEXT NOT NULL PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO audit_counters (name, value) VALUES ('audit_seq', 0);
    ",
];

/// The audit schema version this build writes and understands.
pub const AUDIT_SCHEMA_VERSION: i64 = AUDIT_MIGRATIONS.len() as i64;

/// The audit database's schema.
const AUDIT_SCHEMA: Schema = Schema {
    migrations: AUDIT_MIGRATIONS,
    version: AUDIT_SCHEMA_VERSION,
    table: "schema_migrations of the audit database",
};

/// Read-only connections of a file database, so `coffer logs` and the doctor never queue behind
/// the writer.
const AUDIT_READERS: usize = 2;

/// Rows one prune step deletes before it commits and lets appends in.
const PRUNE_STEP: i64 = 5_000;

/// Coffer's audit log on SQLite.
pub struct SqliteAuditStore {
    /// Its own writer, and readers for a file database.
    pool: Pool,
}

impl fmt::Debug for SqliteAuditStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteAuditStore").finish_non_exhaustive()
    }
}

impl SqliteAuditStore {
    /// Opens (creating if needed) the audit database at `path`, applies pending migrations, and
    /// refuses one whose schema is newer than this build knows. Blocks on file I/O.
    pub fn open(path: &Path) -> Result<SqliteAuditStore, StoreError> {
        Ok(SqliteAuditStore {
            pool: Pool::open(path, &AUDIT_SCHEMA, AUDIT_READERS)?,
        })
    }

    /// A private in-memory audit database, for tests.
    pub fn open_in_memory() -> Result<SqliteAuditStore, StoreError> {
        Ok(SqliteAuditStore {
            pool: Pool::open_in_memory(&AUDIT_SCHEMA)?,
        })
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Fail> + Send + 'static,
    {
        self.pool.read(f).await
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Fail> + Send + 'static,
    {
        self.pool.write(f).await
    }
}

/// Reserves `count` sequence numbers and returns the first. With `count == 0` it still rewrites
/// the counter row, so an empty append is a real write and a real health probe.
fn reserve_audit_seq(tx: &Transaction<'_>, count: usize) -> Result<i64, Fail> {
    let count = i64::try_from(count).map_err(|_| Fail::Store(message("audit batch too large")))?;
    let changed = tx
        .prepare_cached("UPDATE audit_counters SET value = value + ?1 WHERE name = 'audit_seq'")?
        .execute(params![count])?;
    if changed != 1 {
        return Err(Fail::Store(message("the audit_seq counter is missing")));
    }
    let last: i64 = tx
        .prepare_cached("SELECT value FROM audit_counters WHERE name = 'audit_seq'")?
        .query_row([], |row| row.get(0))?;
    Ok(last - count + 1)
}

fn seq_to_db(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn stored_from_row(row: &Row<'_>) -> Result<StoredAudit, Fail> {
    let seq: i64 = row.get(0)?;
    let status: i64 = row.get(3)?;
    Ok(StoredAudit {
        seq: u64::try_from(seq)
            .map_err(|_| Fail::Store(message(format!("negative audit sequence {seq}"))))?,
        record: AuditRecord {
            vault: row.get(1)?,
            time_ms: row.get(2)?,
            status: u16::try_from(status)
                .map_err(|_| Fail::Store(message(format!("audit status {status} out of range"))))?,
            operation: row.get(4)?,
            caller_oid: row.get(5)?,
            request_id: row.get(6)?,
            body: row.get(7)?,
        },
    })
}

/// The WHERE clause and its parameters for a query's filters.
fn where_clause(q: &AuditQuery) -> (String, Vec<Value>) {
    let mut conds: Vec<&str> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let mut add = |cond: &'static str, value: Value| {
        conds.push(cond);
        params.push(value);
    };
    if let Some(v) = &q.vault {
        add("vault = ?", Value::Text(v.clone()));
    }
    if let Some(t) = q.since_ms {
        add("time_ms >= ?", Value::Integer(t));
    }
    if let Some(t) = q.until_ms {
        add("time_ms < ?", Value::Integer(t));
    }
    if let Some(s) = q.status {
        add("status = ?", Value::Integer(i64::from(s)));
    }
    if let Some(op) = &q.operation {
        add("operation = ?", Value::Text(op.clone()));
    }
    if let Some(oid) = &q.caller_oid {
        add("caller_oid = ?", Value::Text(oid.clone()));
    }
    if let Some(id) = &q.request_id {
        add("request_id = ?", Value::Text(id.clone()));
    }
    if let Some(after) = q.after_seq {
        add("seq > ?", Value::Integer(seq_to_db(after)));
    }
    if let Some(before) = q.before_seq {
        add("seq < ?", Value::Integer(seq_to_db(before)));
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (clause, params)
}

#[async_trait]
impl AuditStore for SqliteAuditStore {
    async fn append(&self, batch: Arc<[AuditRecord]>) -> Result<(), StoreError> {
        self.write(move |tx| {
            let first = reserve_audit_seq(tx, batch.len())?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO audit
                    (seq, vault, time_ms, status, operation, caller_oid, request_id, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (seq, r) in (first..).zip(batch.iter()) {
                insert.execute(params![
                    seq,
                    r.vault,
                    r.time_ms,
                    r.status,
                    r.operation,
                    r.caller_oid,
                    r.request_id,
                    r.body
                ])?;
            }
            Ok(())
        })
        .await
    }

    async fn query(&self, query: &AuditQuery) -> Result<Vec<StoredAudit>, StoreError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let (clause, mut values) = where_clause(query);
        values.push(Value::Integer(limit_to_db(query.limit)));
        let order = match query.order {
            AuditOrder::OldestFirst => "ASC",
            AuditOrder::NewestFirst => "DESC",
        };
        let sql = format!(
            "SELECT seq, vault, time_ms, status, operation, caller_oid, request_id, body
             FROM audit {clause} ORDER BY seq {order} LIMIT ?"
        );
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(&sql)?;
            let mut rows = stmt.query(params_from_iter(values))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(stored_from_row(row)?);
            }
            Ok(out)
        })
        .await
    }

    async fn prune(&self, vault: Option<&str>, older_than_ms: i64) -> Result<u64, StoreError> {
        let vault = vault.map(str::to_owned);
        let mut total: u64 = 0;
        loop {
            let vault = vault.clone();
            let removed = self
                .write(move |tx| {
                    let n = match &vault {
                        Some(v) => tx
                            .prepare_cached(
                                "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit
                                 WHERE vault = ?1 AND time_ms < ?2 ORDER BY seq LIMIT ?3)",
                            )?
                            .execute(params![v, older_than_ms, PRUNE_STEP])?,
                        None => tx
                            .prepare_cached(
                                "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit
                                 WHERE time_ms < ?1 ORDER BY seq LIMIT ?2)",
                            )?
                            .execute(params![older_than_ms, PRUNE_STEP])?,
                    };
                    Ok(n)
                })
                .await?;
            total = total.saturating_add(u64::try_from(removed).unwrap_or(u64::MAX));
            if i64::try_from(removed).unwrap_or(i64::MAX) < PRUNE_STEP {
                return Ok(total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q() -> AuditQuery {
        AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        }
    }

    #[test]
    fn where_clause_names_only_set_filters() {
        assert_eq!(where_clause(&q()), (String::new(), vec![]));
        let (clause, values) = where_clause(&AuditQuery {
            vault: Some("v".into()),
            status: Some(403),
            after_seq: Some(u64::MAX),
            ..q()
        });
        assert_eq!(clause, "WHERE vault = ? AND status = ? AND seq > ?");
        assert_eq!(
            values,
            vec![
                Value::Text("v".into()),
                Value::Integer(403),
                Value::Integer(i64::MAX)
            ],
            "a sequence past i64 is clamped, not wrapped"
        );
    }

    #[tokio::test]
    async fn prune_commits_in_steps_and_counts_every_row() {
        let store = SqliteAuditStore::open_in_memory().unwrap();
        let n = usize::try_from(PRUNE_STEP).unwrap() * 2 + 7;
        let batch = (0..n)
            .map(|i| AuditRecord {
                vault: if i % 2 == 0 { "a" } else { "b" }.into(),
                time_ms: 1,
                status: 200,
                operation: "SecretGet".into(),
                caller_oid: None,
                request_id: format!("r{i}"),
                body: Vec::new(),
            })
            .collect();
        store.append(batch).await.unwrap();
        assert_eq!(store.prune(None, 2).await.unwrap(), n as u64);
        assert!(store.query(&q()).await.unwrap().is_empty());
    }
}
