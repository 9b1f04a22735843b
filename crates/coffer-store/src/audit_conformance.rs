//! The conformance suite every [`AuditStore`] backend must pass. Backends call [`run_all`] from
//! their tests with a fresh, empty store, and [`durable_across_reopen`] with a way to reopen the
//! same storage.
//!
//! Checks use their own vaults, and times far apart, so they can share one store; the only check
//! that prunes across vaults ([`prune_all_vaults`]) touches nothing but records older than every
//! other check's.

// This module is test support: a check that does not hold must stop the test with a clear message,
// so panicking (assert!, expect, panic!) is exactly what it is for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::future::Future;

use crate::{AuditOrder, AuditQuery, AuditRecord, AuditStore, StoredAudit};

/// Base time of the checks' records (unix ms, late 2023); only [`prune_all_vaults`] writes older.
const T0: i64 = 1_700_000_000_000;

/// Runs every check against `store`, which must be fresh and empty.
pub async fn run_all(store: &dyn AuditStore) {
    append_orders_by_sequence(store).await;
    empty_batch_is_a_probe(store).await;
    fields_round_trip(store).await;
    filters(store).await;
    paging_oldest_first(store).await;
    paging_newest_first(store).await;
    following(store).await;
    prune_one_vault(store).await;
    prune_keeps_sequence_growing(store).await;
    prune_all_vaults(store).await;
    concurrent_appends(store).await;
}

// === helpers ===

fn rec(vault: &str, time_ms: i64, status: u16, operation: &str, oid: Option<&str>) -> AuditRecord {
    let request_id = format!("{vault}-{time_ms}-{status}-{operation}");
    AuditRecord {
        vault: vault.to_owned(),
        time_ms,
        status,
        operation: operation.to_owned(),
        caller_oid: oid.map(str::to_owned),
        body: format!("{{\"requestId\":\"{request_id}\"}}").into_bytes(),
        request_id,
    }
}

fn all_of(vault: &str) -> AuditQuery {
    AuditQuery {
        vault: Some(vault.to_owned()),
        limit: 10_000,
        ..AuditQuery::default()
    }
}

async fn append(store: &dyn AuditStore, batch: Vec<AuditRecord>) {
    let n = batch.len();
    store
        .append(batch.into())
        .await
        .unwrap_or_else(|e| panic!("append of {n} records failed: {e:?}"));
}

async fn query(store: &dyn AuditStore, q: &AuditQuery) -> Vec<StoredAudit> {
    store
        .query(q)
        .await
        .unwrap_or_else(|e| panic!("query {q:?} failed: {e:?}"))
}

fn records(rows: &[StoredAudit]) -> Vec<AuditRecord> {
    rows.iter().map(|r| r.record.clone()).collect()
}

fn seqs(rows: &[StoredAudit]) -> Vec<u64> {
    rows.iter().map(|r| r.seq).collect()
}

fn assert_strictly_increasing(seqs: &[u64], ctx: &str) {
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "{ctx}: sequence numbers must strictly increase, got {seqs:?}"
    );
}

/// The highest sequence number anywhere in the store (0 if empty).
async fn max_seq(store: &dyn AuditStore) -> u64 {
    let newest = query(
        store,
        &AuditQuery {
            limit: 1,
            order: AuditOrder::NewestFirst,
            ..AuditQuery::default()
        },
    )
    .await;
    newest.first().map_or(0, |r| r.seq)
}

// === checks ===

