//! The CA bundle for clients: the system's trusted CAs plus Coffer's own CA, in one PEM file in
//! the data directory. `REQUESTS_CA_BUNDLE` and `SSL_CERT_FILE` replace a client's CA set, so
//! pointing them at `ca.pem` alone would break every other HTTPS call of the same program.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::fsutil::write_private;

/// Where distributions keep their CA bundle (the paths OpenSSL builds look in), Debian first.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/usr/local/etc/openssl/cert.pem",
    "/etc/ssl/certs/ca-bundle.crt",
];

/// File name of the bundle, beside `ca.pem`.
pub(crate) const BUNDLE_FILE: &str = "ca-bundle.pem";

/// The bundle written, and the system file it started from (`None`: only Coffer's CA).
pub(crate) struct Bundle {
    pub(crate) path: PathBuf,
    pub(crate) system: Option<PathBuf>,
}

/// Writes `<tls dir>/ca-bundle.pem`: the system bundle, then `ca` (Coffer's CA). Without a
/// system bundle it holds only Coffer's CA, and the caller warns.
pub(crate) fn write_bundle(ca: &Path) -> Result<Bundle> {
    let own = std::fs::read_to_string(ca).with_context(|| format!("reading {}", ca.display()))?;
    let dir = ca.parent().unwrap_or_else(|| Path::new("."));
    let path = dir.join(BUNDLE_FILE);
    let system = find_system_bundle(SYSTEM_BUNDLES.iter().map(Path::new), dir);
    let mut text = String::new();
    if let Some((_, pem)) = &system {
        text.push_str(pem.trim_end());
        text.push('\n');
    }
    text.push_str("# Coffer's development CA\n");
    text.push_str(own.trim_end());
    text.push('\n');
    write_private(&path, text.as_bytes())?;
    Ok(Bundle {
        path,
        system: system.map(|(p, _)| p),
    })
}

/// The first readable candidate that holds at least one certificate and is not inside `own_dir`
/// (an exported `SSL_CERT_FILE` may point at an earlier bundle of this instance).
fn find_system_bundle<'a>(
    candidates: impl Iterator<Item = &'a Path>,
    own_dir: &Path,
) -> Option<(PathBuf, String)> {
    for c in candidates {
        let Ok(real) = std::fs::canonicalize(c) else {
            continue;
        };
        if real.starts_with(own_dir) {
            continue;
        }
        if let Ok(text) = std::fs::read_to_string(&real)
            && text.contains("-----BEGIN CERTIFICATE-----")
        {
            return Some((c.to_path_buf(), text));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

    #[test]
    fn the_bundle_is_the_system_set_then_coffers_ca() {
        let tmp = tempfile::tempdir().unwrap();
        let sys = tmp.path().join("system.crt");
        std::fs::write(&sys, "# system\n".to_owned() + PEM).unwrap();
        let tls = tmp.path().join("tls");
        std::fs::create_dir(&tls).unwrap();
        let found = find_system_bundle(
            [tmp.path().join("missing").as_path(), sys.as_path()].into_iter(),
            &tls,
        )
        .unwrap();
        assert_eq!(found.0, sys);
        // A bundle inside the data directory itself is never taken as the system's.
        let inner = tls.join("ca-bundle.pem");
        std::fs::write(&inner, PEM).unwrap();
        assert!(find_system_bundle([inner.as_path()].into_iter(), &tls).is_none());
    }

    #[test]
    fn write_bundle_ends_with_coffers_ca() {
        let tmp = tempfile::tempdir().unwrap();
        let ca = tmp.path().join("ca.pem");
        std::fs::write(&ca, PEM.replace("MIIB", "COFFER")).unwrap();
        let b = write_bundle(&ca).unwrap();
        let text = std::fs::read_to_string(&b.path).unwrap();
        assert!(text.trim_end().ends_with("-----END CERTIFICATE-----"));
        assert!(text.contains("COFFER"));
        if b.system.is_some() {
            assert!(text.matches("BEGIN CERTIFICATE").count() > 1);
        }
    }
}
