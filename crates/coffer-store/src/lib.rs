//! The storage contract of Coffer: a narrow, backend-neutral store of versioned vault objects
//! (secrets, keys, certificates) with soft-delete states, and of small configuration documents
//! (tenants, vaults, applications, signing keys).
//!
//! This crate must never depend on a concrete database. Everything secret reaches a store only as
//! ciphertext sealed by the service layer; a store sees opaque bytes. Every method is one
//! transaction: it either happens completely or not at all, and once it returns `Ok` the change is
//! durable.
//!
//! The audit log has its own contract, [`AuditStore`], so a backend can keep it apart.

mod audit;
#[cfg(feature = "conformance")]
pub mod audit_conformance;
pub mod cache;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod copy;
pub mod timed;

use async_trait::async_trait;

pub use audit::{AuditOrder, AuditQuery, AuditRecord, AuditStore, StoredAudit};

/// What kind of vault object a record belongs to. Each kind has its own namespace in a vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjectKind {
    Certificate,
    Key,
    Secret,
}

impl ObjectKind {
    /// Stable lowercase tag used by backends as a column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Certificate => "certificate",
            Self::Key => "key",
            Self::Secret => "secret",
        }
    }

    /// The kind a tag of [`ObjectKind::as_str`] names, as a backend reads it back.
    pub fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "certificate" => Some(Self::Certificate),
            "key" => Some(Self::Key),
            "secret" => Some(Self::Secret),
            _ => None,
        }
    }
}

/// Names one object (all of its versions) in one vault.
///
/// `name` is the canonical (lowercased) name: Key Vault names are case-insensitive, so the service
/// canonicalises before calling the store and keeps the display spelling in `meta`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ObjectRef {
    pub vault: String,
    pub kind: ObjectKind,
    pub name: String,
}

/// One version of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// Version id, unique within the object (32 lowercase hex characters in practice).
    pub version: String,
    /// Unix seconds.
    pub created: i64,
    /// Unix seconds.
    pub updated: i64,
    /// Service-defined, non-secret metadata (attributes, tags, content type), opaque to the store.
    pub meta: Vec<u8>,
    /// Sealed (encrypted and authenticated) payload, opaque to the store.
    pub sealed: Vec<u8>,
}

/// Soft-delete state of an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deletion {
    /// Unix seconds.
    pub deleted_date: i64,
    /// Unix seconds after which the object may be purged automatically.
    pub scheduled_purge_date: i64,
}

/// An object as listed: its latest version and, in the deleted namespace, its deletion state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectSummary {
    pub name: String,
    pub latest: Version,
    pub deletion: Option<Deletion>,
}

/// A configuration document (tenant, vault, application, signing key...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doc {
    pub kind: String,
    pub id: String,
    /// Starts at 1 and grows by one on every write; used for optimistic concurrency.
    pub revision: u64,
    pub body: Vec<u8>,
}

/// Precondition of a document write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocMode {
    /// The document must not exist yet.
    Create,
    /// Write whatever is there.
    Overwrite,
    /// The document must exist at exactly this revision; otherwise, absent included,
    /// `PreconditionFailed`.
    Update(u64),
}

/// One document write inside an atomic batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocWrite {
    Put {
        kind: String,
        id: String,
        body: Vec<u8>,
        mode: DocMode,
    },
    Delete {
        kind: String,
        id: String,
    },
}

/// Semantic storage errors; backend causes are boxed as the source of `Backend`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The object or document exists, or a version id is taken.
    #[error("already exists")]
    AlreadyExists,
    /// The name is held by a soft-deleted object, so it cannot be reused until recovered or purged.
    #[error("object is deleted but recoverable")]
    DeletedButRecoverable,
    /// The object, version or document does not exist.
    #[error("not found")]
    NotFound,
    /// A document precondition (`DocMode::Update`) did not hold.
    #[error("precondition failed")]
    PreconditionFailed,
    /// The backend cannot be reached now (connection refused or lost, pool exhausted, the
    /// database shutting down): nothing was changed, or, for a commit whose answer was lost,
    /// nothing was acknowledged. Worth retrying later; callers answer 503.
    #[error("storage backend unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The backend failed (I/O, corruption, an unexpected answer).
    #[error("storage backend failure: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The storage contract. Object safe: callers hold an `Arc<dyn Store>`.
