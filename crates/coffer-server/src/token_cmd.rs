//! `coffer token ...`: get a token, decode one (and ask a vault whether it would accept it, and if
//! not, which check fails and what to change), and rotate the signing keys.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use coffer_domain::{Clock, SystemClock};
use coffer_service::{Coffer, Settings};
use coffer_store_sqlite::SqliteStore;
use serde_json::{Value, json};

use crate::client::{Contract, client_credentials, http};

#[derive(Subcommand, Debug)]
pub(crate) enum TokenCommand {
    /// Get an access token with the client-credentials grant (defaults: the bootstrap admin).
    Get {
        /// Resource (audience) of the token, e.g. https://vault.localhost:8443.
        #[arg(long)]
        resource: Option<String>,
        /// Tenant id (default: the bootstrap tenant).
        #[arg(long)]
        tenant: Option<String>,
        /// Client (application) id (default: the bootstrap admin).
        #[arg(long)]
        client_id: Option<String>,
        /// Client secret of --client-id (default: the bootstrap admin's).
        #[arg(long)]
        client_secret: Option<String>,
        /// Print only the access token.
        #[arg(long)]
        raw: bool,
        /// Data directory of the server: its bootstrap.json has the admin's credentials and the CA.
        #[arg(long, env = "COFFER_DATA_DIR", default_value = "coffer-data")]
        data_dir: PathBuf,
    },
    /// Show a token's header and claims with readable times, and with --vault whether that vault
    /// accepts it.
    Decode {
        /// The JWT (a leading "Bearer " is ignored).
        token: String,
        /// Vault URL to check the token against, e.g. https://dev.vault.localhost:8443.
        #[arg(long)]
        vault: Option<String>,
        /// CA certificate to trust (default: the data directory's, if present).
        #[arg(long)]
        ca_cert: Option<PathBuf>,
        /// Data directory of the server: its bootstrap.json has the admin's credentials and the CA.
        #[arg(long, env = "COFFER_DATA_DIR", default_value = "coffer-data")]
        data_dir: PathBuf,
    },
    /// Manage the token signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Create a new signing key. A running server picks it up within 30 seconds; tokens signed
    /// by the previous key stay valid until they expire.
    Rotate {
        /// Data directory of the server: its bootstrap.json has the admin's credentials and the CA.
        #[arg(long, env = "COFFER_DATA_DIR", default_value = "coffer-data")]
        data_dir: PathBuf,
    },
}

pub(crate) async fn run(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Get {
            resource,
            tenant,
            client_id,
            client_secret,
            raw,
            data_dir,
        } => get(&data_dir, resource, tenant, client_id, client_secret, raw).await,
        TokenCommand::Decode {
            token,
            vault,
            ca_cert,
            data_dir,
        } => decode(&token, vault.as_deref(), ca_cert, &data_dir).await,
        TokenCommand::Keys(KeysCommand::Rotate { data_dir }) => rotate(&data_dir).await,
    }
}

async fn get(
    data_dir: &Path,
    resource: Option<String>,
    tenant: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    raw: bool,
) -> Result<()> {
    let c = Contract::load(data_dir)?;
    let body = client_credentials(
        &http(c.ca_cert.as_deref())?,
        &c.authority,
        tenant.as_deref().unwrap_or(&c.tenant_id),
        client_id.as_deref().unwrap_or(&c.client_id),
        client_secret.as_deref().unwrap_or(&c.client_secret),
        resource.as_deref().unwrap_or(&c.vault_resource),
    )
    .await?;
    if raw {
        println!("{}", body["access_token"].as_str().unwrap_or_default());
    } else {
        println!("{}", serde_json::to_string_pretty(&body)?);
    }
    Ok(())
}

/// Formats a Unix time as RFC 3339 with its distance from `now`.
pub(crate) fn human_time(t: i64, now: i64) -> String {
    let when = time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string());
    let d = t - now;
    let span = |s: i64| {
        if s >= 3600 {
            format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
        } else if s >= 60 {
            format!("{}m{:02}s", s / 60, s % 60)
        } else {
            format!("{s}s")
        }
    };
    if d >= 0 {
        format!("{when} (in {})", span(d))
    } else {
        format!("{when} ({} ago)", span(-d))
    }
}

