//! A read cache of object versions in front of a store that only this process writes (the
//! embedded SQLite store, whose data directory one server holds at a time). A GET of a secret or
//! a sign with a key then reads its version from memory instead of taking a trip to a blocking
//! database thread.
//!
//! Coherence rests on two rules. Every write passes through this wrapper and, once the inner
//! store has finished it, drops the object's entries and bumps an epoch; a read that began
//! before that bump fills the cache only if the epoch is unchanged when it returns, so a value
//! read before a commit can never be cached after it. And a write runs to its end on its own
//! task even when its caller gives up, so no commit ever happens without its invalidation.
//! Entries hold only what the store holds (metadata and sealed payloads), within a byte budget.
//! A store that other processes write (a database shared by several nodes) must not be wrapped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::{
    Deletion, Doc, DocWrite, ObjectKind, ObjectRef, ObjectSummary, Store, StoreError, Version,
};

/// Default budget for cached versions: metadata plus sealed payload bytes.
pub const DEFAULT_BUDGET_BYTES: usize = 32 * 1024 * 1024;

/// Fixed cost counted per entry beside its bytes, so many tiny versions also hit the budget.
const ENTRY_OVERHEAD: usize = 128;

/// A [`Store`] that serves `get_version` from memory when it can.
pub struct ReadCache {
    inner: Arc<dyn Store>,
    state: Arc<Mutex<State>>,
    budget: usize,
}

#[derive(Default)]
struct State {
    /// Grows by one whenever a write has finished (whether it succeeded or not).
    epoch: u64,
    bytes: usize,
    objects: HashMap<ObjectRef, Cached>,
}

#[derive(Default)]
struct Cached {
    latest: Option<Version>,
    versions: HashMap<String, Version>,
    bytes: usize,
}

fn weight(v: &Version) -> usize {
    ENTRY_OVERHEAD + v.version.len() + v.meta.len() + v.sealed.len()
}

impl State {
    fn forget(&mut self, objs: &[ObjectRef]) {
        self.epoch = self.epoch.wrapping_add(1);
        for o in objs {
            if let Some(c) = self.objects.remove(o) {
                self.bytes = self.bytes.saturating_sub(c.bytes);
            }
        }
    }

