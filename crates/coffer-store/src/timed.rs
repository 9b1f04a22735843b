//! A store wrapper that reports how long each call to the backend took and whether it failed,
//! for the metrics. `coffer serve` puts it between the read cache and the database, so the
//! figures are the database's, not the cache's.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;

use crate::{
    Deletion, Doc, DocWrite, ObjectKind, ObjectRef, ObjectSummary, Store, StoreError, Version,
};

/// Receives one observation per store call: the operation's name (the `Store` method), its
/// duration in seconds and whether it succeeded. Must not block.
pub trait StoreObserver: Send + Sync {
    fn observe(&self, operation: &'static str, seconds: f64, ok: bool);
}

/// `inner`, timed.
pub struct TimedStore {
    inner: Arc<dyn Store>,
    observer: Arc<dyn StoreObserver>,
}

impl TimedStore {
    pub fn new(inner: Arc<dyn Store>, observer: Arc<dyn StoreObserver>) -> Self {
        Self { inner, observer }
    }

    async fn timed<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let r = call.await;
        // A miss or a failed precondition is an answer; only the backend failing is a failure.
        let ok = !matches!(r, Err(StoreError::Backend(_) | StoreError::Unavailable(_)));
        self.observer
            .observe(operation, started.elapsed().as_secs_f64(), ok);
        r
    }
}

#[async_trait]
impl Store for TimedStore {
    async fn get_doc(&self, kind: &str, id: &str) -> Result<Option<Doc>, StoreError> {
        self.timed("get_doc", self.inner.get_doc(kind, id)).await
    }

    async fn list_docs(&self, kind: &str) -> Result<Vec<Doc>, StoreError> {
        self.timed("list_docs", self.inner.list_docs(kind)).await
    }

    async fn write_docs(&self, writes: Vec<DocWrite>) -> Result<(), StoreError> {
        self.timed("write_docs", self.inner.write_docs(writes))
            .await
    }

    async fn append_version(&self, obj: &ObjectRef, version: Version) -> Result<(), StoreError> {
        self.timed("append_version", self.inner.append_version(obj, version))
            .await
    }

    async fn append_versions(&self, writes: Vec<(ObjectRef, Version)>) -> Result<(), StoreError> {
        self.timed("append_versions", self.inner.append_versions(writes))
            .await
    }

    async fn get_version(
        &self,
        obj: &ObjectRef,
        version: Option<&str>,
    ) -> Result<Option<Version>, StoreError> {
        self.timed("get_version", self.inner.get_version(obj, version))
            .await
    }

    async fn update_version(
        &self,
        obj: &ObjectRef,
        version: &str,
        meta: Vec<u8>,
        updated: i64,
    ) -> Result<Version, StoreError> {
        self.timed(
            "update_version",
            self.inner.update_version(obj, version, meta, updated),
        )
        .await
    }

    async fn list_objects(
        &self,
        vault: &str,
        kind: ObjectKind,
        deleted: bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectSummary>, StoreError> {
        self.timed(
            "list_objects",
            self.inner.list_objects(vault, kind, deleted, after, limit),
        )
        .await
    }

    async fn list_versions(
        &self,
        obj: &ObjectRef,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError> {
        self.timed("list_versions", self.inner.list_versions(obj, after, limit))
            .await
    }

    async fn soft_delete(&self, obj: &ObjectRef, deletion: Deletion) -> Result<(), StoreError> {
        self.timed("soft_delete", self.inner.soft_delete(obj, deletion))
            .await
    }

    async fn get_deleted(&self, obj: &ObjectRef) -> Result<Option<ObjectSummary>, StoreError> {
        self.timed("get_deleted", self.inner.get_deleted(obj)).await
    }

    async fn recover(&self, obj: &ObjectRef) -> Result<(), StoreError> {
        self.timed("recover", self.inner.recover(obj)).await
    }

    async fn purge(&self, obj: &ObjectRef) -> Result<Vec<Version>, StoreError> {
        self.timed("purge", self.inner.purge(obj)).await
    }

    async fn restore(&self, obj: &ObjectRef, versions: Vec<Version>) -> Result<(), StoreError> {
        self.timed("restore", self.inner.restore(obj, versions))
            .await
    }

    async fn due_for_purge(&self, now: i64, limit: usize) -> Result<Vec<ObjectRef>, StoreError> {
        self.timed("due_for_purge", self.inner.due_for_purge(now, limit))
            .await
    }

    async fn doc_kinds(&self) -> Result<Vec<String>, StoreError> {
        self.timed("doc_kinds", self.inner.doc_kinds()).await
    }

    async fn scan_objects(
        &self,
        after: Option<&ObjectRef>,
        limit: usize,
    ) -> Result<Vec<(ObjectRef, Option<Deletion>)>, StoreError> {
        self.timed("scan_objects", self.inner.scan_objects(after, limit))
            .await
    }

    async fn object_history(&self, obj: &ObjectRef) -> Result<Vec<Version>, StoreError> {
        self.timed("object_history", self.inner.object_history(obj))
            .await
    }
}
