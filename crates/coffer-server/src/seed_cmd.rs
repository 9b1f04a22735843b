//! `coffer seed`: a benchmarking tool that fills a vault with generated secrets through the
//! storage layer (not over HTTP), on the store `coffer serve` would open with the same flags.
//! The embedded store's data directory is locked as a server locks it, so seeding never runs
//! under a server's read cache; a PostgreSQL store may be seeded while nodes serve it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use coffer_domain::SystemClock;
use coffer_service::{Coffer, Settings};

use crate::store_setup::Backend;

/// Options of `coffer seed`.
#[derive(clap::Args, Debug)]
pub(crate) struct SeedArgs {
    /// Vault to fill; it must exist.
    #[arg(long, default_value = coffer_service::DEFAULT_VAULT)]
    vault: String,
    /// How many secrets to write: names PREFIX<start> .. PREFIX<start + count - 1>.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
    /// Index of the first name.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Names are this prefix followed by the index (seed-0, seed-1, ...).
    #[arg(long, default_value = "seed-")]
    prefix: String,
    /// Secrets written per transaction.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Data directory of the instance (its root.key; with the embedded store, its database).
    #[arg(long, env = "COFFER_DATA_DIR", default_value = "coffer-data")]
    data_dir: PathBuf,
    /// The store, as for `coffer serve --store` (leave it out for the embedded database).
    #[arg(long, env = "COFFER_STORE", value_name = "URL")]
    store: Option<String>,
    /// PEM CA certificates to trust for the PostgreSQL server's TLS certificate.
    #[arg(long, env = "COFFER_STORE_CA", value_name = "FILE", requires = "store")]
    store_ca: Option<PathBuf>,
}

pub(crate) async fn run(args: SeedArgs) -> Result<()> {
    let backend = Backend::from_options(args.store.as_deref(), args.store_ca.clone(), 4)?;
    let Some(end) = args.start.checked_add(args.count) else {
        bail!("--start plus --count is too large");
    };
    // With the embedded store the lock is held until the end, so no server starts meanwhile.
    let _lock = match backend {
        Backend::Embedded => {
            let dir = crate::datadir::open_existing(&args.data_dir)?;
            if dir
                .as_ref()
                .is_none_or(|d| !d.path().join("coffer.db").exists())
            {
                bail!(
                    "{} holds no Coffer instance: start `coffer serve --data-dir {}` once to create it, then seed it",
                    args.data_dir.display(),
                    args.data_dir.display()
                );
            }
            dir
        }
        Backend::Postgres(_) => None,
    };
    let (store, has_data) = backend.open_store(&args.data_dir).await?;
    if !has_data {
        bail!(
            "{} holds no Coffer instance: start `coffer serve` on it once to create it, then seed it",
            backend.describe(&args.data_dir)
        );
    }
    let root = crate::setup::load_root_key(&args.data_dir, true)?;
    // Only sealing and the store are used: the settings name no listener.
    let settings = Settings {
        domain: "localhost".to_owned(),
        port: 443,
        token_lifetime_secs: 3600,
        clock_skew_secs: 300,
    };
    let app = Coffer::open(store, root, Arc::new(SystemClock), settings)
        .await
        .context("opening Coffer")?;

    let bar = indicatif::ProgressBar::new(args.count);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} ({per_sec}, {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(format!("seeding {}", args.vault));
    let started = Instant::now();
    let written = app
        .seed_secrets(
            &args.vault,
            &args.prefix,
            args.start..end,
            args.batch,
            |n| bar.set_position(n),
        )
        .await;
    bar.finish_and_clear();
    let written = written.with_context(|| format!("seeding vault {}", args.vault))?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "seeded {written} secrets {}{} .. {}{} into vault {}, store {}, in {secs:.1} s ({:.0}/s)",
        args.prefix,
        args.start,
        args.prefix,
        end.saturating_sub(1),
        args.vault,
        backend.describe(&args.data_dir),
        written as f64 / secs.max(0.001)
    );
    Ok(())
}
