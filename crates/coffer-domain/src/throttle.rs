//! Key Vault's throttling as plain rules: the transaction types of its service-limits table, the
//! table itself (filled from configuration, never from code), and the fixed-window counter that
//! decides, from the time it is given and its own state, whether one more transaction fits.
//!
//! The algorithm is a fixed window aligned to multiples of the window length (10 s): each
//! (scope, transaction type) counts what it admitted in the current window and admits while the
//! count is below the limit. Within one aligned window it is exact, also under concurrency (one
//! compare-and-swap per decision, no lock); its tolerance is the boundary: a client that spends a
//! window's budget at its very end and the next one's at its very start gets up to twice the
//! limit through in a 10-second span that straddles the boundary. Key Vault documents its limits
//! per 10 seconds without saying more, and this is the cheapest rule that matches them exactly
//! per window.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a key transaction is about, as the limits table splits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeySize {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    P256,
    P384,
    P521,
    Secp256k1,
    /// Symmetric keys, which Key Vault's vault table does not list (Coffer gives them a row).
    Oct,
}

impl KeySize {
    pub const ALL: [Self; 8] = [
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::P256,
        Self::P384,
        Self::P521,
        Self::Secp256k1,
        Self::Oct,
    ];

    /// The key's row in the limits file.
    pub fn config_name(self) -> &'static str {
        match self {
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
            Self::P256 => "ec-p256",
            Self::P384 => "ec-p384",
            Self::P521 => "ec-p521",
            Self::Secp256k1 => "ec-secp256k1",
            Self::Oct => "oct",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Rsa2048 => "RSA 2048-bit",
            Self::Rsa3072 => "RSA 3072-bit",
            Self::Rsa4096 => "RSA 4096-bit",
            Self::P256 => "EC P-256",
            Self::P384 => "EC P-384",
            Self::P521 => "EC P-521",
            Self::Secp256k1 => "EC P-256K",
            Self::Oct => "symmetric (oct)",
        }
    }

    /// The row of an RSA key of `bits` (sizes between rows count as the next larger one).
    pub fn rsa(bits: u32) -> Self {
        match bits {
            0..=2048 => Self::Rsa2048,
            2049..=3072 => Self::Rsa3072,
            _ => Self::Rsa4096,
        }
    }

    /// The row of an EC key on the curve Key Vault names `crv`; `None` for an unknown curve.
    pub fn ec(crv: &str) -> Option<Self> {
        match crv {
            "P-256" => Some(Self::P256),
            "P-384" => Some(Self::P384),
            "P-521" => Some(Self::P521),
            "P-256K" => Some(Self::Secp256k1),
            _ => None,
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Rsa2048 => 0,
            Self::Rsa3072 => 1,
            Self::Rsa4096 => 2,
            Self::P256 => 3,
            Self::P384 => 4,
            Self::P521 => 5,
            Self::Secp256k1 => 6,
            Self::Oct => 7,
        }
    }
}

/// The kind of transaction an operation is before the key it touches is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransactionKind {
    /// Secrets, managed storage, certificates and vault-related transactions: one budget.
    Vault,
    /// Creating (or importing) a key: counted once the key's type is known.
    KeyCreate,
    /// Any other transaction on one key (get, update, cryptography): counted once it is read.
    KeyOther,
}

/// One row and column of the limits table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transaction {
    Vault,
    Key {
        size: KeySize,
        hsm: bool,
        create: bool,
    },
}

impl Transaction {
    /// How many distinct transaction types there are (for dense per-scope counters).
    pub const COUNT: usize = 1 + KeySize::ALL.len() * 4;

    /// A dense index in `0..COUNT`.
    pub fn index(self) -> usize {
        match self {
            Self::Vault => 0,
            Self::Key { size, hsm, create } => {
                1 + size.index() * 4 + usize::from(hsm) * 2 + usize::from(create)
            }
        }
    }

    /// The transaction's name in messages, the audit log and metrics, e.g.
    /// `RSA 2048-bit HSM key CREATE`.
    pub fn describe(self) -> String {
        match self {
            Self::Vault => "secrets, managed storage and vault transactions".to_owned(),
            Self::Key { size, hsm, create } => format!(
                "{} {} key {}",
                size.describe(),
                if hsm { "HSM" } else { "software" },
                if create {
                    "CREATE"
                } else {
                    "transactions other than CREATE"
                }
            ),
        }
    }

    /// A short label for metrics, e.g. `rsa-2048-hsm-create`.
    pub fn label(self) -> String {
        match self {
            Self::Vault => "vault".to_owned(),
            Self::Key { size, hsm, create } => format!(
                "{}-{}-{}",
                size.config_name(),
                if hsm { "hsm" } else { "software" },
                if create { "create" } else { "other" }
            ),
        }
    }
}

/// A key row of the limits table: transactions per window, per vault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyLimits {
    pub hsm_create: u32,
    pub hsm_other: u32,
    pub software_create: u32,
    pub software_other: u32,
}

