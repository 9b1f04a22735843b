//! PostgreSQL backend of the Coffer store, for several stateless `coffer` nodes that share one
//! database.
//!
//! Every trait method is one transaction (or one statement) on a pooled connection. Writes run at
//! the database's default isolation (READ COMMITTED) and take the row locks they need up front
//! (an upsert on the object row), so concurrent writers on different nodes queue instead of
//! clashing; a transaction the database still aborts as a conflict (serialization failure,
//! deadlock, or any conflict a distributed engine reports) is run again. A lost connection, a
//! database that is down or refusing connections, or one that does not answer in time is
//! [`StoreError::Unavailable`], which callers answer with 503.
//!
//! Durability is the database's: `Ok` means the commit returned, which with PostgreSQL's
//! defaults (`fsync=on`, `synchronous_commit=on`) is on disk.
//!
//! `pool.rs` connects (TLS, timeouts, retries), `migrate.rs` owns the schema, `objects.rs` the
//! SQL of documents and objects, `audit.rs` the audit log, `error.rs` classifies failures.

use std::fmt;

use async_trait::async_trait;
use coffer_store::{
    Deletion, Doc, DocWrite, ObjectKind, ObjectRef, ObjectSummary, Store, StoreError, Version,
};
use deadpool_postgres::GenericClient as _;

mod audit;
mod error;
mod migrate;
mod objects;
mod pool;

pub use audit::PgAuditStore;
pub use migrate::{SCHEMA_VERSION, SchemaTooNew};
pub use pool::{PgOptions, redacted};

use error::{Fail, message};
use objects::{
    State, VERSION_COLS, append_all, apply_doc_write, deletion_at, doc_at, insert_version,
    kind_from_str, object_state, version_at,
};
use pool::{Pool, finish, transaction};

/// Coffer's store on PostgreSQL.
pub struct PgStore {
    pool: Pool,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects, applies pending migrations (one node at a time), and refuses a schema newer
    /// than this build knows.
    pub async fn open(options: &PgOptions) -> Result<PgStore, StoreError> {
        let pool = Pool::connect(options)?;
        migrate::migrate(&pool).await?;
        Ok(PgStore { pool })
    }

    /// Whether this database holds anything of Coffer's yet (documents or objects): `coffer
    /// migrate` refuses to copy into one that does.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        finish(async {
            let c = &self.pool.client().await?;
            let row = c
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM docs) + (SELECT COUNT(*) FROM objects)",
                    &[],
                )
                .await?;
            Ok(row.try_get::<_, i64>(0)? == 0)
        })
        .await
    }
}

