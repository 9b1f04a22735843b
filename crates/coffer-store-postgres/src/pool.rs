//! Connections: the connection string and its TLS (rustls, verifying the server's certificate
//! against the system roots and an optional CA file), the pool with its timeouts, the timeout
//! every operation runs under ([`finish`]), and [`transaction!`], a write transaction that runs
//! again when the database picks it as the loser of a conflict.

use std::path::PathBuf;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use coffer_store::StoreError;
use deadpool_postgres::{Client, Manager, ManagerConfig, RecyclingMethod, Runtime};
use tokio_postgres::config::SslMode;

use crate::error::{Fail, message, unavailable};

/// How a node reaches its database.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// A libpq-style connection string: `postgres://user:password@host:port/db?sslmode=require`
    /// or `host=... user=... dbname=...`. `sslmode=require` (or `prefer`) turns TLS on; the
    /// server's certificate is then always verified, chain and host name. Without `sslmode`
    /// the connection is plain.
    pub url: String,
    /// PEM certificates to trust for the database's TLS certificate besides the system roots.
    pub ca_file: Option<PathBuf>,
    /// Most connections this pool opens.
    pub max_connections: usize,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
            max_connections: 16,
        }
    }
}

/// The connection string with its password hidden, for logs and errors.
pub fn redacted(url: &str) -> String {
    match tokio_postgres::Config::from_str(url) {
        Ok(c) => {
            let hosts: Vec<String> = c
                .get_hosts()
                .iter()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(h) => h.clone(),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .collect();
            let port = c.get_ports().first().copied().unwrap_or(5432);
            format!(
                "postgres://{}@{}:{}/{}",
                c.get_user().unwrap_or(""),
                hosts.join(","),
                port,
                c.get_dbname().unwrap_or("")
            )
        }
        Err(_) => "postgres://(unparsable connection string)".to_owned(),
    }
}

/// A connection is opened within this, or the call fails as unavailable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// A caller waits at most this long for a free pooled connection.
const WAIT_TIMEOUT: Duration = Duration::from_secs(5);
/// The server cancels a statement running longer than this (and the store reports unavailable).
const STATEMENT_TIMEOUT_MS: u64 = 15_000;
/// A whole operation (all its attempts) gives up after this, so a request never hangs on a
/// database that accepts connections but does not answer.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(20);
/// Attempts of a write transaction that keeps losing conflicts.
pub(crate) const ATTEMPTS: u32 = 8;

pub(crate) struct Pool {
    inner: deadpool_postgres::Pool,
}

impl Pool {
    pub(crate) fn connect(options: &PgOptions) -> Result<Pool, StoreError> {
        let mut config = tokio_postgres::Config::from_str(&options.url).map_err(|e| {
            message(format!(
                "the PostgreSQL connection string is not valid: {e}"
            ))
        })?;
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .tcp_user_timeout(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("coffer");
        }
        if config.get_options().is_none() {
            config.options(format!("-c statement_timeout={STATEMENT_TIMEOUT_MS}"));
        }
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // TLS only when asked for: tokio-postgres defaults to `prefer`, which with a verifying
        // connector would refuse a server whose certificate nobody configured, where libpq
        // would have connected unverified. An explicit `sslmode=prefer|require` gets TLS with
        // full verification.
        let asked = options.url.to_ascii_lowercase().contains("sslmode=");
        let mode = if asked {
            config.get_ssl_mode()
        } else {
            SslMode::Disable
        };
        let manager = match mode {
            SslMode::Disable => Manager::from_config(config, tokio_postgres::NoTls, manager_config),
            _ => Manager::from_config(
                config,
                tokio_postgres_rustls::MakeRustlsConnect::new(tls_config(options)?),
                manager_config,
            ),
        };
        let inner = deadpool_postgres::Pool::builder(manager)
            .max_size(options.max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT + Duration::from_secs(1)))
            .recycle_timeout(Some(Duration::from_secs(2)))
            .build()
            .map_err(|e| message(format!("building the PostgreSQL pool: {e}")))?;
        Ok(Pool { inner })
    }

    /// A pooled connection; a pool that cannot hand one out in time is unavailable.
    pub(crate) async fn client(&self) -> Result<Client, Fail> {
        self.inner.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => Fail::Sql(e),
            other => Fail::Store(unavailable(other)),
        })
    }
}