/// Key Vault's service limits: per vault and per window, and the subscription's multiple.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LimitTable {
    /// Length of a window in milliseconds (Key Vault: 10 s).
    pub window_ms: u64,
    /// All vaults of one subscription together get this many times a vault's limit of each type.
    pub subscription_multiplier: u32,
    /// Secrets, managed storage and vault transactions.
    pub vault: u32,
    /// Key rows, indexed like [`KeySize::ALL`].
    pub keys: [KeyLimits; 8],
}

impl LimitTable {
    /// The limit of `t` for one vault.
    pub fn vault_limit(&self, t: Transaction) -> u32 {
        match t {
            Transaction::Vault => self.vault,
            Transaction::Key { size, hsm, create } => {
                let row = &self.keys[size.index()];
                match (hsm, create) {
                    (true, true) => row.hsm_create,
                    (true, false) => row.hsm_other,
                    (false, true) => row.software_create,
                    (false, false) => row.software_other,
                }
            }
        }
    }

    /// The limit of `t` for all vaults of a subscription together.
    pub fn subscription_limit(&self, t: Transaction) -> u32 {
        self.vault_limit(t)
            .saturating_mul(self.subscription_multiplier)
    }

    /// The window in whole seconds, for messages.
    pub fn window_secs(&self) -> u64 {
        self.window_ms.div_ceil(1000)
    }
}

/// The state of one counter: which window it counts, and how many it admitted in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WindowState {
    pub window: u64,
    pub count: u32,
}

/// The decision for one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Admit,
    /// Refused: the window is full until `retry_after_ms` from now.
    Refuse {
        retry_after_ms: u64,
    },
}

/// Decides one transaction at `now_ms` against `limit` per `window_ms`: the pure rule the
/// atomic counter applies. A refused transaction leaves the state as it was (Key Vault does not
/// count 429s against the limit).
pub fn decide(
    state: WindowState,
    now_ms: u64,
    window_ms: u64,
    limit: u32,
) -> (WindowState, Decision) {
    let window_ms = window_ms.max(1);
    let window = now_ms / window_ms;
    let count = if state.window == window {
        state.count
    } else {
        0
    };
    if count < limit {
        (
            WindowState {
                window,
                count: count + 1,
            },
            Decision::Admit,
        )
    } else {
        let end = (window + 1).saturating_mul(window_ms);
        (
            state,
            Decision::Refuse {
                retry_after_ms: end.saturating_sub(now_ms),
            },
        )
    }
}

/// Whole seconds a client should wait for `retry_after_ms`: rounded up, at least one.
pub fn retry_after_secs(retry_after_ms: u64) -> u64 {
    retry_after_ms.div_ceil(1000).max(1)
}

/// [`decide`] over shared state: one atomic word (window index in the high 32 bits, which only
/// needs to tell neighbouring windows apart, and the count in the low 32).
#[derive(Debug, Default)]
pub struct WindowCounter {
    state: AtomicU64,
}

impl WindowCounter {
    fn unpack(v: u64) -> WindowState {
        WindowState {
            window: v >> 32,
            count: (v & 0xFFFF_FFFF) as u32,
        }
    }

    fn pack(s: WindowState) -> u64 {
        ((s.window & 0xFFFF_FFFF) << 32) | u64::from(s.count)
    }

    /// Takes one transaction if the window has room.
    pub fn try_take(&self, now_ms: u64, window_ms: u64, limit: u32) -> Decision {
        // Only the low 32 bits of the window index are stored; compare on those.
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let mut state = Self::unpack(current);
            let now_window = now_ms / window_ms.max(1);
            if state.window == (now_window & 0xFFFF_FFFF) {
                state.window = now_window;
            }
            let (next, decision) = decide(state, now_ms, window_ms, limit);
            if decision != Decision::Admit {
                return decision;
            }
            match self.state.compare_exchange_weak(
                current,
                Self::pack(next),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Decision::Admit,
                Err(seen) => current = seen,
            }
        }
    }

    /// Gives back a transaction taken at `now_ms` that was not carried out after all (another
    /// budget of the same request refused it); nothing if its window has passed.
    pub fn give_back(&self, now_ms: u64, window_ms: u64) {
        let window = (now_ms / window_ms.max(1)) & 0xFFFF_FFFF;
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |v| {
                let s = Self::unpack(v);
                (s.window == window && s.count > 0).then(|| {
                    Self::pack(WindowState {
                        window: s.window,
                        count: s.count - 1,
                    })
                })
            });
    }

    /// How many transactions the current window admitted so far.
    pub fn seen(&self, now_ms: u64, window_ms: u64) -> u32 {
        let s = Self::unpack(self.state.load(Ordering::Relaxed));
        if s.window == (now_ms / window_ms.max(1)) & 0xFFFF_FFFF {
            s.count
        } else {
            0
        }
    }
}