/// Records come back in append order, across batches, whatever their times; newest-first is the
/// exact reverse.
pub async fn append_orders_by_sequence(store: &dyn AuditStore) {
    let v = "ac-order";
    // Times deliberately out of order: a slow request ends (and is logged) after a fast one.
    let first = vec![
        rec(v, T0 + 30, 200, "SecretGet", Some("o1")),
        rec(v, T0 + 10, 200, "SecretSet", Some("o1")),
    ];
    let second = vec![rec(v, T0 + 20, 403, "SecretGet", Some("o2"))];
    let third = vec![
        rec(v, T0 + 5, 401, "Authentication", None),
        rec(v, T0 + 40, 200, "SecretList", Some("o1")),
        rec(v, T0 + 1, 404, "SecretGet", Some("o3")),
    ];
    let mut expected = Vec::new();
    for batch in [first, second, third] {
        expected.extend(batch.iter().cloned());
        append(store, batch).await;
    }

    let oldest = query(store, &all_of(v)).await;
    assert_eq!(records(&oldest), expected, "oldest-first is append order");
    assert_strictly_increasing(&seqs(&oldest), "oldest-first");

    let newest = query(
        store,
        &AuditQuery {
            order: AuditOrder::NewestFirst,
            ..all_of(v)
        },
    )
    .await;
    let mut reversed = oldest.clone();
    reversed.reverse();
    assert_eq!(
        newest, reversed,
        "newest-first is the reverse of oldest-first"
    );
}

/// An empty batch succeeds, writes nothing, and does not disturb the sequence.
pub async fn empty_batch_is_a_probe(store: &dyn AuditStore) {
    let v = "ac-empty";
    append(store, vec![rec(v, T0, 200, "SecretGet", None)]).await;
    let before = max_seq(store).await;
    store
        .append(Vec::new().into())
        .await
        .unwrap_or_else(|e| panic!("an empty append on a healthy store must succeed: {e:?}"));
    assert_eq!(
        query(store, &all_of(v)).await.len(),
        1,
        "an empty batch writes no record"
    );
    assert_eq!(max_seq(store).await, before, "no record appeared anywhere");
    append(store, vec![rec(v, T0 + 1, 200, "SecretGet", None)]).await;
    let rows = query(store, &all_of(v)).await;
    assert!(
        rows[1].seq > before,
        "the next record still gets a greater number: {rows:?}"
    );
}

/// Every field comes back exactly, including binary bodies and absent callers.
pub async fn fields_round_trip(store: &dyn AuditStore) {
    let v = "ac-fields";
    let mut binary = rec(v, T0, 599, "KeySign", None);
    binary.body = (0..=255u8).cycle().take(70_000).collect();
    binary.request_id = "4f0b3b0e-8a43-4b7e-9b0f-0d1f6f0e2a11".to_owned();
    let mut unicode = rec(
        v,
        T0 - 1,
        100,
        "CertificateGet",
        Some("d9da5048-2737-4770-bd64-00"),
    );
    unicode.body = "{\"x\":\"\u{0}ž\u{1F512}\"}".as_bytes().to_vec();
    let mut empty = rec(v, i64::MAX, 0, "", Some(""));
    empty.body = Vec::new();
    empty.request_id = String::new();
    let batch = vec![binary, unicode, empty];
    append(store, batch.clone()).await;
    assert_eq!(
        records(&query(store, &all_of(v)).await),
        batch,
        "records round-trip unchanged (bodies are opaque bytes, `None` stays `None`)"
    );
}

