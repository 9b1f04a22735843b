//! Embedded SQLite backend of the Coffer store.
//!
//! One connection behind a mutex; every trait method runs as one transaction on a blocking thread
//! (`spawn_blocking`), so SQLite never blocks the async executor. Writes use `BEGIN IMMEDIATE`, so
//! they take the write lock up front instead of failing on a lock upgrade.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a committed transaction is on disk before the
//! call returns and survives `kill -9` of the process and power loss. The database file, and its
//! `-wal`/`-shm` companions, are kept at mode 0600.
//!
//! The SQL stays plain (portable to PostgreSQL): SQLite-specific behaviour is confined to PRAGMAs.

use std::error::Error as StdError;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use coffer_store::{
    Deletion, Doc, DocMode, DocWrite, ObjectKind, ObjectRef, ObjectSummary, Store, StoreError,
    Version,
};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, ffi, params};

mod audit;
pub use audit::{AUDIT_DB_FILE, AUDIT_SCHEMA_VERSION, SqliteAuditStore};

/// Schema migrations, in order; migration `i` (0-based) brings the schema to version `i + 1`.
/// Never edit a released entry: append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: documents, objects, versions and the version sequence counter.
    "
    CREATE TABLE docs (
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        revision BIGINT NOT NULL,
        body BLOB NOT NULL,
        PRIMARY KEY (kind, id)
    );

    CREATE TABLE objects (
        vault TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('certificate', 'key', 'secret')),
        name TEXT NOT NULL,
        deleted_date BIGINT,
        scheduled_purge_date BIGINT,
        PRIMARY KEY (vault, kind, name),
        CHECK ((deleted_date IS NULL) = (scheduled_purge_date IS NULL))
    );
    CREATE INDEX objects_purge ON objects (scheduled_purge_date);

    CREATE TABLE versions (
        vault TEXT NOT NULL,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        seq BIGINT NOT NULL,
        created BIGINT NOT NULL,
        updated BIGINT NOT NULL,
        meta BLOB NOT NULL,
        sealed BLOB NOT NULL,
        PRIMARY KEY (vault, kind, name, version),
        FOREIGN KEY (vault, kind, name) REFERENCES objects (vault, kind, name) ON DELETE CASCADE
    );
    CREATE INDEX versions_latest ON versions (vault, kind, name, seq);

    CREATE TABLE counters (
        name TEXT NOT NULL PRIMARY KEY,
        value BIGINT NOT NULL
    );
    INSERT INTO counters (name, value) VALUES ('version_seq', 0);
    ",
];

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// How long a statement waits for a lock held by another connection (another process, say).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The database was written by a newer Coffer: its schema is past what this build knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaTooNew {
    /// Schema version recorded in the database.
    pub found: i64,
    /// Newest schema version this build knows.
    pub supported: i64,
}

impl fmt::Display for SchemaTooNew {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "database schema version {} is newer than this build of coffer supports ({}); \
             upgrade coffer or restore a backup made for this version",
            self.found, self.supported
        )
    }
}

impl StdError for SchemaTooNew {}

/// Coffer's embedded store on SQLite.
pub struct SqliteStore {
    /// The one connection that writes (SQLite allows one writer at a time anyway).
    conn: Arc<Mutex<Connection>>,
    /// Read-only connections, so reads neither queue behind writes nor behind each other. Empty
    /// for an in-memory database, whose contents only its own connection can see.
    readers: Vec<Arc<Mutex<Connection>>>,
    next_reader: AtomicUsize,
}

