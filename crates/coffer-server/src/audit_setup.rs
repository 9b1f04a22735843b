//! Opening the audit log for `coffer serve`: `audit.db` beside the database, the batching
//! writer with the operator's retention and fail-closed choice, and, for tests only, a fault
//! switch that makes every append fail while a named file exists.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use async_trait::async_trait;
use coffer_domain::SystemClock;
use coffer_service::{AuditConfig, AuditLog, AuditWriter};
use coffer_store::{AuditQuery, AuditRecord, AuditStore, StoreError, StoredAudit};
use coffer_store_sqlite::{AUDIT_DB_FILE, SqliteAuditStore};

use crate::ServeArgs;

/// Opens `audit.db` in `dir` and starts the writer on the current runtime.
pub(crate) fn open(dir: &Path, args: &ServeArgs) -> Result<(AuditWriter, AuditLog)> {
    let path = dir.join(AUDIT_DB_FILE);
    let sqlite: Arc<dyn AuditStore> = Arc::new(
        SqliteAuditStore::open(&path)
            .with_context(|| format!("opening the audit log {}", path.display()))?,
    );
    let store = match &args.test_only_audit_fault_file {
        Some(f) => {
            tracing::warn!(file = %f.display(), "audit fault switch on: appends fail while this file exists (tests only)");
            Arc::new(FaultSwitch {
                inner: sqlite,
                file: f.clone(),
            }) as Arc<dyn AuditStore>
        }
        None => sqlite,
    };
    let config = AuditConfig {
        retention_days: args.audit_retention_days,
        fail_closed: args.audit_fail_closed,
        ..AuditConfig::default()
    };
    let writer = AuditWriter::start(Arc::clone(&store), Arc::new(SystemClock), config)
        .context("starting the audit writer")?;
    Ok((writer, AuditLog::new(store)))
}

/// An audit store whose appends fail while `file` exists: how black-box tests make the writer
/// unhealthy without breaking the real file under a running server.
struct FaultSwitch {
    inner: Arc<dyn AuditStore>,
    file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("audit appends are switched off by the test fault file")]
struct SwitchedOff;

#[async_trait]
impl AuditStore for FaultSwitch {
    async fn append(&self, batch: Arc<[AuditRecord]>) -> Result<(), StoreError> {
        if self.file.exists() {
            return Err(StoreError::Backend(Box::new(SwitchedOff)));
        }
        self.inner.append(batch).await
    }

    async fn query(&self, query: &AuditQuery) -> Result<Vec<StoredAudit>, StoreError> {
        self.inner.query(query).await
    }

    async fn prune(&self, vault: Option<&str>, older_than_ms: i64) -> Result<u64, StoreError> {
        self.inner.prune(vault, older_than_ms).await
    }
}
