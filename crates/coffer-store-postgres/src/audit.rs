//! The audit log on PostgreSQL: the same database as the store, its own small pool so audit
//! appends never wait behind vault writes for a connection.
//!
//! Sequence numbers come from a counter row bumped inside the appending transaction: the row lock
//! orders the batches of every node, so sequences grow in commit order and a reader following
//! the log by `after_seq` never misses a record that commits late (which a database sequence,
//! handing numbers out before commit, would allow).

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use coffer_store::{AuditOrder, AuditQuery, AuditRecord, AuditStore, StoreError, StoredAudit};
use deadpool_postgres::GenericClient as _;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::{Fail, message};
use crate::limit_to_db;
use crate::pool::{PgOptions, Pool, finish, transaction};

/// How many records one prune step removes, so appends are not held up behind a long prune.
const PRUNE_STEP: i64 = 5_000;
/// Connections of the audit pool: one batch is in flight per writer, queries are rare.
const AUDIT_CONNECTIONS: usize = 3;

/// The audit log in PostgreSQL.
pub struct PgAuditStore {
    pool: Pool,
}

impl fmt::Debug for PgAuditStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgAuditStore").finish_non_exhaustive()
    }
}

impl PgAuditStore {
    /// Connects and applies pending migrations (the audit tables are part of the one schema).
    pub async fn open(options: &PgOptions) -> Result<PgAuditStore, StoreError> {
        let mut options = options.clone();
        options.max_connections = AUDIT_CONNECTIONS;
        let pool = Pool::connect(&options)?;
        crate::migrate::migrate(&pool).await?;
        Ok(PgAuditStore { pool })
    }
}

fn seq_to_db(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

fn stored_at(row: &Row) -> Result<StoredAudit, Fail> {
    let seq: i64 = row.try_get(0)?;
    let status: i32 = row.try_get(3)?;
    Ok(StoredAudit {
        seq: u64::try_from(seq)
            .map_err(|_| Fail::Store(message(format!("negative audit sequence {seq}"))))?,
        record: AuditRecord {
            vault: row.try_get(1)?,
            time_ms: row.try_get(2)?,
            status: u16::try_from(status)
                .map_err(|_| Fail::Store(message(format!("audit status {status} out of range"))))?,
            operation: row.try_get(4)?,
            caller_oid: row.try_get(5)?,
            request_id: row.try_get(6)?,
            body: row.try_get(7)?,
        },
    })
}

/// The filters of `q` as a WHERE clause with numbered parameters.
fn where_clause(q: &AuditQuery) -> (String, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut add = |column: &str, op: &str, value: Box<dyn ToSql + Sync + Send>| {
        params.push(value);
        conds.push(format!("{column} {op} ${}", params.len()));
    };
    if let Some(v) = &q.vault {
        add("vault", "=", Box::new(v.clone()));
    }
    if let Some(t) = q.since_ms {
        add("time_ms", ">=", Box::new(t));
    }
    if let Some(t) = q.until_ms {
        add("time_ms", "<", Box::new(t));
    }
    if let Some(s) = q.status {
        add("status", "=", Box::new(i32::from(s)));
    }
    if let Some(op) = &q.operation {
        add("operation", "=", Box::new(op.clone()));
    }
    if let Some(oid) = &q.caller_oid {
        add("caller_oid", "=", Box::new(oid.clone()));
    }
    if let Some(id) = &q.request_id {
        add("request_id", "=", Box::new(id.clone()));
    }
    if let Some(after) = q.after_seq {
        add("seq", ">", Box::new(seq_to_db(after)));
    }
    if let Some(before) = q.before_seq {
        add("seq", "<", Box::new(seq_to_db(before)));
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conds.join(" AND "))
    };
    (clause, params)
}

#[async_trait]
impl AuditStore for PgAuditStore {
    async fn append(&self, batch: Arc<[AuditRecord]>) -> Result<(), StoreError> {
        let count = i64::try_from(batch.len()).map_err(|_| message("audit batch too large"))?;
        transaction!(&self.pool, |tx| async {
            // An empty batch still takes the counter's row lock: a probe that fails when
            // the database cannot commit a write now.
            let bump = tx
                .prepare_cached(
                    "UPDATE counters SET value = value + $1 WHERE name = 'audit_seq'
                         RETURNING value",
                )
                .await?;
            let last: i64 = tx
                .query_opt(&bump, &[&count])
                .await?
                .ok_or(Fail::Store(message("the audit_seq counter is missing")))?
                .try_get(0)?;
            if batch.is_empty() {
                return Ok(());
            }
            // One multi-row INSERT per batch: one round trip, however many records.
            let mut sql = String::from(
                "INSERT INTO audit
                        (seq, vault, time_ms, status, operation, caller_oid, request_id, body)
                     VALUES ",
            );
            let mut params: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(batch.len() * 8);
            let seqs: Vec<i64> = (last - count + 1..=last).collect();
            let statuses: Vec<i32> = batch.iter().map(|r| i32::from(r.status)).collect();
            for (i, r) in batch.iter().enumerate() {
                let b = i * 8;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${},${},${},${},${},${},${},${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8
                ));
                params.extend_from_slice(&[
                    &seqs[i],
                    &r.vault,
                    &r.time_ms,
                    &statuses[i],
                    &r.operation,
                    &r.caller_oid,
                    &r.request_id,
                    &r.body,
                ]);
            }
            tx.execute(sql.as_str(), &params).await?;
            Ok(())
        })
    }

    async fn query(&self, query: &AuditQuery) -> Result<Vec<StoredAudit>, StoreError> {
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let (clause, mut values) = where_clause(query);
        values.push(Box::new(limit_to_db(query.limit)));
        let order = match query.order {
            AuditOrder::OldestFirst => "ASC",
            AuditOrder::NewestFirst => "DESC",
        };
        let sql = format!(
            "SELECT seq, vault, time_ms, status, operation, caller_oid, request_id, body
             FROM audit {clause} ORDER BY seq {order} LIMIT ${}",
            values.len()
        );
        finish(async {
            let c = &self.pool.client().await?;
            let params: Vec<&(dyn ToSql + Sync)> = values
                .iter()
                .map(|v| v.as_ref() as &(dyn ToSql + Sync))
                .collect();
            let st = c.prepare_cached(&sql).await?;
            c.query(&st, &params).await?.iter().map(stored_at).collect()
        })
        .await
    }

    async fn prune(&self, vault: Option<&str>, older_than_ms: i64) -> Result<u64, StoreError> {
        let mut total: u64 = 0;
        loop {
            let removed = transaction!(&self.pool, |tx| async {
                let n = match vault {
                    Some(v) => {
                        let st = tx
                            .prepare_cached(
                                "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit
                                     WHERE vault = $1 AND time_ms < $2 ORDER BY seq LIMIT $3)",
                            )
                            .await?;
                        tx.execute(&st, &[&v, &older_than_ms, &PRUNE_STEP]).await?
                    }
                    None => {
                        let st = tx
                            .prepare_cached(
                                "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit
                                     WHERE time_ms < $1 ORDER BY seq LIMIT $2)",
                            )
                            .await?;
                        tx.execute(&st, &[&older_than_ms, &PRUNE_STEP]).await?
                    }
                };
                Ok(n)
            })?;
            total = total.saturating_add(removed);
            if i64::try_from(removed).unwrap_or(i64::MAX) < PRUNE_STEP {
                return Ok(total);
            }
        }
    }
}