/// Each filter alone and together; unset filters match everything.
pub async fn filters(store: &dyn AuditStore) {
    let v = "ac-filter";
    let other = "ac-filter-other";
    let rows = vec![
        rec(v, T0 + 100, 200, "SecretGet", Some("alice")),
        rec(v, T0 + 200, 403, "SecretGet", Some("bob")),
        rec(v, T0 + 300, 403, "SecretSet", Some("alice")),
        rec(v, T0 + 400, 401, "Authentication", None),
        rec(v, T0 + 500, 200, "SecretList", Some("bob")),
        rec(other, T0 + 200, 403, "SecretGet", Some("bob")),
    ];
    append(store, rows.clone()).await;
    let pick = |idx: &[usize]| idx.iter().map(|&i| rows[i].clone()).collect::<Vec<_>>();
    let cases: Vec<(&str, AuditQuery, Vec<AuditRecord>)> = vec![
        ("vault only", all_of(v), pick(&[0, 1, 2, 3, 4])),
        ("other vault", all_of(other), pick(&[5])),
        (
            "status",
            AuditQuery {
                status: Some(403),
                ..all_of(v)
            },
            pick(&[1, 2]),
        ),
        (
            "operation",
            AuditQuery {
                operation: Some("SecretGet".into()),
                ..all_of(v)
            },
            pick(&[0, 1]),
        ),
        (
            "operation is exact, not a prefix or case-insensitive match",
            AuditQuery {
                operation: Some("secretget".into()),
                ..all_of(v)
            },
            vec![],
        ),
        (
            "caller (records without a caller never match)",
            AuditQuery {
                caller_oid: Some("alice".into()),
                ..all_of(v)
            },
            pick(&[0, 2]),
        ),
        (
            "since is inclusive",
            AuditQuery {
                since_ms: Some(T0 + 300),
                ..all_of(v)
            },
            pick(&[2, 3, 4]),
        ),
        (
            "until is exclusive",
            AuditQuery {
                until_ms: Some(T0 + 300),
                ..all_of(v)
            },
            pick(&[0, 1]),
        ),
        (
            "since and until",
            AuditQuery {
                since_ms: Some(T0 + 200),
                until_ms: Some(T0 + 401),
                ..all_of(v)
            },
            pick(&[1, 2, 3]),
        ),
        (
            "status and caller",
            AuditQuery {
                status: Some(403),
                caller_oid: Some("bob".into()),
                ..all_of(v)
            },
            pick(&[1]),
        ),
        (
            "request id across vaults",
            AuditQuery {
                request_id: Some(rows[5].request_id.clone()),
                limit: 10,
                ..AuditQuery::default()
            },
            pick(&[5]),
        ),
        (
            "nothing matches",
            AuditQuery {
                status: Some(200),
                operation: Some("Authentication".into()),
                ..all_of(v)
            },
            vec![],
        ),
        (
            "limit 0",
            AuditQuery {
                limit: 0,
                ..all_of(v)
            },
            vec![],
        ),
    ];
    for (name, q, expected) in cases {
        assert_eq!(records(&query(store, &q).await), expected, "filter: {name}");
    }
}

/// Pages of `limit` records, each starting after the last sequence seen, cover the log exactly
/// once, also with a filter set.
pub async fn paging_oldest_first(store: &dyn AuditStore) {
    let v = "ac-page-asc";
    let all: Vec<_> = (0..23)
        .map(|i| {
            rec(
                v,
                T0 + i,
                if i % 3 == 0 { 403 } else { 200 },
                "SecretGet",
                None,
            )
        })
        .collect();
    for chunk in all.chunks(5) {
        append(store, chunk.to_vec()).await;
    }
    for (status, expected) in [
        (None, all.clone()),
        (
            Some(403),
            all.iter().filter(|r| r.status == 403).cloned().collect(),
        ),
    ] {
        let mut seen = Vec::new();
        let mut after = None;
        for pages in 0.. {
            assert!(pages <= all.len(), "paging oldest-first must end");
            let page = query(
                store,
                &AuditQuery {
                    status,
                    after_seq: after,
                    limit: 4,
                    ..all_of(v)
                },
            )
            .await;
            assert!(page.len() <= 4, "a page holds at most `limit` records");
            let Some(last) = page.last() else { break };
            after = Some(last.seq);
            seen.extend(page);
        }
        assert_strictly_increasing(&seqs(&seen), "pages oldest-first");
        assert_eq!(
            records(&seen),
            expected,
            "pages (status {status:?}) cover every record once"
        );
    }
}

