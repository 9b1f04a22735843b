//! Starting the server: data directory, root key, store, TLS material, bootstrap contract
//! (`bootstrap.json`), then the listener and background maintenance.

use std::io::IsTerminal as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use coffer_crypto::RootKey;
use coffer_domain::SystemClock;
use coffer_service::{Coffer, Settings};
use coffer_store_sqlite::SqliteStore;
use serde_json::json;

use crate::ServeArgs;
use crate::fsutil::write_private;
use crate::tls::{TlsFiles, ensure_dev_certificates, server_config};

/// How often soft-deleted objects and vaults past their retention are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// How often the token signing keys are re-read from the store.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

pub(crate) async fn serve(args: ServeArgs) -> Result<()> {
    let started = Instant::now();
    let dir = &args.data_dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data directory {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir)?;
    let root = load_root_key(&dir)?;
    let store = SqliteStore::open(&dir.join("coffer.db")).context("opening the database")?;
    let port = args.public_port.unwrap_or(args.listen.port());
    let settings = Settings {
        domain: args.domain.to_ascii_lowercase(),
        port,
        token_lifetime_secs: args.token_lifetime.clamp(300, 86_400),
        clock_skew_secs: 300,
    };
    let app = Arc::new(
        Coffer::open(
            Arc::new(store),
            root,
            Arc::new(SystemClock),
            settings.clone(),
        )
        .await
        .context("opening Coffer")?,
    );
    if let (Some(module), Some(token), Some(pin)) =
        (&args.pkcs11_module, &args.pkcs11_token, &args.pkcs11_pin)
    {
        let cfg = coffer_hsm::Pkcs11Config {
            module: module.clone(),
            token_label: token.clone(),
            pin: zeroize::Zeroizing::new(pin.clone()),
        };
        let hsm = tokio::task::spawn_blocking(move || coffer_hsm::Pkcs11Keys::open(cfg))
            .await
            .context("opening the PKCS#11 token")?
            .context("opening the PKCS#11 token")?;
        tracing::info!(token = %token, "HSM keys (RSA-HSM, EC-HSM, oct-HSM) live in the PKCS#11 token");
        app.set_hsm_provider(Arc::new(hsm));
    }
    let boot = app.bootstrap().await.context("bootstrapping")?;
    let mut trusted_proxies = Vec::new();
    for p in &args.trusted_proxies {
        trusted_proxies
            .push(coffer_domain::IpRule::parse(p).with_context(|| format!("--trusted-proxy {p}"))?);
    }
    let (audit_writer, audit_log) = crate::audit_setup::open(&dir, &args)?;
    app.set_audit(audit_writer.clone(), audit_log);

    let files = TlsFiles::in_dir(&dir);
    ensure_dev_certificates(&files, &settings.domain)?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => server_config(c, k)?,
        _ => server_config(&files.server_cert, &files.server_key)?,
    };

    let bootstrap_path = dir.join("bootstrap.json");
    let secret = match (
        boot.client_secret.clone(),
        read_bootstrap_secret(&bootstrap_path, &boot.client_id),
    ) {
        (Some(s), _) | (None, Some(s)) => s,
        // The contract file was lost: the admin gets a new secret rather than being locked out.
        (None, None) => app
            .add_client_secret(&boot.tenant_id, &boot.client_id)
            .await
            .context("issuing a new admin client secret")?,
    };
    let ca_cert = if args.tls_cert.is_some() {
        None
    } else {
        Some(files.ca_cert.clone())
    };
    let contract = json!({
        "tenant_id": boot.tenant_id,
        "client_id": boot.client_id,
        "client_secret": secret,
        "object_id": boot.object_id,
        "authority": settings.authority(),
        "vault_url": settings.vault_url(&boot.vault),
        "vault_resource": settings.vault_resource(),
        "subscription_id": boot.subscription_id,
        "resource_group": boot.resource_group,
        "management_url": settings.management_url(),
        "graph_url": settings.graph_url(),
        "ca_cert": ca_cert.as_ref().map(|p| p.display().to_string()),
    });
    write_private(
        &bootstrap_path,
        serde_json::to_string_pretty(&contract)?.as_bytes(),
    )?;

    let listener = crate::serve::bind(args.listen).await?;
    let bound = listener.local_addr()?;
    print_summary(&contract, &bootstrap_path, bound, started.elapsed());

    let purger = Arc::clone(&app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_INTERVAL);
        loop {
            tick.tick().await;
            match purger.purge_expired().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged soft-deleted objects past retention"),
                Err(e) => tracing::warn!(error = %e, "scheduled purge failed"),
            }
            match purger.purge_expired_vaults().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, "purged soft-deleted vaults past retention"),
                Err(e) => tracing::warn!(error = %e, "scheduled purge of vaults failed"),
            }
            // Lifetime actions of key rotation policies run on the same beat.
            match purger.run_key_rotations().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rotated = n, "rotated keys whose rotation policy was due"),
                Err(e) => tracing::warn!(error = %e, "key rotation pass failed"),
            }
            match purger.run_certificate_renewals().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    renewed = n,
                    "renewed certificates whose AutoRenew action was due"
                ),
                Err(e) => tracing::warn!(error = %e, "certificate renewal pass failed"),
            }
        }
    });
    let reloader = Arc::clone(&app);
    tokio::spawn(async move {
        // Keys may be rotated by `coffer token keys rotate` or by another node of a shared store.
        let mut tick = tokio::time::interval(KEY_RELOAD_INTERVAL);
        loop {
            tick.tick().await;
            if let Err(e) = reloader.reload_signing_keys().await {
                tracing::warn!(error = %e, "reloading signing keys failed");
            }
        }
    });
    let edge = coffer_api::Edge { trusted_proxies };
    let secs = |n: u64| Duration::from_secs(n.max(1));
    let limits = crate::conn_limits::Limits {
        max_connections: args.max_connections,
        max_per_address: args.max_connections_per_address,
        header_read_timeout: secs(args.header_read_timeout),
        body_idle_timeout: secs(args.body_idle_timeout),
        idle_timeout: secs(args.idle_timeout),
        h2_ping_interval: secs(args.h2_ping_interval),
        h2_ping_timeout: secs(20),
    };
    let served = crate::serve::run(listener, tls, coffer_api::router_with(app, edge), limits).await;
    // Connections are drained: write what the last requests queued before exiting.
    audit_writer.shutdown().await;
    tracing::info!(
        written = audit_writer.written_records(),
        failed = audit_writer.failed_records(),
        "audit log closed"
    );
    served
}

