//! TLS material for `coffer serve`: the development CA and server certificate made on first start
//! (or an operator's own certificate), and the rustls server configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::fsutil::write_private;

/// Paths of the generated TLS files inside the data directory.
pub(crate) struct TlsFiles {
    pub(crate) ca_cert: PathBuf,
    pub(crate) ca_key: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
}

impl TlsFiles {
    pub(crate) fn in_dir(dir: &Path) -> Self {
        let tls = dir.join("tls");
        Self {
            ca_cert: tls.join("ca.pem"),
            ca_key: tls.join("ca-key.pem"),
            server_cert: tls.join("server.pem"),
            server_key: tls.join("server-key.pem"),
        }
    }
}

/// The DNS names the generated server certificate must cover for a domain.
pub(crate) fn server_names(domain: &str) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "*.localhost".to_owned(),
        format!("vault.{domain}"),
        format!("*.vault.{domain}"),
        format!("login.{domain}"),
        format!("management.{domain}"),
        format!("graph.{domain}"),
        format!("gateway.{domain}"),
        format!("*.gateway.{domain}"),
    ];
    names.dedup();
    names
}

/// Makes sure a development CA and a server certificate covering `domain` exist; reissues the
/// server certificate when the domain or the required names changed since it was made.
pub(crate) fn ensure_dev_certificates(files: &TlsFiles, domain: &str) -> Result<()> {
    let names = server_names(domain);
    if let Some(dir) = files.ca_cert.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if !files.ca_cert.exists() || !files.ca_key.exists() {
        let key = KeyPair::generate().context("generating CA key")?;
        let cert = ca_params()?.self_signed(&key).context("self-signing CA")?;
        write_private(&files.ca_key, key.serialize_pem().as_bytes())?;
        std::fs::write(&files.ca_cert, cert.pem())
            .with_context(|| format!("writing {}", files.ca_cert.display()))?;
    }
    let names_file = files.server_cert.with_extension("names");
    let wanted = names.join("\n");
    let current = std::fs::read_to_string(&names_file).unwrap_or_default();
    if files.server_cert.exists() && files.server_key.exists() && current == wanted {
        return Ok(());
    }
    let ca_key_pem = std::fs::read_to_string(&files.ca_key)
        .with_context(|| format!("reading {}", files.ca_key.display()))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem).context("parsing CA key")?;
    let issuer = Issuer::new(ca_params()?, ca_key);
    let key = KeyPair::generate().context("generating server key")?;
    let mut params = CertificateParams::new(Vec::<String>::new()).context("server params")?;
    params.subject_alt_names = names
        .iter()
        .map(|n| Ok(SanType::DnsName(n.clone().try_into()?)))
        .collect::<Result<Vec<_>, rcgen::Error>>()
        .context("server certificate names")?;
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    params
        .subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("Coffer server ({domain})"));
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = time::OffsetDateTime::now_utc() + time::Duration::days(825);
    let cert = params
        .signed_by(&key, &issuer)
        .context("signing server certificate")?;
    write_private(&files.server_key, key.serialize_pem().as_bytes())?;
    std::fs::write(&files.server_cert, cert.pem())
        .with_context(|| format!("writing {}", files.server_cert.display()))?;
    std::fs::write(&names_file, wanted)?;
    Ok(())
}

/// Parameters of the development CA; deterministic so the CA can sign again after a restart.
fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Coffer development CA");
    dn.push(DnType::OrganizationName, "Coffer");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = rcgen::date_time_ymd(2025, 1, 1);
    params.not_after = rcgen::date_time_ymd(2035, 1, 1);
    Ok(params)
}

/// The certificate and key of a PEM pair as rustls serves them (for the gateway's built-in
/// hosts), and the DER of every certificate in `ca` (trusted for gateway backends).
pub(crate) fn certified_key(cert: &Path, key: &Path) -> Result<Arc<rustls::sign::CertifiedKey>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading private key {}", key.display()))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    Ok(Arc::new(
        rustls::sign::CertifiedKey::from_der(chain, key, &provider)
            .context("certificate and key do not match")?,
    ))
}

/// The certificates of a PEM file (empty when it cannot be read).
pub(crate) fn pem_certificates(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .map(|it| it.filter_map(Result::ok).collect())
        .unwrap_or_default()
}

/// Builds the rustls configuration (TLS 1.2/1.3, ALPN h2 and http/1.1) from PEM files.
pub(crate) fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("reading certificate {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("parsing certificate {}", cert.display()))?;
    if chain.is_empty() {
        bail!("{} holds no certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading private key {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("certificate and key do not match")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sans(path: &Path) -> String {
        // The SAN list appears in the DER as plain ASCII names.
        let pem = std::fs::read_to_string(path).unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        String::from_utf8_lossy(der.as_ref()).into_owned()
    }

    #[test]
    fn certificates_are_made_once_and_reissued_when_names_are_missing() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::in_dir(dir.path());
        ensure_dev_certificates(&files, "localhost").unwrap();
        let ca = std::fs::read(&files.ca_cert).unwrap();
        let leaf = std::fs::read(&files.server_cert).unwrap();
        for name in [
            "*.vault.localhost",
            "login.localhost",
            "management.localhost",
            "graph.localhost",
            "*.gateway.localhost",
        ] {
            assert!(sans(&files.server_cert).contains(name), "{name}");
        }
        // A second start changes nothing.
        ensure_dev_certificates(&files, "localhost").unwrap();
        assert_eq!(std::fs::read(&files.server_cert).unwrap(), leaf);

        // A data directory from a version whose certificate lacked graph.<domain>: reissued by the
        // same CA, so clients that trust the CA keep working.
        std::fs::write(
            files.server_cert.with_extension("names"),
            "localhost\n*.localhost",
        )
        .unwrap();
        ensure_dev_certificates(&files, "localhost").unwrap();
        assert_ne!(std::fs::read(&files.server_cert).unwrap(), leaf);
        assert_eq!(std::fs::read(&files.ca_cert).unwrap(), ca);
        assert!(sans(&files.server_cert).contains("graph.localhost"));
        server_config(&files.server_cert, &files.server_key).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&files.server_key).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
    }
}