/// Runs one store operation (all its attempts) under [`OPERATION_TIMEOUT`] and classifies how
/// it failed.
pub(crate) async fn finish<T>(run: impl Future<Output = Result<T, Fail>>) -> Result<T, StoreError> {
    match tokio::time::timeout(OPERATION_TIMEOUT, run).await {
        Ok(r) => r.map_err(Fail::into_store),
        Err(_) => Err(timed_out()),
    }
}

/// Pins a transaction body's error type, which `?` alone leaves open.
pub(crate) fn typed<T>(
    body: impl Future<Output = Result<T, Fail>>,
) -> impl Future<Output = Result<T, Fail>> {
    body
}

/// Runs `$body` (an `async` block using `$tx`, ending in `Ok(..)`) in one transaction on a
/// pooled connection of `$pool` and commits it. If the database aborts it as the loser of a
/// conflict (serialization failure, deadlock), the whole block runs again, a few times, after a
/// short randomised pause; any other failure rolls the transaction back. A macro rather than a
/// function taking a closure, so the compiler checks the future's `Send` for the concrete body.
macro_rules! transaction {
    ($pool:expr, |$tx:ident| $body:expr) => {{
        let pool: &$crate::pool::Pool = $pool;
        $crate::pool::finish(async {
            let mut attempt: u32 = 0;
            loop {
                let result: Result<_, $crate::error::Fail> = async {
                    let mut client = pool.client().await?;
                    let tx = client.transaction().await?;
                    let out = $crate::pool::typed({
                        let $tx = &tx;
                        $body
                    })
                    .await?;
                    tx.commit().await?;
                    Ok(out)
                }
                .await;
                match result {
                    Err(e) if e.retryable() && attempt + 1 < $crate::pool::ATTEMPTS => {
                        attempt += 1;
                        tokio::time::sleep($crate::pool::backoff(attempt)).await;
                    }
                    other => break other,
                }
            }
        })
        .await
    }};
}
pub(crate) use transaction;

fn timed_out() -> StoreError {
    unavailable(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!(
            "the database did not answer within {} s",
            OPERATION_TIMEOUT.as_secs()
        ),
    ))
}

/// Exponential from 2 ms, with up to 100% jitter so two losers do not collide again in step.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = 2u64 << attempt.min(8);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()));
    Duration::from_millis(base + nanos % (base + 1))
}

fn tls_config(options: &PgOptions) -> Result<rustls::ClientConfig, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system root rustls cannot parse is skipped, as every rustls client does.
        let _ = roots.add(cert);
    }
    if let Some(path) = &options.ca_file {
        use rustls_pki_types::pem::PemObject as _;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| message(format!("reading {}: {e}", path.display())))?;
        let mut added = 0;
        for cert in certs {
            let cert = cert.map_err(|e| message(format!("reading {}: {e}", path.display())))?;
            roots
                .add(cert)
                .map_err(|e| message(format!("a certificate in {}: {e}", path.display())))?;
            added += 1;
        }
        if added == 0 {
            return Err(message(format!(
                "{} holds no PEM certificate",
                path.display()
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| message(format!("TLS settings: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_the_password() {
        let r = redacted("postgres://coffer:s3cret@db.example:6432/vaults?sslmode=require");
        assert_eq!(r, "postgres://coffer@db.example:6432/vaults");
        assert!(!redacted("host=h user=u password=pw dbname=d").contains("pw"));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        assert!(backoff(1) >= Duration::from_millis(4));
        assert!(backoff(20) <= Duration::from_millis(1025));
    }
}
