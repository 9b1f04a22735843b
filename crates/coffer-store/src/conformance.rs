//! The conformance suite every storage backend must pass. Backends call [`run_all`] from their tests
//! with a fresh, empty store.
//!
//! Each check is also public, so a backend can run one alone while debugging. Checks use their own
//! vaults and document kinds, so they can share one store; every soft-deleted object they leave
//! behind is scheduled for purge far in the future, so only [`due_for_purge`] sees due objects.

// This module is test support: a check that does not hold must stop the test with a clear message,
// so panicking (assert!, expect, panic!) is exactly what it is for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::{
    Deletion, Doc, DocMode, DocWrite, ObjectKind, ObjectRef, ObjectSummary, Store, StoreError,
    Version,
};

/// Scheduled purge date of every object the checks soft-delete, except in [`due_for_purge`].
const FAR_FUTURE: i64 = 4_000_000_000;

/// Asserts that a result is the given `StoreError` variant, with context on failure.
macro_rules! assert_err {
    ($res:expr, $pat:pat, $($ctx:tt)+) => {{
        let res = $res;
        assert!(
            matches!(res, Err($pat)),
            "{}: expected Err({}), got {:?}",
            format_args!($($ctx)+),
            stringify!($pat),
            res
        );
    }};
}

/// Runs every check against `store`, which must be fresh and empty.
pub async fn run_all(store: &dyn Store) {
    docs_create_overwrite_update(store).await;
    docs_delete(store).await;
    docs_batch_atomic(store).await;
    docs_list_ordering(store).await;
    append_makes_latest(store).await;
    get_version_by_id_latest_missing(store).await;
    update_version_changes_meta_and_updated_only(store).await;
    duplicate_version_id(store).await;
    list_objects_paging(store).await;
    list_objects_namespaces(store).await;
    list_versions_paging(store).await;
    soft_delete_and_recover(store).await;
    purge(store).await;
    append_versions_atomic(store).await;
    restore(store).await;
    due_for_purge(store).await;
    isolation(store).await;
    concurrent_appends(store).await;
    binary_payloads(store).await;
    scan_and_history(store).await;
}

// === helpers ===

fn obj(vault: &str, kind: ObjectKind, name: &str) -> ObjectRef {
    ObjectRef {
        vault: vault.to_owned(),
        kind,
        name: name.to_owned(),
    }
}

fn ver(id: &str, created: i64) -> Version {
    Version {
        version: id.to_owned(),
        created,
        updated: created,
        meta: format!("meta of {id}").into_bytes(),
        sealed: format!("sealed {id}").into_bytes(),
    }
}

fn deletion(deleted_date: i64) -> Deletion {
    Deletion {
        deleted_date,
        scheduled_purge_date: FAR_FUTURE + deleted_date,
    }
}

fn put(kind: &str, id: &str, body: &[u8], mode: DocMode) -> DocWrite {
    DocWrite::Put {
        kind: kind.to_owned(),
        id: id.to_owned(),
        body: body.to_vec(),
        mode,
    }
}

fn del(kind: &str, id: &str) -> DocWrite {
    DocWrite::Delete {
        kind: kind.to_owned(),
        id: id.to_owned(),
    }
}

fn doc(kind: &str, id: &str, revision: u64, body: &[u8]) -> Doc {
    Doc {
        kind: kind.to_owned(),
        id: id.to_owned(),
        revision,
        body: body.to_vec(),
    }
}

async fn get_doc(store: &dyn Store, kind: &str, id: &str) -> Option<Doc> {
    store
        .get_doc(kind, id)
        .await
        .unwrap_or_else(|e| panic!("get_doc({kind}, {id}) failed: {e:?}"))
}

async fn append(store: &dyn Store, o: &ObjectRef, v: Version) {
    let id = v.version.clone();
    store
        .append_version(o, v)
        .await
        .unwrap_or_else(|e| panic!("append_version({o:?}, {id}) failed: {e:?}"));
}

async fn latest(store: &dyn Store, o: &ObjectRef) -> Option<Version> {
    store
        .get_version(o, None)
        .await
        .unwrap_or_else(|e| panic!("get_version({o:?}, latest) failed: {e:?}"))
}

async fn get(store: &dyn Store, o: &ObjectRef, id: &str) -> Option<Version> {
    store
        .get_version(o, Some(id))
        .await
        .unwrap_or_else(|e| panic!("get_version({o:?}, {id}) failed: {e:?}"))
}

async fn all_versions(store: &dyn Store, o: &ObjectRef) -> Vec<Version> {
    store
        .list_versions(o, None, 10_000)
        .await
        .unwrap_or_else(|e| panic!("list_versions({o:?}) failed: {e:?}"))
}

async fn list_names(
    store: &dyn Store,
    vault: &str,
    kind: ObjectKind,
    deleted: bool,
) -> Vec<String> {
    store
        .list_objects(vault, kind, deleted, None, 10_000)
        .await
        .unwrap_or_else(|e| {
            panic!("list_objects({vault}, {kind:?}, deleted={deleted}) failed: {e:?}")
        })
        .into_iter()
        .map(|s| s.name)
        .collect()
}

async fn soft_delete_ok(store: &dyn Store, o: &ObjectRef, d: Deletion) {
    store
        .soft_delete(o, d)
        .await
        .unwrap_or_else(|e| panic!("soft_delete({o:?}) failed: {e:?}"));
}

// === documents ===