#[async_trait]
pub trait Store: Send + Sync {
    // === documents ===

    async fn get_doc(&self, kind: &str, id: &str) -> Result<Option<Doc>, StoreError>;

    /// All documents of a kind, ordered by id.
    async fn list_docs(&self, kind: &str) -> Result<Vec<Doc>, StoreError>;

    /// Applies all writes atomically, or none; in order, so a later write sees the earlier ones.
    /// `Delete` of a missing document is `NotFound`.
    async fn write_docs(&self, writes: Vec<DocWrite>) -> Result<(), StoreError>;

    // === objects ===

    /// Adds a version to an object, creating the object if needed. The new version becomes the
    /// latest. `DeletedButRecoverable` if the name is soft-deleted; `AlreadyExists` if the version
    /// id is taken.
    async fn append_version(&self, obj: &ObjectRef, version: Version) -> Result<(), StoreError>;

    /// Adds one version to each of several objects (of any kinds) in one transaction: all of
    /// them or none, each with `append_version`'s rules. A certificate's version, its managed
    /// key's and its managed secret's are written this way.
    async fn append_versions(&self, writes: Vec<(ObjectRef, Version)>) -> Result<(), StoreError>;

    /// A version of a live (not deleted) object; `None` asks for the latest. `Ok(None)` if absent.
    async fn get_version(
        &self,
        obj: &ObjectRef,
        version: Option<&str>,
    ) -> Result<Option<Version>, StoreError>;

    /// Replaces the metadata and `updated` of one version of a live object; returns the new record.
    async fn update_version(
        &self,
        obj: &ObjectRef,
        version: &str,
        meta: Vec<u8>,
        updated: i64,
    ) -> Result<Version, StoreError>;

    /// One page of objects of a kind in a vault, ordered by name, starting after `after`
    /// (exclusive). `deleted` picks the live or the soft-deleted namespace.
    async fn list_objects(
        &self,
        vault: &str,
        kind: ObjectKind,
        deleted: bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectSummary>, StoreError>;

    /// One page of the versions of a live object, ordered by version id, after `after` (exclusive).
    /// `NotFound` if the object is absent or deleted.
    async fn list_versions(
        &self,
        obj: &ObjectRef,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError>;

    /// Moves a live object into the deleted namespace. `NotFound` if it is not live.
    async fn soft_delete(&self, obj: &ObjectRef, deletion: Deletion) -> Result<(), StoreError>;

    /// A soft-deleted object with its latest version. `Ok(None)` if not in the deleted namespace.
    async fn get_deleted(&self, obj: &ObjectRef) -> Result<Option<ObjectSummary>, StoreError>;

    /// Moves a soft-deleted object back. `NotFound` if it is not soft-deleted.
    async fn recover(&self, obj: &ObjectRef) -> Result<(), StoreError>;

    /// Removes an object and all its versions for good, live or deleted, and returns the
    /// versions it removed (in version order), so a caller can release what they referenced,
    /// such as keys held in an HSM. `NotFound` if absent.
    async fn purge(&self, obj: &ObjectRef) -> Result<Vec<Version>, StoreError>;

    /// Creates an object from a backup with all its versions (the last one in the list is the
    /// latest). `AlreadyExists` if the name is live, `DeletedButRecoverable` if soft-deleted.
    async fn restore(&self, obj: &ObjectRef, versions: Vec<Version>) -> Result<(), StoreError>;

    /// Soft-deleted objects whose scheduled purge date is at or before `now`, at most `limit`.
    async fn due_for_purge(&self, now: i64, limit: usize) -> Result<Vec<ObjectRef>, StoreError>;

    // === copying a whole store (`coffer migrate`) ===

    /// The kinds of document the store holds, in order.
    async fn doc_kinds(&self) -> Result<Vec<String>, StoreError>;

    /// One page of every object in the store, live or soft-deleted (with its deletion state),
    /// ordered by vault, kind and name, after `after` (exclusive).
    async fn scan_objects(
        &self,
        after: Option<&ObjectRef>,
        limit: usize,
    ) -> Result<Vec<(ObjectRef, Option<Deletion>)>, StoreError>;

    /// Every version of an object, live or soft-deleted, in the order they were added (the last
    /// is the latest), as [`Store::restore`] takes them. `NotFound` if absent.
    async fn object_history(&self, obj: &ObjectRef) -> Result<Vec<Version>, StoreError>;
}