/// Newest-first pages continue with `before_seq`.
pub async fn paging_newest_first(store: &dyn AuditStore) {
    let v = "ac-page-desc";
    let all: Vec<_> = (0..11)
        .map(|i| rec(v, T0 + i, 200, "KeyGet", Some("c")))
        .collect();
    append(store, all[..6].to_vec()).await;
    append(store, all[6..].to_vec()).await;
    let mut seen = Vec::new();
    let mut before = None;
    for pages in 0.. {
        assert!(pages <= all.len(), "paging newest-first must end");
        let page = query(
            store,
            &AuditQuery {
                before_seq: before,
                limit: 3,
                order: AuditOrder::NewestFirst,
                ..all_of(v)
            },
        )
        .await;
        let Some(last) = page.last() else { break };
        before = Some(last.seq);
        seen.extend(page);
    }
    let mut expected = all.clone();
    expected.reverse();
    assert_eq!(
        records(&seen),
        expected,
        "newest-first pages, newest record first"
    );

    // A window between two sequence numbers.
    let asc = query(store, &all_of(v)).await;
    let window = query(
        store,
        &AuditQuery {
            after_seq: Some(asc[2].seq),
            before_seq: Some(asc[7].seq),
            ..all_of(v)
        },
    )
    .await;
    assert_eq!(
        window,
        asc[3..7].to_vec(),
        "after_seq and before_seq together"
    );
}

/// Following the log: polling after the last sequence seen yields exactly what arrived since.
pub async fn following(store: &dyn AuditStore) {
    let v = "ac-follow";
    append(store, vec![rec(v, T0, 200, "SecretGet", None)]).await;
    let head = query(store, &all_of(v)).await;
    let cursor = head.last().unwrap().seq;
    let poll = |after: u64| AuditQuery {
        after_seq: Some(after),
        ..all_of(v)
    };
    assert!(
        query(store, &poll(cursor)).await.is_empty(),
        "nothing new yet"
    );
    let new = vec![
        rec(v, T0 + 1, 200, "SecretSet", None),
        rec(v, T0 + 2, 200, "SecretGet", None),
    ];
    append(store, new.clone()).await;
    let got = query(store, &poll(cursor)).await;
    assert_eq!(records(&got), new, "the poll returns what arrived since");
    assert!(
        query(store, &poll(got[1].seq)).await.is_empty(),
        "and nothing after the new cursor"
    );
}

/// Pruning one vault removes its records older than the cut-off (the cut-off itself stays) and
/// leaves other vaults alone.
pub async fn prune_one_vault(store: &dyn AuditStore) {
    let v = "ac-prune";
    let other = "ac-prune-other";
    let mine: Vec<_> = (0..6)
        .map(|i| rec(v, T0 + i * 100, 200, "SecretGet", None))
        .collect();
    let theirs: Vec<_> = (0..3)
        .map(|i| rec(other, T0 + i * 100, 200, "SecretGet", None))
        .collect();
    append(store, mine.clone()).await;
    append(store, theirs.clone()).await;

    let removed = store.prune(Some(v), T0 + 300).await.unwrap();
    assert_eq!(
        removed, 3,
        "records at T0, +100, +200 are older than the cut-off"
    );
    assert_eq!(
        records(&query(store, &all_of(v)).await),
        mine[3..].to_vec(),
        "the record at the cut-off and newer ones stay"
    );
    assert_eq!(
        records(&query(store, &all_of(other)).await),
        theirs,
        "another vault is untouched"
    );
    assert_eq!(
        store.prune(Some(v), T0 + 300).await.unwrap(),
        0,
        "pruning again removes nothing"
    );
    assert_eq!(
        store
            .prune(Some("ac-prune-nobody"), i64::MAX)
            .await
            .unwrap(),
        0,
        "an unknown vault prunes nothing"
    );
}

/// Sequence numbers are never reused, even when the newest records are pruned.
pub async fn prune_keeps_sequence_growing(store: &dyn AuditStore) {
    let v = "ac-prune-seq";
    append(
        store,
        vec![
            rec(v, T0, 200, "SecretGet", None),
            rec(v, T0 + 1, 200, "SecretGet", None),
        ],
    )
    .await;
    let highest = max_seq(store).await;
    assert_eq!(store.prune(Some(v), i64::MAX).await.unwrap(), 2);
    assert!(query(store, &all_of(v)).await.is_empty());
    append(store, vec![rec(v, T0 + 2, 200, "SecretGet", None)]).await;
    let rows = query(store, &all_of(v)).await;
    assert!(
        rows[0].seq > highest,
        "a record after a prune gets a number above every earlier one ({} <= {highest})",
        rows[0].seq
    );
}