/// `Create` needs an absent document and starts at revision 1; `Overwrite` writes whatever is there
/// (revision 1 if absent, else one more); `Update(r)` needs the document at exactly revision `r`,
/// else `PreconditionFailed` (also when it is absent), and a failed write changes nothing.
pub async fn docs_create_overwrite_update(store: &dyn Store) {
    let k = "conformance-doc-rev";
    assert_eq!(
        get_doc(store, k, "a").await,
        None,
        "a document never written is absent"
    );

    store
        .write_docs(vec![put(k, "a", b"one", DocMode::Create)])
        .await
        .expect("Create of an absent document");
    assert_eq!(
        get_doc(store, k, "a").await,
        Some(doc(k, "a", 1, b"one")),
        "Create starts at revision 1"
    );

    assert_err!(
        store
            .write_docs(vec![put(k, "a", b"dup", DocMode::Create)])
            .await,
        StoreError::AlreadyExists,
        "Create of an existing document"
    );
    assert_eq!(
        get_doc(store, k, "a").await,
        Some(doc(k, "a", 1, b"one")),
        "a refused Create changes nothing"
    );

    store
        .write_docs(vec![put(k, "a", b"two", DocMode::Overwrite)])
        .await
        .expect("Overwrite of an existing document");
    assert_eq!(
        get_doc(store, k, "a").await,
        Some(doc(k, "a", 2, b"two")),
        "Overwrite bumps the revision"
    );

    store
        .write_docs(vec![put(k, "a", b"three", DocMode::Update(2))])
        .await
        .expect("Update at the current revision");
    assert_eq!(
        get_doc(store, k, "a").await,
        Some(doc(k, "a", 3, b"three")),
        "Update bumps the revision"
    );

    assert_err!(
        store
            .write_docs(vec![put(k, "a", b"stale", DocMode::Update(2))])
            .await,
        StoreError::PreconditionFailed,
        "Update at a stale revision"
    );
    assert_err!(
        store
            .write_docs(vec![put(k, "a", b"future", DocMode::Update(4))])
            .await,
        StoreError::PreconditionFailed,
        "Update at a revision not reached yet"
    );
    assert_eq!(
        get_doc(store, k, "a").await,
        Some(doc(k, "a", 3, b"three")),
        "a failed Update changes nothing"
    );

    assert_err!(
        store
            .write_docs(vec![put(k, "b", b"x", DocMode::Update(1))])
            .await,
        StoreError::PreconditionFailed,
        "Update of an absent document"
    );
    assert_eq!(
        get_doc(store, k, "b").await,
        None,
        "a failed Update creates nothing"
    );

    store
        .write_docs(vec![put(k, "c", b"fresh", DocMode::Overwrite)])
        .await
        .expect("Overwrite of an absent document");
    assert_eq!(
        get_doc(store, k, "c").await,
        Some(doc(k, "c", 1, b"fresh")),
        "Overwrite of an absent document starts at 1"
    );

    store
        .write_docs(vec![])
        .await
        .expect("an empty batch is a no-op");
}

/// `Delete` removes a document; deleting an absent one is `NotFound`; a deleted id can be created
/// again, from revision 1.
pub async fn docs_delete(store: &dyn Store) {
    let k = "conformance-doc-delete";
    assert_err!(
        store.write_docs(vec![del(k, "a")]).await,
        StoreError::NotFound,
        "Delete of an absent document"
    );

    store
        .write_docs(vec![
            put(k, "a", b"one", DocMode::Create),
            put(k, "b", b"bee", DocMode::Create),
        ])
        .await
        .expect("create two documents");
    store
        .write_docs(vec![put(k, "a", b"two", DocMode::Overwrite)])
        .await
        .expect("overwrite");
    store
        .write_docs(vec![del(k, "a")])
        .await
        .expect("Delete of an existing document");
    assert_eq!(
        get_doc(store, k, "a").await,
        None,
        "a deleted document is gone"
    );
    let listed = store.list_docs(k).await.expect("list_docs");
    assert_eq!(
        listed,
        vec![doc(k, "b", 1, b"bee")],
        "list_docs omits deleted documents"
    );
    assert_err!(
        store.write_docs(vec![del(k, "a")]).await,
        StoreError::NotFound,
        "Delete of a deleted document"
    );

    store
        .write_docs(vec![put(k, "a", b"again", DocMode::Create)])
        .await
        .expect("Create of a deleted id");
    assert_eq!(
        get_doc(store, k, "a").await,
        Some(doc(k, "a", 1, b"again")),
        "a re-created document starts at 1"
    );
}

/// `write_docs` is all or nothing, and the writes of a batch apply in order.
pub async fn docs_batch_atomic(store: &dyn Store) {
    let k = "conformance-doc-batch";

    // Writes apply in order: a later write of the batch sees the earlier ones.
    store
        .write_docs(vec![
            put(k, "x", b"x1", DocMode::Create),
            put(k, "y", b"y1", DocMode::Create),
            put(k, "x", b"x2", DocMode::Update(1)),
        ])
        .await
        .expect("a batch whose preconditions all hold");
    assert_eq!(
        get_doc(store, k, "x").await,
        Some(doc(k, "x", 2, b"x2")),
        "batch write 1+3"
    );
    assert_eq!(
        get_doc(store, k, "y").await,
        Some(doc(k, "y", 1, b"y1")),
        "batch write 2"
    );

    let before = store.list_docs(k).await.expect("list_docs");

    assert_err!(
        store
            .write_docs(vec![
                put(k, "y", b"changed", DocMode::Overwrite),
                put(k, "z", b"new", DocMode::Create),
                put(k, "x", b"stale", DocMode::Update(1)),
            ])
            .await,
        StoreError::PreconditionFailed,
        "a batch whose last write has a stale revision"
    );
    assert_eq!(
        store.list_docs(k).await.expect("list_docs"),
        before,
        "a batch failing on Update changes nothing"
    );

    assert_err!(
        store
            .write_docs(vec![
                del(k, "y"),
                put(k, "w", b"new", DocMode::Create),
                del(k, "missing")
            ])
            .await,
        StoreError::NotFound,
        "a batch deleting an absent document"
    );
    assert_eq!(
        store.list_docs(k).await.expect("list_docs"),
        before,
        "a batch failing on Delete changes nothing"
    );

    assert_err!(
        store
            .write_docs(vec![
                put(k, "q", b"new", DocMode::Create),
                put(k, "y", b"dup", DocMode::Create)
            ])
            .await,
        StoreError::AlreadyExists,
        "a batch creating an existing document"
    );
    assert_eq!(
        store.list_docs(k).await.expect("list_docs"),
        before,
        "a batch failing on Create changes nothing"
    );
}

