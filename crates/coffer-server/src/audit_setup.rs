//! Starting the audit log for `coffer serve`: the batching writer with the operator's retention
//! and fail-closed choice, and, for tests only, a fault switch that makes every append fail
//! while a named file exists.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use async_trait::async_trait;
use coffer_domain::SystemClock;
use coffer_service::{AuditConfig, AuditLog, AuditWriter};
use coffer_store::{AuditQuery, AuditRecord, AuditStore, StoreError, StoredAudit};

use crate::ServeArgs;

/// Starts the writer on `store` (opened by [`crate::store_setup`]) on the current runtime.
pub(crate) fn open(
    inner: Arc<dyn AuditStore>,
    args: &ServeArgs,
) -> Result<(AuditWriter, AuditLog)> {
    let store = match &args.test_only_audit_fault_file {
        Some(f) => {
            tracing::warn!(file = %f.display(), "audit fault switch on: appends fail while this file exists (tests only)");
            Arc::new(FaultSwitch {
                inner,
                file: f.clone(),
            }) as Arc<dyn AuditStore>
        }
        None => inner,
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
