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
    pub(crate) authority: String,
    pub(crate) vault_resource: String,
    pub(crate) ca_cert: Option<PathBuf>,
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