/// `list_docs` returns exactly the documents of one kind, ordered by id.
pub async fn docs_list_ordering(store: &dyn Store) {
    let k = "conformance-doc-list";
    assert_eq!(
        store.list_docs(k).await.expect("list_docs"),
        vec![],
        "a kind with no documents lists empty"
    );
    for id in ["m", "b", "z", "a", "k", "a-b", "a0"] {
        store
            .write_docs(vec![put(k, id, id.as_bytes(), DocMode::Create)])
            .await
            .expect("create");
    }
    // Neighbouring kinds must not leak in.
    store
        .write_docs(vec![
            put("conformance-doc-lis", "c", b"other", DocMode::Create),
            put("conformance-doc-list2", "c", b"other", DocMode::Create),
        ])
        .await
        .expect("create in other kinds");
    let listed = store.list_docs(k).await.expect("list_docs");
    let want: Vec<Doc> = ["a", "a-b", "a0", "b", "k", "m", "z"]
        .iter()
        .map(|id| doc(k, id, 1, id.as_bytes()))
        .collect();
    assert_eq!(listed, want, "list_docs orders by id and keeps to its kind");
}

// === objects ===

/// The newest appended version is the latest, whatever its id or timestamps.
pub async fn append_makes_latest(store: &dyn Store) {
    let o = obj("conformance-append", ObjectKind::Secret, "s");
    assert_eq!(
        latest(store, &o).await,
        None,
        "an object never written has no latest version"
    );

    append(store, &o, ver("v1", 100)).await;
    assert_eq!(
        latest(store, &o).await,
        Some(ver("v1", 100)),
        "the first version is the latest"
    );

    // Same timestamp, smaller id: still the newest append wins.
    append(store, &o, ver("v0", 100)).await;
    assert_eq!(
        latest(store, &o).await,
        Some(ver("v0", 100)),
        "latest is the last appended, not the largest id"
    );

    // Older clock: still the newest append wins.
    append(store, &o, ver("v2", 50)).await;
    assert_eq!(
        latest(store, &o).await,
        Some(ver("v2", 50)),
        "latest is the last appended, not the newest timestamp"
    );

    let ids: Vec<String> = all_versions(store, &o)
        .await
        .into_iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(ids, ["v0", "v1", "v2"], "every appended version is kept");
}

/// `get_version` by id, latest, and the absent cases.
pub async fn get_version_by_id_latest_missing(store: &dyn Store) {
    let o = obj("conformance-get", ObjectKind::Key, "k");
    append(store, &o, ver("a", 1)).await;
    append(store, &o, ver("b", 2)).await;
    assert_eq!(
        get(store, &o, "a").await,
        Some(ver("a", 1)),
        "get by id (older)"
    );
    assert_eq!(
        get(store, &o, "b").await,
        Some(ver("b", 2)),
        "get by id (newest)"
    );
    assert_eq!(latest(store, &o).await, Some(ver("b", 2)), "get latest");
    assert_eq!(
        get(store, &o, "c").await,
        None,
        "an absent version id is Ok(None)"
    );
    assert_eq!(get(store, &o, "A").await, None, "version ids match exactly");
    let absent = obj("conformance-get", ObjectKind::Key, "nope");
    assert_eq!(
        latest(store, &absent).await,
        None,
        "latest of an absent object is Ok(None)"
    );
    assert_eq!(
        get(store, &absent, "a").await,
        None,
        "a version of an absent object is Ok(None)"
    );
}

/// `update_version` replaces `meta` and `updated` and nothing else, and does not change which
/// version is the latest.
pub async fn update_version_changes_meta_and_updated_only(store: &dyn Store) {
    let o = obj("conformance-update", ObjectKind::Secret, "s");
    append(store, &o, ver("a", 10)).await;
    append(store, &o, ver("b", 20)).await;

    let updated = store
        .update_version(&o, "a", b"new meta".to_vec(), 99)
        .await
        .expect("update_version of an existing version");
    let want = Version {
        version: "a".into(),
        created: 10,
        updated: 99,
        meta: b"new meta".to_vec(),
        sealed: ver("a", 10).sealed,
    };
    assert_eq!(updated, want, "update_version returns the new record");
    assert_eq!(
        get(store, &o, "a").await,
        Some(want),
        "update_version is stored"
    );
    assert_eq!(
        latest(store, &o).await,
        Some(ver("b", 20)),
        "updating an older version leaves the latest alone"
    );

    assert_err!(
        store.update_version(&o, "zz", b"m".to_vec(), 1).await,
        StoreError::NotFound,
        "update_version of an absent version"
    );
    assert_err!(
        store
            .update_version(
                &obj("conformance-update", ObjectKind::Secret, "nope"),
                "a",
                b"m".to_vec(),
                1
            )
            .await,
        StoreError::NotFound,
        "update_version of an absent object"
    );
}

/// A version id is unique within its object.
pub async fn duplicate_version_id(store: &dyn Store) {
    let o = obj("conformance-dup", ObjectKind::Secret, "s");
    append(store, &o, ver("x", 1)).await;
    let mut other = ver("x", 2);
    other.sealed = b"different".to_vec();
    assert_err!(
        store.append_version(&o, other.clone()).await,
        StoreError::AlreadyExists,
        "append of a taken version id"
    );
    assert_eq!(
        get(store, &o, "x").await,
        Some(ver("x", 1)),
        "a refused append keeps the original version"
    );

    append(store, &o, ver("y", 3)).await;
    assert_err!(
        store.append_version(&o, other).await,
        StoreError::AlreadyExists,
        "append of a taken, not latest, version id"
    );
    assert_eq!(
        latest(store, &o).await,
        Some(ver("y", 3)),
        "a refused append does not change the latest"
    );
    assert_eq!(
        all_versions(store, &o).await.len(),
        2,
        "a refused append adds nothing"
    );
}

