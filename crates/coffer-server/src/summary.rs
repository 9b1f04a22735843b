//! What a new user reads: the startup summary of `coffer serve`, the environment block that
//! `coffer env` prints too, and the hosts-file line that `coffer hosts` prints or appends.
//! All of it is derived from `bootstrap.json`, so the three never disagree.

use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;

/// File in the data directory holding the bootstrap identity's App Service-style header (0600).
pub(crate) const IDENTITY_HEADER_FILE: &str = "identity-header";

fn s<'a>(c: &'a Value, k: &str) -> &'a str {
    c.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// The role domain, from the contract's authority (`https://login.<domain>:<port>`).
pub(crate) fn domain_of(c: &Value) -> String {
    let authority = s(c, "authority");
    let host = authority
        .split("://")
        .nth(1)
        .unwrap_or(authority)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    host.strip_prefix("login.").unwrap_or(host).to_owned()
}

/// The host names clients must resolve: the roles, then one per vault.
pub(crate) fn host_names(domain: &str, vaults: &[String]) -> Vec<String> {
    let mut names: Vec<String> = ["login", "management", "graph", "vault"]
        .iter()
        .map(|r| format!("{r}.{domain}"))
        .collect();
    names.extend(vaults.iter().map(|v| format!("{v}.vault.{domain}")));
    names
}

/// The hosts-file line mapping every name to the address clients reach the server on.
pub(crate) fn hosts_line(ip: IpAddr, names: &[String]) -> String {
    format!("{ip} {}", names.join(" "))
}

/// The address to put in the hosts file for a server bound to `bound`: loopback for a wildcard.
pub(crate) fn client_ip(bound: IpAddr) -> IpAddr {
    if bound.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        bound
    }
}

/// The `export` lines that make `DefaultAzureCredential` (Python, JavaScript, .NET, Rust...) work
/// against the default vault with no code change: the bootstrap managed identity, App Service
/// style, and CA trust that keeps the system's CAs. Empty without the identity.
pub(crate) fn env_lines(c: &Value, data_dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if !s(c, "vault_url").is_empty() {
        out.push(format!("export AZURE_KEYVAULT_URL={}", s(c, "vault_url")));
    }
    if !s(c, "identity_endpoint").is_empty() {
        out.push(format!(
            "export IDENTITY_ENDPOINT={}",
            s(c, "identity_endpoint")
        ));
        out.push(format!(
            "export IDENTITY_HEADER=$(cat {})",
            data_dir.join(IDENTITY_HEADER_FILE).display()
        ));
    }
    let bundle = s(c, "ca_bundle");
    if !bundle.is_empty() {
        out.push(format!(
            "export REQUESTS_CA_BUNDLE={bundle} SSL_CERT_FILE={bundle}"
        ));
    }
    if !s(c, "ca_cert").is_empty() {
        out.push(format!("export NODE_EXTRA_CA_CERTS={}", s(c, "ca_cert")));
    }
    out
}

/// Everything the summary prints besides the first and the last line.
pub(crate) struct SummaryInput<'a> {
    pub(crate) contract: &'a Value,
    pub(crate) data_dir: &'a Path,
    pub(crate) bound: std::net::SocketAddr,
    pub(crate) vaults: &'a [String],
    pub(crate) ephemeral: bool,
    pub(crate) system_cas: bool,
}

