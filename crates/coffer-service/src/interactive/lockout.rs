//! Lockout after repeated bad passwords (Entra ID's smart lockout, simplified): five failures
//! for one user name within ten minutes lock it for a minute, doubling with each lockout in a
//! row up to fifteen minutes. Kept in this process's memory only: a restart forgets it, and
//! each node of a cluster counts on its own. Unknown user names are counted like real ones, so
//! the answer never tells which names exist.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failures within [`WINDOW_SECS`] that lock a user name.
pub(crate) const THRESHOLD: u32 = 5;
const WINDOW_SECS: i64 = 600;
const FIRST_LOCK_SECS: i64 = 60;
const MAX_LOCK_SECS: i64 = 900;
/// Entries kept at most; past it, the ones that no longer matter are dropped.
const MAX_ENTRIES: usize = 10_000;

#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// Failures since `window_start`.
    failures: u32,
    window_start: i64,
    locked_until: i64,
    /// Lockouts in a row (reset by a successful sign-in).
    lockouts: u32,
}

/// Bad-password counts per `(tenant, user name)`, both lowercase.
#[derive(Debug, Default)]
pub(crate) struct Lockout {
    entries: Mutex<HashMap<(String, String), Entry>>,
}

fn key(tenant: &str, user: &str) -> (String, String) {
    (tenant.to_ascii_lowercase(), user.trim().to_lowercase())
}

impl Lockout {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<(String, String), Entry>) -> T) -> T {
        let mut guard = match self.entries.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Seconds until the user name may try again, when it is locked now.
    pub(crate) fn locked_for(&self, tenant: &str, user: &str, now: i64) -> Option<i64> {
        self.with(|m| {
            m.get(&key(tenant, user))
                .filter(|e| e.locked_until > now)
                .map(|e| e.locked_until - now)
        })
    }

    /// Counts a bad password; returns true when this one locked the user name.
    pub(crate) fn failed(&self, tenant: &str, user: &str, now: i64) -> bool {
        self.with(|m| {
            if m.len() >= MAX_ENTRIES {
                m.retain(|_, e| e.locked_until > now || now - e.window_start < WINDOW_SECS);
            }
            let e = m.entry(key(tenant, user)).or_default();
            if now - e.window_start >= WINDOW_SECS {
                e.failures = 0;
                e.window_start = now;
            }
            e.failures += 1;
            if e.failures < THRESHOLD {
                return false;
            }
            e.lockouts = e.lockouts.saturating_add(1);
            let secs = FIRST_LOCK_SECS
                .saturating_mul(1 << (e.lockouts - 1).min(10))
                .min(MAX_LOCK_SECS);
            e.locked_until = now + secs;
            e.failures = 0;
            e.window_start = now;
            true
        })
    }

    /// A successful sign-in clears the count.
    pub(crate) fn succeeded(&self, tenant: &str, user: &str) {
        self.with(|m| m.remove(&key(tenant, user)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_and_the_lock_grows() {
        let l = Lockout::default();
        let t = 1_000_000;
        for i in 0..THRESHOLD - 1 {
            assert!(!l.failed("T", "Alice@x", t + i64::from(i)));
            assert_eq!(l.locked_for("t", "alice@x", t + 10), None);
        }
        assert!(l.failed("t", "ALICE@X", t + 5));
        assert_eq!(l.locked_for("t", "alice@x", t + 5), Some(60));
        assert_eq!(l.locked_for("t", "alice@x", t + 64), Some(1));
        assert_eq!(l.locked_for("t", "alice@x", t + 65), None);
        // Another user and another tenant are not affected.
        assert_eq!(l.locked_for("t", "bob@x", t + 5), None);
        assert_eq!(l.locked_for("u", "alice@x", t + 5), None);
        // The next lockout in a row lasts twice as long.
        for i in 0..THRESHOLD {
            l.failed("t", "alice@x", t + 100 + i64::from(i));
        }
        assert_eq!(l.locked_for("t", "alice@x", t + 104), Some(120));
        // A success forgets everything.
        l.succeeded("t", "alice@x");
        assert_eq!(l.locked_for("t", "alice@x", t + 104), None);
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_lock() {
        let l = Lockout::default();
        let t = 1_000_000;
        for i in 0..20 {
            assert!(!l.failed("t", "a@x", t + i * 200));
        }
        assert_eq!(l.locked_for("t", "a@x", t + 4000), None);
    }

    #[test]
    fn the_table_stays_bounded() {
        let l = Lockout::default();
        for i in 0..(MAX_ENTRIES + 10) {
            l.failed("t", &format!("u{i}@x"), 0);
        }
        // Much later, the old entries are dropped before a new one is added.
        l.failed("t", "late@x", WINDOW_SECS * 2);
        assert!(l.with(|m| m.len()) < MAX_ENTRIES);
    }
}