/// `list_objects` pages by name: `after` is exclusive, `limit` is honoured, every name comes once.
pub async fn list_objects_paging(store: &dyn Store) {
    let vault = "conformance-paging";
    let kind = ObjectKind::Secret;
    let count = 30;
    let name = |i: usize| format!("obj-{i:02}");
    // Create in a scrambled order, each with two versions.
    for j in 0..count {
        let i = (j * 7) % count;
        let o = obj(vault, kind, &name(i));
        append(store, &o, ver(&format!("first-{i}"), 1)).await;
        append(store, &o, ver(&format!("second-{i}"), 2)).await;
    }

    let mut seen: Vec<ObjectSummary> = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_objects(vault, kind, false, after.as_deref(), 7)
            .await
            .expect("list_objects page");
        pages += 1;
        assert!(pages <= 10, "paging does not terminate (after = {after:?})");
        assert!(
            page.len() <= 7,
            "a page holds at most `limit` objects, got {}",
            page.len()
        );
        let Some(last) = page.last() else { break };
        after = Some(last.name.clone());
        let short = page.len() < 7;
        seen.extend(page);
        if short {
            break;
        }
    }
    let names: Vec<String> = seen.iter().map(|s| s.name.clone()).collect();
    let want: Vec<String> = (0..count).map(name).collect();
    assert_eq!(
        names, want,
        "walking pages of 7 yields every name once, in order"
    );
    for s in &seen {
        let i: usize = s.name["obj-".len()..].parse().expect("name suffix");
        assert_eq!(
            s.latest,
            ver(&format!("second-{i}"), 2),
            "a summary carries the latest version"
        );
        assert_eq!(s.deletion, None, "live summaries carry no deletion");
    }

    let page = store
        .list_objects(vault, kind, false, Some("obj-05x"), 3)
        .await
        .expect("list_objects after a name that does not exist");
    let names: Vec<&str> = page.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["obj-06", "obj-07", "obj-08"],
        "`after` need not be an existing name"
    );

    let page = store
        .list_objects(vault, kind, false, Some("obj-29"), 7)
        .await
        .expect("list_objects after the last name");
    assert!(page.is_empty(), "nothing after the last name");

    let all = store
        .list_objects(vault, kind, false, None, 1000)
        .await
        .expect("list_objects with a large limit");
    assert_eq!(all.len(), count, "a large limit returns everything");

    let none = store
        .list_objects(vault, kind, false, None, 0)
        .await
        .expect("list_objects limit 0");
    assert!(none.is_empty(), "limit 0 returns nothing");
}

/// Live and soft-deleted objects are listed in separate namespaces.
pub async fn list_objects_namespaces(store: &dyn Store) {
    let vault = "conformance-ns";
    let kind = ObjectKind::Key;
    for n in ["a", "b", "c", "d"] {
        append(store, &obj(vault, kind, n), ver(&format!("{n}1"), 1)).await;
    }
    soft_delete_ok(store, &obj(vault, kind, "b"), deletion(100)).await;
    soft_delete_ok(store, &obj(vault, kind, "d"), deletion(200)).await;

    let live = store
        .list_objects(vault, kind, false, None, 100)
        .await
        .expect("list live");
    let want_live: Vec<ObjectSummary> = ["a", "c"]
        .iter()
        .map(|n| ObjectSummary {
            name: (*n).into(),
            latest: ver(&format!("{n}1"), 1),
            deletion: None,
        })
        .collect();
    assert_eq!(
        live, want_live,
        "the live namespace holds only live objects"
    );

    let deleted = store
        .list_objects(vault, kind, true, None, 100)
        .await
        .expect("list deleted");
    let want_deleted = vec![
        ObjectSummary {
            name: "b".into(),
            latest: ver("b1", 1),
            deletion: Some(deletion(100)),
        },
        ObjectSummary {
            name: "d".into(),
            latest: ver("d1", 1),
            deletion: Some(deletion(200)),
        },
    ];
    assert_eq!(
        deleted, want_deleted,
        "the deleted namespace holds soft-deleted objects with their deletion"
    );

    let page = store
        .list_objects(vault, kind, true, Some("b"), 1)
        .await
        .expect("page deleted");
    assert_eq!(
        page,
        want_deleted[1..].to_vec(),
        "the deleted namespace pages too"
    );

    assert!(
        list_names(store, vault, ObjectKind::Secret, true)
            .await
            .is_empty(),
        "another kind's deleted namespace is empty"
    );

    store
        .recover(&obj(vault, kind, "b"))
        .await
        .expect("recover");
    assert_eq!(
        list_names(store, vault, kind, false).await,
        ["a", "b", "c"],
        "a recovered object is live again"
    );
    assert_eq!(
        list_names(store, vault, kind, true).await,
        ["d"],
        "a recovered object leaves the deleted namespace"
    );
}

/// `list_versions` pages by version id; absent and deleted objects are `NotFound`.
pub async fn list_versions_paging(store: &dyn Store) {
    let o = obj("conformance-verpage", ObjectKind::Certificate, "c");
    let count = 20;
    for j in 0..count {
        let i = (j * 11) % count;
        append(store, &o, ver(&format!("{i:032x}"), i64::from(j))).await;
    }
    let mut ids: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..20 {
        let page = store
            .list_versions(&o, after.as_deref(), 3)
            .await
            .expect("list_versions page");
        assert!(page.len() <= 3, "a page holds at most `limit` versions");
        let Some(last) = page.last() else { break };
        after = Some(last.version.clone());
        let short = page.len() < 3;
        ids.extend(page.into_iter().map(|v| v.version));
        if short {
            break;
        }
    }
    let want: Vec<String> = (0..count).map(|i| format!("{i:032x}")).collect();
    assert_eq!(
        ids, want,
        "walking pages of 3 yields every version once, ordered by id"
    );

    let page = store
        .list_versions(&o, Some(&format!("{:032x}g", 4)), 2)
        .await
        .expect("list_versions after an id that does not exist");
    let got: Vec<String> = page.into_iter().map(|v| v.version).collect();
    assert_eq!(
        got,
        [format!("{:032x}", 5), format!("{:032x}", 6)],
        "`after` need not be an existing id"
    );

    assert_err!(
        store
            .list_versions(
                &obj("conformance-verpage", ObjectKind::Certificate, "nope"),
                None,
                10
            )
            .await,
        StoreError::NotFound,
        "list_versions of an absent object"
    );
    assert_err!(
        store
            .list_versions(&obj("conformance-verpage", ObjectKind::Key, "c"), None, 10)
            .await,
        StoreError::NotFound,
        "list_versions of the same name in another kind"
    );
}

