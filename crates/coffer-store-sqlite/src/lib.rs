//! Embedded SQLite backend of the Coffer store.
//!
//! One writer connection behind a mutex and a few read-only ones; every trait method runs as one
//! transaction on a blocking thread (`spawn_blocking`), so SQLite never blocks the async executor.
//! Writes use `BEGIN IMMEDIATE`, so they take the write lock up front instead of failing on a lock
//! upgrade.
//!
//! Durability: WAL journal with `synchronous=FULL`, so a committed transaction is on disk before the
//! call returns and survives `kill -9` of the process and power loss. The database file, and its
//! `-wal`/`-shm` companions, are kept at mode 0600.
//!
//! The SQL stays plain (portable to PostgreSQL): SQLite-specific behaviour is confined to PRAGMAs.
//!
//! `pool.rs` opens connections (file modes, PRAGMAs) and runs transactions for both databases,
//! `migrate.rs` applies schema migrations, `docs.rs` and `objects.rs` hold the SQL of documents
//! and of versioned objects, `error.rs` classifies failures; the audit log is `audit.rs`.

use std::fmt;
use std::path::Path;

use async_trait::async_trait;
use coffer_store::{
    Deletion, Doc, DocWrite, ObjectKind, ObjectRef, ObjectSummary, Store, StoreError, Version,
};
use rusqlite::{OptionalExtension, Row, Transaction, params};

mod audit;
mod docs;
mod error;
mod migrate;
mod objects;
mod pool;

pub use audit::{AUDIT_DB_FILE, AUDIT_SCHEMA_VERSION, SqliteAuditStore};
pub use migrate::{SCHEMA_VERSION, SchemaTooNew};

use docs::{apply_doc_write, doc_from_row, make_doc};
use error::{Fail, message};
use migrate::STORE_SCHEMA;
use objects::{
    State, VERSION_COLS, insert_object, insert_version, kind_from_str, latest_version,
    list_objects_sql, object_state, reserve_seq, version_at, version_by_id,
};
use pool::Pool;

/// Coffer's embedded store on SQLite.
pub struct SqliteStore {
    /// The one connection that writes (SQLite allows one writer at a time anyway), and read-only
    /// connections, so reads neither queue behind writes nor behind each other (none for an
    /// in-memory database, whose contents only its own connection can see).
    pool: Pool,
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
        Ok(SqliteStore {
            pool: Pool::open(path, &STORE_SCHEMA, READERS)?,
        })
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Ok(SqliteStore {
            pool: Pool::open_in_memory(&STORE_SCHEMA)?,
        })
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Fail> + Send + 'static,
    {
        self.pool.read(f).await
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T, Fail> + Send + 'static,
    {
        self.pool.write(f).await
    }
}

/// A row limit as SQLite's integer (clamped, never wrapped).
fn limit_to_db(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
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
        self.append_versions(vec![(obj.clone(), version)]).await
    }

    async fn append_versions(&self, writes: Vec<(ObjectRef, Version)>) -> Result<(), StoreError> {
        self.write(move |tx| {
            for (obj, version) in &writes {
                match object_state(tx, obj)? {
                    State::Deleted(_) => return Err(StoreError::DeletedButRecoverable.into()),
                    State::Absent => insert_object(tx, obj)?,
                    State::Live => {
                        if version_by_id(tx, obj, &version.version)?.is_some() {
                            return Err(StoreError::AlreadyExists.into());
                        }
                    }
                }
                let seq = reserve_seq(tx, 1)?;
                insert_version(tx, obj, version, seq)?;
            }
            Ok(())
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
            let sql = list_objects_sql(deleted, after.is_some());
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

    async fn purge(&self, obj: &ObjectRef) -> Result<Vec<Version>, StoreError> {
        let obj = obj.clone();
        self.write(move |tx| {
            let key = params![obj.vault, obj.kind.as_str(), obj.name];
            let removed = tx
                .prepare_cached(&format!(
                    "SELECT {VERSION_COLS} FROM versions
                     WHERE vault = ?1 AND kind = ?2 AND name = ?3 ORDER BY version"
                ))?
                .query_map(key, |row| version_at(row, 0))?
                .collect::<Result<Vec<_>, _>>()?;
            tx.prepare_cached("DELETE FROM versions WHERE vault = ?1 AND kind = ?2 AND name = ?3")?
                .execute(key)?;
            let n = tx
                .prepare_cached("DELETE FROM objects WHERE vault = ?1 AND kind = ?2 AND name = ?3")?
                .execute(key)?;
            if n == 0 {
                return Err(StoreError::NotFound.into());
            }
            Ok(removed)
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

    async fn doc_kinds(&self) -> Result<Vec<String>, StoreError> {
        self.read(|tx| {
            let mut stmt = tx.prepare_cached("SELECT DISTINCT kind FROM docs ORDER BY kind")?;
            let rows = stmt.query_map([], |row| row.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .await
    }

    async fn scan_objects(
        &self,
        after: Option<&ObjectRef>,
        limit: usize,
    ) -> Result<Vec<(ObjectRef, Option<Deletion>)>, StoreError> {
        let after = after.map(|o| (o.vault.clone(), o.kind.as_str(), o.name.clone()));
        self.read(move |tx| {
            // Row values compare lexicographically, matching the ORDER BY.
            let (sql, start) = match &after {
                Some((v, k, n)) => (
                    "SELECT vault, kind, name, deleted_date, scheduled_purge_date FROM objects
                     WHERE (vault, kind, name) > (?1, ?2, ?3)
                     ORDER BY vault, kind, name LIMIT ?4",
                    Some((v.clone(), *k, n.clone())),
                ),
                None => (
                    "SELECT vault, kind, name, deleted_date, scheduled_purge_date FROM objects
                     ORDER BY vault, kind, name LIMIT ?1",
                    None,
                ),
            };
            let mut stmt = tx.prepare_cached(sql)?;
            let map = |row: &Row<'_>| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<i64>>(3)?,
                    row.get::<_, Option<i64>>(4)?,
                ))
            };
            let limit = limit_to_db(limit);
            let rows = match start {
                Some((v, k, n)) => stmt
                    .query_map(params![v, k, n, limit], map)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
                None => stmt
                    .query_map(params![limit], map)?
                    .collect::<rusqlite::Result<Vec<_>>>()?,
            };
            rows.into_iter()
                .map(|(vault, kind, name, deleted, scheduled)| {
                    Ok((
                        ObjectRef {
                            vault,
                            kind: kind_from_str(&kind)?,
                            name,
                        },
                        deleted.map(|deleted_date| Deletion {
                            deleted_date,
                            scheduled_purge_date: scheduled.unwrap_or(deleted_date),
                        }),
                    ))
                })
                .collect()
        })
        .await
    }

    async fn object_history(&self, obj: &ObjectRef) -> Result<Vec<Version>, StoreError> {
        let obj = obj.clone();
        self.read(move |tx| {
            if matches!(object_state(tx, &obj)?, State::Absent) {
                return Err(StoreError::NotFound.into());
            }
            let rows = tx
                .prepare_cached(&format!(
                    "SELECT {VERSION_COLS} FROM versions
                     WHERE vault = ?1 AND kind = ?2 AND name = ?3 ORDER BY seq"
                ))?
                .query_map(params![obj.vault, obj.kind.as_str(), obj.name], |row| {
                    version_at(row, 0)
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }
}