/// Read-only connections of a file database. WAL lets them read committed data while the writer
/// writes; each read transaction sees every commit acknowledged before it began.
const READERS: usize = 4;

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, applies pending migrations, and refuses a
    /// database whose schema is newer than this build knows.
    ///
    /// This blocks on file I/O; call it at startup (or inside `spawn_blocking`).
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        precreate_private(path)?;
        let mut conn = Connection::open(path).map_err(backend)?;
        configure(&conn, true)?;
        migrate(&mut conn)?;
        restrict_companions(path)?;
        let readers = (0..READERS)
            .map(|_| open_reader(path).map(|c| Arc::new(Mutex::new(c))))
            .collect::<Result<_, _>>()?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            readers,
            next_reader: AtomicUsize::new(0),
        })
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let mut conn = Connection::open_in_memory().map_err(backend)?;
        configure(&conn, false)?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
        })
    }

    /// Runs `f` in one transaction on a blocking thread; commits if it returns `Ok`, rolls back
    /// otherwise.
    async fn run<T, F>(
        conn: Arc<Mutex<Connection>>,
        behavior: TransactionBehavior,
        f: F,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Fail> + Send + 'static,
    {
        let joined = tokio::task::spawn_blocking(move || -> Result<T, Fail> {
            let mut guard = conn
                .lock()
                .map_err(|_| Fail::Store(message("database connection mutex is poisoned")))?;
            let tx = guard.transaction_with_behavior(behavior)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await;
        match joined {
            Ok(result) => result.map_err(Fail::into_store),
            Err(join) => Err(StoreError::Backend(Box::new(join))),
        }
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Fail> + Send + 'static,
    {
        let conn = if self.readers.is_empty() {
            Arc::clone(&self.conn)
        } else {
            let i = self.next_reader.fetch_add(1, Ordering::Relaxed) % self.readers.len();
            Arc::clone(&self.readers[i])
        };
        Self::run(conn, TransactionBehavior::Deferred, f).await
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Fail> + Send + 'static,
    {
        Self::run(Arc::clone(&self.conn), TransactionBehavior::Immediate, f).await
    }
}

// === opening ===

/// Creates the database file with mode 0600 if it is absent, and narrows it to 0600 if it exists.
#[cfg(unix)]
fn precreate_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(backend)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(backend)
}

#[cfg(not(unix))]
fn precreate_private(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

/// SQLite gives `-wal` and `-shm` the mode of the database file; this narrows any that predate
/// it (left by an older, laxer setup).
#[cfg(unix)]
fn restrict_companions(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::metadata(&name) {
            Ok(meta) if meta.permissions().mode() & 0o777 != 0o600 => {
                std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600))
                    .map_err(backend)?;
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(backend(e)),
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict_companions(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

fn configure(conn: &Connection, file: bool) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    if file {
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(backend)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(message(format!(
                "could not switch the database to WAL journal mode (it reports {mode:?}); \
                 is it on a filesystem without shared-memory support?"
            )));
        }
    }
    // SQLite ignores PRAGMAs it cannot honour without an error, so read each one back.
    for (pragma, value, expected) in [("synchronous", "FULL", 2), ("foreign_keys", "ON", 1)] {
        conn.pragma_update(None, pragma, value).map_err(backend)?;
        let got: i64 = conn
            .pragma_query_value(None, pragma, |row| row.get(0))
            .map_err(backend)?;
        if got != expected {
            return Err(message(format!(
                "PRAGMA {pragma} = {value} did not take effect (it reports {got})"
            )));
        }
    }
    Ok(())
}

/// A read-only connection to an already configured and migrated database file.
fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let flags =
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(backend)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    Ok(conn)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Applies pending migrations, one transaction each, and refuses a schema newer than this build.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )",
    )
    .map_err(backend)?;
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let current: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                [],
                |row| row.get(0),
            )
            .map_err(backend)?;
        if current > SCHEMA_VERSION {
            return Err(StoreError::Backend(Box::new(SchemaTooNew {
                found: current,
                supported: SCHEMA_VERSION,
            })));
        }
        let Some(sql) = usize::try_from(current)
            .ok()
            .and_then(|applied| MIGRATIONS.get(applied))
        else {
            // Up to date (`current == SCHEMA_VERSION`); a negative version cannot be written by us.
            if current < 0 {
                return Err(message(format!(
                    "schema_migrations holds an invalid version {current}"
                )));
            }
            return Ok(());
        };
        tx.execute_batch(sql).map_err(backend)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![current + 1, unix_now()],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)?;
    }
}

// === errors ===

/// Failure inside a transaction: a semantic outcome, or a SQLite error still to be classified.
enum Fail {
    Store(StoreError),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sql(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    fn into_store(self) -> StoreError {
        match self {
            Fail::Store(e) => e,
            Fail::Sql(e) if is_unique_violation(&e) => StoreError::AlreadyExists,
            Fail::Sql(e) => backend(e),
        }
    }
}

/// A primary-key or unique constraint violation: something with that identity exists. Other
/// constraint failures (foreign key, check, not null) are bugs or corruption, hence `Backend`.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(err, _)
            if err.code == ffi::ErrorCode::ConstraintViolation
                && (err.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || err.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE)
    )
}

