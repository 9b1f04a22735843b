//! How many connections the listener holds and for how long: a global cap and a per-address
//! share, where a new connection at either limit takes the place of the longest-idle one (so
//! idle sockets can never lock out a client that has a request to make), and refusals counted
//! and logged once per interval instead of once per attempt. Also raises the process's soft
//! descriptor limit to the hard one, and keeps the cap below it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Descriptors kept free for the databases, log files and the listener itself.
const FD_RESERVE: u64 = 64;
/// How often refused connections and failed accepts are summarised in the log.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(10);

/// The connection settings of `coffer serve`.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) max_per_address: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) body_idle_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) h2_ping_interval: Duration,
    pub(crate) h2_ping_timeout: Duration,
}

/// Raises the soft RLIMIT_NOFILE to the hard limit and returns the soft limit in force.
pub(crate) fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut lim = getrlimit(Resource::Nofile);
    if let (Some(cur), Some(max)) = (lim.current, lim.maximum)
        && cur < max
    {
        lim.current = Some(max);
        if let Err(e) = setrlimit(Resource::Nofile, lim) {
            tracing::warn!(error = %e, "could not raise the descriptor limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The cap actually used: the configured one, kept below the descriptor limit.
pub(crate) fn effective_cap(configured: usize, fd_limit: Option<u64>) -> usize {
    match fd_limit {
        Some(fds) => {
            let room = usize::try_from(fds.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
            configured.min(room.max(1))
        }
        None => configured,
    }
}

/// One live connection, shared by the registry and the connection's task.
pub(crate) struct Conn {
    id: u64,
    addr: IpAddr,
    /// Requests being served (and responses being sent); 0 means idle.
    in_flight: AtomicUsize,
    /// When the connection last became idle, in milliseconds since the registry started.
    idle_since_ms: AtomicU64,
    epoch: Instant,
    /// Tells the connection's task to close: its place was given to a new connection.
    pub(crate) evicted: Notify,
}

impl Conn {
    /// How long the connection has been idle; `None` while it serves a request.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
        Some(self.epoch.elapsed().saturating_sub(since))
    }

    /// Marks a request started; the returned guard marks it finished when dropped.
    pub(crate) fn busy(self: &Arc<Self>) -> BusyGuard {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        BusyGuard(Arc::clone(self))
    }
}

/// A request in flight on a connection.
pub(crate) struct BusyGuard(Arc<Conn>);

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let c = &self.0;
        let now = u64::try_from(c.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        c.idle_since_ms.store(now, Ordering::Release);
        c.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Default)]
struct State {
    conns: HashMap<u64, Arc<Conn>>,
    per_addr: HashMap<IpAddr, usize>,
    next_id: u64,
}

/// Every live connection, and the counters the log reports.
pub(crate) struct Registry {
    cap: usize,
    per_addr_cap: usize,
    epoch: Instant,
    state: Mutex<State>,
    emptied: Notify,
    refused: AtomicU64,
    evicted: AtomicU64,
    accept_errors: AtomicU64,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every connection is serving a request.
    Full,
    /// Every connection of this address is serving a request.
    AddressFull,
}

impl Registry {
    pub(crate) fn new(cap: usize, per_addr_cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap: cap.max(1),
            per_addr_cap: per_addr_cap.max(1),
            epoch: Instant::now(),
            state: Mutex::new(State::default()),
            emptied: Notify::new(),
            refused: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
        })
    }

    /// Admits a connection from `addr`, evicting the longest-idle one (of the address when its
    /// share is full, else of all) when a limit is reached.
    pub(crate) fn admit(self: &Arc<Self>, addr: IpAddr) -> Result<Admitted, Refused> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let addr_count = st.per_addr.get(&addr).copied().unwrap_or(0);
        if addr_count >= self.per_addr_cap {
            if !self.evict_idlest(&mut st, Some(addr)) {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(Refused::AddressFull);
            }
        } else if st.conns.len() >= self.cap && !self.evict_idlest(&mut st, None) {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return Err(Refused::Full);
        }
        st.next_id += 1;
        let conn = Arc::new(Conn {
            id: st.next_id,
            addr,
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(
                u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX),
            ),
            epoch: self.epoch,
            evicted: Notify::new(),
        });
        st.conns.insert(conn.id, Arc::clone(&conn));
        *st.per_addr.entry(addr).or_insert(0) += 1;
        Ok(Admitted {
            registry: Arc::clone(self),
            conn,
        })
    }

    /// Removes the connection idle the longest (of `addr`, if given) and tells it to close.
    fn evict_idlest(&self, st: &mut State, addr: Option<IpAddr>) -> bool {
        let victim = st
            .conns
            .values()
            .filter(|c| addr.is_none_or(|a| c.addr == a))
            .filter_map(|c| c.idle_for().map(|d| (d, c.id)))
            .max()
            .map(|(_, id)| id);
        let Some(id) = victim else { return false };
        if let Some(c) = Self::remove(st, id) {
            // notify_one keeps the permit if the task is not waiting at this instant.
            c.evicted.notify_one();
            self.evicted.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    fn remove(st: &mut State, id: u64) -> Option<Arc<Conn>> {
        let c = st.conns.remove(&id)?;
        if let Some(n) = st.per_addr.get_mut(&c.addr) {
            *n -= 1;
            if *n == 0 {
                st.per_addr.remove(&c.addr);
            }
        }
        Some(c)
    }

    pub(crate) fn count_accept_error(&self) {
        self.accept_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Live connections.
    pub(crate) fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .conns
            .len()
    }

    /// Resolves once no connection is left (after the listener stopped accepting).
    pub(crate) async fn wait_empty(&self) {
        loop {
            let notified = self.emptied.notified();
            if self.len() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Logs, once per interval, how many connections were refused or evicted and how many
    /// accepts failed since the last report; silent when nothing happened.
    pub(crate) async fn report_forever(self: Arc<Self>) {
        let mut tick = tokio::time::interval(REPORT_INTERVAL);
        tick.tick().await;
        loop {
            tick.tick().await;
            let refused = self.refused.swap(0, Ordering::Relaxed);
            let evicted = self.evicted.swap(0, Ordering::Relaxed);
            let accept_errors = self.accept_errors.swap(0, Ordering::Relaxed);
            if refused + evicted + accept_errors > 0 {
                tracing::warn!(
                    refused,
                    evicted_idle = evicted,
                    accept_errors,
                    open = self.len(),
                    cap = self.cap,
                    per_address = self.per_addr_cap,
                    interval_secs = REPORT_INTERVAL.as_secs(),
                    "connection limits reached"
                );
            }
        }
    }
}

/// A connection's place in the registry, given back when dropped.
pub(crate) struct Admitted {
    registry: Arc<Registry>,
    pub(crate) conn: Arc<Conn>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut st = self
            .registry
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        // An evicted connection was removed already; its id is never reused.
        Registry::remove(&mut st, self.conn.id);
        if st.conns.is_empty() {
            self.registry.emptied.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_cap_evicts_the_idlest_and_refuses_when_all_are_busy() {
        let r = Registry::new(2, 2);
        let a = r.admit(ip("10.0.0.1")).unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let b = r.admit(ip("10.0.0.2")).unwrap();
        let _busy_b = b.conn.busy();
        // At the cap: `a` is the only idle one and makes room.
        let c = r.admit(ip("10.0.0.3")).unwrap();
        assert_eq!(r.len(), 2);
        assert!(!r.state.lock().unwrap().conns.contains_key(&a.conn.id));
        let _busy_c = c.conn.busy();
        assert_eq!(r.admit(ip("10.0.0.4")).err(), Some(Refused::Full));
        drop(a);
        assert_eq!(
            r.len(),
            2,
            "dropping an evicted connection frees nothing twice"
        );
        drop(_busy_c);
        assert!(r.admit(ip("10.0.0.4")).is_ok(), "an idle one makes room");
    }

    #[test]
    fn one_address_cannot_take_the_whole_cap() {
        let r = Registry::new(10, 2);
        let a1 = r.admit(ip("10.0.0.1")).unwrap();
        let a2 = r.admit(ip("10.0.0.1")).unwrap();
        let (_g1, _g2) = (a1.conn.busy(), a2.conn.busy());
        assert_eq!(r.admit(ip("10.0.0.1")).err(), Some(Refused::AddressFull));
        assert!(
            r.admit(ip("10.0.0.2")).is_ok(),
            "other addresses still get in"
        );
        assert_eq!(r.refused.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_cap_stays_below_the_descriptor_limit() {
        assert_eq!(effective_cap(10_000, Some(256)), 192);
        assert_eq!(effective_cap(100, Some(1 << 20)), 100);
        assert_eq!(effective_cap(100, Some(10)), 1);
        assert_eq!(effective_cap(100, None), 100);
    }
}
