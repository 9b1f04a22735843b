//! Tests of the writer (batching, flush, failures, fail-closed, pruning) against store fakes, the
//! whole path on SQLite, and the redaction guarantee.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use coffer_domain::{Clock, VaultOp};
use coffer_store::{AuditQuery, AuditRecord, AuditStore, StoreError, StoredAudit};
use coffer_store_sqlite::SqliteAuditStore;
use tokio::sync::watch;

use super::*;

// === fakes ===

/// Records what it is asked; can fail every append, or hold appends until released.
struct FakeStore {
    batches: Mutex<Vec<Vec<AuditRecord>>>,
    appends: AtomicUsize,
    probes: AtomicUsize,
    fail: AtomicBool,
    open: watch::Sender<bool>,
    prunes: Mutex<Vec<(Option<String>, i64)>>,
}

impl FakeStore {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            batches: Mutex::new(Vec::new()),
            appends: AtomicUsize::new(0),
            probes: AtomicUsize::new(0),
            fail: AtomicBool::new(false),
            open: watch::channel(true).0,
            prunes: Mutex::new(Vec::new()),
        })
    }

    fn failing() -> Arc<Self> {
        let s = Self::new();
        s.fail.store(true, Ordering::SeqCst);
        s
    }

    fn sizes(&self) -> Vec<usize> {
        self.batches.lock().unwrap().iter().map(Vec::len).collect()
    }

    fn request_ids(&self) -> Vec<String> {
        let batches = self.batches.lock().unwrap();
        batches
            .iter()
            .flatten()
            .map(|r| r.request_id.clone())
            .collect()
    }

    fn prunes(&self) -> Vec<(Option<String>, i64)> {
        self.prunes.lock().unwrap().clone()
    }
}

#[async_trait]
impl AuditStore for FakeStore {
    async fn append(&self, batch: Arc<[AuditRecord]>) -> Result<(), StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        if batch.is_empty() {
            self.probes.fetch_add(1, Ordering::SeqCst);
        }
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|o| *o).await;
        if self.fail.load(Ordering::SeqCst) {
            return Err(StoreError::Backend("disk full".into()));
        }
        if !batch.is_empty() {
            self.batches.lock().unwrap().push(batch.to_vec());
        }
        Ok(())
    }

    async fn query(&self, _: &AuditQuery) -> Result<Vec<StoredAudit>, StoreError> {
        Ok(Vec::new())
    }

    async fn prune(&self, vault: Option<&str>, older_than_ms: i64) -> Result<u64, StoreError> {
        self.prunes
            .lock()
            .unwrap()
            .push((vault.map(str::to_owned), older_than_ms));
        Ok(0)
    }
}

struct FixedClock(i64);

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        self.0
    }
}

// === helpers ===

/// A config whose batches close only by size or flush, with fast retries and no pruning.
fn config() -> AuditConfig {
    AuditConfig {
        batch_interval: Duration::from_secs(3600),
        retry_backoff: Duration::from_millis(1),
        probe_interval: Duration::from_secs(3600),
        retention_days: 0,
        ..AuditConfig::default()
    }
}

fn start(store: Arc<FakeStore>, config: AuditConfig) -> AuditWriter {
    AuditWriter::start(store, Arc::new(FixedClock(1_700_000_000)), config).unwrap()
}

fn entry(n: usize) -> AuditEntry {
    let mut e = AuditEntry::new(
        "dev",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/dev",
        AuditOperation::Data(VaultOp::SecretGet),
        RequestUri::new(
            "https://dev.vault.localhost:8443",
            "/secrets/s",
            Some("api-version=7.4"),
        ),
        &format!("req-{n:04}"),
        1_700_000_000_000 + i64::try_from(n).unwrap(),
    );
    e.status = 200;
    e
}

/// Polls `cond` until it holds, for at most five seconds.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

// === writer ===

