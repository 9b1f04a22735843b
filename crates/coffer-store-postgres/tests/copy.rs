//! `coffer_store::copy` between the embedded store and PostgreSQL, both ways: everything arrives
//! (documents, live and soft-deleted objects with every version in order, audit records), the
//! inventories match, and a non-empty target is refused untouched.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::Arc;

use coffer_store::copy::{self, CopyError, Silent};
use coffer_store::{
    AuditRecord, AuditStore, Deletion, DocMode, DocWrite, ObjectKind, ObjectRef, Store, Version,
};
use coffer_store_postgres::{PgAuditStore, PgStore};
use coffer_store_sqlite::{SqliteAuditStore, SqliteStore};

fn obj(vault: &str, kind: ObjectKind, name: &str) -> ObjectRef {
    ObjectRef {
        vault: vault.into(),
        kind,
        name: name.into(),
    }
}

fn ver(id: &str) -> Version {
    Version {
        version: id.into(),
        created: 100,
        updated: 101,
        meta: format!("meta {id}").into_bytes(),
        sealed: vec![0, 255, 7, 0],
    }
}

async fn fill(store: &dyn Store, audit: &dyn AuditStore) {
    store
        .write_docs(vec![
            DocWrite::Put {
                kind: "vault".into(),
                id: "dev".into(),
                body: b"{\"name\":\"dev\"}".to_vec(),
                mode: DocMode::Create,
            },
            DocWrite::Put {
                kind: "tenant".into(),
                id: "t".into(),
                body: vec![1, 2, 3],
                mode: DocMode::Create,
            },
        ])
        .await
        .unwrap();
    let s = obj("dev", ObjectKind::Secret, "s");
    for id in ["b", "a", "c"] {
        store.append_version(&s, ver(id)).await.unwrap();
    }
    let k = obj("dev", ObjectKind::Key, "k");
    store.append_version(&k, ver("k1")).await.unwrap();
    let gone = obj("other", ObjectKind::Certificate, "gone");
    store.append_version(&gone, ver("g1")).await.unwrap();
    store
        .soft_delete(
            &gone,
            Deletion {
                deleted_date: 500,
                scheduled_purge_date: 900,
            },
        )
        .await
        .unwrap();
    // More audit records than one copy page.
    let records: Arc<[AuditRecord]> = (0..1203)
        .map(|i| AuditRecord {
            vault: "dev".into(),
            time_ms: 1_000 + i,
            status: if i % 7 == 0 { 403 } else { 200 },
            operation: "SecretGet".into(),
            caller_oid: (i % 2 == 0).then(|| "oid".to_owned()),
            request_id: format!("req-{i}"),
            body: format!("{{\"i\":{i}}}").into_bytes(),
        })
        .collect();
    audit.append(records).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_to_postgres_and_back() {
    let Some(url) = support::server_url("embedded_to_postgres_and_back") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let a = SqliteStore::open(&dir.path().join("a.db")).unwrap();
    let a_audit = SqliteAuditStore::open(&dir.path().join("a-audit.db")).unwrap();
    fill(&a, &a_audit).await;
    let before = copy::inventory(&a, &a_audit).await.unwrap();
    assert_eq!(
        (
            before.docs,
            before.objects,
            before.deleted_objects,
            before.versions
        ),
        (2, 3, 1, 5)
    );
    assert_eq!(before.audit_records, 1203);

    let options = support::fresh_db(&url).await;
    let pg = PgStore::open(&options).await.unwrap();
    let pg_audit = PgAuditStore::open(&options).await.unwrap();
    let copied = copy::copy((&a, &a_audit), (&pg, &pg_audit), &Silent)
        .await
        .unwrap();
    assert_eq!(copied, before);
    assert_eq!(copy::inventory(&pg, &pg_audit).await.unwrap(), before);
    // The latest version is the last one added, not the greatest id.
    let latest = pg
        .get_version(&obj("dev", ObjectKind::Secret, "s"), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(latest.version, "c");
    assert!(
        pg.get_deleted(&obj("other", ObjectKind::Certificate, "gone"))
            .await
            .unwrap()
            .is_some()
    );

    // Into a non-empty target: refused, and the target is unchanged.
    let err = copy::copy((&a, &a_audit), (&pg, &pg_audit), &Silent)
        .await
        .unwrap_err();
    assert!(matches!(err, CopyError::TargetNotEmpty(_)), "{err}");
    assert_eq!(copy::inventory(&pg, &pg_audit).await.unwrap(), before);

    // And back into a new embedded store.
    let b = SqliteStore::open(&dir.path().join("b.db")).unwrap();
    let b_audit = SqliteAuditStore::open(&dir.path().join("b-audit.db")).unwrap();
    copy::copy((&pg, &pg_audit), (&b, &b_audit), &Silent)
        .await
        .unwrap();
    assert_eq!(copy::inventory(&b, &b_audit).await.unwrap(), before);
}

/// The checksum sees a change anywhere: one byte of one sealed payload.
#[tokio::test]
async fn the_checksum_notices_one_changed_byte() {
    let a = SqliteStore::open_in_memory().unwrap();
    let a_audit = SqliteAuditStore::open_in_memory().unwrap();
    fill(&a, &a_audit).await;
    let b = SqliteStore::open_in_memory().unwrap();
    let b_audit = SqliteAuditStore::open_in_memory().unwrap();
    fill(&b, &b_audit).await;
    let same = copy::inventory(&b, &b_audit).await.unwrap();
    assert_eq!(copy::inventory(&a, &a_audit).await.unwrap(), same);
    let mut v = ver("d");
    v.sealed[1] = 254;
    b.append_version(&obj("dev", ObjectKind::Secret, "s"), ver("d"))
        .await
        .unwrap();
    a.append_version(&obj("dev", ObjectKind::Secret, "s"), v)
        .await
        .unwrap();
    let (x, y) = (
        copy::inventory(&a, &a_audit).await.unwrap(),
        copy::inventory(&b, &b_audit).await.unwrap(),
    );
    assert_eq!((x.versions, x.objects), (y.versions, y.objects));
    assert_ne!(x.checksum, y.checksum);
}