/// Soft delete hides an object from the live namespace, keeps it whole in the deleted one, blocks
/// the name, and `recover` brings back every version.
pub async fn soft_delete_and_recover(store: &dyn Store) {
    let vault = "conformance-softdel";
    let kind = ObjectKind::Secret;
    let o = obj(vault, kind, "s");
    let keep = obj(vault, kind, "keep");
    append(store, &o, ver("v1", 1)).await;
    append(store, &o, ver("v2", 2)).await;
    append(store, &keep, ver("k1", 1)).await;

    assert_err!(
        store
            .soft_delete(&obj(vault, kind, "nope"), deletion(1))
            .await,
        StoreError::NotFound,
        "soft_delete of an absent object"
    );
    assert_eq!(
        store.get_deleted(&o).await.expect("get_deleted"),
        None,
        "get_deleted of a live object"
    );
    assert_err!(
        store.recover(&o).await,
        StoreError::NotFound,
        "recover of a live object"
    );

    let d = deletion(1000);
    soft_delete_ok(store, &o, d.clone()).await;

    assert_eq!(
        latest(store, &o).await,
        None,
        "a deleted object has no live latest version"
    );
    assert_eq!(
        get(store, &o, "v1").await,
        None,
        "a deleted object's versions are not live"
    );
    assert_err!(
        store.list_versions(&o, None, 10).await,
        StoreError::NotFound,
        "list_versions of a deleted object"
    );
    assert_err!(
        store.update_version(&o, "v1", b"m".to_vec(), 5).await,
        StoreError::NotFound,
        "update_version of a deleted object"
    );
    let want = ObjectSummary {
        name: "s".into(),
        latest: ver("v2", 2),
        deletion: Some(d.clone()),
    };
    assert_eq!(
        store.get_deleted(&o).await.expect("get_deleted"),
        Some(want.clone()),
        "get_deleted after soft_delete"
    );
    assert_err!(
        store.soft_delete(&o, deletion(2000)).await,
        StoreError::NotFound,
        "soft_delete of a deleted object"
    );
    assert_eq!(
        store.get_deleted(&o).await.expect("get_deleted"),
        Some(want.clone()),
        "a refused soft_delete keeps the deletion dates"
    );

    assert_err!(
        store.append_version(&o, ver("v3", 3)).await,
        StoreError::DeletedButRecoverable,
        "append_version to a deleted name"
    );
    assert_eq!(
        store.get_deleted(&o).await.expect("get_deleted"),
        Some(want.clone()),
        "a refused append changes nothing"
    );

    let deleted = store
        .list_objects(vault, kind, true, None, 100)
        .await
        .expect("list deleted");
    assert_eq!(
        deleted,
        vec![want],
        "list_objects(deleted) shows the deleted object"
    );
    assert_eq!(
        list_names(store, vault, kind, false).await,
        ["keep"],
        "the live namespace hides it"
    );
    assert_eq!(
        latest(store, &keep).await,
        Some(ver("k1", 1)),
        "its neighbour is untouched"
    );

    store
        .recover(&o)
        .await
        .expect("recover of a deleted object");
    assert_eq!(
        store.get_deleted(&o).await.expect("get_deleted"),
        None,
        "a recovered object is not deleted"
    );
    assert_eq!(
        latest(store, &o).await,
        Some(ver("v2", 2)),
        "recover keeps the latest version"
    );
    assert_eq!(
        all_versions(store, &o).await,
        vec![ver("v1", 1), ver("v2", 2)],
        "recover restores every version"
    );
    assert_err!(
        store.recover(&o).await,
        StoreError::NotFound,
        "recover of a recovered object"
    );
    assert_eq!(
        list_names(store, vault, kind, false).await,
        ["keep", "s"],
        "recovered objects are listed live"
    );
    assert!(
        list_names(store, vault, kind, true).await.is_empty(),
        "and no longer deleted"
    );

    append(store, &o, ver("v3", 3)).await;
    assert_eq!(
        latest(store, &o).await,
        Some(ver("v3", 3)),
        "a recovered object takes new versions"
    );
}

/// `append_versions` writes one version to each of several objects, all or none.
pub async fn append_versions_atomic(store: &dyn Store) {
    let vault = "conformance-append-many";
    let cert = obj(vault, ObjectKind::Certificate, "c");
    let key = obj(vault, ObjectKind::Key, "c");
    let secret = obj(vault, ObjectKind::Secret, "c");
    store
        .append_versions(vec![
            (key.clone(), ver("v1", 1)),
            (secret.clone(), ver("v1", 1)),
            (cert.clone(), ver("v1", 1)),
        ])
        .await
        .expect("append_versions");
    for o in [&cert, &key, &secret] {
        assert_eq!(latest(store, o).await, Some(ver("v1", 1)), "{o:?}");
    }
    // A clash in the last write leaves the earlier ones unwritten.
    let other = obj(vault, ObjectKind::Key, "fresh");
    assert_err!(
        store
            .append_versions(vec![
                (other.clone(), ver("v2", 2)),
                (cert.clone(), ver("v1", 3))
            ])
            .await,
        StoreError::AlreadyExists,
        "a taken version id in a batch"
    );
    assert_eq!(
        latest(store, &other).await,
        None,
        "nothing of a failed batch stays"
    );
    soft_delete_ok(store, &secret, deletion(5)).await;
    assert_err!(
        store
            .append_versions(vec![
                (key.clone(), ver("v2", 2)),
                (secret.clone(), ver("v2", 2))
            ])
            .await,
        StoreError::DeletedButRecoverable,
        "a soft-deleted name in a batch"
    );
    assert_eq!(
        latest(store, &key).await,
        Some(ver("v1", 1)),
        "the key kept its version"
    );
}

