//! Reading the audit log back as typed events: what `coffer logs` lists and follows, and what
//! `coffer doctor <request-id>` starts from.

use std::sync::Arc;

use coffer_store::{AuditOrder, AuditQuery, AuditStore, StoredAudit};

use super::{AuditError, AuditEvent, AuditOperation};

/// Records one query returns when the filter names no limit.
pub const DEFAULT_LOG_PAGE: usize = 100;
/// Most records one query returns.
pub const MAX_LOG_PAGE: usize = 1000;

/// Which records to list. Unset fields match everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Vault name (any case).
    pub vault: Option<String>,
    /// From this time on, unix milliseconds (inclusive).
    pub since_ms: Option<i64>,
    /// Before this time, unix milliseconds (exclusive).
    pub until_ms: Option<i64>,
    pub status: Option<u16>,
    pub operation: Option<AuditOperation>,
    /// The caller's object id.
    pub caller_oid: Option<String>,
    pub request_id: Option<String>,
    /// Only records after this sequence number: the next page oldest-first, or `-f`.
    pub after_seq: Option<u64>,
    /// Only records before this sequence number: the next page newest-first.
    pub before_seq: Option<u64>,
    /// At most this many ([`DEFAULT_LOG_PAGE`] if unset, never more than [`MAX_LOG_PAGE`]).
    pub limit: Option<usize>,
    pub newest_first: bool,
}

/// One request's record with where it sits in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEvent {
    /// Position in the log; pass the last one seen as `after_seq` to follow.
    pub seq: u64,
    /// Canonical vault name.
    pub vault: String,
    /// Unix milliseconds (the event's `time`, as a number).
    pub time_ms: i64,
    pub event: AuditEvent,
}

/// Read access to the audit log.
#[derive(Clone)]
pub struct AuditLog {
    store: Arc<dyn AuditStore>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog").finish_non_exhaustive()
    }
}

impl AuditLog {
    pub fn new(store: Arc<dyn AuditStore>) -> Self {
        Self { store }
    }

    /// The records matching `filter`, in log order (or newest first).
    pub async fn query(&self, filter: &AuditFilter) -> Result<Vec<LoggedEvent>, AuditError> {
        let query = AuditQuery {
            vault: filter.vault.as_deref().map(str::to_ascii_lowercase),
            since_ms: filter.since_ms,
            until_ms: filter.until_ms,
            status: filter.status,
            operation: filter.operation.map(|o| o.as_str().to_owned()),
            caller_oid: filter.caller_oid.clone(),
            request_id: filter.request_id.clone(),
            after_seq: filter.after_seq,
            before_seq: filter.before_seq,
            limit: filter.limit.unwrap_or(DEFAULT_LOG_PAGE).min(MAX_LOG_PAGE),
            order: if filter.newest_first {
                AuditOrder::NewestFirst
            } else {
                AuditOrder::OldestFirst
            },
        };
        self.store
            .query(&query)
            .await?
            .into_iter()
            .map(decode)
            .collect()
    }

    /// The record of one request, by Coffer's request id (`x-ms-request-id`).
    pub async fn find_request(&self, request_id: &str) -> Result<Option<LoggedEvent>, AuditError> {
        let found = self
            .query(&AuditFilter {
                request_id: Some(request_id.to_owned()),
                limit: Some(1),
                newest_first: true,
                ..AuditFilter::default()
            })
            .await?;
        Ok(found.into_iter().next())
    }

    /// Removes records older than `older_than_ms`, of one vault or all (e.g. a vault's own
    /// retention, or when its diagnostic setting is deleted); returns how many.
    pub async fn prune(&self, vault: Option<&str>, older_than_ms: i64) -> Result<u64, AuditError> {
        let vault = vault.map(str::to_ascii_lowercase);
        Ok(self.store.prune(vault.as_deref(), older_than_ms).await?)
    }
}

fn decode(row: StoredAudit) -> Result<LoggedEvent, AuditError> {
    let event = serde_json::from_slice(&row.record.body).map_err(|source| AuditError::Decode {
        seq: row.seq,
        source,
    })?;
    Ok(LoggedEvent {
        seq: row.seq,
        vault: row.record.vault,
        time_ms: row.record.time_ms,
        event,
    })
}