fn backend<E: StdError + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend(Box::new(e))
}

fn message(text: impl Into<String>) -> StoreError {
    StoreError::Backend(Box::<dyn StdError + Send + Sync>::from(text.into()))
}

// === row helpers ===

fn kind_from_str(s: &str) -> Result<ObjectKind, Fail> {
    match s {
        "certificate" => Ok(ObjectKind::Certificate),
        "key" => Ok(ObjectKind::Key),
        "secret" => Ok(ObjectKind::Secret),
        other => Err(Fail::Store(message(format!(
            "unknown object kind {other:?} in the database"
        )))),
    }
}

fn revision_from_db(r: i64) -> Result<u64, Fail> {
    u64::try_from(r).map_err(|_| Fail::Store(message(format!("negative document revision {r}"))))
}

fn limit_to_db(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Columns: version, created, updated, meta, sealed (starting at `at`).
fn version_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Version> {
    Ok(Version {
        version: row.get(at)?,
        created: row.get(at + 1)?,
        updated: row.get(at + 2)?,
        meta: row.get(at + 3)?,
        sealed: row.get(at + 4)?,
    })
}

const VERSION_COLS: &str = "version, created, updated, meta, sealed";

/// Where an object stands.
enum State {
    Absent,
    Live,
    Deleted(Deletion),
}

fn object_state(tx: &Transaction<'_>, obj: &ObjectRef) -> Result<State, Fail> {
    let row = tx
        .prepare_cached(
            "SELECT deleted_date, scheduled_purge_date FROM objects
             WHERE vault = ?1 AND kind = ?2 AND name = ?3",
        )?
        .query_row(params![obj.vault, obj.kind.as_str(), obj.name], |row| {
            Ok((row.get::<_, Option<i64>>(0)?, row.get::<_, Option<i64>>(1)?))
        })
        .optional()?;
    Ok(match row {
        None => State::Absent,
        Some((None, _)) => State::Live,
        Some((Some(deleted_date), scheduled)) => State::Deleted(Deletion {
            deleted_date,
            scheduled_purge_date: scheduled.unwrap_or(deleted_date),
        }),
    })
}

fn latest_version(tx: &Transaction<'_>, obj: &ObjectRef) -> Result<Option<Version>, Fail> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {VERSION_COLS} FROM versions
             WHERE vault = ?1 AND kind = ?2 AND name = ?3
             ORDER BY seq DESC LIMIT 1"
        ))?
        .query_row(params![obj.vault, obj.kind.as_str(), obj.name], |row| {
            version_at(row, 0)
        })
        .optional()?)
}

fn version_by_id(tx: &Transaction<'_>, obj: &ObjectRef, id: &str) -> Result<Option<Version>, Fail> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {VERSION_COLS} FROM versions
             WHERE vault = ?1 AND kind = ?2 AND name = ?3 AND version = ?4"
        ))?
        .query_row(params![obj.vault, obj.kind.as_str(), obj.name, id], |row| {
            version_at(row, 0)
        })
        .optional()?)
}

/// Reserves `count` numbers of the per-database version sequence; returns the first.
fn reserve_seq(tx: &Transaction<'_>, count: usize) -> Result<i64, Fail> {
    let count = i64::try_from(count).map_err(|_| Fail::Store(message("too many versions")))?;
    let changed = tx.execute(
        "UPDATE counters SET value = value + ?1 WHERE name = 'version_seq'",
        params![count],
    )?;
    if changed != 1 {
        return Err(Fail::Store(message("the version_seq counter is missing")));
    }
    let last: i64 = tx.query_row(
        "SELECT value FROM counters WHERE name = 'version_seq'",
        [],
        |row| row.get(0),
    )?;
    Ok(last - count + 1)
}

fn insert_object(tx: &Transaction<'_>, obj: &ObjectRef) -> Result<(), Fail> {
    tx.prepare_cached(
        "INSERT INTO objects (vault, kind, name, deleted_date, scheduled_purge_date)
         VALUES (?1, ?2, ?3, NULL, NULL)",
    )?
    .execute(params![obj.vault, obj.kind.as_str(), obj.name])?;
    Ok(())
}

