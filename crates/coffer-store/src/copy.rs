//! Copying a whole store, audit log included, into an empty one (`coffer migrate`), and the
//! inventory both sides are checked with: counts and a SHA-256 over a canonical encoding of
//! everything, read in a fixed order (document kinds, then ids; objects by vault, kind and name,
//! each with its versions in the order they were added; audit records oldest first).
//!
//! Sealed payloads are copied as the opaque bytes they are, so the target needs the same root
//! key. What the encoding leaves out, because a copy cannot keep it: document revisions (they
//! restart at 1) and audit sequence numbers (renumbered in order).

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest;

use crate::{
    AuditOrder, AuditQuery, AuditRecord, AuditStore, Deletion, Doc, DocMode, DocWrite, ObjectRef,
    Store, StoreError, Version,
};

const PAGE: usize = 500;

/// What a store holds, as counted and hashed by [`inventory`] (and by [`copy`] on its source).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub docs: u64,
    pub objects: u64,
    pub deleted_objects: u64,
    pub versions: u64,
    pub audit_records: u64,
    /// SHA-256 of the canonical encoding, lowercase hex.
    pub checksum: String,
}

impl fmt::Display for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} documents, {} objects ({} soft-deleted), {} versions, {} audit records, sha256 {}",
            self.docs,
            self.objects,
            self.deleted_objects,
            self.versions,
            self.audit_records,
            self.checksum
        )
    }
}

/// How far a copy has got, for a progress bar: `total` once the source is counted, then
/// `advance` per item copied (a document, an object with its versions, an audit record).
pub trait Progress: Send + Sync {
    fn total(&self, items: u64);
    fn advance(&self, items: u64);
}

/// A progress that shows nothing.
pub struct Silent;

