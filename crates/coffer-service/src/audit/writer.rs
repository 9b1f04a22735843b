//! The audit writer: the request path hands it entries without waiting, and a task of its own
//! appends them in batches; another task prunes records past their retention.
//!
//! Failures never reach the request path. A batch whose append fails is retried a bounded number
//! of times and then dropped and counted; meanwhile the writer reports itself unhealthy (for
//! `/readyz`), and in fail-closed mode [`AuditWriter::accepting`] turns false so the caller can
//! answer 503 instead of serving unaudited requests. While unhealthy and idle, the writer probes
//! the store with an empty append, so it recovers without waiting for traffic.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coffer_domain::Clock;
use coffer_store::{AuditRecord, AuditStore};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::{AuditEntry, AuditError, AuditEvent};

/// Records older than this many days are pruned unless configured otherwise.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

const MS_PER_DAY: i64 = 86_400_000;

/// How the writer batches, retries and prunes.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// Entries waiting to be written; past this the newest are dropped (and counted).
    pub queue_capacity: usize,
    /// Most records in one append.
    pub batch_size: usize,
    /// Longest a record waits for its batch to fill before the batch is written anyway.
    pub batch_interval: Duration,
    /// Appends of one batch before it is dropped (at least 1).
    pub max_attempts: u32,
    /// Wait before the first retry; doubles for each further one.
    pub retry_backoff: Duration,
    /// While unhealthy and idle, how often the store is probed.
    pub probe_interval: Duration,
    /// Days records are kept; 0 keeps them for ever.
    pub retention_days: u32,
    /// How often pruning runs (the first run is at start).
    pub prune_interval: Duration,
    /// Refuse requests (see [`AuditWriter::accepting`]) while records cannot be written.
    pub fail_closed: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 8192,
            batch_size: 256,
            batch_interval: Duration::from_millis(100),
            max_attempts: 3,
            retry_backoff: Duration::from_millis(50),
            probe_interval: Duration::from_secs(1),
            retention_days: DEFAULT_RETENTION_DAYS,
            prune_interval: Duration::from_secs(3600),
            fail_closed: false,
        }
    }
}

/// Counters shared by the handle and the tasks.
#[derive(Debug)]
struct Stats {
    written: AtomicU64,
    failed: AtomicU64,
    pruned: AtomicU64,
    prune_failures: AtomicU64,
    /// The last append (or probe) succeeded and nothing was dropped since.
    healthy: AtomicBool,
    /// The batching task is alive.
    running: AtomicBool,
}

enum Command {
    Entry(Box<AuditEntry>),
    /// Write everything queued before this, then answer.
    Flush(oneshot::Sender<()>),
    /// Flush, answer, and stop.
    Stop(oneshot::Sender<()>),
}

/// Hands audit entries to the background writer. Cheap to clone; the tasks stop when the last
/// clone is dropped (after writing what was queued) or on [`AuditWriter::shutdown`].
#[derive(Clone)]
pub struct AuditWriter {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Command>,
    stats: Arc<Stats>,
    fail_closed: bool,
    batcher: Mutex<Option<JoinHandle<()>>>,
    pruner: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The batcher ends on its own once the sender is gone; the pruner would run for ever.
        if let Some(p) = self.pruner.lock().ok().and_then(|mut p| p.take()) {
            p.abort();
        }
    }
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("stats", &self.inner.stats)
            .field("fail_closed", &self.inner.fail_closed)
            .finish_non_exhaustive()
    }
}

