//! `coffer migrate --from A --to B`: copies a whole instance (vault objects, documents, the
//! audit log) between the embedded store in a data directory and a PostgreSQL database, either
//! way, into a target that must be empty, then reads the target back and checks its counts and
//! checksum against the source's (`coffer_store::copy`). The source must be quiet: a data
//! directory is locked for the copy, so a server still running on it is refused.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use coffer_store::copy::{self, CopyError, Progress};

use crate::store_setup::Backend;

#[derive(clap::Args, Debug)]
pub(crate) struct MigrateArgs {
    /// Copy from: a data directory (its embedded database) or a postgres:// URL.
    #[arg(long, value_name = "DIR|URL")]
    from: String,
    /// Copy to: a data directory or a postgres:// URL. It must hold no data yet.
    #[arg(long, value_name = "DIR|URL")]
    to: String,
    /// PEM CA certificates to trust for PostgreSQL's TLS certificate (with sslmode=require).
    #[arg(long, env = "COFFER_STORE_CA", value_name = "FILE")]
    store_ca: Option<PathBuf>,
}

/// One side of the copy, opened and (for a directory) locked.
struct Side {
    backend: Backend,
    dir: PathBuf,
    _lock: Option<crate::datadir::DataDir>,
    name: String,
}

fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

fn open_side(location: &str, ca: Option<&PathBuf>, source: bool) -> Result<Side> {
    if is_url(location) {
        return Ok(Side {
            name: coffer_store_postgres::redacted(location),
            backend: Backend::from_options(Some(location), ca.cloned(), 4)?,
            dir: PathBuf::new(),
            _lock: None,
        });
    }
    let dir = Path::new(location);
    let lock = if source {
        if !dir.join("coffer.db").exists() {
            bail!("{} holds no Coffer database (coffer.db)", dir.display());
        }
        crate::datadir::open_existing(dir)?
            .with_context(|| format!("{} does not exist", dir.display()))?
    } else {
        match crate::datadir::open_existing(dir)? {
            Some(d) => d,
            None => crate::datadir::create(dir)?,
        }
    };
    Ok(Side {
        name: lock.path().display().to_string(),
        dir: lock.path().to_path_buf(),
        backend: Backend::Embedded,
        _lock: Some(lock),
    })
}

struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn total(&self, items: u64) {
        self.0.set_length(items);
    }
    fn advance(&self, items: u64) {
        self.0.inc(items);
    }
}

pub(crate) async fn run(args: MigrateArgs) -> Result<()> {
    if args.from == args.to {
        bail!("--from and --to name the same place");
    }
    let from = open_side(&args.from, args.store_ca.as_ref(), true)?;
    let to = open_side(&args.to, args.store_ca.as_ref(), false)?;
    let (src, _) = from.backend.open_store(&from.dir).await?;
    let src_audit = from.backend.open_audit(&from.dir).await?;
    let (dst, _) = to.backend.open_store(&to.dir).await?;
    let dst_audit = to.backend.open_audit(&to.dir).await?;

    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} copying {pos}/{len} items [{bar:40}] {percent}% ({eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    eprintln!("copying {} into {}", from.name, to.name);
    let source = match copy::copy(
        (src.as_ref(), src_audit.as_ref()),
        (dst.as_ref(), dst_audit.as_ref()),
        &Bar(bar.clone()),
    )
    .await
    {
        Ok(i) => i,
        Err(CopyError::TargetNotEmpty(found)) => bail!(
            "{} already holds data ({found}); coffer migrate copies only into an empty store",
            to.name
        ),
        Err(CopyError::Store(e)) => {
            return Err(e)
                .context("copying; the target holds a partial copy: empty it before retrying");
        }
    };
    bar.finish_and_clear();
    let target = copy::inventory(dst.as_ref(), dst_audit.as_ref())
        .await
        .context("reading the copy back")?;
    println!("source: {source}");
    println!("target: {target}");
    if source != target {
        bail!(
            "the copy does not match its source: keep using the source, empty the target and retry"
        );
    }
    println!("verified: counts and checksum match");
    root_key_hint(&from, &to)?;
    Ok(())
}

/// Sealed data moves as is: the target's nodes need the source's root key.
fn root_key_hint(from: &Side, to: &Side) -> Result<()> {
    match (&from.backend, &to.backend) {
        (Backend::Embedded, Backend::Postgres(_))
            if std::env::var_os("COFFER_ROOT_KEY").is_none() =>
        {
            println!(
                "next: start every node with COFFER_ROOT_KEY set to the contents of {} \
                 and --store {}",
                from.dir.join("root.key").display(),
                to.name
            );
        }
        (Backend::Postgres(_), Backend::Embedded) => {
            let path = to.dir.join("root.key");
            match std::env::var("COFFER_ROOT_KEY") {
                Ok(key) if !path.exists() => {
                    crate::fsutil::write_private(&path, key.trim().as_bytes())?;
                    println!(
                        "wrote the root key from COFFER_ROOT_KEY to {}",
                        path.display()
                    );
                }
                _ if path.exists() => {}
                _ => println!(
                    "next: put the instance's root key in {} (or set COFFER_ROOT_KEY) before \
                     `coffer serve --data-dir {}`",
                    path.display(),
                    to.dir.display()
                ),
            }
        }
        _ => {}
    }
    Ok(())
}