fn insert_version(
    tx: &Transaction<'_>,
    obj: &ObjectRef,
    v: &Version,
    seq: i64,
) -> Result<(), Fail> {
    tx.prepare_cached(
        "INSERT INTO versions (vault, kind, name, version, seq, created, updated, meta, sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        obj.vault,
        obj.kind.as_str(),
        obj.name,
        v.version,
        seq,
        v.created,
        v.updated,
        v.meta,
        v.sealed
    ])?;
    Ok(())
}

fn apply_doc_write(tx: &Transaction<'_>, write: DocWrite) -> Result<(), Fail> {
    match write {
        DocWrite::Put {
            kind,
            id,
            body,
            mode,
        } => {
            let current: Option<i64> = tx
                .prepare_cached("SELECT revision FROM docs WHERE kind = ?1 AND id = ?2")?
                .query_row(params![kind, id], |row| row.get(0))
                .optional()?;
            let next = match (mode, current) {
                (DocMode::Create, Some(_)) => return Err(StoreError::AlreadyExists.into()),
                (DocMode::Create | DocMode::Overwrite, None) => None,
                (DocMode::Overwrite, Some(rev)) => Some(rev),
                (DocMode::Update(want), Some(rev)) if i64::try_from(want) == Ok(rev) => Some(rev),
                (DocMode::Update(_), _) => return Err(StoreError::PreconditionFailed.into()),
            };
            match next {
                None => {
                    tx.prepare_cached(
                        "INSERT INTO docs (kind, id, revision, body) VALUES (?1, ?2, 1, ?3)",
                    )?
                    .execute(params![kind, id, body])?;
                }
                Some(rev) => {
                    let bumped = rev
                        .checked_add(1)
                        .ok_or_else(|| Fail::Store(message("document revision overflow")))?;
                    tx.prepare_cached(
                        "UPDATE docs SET revision = ?3, body = ?4 WHERE kind = ?1 AND id = ?2",
                    )?
                    .execute(params![kind, id, bumped, body])?;
                }
            }
        }
        DocWrite::Delete { kind, id } => {
            let n = tx
                .prepare_cached("DELETE FROM docs WHERE kind = ?1 AND id = ?2")?
                .execute(params![kind, id])?;
            if n == 0 {
                return Err(StoreError::NotFound.into());
            }
        }
    }
    Ok(())
}

