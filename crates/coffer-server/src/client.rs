//! The HTTPS client the CLI verbs use: trusts the instance's CA, resolves `*.localhost` names to
//! loopback as curl and browsers do (glibc does not), and reads the bootstrap contract.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::Deserialize;

/// `bootstrap.json`, as `coffer serve` writes it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Contract {
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    /// Object id of the admin's service principal.
    #[serde(default)]
    pub(crate) object_id: Option<String>,
    pub(crate) authority: String,
    pub(crate) vault_resource: String,
    pub(crate) ca_cert: Option<PathBuf>,
    #[serde(default)]
    pub(crate) graph_url: Option<String>,
    #[serde(default)]
    pub(crate) management_url: Option<String>,
    #[serde(default)]
    pub(crate) subscription_id: Option<String>,
    #[serde(default)]
    pub(crate) resource_group: Option<String>,
}

impl Contract {
    pub(crate) fn load(data_dir: &Path) -> Result<Self> {
        let path = data_dir.join("bootstrap.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (has `coffer serve` run with this --data-dir?)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

impl Contract {
    /// An access token for `resource` with the contract's (admin) client credentials.
    pub(crate) async fn token(&self, http: &reqwest::Client, resource: &str) -> Result<String> {
        let body = client_credentials(
            http,
            &self.authority,
            &self.tenant_id,
            &self.client_id,
            &self.client_secret,
            resource,
        )
        .await?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .context("the token response has no access_token")
    }
}

/// The v1 client-credentials grant: the token endpoint's whole JSON answer, or an error quoting
/// its `error_description`.
pub(crate) async fn client_credentials(
    http: &reqwest::Client,
    authority: &str,
    tenant: &str,
    client_id: &str,
    client_secret: &str,
    resource: &str,
) -> Result<serde_json::Value> {
    let resp = crate::retry::send(
        http.post(format!("{authority}/{tenant}/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", client_id),
                ("client_secret", client_secret),
                ("resource", resource),
            ]),
    )
    .await
    .with_context(|| format!("calling the token endpoint at {authority}"))?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.context("reading the token response")?;
    if !status.is_success() {
        anyhow::bail!(
            "the token endpoint refused ({status}): {}",
            body["error_description"]
                .as_str()
                .unwrap_or("no description")
        );
    }
    Ok(body)
}

/// Sends a request (retrying 429 and 503, see `retry`) and returns its JSON body, or an error
/// quoting the service's message.
pub(crate) async fn send_json(req: reqwest::RequestBuilder) -> Result<serde_json::Value> {
    let resp = crate::retry::send(req).await?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let body: serde_json::Value = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    if !status.is_success() {
        let msg = body["error"]["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| body.to_string());
        let code = body["error"]["code"].as_str().unwrap_or_default();
        anyhow::bail!("{status} {code}: {msg}");
    }
    Ok(body)
}

/// Prints JSON, or with `table` the given columns of each item, aligned.
pub(crate) fn print_output(
    value: &serde_json::Value,
    table: bool,
    columns: &[(&str, &str)],
) -> Result<()> {
    if !table {
        println!("{}", serde_json::to_string_pretty(value)?);
        return Ok(());
    }
    let items: Vec<&serde_json::Value> = match value {
        serde_json::Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    let cell = |item: &serde_json::Value, path: &str| -> String {
        let mut v = item;
        for part in path.split('.') {
            v = &v[part];
        }
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        }
    };
    let widths: Vec<usize> = columns
        .iter()
        .map(|(title, path)| {
            items
                .iter()
                .map(|i| cell(i, path).len())
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    println!(
        "{}",
        line(columns.iter().map(|(t, _)| (*t).to_owned()).collect())
    );
    println!("{}", line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for item in items {
        println!(
            "{}",
            line(columns.iter().map(|(_, p)| cell(item, p)).collect())
        );
    }
    Ok(())
}

/// Resolves `localhost` and `*.localhost` to loopback, everything else through the system.
struct LocalhostResolver;

impl Resolve for LocalhostResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        Box::pin(async move {
            if host == "localhost" || host.ends_with(".localhost") {
                let addrs: Addrs = Box::new(
                    vec![
                        SocketAddr::from(([127, 0, 0, 1], 0)),
                        SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0)),
                    ]
                    .into_iter(),
                );
                return Ok(addrs);
            }
            let found = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            let addrs: Addrs = Box::new(found.collect::<Vec<_>>().into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTPS client trusting the system roots and, if given, the instance's CA.
pub(crate) fn http(ca: Option<&Path>) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .dns_resolver(Arc::new(LocalhostResolver))
        .user_agent(concat!("coffer-cli/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(30));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).with_context(|| format!("reading CA {}", ca.display()))?;
        for cert in
            reqwest::Certificate::from_pem_bundle(&pem).context("parsing the CA certificate")?
        {
            b = b.add_root_certificate(cert);
        }
    }
    b.build().context("building the HTTPS client")
}