#[tokio::test]
async fn batches_close_at_batch_size_and_on_flush() {
    let store = FakeStore::new();
    let w = start(
        Arc::clone(&store),
        AuditConfig {
            batch_size: 4,
            ..config()
        },
    );
    for i in 0..10 {
        w.record(entry(i));
    }
    w.flush().await;
    assert_eq!(
        store.sizes(),
        vec![4, 4, 2],
        "two full batches, the rest on flush"
    );
    assert_eq!(
        store.request_ids(),
        (0..10).map(|i| format!("req-{i:04}")).collect::<Vec<_>>(),
        "in the order recorded"
    );
    assert_eq!((w.written_records(), w.failed_records()), (10, 0));
    assert!(w.healthy());
    w.flush().await;
    assert_eq!(
        store.sizes().len(),
        3,
        "an idle flush writes no empty batch"
    );
}

#[tokio::test]
async fn a_partial_batch_is_written_after_the_interval_without_flush() {
    let store = FakeStore::new();
    let w = start(
        Arc::clone(&store),
        AuditConfig {
            batch_interval: Duration::from_millis(30),
            ..config()
        },
    );
    for i in 0..3 {
        w.record(entry(i));
    }
    eventually("the batch is written", || w.written_records() == 3).await;
    assert_eq!(
        store.sizes(),
        vec![3],
        "one batch for records that came together"
    );
}

#[tokio::test]
async fn recording_never_waits_for_the_store_and_counts_what_the_queue_drops() {
    let store = FakeStore::new();
    store.open.send_replace(false);
    let w = start(
        Arc::clone(&store),
        AuditConfig {
            queue_capacity: 16,
            batch_size: 1,
            ..config()
        },
    );
    let started = std::time::Instant::now();
    for i in 0..1000 {
        w.record(entry(i));
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "record() returns at once while the store hangs"
    );
    let dropped = w.failed_records();
    assert!(
        (983..=984).contains(&dropped),
        "all but the queue (16) and at most the one batch in flight are dropped: {dropped}"
    );
    assert!(!w.healthy(), "dropping records makes the writer unhealthy");

    store.open.send_replace(true);
    w.flush().await;
    assert_eq!(
        w.written_records() + w.failed_records(),
        1000,
        "every record accounted for"
    );
    assert!(w.healthy(), "healthy again once appends succeed");
}

#[tokio::test]
async fn failed_appends_are_retried_a_bounded_number_of_times_then_counted() {
    let store = FakeStore::failing();
    let w = start(
        Arc::clone(&store),
        AuditConfig {
            max_attempts: 3,
            ..config()
        },
    );
    for i in 0..5 {
        w.record(entry(i));
    }
    w.flush().await;
    assert_eq!(
        store.appends.load(Ordering::SeqCst),
        3,
        "three attempts, then dropped"
    );
    assert_eq!((w.written_records(), w.failed_records()), (0, 5));
    assert!(!w.healthy());
    assert!(
        w.accepting(),
        "fail-open (the default): requests go on, as in Azure"
    );

    store.fail.store(false, Ordering::SeqCst);
    w.record(entry(5));
    w.record(entry(6));
    w.flush().await;
    assert_eq!((w.written_records(), w.failed_records()), (2, 5));
    assert!(w.healthy(), "the next successful append restores health");
    assert_eq!(store.request_ids(), vec!["req-0005", "req-0006"]);
}

#[tokio::test]
async fn fail_closed_refuses_while_unhealthy_and_recovers_by_probing() {
    let store = FakeStore::failing();
    let w = start(
        Arc::clone(&store),
        AuditConfig {
            fail_closed: true,
            max_attempts: 2,
            probe_interval: Duration::from_millis(10),
            ..config()
        },
    );
    assert!(w.fail_closed());
    assert!(w.accepting(), "accepting before anything failed");
    w.record(entry(0));
    w.flush().await;
    assert!(!w.healthy());
    assert!(
        !w.accepting(),
        "fail-closed: the request path must answer 503 now"
    );
    eventually("the writer probes the store", || {
        store.probes.load(Ordering::SeqCst) >= 2
    })
    .await;
    assert!(!w.accepting(), "probes fail while the store does");

    store.fail.store(false, Ordering::SeqCst);
    eventually("a probe succeeds", || w.accepting()).await;
    assert!(w.healthy());
    assert_eq!(w.failed_records(), 1, "the lost record stays counted");
}

