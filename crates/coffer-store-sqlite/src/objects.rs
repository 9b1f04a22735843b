//! The SQL of versioned objects: where an object stands (absent, live, soft-deleted), its
//! versions, and the per-database version sequence that orders them.

use coffer_store::{Deletion, ObjectKind, ObjectRef, Version};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::error::{Fail, message};

pub(crate) fn kind_from_str(s: &str) -> Result<ObjectKind, Fail> {
    ObjectKind::from_tag(s).ok_or_else(|| {
        Fail::Store(message(format!(
            "unknown object kind {s:?} in the database"
        )))
    })
}

/// Columns: version, created, updated, meta, sealed (starting at `at`).
pub(crate) fn version_at(row: &Row<'_>, at: usize) -> rusqlite::Result<Version> {
    Ok(Version {
        version: row.get(at)?,
        created: row.get(at + 1)?,
        updated: row.get(at + 2)?,
        meta: row.get(at + 3)?,
        sealed: row.get(at + 4)?,
    })
}

pub(crate) const VERSION_COLS: &str = "version, created, updated, meta, sealed";

/// The page query of `list_objects`: `?1` vault, `?2` kind, then `?3` the name to start after
/// (when `paged`) and the row limit.
pub(crate) fn list_objects_sql(deleted: bool, paged: bool) -> String {
    let namespace = if deleted {
        "deleted_date IS NOT NULL"
    } else {
        "deleted_date IS NULL"
    };
    let (page, limit) = if paged {
        ("AND name > ?3", "?4")
    } else {
        ("", "?3")
    };
    // The page of objects is picked first, on its own: joined directly, SQLite carried
    // `name > ?3` over to `versions` and scanned it from there for every object (a page cost
    // that grew with the vault). Each object of the page then finds its latest version by an
    // exact lookup of (vault, kind, name, MAX(seq)) in `versions_latest`.
    format!(
        "SELECT o.name, o.deleted_date, o.scheduled_purge_date,
                v.version, v.created, v.updated, v.meta, v.sealed
         FROM (SELECT vault, kind, name, deleted_date, scheduled_purge_date FROM objects
               WHERE vault = ?1 AND kind = ?2 AND {namespace} {page}
               ORDER BY name
               LIMIT {limit}) o
         JOIN versions v ON v.vault = o.vault AND v.kind = o.kind AND v.name = o.name
          AND v.seq = (SELECT MAX(v2.seq) FROM versions v2
                       WHERE v2.vault = o.vault AND v2.kind = o.kind AND v2.name = o.name)
         ORDER BY o.name"
    )
}

/// Where an object stands.
pub(crate) enum State {
    Absent,
    Live,
    Deleted(Deletion),
}

pub(crate) fn object_state(tx: &Transaction<'_>, obj: &ObjectRef) -> Result<State, Fail> {
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

pub(crate) fn latest_version(
    tx: &Transaction<'_>,
    obj: &ObjectRef,
) -> Result<Option<Version>, Fail> {
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

pub(crate) fn version_by_id(
    tx: &Transaction<'_>,
    obj: &ObjectRef,
    id: &str,
) -> Result<Option<Version>, Fail> {
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
pub(crate) fn reserve_seq(tx: &Transaction<'_>, count: usize) -> Result<i64, Fail> {
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

pub(crate) fn insert_object(tx: &Transaction<'_>, obj: &ObjectRef) -> Result<(), Fail> {
    tx.prepare_cached(
        "INSERT INTO objects (vault, kind, name, deleted_date, scheduled_purge_date)
         VALUES (?1, ?2, ?3, NULL, NULL)",
    )?
    .execute(params![obj.vault, obj.kind.as_str(), obj.name])?;
    Ok(())
}

pub(crate) fn insert_version(
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rusqlite::Connection;

    use super::list_objects_sql;
    use crate::migrate::{STORE_SCHEMA, migrate};

    /// The plan SQLite picks, one line per step.
    fn plan(conn: &Connection, sql: &str, paged: bool) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        use rusqlite::types::Value;
        let mut args = vec![
            Value::from("v".to_owned()),
            Value::from("secret".to_owned()),
        ];
        if paged {
            args.push(Value::from("a".to_owned()));
        }
        args.push(Value::from(26_i64));
        stmt.query_map(rusqlite::params_from_iter(args), |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// A page costs the same in a vault of any size: the objects come from an index range
    /// that stops after the page, and each latest version from an exact index lookup; no
    /// step scans versions by a range or reads the other namespace.
    #[test]
    fn a_list_page_reads_only_its_own_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn, &STORE_SCHEMA).unwrap();
        for deleted in [false, true] {
            for paged in [false, true] {
                let steps = plan(&conn, &list_objects_sql(deleted, paged), paged);
                let text = steps.join("\n");
                assert!(
                    steps.iter().any(|s| s.contains(
                        "SEARCH v USING INDEX versions_latest (vault=? AND kind=? AND name=? AND seq=?)"
                    )),
                    "{text}"
                );
                let objects = if deleted {
                    "SEARCH objects USING INDEX objects_deleted"
                } else {
                    "SEARCH objects USING INDEX sqlite_autoindex_objects_1"
                };
                assert!(steps.iter().any(|s| s.starts_with(objects)), "{text}");
                assert!(
                    !steps.iter().any(|s| s.starts_with("SCAN objects")),
                    "{text}"
                );
            }
        }
    }
}