/// The root key: `COFFER_ROOT_KEY` (base64 of 32 bytes) or `root.key` in the data directory,
/// generated with mode 0600 on first start.
pub(crate) fn load_root_key(dir: &Path) -> Result<RootKey> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Ok(v) = std::env::var("COFFER_ROOT_KEY") {
        let raw = b64
            .decode(v.trim())
            .context("COFFER_ROOT_KEY is not base64")?;
        return RootKey::from_bytes(&raw).context("COFFER_ROOT_KEY must hold 32 bytes");
    }
    let path = dir.join("root.key");
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let raw = b64
            .decode(text.trim())
            .with_context(|| format!("{} is not base64", path.display()))?;
        return RootKey::from_bytes(&raw)
            .with_context(|| format!("{} must hold 32 bytes", path.display()));
    }
    if dir.join("coffer.db").exists() {
        bail!(
            "{} has a database but no root.key and COFFER_ROOT_KEY is not set: the data cannot be decrypted",
            dir.display()
        );
    }
    let key = RootKey::generate().context("generating the root key")?;
    write_private(&path, b64.encode(key.as_bytes()).as_bytes())?;
    Ok(key)
}

fn read_bootstrap_secret(path: &Path, client_id: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    if v.get("client_id")?.as_str()? != client_id {
        return None;
    }
    v.get("client_secret")?.as_str().map(str::to_owned)
}

fn print_summary(
    c: &serde_json::Value,
    bootstrap: &Path,
    bound: std::net::SocketAddr,
    took: Duration,
) {
    let s = |k: &str| {
        c.get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let color = std::io::stdout().is_terminal();
    let (b, r) = if color {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("", "")
    };
    println!("{b}Coffer{r} listening on https://{bound}");
    println!("  vault:      {}", s("vault_url"));
    println!("  authority:  {}/{}", s("authority"), s("tenant_id"));
    println!("  management: {}", s("management_url"));
    println!(
        "  scope:      /subscriptions/{}/resourceGroups/{}",
        s("subscription_id"),
        s("resource_group")
    );
    println!("  graph:      {}", s("graph_url"));
    println!("  contract:   {}", bootstrap.display());
    println!("  env for the official SDKs:");
    println!("    export AZURE_TENANT_ID={}", s("tenant_id"));
    println!("    export AZURE_CLIENT_ID={}", s("client_id"));
    println!(
        "    export AZURE_CLIENT_SECRET=$(jq -r .client_secret {})",
        bootstrap.display()
    );
    println!("    export AZURE_AUTHORITY_HOST={}", s("authority"));
    if !s("ca_cert").is_empty() {
        println!(
            "    export REQUESTS_CA_BUNDLE={0} SSL_CERT_FILE={0} NODE_EXTRA_CA_CERTS={0}",
            s("ca_cert")
        );
    }
    println!("coffer ready in {} ms", took.as_millis());
}
