//! The gateway's vault client: reads certificate secrets from this instance's own vaults over
//! its real HTTPS listener (so the vault's firewall, access policy, audit log and throttling
//! judge the gateway like any caller). `<vault>.vault.<domain>` names resolve to the listener's
//! own address; any other host is refused without a connection.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use coffer_service::{VaultReader, VaultReply, VaultUnreachable};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How long one read may take, connection included.
const TIMEOUT: Duration = Duration::from_secs(15);

/// A [`VaultReader`] over this server's own listener.
pub(crate) struct SelfVaultReader {
    http: reqwest::Client,
    suffix: String,
    listen_port: u16,
}

impl SelfVaultReader {
    /// `listen` is the bound address; an unspecified address (0.0.0.0, ::) means loopback.
    pub(crate) fn new(listen: SocketAddr, domain: &str, ca: Option<&Path>) -> Result<Self> {
        let ip = match listen.ip() {
            IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            other => other,
        };
        let suffix = format!(".vault.{}", domain.to_ascii_lowercase());
        let mut b = reqwest::Client::builder()
            .dns_resolver(Arc::new(OwnListener {
                ip,
                suffix: suffix.clone(),
            }))
            .user_agent(concat!("coffer-gateway/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT);
        if let Some(ca) = ca.filter(|p| p.exists()) {
            let pem = std::fs::read(ca).with_context(|| format!("reading CA {}", ca.display()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).context("parsing the CA")? {
                b = b.add_root_certificate(cert);
            }
        }
        Ok(Self {
            http: b.build().context("building the gateway's vault client")?,
            suffix,
            listen_port: listen.port(),
        })
    }
}

#[async_trait]
impl VaultReader for SelfVaultReader {
    async fn get(&self, url: &str, bearer: &str) -> Result<VaultReply, VaultUnreachable> {
        let mut parsed =
            reqwest::Url::parse(url).map_err(|e| VaultUnreachable(format!("not a URL ({e})")))?;
        let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        if !host.ends_with(&self.suffix) {
            return Err(VaultUnreachable(format!(
                "{host} is not a vault of this instance (expected a name ending in {})",
                self.suffix
            )));
        }
        // The public port may be a mapping in front of the listener; the read goes to the
        // listener itself.
        let _ = parsed.set_port(Some(self.listen_port));
        let resp = self
            .http
            .get(parsed)
            .bearer_auth(bearer)
            .send()
            .await
            .map_err(|e| VaultUnreachable(format!("{host}: {}", without_url(&e))))?;
        let status = resp.status().as_u16();
        let request_id = resp
            .headers()
            .get("x-ms-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .bytes()
            .await
            .map_err(|e| {
                VaultUnreachable(format!("{host}: reading the answer: {}", without_url(&e)))
            })?
            .to_vec();
        Ok(VaultReply {
            status,
            request_id,
            body,
        })
    }
}

/// reqwest's message without the URL it carries (the caller names the vault itself).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Resolves vault names to the listener's address.
struct OwnListener {
    ip: IpAddr,
    suffix: String,
}

impl Resolve for OwnListener {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().trim_end_matches('.').to_ascii_lowercase();
        let found = host.ends_with(&self.suffix).then_some(self.ip);
        Box::pin(async move {
            match found {
                Some(ip) => {
                    let addrs: Addrs = Box::new(std::iter::once(SocketAddr::new(ip, 0)));
                    Ok(addrs)
                }
                None => Err(format!("{host} is not a vault of this instance").into()),
            }
        })
    }
}
