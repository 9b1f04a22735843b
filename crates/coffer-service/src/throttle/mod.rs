//! Throttling on the request path: the limits table read from TOML (`limits.toml` is the
//! embedded default), the [`Limiter`] trait that holds the budgets (this node's memory now; a
//! store shared by several nodes can implement it later), and the check a vault session runs
//! once the caller is authenticated, through the firewall and allowed by the access policy.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, RwLock};

use coffer_domain::Clock;
use coffer_domain::throttle::{
    Decision, KeyLimits, KeySize, LimitTable, Transaction, WindowCounter, retry_after_secs,
};
use serde::Deserialize;

/// The default table, Key Vault's published limits.
pub const DEFAULT_LIMITS: &str = include_str!("limits.toml");

/// A limits file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error("the limits file is not valid: {0}")]
    Parse(String),
    #[error("the limits file has no row [keys.{0}]")]
    MissingRow(&'static str),
    #[error("window_seconds must be between 1 and 3600")]
    Window,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsFile {
    window_seconds: u64,
    subscription_multiplier: u32,
    vault: VaultRow,
    keys: HashMap<String, KeyRow>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VaultRow {
    all: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyRow {
    hsm_create: u32,
    hsm_other: u32,
    software_create: u32,
    software_other: u32,
}

/// Reads a limits file (see `limits.toml` for its keys).
pub fn parse_limits(text: &str) -> Result<LimitTable, LimitsError> {
    let file: LimitsFile = toml::from_str(text).map_err(|e| LimitsError::Parse(e.to_string()))?;
    if !(1..=3600).contains(&file.window_seconds) {
        return Err(LimitsError::Window);
    }
    let mut keys = [KeyLimits {
        hsm_create: 0,
        hsm_other: 0,
        software_create: 0,
        software_other: 0,
    }; 8];
    for (slot, size) in keys.iter_mut().zip(KeySize::ALL) {
        let row = file
            .keys
            .get(size.config_name())
            .ok_or(LimitsError::MissingRow(size.config_name()))?;
        *slot = KeyLimits {
            hsm_create: row.hsm_create,
            hsm_other: row.hsm_other,
            software_create: row.software_create,
            software_other: row.software_other,
        };
    }
    if let Some(unknown) = file
        .keys
        .keys()
        .find(|k| !KeySize::ALL.iter().any(|s| s.config_name() == k.as_str()))
    {
        return Err(LimitsError::Parse(format!(
            "unknown key row [keys.{}]",
            unknown.chars().take(40).collect::<String>()
        )));
    }
    Ok(LimitTable {
        window_ms: file.window_seconds * 1000,
        subscription_multiplier: file.subscription_multiplier,
        vault: file.vault.all,
        keys,
    })
}

/// Whose budget a transaction is taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope<'a> {
    /// One vault, by its id.
    Vault(&'a str),
    /// All vaults of a subscription, by its id.
    Subscription(&'a str),
}

impl Scope<'_> {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Vault(_) => "vault",
            Self::Subscription(_) => "subscription",
        }
    }
}

/// One budget a transaction must fit in.
#[derive(Clone, Copy, Debug)]
pub struct Budget<'a> {
    pub scope: Scope<'a>,
    pub transaction: Transaction,
    pub limit: u32,
}

/// Why a transaction was refused: which budget (an index into the ones asked), and when to
/// retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub budget: usize,
    pub retry_after_ms: u64,
}

/// Holds the budgets. Takes one transaction from every budget asked, or from none.
pub trait Limiter: Send + Sync {
    fn acquire(&self, budgets: &[Budget<'_>], now_ms: u64, window_ms: u64) -> Result<(), Refusal>;
}

const SHARDS: usize = 16;

/// One scope's counters, one per transaction type.
struct ScopeCounters {
    counters: Vec<WindowCounter>,
}

impl ScopeCounters {
    fn new() -> Self {
        Self {
            counters: (0..Transaction::COUNT)
                .map(|_| WindowCounter::default())
                .collect(),
        }
    }
}

/// A sharded map of scope name to counters: readers of different scopes never wait for each
/// other, and a scope's counters are found without allocating once they exist.
struct ShardedScopes {
    hasher: RandomState,
    shards: Vec<RwLock<HashMap<String, Arc<ScopeCounters>>>>,
}

impl ShardedScopes {
    fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
        }
    }