/// Pruning without a vault removes old records of every vault.
pub async fn prune_all_vaults(store: &dyn AuditStore) {
    let (a, b) = ("ac-prune-all-a", "ac-prune-all-b");
    append(
        store,
        vec![
            rec(a, 100, 200, "SecretGet", None),
            rec(b, 100, 200, "SecretGet", None),
            rec(b, 600, 200, "SecretGet", None),
        ],
    )
    .await;
    let removed = store.prune(None, 500).await.unwrap();
    assert_eq!(
        removed, 2,
        "the two records older than the cut-off, across vaults"
    );
    assert!(query(store, &all_of(a)).await.is_empty());
    assert_eq!(
        records(&query(store, &all_of(b)).await),
        vec![rec(b, 600, 200, "SecretGet", None)]
    );
    assert_eq!(
        query(store, &all_of("ac-order")).await.len(),
        6,
        "newer records of other checks stay"
    );
}

/// Concurrent appends: every record gets a unique number, and each batch's records are
/// contiguous and in order in the log, because a batch commits as one.
pub async fn concurrent_appends(store: &dyn AuditStore) {
    let v = "ac-concurrent";
    const TASKS: usize = 8; // the tasks joined below
    const BATCHES: usize = 6;
    const PER_BATCH: usize = 5;
    let task = |t: usize| async move {
        for b in 0..BATCHES {
            let batch = (0..PER_BATCH)
                .map(|i| {
                    let mut r = rec(v, T0, 200, "SecretGet", None);
                    r.request_id = format!("{t}/{b}/{i}");
                    r
                })
                .collect();
            append(store, batch).await;
        }
    };
    tokio::join!(
        task(0),
        task(1),
        task(2),
        task(3),
        task(4),
        task(5),
        task(6),
        task(7)
    );

    let rows = query(store, &all_of(v)).await;
    assert_eq!(rows.len(), TASKS * BATCHES * PER_BATCH, "no record lost");
    let unique: HashSet<u64> = rows.iter().map(|r| r.seq).collect();
    assert_eq!(unique.len(), rows.len(), "sequence numbers are unique");
    assert_strictly_increasing(&seqs(&rows), "concurrent");
    for chunk in rows.chunks(PER_BATCH) {
        let ids: Vec<_> = chunk.iter().map(|r| r.record.request_id.as_str()).collect();
        let batch = ids[0].rsplit_once('/').map(|(b, _)| b).unwrap();
        let expected: Vec<_> = (0..PER_BATCH).map(|i| format!("{batch}/{i}")).collect();
        assert_eq!(ids, expected, "a batch is contiguous and in order");
    }
}

/// Records written through one handle are there, in order, after the storage is reopened; and
/// numbering continues above them. `open` must open the same storage each time (a fresh one on
/// the first call); each handle is dropped before the next is opened.
pub async fn durable_across_reopen<F, Fut>(mut open: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Box<dyn AuditStore>>,
{
    let v = "ac-reopen";
    let batch = vec![
        rec(v, T0, 200, "SecretSet", Some("o")),
        rec(v, T0 + 1, 403, "SecretGet", None),
    ];
    let before = {
        let store = open().await;
        append(store.as_ref(), batch.clone()).await;
        query(store.as_ref(), &all_of(v)).await
    };
    let store = open().await;
    let after = query(store.as_ref(), &all_of(v)).await;
    assert_eq!(after, before, "records and their numbers survive reopening");
    append(store.as_ref(), vec![rec(v, T0 + 2, 200, "SecretGet", None)]).await;
    let rows = query(store.as_ref(), &all_of(v)).await;
    assert!(
        rows[2].seq > before[1].seq,
        "numbering continues above the records written before the reopen: {rows:?}"
    );
}
