//! Which store `coffer serve` runs on: the embedded SQLite database in the data directory (the
//! default; this process is its only writer, so reads of object versions are cached in memory),
//! or a PostgreSQL shared by several nodes (`--store postgres://...`; nothing is cached that
//! another node could change, beyond the short-lived vault settings of `VAULT_CACHE_TTL`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use coffer_store::{AuditStore, Store};
use coffer_store_postgres::{PgAuditStore, PgOptions, PgStore, redacted};
use coffer_store_sqlite::{AUDIT_DB_FILE, SqliteAuditStore, SqliteStore};

use crate::ServeArgs;

/// The chosen backend, checked before anything is opened.
pub(crate) enum Backend {
    Embedded,
    Postgres(PgOptions),
}

impl Backend {
    pub(crate) fn from_args(args: &ServeArgs) -> Result<Backend> {
        Self::from_options(
            args.store.as_deref(),
            args.store_ca.clone(),
            args.store_max_connections,
        )
    }

    /// From `--store`, `--store-ca` and `--store-max-connections` (shared by the verbs that
    /// open the store themselves).
    pub(crate) fn from_options(
        store: Option<&str>,
        ca_file: Option<PathBuf>,
        max_connections: usize,
    ) -> Result<Backend> {
        let Some(url) = store.map(str::trim) else {
            return Ok(Backend::Embedded);
        };
        if url.is_empty() || url == "embedded" {
            return Ok(Backend::Embedded);
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!(
                "--store takes a PostgreSQL URL (postgres://user:password@host:port/db); \
                 leave it out for the embedded database in --data-dir"
            );
        }
        Ok(Backend::Postgres(PgOptions {
            url: url.to_owned(),
            ca_file,
            max_connections: max_connections.max(1),
        }))
    }

    /// How the summary and logs name it (never with a password).
    pub(crate) fn describe(&self, dir: &Path) -> String {
        match self {
            Backend::Embedded => format!("embedded ({})", dir.join("coffer.db").display()),
            Backend::Postgres(o) => format!("PostgreSQL {}", redacted(&o.url)),
        }
    }

    /// Whether the store is shared with other nodes (so no node may cache what another changes).
    pub(crate) fn shared(&self) -> bool {
        matches!(self, Backend::Postgres(_))
    }

    /// Opens the store. The second value says whether it already holds an instance's data,
    /// which decides whether a missing root key may be generated.
    pub(crate) async fn open_store(&self, dir: &Path) -> Result<(Arc<dyn Store>, bool)> {
        match self {
            Backend::Embedded => {
                let path = dir.join("coffer.db");
                let existed = path.exists();
                let store = SqliteStore::open(&path).context("opening the database")?;
                Ok((Arc::new(store), existed))
            }
            Backend::Postgres(o) => {
                let store = PgStore::open(o)
                    .await
                    .with_context(|| format!("opening PostgreSQL {}", redacted(&o.url)))?;
                let existed = !store
                    .is_empty()
                    .await
                    .with_context(|| format!("reading PostgreSQL {}", redacted(&o.url)))?;
                Ok((Arc::new(store), existed))
            }
        }
    }

    pub(crate) async fn open_audit(&self, dir: &Path) -> Result<Arc<dyn AuditStore>> {
        match self {
            Backend::Embedded => {
                let path = dir.join(AUDIT_DB_FILE);
                let store = SqliteAuditStore::open(&path)
                    .with_context(|| format!("opening the audit log {}", path.display()))?;
                Ok(Arc::new(store))
            }
            Backend::Postgres(o) => {
                let store = PgAuditStore::open(o).await.with_context(|| {
                    format!("opening the audit log in PostgreSQL {}", redacted(&o.url))
                })?;
                Ok(Arc::new(store))
            }
        }
    }
}