/// A row limit as PostgreSQL's integer (clamped, never wrapped).
fn limit_to_db(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

#[async_trait]
impl Store for PgStore {
    async fn get_doc(&self, kind: &str, id: &str) -> Result<Option<Doc>, StoreError> {
        finish(async {
            let c = &self.pool.client().await?;
            let st = c
                .prepare_cached(
                    "SELECT kind, id, revision, body FROM docs WHERE kind = $1 AND id = $2",
                )
                .await?;
            c.query_opt(&st, &[&kind, &id])
                .await?
                .map(|r| doc_at(&r))
                .transpose()
        })
        .await
    }

    async fn list_docs(&self, kind: &str) -> Result<Vec<Doc>, StoreError> {
        finish(async {
            let c = &self.pool.client().await?;
            let st = c
                .prepare_cached(
                    "SELECT kind, id, revision, body FROM docs WHERE kind = $1 ORDER BY id",
                )
                .await?;
            c.query(&st, &[&kind]).await?.iter().map(doc_at).collect()
        })
        .await
    }

    async fn write_docs(&self, writes: Vec<DocWrite>) -> Result<(), StoreError> {
        transaction!(&self.pool, |tx| async {
            for w in writes.iter().cloned() {
                apply_doc_write(tx, w).await?;
            }
            Ok(())
        })
    }

    async fn append_version(&self, obj: &ObjectRef, version: Version) -> Result<(), StoreError> {
        self.append_versions(vec![(obj.clone(), version)]).await
    }

    async fn append_versions(&self, writes: Vec<(ObjectRef, Version)>) -> Result<(), StoreError> {
        transaction!(&self.pool, |tx| append_all(tx, &writes))
    }

    async fn get_version(
        &self,
        obj: &ObjectRef,
        version: Option<&str>,
    ) -> Result<Option<Version>, StoreError> {
        let kind = obj.kind.as_str();
        finish(async {
            let c = &self.pool.client().await?;
            let row = match version {
                None => {
                    let st = c
                        .prepare_cached(&format!(
                            "SELECT {VERSION_COLS} FROM objects o
                                 JOIN versions v ON v.vault = o.vault AND v.kind = o.kind
                                  AND v.name = o.name AND v.seq = o.latest_seq
                                 WHERE o.vault = $1 AND o.kind = $2 AND o.name = $3
                                   AND o.deleted_date IS NULL"
                        ))
                        .await?;
                    c.query_opt(&st, &[&obj.vault, &kind, &obj.name]).await?
                }
                Some(id) => {
                    let st = c
                        .prepare_cached(&format!(
                            "SELECT {VERSION_COLS} FROM objects o
                                 JOIN versions v ON v.vault = o.vault AND v.kind = o.kind
                                  AND v.name = o.name
                                 WHERE o.vault = $1 AND o.kind = $2 AND o.name = $3
                                   AND o.deleted_date IS NULL AND v.version = $4"
                        ))
                        .await?;
                    c.query_opt(&st, &[&obj.vault, &kind, &obj.name, &id])
                        .await?
                }
            };
            row.map(|r| version_at(&r, 0)).transpose()
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
        let kind = obj.kind.as_str();
        transaction!(&self.pool, |tx| async {
            let st = tx
                .prepare_cached(&format!(
                    "UPDATE versions v SET meta = $5, updated = $6
                         FROM objects o
                         WHERE o.vault = v.vault AND o.kind = v.kind AND o.name = v.name
                           AND o.deleted_date IS NULL
                           AND v.vault = $1 AND v.kind = $2 AND v.name = $3 AND v.version = $4
                         RETURNING {VERSION_COLS}"
                ))
                .await?;
            let row = tx
                .query_opt(
                    &st,
                    &[&obj.vault, &kind, &obj.name, &version, &meta, &updated],
                )
                .await?
                .ok_or(Fail::Store(StoreError::NotFound))?;
            version_at(&row, 0)
        })
    }

    async fn list_objects(
        &self,
        vault: &str,
        kind: ObjectKind,
        deleted: bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ObjectSummary>, StoreError> {
        let kind = kind.as_str();
        // Every name is non-empty, so "after the empty string" is the first page.
        let after = after.unwrap_or("");
        let limit = limit_to_db(limit);
        let namespace = if deleted {
            "deleted_date IS NOT NULL"
        } else {
            "deleted_date IS NULL"
        };
        // The page of objects is picked first, on its own: joined directly, the planner merged
        // the objects with `versions` read from the vault's first name, so a page deep in the
        // listing read every version before it. Each object of the page then finds its latest
        // version by an exact lookup of (vault, kind, name, seq).
        let sql = format!(
            "SELECT o.name, o.deleted_date, o.scheduled_purge_date, {VERSION_COLS}
             FROM (SELECT vault, kind, name, latest_seq, deleted_date, scheduled_purge_date
                   FROM objects
                   WHERE vault = $1 AND kind = $2 AND {namespace} AND name > $3
                   ORDER BY name
                   LIMIT $4) o
             JOIN versions v ON v.vault = o.vault AND v.kind = o.kind AND v.name = o.name
              AND v.seq = o.latest_seq
             ORDER BY o.name"
        );
        finish(async {
            let c = &self.pool.client().await?;
            let st = c.prepare_cached(&sql).await?;
            c.query(&st, &[&vault, &kind, &after, &limit])
                .await?
                .iter()
                .map(|r| {
                    Ok(ObjectSummary {
                        name: r.try_get(0)?,
                        deletion: deletion_at(r, 1)?,
                        latest: version_at(r, 3)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn list_versions(
        &self,
        obj: &ObjectRef,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Version>, StoreError> {
        let kind = obj.kind.as_str();
        let after = after.unwrap_or("");
        let limit = limit_to_db(limit);
        finish(async {
            let c = &self.pool.client().await?;
            let st = c
                .prepare_cached(&format!(
                    "SELECT {VERSION_COLS} FROM objects o
                         JOIN versions v ON v.vault = o.vault AND v.kind = o.kind
                          AND v.name = o.name
                         WHERE o.vault = $1 AND o.kind = $2 AND o.name = $3
                           AND o.deleted_date IS NULL AND v.version > $4
                         ORDER BY v.version
                         LIMIT $5"
                ))
                .await?;
            let rows = c
                .query(&st, &[&obj.vault, &kind, &obj.name, &after, &limit])
                .await?;
            if rows.is_empty() && !matches!(object_state(c, obj).await?, State::Live) {
                return Err(StoreError::NotFound.into());
            }
            rows.iter().map(|r| version_at(r, 0)).collect()
        })
        .await
    }

    async fn soft_delete(&self, obj: &ObjectRef, deletion: Deletion) -> Result<(), StoreError> {
        let kind = obj.kind.as_str();
        transaction!(&self.pool, |tx| async {
            let st = tx
                .prepare_cached(
                    "UPDATE objects SET deleted_date = $4, scheduled_purge_date = $5
                         WHERE vault = $1 AND kind = $2 AND name = $3 AND deleted_date IS NULL",
                )
                .await?;
            let n = tx
                .execute(
                    &st,
                    &[
                        &obj.vault,
                        &kind,
                        &obj.name,
                        &deletion.deleted_date,
                        &deletion.scheduled_purge_date,
                    ],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound.into());
            }
            Ok(())
        })
    }

    async fn get_deleted(&self, obj: &ObjectRef) -> Result<Option<ObjectSummary>, StoreError> {
        let kind = obj.kind.as_str();
        finish(async {
            let c = &self.pool.client().await?;
            let st = c
                .prepare_cached(&format!(
                    "SELECT o.deleted_date, o.scheduled_purge_date, {VERSION_COLS}
                         FROM objects o
                         JOIN versions v ON v.vault = o.vault AND v.kind = o.kind
                          AND v.name = o.name AND v.seq = o.latest_seq
                         WHERE o.vault = $1 AND o.kind = $2 AND o.name = $3
                           AND o.deleted_date IS NOT NULL"
                ))
                .await?;
            let Some(row) = c.query_opt(&st, &[&obj.vault, &kind, &obj.name]).await? else {
                return Ok(None);
            };
            Ok(Some(ObjectSummary {
                name: obj.name.clone(),
                deletion: deletion_at(&row, 0)?,
                latest: version_at(&row, 2)?,
            }))
        })
        .await
    }

    async fn recover(&self, obj: &ObjectRef) -> Result<(), StoreError> {
        let kind = obj.kind.as_str();
        transaction!(&self.pool, |tx| async {
            let st = tx
                .prepare_cached(
                    "UPDATE objects SET deleted_date = NULL, scheduled_purge_date = NULL
                         WHERE vault = $1 AND kind = $2 AND name = $3
                           AND deleted_date IS NOT NULL",
                )
                .await?;
            if tx.execute(&st, &[&obj.vault, &kind, &obj.name]).await? == 0 {
                return Err(StoreError::NotFound.into());
            }
            Ok(())
        })
    }

    async fn purge(&self, obj: &ObjectRef) -> Result<Vec<Version>, StoreError> {
        let kind = obj.kind.as_str();
        transaction!(&self.pool, |tx| async {
            // The object row first: its lock keeps a concurrent append from adding a version
            // that this purge would not report.
            let gone = tx
                .prepare_cached("DELETE FROM objects WHERE vault = $1 AND kind = $2 AND name = $3")
                .await?;
            let removed = tx
                .prepare_cached(&format!(
                    "SELECT {VERSION_COLS} FROM versions v
                         WHERE v.vault = $1 AND v.kind = $2 AND v.name = $3 ORDER BY v.version"
                ))
                .await?;
            let lock = tx
                .prepare_cached(
                    "SELECT 1 FROM objects WHERE vault = $1 AND kind = $2 AND name = $3
                         FOR UPDATE",
                )
                .await?;
            let key: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                [&obj.vault, &kind, &obj.name];
            if tx.query_opt(&lock, &key).await?.is_none() {
                return Err(StoreError::NotFound.into());
            }
            let versions = tx
                .query(&removed, &key)
                .await?
                .iter()
                .map(|r| version_at(r, 0))
                .collect::<Result<Vec<_>, _>>()?;
            // Versions go with the object (ON DELETE CASCADE).
            tx.execute(&gone, &key).await?;
            Ok(versions)
        })
    }

    async fn restore(&self, obj: &ObjectRef, versions: Vec<Version>) -> Result<(), StoreError> {
        let kind = obj.kind.as_str();
        transaction!(&self.pool, |tx| async {
            if versions.is_empty() {
                return Err(Fail::Store(message("restore needs at least one version")));
            }
            let count = i64::try_from(versions.len())
                .map_err(|_| Fail::Store(message("too many versions")))?;
            let st = tx
                .prepare_cached(
                    "INSERT INTO objects (vault, kind, name, latest_seq) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (vault, kind, name) DO NOTHING",
                )
                .await?;
            if tx
                .execute(&st, &[&obj.vault, &kind, &obj.name, &count])
                .await?
                == 0
            {
                return Err(match object_state(tx, obj).await? {
                    State::Deleted => StoreError::DeletedButRecoverable,
                    State::Live | State::Absent => StoreError::AlreadyExists,
                }
                .into());
            }
            for (seq, v) in (1..).zip(&versions) {
                insert_version(tx, obj, v, seq).await?;
            }
            Ok(())
        })
    }

    async fn due_for_purge(&self, now: i64, limit: usize) -> Result<Vec<ObjectRef>, StoreError> {
        let limit = limit_to_db(limit);
        finish(async {
            let c = &self.pool.client().await?;
            let st = c
                .prepare_cached(
                    "SELECT vault, kind, name FROM objects
                         WHERE deleted_date IS NOT NULL AND scheduled_purge_date <= $1
                         ORDER BY scheduled_purge_date, vault, kind, name
                         LIMIT $2",
                )
                .await?;
            c.query(&st, &[&now, &limit])
                .await?
                .iter()
                .map(|r| {
                    Ok(ObjectRef {
                        vault: r.try_get(0)?,
                        kind: kind_from_str(r.try_get(1)?)?,
                        name: r.try_get(2)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn doc_kinds(&self) -> Result<Vec<String>, StoreError> {
        finish(async {
            let c = &self.pool.client().await?;
            let st = c
                .prepare_cached("SELECT DISTINCT kind FROM docs ORDER BY kind")
                .await?;
            c.query(&st, &[])
                .await?
                .iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect()
        })
        .await
    }

    async fn scan_objects(
        &self,
        after: Option<&ObjectRef>,
        limit: usize,
    ) -> Result<Vec<(ObjectRef, Option<Deletion>)>, StoreError> {
        let limit = limit_to_db(limit);
        finish(async {
            let c = &self.pool.client().await?;
            let rows = match after {
                Some(o) => {
                    let st = c
                        .prepare_cached(
                            "SELECT vault, kind, name, deleted_date, scheduled_purge_date
                             FROM objects WHERE (vault, kind, name) > ($1, $2, $3)
                             ORDER BY vault, kind, name LIMIT $4",
                        )
                        .await?;
                    c.query(&st, &[&o.vault, &o.kind.as_str(), &o.name, &limit])
                        .await?
                }
                None => {
                    let st = c
                        .prepare_cached(
                            "SELECT vault, kind, name, deleted_date, scheduled_purge_date
                             FROM objects ORDER BY vault, kind, name LIMIT $1",
                        )
                        .await?;
                    c.query(&st, &[&limit]).await?
                }
            };
            rows.iter()
                .map(|r| {
                    Ok((
                        ObjectRef {
                            vault: r.try_get(0)?,
                            kind: kind_from_str(r.try_get(1)?)?,
                            name: r.try_get(2)?,
                        },
                        deletion_at(r, 3)?,
                    ))
                })
                .collect()
        })
        .await
    }

    async fn object_history(&self, obj: &ObjectRef) -> Result<Vec<Version>, StoreError> {
        let kind = obj.kind.as_str();
        finish(async {
            let c = &self.pool.client().await?;
            let st = c
                .prepare_cached(&format!(
                    "SELECT {VERSION_COLS} FROM versions v
                     WHERE v.vault = $1 AND v.kind = $2 AND v.name = $3 ORDER BY v.seq"
                ))
                .await?;
            let rows = c.query(&st, &[&obj.vault, &kind, &obj.name]).await?;
            if rows.is_empty() {
                return Err(StoreError::NotFound.into());
            }
            rows.iter().map(|r| version_at(r, 0)).collect()
        })
        .await
    }
}