fn doc_from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, i64, Vec<u8>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn make_doc((kind, id, rev, body): (String, String, i64, Vec<u8>)) -> Result<Doc, Fail> {
    Ok(Doc {
        kind,
        id,
        revision: revision_from_db(rev)?,
        body,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn get_doc(&self, kind: &str, id: &str) -> Result<Option<Doc>, StoreError> {
        let (kind, id) = (kind.to_owned(), id.to_owned());
        self.read(move |tx| {
            let row = tx
                .prepare_cached(
                    "SELECT kind, id, revision, body FROM docs WHERE kind = ?1 AND id = ?2",
                )?
                .query_row(params![kind, id], doc_from_row)
                .optional()?;
            row.map(make_doc).transpose()
        })
        .await
    }

    async fn list_docs(&self, kind: &str) -> Result<Vec<Doc>, StoreError> {
        let kind = kind.to_owned();
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT kind, id, revision, body FROM docs WHERE kind = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![kind], doc_from_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(make_doc(row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn write_docs(&self, writes: Vec<DocWrite>) -> Result<(), StoreError> {
        self.write(move |tx| {
            for w in writes {
                apply_doc_write(tx, w)?;
            }
            Ok(())
        })
        .await
    }

    async fn append_version(&self, obj: &ObjectRef, version: Version) -> Result<(), StoreError> {
        let obj = obj.clone();
        self.write(move |tx| {
            match object_state(tx, &obj)? {
                State::Deleted(_) => return Err(StoreError::DeletedButRecoverable.into()),
                State::Absent => insert_object(tx, &obj)?,
                State::Live => {
                    if version_by_id(tx, &obj, &version.version)?.is_some() {
                        return Err(StoreError::AlreadyExists.into());
                    }
                }
            }
            let seq = reserve_seq(tx, 1)?;
            insert_version(tx, &obj, &version, seq)
        })
        .await
    }

    async fn get_version(
        &self,
        obj: &ObjectRef,
        version: Option<&str>,
    ) -> Result<Option<Version>, StoreError> {
        let obj = obj.clone();
        let version = version.map(str::to_owned);
        self.read(move |tx| {
            if !matches!(object_state(tx, &obj)?, State::Live) {
                return Ok(None);
            }
            match version {
                None => latest_version(tx, &obj),
                Some(id) => version_by_id(tx, &obj, &id),
            }
        })
        .await
    }

    async fn update_version(
        &self,
        obj: &ObjectRef,
        version: &str,
        meta: Vec<u8>,
        updated: i64,
    ) -> Result<Version, StoreError> {
        let obj = obj.clone();
        let version = version.to_owned();
        self.write(move |tx| {
            if !matches!(object_state(tx, &obj)?, State::Live) {
                return Err(StoreError::NotFound.into());
            }
            let n = tx
                .prepare_cached(
                    "UPDATE versions SET meta = ?5, updated = ?6
                     WHERE vault = ?1 AND kind = ?2 AND name = ?3 AND version = ?4",
                )?
                .execute(params![
                    obj.vault,
                    obj.kind.as_str(),
                    obj.name,
                    version,
                    meta,
                    updated
                ])?;
            if n == 0 {
                return Err(StoreError::NotFound.into());
            }
            version_by_id(tx, &obj, &version)?
                .ok_or_else(|| Fail::Store(message("updated version vanished")))
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
        let vault = vault.to_owned();
        let after = after.map(str::to_owned);
        self.read(move |tx| {
            let namespace = if deleted {
                "o.deleted_date IS NOT NULL"
            } else {
                "o.deleted_date IS NULL"
            };
            let page = if after.is_some() {
                "AND o.name > ?3"
            } else {
                ""
            };
            let limit_param = if after.is_some() { "?4" } else { "?3" };
            let sql = format!(
                "SELECT o.name, o.deleted_date, o.scheduled_purge_date,
                        v.version, v.created, v.updated, v.meta, v.sealed
                 FROM objects o
                 JOIN versions v ON v.vault = o.vault AND v.kind = o.kind AND v.name = o.name
                 WHERE o.vault = ?1 AND o.kind = ?2 AND {namespace} {page}
                   AND v.seq = (SELECT MAX(v2.seq) FROM versions v2
                                WHERE v2.vault = o.vault AND v2.kind = o.kind AND v2.name = o.name)
                 ORDER BY o.name
                 LIMIT {limit_param}"
            );
            let mut stmt = tx.prepare_cached(&sql)?;
            let map = |row: &Row<'_>| -> rusqlite::Result<ObjectSummary> {
                let deleted_date: Option<i64> = row.get(1)?;
                let scheduled: Option<i64> = row.get(2)?;
                Ok(ObjectSummary {
                    name: row.get(0)?,
                    latest: version_at(row, 3)?,
                    deletion: deleted_date.map(|deleted_date| Deletion {
                        deleted_date,
                        scheduled_purge_date: scheduled.unwrap_or(deleted_date),
                    }),
                })
            };
            let limit = limit_to_db(limit);
            let rows = match &after {
                Some(after) => stmt
                    .query_map(params![vault, kind.as_str(), after, limit], map)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                None => stmt
                    .query_map(params![vault, kind.as_str(), limit], map)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            };
            Ok(rows)
        })
        .await
    }

    async fn list_versions(
        &self,
        obj: &ObjectRef,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError> {
        let obj = obj.clone();
        let after = after.map(str::to_owned);
        self.read(move |tx| {
            if !matches!(object_state(tx, &obj)?, State::Live) {
                return Err(StoreError::NotFound.into());
            }
            let limit = limit_to_db(limit);
            let rows = match &after {
                Some(after) => tx
                    .prepare_cached(&format!(
                        "SELECT {VERSION_COLS} FROM versions
                         WHERE vault = ?1 AND kind = ?2 AND name = ?3 AND version > ?4
                         ORDER BY version LIMIT ?5"
                    ))?
                    .query_map(
                        params![obj.vault, obj.kind.as_str(), obj.name, after, limit],
                        |row| version_at(row, 0),
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                None => tx
                    .prepare_cached(&format!(
                        "SELECT {VERSION_COLS} FROM versions
                         WHERE vault = ?1 AND kind = ?2 AND name = ?3
                         ORDER BY version LIMIT ?4"
                    ))?
                    .query_map(
                        params![obj.vault, obj.kind.as_str(), obj.name, limit],
                        |row| version_at(row, 0),
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            };
            Ok(rows)
        })
        .await
    }

    async fn soft_delete(&self, obj: &ObjectRef, deletion: Deletion) -> Result<(), StoreError> {
        let obj = obj.clone();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE objects SET deleted_date = ?4, scheduled_purge_date = ?5
                     WHERE vault = ?1 AND kind = ?2 AND name = ?3 AND deleted_date IS NULL",
                )?
                .execute(params![
                    obj.vault,
                    obj.kind.as_str(),
                    obj.name,
                    deletion.deleted_date,
                    deletion.scheduled_purge_date
                ])?;
            if n == 0 {
                return Err(StoreError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn get_deleted(&self, obj: &ObjectRef) -> Result<Option<ObjectSummary>, StoreError> {
        let obj = obj.clone();
        self.read(move |tx| {
            let State::Deleted(deletion) = object_state(tx, &obj)? else {
                return Ok(None);
            };
            let latest = latest_version(tx, &obj)?
                .ok_or_else(|| Fail::Store(message("deleted object has no versions")))?;
            Ok(Some(ObjectSummary {
                name: obj.name,
                latest,
                deletion: Some(deletion),
            }))
        })
        .await
    }

    async fn recover(&self, obj: &ObjectRef) -> Result<(), StoreError> {
        let obj = obj.clone();
        self.write(move |tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE objects SET deleted_date = NULL, scheduled_purge_date = NULL
                     WHERE vault = ?1 AND kind = ?2 AND name = ?3 AND deleted_date IS NOT NULL",
                )?
                .execute(params![obj.vault, obj.kind.as_str(), obj.name])?;
            if n == 0 {
                return Err(StoreError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn purge(&self, obj: &ObjectRef) -> Result<(), StoreError> {
        let obj = obj.clone();
        self.write(move |tx| {
            let key = params![obj.vault, obj.kind.as_str(), obj.name];
            tx.prepare_cached("DELETE FROM versions WHERE vault = ?1 AND kind = ?2 AND name = ?3")?
                .execute(key)?;
            let n = tx
                .prepare_cached("DELETE FROM objects WHERE vault = ?1 AND kind = ?2 AND name = ?3")?
                .execute(key)?;
            if n == 0 {
                return Err(StoreError::NotFound.into());
            }
            Ok(())
        })
        .await
    }

    async fn restore(&self, obj: &ObjectRef, versions: Vec<Version>) -> Result<(), StoreError> {
        let obj = obj.clone();
        self.write(move |tx| {
            match object_state(tx, &obj)? {
                State::Live => return Err(StoreError::AlreadyExists.into()),
                State::Deleted(_) => return Err(StoreError::DeletedButRecoverable.into()),
                State::Absent => {}
            }
            if versions.is_empty() {
                return Err(Fail::Store(message("restore needs at least one version")));
            }
            insert_object(tx, &obj)?;
            let first = reserve_seq(tx, versions.len())?;
            for (seq, v) in (first..).zip(&versions) {
                // A repeated version id in the backup violates the primary key: AlreadyExists,
                // and the whole restore rolls back.
                insert_version(tx, &obj, v, seq)?;
            }
            Ok(())
        })
        .await
    }

    async fn due_for_purge(&self, now: i64, limit: usize) -> Result<Vec<ObjectRef>, StoreError> {
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(
                "SELECT vault, kind, name FROM objects
                 WHERE deleted_date IS NOT NULL AND scheduled_purge_date <= ?1
                 ORDER BY scheduled_purge_date, vault, kind, name
                 LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![now, limit_to_db(limit)], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (vault, kind, name) = row?;
                out.push(ObjectRef {
                    vault,
                    kind: kind_from_str(&kind)?,
                    name,
                });
            }
            Ok(out)
        })
        .await
    }
}
