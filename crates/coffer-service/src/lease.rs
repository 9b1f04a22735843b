//! Leases and heartbeats of the nodes sharing a store. Leases: which node of a shared store runs an instance-wide background job (scheduled purge,
//! key rotation, certificate renewal, audit pruning, gateway certificate polling), so each runs
//! once per instance rather than once per node.
//!
//! A lease is a document (`lease/<job>`) naming its holder and when it lapses, taken and renewed
//! with the store's optimistic revision check, so two nodes can never both win one round. A node
//! that stops renewing loses the job to another once the lease lapses; with the embedded store
//! the one process always holds it. Heartbeats: each node's `node/<id>` document, renewed every
//! few seconds, so the nodes know how many they are (throttling shares its budgets by it).

use std::time::Duration;

use coffer_store::{DocMode, DocWrite, StoreError};
use serde::{Deserialize, Serialize};

use crate::{Coffer, ServiceError};

const LEASE_KIND: &str = "lease";
const NODE_KIND: &str = "node";

#[derive(Serialize, Deserialize)]
struct LeaseDoc {
    holder: String,
    /// Unix seconds after which another node may take the lease.
    expires: i64,
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A node's heartbeat: it is live until `expires`.
#[derive(Serialize, Deserialize)]
struct NodeDoc {
    expires: i64,
}

impl Coffer {
    /// Records that node `id` is live for `ttl` more, forgets nodes whose heartbeat lapsed, and
    /// returns how many nodes are live (this one included): what throttling divides its budgets
    /// by on a shared store.
    pub async fn heartbeat(&self, id: &str, ttl: Duration) -> Result<u32, ServiceError> {
        let now = unix_now();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let body = serde_json::to_vec(&NodeDoc {
            expires: now.saturating_add(ttl),
        })?;
        self.store
            .write_docs(vec![DocWrite::Put {
                kind: NODE_KIND.to_owned(),
                id: id.to_owned(),
                body,
                mode: DocMode::Overwrite,
            }])
            .await?;
        let mut live: u32 = 0;
        for doc in self.store.list_docs(NODE_KIND).await? {
            let expires = serde_json::from_slice::<NodeDoc>(&doc.body).map_or(0, |n| n.expires);
            if expires > now {
                live = live.saturating_add(1);
            } else {
                // Another node may forget it first; either way it is gone.
                let forget = DocWrite::Delete {
                    kind: NODE_KIND.to_owned(),
                    id: doc.id,
                };
                match self.store.write_docs(vec![forget]).await {
                    Ok(()) | Err(StoreError::NotFound) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(live.max(1))
    }

    /// Takes or renews the lease on `job` for `holder` for `ttl`; `false` while another node
    /// holds it. Uses the system clock (the vault clock of test settings must not hand jobs
    /// between nodes).
    pub async fn hold_lease(
        &self,
        job: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, ServiceError> {
        let now = unix_now();
        let ttl = i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX);
        let body = serde_json::to_vec(&LeaseDoc {
            holder: holder.to_owned(),
            expires: now.saturating_add(ttl),
        })?;
        let mode = match self.store.get_doc(LEASE_KIND, job).await? {
            None => DocMode::Create,
            Some(doc) => {
                let current: Option<LeaseDoc> = serde_json::from_slice(&doc.body).ok();
                match current {
                    Some(l) if l.holder != holder && l.expires > now => return Ok(false),
                    _ => DocMode::Update(doc.revision),
                }
            }
        };
        let write = DocWrite::Put {
            kind: LEASE_KIND.to_owned(),
            id: job.to_owned(),
            body,
            mode,
        };
        match self.store.write_docs(vec![write]).await {
            Ok(()) => Ok(true),
            // Another node took or renewed it between our read and our write.
            Err(StoreError::AlreadyExists | StoreError::PreconditionFailed) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use coffer_store_sqlite::SqliteStore;

    use crate::management::testing::app;

    const TTL: Duration = Duration::from_secs(60);

    use super::*;

    #[tokio::test]
    async fn one_holder_at_a_time_and_renewal_by_the_holder() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let coffer = app(store).await;
        assert!(coffer.hold_lease("purge", "node-a", TTL).await.unwrap());
        assert!(!coffer.hold_lease("purge", "node-b", TTL).await.unwrap());
        assert!(coffer.hold_lease("purge", "node-a", TTL).await.unwrap());
        // Another job is free.
        assert!(coffer.hold_lease("renew", "node-b", TTL).await.unwrap());
    }

    #[tokio::test]
    async fn a_lapsed_lease_passes_to_another_node() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let coffer = app(store).await;
        assert!(
            coffer
                .hold_lease("purge", "node-a", Duration::ZERO)
                .await
                .unwrap()
        );
        // Expiry is exclusive at one-second resolution: wait past it.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(coffer.hold_lease("purge", "node-b", TTL).await.unwrap());
        assert!(!coffer.hold_lease("purge", "node-a", TTL).await.unwrap());
    }

    #[tokio::test]
    async fn heartbeats_count_live_nodes_and_forget_lapsed_ones() {
        let store = Arc::new(SqliteStore::open_in_memory().unwrap());
        let coffer = app(store).await;
        assert_eq!(coffer.heartbeat("a", TTL).await.unwrap(), 1);
        assert_eq!(coffer.heartbeat("b", TTL).await.unwrap(), 2);
        assert_eq!(
            coffer.heartbeat("c", Duration::from_secs(1)).await.unwrap(),
            3
        );
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(coffer.heartbeat("a", TTL).await.unwrap(), 2);
        assert!(
            coffer
                .store
                .get_doc(NODE_KIND, "c")
                .await
                .unwrap()
                .is_none()
        );
    }
}