impl AuditWriter {
    /// Starts the writer's tasks on the current Tokio runtime.
    pub fn start(
        store: Arc<dyn AuditStore>,
        clock: Arc<dyn Clock>,
        config: AuditConfig,
    ) -> Result<Self, AuditError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| AuditError::NoRuntime)?;
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let stats = Arc::new(Stats {
            written: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            pruned: AtomicU64::new(0),
            prune_failures: AtomicU64::new(0),
            healthy: AtomicBool::new(true),
            running: AtomicBool::new(true),
        });
        let batcher = runtime.spawn(run_batcher(
            rx,
            Arc::clone(&store),
            Arc::clone(&stats),
            config.clone(),
        ));
        let pruner = (config.retention_days > 0).then(|| {
            runtime.spawn(run_pruner(
                store,
                clock,
                Arc::clone(&stats),
                config.retention_days,
                config.prune_interval,
            ))
        });
        Ok(Self {
            inner: Arc::new(Inner {
                tx,
                stats,
                fail_closed: config.fail_closed,
                batcher: Mutex::new(Some(batcher)),
                pruner: Mutex::new(pruner),
            }),
        })
    }

    /// Queues one entry; never waits. If the queue is full or the writer stopped, the entry is
    /// dropped, counted, and the writer reports itself unhealthy.
    pub fn record(&self, entry: AuditEntry) {
        if self
            .inner
            .tx
            .try_send(Command::Entry(Box::new(entry)))
            .is_err()
        {
            self.inner.stats.failed.fetch_add(1, Ordering::Relaxed);
            self.inner.stats.healthy.store(false, Ordering::Relaxed);
        }
    }

    /// Waits until every entry queued before the call is written (or dropped after its retries).
    pub async fn flush(&self) {
        let (ack, done) = oneshot::channel();
        if self.inner.tx.send(Command::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Writes what is queued, then stops both tasks. Entries recorded afterwards are counted as
    /// failed.
    pub async fn shutdown(&self) {
        let pruner = self.inner.pruner.lock().ok().and_then(|mut p| p.take());
        if let Some(p) = pruner {
            p.abort();
        }
        let (ack, done) = oneshot::channel();
        if self.inner.tx.send(Command::Stop(ack)).await.is_ok() {
            let _ = done.await;
        }
        let batcher = self.inner.batcher.lock().ok().and_then(|mut b| b.take());
        if let Some(b) = batcher {
            let _ = b.await;
        }
    }

    /// Records durably written.
    pub fn written_records(&self) -> u64 {
        self.inner.stats.written.load(Ordering::Relaxed)
    }

    /// Records lost: dropped after their batch's last failed attempt, or because the queue was
    /// full or the writer stopped.
    pub fn failed_records(&self) -> u64 {
        self.inner.stats.failed.load(Ordering::Relaxed)
    }

    /// Records removed by retention pruning.
    pub fn pruned_records(&self) -> u64 {
        self.inner.stats.pruned.load(Ordering::Relaxed)
    }

    /// Prune runs that failed (each is retried at the next interval).
    pub fn prune_failures(&self) -> u64 {
        self.inner.stats.prune_failures.load(Ordering::Relaxed)
    }

    /// Whether records are being written: false from a failed append or a dropped record until
    /// the next successful append or probe, and once the writer has stopped. For `/readyz`.
    pub fn healthy(&self) -> bool {
        self.inner.stats.running.load(Ordering::Relaxed)
            && self.inner.stats.healthy.load(Ordering::Relaxed)
    }

    /// Whether the request path may serve requests: always in the default (fail-open) mode, as
    /// Azure does; in fail-closed mode only while [`healthy`](Self::healthy). When false, answer
    /// 503 (and still record the refusal, so recovery shows in the log).
    pub fn accepting(&self) -> bool {
        !self.inner.fail_closed || self.healthy()
    }

    pub fn fail_closed(&self) -> bool {
        self.inner.fail_closed
    }
}

/// Marks the writer stopped when the batching task ends, however it ends.
struct Running(Arc<Stats>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Relaxed);
    }
}

/// How long the batcher naps between draining the queue while it gathers a batch.
const GATHER_NAP: Duration = Duration::from_millis(5);

async fn run_batcher(
    mut rx: mpsc::Receiver<Command>,
    store: Arc<dyn AuditStore>,
    stats: Arc<Stats>,
    config: AuditConfig,
) {
    let _running = Running(Arc::clone(&stats));
    let batch_size = config.batch_size.max(1);
    let mut batch: Vec<AuditEntry> = Vec::with_capacity(batch_size);
    loop {
        let first = if stats.healthy.load(Ordering::Relaxed) {
            rx.recv().await
        } else {
            match tokio::time::timeout(config.probe_interval, rx.recv()).await {
                Ok(cmd) => cmd,
                Err(_) => {
                    probe(store.as_ref(), &stats).await;
                    continue;
                }
            }
        };
        let Some(first) = first else { break };
        let mut acks = Vec::new();
        let mut stop = take(first, &mut batch, &mut acks);
        let deadline = Instant::now() + config.batch_interval;
        // Gather by draining what is queued and napping briefly in between, rather than
        // waking for every record: under load that is one wakeup per nap, not per request.
        while acks.is_empty() && !stop && batch.len() < batch_size {
            loop {
                match rx.try_recv() {
                    Ok(cmd) => {
                        stop = take(cmd, &mut batch, &mut acks);
                        if stop || !acks.is_empty() || batch.len() >= batch_size {
                            break;
                        }
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        stop = true;
                        break;
                    }
                }
            }
            let now = Instant::now();
            if stop || !acks.is_empty() || batch.len() >= batch_size || now >= deadline {
                break;
            }
            tokio::time::sleep(GATHER_NAP.min(deadline - now)).await;
        }
        write_batch(store.as_ref(), &stats, &config, std::mem::take(&mut batch)).await;
        for ack in acks {
            let _ = ack.send(());
        }
        if stop {
            break;
        }
    }
}