impl Progress for Silent {
    fn total(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// Why a copy did not happen or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the target already holds data ({0}); copy only into an empty store")]
    TargetNotEmpty(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Whether a store and its audit log hold nothing.
pub async fn is_empty(store: &dyn Store, audit: &dyn AuditStore) -> Result<bool, StoreError> {
    Ok(store.doc_kinds().await?.is_empty()
        && store.scan_objects(None, 1).await?.is_empty()
        && audit
            .query(&AuditQuery {
                limit: 1,
                ..AuditQuery::default()
            })
            .await?
            .is_empty())
}

/// Counts and hashes everything in a store and its audit log.
pub async fn inventory(store: &dyn Store, audit: &dyn AuditStore) -> Result<Inventory, StoreError> {
    let mut walk = Walk::new(None);
    walk.run(store, audit, &Silent).await?;
    Ok(walk.finish())
}

/// Copies `from` into `to`, which must be empty, and returns the source's inventory as read
/// while copying. Check the target against it with [`inventory`].
pub async fn copy(
    from: (&dyn Store, &dyn AuditStore),
    to: (&dyn Store, &dyn AuditStore),
    progress: &dyn Progress,
) -> Result<Inventory, CopyError> {
    if !is_empty(to.0, to.1).await? {
        let found = inventory(to.0, to.1).await?;
        return Err(CopyError::TargetNotEmpty(found.to_string()));
    }
    progress.total(count(from.0, from.1).await?);
    let mut walk = Walk::new(Some(to));
    walk.run(from.0, from.1, progress).await?;
    Ok(walk.finish())
}

/// Items a copy will visit: documents, objects and audit records.
async fn count(store: &dyn Store, audit: &dyn AuditStore) -> Result<u64, StoreError> {
    let mut n: u64 = 0;
    for kind in store.doc_kinds().await? {
        n += len(store.list_docs(&kind).await?.len());
    }
    let mut after: Option<ObjectRef> = None;
    loop {
        let page = store.scan_objects(after.as_ref(), PAGE).await?;
        n += len(page.len());
        match page.last() {
            Some((last, _)) if page.len() == PAGE => after = Some(last.clone()),
            _ => break,
        }
    }
    let mut after_seq = None;
    loop {
        let page = audit_page(audit, after_seq).await?;
        n += len(page.len());
        match page.last() {
            Some(last) if page.len() == PAGE => after_seq = Some(last.seq),
            _ => break,
        }
    }
    Ok(n)
}

fn len(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

async fn audit_page(
    audit: &dyn AuditStore,
    after_seq: Option<u64>,
) -> Result<Vec<crate::StoredAudit>, StoreError> {
    audit
        .query(&AuditQuery {
            after_seq,
            limit: PAGE,
            order: AuditOrder::OldestFirst,
            ..AuditQuery::default()
        })
        .await
}

/// One pass over a store in canonical order: hashing and counting, and writing into a target
/// when there is one.
struct Walk<'t> {
    to: Option<(&'t dyn Store, &'t dyn AuditStore)>,
    hash: digest::Context,
    counts: Inventory,
}

impl<'t> Walk<'t> {
    fn new(to: Option<(&'t dyn Store, &'t dyn AuditStore)>) -> Self {
        Self {
            to,
            hash: digest::Context::new(&digest::SHA256),
            counts: Inventory::default(),
        }
    }

    fn field(&mut self, bytes: &[u8]) {
        self.hash.update(&len(bytes.len()).to_be_bytes());
        self.hash.update(bytes);
    }

    fn int(&mut self, n: i64) {
        self.hash.update(&n.to_be_bytes());
    }

    async fn run(
        &mut self,
        store: &dyn Store,
        audit: &dyn AuditStore,
        progress: &dyn Progress,
    ) -> Result<(), StoreError> {
        self.docs(store, progress).await?;
        self.objects(store, progress).await?;
        self.audit(audit, progress).await
    }

    async fn docs(&mut self, store: &dyn Store, progress: &dyn Progress) -> Result<(), StoreError> {
        for kind in store.doc_kinds().await? {
            let docs = store.list_docs(&kind).await?;
            for chunk in docs.chunks(PAGE) {
                for d in chunk {
                    self.doc(d);
                }
                if let Some((to, _)) = self.to {
                    let writes = chunk
                        .iter()
                        .map(|d| DocWrite::Put {
                            kind: d.kind.clone(),
                            id: d.id.clone(),
                            body: d.body.clone(),
                            mode: DocMode::Create,
                        })
                        .collect();
                    to.write_docs(writes).await?;
                }
                progress.advance(len(chunk.len()));
            }
        }
        Ok(())
    }

    fn doc(&mut self, d: &Doc) {
        self.hash.update(b"D");
        self.field(d.kind.as_bytes());
        self.field(d.id.as_bytes());
        self.field(&d.body);
        self.counts.docs += 1;
    }

    async fn objects(
        &mut self,
        store: &dyn Store,
        progress: &dyn Progress,
    ) -> Result<(), StoreError> {
        let mut after: Option<ObjectRef> = None;
        loop {
            let page = store.scan_objects(after.as_ref(), PAGE).await?;
            for (obj, deletion) in &page {
                let history = store.object_history(obj).await?;
                self.object(obj, deletion.as_ref(), &history);
                if let Some((to, _)) = self.to {
                    to.restore(obj, history).await?;
                    if let Some(d) = deletion {
                        to.soft_delete(obj, d.clone()).await?;
                    }
                }
                progress.advance(1);
            }
            match page.last() {
                Some((last, _)) if page.len() == PAGE => after = Some(last.clone()),
                _ => return Ok(()),
            }
        }
    }

    fn object(&mut self, obj: &ObjectRef, deletion: Option<&Deletion>, history: &[Version]) {
        self.hash.update(b"O");
        self.field(obj.vault.as_bytes());
        self.field(obj.kind.as_str().as_bytes());
        self.field(obj.name.as_bytes());
        match deletion {
            Some(d) => {
                self.hash.update(b"d");
                self.int(d.deleted_date);
                self.int(d.scheduled_purge_date);
                self.counts.deleted_objects += 1;
            }
            None => self.hash.update(b"l"),
        }
        self.int(i64::try_from(history.len()).unwrap_or(i64::MAX));
        for v in history {
            self.field(v.version.as_bytes());
            self.int(v.created);
            self.int(v.updated);
            self.field(&v.meta);
            self.field(&v.sealed);
        }
        self.counts.objects += 1;
        self.counts.versions += len(history.len());
    }

    async fn audit(
        &mut self,
        audit: &dyn AuditStore,
        progress: &dyn Progress,
    ) -> Result<(), StoreError> {
        let mut after_seq = None;
        loop {
            let page = audit_page(audit, after_seq).await?;
            for s in &page {
                self.record(&s.record);
            }
            if let (Some((_, to)), false) = (self.to, page.is_empty()) {
                let batch: Arc<[AuditRecord]> = page.iter().map(|s| s.record.clone()).collect();
                to.append(batch).await?;
            }
            progress.advance(len(page.len()));
            match page.last() {
                Some(last) if page.len() == PAGE => after_seq = Some(last.seq),
                _ => return Ok(()),
            }
        }
    }

    fn record(&mut self, r: &AuditRecord) {
        self.hash.update(b"A");
        self.field(r.vault.as_bytes());
        self.int(r.time_ms);
        self.int(i64::from(r.status));
        self.field(r.operation.as_bytes());
        match &r.caller_oid {
            Some(o) => {
                self.hash.update(b"c");
                self.field(o.as_bytes());
            }
            None => self.hash.update(b"-"),
        }
        self.field(r.request_id.as_bytes());
        self.field(&r.body);
        self.counts.audit_records += 1;
    }

    fn finish(self) -> Inventory {
        let digest = self.hash.finish();
        let checksum = digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        Inventory {
            checksum,
            ..self.counts
        }
    }
}
