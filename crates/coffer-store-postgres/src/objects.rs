//! The SQL of documents and versioned objects, and the row decoding they share.
//!
//! An object row carries `latest_seq`, the sequence of its newest version within the object, so
//! reading the latest version or listing a page is one indexed join, however many versions and
//! objects there are. An append bumps it with an upsert that also takes the object's row lock
//! (one statement with the version's insert):
//! concurrent appends to one object on any number of nodes queue on that lock, each gets the
//! next sequence, and none is lost or doubled.

use coffer_store::{Deletion, Doc, DocMode, DocWrite, ObjectKind, ObjectRef, StoreError, Version};
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use crate::error::{Fail, message};

pub(crate) const VERSION_COLS: &str = "v.version, v.created, v.updated, v.meta, v.sealed";

pub(crate) fn version_at(row: &Row, at: usize) -> Result<Version, Fail> {
    Ok(Version {
        version: row.try_get(at)?,
        created: row.try_get(at + 1)?,
        updated: row.try_get(at + 2)?,
        meta: row.try_get(at + 3)?,
        sealed: row.try_get(at + 4)?,
    })
}

pub(crate) fn deletion_at(row: &Row, at: usize) -> Result<Option<Deletion>, Fail> {
    let deleted: Option<i64> = row.try_get(at)?;
    let scheduled: Option<i64> = row.try_get(at + 1)?;
    Ok(deleted.map(|deleted_date| Deletion {
        deleted_date,
        scheduled_purge_date: scheduled.unwrap_or(deleted_date),
    }))
}

pub(crate) fn kind_from_str(s: &str) -> Result<ObjectKind, Fail> {
    ObjectKind::from_tag(s).ok_or_else(|| {
        Fail::Store(message(format!(
            "unknown object kind {s:?} in the database"
        )))
    })
}

pub(crate) fn doc_at(row: &Row) -> Result<Doc, Fail> {
    let revision: i64 = row.try_get(2)?;
    Ok(Doc {
        kind: row.try_get(0)?,
        id: row.try_get(1)?,
        revision: u64::try_from(revision)
            .map_err(|_| Fail::Store(message(format!("negative document revision {revision}"))))?,
        body: row.try_get(3)?,
    })
}

/// One document write of a batch; a failed precondition fails (and so rolls back) the batch.
pub(crate) async fn apply_doc_write(tx: &Transaction<'_>, write: DocWrite) -> Result<(), Fail> {
    match write {
        DocWrite::Put {
            kind,
            id,
            body,
            mode: DocMode::Create,
        } => {
            let st = tx
                .prepare_cached(
                    "INSERT INTO docs (kind, id, revision, body) VALUES ($1, $2, 1, $3)
                     ON CONFLICT (kind, id) DO NOTHING",
                )
                .await?;
            if tx.execute(&st, &[&kind, &id, &body]).await? == 0 {
                return Err(StoreError::AlreadyExists.into());
            }
        }
        DocWrite::Put {
            kind,
            id,
            body,
            mode: DocMode::Overwrite,
        } => {
            let st = tx
                .prepare_cached(
                    "INSERT INTO docs (kind, id, revision, body) VALUES ($1, $2, 1, $3)
                     ON CONFLICT (kind, id)
                     DO UPDATE SET revision = docs.revision + 1, body = excluded.body",
                )
                .await?;
            tx.execute(&st, &[&kind, &id, &body]).await?;
        }
        DocWrite::Put {
            kind,
            id,
            body,
            mode: DocMode::Update(want),
        } => {
            let Ok(want) = i64::try_from(want) else {
                return Err(StoreError::PreconditionFailed.into());
            };
            let st = tx
                .prepare_cached(
                    "UPDATE docs SET revision = revision + 1, body = $3
                     WHERE kind = $1 AND id = $2 AND revision = $4",
                )
                .await?;
            if tx.execute(&st, &[&kind, &id, &body, &want]).await? == 0 {
                return Err(StoreError::PreconditionFailed.into());
            }
        }
        DocWrite::Delete { kind, id } => {
            let st = tx
                .prepare_cached("DELETE FROM docs WHERE kind = $1 AND id = $2")
                .await?;
            if tx.execute(&st, &[&kind, &id]).await? == 0 {
                return Err(StoreError::NotFound.into());
            }
        }
    }
    Ok(())
}