    fn get(&self, id: &str) -> Option<Arc<ScopeCounters>> {
        let shard = &self.shards[(self.hasher.hash_one(id) as usize) % SHARDS];
        if let Some(c) = shard.read().ok()?.get(id) {
            return Some(Arc::clone(c));
        }
        let mut map = shard.write().ok()?;
        Some(Arc::clone(
            map.entry(id.to_owned())
                .or_insert_with(|| Arc::new(ScopeCounters::new())),
        ))
    }
}

/// The budgets of this node, in memory.
pub struct LocalLimiter {
    vaults: ShardedScopes,
    subscriptions: ShardedScopes,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self {
            vaults: ShardedScopes::new(),
            subscriptions: ShardedScopes::new(),
        }
    }
}

impl LocalLimiter {
    fn scope(&self, scope: Scope<'_>) -> Option<Arc<ScopeCounters>> {
        match scope {
            Scope::Vault(id) => self.vaults.get(id),
            Scope::Subscription(id) => self.subscriptions.get(id),
        }
    }
}

impl Limiter for LocalLimiter {
    fn acquire(&self, budgets: &[Budget<'_>], now_ms: u64, window_ms: u64) -> Result<(), Refusal> {
        let mut taken: Vec<(Arc<ScopeCounters>, usize)> = Vec::with_capacity(budgets.len());
        for (i, b) in budgets.iter().enumerate() {
            // A poisoned shard cannot happen (nothing panics under its lock); were it to, the
            // request is served rather than refused for a fault of ours.
            let Some(scope) = self.scope(b.scope) else {
                continue;
            };
            let idx = b.transaction.index();
            let Some(counter) = scope.counters.get(idx) else {
                continue;
            };
            match counter.try_take(now_ms, window_ms, b.limit) {
                Decision::Admit => taken.push((scope, idx)),
                Decision::Refuse { retry_after_ms } => {
                    for (s, idx) in &taken {
                        if let Some(c) = s.counters.get(*idx) {
                            c.give_back(now_ms, window_ms);
                        }
                    }
                    return Err(Refusal {
                        budget: i,
                        retry_after_ms,
                    });
                }
            }
        }
        Ok(())
    }
}

/// This node's share of budgets meant for a whole instance of several nodes sharing a store:
/// every limit divided by the number of live nodes (rounded up, at least 1), each node counting
/// its own share in memory. With requests spread evenly by the load balancer, the instance
/// admits about its limits; a node that gets more than its share throttles early. The count is
/// kept current by the nodes' heartbeats (`Coffer::heartbeat`).
pub struct NodeShare {
    local: LocalLimiter,
    nodes: std::sync::atomic::AtomicU32,
}

impl Default for NodeShare {
    fn default() -> Self {
        Self {
            local: LocalLimiter::default(),
            nodes: std::sync::atomic::AtomicU32::new(1),
        }
    }
}

impl NodeShare {
    /// How many nodes share the budgets now (at least 1).
    pub fn set_nodes(&self, n: u32) {
        self.nodes
            .store(n.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    pub fn nodes(&self) -> u32 {
        self.nodes.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Limiter for NodeShare {
    fn acquire(&self, budgets: &[Budget<'_>], now_ms: u64, window_ms: u64) -> Result<(), Refusal> {
        let n = self.nodes();
        if n <= 1 {
            return self.local.acquire(budgets, now_ms, window_ms);
        }
        fn share<'a>(b: &Budget<'a>, n: u32) -> Budget<'a> {
            Budget {
                limit: b.limit.div_ceil(n).max(1),
                ..*b
            }
        }
        // A vault budget and its subscription's: no allocation for the usual two.
        match budgets {
            [a] => self.local.acquire(&[share(a, n)], now_ms, window_ms),
            [a, b] => self
                .local
                .acquire(&[share(a, n), share(b, n)], now_ms, window_ms),
            more => {
                let scaled: Vec<Budget<'_>> = more.iter().map(|b| share(b, n)).collect();
                self.local.acquire(&scaled, now_ms, window_ms)
            }
        }
    }
}

/// The limit a refused transaction hit, for the answer, the audit log and the doctor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    /// `vault` or `subscription`.
    pub scope: &'static str,
    pub transaction: Transaction,
    pub limit: u32,
    pub window_secs: u64,
    pub retry_after_secs: u64,
}

impl Hit {
    /// The limit's name, e.g. `RSA 2048-bit HSM key CREATE: 10 per 10 s per vault`.
    pub fn name(&self) -> String {
        format!(
            "{}: {} per {} s per {}",
            self.transaction.describe(),
            self.limit,
            self.window_secs,
            self.scope
        )
    }
}

/// The limits table with the limiter that enforces it.
pub struct Throttle {
    table: LimitTable,
    limiter: Arc<dyn Limiter>,
    clock: Arc<dyn Clock>,
}

impl Throttle {
    pub fn new(table: LimitTable, limiter: Arc<dyn Limiter>, clock: Arc<dyn Clock>) -> Self {
        Self {
            table,
            limiter,
            clock,
        }
    }

    pub fn table(&self) -> &LimitTable {
        &self.table
    }

    /// Takes one `t` transaction from the vault's budget (capped at `vault_cap`, for a vault
    /// with lowered test limits) and from its subscription's; the limit hit if either is spent.
    pub(crate) fn check(
        &self,
        vault_id: &str,
        subscription_id: &str,
        t: Transaction,
        vault_cap: Option<u32>,
    ) -> Result<(), Hit> {
        let now = u64::try_from(self.clock.now_ms()).unwrap_or(0);
        let vault = Budget {
            scope: Scope::Vault(vault_id),
            transaction: t,
            limit: vault_cap.map_or(self.table.vault_limit(t), |cap| {
                cap.min(self.table.vault_limit(t))
            }),
        };
        let subscription = Budget {
            scope: Scope::Subscription(subscription_id),
            transaction: t,
            limit: self.table.subscription_limit(t),
        };
        let both = [vault, subscription];
        let budgets = if subscription_id.is_empty() {
            &both[..1]
        } else {
            &both[..]
        };
        self.limiter
            .acquire(budgets, now, self.table.window_ms)
            .map_err(|r| {
                let b = budgets.get(r.budget).copied().unwrap_or(vault);
                Hit {
                    scope: b.scope.kind(),
                    transaction: t,
                    limit: b.limit,
                    window_secs: self.table.window_secs(),
                    retry_after_secs: retry_after_secs(r.retry_after_ms),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    struct TestClock(AtomicI64);

    impl Clock for TestClock {
        fn now(&self) -> i64 {
            self.0.load(Ordering::Relaxed) / 1000
        }
        fn now_ms(&self) -> i64 {
            self.0.load(Ordering::Relaxed)
        }
    }

    fn table(vault: u32, multiplier: u32) -> LimitTable {
        let mut t = parse_limits(DEFAULT_LIMITS).unwrap();
        t.vault = vault;
        t.subscription_multiplier = multiplier;
        t
    }

    #[test]
    fn the_default_file_is_azures_table() {
        let t = parse_limits(DEFAULT_LIMITS).unwrap();
        assert_eq!(t.window_ms, 10_000);
        assert_eq!(t.subscription_multiplier, 5);
        assert_eq!(t.vault_limit(Transaction::Vault), 4000);
        let rsa = |bits, hsm, create| Transaction::Key {
            size: KeySize::rsa(bits),
            hsm,
            create,
        };
        assert_eq!(t.vault_limit(rsa(2048, true, true)), 10);
        assert_eq!(t.vault_limit(rsa(2048, true, false)), 2000);
        assert_eq!(t.vault_limit(rsa(2048, false, true)), 20);
        assert_eq!(t.vault_limit(rsa(3072, false, false)), 1000);
        assert_eq!(t.vault_limit(rsa(4096, true, false)), 250);
        assert_eq!(t.subscription_limit(rsa(2048, true, false)), 10_000);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        assert!(matches!(parse_limits("x = 1"), Err(LimitsError::Parse(_))));
        let no_oct = DEFAULT_LIMITS.replace("[keys.oct]", "[keys.rsa-1024]");
        assert!(matches!(
            parse_limits(&no_oct),
            Err(LimitsError::MissingRow("oct"))
        ));
        let zero = DEFAULT_LIMITS.replace("window_seconds = 10", "window_seconds = 0");
        assert!(matches!(parse_limits(&zero), Err(LimitsError::Window)));
    }

    #[test]
    fn a_vault_is_refused_past_its_limit_and_served_in_the_next_window() {
        let clock = Arc::new(TestClock(AtomicI64::new(1_000_000)));
        let th = Throttle::new(
            table(3, 5),
            Arc::new(LocalLimiter::default()),
            clock.clone(),
        );
        for _ in 0..3 {
            assert!(th.check("v1", "s", Transaction::Vault, None).is_ok());
        }
        clock.0.store(1_004_200, Ordering::Relaxed);
        let hit = th.check("v1", "s", Transaction::Vault, None).unwrap_err();
        assert_eq!(hit.scope, "vault");
        assert_eq!(hit.limit, 3);
        assert_eq!(hit.retry_after_secs, 6);
        assert_eq!(
            hit.name(),
            "secrets, managed storage and vault transactions: 3 per 10 s per vault"
        );
        // Another vault has its own budget; the lowered limit of a vault applies to it alone.
        assert!(th.check("v2", "s", Transaction::Vault, None).is_ok());
        assert!(th.check("v3", "s", Transaction::Vault, Some(0)).is_err());
        clock.0.store(1_010_000, Ordering::Relaxed);
        assert!(th.check("v1", "s", Transaction::Vault, None).is_ok());
    }

    #[test]
    fn the_subscription_ceiling_spans_its_vaults_and_refusals_give_back() {
        let clock = Arc::new(TestClock(AtomicI64::new(0)));
        // Vault limit 4, subscription 1× that: two vaults share 4.
        let limiter = Arc::new(LocalLimiter::default());
        let th = Throttle::new(table(4, 1), limiter.clone(), clock);
        for _ in 0..3 {
            assert!(th.check("a", "s", Transaction::Vault, None).is_ok());
        }
        assert!(th.check("b", "s", Transaction::Vault, None).is_ok());
        let hit = th.check("b", "s", Transaction::Vault, None).unwrap_err();
        assert_eq!(hit.scope, "subscription");
        assert_eq!(hit.limit, 4);
        // The vault budget taken before the subscription refused was given back.
        let b = limiter.vaults.get("b").unwrap();
        assert_eq!(b.counters[0].seen(0, 10_000), 1);
        // A vault of another subscription is unaffected.
        assert!(th.check("c", "other", Transaction::Vault, None).is_ok());
    }

    #[test]
    fn a_node_takes_its_share_of_each_budget() {
        let share = NodeShare::default();
        let budget = |limit| Budget {
            scope: Scope::Vault("v"),
            transaction: Transaction::Vault,
            limit,
        };
        share.set_nodes(3);
        // ceil(10 / 3) = 4 per window on this node.
        for _ in 0..4 {
            share.acquire(&[budget(10)], 1_000, 10_000).unwrap();
        }
        assert!(share.acquire(&[budget(10)], 1_000, 10_000).is_err());
        // Back to one node: the whole budget (4 taken of 10).
        share.set_nodes(0);
        assert_eq!(share.nodes(), 1);
        for _ in 0..6 {
            share.acquire(&[budget(10)], 1_000, 10_000).unwrap();
        }
        assert!(share.acquire(&[budget(10)], 1_000, 10_000).is_err());
    }
}
