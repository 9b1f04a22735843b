//! The SQL of documents: revisioned records read whole and written with a create, update (at a
//! revision) or overwrite precondition.

use coffer_store::{Doc, DocMode, DocWrite, StoreError};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::error::{Fail, message};

fn revision_from_db(r: i64) -> Result<u64, Fail> {
    u64::try_from(r).map_err(|_| Fail::Store(message(format!("negative document revision {r}"))))
}

pub(crate) fn apply_doc_write(tx: &Transaction<'_>, write: DocWrite) -> Result<(), Fail> {
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

pub(crate) fn doc_from_row(row: &Row<'_>) -> rusqlite::Result<(String, String, i64, Vec<u8>)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

pub(crate) fn make_doc((kind, id, rev, body): (String, String, i64, Vec<u8>)) -> Result<Doc, Fail> {
    Ok(Doc {
        kind,
        id,
        revision: revision_from_db(rev)?,
        body,
    })
}