/// `purge` removes a live or deleted object with all its versions and frees the name.
pub async fn purge(store: &dyn Store) {
    let vault = "conformance-purge";
    let kind = ObjectKind::Key;
    let live = obj(vault, kind, "live");
    let gone = obj(vault, kind, "gone");
    assert_err!(
        store.purge(&obj(vault, kind, "nope")).await,
        StoreError::NotFound,
        "purge of an absent object"
    );

    append(store, &live, ver("v1", 1)).await;
    append(store, &live, ver("v2", 2)).await;
    assert_eq!(
        store.purge(&live).await.expect("purge of a live object"),
        vec![ver("v1", 1), ver("v2", 2)],
        "purge returns the versions it removed"
    );
    assert_eq!(latest(store, &live).await, None, "a purged object is gone");
    assert_eq!(
        store.get_deleted(&live).await.expect("get_deleted"),
        None,
        "a purged object is not deleted either"
    );
    assert_err!(
        store.list_versions(&live, None, 10).await,
        StoreError::NotFound,
        "list_versions of a purged object"
    );
    assert_err!(
        store.purge(&live).await,
        StoreError::NotFound,
        "purge twice"
    );
    append(store, &live, ver("v1", 5)).await;
    assert_eq!(
        all_versions(store, &live).await,
        vec![ver("v1", 5)],
        "a purged name starts afresh, old version ids free"
    );

    append(store, &gone, ver("g1", 1)).await;
    soft_delete_ok(store, &gone, deletion(10)).await;
    assert_eq!(
        store.purge(&gone).await.expect("purge of a deleted object"),
        vec![ver("g1", 1)],
        "purge of a deleted object returns its versions too"
    );
    assert_eq!(
        store.get_deleted(&gone).await.expect("get_deleted"),
        None,
        "a purged deleted object is gone"
    );
    assert!(
        list_names(store, vault, kind, true).await.is_empty(),
        "it leaves the deleted namespace"
    );
    assert_err!(
        store.purge(&gone).await,
        StoreError::NotFound,
        "purge of a purged deleted object"
    );
    append(store, &gone, ver("g1", 2)).await;
    assert_eq!(
        latest(store, &gone).await,
        Some(ver("g1", 2)),
        "purge frees a deleted name"
    );
}

/// `restore` creates an object with every version, the last of the list being the latest, only
/// into a free name.
pub async fn restore(store: &dyn Store) {
    let vault = "conformance-restore";
    let kind = ObjectKind::Certificate;
    let o = obj(vault, kind, "r");
    // Neither id order nor timestamps decide the latest: list order does.
    let backup = vec![ver("c", 30), ver("a", 10), ver("b", 20)];
    store
        .restore(&o, backup.clone())
        .await
        .expect("restore into a free name");
    assert_eq!(
        latest(store, &o).await,
        Some(ver("b", 20)),
        "the last version of the list is the latest"
    );
    assert_eq!(
        all_versions(store, &o).await,
        vec![ver("a", 10), ver("b", 20), ver("c", 30)],
        "restore keeps every version"
    );
    for v in &backup {
        assert_eq!(
            get(store, &o, &v.version).await.as_ref(),
            Some(v),
            "restored version round-trips"
        );
    }

    assert_err!(
        store.restore(&o, vec![ver("z", 1)]).await,
        StoreError::AlreadyExists,
        "restore into a live name"
    );
    assert_eq!(
        latest(store, &o).await,
        Some(ver("b", 20)),
        "a refused restore changes nothing"
    );
    assert_eq!(
        get(store, &o, "z").await,
        None,
        "a refused restore adds nothing"
    );

    soft_delete_ok(store, &o, deletion(7)).await;
    assert_err!(
        store.restore(&o, vec![ver("z", 1)]).await,
        StoreError::DeletedButRecoverable,
        "restore into a deleted name"
    );
    let got = store
        .get_deleted(&o)
        .await
        .expect("get_deleted")
        .expect("still deleted");
    assert_eq!(
        got.latest,
        ver("b", 20),
        "a refused restore leaves the deleted object alone"
    );

    store.purge(&o).await.expect("purge");
    store
        .restore(&o, vec![ver("z", 1), ver("y", 2)])
        .await
        .expect("restore into a purged name");
    assert_eq!(
        all_versions(store, &o).await,
        vec![ver("y", 2), ver("z", 1)],
        "only the restored versions exist"
    );
    assert_eq!(
        latest(store, &o).await,
        Some(ver("y", 2)),
        "latest is the last of the list"
    );

    append(store, &o, ver("x", 0)).await;
    assert_eq!(
        latest(store, &o).await,
        Some(ver("x", 0)),
        "an append after restore becomes the latest"
    );
}

/// `due_for_purge` returns exactly the soft-deleted objects scheduled at or before `now`.
pub async fn due_for_purge(store: &dyn Store) {
    let va = "conformance-due-a";
    let vb = "conformance-due-b";
    let p1 = obj(va, ObjectKind::Secret, "p1");
    let p2 = obj(va, ObjectKind::Secret, "p2");
    let p3 = obj(vb, ObjectKind::Key, "p3");
    let p4 = obj(va, ObjectKind::Certificate, "p4");
    let live = obj(va, ObjectKind::Secret, "live");
    for (o, sched) in [(&p1, 1_000), (&p2, 2_000), (&p3, 2_001), (&p4, 1_500)] {
        append(store, o, ver("v", 1)).await;
        soft_delete_ok(
            store,
            o,
            Deletion {
                deleted_date: 900,
                scheduled_purge_date: sched,
            },
        )
        .await;
    }
    append(store, &live, ver("v", 1)).await;

    let due = |now: i64, limit: usize| async move {
        let mut got: Vec<(String, ObjectKind, String)> = store
            .due_for_purge(now, limit)
            .await
            .unwrap_or_else(|e| panic!("due_for_purge({now}, {limit}) failed: {e:?}"))
            .into_iter()
            .map(|o| (o.vault, o.kind, o.name))
            .collect();
        got.sort();
        got
    };
    let key = |o: &ObjectRef| (o.vault.clone(), o.kind, o.name.clone());
    let set = |os: &[&ObjectRef]| {
        let mut v: Vec<_> = os.iter().map(|o| key(o)).collect();
        v.sort();
        v
    };

    assert!(
        due(999, 100).await.is_empty(),
        "nothing is due before the earliest date"
    );
    assert_eq!(
        due(1_000, 100).await,
        set(&[&p1]),
        "a date equal to now is due"
    );
    assert_eq!(due(1_500, 100).await, set(&[&p1, &p4]), "due across kinds");
    assert_eq!(
        due(2_001, 100).await,
        set(&[&p1, &p2, &p3, &p4]),
        "due across vaults"
    );
    let two = due(2_001, 2).await;
    assert_eq!(two.len(), 2, "limit caps the result");
    let all = set(&[&p1, &p2, &p3, &p4]);
    assert!(
        two.iter().all(|o| all.contains(o)),
        "a capped result holds only due objects: {two:?}"
    );
    assert!(due(2_001, 0).await.is_empty(), "limit 0 returns nothing");

    store.purge(&p1).await.expect("purge p1");
    store.recover(&p2).await.expect("recover p2");
    assert_eq!(
        due(2_001, 100).await,
        set(&[&p3, &p4]),
        "purged and recovered objects are not due"
    );

    store.purge(&p3).await.expect("purge p3");
    store.purge(&p4).await.expect("purge p4");
    assert!(
        due(FAR_FUTURE - 1, 100).await.is_empty(),
        "nothing left due"
    );
}