/// Adds a command to the batch being gathered; true if the writer must stop after it.
fn take(cmd: Command, batch: &mut Vec<AuditEntry>, acks: &mut Vec<oneshot::Sender<()>>) -> bool {
    match cmd {
        Command::Entry(e) => {
            batch.push(*e);
            false
        }
        Command::Flush(ack) => {
            acks.push(ack);
            false
        }
        Command::Stop(ack) => {
            acks.push(ack);
            true
        }
    }
}

/// The stored form of an entry: its event as JSON plus the indexed columns.
pub(crate) fn to_record(e: &AuditEntry) -> Result<AuditRecord, serde_json::Error> {
    let event = AuditEvent::from_entry(e);
    // Sized for a typical record, so serialising does not grow the buffer by repeated copies.
    let mut body = Vec::with_capacity(1536);
    serde_json::to_writer(&mut body, &event)?;
    Ok(AuditRecord {
        vault: e.vault.to_ascii_lowercase(),
        time_ms: e.time_ms,
        status: e.status,
        operation: event.operation_name.clone(),
        caller_oid: e.identity.as_ref().and_then(|i| i.oid.clone()),
        request_id: e.request_id.clone(),
        body,
    })
}

async fn write_batch(
    store: &dyn AuditStore,
    stats: &Stats,
    config: &AuditConfig,
    batch: Vec<AuditEntry>,
) {
    if batch.is_empty() {
        return;
    }
    let mut records = Vec::with_capacity(batch.len());
    for e in &batch {
        match to_record(e) {
            Ok(r) => records.push(r),
            Err(err) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %err, "an audit record could not be encoded");
            }
        }
    }
    let n = u64::try_from(records.len()).unwrap_or(u64::MAX);
    // Shared by every attempt: a retry sends the same records without copying them.
    let records: Arc<[AuditRecord]> = records.into();
    let attempts = config.max_attempts.max(1);
    let mut delay = config.retry_backoff;
    for attempt in 1..=attempts {
        match store.append(Arc::clone(&records)).await {
            Ok(()) => {
                stats.written.fetch_add(n, Ordering::Relaxed);
                stats.healthy.store(true, Ordering::Relaxed);
                return;
            }
            Err(err) => {
                stats.healthy.store(false, Ordering::Relaxed);
                tracing::warn!(attempt, attempts, error = %err, "audit append failed");
                if attempt < attempts {
                    tokio::time::sleep(delay).await;
                    delay = delay.saturating_mul(2);
                }
            }
        }
    }
    stats.failed.fetch_add(n, Ordering::Relaxed);
    tracing::error!(
        records = n,
        "audit records dropped after {attempts} failed appends"
    );
}

async fn probe(store: &dyn AuditStore, stats: &Stats) {
    match store.append(Arc::new([])).await {
        Ok(()) => {
            stats.healthy.store(true, Ordering::Relaxed);
            tracing::info!("the audit store accepts writes again");
        }
        Err(err) => tracing::debug!(error = %err, "audit store probe failed"),
    }
}

async fn run_pruner(
    store: Arc<dyn AuditStore>,
    clock: Arc<dyn Clock>,
    stats: Arc<Stats>,
    retention_days: u32,
    interval: Duration,
) {
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let cutoff = clock
            .now()
            .saturating_mul(1000)
            .saturating_sub(i64::from(retention_days).saturating_mul(MS_PER_DAY));
        match store.prune(None, cutoff).await {
            Ok(n) => {
                stats.pruned.fetch_add(n, Ordering::Relaxed);
                if n > 0 {
                    tracing::info!(records = n, retention_days, "pruned old audit records");
                }
            }
            Err(err) => {
                stats.prune_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %err, "audit pruning failed");
            }
        }
    }
}