#[tokio::test]
async fn shutdown_writes_what_is_queued_and_stops() {
    let store = FakeStore::new();
    let w = start(Arc::clone(&store), config());
    for i in 0..3 {
        w.record(entry(i));
    }
    let other = w.clone();
    w.shutdown().await;
    assert_eq!(
        store.sizes(),
        vec![3],
        "queued records are written before stopping"
    );
    assert!(!other.healthy(), "a stopped writer is not healthy");
    other.record(entry(3));
    assert_eq!(
        other.failed_records(),
        1,
        "a record after shutdown is counted lost"
    );
    other.flush().await; // returns at once
}

#[tokio::test]
async fn dropping_the_last_handle_writes_what_is_queued() {
    let store = FakeStore::new();
    let w = start(Arc::clone(&store), config());
    for i in 0..3 {
        w.record(entry(i));
    }
    drop(w);
    eventually("the queued records are written", || {
        store.sizes() == vec![3]
    })
    .await;
}

#[tokio::test]
async fn the_writer_prunes_past_retention_periodically() {
    let store = FakeStore::new();
    let w = start(
        Arc::clone(&store),
        AuditConfig {
            retention_days: 30,
            prune_interval: Duration::from_millis(10),
            ..config()
        },
    );
    eventually("pruning ran more than once", || store.prunes().len() >= 3).await;
    let cutoff = 1_700_000_000_000 - 30 * 86_400_000;
    assert!(
        store.prunes().iter().all(|p| *p == (None, cutoff)),
        "every vault, records older than 30 days: {:?}",
        store.prunes()
    );
    w.shutdown().await;
    let after = store.prunes().len();
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(store.prunes().len(), after, "shutdown stops the pruner");

    let quiet = FakeStore::new();
    let _keep = start(
        Arc::clone(&quiet),
        AuditConfig {
            retention_days: 0,
            prune_interval: Duration::from_millis(5),
            ..config()
        },
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        quiet.prunes().is_empty(),
        "retention 0 keeps records for ever"
    );
}

#[test]
fn starting_outside_a_runtime_is_an_error() {
    let res = AuditWriter::start(FakeStore::new(), Arc::new(FixedClock(0)), config());
    assert!(matches!(res, Err(AuditError::NoRuntime)), "{res:?}");
}