    /// Frees room until `need` more bytes fit in `budget`, dropping whole objects. Which ones
    /// does not matter much: a hot object is read again and comes back at once.
    fn make_room(&mut self, need: usize, budget: usize) {
        if self.bytes + need <= budget {
            return;
        }
        let target = budget.saturating_sub(need) / 2;
        let mut victims = Vec::new();
        let mut freed = 0usize;
        for (k, c) in &self.objects {
            if self.bytes - freed <= target {
                break;
            }
            freed += c.bytes;
            victims.push(k.clone());
        }
        for k in victims {
            if let Some(c) = self.objects.remove(&k) {
                self.bytes = self.bytes.saturating_sub(c.bytes);
            }
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state is a cache: after a panic elsewhere it is still a valid (if stale-free) map,
    // since every mutation leaves it consistent before any call that could panic.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

impl ReadCache {
    /// Wraps `inner`, keeping at most `budget` bytes of versions.
    pub fn new(inner: Arc<dyn Store>, budget: usize) -> Self {
        Self {
            inner,
            state: Arc::new(Mutex::new(State::default())),
            budget,
        }
    }

    /// Bytes currently held (for tests and metrics).
    pub fn cached_bytes(&self) -> usize {
        lock(&self.state).bytes
    }

    /// Runs a write of `objs` on its own task, so it finishes (and invalidates) even if the
    /// caller stops waiting, then drops those objects from the cache.
    async fn write<T, F>(&self, objs: Vec<ObjectRef>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Arc<dyn Store>) -> futures_like::BoxFuture<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let state = Arc::clone(&self.state);
        let task = tokio::spawn(async move {
            let out = f(inner).await;
            lock(&state).forget(&objs);
            out
        });
        match task.await {
            Ok(out) => out,
            Err(e) => {
                // The write panicked or the runtime is going away; what it did is unknown, so
                // nothing cached may survive.
                let mut st = lock(&self.state);
                st.epoch = st.epoch.wrapping_add(1);
                st.objects.clear();
                st.bytes = 0;
                Err(StoreError::Backend(Box::new(e)))
            }
        }
    }
}

/// A boxed future of a store result, the shape each deferred write takes.
mod futures_like {
    use std::future::Future;
    use std::pin::Pin;

    use crate::StoreError;

    pub(super) type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;
}

#[async_trait]
impl Store for ReadCache {
    async fn get_doc(&self, kind: &str, id: &str) -> Result<Option<Doc>, StoreError> {
        self.inner.get_doc(kind, id).await
    }

    async fn list_docs(&self, kind: &str) -> Result<Vec<Doc>, StoreError> {
        self.inner.list_docs(kind).await
    }

    async fn write_docs(&self, writes: Vec<DocWrite>) -> Result<(), StoreError> {
        self.inner.write_docs(writes).await
    }

    async fn append_version(&self, obj: &ObjectRef, version: Version) -> Result<(), StoreError> {
        let o = obj.clone();
        self.write(vec![obj.clone()], move |s| {
            Box::pin(async move { s.append_version(&o, version).await })
        })
        .await
    }

    async fn append_versions(&self, writes: Vec<(ObjectRef, Version)>) -> Result<(), StoreError> {
        let objs = writes.iter().map(|(o, _)| o.clone()).collect();
        self.write(objs, move |s| {
            Box::pin(async move { s.append_versions(writes).await })
        })
        .await
    }

    async fn get_version(
        &self,
        obj: &ObjectRef,
        version: Option<&str>,
    ) -> Result<Option<Version>, StoreError> {
        let epoch = {
            let st = lock(&self.state);
            if let Some(c) = st.objects.get(obj) {
                let hit = match version {
                    None => c.latest.as_ref(),
                    Some(id) => c.versions.get(id),
                };
                if let Some(v) = hit {
                    return Ok(Some(v.clone()));
                }
            }
            st.epoch
        };
        let got = self.inner.get_version(obj, version).await?;
        if let Some(v) = &got {
            let w = weight(v);
            if w <= self.budget / 8 {
                let mut st = lock(&self.state);
                if st.epoch == epoch {
                    st.make_room(w, self.budget);
                    let c = st.objects.entry(obj.clone()).or_default();
                    let old = match version {
                        None => c.latest.replace(v.clone()),
                        Some(id) => c.versions.insert(id.to_owned(), v.clone()),
                    };
                    let old_w = old.as_ref().map_or(0, weight);
                    c.bytes = c.bytes + w - old_w;
                    st.bytes = st.bytes + w - old_w;
                }
            }
        }
        Ok(got)
    }

    async fn update_version(
        &self,
        obj: &ObjectRef,
        version: &str,
        meta: Vec<u8>,
        updated: i64,
    ) -> Result<Version, StoreError> {
        let (o, v) = (obj.clone(), version.to_owned());
        self.write(vec![obj.clone()], move |s| {
            Box::pin(async move { s.update_version(&o, &v, meta, updated).await })
        })
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
        self.inner
            .list_objects(vault, kind, deleted, after, limit)
            .await
    }

    async fn list_versions(
        &self,
        obj: &ObjectRef,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError> {
        self.inner.list_versions(obj, after, limit).await
    }

    async fn soft_delete(&self, obj: &ObjectRef, deletion: Deletion) -> Result<(), StoreError> {
        let o = obj.clone();
        self.write(vec![obj.clone()], move |s| {
            Box::pin(async move { s.soft_delete(&o, deletion).await })
        })
        .await
    }

    async fn get_deleted(&self, obj: &ObjectRef) -> Result<Option<ObjectSummary>, StoreError> {
        self.inner.get_deleted(obj).await
    }

    async fn recover(&self, obj: &ObjectRef) -> Result<(), StoreError> {
        let o = obj.clone();
        self.write(vec![obj.clone()], move |s| {
            Box::pin(async move { s.recover(&o).await })
        })
        .await
    }

    async fn purge(&self, obj: &ObjectRef) -> Result<Vec<Version>, StoreError> {
        let o = obj.clone();
        self.write(vec![obj.clone()], move |s| {
            Box::pin(async move { s.purge(&o).await })
        })
        .await
    }

    async fn restore(&self, obj: &ObjectRef, versions: Vec<Version>) -> Result<(), StoreError> {
        let o = obj.clone();
        self.write(vec![obj.clone()], move |s| {
            Box::pin(async move { s.restore(&o, versions).await })
        })
        .await
    }

    async fn due_for_purge(&self, now: i64, limit: usize) -> Result<Vec<ObjectRef>, StoreError> {
        self.inner.due_for_purge(now, limit).await
    }

    async fn doc_kinds(&self) -> Result<Vec<String>, StoreError> {
        self.inner.doc_kinds().await
    }

    async fn scan_objects(
        &self,
        after: Option<&ObjectRef>,
        limit: usize,
    ) -> Result<Vec<(ObjectRef, Option<Deletion>)>, StoreError> {
        self.inner.scan_objects(after, limit).await
    }

    async fn object_history(&self, obj: &ObjectRef) -> Result<Vec<Version>, StoreError> {
        self.inner.object_history(obj).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::{Notify, oneshot};

    use super::*;

    /// A one-object store: counts reads, and can hold a read until told to go on.
    #[derive(Default)]
    struct OneObject {
        latest: Mutex<Option<Version>>,
        reads: AtomicUsize,
        hold_next_read: Mutex<Option<(oneshot::Sender<()>, Arc<Notify>)>>,
    }

    fn v(id: &str, sealed: &[u8]) -> Version {
        Version {
            version: id.to_owned(),
            created: 1,
            updated: 1,
            meta: Vec::new(),
            sealed: sealed.to_vec(),
        }
    }

    fn obj() -> ObjectRef {
        ObjectRef {
            vault: "v".to_owned(),
            kind: ObjectKind::Secret,
            name: "s".to_owned(),
        }
    }

    #[async_trait]
    impl Store for OneObject {
        async fn get_doc(&self, _: &str, _: &str) -> Result<Option<Doc>, StoreError> {
            Ok(None)
        }
        async fn list_docs(&self, _: &str) -> Result<Vec<Doc>, StoreError> {
            Ok(Vec::new())
        }
        async fn write_docs(&self, _: Vec<DocWrite>) -> Result<(), StoreError> {
            Ok(())
        }
        async fn append_version(&self, _: &ObjectRef, version: Version) -> Result<(), StoreError> {
            *self.latest.lock().unwrap() = Some(version);
            Ok(())
        }
        async fn append_versions(&self, _: Vec<(ObjectRef, Version)>) -> Result<(), StoreError> {
            Err(StoreError::NotFound)
        }
        async fn get_version(
            &self,
            _: &ObjectRef,
            _: Option<&str>,
        ) -> Result<Option<Version>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let value = self.latest.lock().unwrap().clone();
            let hold = self.hold_next_read.lock().unwrap().take();
            if let Some((reached, go_on)) = hold {
                let _ = reached.send(());
                go_on.notified().await;
            }
            Ok(value)
        }
        async fn update_version(
            &self,
            _: &ObjectRef,
            _: &str,
            _: Vec<u8>,
            _: i64,
        ) -> Result<Version, StoreError> {
            Err(StoreError::NotFound)
        }
        async fn list_objects(
            &self,
            _: &str,
            _: ObjectKind,
            _: bool,
            _: Option<&str>,
            _: usize,
        ) -> Result<Vec<ObjectSummary>, StoreError> {
            Ok(Vec::new())
        }
        async fn list_versions(
            &self,
            _: &ObjectRef,
            _: Option<&str>,
            _: usize,
        ) -> Result<Vec<Version>, StoreError> {
            Ok(Vec::new())
        }
        async fn soft_delete(&self, _: &ObjectRef, _: Deletion) -> Result<(), StoreError> {
            *self.latest.lock().unwrap() = None;
            Ok(())
        }
        async fn get_deleted(&self, _: &ObjectRef) -> Result<Option<ObjectSummary>, StoreError> {
            Ok(None)
        }
        async fn recover(&self, _: &ObjectRef) -> Result<(), StoreError> {
            Ok(())
        }
        async fn purge(&self, _: &ObjectRef) -> Result<Vec<Version>, StoreError> {
            Ok(Vec::new())
        }
        async fn restore(&self, _: &ObjectRef, _: Vec<Version>) -> Result<(), StoreError> {
            Ok(())
        }
        async fn due_for_purge(&self, _: i64, _: usize) -> Result<Vec<ObjectRef>, StoreError> {
            Ok(Vec::new())
        }
        async fn doc_kinds(&self) -> Result<Vec<String>, StoreError> {
            Ok(Vec::new())
        }
        async fn scan_objects(
            &self,
            _: Option<&ObjectRef>,
            _: usize,
        ) -> Result<Vec<(ObjectRef, Option<Deletion>)>, StoreError> {
            Ok(Vec::new())
        }
        async fn object_history(&self, _: &ObjectRef) -> Result<Vec<Version>, StoreError> {
            Ok(self.latest.lock().unwrap().iter().cloned().collect())
        }
    }

    fn cache(budget: usize) -> (Arc<OneObject>, ReadCache) {
        let inner = Arc::new(OneObject::default());
        let c = ReadCache::new(Arc::clone(&inner) as Arc<dyn Store>, budget);
        (inner, c)
    }

    #[tokio::test]
    async fn a_second_read_comes_from_memory_and_a_write_is_seen_at_once() {
        let (inner, c) = cache(DEFAULT_BUDGET_BYTES);
        c.append_version(&obj(), v("a", b"one")).await.unwrap();
        assert_eq!(
            c.get_version(&obj(), None).await.unwrap().unwrap().sealed,
            b"one"
        );
        assert_eq!(
            c.get_version(&obj(), None).await.unwrap().unwrap().sealed,
            b"one"
        );
        assert_eq!(inner.reads.load(Ordering::SeqCst), 1);
        c.append_version(&obj(), v("b", b"two")).await.unwrap();
        assert_eq!(
            c.get_version(&obj(), None).await.unwrap().unwrap().sealed,
            b"two"
        );
        c.soft_delete(
            &obj(),
            Deletion {
                deleted_date: 1,
                scheduled_purge_date: 2,
            },
        )
        .await
        .unwrap();
        assert!(c.get_version(&obj(), None).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_read_that_began_before_a_write_does_not_cache_the_old_value() {
        let (inner, c) = cache(DEFAULT_BUDGET_BYTES);
        let c = Arc::new(c);
        c.append_version(&obj(), v("a", b"old")).await.unwrap();
        let (reached, wait_reached) = oneshot::channel();
        let go_on = Arc::new(Notify::new());
        *inner.hold_next_read.lock().unwrap() = Some((reached, Arc::clone(&go_on)));
        let reader = {
            let c = Arc::clone(&c);
            tokio::spawn(async move { c.get_version(&obj(), None).await })
        };
        // The reader has the old value in hand; now a write lands, then the reader returns.
        wait_reached.await.unwrap();
        c.append_version(&obj(), v("b", b"new")).await.unwrap();
        go_on.notify_one();
        assert_eq!(reader.await.unwrap().unwrap().unwrap().sealed, b"old");
        assert_eq!(
            c.get_version(&obj(), None).await.unwrap().unwrap().sealed,
            b"new"
        );
    }

    #[tokio::test]
    async fn a_write_whose_caller_gave_up_still_invalidates() {
        let (_inner, c) = cache(DEFAULT_BUDGET_BYTES);
        c.append_version(&obj(), v("a", b"old")).await.unwrap();
        c.get_version(&obj(), None).await.unwrap();
        let o = obj();
        let write = c.append_version(&o, v("b", b"new"));
        // Poll once so the write's task is spawned, then drop the caller's future.
        let _ = tokio::time::timeout(std::time::Duration::ZERO, write).await;
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(
            c.get_version(&obj(), None).await.unwrap().unwrap().sealed,
            b"new"
        );
    }

    #[tokio::test]
    async fn the_budget_bounds_what_is_kept() {
        let (_inner, c) = cache(8 * 1024);
        c.append_version(&obj(), v("a", &[7u8; 512])).await.unwrap();
        c.get_version(&obj(), None).await.unwrap();
        assert!(c.cached_bytes() > 512);
        // An entry larger than an eighth of the budget is never kept.
        c.append_version(&obj(), v("b", &[7u8; 2048]))
            .await
            .unwrap();
        c.get_version(&obj(), None).await.unwrap();
        assert_eq!(c.cached_bytes(), 0);
    }
}