/// Vaults and kinds are separate namespaces, for objects, versions and documents.
pub async fn isolation(store: &dyn Store) {
    let refs = [
        obj("conformance-iso-a", ObjectKind::Secret, "same"),
        obj("conformance-iso-a", ObjectKind::Key, "same"),
        obj("conformance-iso-a", ObjectKind::Certificate, "same"),
        obj("conformance-iso-b", ObjectKind::Secret, "same"),
    ];
    let payload = |i: usize| Version {
        version: "v".into(),
        created: 1,
        updated: 1,
        meta: format!("meta {i}").into_bytes(),
        sealed: format!("sealed {i}").into_bytes(),
    };
    for (i, o) in refs.iter().enumerate() {
        // Same version id in every object: ids are unique per object only.
        append(store, o, payload(i)).await;
    }
    for (i, o) in refs.iter().enumerate() {
        assert_eq!(
            latest(store, o).await,
            Some(payload(i)),
            "each object keeps its own versions: {o:?}"
        );
    }
    for o in &refs {
        let listed = store
            .list_objects(&o.vault, o.kind, false, None, 100)
            .await
            .expect("list");
        assert_eq!(listed.len(), 1, "one object per vault and kind: {o:?}");
    }

    soft_delete_ok(store, &refs[0], deletion(1)).await;
    for (i, o) in refs.iter().enumerate().skip(1) {
        assert_eq!(
            latest(store, o).await,
            Some(payload(i)),
            "soft delete touches one object only: {o:?}"
        );
        assert_eq!(
            store.get_deleted(o).await.expect("get_deleted"),
            None,
            "only one object is deleted: {o:?}"
        );
    }
    assert!(
        list_names(store, "conformance-iso-a", ObjectKind::Key, true)
            .await
            .is_empty(),
        "kinds' deleted namespaces"
    );
    assert!(
        list_names(store, "conformance-iso-b", ObjectKind::Secret, true)
            .await
            .is_empty(),
        "vaults' deleted namespaces"
    );
    append(store, &refs[3], ver("w", 2)).await;
    assert_eq!(
        latest(store, &refs[3]).await,
        Some(ver("w", 2)),
        "the same name in another vault is not blocked"
    );

    store
        .update_version(&refs[1], "v", b"changed".to_vec(), 9)
        .await
        .expect("update");
    assert_eq!(
        latest(store, &refs[2]).await,
        Some(payload(2)),
        "update touches one object only"
    );

    store.purge(&refs[1]).await.expect("purge");
    assert_eq!(
        latest(store, &refs[2]).await,
        Some(payload(2)),
        "purge touches one object only"
    );
    assert_eq!(
        store
            .get_deleted(&refs[0])
            .await
            .expect("get_deleted")
            .map(|s| s.latest),
        Some(payload(0)),
        "purge of a live object leaves the deleted one of another kind"
    );
    assert_err!(
        store.recover(&refs[3]).await,
        StoreError::NotFound,
        "recover of a live object whose name is deleted in another vault"
    );

    store
        .write_docs(vec![
            put("conformance-iso-x", "id", b"x", DocMode::Create),
            put("conformance-iso-y", "id", b"y", DocMode::Create),
        ])
        .await
        .expect("same document id in two kinds");
    assert_eq!(
        get_doc(store, "conformance-iso-x", "id").await,
        Some(doc("conformance-iso-x", "id", 1, b"x")),
        "doc kind x"
    );
    assert_eq!(
        get_doc(store, "conformance-iso-y", "id").await,
        Some(doc("conformance-iso-y", "id", 1, b"y")),
        "doc kind y"
    );
}

/// Concurrent appends to one object all land, with distinct versions; concurrent appends of one
/// version id let exactly one through.
pub async fn concurrent_appends(store: &dyn Store) {
    let o = obj("conformance-concurrent", ObjectKind::Secret, "hot");
    let o = &o;
    let task = |t: usize| async move {
        for i in 0..10 {
            let id = format!("t{t}-{i:02}");
            store
                .append_version(o, ver(&id, 1))
                .await
                .unwrap_or_else(|e| panic!("concurrent append {id} failed: {e:?}"));
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

    let ids: Vec<String> = all_versions(store, o)
        .await
        .into_iter()
        .map(|v| v.version)
        .collect();
    let mut want: Vec<String> = (0..8)
        .flat_map(|t| (0..10).map(move |i| format!("t{t}-{i:02}")))
        .collect();
    want.sort();
    assert_eq!(ids, want, "all 80 concurrent appends land, each once");
    let last = latest(store, o).await.expect("a latest version").version;
    assert!(
        last.ends_with("-09"),
        "the latest is some task's last append, got {last}"
    );

    let d = obj("conformance-concurrent", ObjectKind::Secret, "dup");
    let d = &d;
    let racer = |t: usize| async move {
        let mut v = ver("same", 1);
        v.sealed = format!("racer {t}").into_bytes();
        store.append_version(d, v).await
    };
    let results = tokio::join!(
        racer(0),
        racer(1),
        racer(2),
        racer(3),
        racer(4),
        racer(5),
        racer(6),
        racer(7)
    );
    let results = [
        results.0, results.1, results.2, results.3, results.4, results.5, results.6, results.7,
    ];
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        wins, 1,
        "exactly one of 8 racing appends of one version id wins: {results:?}"
    );
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StoreError::AlreadyExists))),
        "the losers get AlreadyExists: {results:?}"
    );
    assert_eq!(all_versions(store, d).await.len(), 1, "one version stored");
}

