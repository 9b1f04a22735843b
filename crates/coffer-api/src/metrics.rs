//! Prometheus metrics of the edge: requests by role, vault, operation and status with their
//! latency, throttled requests by limit, tokens issued by grant, and audit records that could
//! not be written. The server exposes [`Metrics::encode`] on its own listener (`/metrics`), never
//! on the public port.

use std::sync::Arc;
use std::time::Duration;

use coffer_service::Coffer;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    role: &'static str,
    /// The vault's name for vault requests, empty otherwise.
    vault: String,
    /// The Key Vault operation (its audit name) for vault requests, empty otherwise.
    operation: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    role: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    /// The `Store` method.
    operation: &'static str,
    /// `ok`, or `error` when the backend failed.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant: &'static str,
    outcome: &'static str,
}

type HistogramFamily = Family<LatencyLabels, Histogram, fn() -> Histogram>;

/// The instance's metrics, shared by every request.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily,
    throttled: Family<LimitLabels, Counter>,
    tokens: Family<GrantLabels, Counter>,
    audit_failed: Counter,
    store: Family<StoreLabels, Histogram, fn() -> Histogram>,
    gateway_refresh_failed: Counter,
}

fn store_histogram() -> Histogram {
    // 20 µs to about 1.3 s: a cached SQLite read takes tens of microseconds, a durable write
    // milliseconds.
    Histogram::new(exponential_buckets(0.000_02, 2.0, 17))
}

/// Store latency: `coffer serve` wraps its database in a [`coffer_store::timed::TimedStore`]
/// reporting here when metrics are on.
impl coffer_store::timed::StoreObserver for Metrics {
    fn observe(&self, operation: &'static str, seconds: f64, ok: bool) {
        self.store
            .get_or_create(&StoreLabels {
                operation,
                outcome: if ok { "ok" } else { "error" },
            })
            .observe(seconds);
    }
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("coffer");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by role, vault, operation and status",
            requests.clone(),
        );
        let latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by role and operation",
            latency.clone(),
        );
        let throttled = Family::<LimitLabels, Counter>::default();
        registry.register(
            "throttled_requests",
            "Vault requests refused with 429, by the limit they hit",
            throttled.clone(),
        );
        let tokens = Family::<GrantLabels, Counter>::default();
        registry.register(
            "token_requests",
            "Token endpoint requests, by grant type and outcome",
            tokens.clone(),
        );
        let audit_failed = Counter::default();
        registry.register(
            "audit_records_dropped",
            "Audit records that could not be written after retries",
            audit_failed.clone(),
        );
        let store: Family<StoreLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(store_histogram);
        registry.register(
            "store_operation_duration_seconds",
            "Time the database took to answer a store call, by operation and outcome",
            store.clone(),
        );
        let gateway_refresh_failed = Counter::default();
        registry.register(
            "gateway_certificate_refresh_failures",
            "Gateway certificate refresh passes that failed (the last good certificates stay)",
            gateway_refresh_failed.clone(),
        );
        Self {
            registry,
            gateway_refresh_failed,
            requests,
            latency,
            throttled,
            tokens,
            audit_failed,
            store,
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub(crate) fn request(
        &self,
        role: &'static str,
        vault: Option<&str>,
        operation: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                role,
                vault: vault.unwrap_or_default().to_owned(),
                operation,
                status,
            })
            .inc();
        self.latency
            .get_or_create(&LatencyLabels { role, operation })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts a gateway certificate refresh pass that failed.
    pub fn gateway_certificate_refresh_failed(&self) {
        self.gateway_refresh_failed.inc();
    }

    pub(crate) fn throttled(&self, limit: &str) {
        self.throttled
            .get_or_create(&LimitLabels {
                limit: limit.to_owned(),
            })
            .inc();
    }

    pub(crate) fn token(&self, grant: Option<&str>, issued: bool) {
        let grant = match grant {
            Some("client_credentials") => "client_credentials",
            Some("password") => "password",
            Some("authorization_code") => "authorization_code",
            Some("refresh_token") => "refresh_token",
            Some(_) => "other",
            None => "none",
        };
        self.tokens
            .get_or_create(&GrantLabels {
                grant,
                outcome: if issued { "issued" } else { "refused" },
            })
            .inc();
    }

    /// The text exposition format, with the audit writer's counters brought up to date.
    pub fn encode(&self, app: &Coffer) -> String {
        if let Some(w) = app.audit_writer() {
            let seen = self.audit_failed.get();
            let now = w.failed_records();
            if now > seen {
                self.audit_failed.inc_by(now - seen);
            }
        }
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            tracing::error!("encoding metrics failed");
        }
        out
    }
}

/// The metrics of a request, if the server collects them (an extension of the request).
pub(crate) type Shared = Arc<Metrics>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_are_named_by_prometheus_conventions() {
        let m = Metrics::default();
        m.request(
            "vault",
            Some("dev"),
            "SecretGet",
            200,
            Duration::from_millis(3),
        );
        m.throttled("secrets, managed storage and vault transactions: 4 per 10 s per vault");
        m.token(Some("client_credentials"), true);
        let mut out = String::new();
        encode(&mut out, &m.registry).unwrap();
        assert!(out.contains(
            "coffer_http_requests_total{role=\"vault\",vault=\"dev\",operation=\"SecretGet\",status=\"200\"} 1"
        ), "{out}");
        assert!(out.contains("# TYPE coffer_http_request_duration_seconds histogram"));
        assert!(
            out.contains("coffer_throttled_requests_total{limit="),
            "{out}"
        );
        assert!(out.contains(
            "coffer_token_requests_total{grant=\"client_credentials\",outcome=\"issued\"} 1"
        ));
        assert!(out.ends_with("# EOF\n"));
    }

    #[tokio::test]
    async fn store_calls_are_timed_by_operation() {
        use coffer_store::Store;
        let m = Arc::new(Metrics::default());
        let db = coffer_store_sqlite::SqliteStore::open_in_memory().unwrap();
        let store = coffer_store::timed::TimedStore::new(Arc::new(db), m.clone());
        assert!(store.get_doc("vault", "absent").await.unwrap().is_none());
        assert!(store.get_doc("vault", "absent").await.unwrap().is_none());
        let mut out = String::new();
        encode(&mut out, &m.registry).unwrap();
        assert!(
            out.contains(
                "coffer_store_operation_duration_seconds_count{operation=\"get_doc\",outcome=\"ok\"} 2"
            ),
            "{out}"
        );
    }
}