async fn decode(
    token: &str,
    vault: Option<&str>,
    ca: Option<PathBuf>,
    data_dir: &Path,
) -> Result<()> {
    let token = token.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    let (header, claims) =
        coffer_identity::decode_unverified(token).map_err(|e| anyhow::anyhow!("{e}"))?;
    let now = SystemClock.now();
    let mut times = serde_json::Map::new();
    for k in ["iat", "nbf", "exp"] {
        if let Some(t) = claims.get(k).and_then(Value::as_i64) {
            times.insert(k.to_owned(), json!(human_time(t, now)));
        }
    }
    let mut out = json!({
        "header": header,
        "claims": claims,
        "times": times,
        "remaining_seconds": claims.get("exp").and_then(Value::as_i64).map(|e| (e - now).max(0)),
    });
    if let Some(vault) = vault {
        let ca = ca.or_else(|| Contract::load(data_dir).ok().and_then(|c| c.ca_cert));
        out["verdict"] =
            verdict(token, vault.trim_end_matches('/'), &claims, ca.as_deref()).await?;
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

/// Asks the vault itself: an unauthenticated probe gives its challenge (tenant, resource), a
/// probe with the token gives its judgement, and the failed check maps to a fix.
async fn verdict(token: &str, vault: &str, claims: &Value, ca: Option<&Path>) -> Result<Value> {
    let client = http(ca)?;
    let probe = format!("{vault}/secrets?api-version=7.6&maxresults=1");
    let anon = crate::retry::send(client.get(&probe))
        .await
        .with_context(|| format!("reaching {vault}"))?;
    let challenge = anon
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let param = |k: &str| {
        challenge
            .split(&format!("{k}=\""))
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned()
    };
    let (authorization, resource) = (param("authorization"), param("resource"));
    if anon.status() == 404 {
        let body: Value = anon.json().await.unwrap_or_default();
        return Ok(json!({
            "vault": vault,
            "accepted": false,
            "status": 404,
            "message": body["error"]["message"],
            "fix": "Check the vault URL: no such vault on this instance.",
        }));
    }
    let resp = crate::retry::send(client.get(&probe).bearer_auth(token)).await?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or_default();
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let check = body["error"]["innererror"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let s = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let fix = match (status, check.as_str()) {
        (200, _) => "None: the vault accepts this token.".to_owned(),
        (403, _) => format!(
            "The token is accepted (authentication passed), but the caller oid={} appid={} lacks a permission: add an access policy for that object id on the vault. Vault said: {message}",
            s("oid"),
            s("appid")
        ),
        (_, "AKV10022") => format!(
            "Request a token for resource '{resource}' (v1 `resource={resource}`, v2 `scope={resource}/.default`); this one is for '{}'.",
            s("aud")
        ),
        (_, "TokenExpired") => "Get a new token: this one has expired (clients refresh tokens 5 minutes before exp).".to_owned(),
        (_, "TokenNotYetValid") => "The token is not valid yet: check the clocks of the client and the server.".to_owned(),
        (_, "AKV10032" | "InvalidTokenTenant") => format!(
            "Get the token from the vault's tenant: {authorization} (the token's tenant is '{}').",
            s("tid")
        ),
        (_, "AKV10046") => "The token was signed by a key this instance does not trust: it comes from another issuer, another Coffer instance, or a data directory that was reset. Get a new token from the vault's authority.".to_owned(),
        (_, "InvalidTokenSignature") => "The token was changed after it was issued; get a new one.".to_owned(),
        _ => format!("Get a token from {authorization} for resource {resource}."),
    };
    Ok(json!({
        "vault": vault,
        "accepted": status == 200 || status == 403,
        "status": status,
        "failed_check": if status == 401 { Value::from(check) } else { Value::Null },
        "message": message,
        "expected_authority": authorization,
        "expected_resource": resource,
        "fix": fix,
    }))
}

async fn rotate(data_dir: &Path) -> Result<()> {
    let db = data_dir.join("coffer.db");
    let root = crate::setup::load_root_key(data_dir, db.exists())?;
    if !db.exists() {
        bail!(
            "{} has no database: run `coffer serve --data-dir {}` first",
            data_dir.display(),
            data_dir.display()
        );
    }
    let store = SqliteStore::open(&db).context("opening the database")?;
    let settings = Settings {
        domain: "localhost".to_owned(),
        port: 443,
        token_lifetime_secs: 3600,
        clock_skew_secs: 300,
    };
    let app = Coffer::open(Arc::new(store), root, Arc::new(SystemClock), settings)
        .await
        .context("opening the data directory")?;
    let kid = app
        .rotate_signing_key()
        .await
        .context("rotating the signing key")?;
    println!(
        "{}",
        json!({"kid": kid, "note": "a running server signs with the new key within 30 seconds; the previous key keeps verifying its tokens until they expire"})
    );
    Ok(())
}