/// Opaque bytes (zero bytes, every byte value, empty, large) round-trip unchanged.
pub async fn binary_payloads(store: &dyn Store) {
    let o = obj("conformance-binary", ObjectKind::Key, "bin");
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let mut big: Vec<u8> = every_byte
        .iter()
        .copied()
        .cycle()
        .take(256 * 1024)
        .collect();
    big.insert(0, 0);
    big.push(0);
    let v1 = Version {
        version: "bin1".into(),
        created: 1,
        updated: 1,
        meta: vec![0, 1, 0, 255, 0],
        sealed: big,
    };
    let v2 = Version {
        version: "bin2".into(),
        created: 2,
        updated: 2,
        meta: vec![],
        sealed: vec![0; 33],
    };
    append(store, &o, v1.clone()).await;
    append(store, &o, v2.clone()).await;
    assert_eq!(
        get(store, &o, "bin1").await.as_ref(),
        Some(&v1),
        "get_version round-trips bytes"
    );
    assert_eq!(
        latest(store, &o).await.as_ref(),
        Some(&v2),
        "empty meta and all-zero payload round-trip"
    );
    assert_eq!(
        all_versions(store, &o).await,
        vec![v1.clone(), v2.clone()],
        "list_versions round-trips bytes"
    );
    let listed = store
        .list_objects(&o.vault, o.kind, false, None, 10)
        .await
        .expect("list");
    assert_eq!(
        listed.first().map(|s| &s.latest),
        Some(&v2),
        "list_objects round-trips bytes"
    );

    let updated = store
        .update_version(&o, "bin1", every_byte.clone(), 3)
        .await
        .expect("update_version with binary meta");
    assert_eq!(updated.meta, every_byte, "update_version round-trips bytes");

    soft_delete_ok(store, &o, deletion(1)).await;
    let got = store
        .get_deleted(&o)
        .await
        .expect("get_deleted")
        .expect("deleted");
    assert_eq!(got.latest, v2, "get_deleted round-trips bytes");

    let r = obj("conformance-binary", ObjectKind::Key, "restored");
    store
        .restore(&r, vec![v2.clone(), v1.clone()])
        .await
        .expect("restore binary");
    assert_eq!(
        latest(store, &r).await,
        Some(v1),
        "restore round-trips bytes"
    );

    let body = vec![0, 0, 7, 0, 255, 0];
    store
        .write_docs(vec![put("conformance-binary", "b", &body, DocMode::Create)])
        .await
        .expect("binary document");
    assert_eq!(
        get_doc(store, "conformance-binary", "b")
            .await
            .map(|d| d.body),
        Some(body),
        "document bodies round-trip"
    );
    let empty = store
        .write_docs(vec![put(
            "conformance-binary",
            "empty",
            b"",
            DocMode::Create,
        )])
        .await;
    assert!(
        empty.is_ok(),
        "an empty document body is allowed: {empty:?}"
    );
    assert_eq!(
        get_doc(store, "conformance-binary", "empty")
            .await
            .map(|d| d.body),
        Some(vec![]),
        "an empty document body round-trips"
    );
}

/// What `coffer migrate` reads a store whole with: every object in (vault, kind, name) order,
/// deleted ones with their state, each object's versions in the order they were added, and the
/// document kinds present.
pub async fn scan_and_history(store: &dyn Store) {
    let x = obj("conformance-scan-a", ObjectKind::Secret, "x");
    let k = obj("conformance-scan-a", ObjectKind::Key, "k");
    let c = obj("conformance-scan-b", ObjectKind::Certificate, "c");
    // Added in an order that is not version-id order.
    for id in ["v3", "v1", "v2"] {
        store.append_version(&x, ver(id, 5)).await.unwrap();
    }
    store.append_version(&k, ver("k1", 5)).await.unwrap();
    store.append_version(&c, ver("c1", 5)).await.unwrap();
    store.soft_delete(&c, deletion(77)).await.unwrap();
    store
        .write_docs(vec![put(
            "conformance-scan-kind",
            "d",
            b"1",
            DocMode::Create,
        )])
        .await
        .unwrap();

    let key = |o: &ObjectRef| (o.vault.clone(), o.kind.as_str(), o.name.clone());
    let mut all = Vec::new();
    let mut after: Option<ObjectRef> = None;
    loop {
        let page = store.scan_objects(after.as_ref(), 2).await.unwrap();
        assert!(page.len() <= 2, "a page holds at most `limit` objects");
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        all.extend(page);
    }
    for pair in all.windows(2) {
        assert!(
            key(&pair[0].0) < key(&pair[1].0),
            "scan order is (vault, kind, name), strictly increasing: {:?} then {:?}",
            pair[0].0,
            pair[1].0
        );
    }
    let mine: Vec<_> = all
        .iter()
        .filter(|(o, _)| o.vault.starts_with("conformance-scan-"))
        .cloned()
        .collect();
    assert_eq!(
        mine,
        vec![
            (k.clone(), None),
            (x.clone(), None),
            (c.clone(), Some(deletion(77)))
        ],
        "live and deleted objects, with their deletion state"
    );

    let ids = |vs: Vec<Version>| vs.into_iter().map(|v| v.version).collect::<Vec<_>>();
    assert_eq!(
        ids(store.object_history(&x).await.unwrap()),
        ["v3", "v1", "v2"],
        "history is in the order versions were added"
    );
    assert_eq!(ids(store.object_history(&c).await.unwrap()), ["c1"]);
    assert_err!(
        store
            .object_history(&obj("conformance-scan-a", ObjectKind::Secret, "absent"))
            .await,
        StoreError::NotFound,
        "history of an absent object"
    );

    let kinds = store.doc_kinds().await.unwrap();
    assert!(
        kinds.contains(&"conformance-scan-kind".to_owned()),
        "{kinds:?}"
    );
    assert!(
        kinds.windows(2).all(|w| w[0] < w[1]),
        "kinds are sorted and distinct: {kinds:?}"
    );
}
