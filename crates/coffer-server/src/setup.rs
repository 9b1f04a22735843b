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
use coffer_service::{BOOTSTRAP_IDENTITY, Coffer, Settings};
use serde_json::json;

use crate::ServeArgs;
use crate::fsutil::write_private;
use crate::summary::{IDENTITY_HEADER_FILE, SummaryInput, summary_lines};
use crate::tls::{TlsFiles, ensure_dev_certificates, server_config};

/// How often soft-deleted objects and vaults past their retention are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// How often a node of a shared store says it is live, and how long that holds.
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
const HEARTBEAT_TTL: Duration = Duration::from_secs(15);
/// The lease a node holds while it runs the purge, rotation, renewal and pruning passes.
const MAINTENANCE_LEASE: &str = "maintenance";
/// How often the token signing keys are re-read from the store.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(30);

pub(crate) async fn serve(args: ServeArgs) -> Result<()> {
    let started = Instant::now();
    // Everything that can be checked without touching the data directory comes first, so a
    // wrong flag never leaves a half-made directory behind.
    let listen = crate::listen::resolve(&args.listen)?;
    let backend = crate::store_setup::Backend::from_args(&args)?;
    let gateway_listen = match &args.gateway_listen {
        Some(a) => {
            Some(crate::listen::resolve(a).with_context(|| format!("--gateway-listen {a}"))?)
        }
        None => None,
    };
    let gateway_poll = crate::gateway_glue::parse_duration(&args.gateway_poll_interval)
        .context("--gateway-poll-interval")?;
    let backend_timeout = crate::gateway_glue::parse_duration(&args.gateway_backend_timeout)
        .context("--gateway-backend-timeout")?;
    let mut trusted_proxies = Vec::new();
    for p in &args.trusted_proxies {
        trusted_proxies
            .push(coffer_domain::IpRule::parse(p).with_context(|| format!("--trusted-proxy {p}"))?);
    }
    let limits = match &args.limits {
        Some(p) if p.as_os_str() == "off" => None,
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading --limits {}", p.display()))?;
            Some(
                coffer_service::parse_limits(&text)
                    .with_context(|| format!("--limits {}", p.display()))?,
            )
        }
        None => Some(coffer_service::parse_limits(
            coffer_service::DEFAULT_LIMITS,
        )?),
    };
    let own_tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(server_config(c, k)?),
        _ => None,
    };
    let ephemeral = if args.ephemeral {
        Some(
            tempfile::Builder::new()
                .prefix("coffer-ephemeral-")
                .tempdir()
                .context("creating a temporary data directory for --ephemeral")?,
        )
    } else {
        None
    };
    let wanted = ephemeral
        .as_ref()
        .map_or(args.data_dir.as_path(), tempfile::TempDir::path);
    // One data directory, one server: lock it before binding, so a second server on the same
    // directory is told so (not that the port is taken).
    let existing = crate::datadir::open_existing(wanted)?;
    let listener = crate::listen::bind(listen).await?;
    let gateway_listener = match gateway_listen {
        Some(a) => Some(crate::listen::bind(a).await.context("--gateway-listen")?),
        None => None,
    };
    let metrics_listener = match args.metrics_listen {
        Some(a) => Some(crate::metrics_srv::bind(a).await?),
        None => None,
    };
    let bound = listener.local_addr()?;
    let data_dir = match existing {
        Some(d) => d,
        None => crate::datadir::create(wanted)?,
    };
    let dir = data_dir.path().to_path_buf();
    let hsm = match (&args.pkcs11_module, &args.pkcs11_token, &args.pkcs11_pin) {
        (Some(module), Some(token), Some(pin)) => {
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
            Some(hsm)
        }
        _ => None,
    };

    let (store, has_data) = backend.open_store(&dir).await?;
    let root = load_root_key(&dir, has_data)?;
    // With metrics on, the database's own latency is measured (under the cache, so cache hits
    // are not counted as store calls).
    let metrics = metrics_listener
        .as_ref()
        .map(|_| Arc::new(coffer_api::Metrics::default()));
    let store = match &metrics {
        Some(m) => Arc::new(coffer_store::timed::TimedStore::new(
            store,
            Arc::clone(m) as _,
        )),
        None => store,
    };
    // On the embedded database this process is the only writer (one server per data
    // directory), so reads of object versions can be served from memory (see
    // `coffer_store::cache`); a shared database is read every time.
    let store: Arc<dyn coffer_store::Store> = if backend.shared() {
        store
    } else {
        Arc::new(coffer_store::cache::ReadCache::new(
            store,
            coffer_store::cache::DEFAULT_BUDGET_BYTES,
        ))
    };
    tracing::info!(store = %backend.describe(&dir), "store opened");
    let port = args.public_port.unwrap_or(bound.port());
    let settings = Settings {
        domain: args.domain.to_ascii_lowercase(),
        port,
        token_lifetime_secs: args.token_lifetime.clamp(300, 86_400),
        clock_skew_secs: 300,
    };
    let app = Arc::new(
        Coffer::open(store, root, Arc::new(SystemClock), settings.clone())
            .await
            .context("opening Coffer")?,
    );
    if let Some(hsm) = hsm {
        app.set_hsm_provider(Arc::new(hsm));
    }
    // On a shared store each node enforces its share of every limit (the limit over the
    // number of live nodes, kept by heartbeats), so the instance as a whole admits its limits.
    let node = uuid::Uuid::new_v4().to_string();
    let share = backend
        .shared()
        .then(|| Arc::new(coffer_service::NodeShare::default()));
    if let Some(table) = limits {
        match &share {
            Some(s) => app.set_throttle(table, Arc::clone(s) as _),
            None => app.set_throttle(table, Arc::new(coffer_service::LocalLimiter::default())),
        }
    }
    if let Some(share) = share {
        let beat = Arc::clone(&app);
        let id = node.clone();
        // The first beat before serving, so the first requests already see the other nodes.
        match beat.heartbeat(&id, HEARTBEAT_TTL).await {
            Ok(n) => share.set_nodes(n),
            Err(e) => tracing::warn!(error = %e, "the first heartbeat failed"),
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_INTERVAL);
            loop {
                tick.tick().await;
                match beat.heartbeat(&id, HEARTBEAT_TTL).await {
                    Ok(n) => share.set_nodes(n),
                    Err(e) => tracing::warn!(error = %e, "heartbeat failed"),
                }
            }
        });
    }
    let boot = app.bootstrap().await.context("bootstrapping")?;
    let (audit_writer, audit_log) =
        crate::audit_setup::open(backend.open_audit(&dir).await?, &args)?;
    app.set_audit(audit_writer.clone(), audit_log);

    let files = TlsFiles::in_dir(&dir);
    ensure_dev_certificates(&files, &settings.domain)?;
    let tls = match own_tls {
        Some(t) => t,
        None => server_config(&files.server_cert, &files.server_key)?,
    };
    let (served_cert, served_key) = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        _ => (files.server_cert.clone(), files.server_key.clone()),
    };
    let gateway = Arc::new(
        coffer_gateway::Gateway::new(coffer_gateway::GatewayOptions {
            builtin: crate::tls::certified_key(&served_cert, &served_key)?,
            extra_roots: crate::tls::pem_certificates(&files.ca_cert),
            system_roots: true,
            backend_timeout,
        })
        .context("starting the gateway runtime")?,
    );
    app.set_vault_reader(Arc::new(crate::vault_reader::SelfVaultReader::new(
        bound,
        &settings.domain,
        Some(&files.ca_cert),
    )?));
    crate::gateway_glue::reload(&app, &gateway, true).await;

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
    let header_path = dir.join(IDENTITY_HEADER_FILE);
    let known_header = std::fs::read_to_string(&header_path)
        .ok()
        .map(|h| h.trim().to_owned());
    let identity = app
        .bootstrap_identity(known_header.as_deref())
        .await
        .context("setting up the bootstrap managed identity")?;
    let identity_header = match &identity {
        Some(i) => match &i.header {
            Some(h) => {
                write_private(&header_path, h.as_bytes())?;
                Some(h.clone())
            }
            None => known_header,
        },
        None => {
            let _ = std::fs::remove_file(&header_path);
            None
        }
    };
    let (ca_cert, bundle) = if args.tls_cert.is_some() {
        (None, None)
    } else {
        let bundle = crate::trust::write_bundle(&files.ca_cert)?;
        if bundle.system.is_none() {
            tracing::warn!(
                bundle = %bundle.path.display(),
                "no system CA bundle found: the bundle holds only Coffer's CA"
            );
        }
        (Some(files.ca_cert.clone()), Some(bundle))
    };
    let contract = json!({
        "tenant_id": boot.tenant_id,
        "client_id": boot.client_id,
        "client_secret": secret,
        "object_id": boot.object_id,
        "authority": settings.authority(),
        "vault_name": boot.vault,
        "vault_url": settings.vault_url(&boot.vault),
        "vault_resource": settings.vault_resource(),
        "subscription_id": boot.subscription_id,
        "resource_group": boot.resource_group,
        "management_url": settings.management_url(),
        "graph_url": settings.graph_url(),
        "ca_cert": ca_cert.as_ref().map(|p| p.display().to_string()),
        "ca_bundle": bundle.as_ref().map(|b| b.path.display().to_string()),
        "identity_name": identity.as_ref().map(|_| BOOTSTRAP_IDENTITY),
        "identity_resource_id": identity.as_ref().map(|i| i.resource_id.clone()),
        "identity_client_id": identity.as_ref().map(|i| i.client_id.clone()),
        "identity_principal_id": identity.as_ref().map(|i| i.principal_id.clone()),
        "identity_endpoint": identity.as_ref().map(|_| app.identity_endpoint()),
        "identity_header": identity_header,
    });
    // The contract changes only once the listener is bound and everything above worked.
    write_private(
        &bootstrap_path,
        serde_json::to_string_pretty(&contract)?.as_bytes(),
    )?;
    let vaults = app.vault_names().await.unwrap_or_default();
    let bold = if args.color.enabled(std::io::stdout().is_terminal()) {
        ("\x1b[1m", "\x1b[0m")
    } else {
        ("", "")
    };
    for line in summary_lines(
        &SummaryInput {
            contract: &contract,
            data_dir: &dir,
            bound,
            vaults: &vaults,
            ephemeral: ephemeral.is_some(),
            system_cas: bundle.as_ref().is_none_or(|b| b.system.is_some()),
        },
        bold,
    ) {
        println!("{line}");
    }
    if let Some(a) = gateway_listener.as_ref().and_then(|l| l.local_addr().ok()) {
        println!("Gateway listener on {a}: API Management services only, chosen by SNI");
    }
    println!("coffer ready in {} ms", started.elapsed().as_millis());

    // Nodes sharing a store take turns: one holds the maintenance lease and runs the passes.
    let purger = Arc::clone(&app);
    let holder = node.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PURGE_INTERVAL);
        loop {
            tick.tick().await;
            match purger
                .hold_lease(MAINTENANCE_LEASE, &holder, PURGE_INTERVAL * 3)
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "taking the maintenance lease failed");
                    continue;
                }
            }
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
            match purger.purge_expired_signin_records().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    records = n,
                    "removed expired sign-in pages, codes and refresh tokens"
                ),
                Err(e) => tracing::warn!(error = %e, "removing expired sign-in records failed"),
            }
            match purger.prune_audit_by_vault_retention().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    records = n,
                    "pruned audit records past their vault's own retention"
                ),
                Err(e) => tracing::warn!(error = %e, "pruning by vault retention failed"),
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
    if let (Some(l), Some(m)) = (metrics_listener, &metrics) {
        crate::metrics_srv::spawn(l, Arc::clone(&app), Arc::clone(m));
    }
    crate::gateway_glue::spawn(
        Arc::clone(&app),
        Arc::clone(&gateway),
        gateway_poll,
        metrics.clone(),
        node,
    );
    let edge = coffer_api::Edge {
        trusted_proxies,
        metrics,
    };
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
    let front = crate::serve::Frontend {
        tls,
        app: coffer_api::router_with(app, edge),
        gateway: Some(gateway),
    };
    let served = crate::serve::run(listener, gateway_listener, front, limits).await;
    // Connections are drained: write what the last requests queued before exiting.
    audit_writer.shutdown().await;
    tracing::info!(
        written = audit_writer.written_records(),
        failed = audit_writer.failed_records(),
        "audit log closed"
    );
    drop(data_dir);
    if let Some(tmp) = ephemeral {
        let path = tmp.path().display().to_string();
        match tmp.close() {
            Ok(()) => tracing::info!(dir = %path, "removed the ephemeral data directory"),
            Err(e) => {
                tracing::warn!(dir = %path, error = %e, "removing the ephemeral data directory failed")
            }
        }
    }
    served
}

/// The root key: `COFFER_ROOT_KEY` (base64 of 32 bytes) or `root.key` in the data directory,
/// generated with mode 0600 on first start.
pub(crate) fn load_root_key(dir: &Path, store_has_data: bool) -> Result<RootKey> {
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
    if store_has_data {
        bail!(
            "the store already holds data but {} has no root.key and COFFER_ROOT_KEY is not set: \
             the data cannot be decrypted (every node of a shared store needs the instance's root key)",
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