// === the whole path on SQLite ===

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_come_back_as_typed_events_through_sqlite() {
    let store: Arc<dyn AuditStore> = Arc::new(SqliteAuditStore::open_in_memory().unwrap());
    let w = AuditWriter::start(Arc::clone(&store), Arc::new(FixedClock(0)), config()).unwrap();
    let log = AuditLog::new(store);

    let mut entries = Vec::new();
    for i in 0..6 {
        let mut e = entry(i);
        e.vault = if i % 2 == 0 { "dev" } else { "prod" }.into();
        e.status = if i < 3 { 200 } else { 403 };
        e.operation = if i == 5 {
            AuditOperation::Data(VaultOp::KeySign)
        } else {
            AuditOperation::Data(VaultOp::SecretGet)
        };
        e.identity = Some(AuditIdentity {
            oid: Some(format!("oid-{}", i % 3)),
            ..AuditIdentity::default()
        });
        entries.push(e.clone());
        w.record(e);
    }
    w.flush().await;

    let events = |rows: Vec<LoggedEvent>| rows.into_iter().map(|r| r.event).collect::<Vec<_>>();
    let expected = |idx: &[usize]| {
        idx.iter()
            .map(|&i| AuditEvent::from_entry(&entries[i]))
            .collect::<Vec<_>>()
    };
    let q = |f: AuditFilter| {
        let log = log.clone();
        async move { log.query(&f).await.unwrap() }
    };

    assert_eq!(
        events(q(AuditFilter::default()).await),
        expected(&[0, 1, 2, 3, 4, 5])
    );
    assert_eq!(
        events(
            q(AuditFilter {
                vault: Some("DEV".into()),
                ..AuditFilter::default()
            })
            .await
        ),
        expected(&[0, 2, 4]),
        "vault names match in any case"
    );
    assert_eq!(
        events(
            q(AuditFilter {
                status: Some(403),
                operation: Some(AuditOperation::Data(VaultOp::SecretGet)),
                ..AuditFilter::default()
            })
            .await
        ),
        expected(&[3, 4])
    );
    assert_eq!(
        events(
            q(AuditFilter {
                caller_oid: Some("oid-2".into()),
                newest_first: true,
                ..AuditFilter::default()
            })
            .await
        ),
        expected(&[5, 2])
    );
    assert_eq!(
        events(
            q(AuditFilter {
                since_ms: Some(entries[4].time_ms),
                ..AuditFilter::default()
            })
            .await
        ),
        expected(&[4, 5])
    );

    // Following: everything after the last sequence number seen.
    let all = q(AuditFilter::default()).await;
    let cursor = all[3].seq;
    let rest = q(AuditFilter {
        after_seq: Some(cursor),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(events(rest), expected(&[4, 5]));
    assert_eq!(
        q(AuditFilter {
            limit: Some(2),
            ..AuditFilter::default()
        })
        .await
        .len(),
        2
    );

    let found = log.find_request("req-0004").await.unwrap().unwrap();
    assert_eq!(found.vault, "dev");
    assert_eq!(found.time_ms, entries[4].time_ms);
    assert_eq!(found.event, AuditEvent::from_entry(&entries[4]));
    assert_eq!(log.find_request("req-9999").await.unwrap(), None);

    assert_eq!(log.prune(Some("PROD"), i64::MAX).await.unwrap(), 3);
    assert_eq!(q(AuditFilter::default()).await.len(), 3);
}

#[tokio::test]
async fn an_unreadable_record_is_a_decode_error_naming_it() {
    let store = Arc::new(SqliteAuditStore::open_in_memory().unwrap());
    store
        .append(
            vec![AuditRecord {
                vault: "dev".into(),
                time_ms: 0,
                status: 200,
                operation: "SecretGet".into(),
                caller_oid: None,
                request_id: "r".into(),
                body: b"not json".to_vec(),
            }]
            .into(),
        )
        .await
        .unwrap();
    let err = AuditLog::new(store)
        .query(&AuditFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(err, AuditError::Decode { seq: 1, .. }), "{err:?}");
}

#[tokio::test]
async fn query_limits_are_bounded() {
    let store = Arc::new(SqliteAuditStore::open_in_memory().unwrap());
    let batch: Vec<_> = (0..MAX_LOG_PAGE + 5)
        .map(|i| writer::to_record(&entry(i)).unwrap())
        .collect();
    store.append(batch.into()).await.unwrap();
    let log = AuditLog::new(store);
    let unbounded = log
        .query(&AuditFilter {
            limit: Some(usize::MAX),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(unbounded.len(), MAX_LOG_PAGE);
    let default = log.query(&AuditFilter::default()).await.unwrap();
    assert_eq!(default.len(), DEFAULT_LOG_PAGE);
}

// === redaction ===

/// Every caller-controlled input that could carry a value holds the canary; none may survive
/// into the event or the stored record. Inputs that may appear (names, user agent, correlation
/// id) hold a marker instead, to show the test looks at the right output.
#[tokio::test]
async fn no_canary_reaches_the_log() {
    const CANARY: &str = "c4n4ry5ecret";
    const SHOWN: &str = "shown-name";

    // A validated token's claims: the five kept ones, plus everything else a token carries.
    let token_claims = serde_json::json!({
        "aud": format!("https://vault.localhost:8443/{CANARY}"),
        "iss": format!("https://login.localhost:8443/{CANARY}/"),
        "appid": "app-id",
        "oid": "object-id",
        "tid": "tenant-id",
        "upn": format!("{SHOWN}@example.com"),
        "idtyp": "user",
        "nonce": CANARY,
        "xms_cc": [CANARY],
        "signature": CANARY,
        "raw_token": format!("eyJ0eXAiOiJKV1QifQ.{CANARY}.sig"),
    });
    let query = format!(
        "api-version={CANARY}&maxresults={CANARY}&{CANARY}=1&$skiptoken={CANARY}&value={CANARY}&_={CANARY}"
    );
    let mut e = AuditEntry::new(
        "Dev",
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/dev",
        AuditOperation::Data(VaultOp::SecretSet),
        RequestUri::new(
            &format!("https://{CANARY}:{CANARY}@dev.vault.localhost:8443"),
            &format!("/secrets/{SHOWN}/"),
            Some(&query),
        ),
        "req-1",
        1_700_000_000_000,
    );
    e.status = 200;
    e.caller_ip = Some(IpAddr::V4(Ipv4Addr::LOCALHOST));
    e.identity = Some(AuditIdentity::from_claims(
        token_claims.as_object().unwrap(),
    ));
    e.client_info = Some(format!("{SHOWN}-agent/1.0"));
    e.correlation_id = Some(format!("{SHOWN}-correlation"));
    e.object_id = Some(format!(
        "https://dev.vault.localhost:8443/secrets/{SHOWN}/0123"
    ));

    let event_json = serde_json::to_string(&AuditEvent::from_entry(&e)).unwrap();
    assert!(
        !event_json.to_ascii_lowercase().contains(CANARY),
        "the canary leaked into the event: {event_json}"
    );
    for shown in [
        "shown-name@example.com",
        "/secrets/shown-name/?api-version&maxresults&$skiptoken&_",
        "shown-name-agent/1.0",
        "shown-name-correlation",
        "\"oid\":\"object-id\"",
    ] {
        assert!(event_json.contains(shown), "{shown} is kept: {event_json}");
    }

    // And through the writer into the store: body and indexed columns alike.
    let store = Arc::new(SqliteAuditStore::open_in_memory().unwrap());
    let w = AuditWriter::start(
        Arc::clone(&store) as Arc<dyn AuditStore>,
        Arc::new(FixedClock(0)),
        config(),
    )
    .unwrap();
    w.record(e);
    w.flush().await;
    let rows = store
        .query(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    let stored = format!("{:?}", rows[0].record) + &String::from_utf8_lossy(&rows[0].record.body);
    assert!(
        !stored.to_ascii_lowercase().contains(CANARY),
        "the canary leaked into the store: {stored}"
    );
}

#[tokio::test]
async fn a_vaults_own_retention_prunes_its_records_and_only_its() {
    use crate::{DiagnosticLog, DiagnosticSetting};
    let (c, clock, s) = crate::testing::setup().await;
    let store = Arc::new(SqliteAuditStore::open_in_memory().unwrap());
    let clock_dyn: Arc<dyn Clock> = clock.clone();
    let w = AuditWriter::start(store.clone(), clock_dyn, config()).unwrap();
    c.set_audit(w, AuditLog::new(store.clone()));
    let now_ms = c.now() * 1000;
    let day = 86_400_000;
    let at = |vault: &str, id: &str, age_days: i64| {
        let mut e = entry(0);
        e.vault = vault.to_owned();
        e.request_id = id.to_owned();
        e.time_ms = now_ms - age_days * day;
        writer::to_record(&e).unwrap()
    };
    let batch = vec![
        at("dev", "old-dev", 10),
        at("dev", "new-dev", 1),
        at("other", "old-other", 10),
    ];
    store.append(batch.into()).await.unwrap();
    // Without a retention of its own the vault keeps everything (the instance's applies).
    assert_eq!(c.prune_audit_by_vault_retention().await.unwrap(), 0);
    let boot = c.bootstrap().await.unwrap();
    let setting = |retention| DiagnosticSetting {
        logs: vec![DiagnosticLog {
            category: Some("AuditEvent".into()),
            enabled: true,
            retention,
            ..DiagnosticLog::default()
        }],
        ..DiagnosticSetting::default()
    };
    c.put_diagnostic_setting(
        s.principal(),
        &boot.subscription_id,
        crate::DEFAULT_RESOURCE_GROUP,
        crate::DEFAULT_VAULT,
        "seven-days",
        setting(Some((true, 7))),
    )
    .await
    .unwrap();
    assert_eq!(c.prune_audit_by_vault_retention().await.unwrap(), 1);
    let left: Vec<String> = AuditLog::new(store.clone())
        .query(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.event.properties.request_id)
        .collect();
    assert_eq!(left, ["new-dev", "old-other"]);
    // A second setting that keeps records forever wins over the shorter one.
    c.put_diagnostic_setting(
        s.principal(),
        &boot.subscription_id,
        crate::DEFAULT_RESOURCE_GROUP,
        crate::DEFAULT_VAULT,
        "forever",
        setting(None),
    )
    .await
    .unwrap();
    clock.advance(30 * 86_400);
    assert_eq!(c.prune_audit_by_vault_retention().await.unwrap(), 0);
}
