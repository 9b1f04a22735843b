//! The audit log contract: an append-only, ordered store of one record per request, separate from
//! [`Store`](crate::Store) so a backend can keep it apart (its own file or database) and audit
//! writes never contend with vault writes.
//!
//! A store indexes a few columns for filtering and keeps the record itself as opaque bytes: the
//! service owns the event's schema, the store only its order, filters and retention.

use std::sync::Arc;

use async_trait::async_trait;

use crate::StoreError;

/// One audit record as the writer hands it to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Canonical (lowercase) name of the vault the request addressed.
    pub vault: String,
    /// When the request arrived, unix milliseconds.
    pub time_ms: i64,
    /// HTTP status of the answer.
    pub status: u16,
    /// Operation name (`SecretGet`, `Authentication`, ...).
    pub operation: String,
    /// Object id of the caller, when the request carried a valid token.
    pub caller_oid: Option<String>,
    /// Coffer's request id (`x-ms-request-id` of the answer).
    pub request_id: String,
    /// The event, encoded by the service; opaque to the store.
    pub body: Vec<u8>,
}

/// A record as stored: with the sequence number the store gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAudit {
    /// Strictly increasing in append order across the whole store, never reused, even after the
    /// newest records are pruned.
    pub seq: u64,
    pub record: AuditRecord,
}

/// The order records come back in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuditOrder {
    /// Ascending sequence: the order they were written in.
    #[default]
    OldestFirst,
    /// Descending sequence.
    NewestFirst,
}

/// Which records to read. Every filter that is set must hold; unset filters match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub vault: Option<String>,
    /// Records with `time_ms >= since_ms`.
    pub since_ms: Option<i64>,
    /// Records with `time_ms < until_ms`.
    pub until_ms: Option<i64>,
    pub status: Option<u16>,
    pub operation: Option<String>,
    pub caller_oid: Option<String>,
    pub request_id: Option<String>,
    /// Records with `seq > after_seq`: the next page oldest-first, or what arrived since the last
    /// poll when following the log.
    pub after_seq: Option<u64>,
    /// Records with `seq < before_seq`: the next page newest-first.
    pub before_seq: Option<u64>,
    /// At most this many records (0 returns none).
    pub limit: usize,
    pub order: AuditOrder,
}

/// The audit log's storage contract. Object safe: callers hold an `Arc<dyn AuditStore>`.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends the batch in one transaction, giving its records sequence numbers that grow in
    /// batch order and are greater than those of every batch committed before (gaps are allowed),
    /// so a reader following the log by `after_seq` never misses a record. `Ok` means every
    /// record is durable; `Err` means none was written.
    ///
    /// An empty batch writes no record but must still fail when the store cannot commit a write
    /// now: the writer uses it as a health probe.
    async fn append(&self, batch: Arc<[AuditRecord]>) -> Result<(), StoreError>;

    /// Records matching `query`, ordered by sequence as it asks.
    async fn query(&self, query: &AuditQuery) -> Result<Vec<StoredAudit>, StoreError>;

    /// Removes the records with `time_ms < older_than_ms`, of one vault or of all; returns how
    /// many. Need not be one transaction: a large prune may commit in steps, so appends are not
    /// held up behind it.
    async fn prune(&self, vault: Option<&str>, older_than_ms: i64) -> Result<u64, StoreError>;
}