/// Whether the `index`-th request (from 0) since a fault was switched on gets it: the first
/// `count` requests, or an exact share of `percent` spread evenly (request `i` when
/// `⌊(i+1)·p/100⌋ > ⌊i·p/100⌋`); neither given means every request.
pub fn fault_applies(index: u64, count: Option<u32>, percent: Option<u32>) -> bool {
    match (count, percent) {
        (Some(c), _) => index < u64::from(c),
        (None, Some(p)) => {
            let p = u64::from(p.min(100));
            (index + 1) * p / 100 > index * p / 100
        }
        (None, None) => true,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU32;

    use super::*;

    #[test]
    fn admits_the_limit_per_window_then_refuses_until_it_ends() {
        let mut s = WindowState::default();
        let window = 10_000;
        let start = 1_000_000; // a window boundary
        for i in 0..3 {
            let (next, d) = decide(s, start + i * 100, window, 3);
            assert_eq!(d, Decision::Admit);
            s = next;
        }
        let (same, d) = decide(s, start + 2_500, window, 3);
        assert_eq!(
            d,
            Decision::Refuse {
                retry_after_ms: 7_500
            }
        );
        assert_eq!(same, s, "a refusal does not count");
        assert_eq!(retry_after_secs(7_500), 8);
        assert_eq!(retry_after_secs(1), 1);
        assert_eq!(retry_after_secs(0), 1);
        // The next window starts empty.
        let (next, d) = decide(s, start + window, window, 3);
        assert_eq!(d, Decision::Admit);
        assert_eq!(next.count, 1);
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        let (_, d) = decide(WindowState::default(), 5, 10_000, 0);
        assert_eq!(
            d,
            Decision::Refuse {
                retry_after_ms: 9_995
            }
        );
    }

    #[test]
    fn the_counter_gives_back_only_in_its_window() {
        let c = WindowCounter::default();
        assert_eq!(c.try_take(10, 1_000, 1), Decision::Admit);
        assert!(matches!(c.try_take(20, 1_000, 1), Decision::Refuse { .. }));
        c.give_back(30, 1_000);
        assert_eq!(c.seen(30, 1_000), 0);
        assert_eq!(c.try_take(40, 1_000, 1), Decision::Admit);
        c.give_back(1_500, 1_000); // the window has passed: nothing to give back
        assert_eq!(c.seen(999, 1_000), 1);
        assert_eq!(c.seen(1_000, 1_000), 0);
    }

    #[test]
    fn concurrent_takers_get_exactly_the_limit() {
        let counter = Arc::new(WindowCounter::default());
        let admitted = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let counter = Arc::clone(&counter);
                let admitted = Arc::clone(&admitted);
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        if counter.try_take(5_000, 10_000, 1_000) == Decision::Admit {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().is_ok());
        }
        assert_eq!(admitted.load(Ordering::Relaxed), 1_000);
        assert_eq!(counter.seen(5_000, 10_000), 1_000);
    }

    #[test]
    fn faults_hit_the_first_count_or_an_exact_share() {
        let hits = |count, percent| {
            (0..100)
                .filter(|i| fault_applies(*i, count, percent))
                .count()
        };
        assert_eq!(hits(Some(3), None), 3);
        assert!(fault_applies(2, Some(3), None) && !fault_applies(3, Some(3), None));
        assert_eq!(hits(None, Some(25)), 25);
        assert_eq!(hits(None, Some(100)), 100);
        assert_eq!(hits(None, Some(0)), 0);
        assert_eq!(hits(None, None), 100);
        // Spread out: a 50% share alternates.
        assert!(!fault_applies(0, None, Some(50)) && fault_applies(1, None, Some(50)));
    }

    #[test]
    fn transaction_indexes_are_dense_and_distinct() {
        let mut all = vec![Transaction::Vault];
        for size in KeySize::ALL {
            for hsm in [false, true] {
                for create in [false, true] {
                    all.push(Transaction::Key { size, hsm, create });
                }
            }
        }
        let idx: HashSet<_> = all.iter().map(|t| t.index()).collect();
        assert_eq!(idx.len(), Transaction::COUNT);
        assert!(idx.iter().all(|i| *i < Transaction::COUNT));
        let labels: HashSet<_> = all.iter().map(|t| t.label()).collect();
        assert_eq!(labels.len(), Transaction::COUNT);
    }

    #[test]
    fn the_table_picks_the_cell_and_multiplies_for_subscriptions() {
        let row = KeyLimits {
            hsm_create: 10,
            hsm_other: 2000,
            software_create: 20,
            software_other: 4000,
        };
        let t = LimitTable {
            window_ms: 10_000,
            subscription_multiplier: 5,
            vault: 4000,
            keys: [row; 8],
        };
        let hsm_create = Transaction::Key {
            size: KeySize::rsa(2048),
            hsm: true,
            create: true,
        };
        assert_eq!(t.vault_limit(hsm_create), 10);
        assert_eq!(t.subscription_limit(hsm_create), 50);
        assert_eq!(t.vault_limit(Transaction::Vault), 4000);
        assert_eq!(t.window_secs(), 10);
        assert_eq!(KeySize::rsa(3072), KeySize::Rsa3072);
        assert_eq!(KeySize::rsa(8192), KeySize::Rsa4096);
        assert_eq!(KeySize::ec("P-256K"), Some(KeySize::Secp256k1));
        assert_eq!(
            hsm_create.describe(),
            "RSA 2048-bit HSM key CREATE".to_owned()
        );
    }
}