/// One statement that adds a version as its object's newest, creating the object if needed:
/// a new object is inserted with sequence 1, a live one has its sequence bumped (taking the
/// row lock), and a soft-deleted one is left alone, so nothing is inserted and no row comes
/// back. `$1..$3` name the object, `$4..$8` are the version's id, dates, meta and payload.
const APPEND: &str = "WITH bump AS (
        INSERT INTO objects (vault, kind, name, latest_seq) VALUES ($1, $2, $3, 1)
        ON CONFLICT (vault, kind, name) DO UPDATE SET latest_seq = objects.latest_seq + 1
        WHERE objects.deleted_date IS NULL
        RETURNING latest_seq)
    INSERT INTO versions (vault, kind, name, version, seq, created, updated, meta, sealed)
    SELECT $1, $2, $3, $4, latest_seq, $5, $6, $7, $8 FROM bump
    RETURNING seq";

/// Adds one version to each object, in list order, in the caller's transaction.
///
/// The statements are sent back to back without waiting for each answer (tokio-postgres
/// pipelines the queries of futures polled together, in the order they are first polled), so
/// a batch costs about one round trip instead of one per version. The database runs them in
/// that order, so two versions of one object get consecutive sequences, the later one newest;
/// after a failed statement the rest fail as "transaction aborted", so the first failure in
/// list order is the cause and is the one returned.
pub(crate) async fn append_all(
    tx: &Transaction<'_>,
    writes: &[(ObjectRef, Version)],
) -> Result<(), Fail> {
    let st = tx.prepare_cached(APPEND).await?;
    let mut pending: Vec<_> = writes
        .iter()
        .map(|(obj, v)| {
            let st = st.clone();
            Some(Box::pin(async move {
                let kind = obj.kind.as_str();
                // A taken version id violates the primary key: AlreadyExists, and the batch
                // rolls back.
                let row = tx
                    .query_opt(
                        &st,
                        &[
                            &obj.vault, &kind, &obj.name, &v.version, &v.created, &v.updated,
                            &v.meta, &v.sealed,
                        ],
                    )
                    .await?;
                match row {
                    Some(_) => Ok(()),
                    None => Err(Fail::from(StoreError::DeletedButRecoverable)),
                }
            }))
        })
        .collect();
    let mut done: Vec<Option<Result<(), Fail>>> = writes.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (slot, out) in pending.iter_mut().zip(done.iter_mut()) {
            if let Some(f) = slot
                && let std::task::Poll::Ready(r) = f.as_mut().poll(cx)
            {
                *out = Some(r);
                *slot = None;
            }
        }
        // Decided once every statement before the first failure has answered.
        for out in &mut done {
            match out {
                Some(Ok(())) => {}
                Some(Err(_)) => {
                    return std::task::Poll::Ready(out.take().unwrap_or(Ok(())));
                }
                None => return std::task::Poll::Pending,
            }
        }
        std::task::Poll::Ready(Ok(()))
    })
    .await
}

pub(crate) async fn insert_version(
    tx: &Transaction<'_>,
    obj: &ObjectRef,
    v: &Version,
    seq: i64,
) -> Result<(), Fail> {
    let st = tx
        .prepare_cached(
            "INSERT INTO versions (vault, kind, name, version, seq, created, updated, meta, sealed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .await?;
    let kind = obj.kind.as_str();
    // A taken version id violates the primary key: AlreadyExists, and the batch rolls back.
    tx.execute(
        &st,
        &[
            &obj.vault, &kind, &obj.name, &v.version, &seq, &v.created, &v.updated, &v.meta,
            &v.sealed,
        ],
    )
    .await?;
    Ok(())
}

/// Where an object stands.
pub(crate) enum State {
    Absent,
    Live,
    Deleted,
}

pub(crate) async fn object_state<C: GenericClient>(
    client: &C,
    obj: &ObjectRef,
) -> Result<State, Fail> {
    let st = client
        .prepare_cached(
            "SELECT deleted_date FROM objects WHERE vault = $1 AND kind = $2 AND name = $3",
        )
        .await?;
    let kind = obj.kind.as_str();
    Ok(
        match client
            .query_opt(&st, &[&obj.vault, &kind, &obj.name])
            .await?
        {
            None => State::Absent,
            Some(row) => match row.try_get::<_, Option<i64>>(0)? {
                None => State::Live,
                Some(_) => State::Deleted,
            },
        },
    )
}