/// The startup summary, without the final `ready` line. It never contains the word that line
/// is found by, so a script waiting for it cannot match early.
pub(crate) fn summary_lines(i: &SummaryInput<'_>, bold: (&str, &str)) -> Vec<String> {
    let c = i.contract;
    let (b, r) = bold;
    let domain = domain_of(c);
    let mut out = vec![format!(
        "{b}Coffer{r} {} listening on {} (data directory {}{})",
        env!("CARGO_PKG_VERSION"),
        i.bound,
        i.data_dir.display(),
        if i.ephemeral { ", removed at exit" } else { "" }
    )];
    out.push(format!(
        "  vault:      {}  (each vault answers on its own host name; the bare address answers NotFound)",
        s(c, "vault_url")
    ));
    out.push(format!(
        "  authority:  {}/{}",
        s(c, "authority"),
        s(c, "tenant_id")
    ));
    out.push(format!(
        "  management: {}  (/subscriptions/{}/resourceGroups/{})",
        s(c, "management_url"),
        s(c, "subscription_id"),
        s(c, "resource_group")
    ));
    out.push(format!("  graph:      {}", s(c, "graph_url")));
    out.push(format!(
        "  contract:   {} (admin app {}, its secret in .client_secret)",
        i.data_dir.join("bootstrap.json").display(),
        s(c, "client_id")
    ));
    let names = host_names(&domain, i.vaults);
    let line = hosts_line(client_ip(i.bound.ip()), &names);
    if domain == "localhost" || domain.ends_with(".localhost") {
        out.push(
            "  names:      curl and browsers resolve *.localhost themselves; glibc programs (Python, most others) need /etc/hosts or systemd-resolved:".to_owned(),
        );
    } else {
        out.push(format!(
            "  names:      put these names of {domain} in DNS or /etc/hosts:"
        ));
    }
    out.push(format!("    {line}"));
    out.push("              (coffer hosts --write /etc/hosts adds what is missing)".to_owned());
    let env = env_lines(c, i.data_dir);
    if !s(c, "identity_endpoint").is_empty() {
        out.push(format!(
            "  env for DefaultAzureCredential (managed identity {}, every permission on vault {}; also `coffer env`):",
            s(c, "identity_name"),
            s(c, "vault_name")
        ));
    } else {
        out.push("  env (also `coffer env`):".to_owned());
    }
    out.extend(env.iter().map(|l| format!("    {l}")));
    if !i.system_cas && !s(c, "ca_bundle").is_empty() {
        out.push(
            "  warning:    no system CA bundle found: ca-bundle.pem holds only Coffer's CA, so other HTTPS endpoints will not verify"
                .to_owned(),
        );
    }
    out.push(
        "  as the admin app (ClientSecretCredential): authority= the one above and disable_instance_discovery=True; see the README"
            .to_owned(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> Value {
        serde_json::json!({
            "tenant_id": "t", "client_id": "c", "authority": "https://login.localhost:8443",
            "vault_url": "https://dev.vault.localhost:8443", "vault_name": "dev",
            "management_url": "https://management.localhost:8443", "graph_url": "https://graph.localhost:8443",
            "subscription_id": "s", "resource_group": "coffer-rg",
            "identity_endpoint": "https://login.localhost:8443/msi/token", "identity_name": "dev-app",
            "ca_cert": "/d/tls/ca.pem", "ca_bundle": "/d/tls/ca-bundle.pem",
        })
    }

    #[test]
    fn env_block_is_the_managed_identity_and_the_bundle() {
        let lines = env_lines(&contract(), Path::new("/d"));
        assert_eq!(
            lines,
            [
                "export AZURE_KEYVAULT_URL=https://dev.vault.localhost:8443",
                "export IDENTITY_ENDPOINT=https://login.localhost:8443/msi/token",
                "export IDENTITY_HEADER=$(cat /d/identity-header)",
                "export REQUESTS_CA_BUNDLE=/d/tls/ca-bundle.pem SSL_CERT_FILE=/d/tls/ca-bundle.pem",
                "export NODE_EXTRA_CA_CERTS=/d/tls/ca.pem",
            ]
        );
    }

    #[test]
    fn summary_names_hosts_and_never_says_ready() {
        let c = contract();
        let vaults = vec!["dev".to_owned(), "team".to_owned()];
        let lines = summary_lines(
            &SummaryInput {
                contract: &c,
                data_dir: Path::new("/d"),
                bound: "0.0.0.0:8443".parse().unwrap(),
                vaults: &vaults,
                ephemeral: false,
                system_cas: true,
            },
            ("", ""),
        );
        let text = lines.join("\n");
        assert!(text.contains(
            "127.0.0.1 login.localhost management.localhost graph.localhost vault.localhost dev.vault.localhost team.vault.localhost"
        ));
        assert!(!text.contains("ready"), "{text}");
        assert_eq!(domain_of(&c), "localhost");
    }
}
