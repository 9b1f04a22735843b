//! `--listen`: an address or host name with a port, and the listening socket, with messages
//! that name the value and the fix when either is wrong.

use std::io::ErrorKind;
use std::net::{SocketAddr, ToSocketAddrs as _};

use anyhow::{Result, bail};
use tokio::net::TcpListener;

const EXAMPLES: &str = "for example 127.0.0.1:8443, [::1]:8443, localhost:8443 or 0.0.0.0:8443";

/// Parses `ADDRESS:PORT` or `HOST:PORT`; a host name is resolved and its first IPv4 address is
/// taken (IPv6 if it has none).
pub(crate) fn resolve(value: &str) -> Result<SocketAddr> {
    let value = value.trim();
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, port)) = value.rsplit_once(':') else {
        bail!("--listen {value}: expected ADDRESS:PORT, {EXAMPLES}");
    };
    let Ok(port) = port.parse::<u16>() else {
        bail!(
            "--listen {value}: '{port}' is not a port number (0 to 65535, 0 for any free port); expected ADDRESS:PORT, {EXAMPLES}"
        );
    };
    if host.is_empty() || host.contains(':') {
        bail!("--listen {value}: expected ADDRESS:PORT, {EXAMPLES} (IPv6 addresses in brackets)");
    }
    let found: Vec<SocketAddr> = match (host, port).to_socket_addrs() {
        Ok(it) => it.collect(),
        Err(e) => bail!(
            "--listen {value}: cannot resolve the host name '{host}' ({e}); give an IP address instead, {EXAMPLES}"
        ),
    };
    match found.iter().find(|a| a.is_ipv4()).or_else(|| found.first()) {
        Some(a) => Ok(*a),
        None => bail!("--listen {value}: '{host}' has no address; give an IP address, {EXAMPLES}"),
    }
}

/// Binds the listening socket, explaining the usual failures.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    match crate::serve::bind(addr).await {
        Ok(l) => Ok(l),
        Err(e) => {
            let Some(kind) = e.downcast_ref::<std::io::Error>().map(std::io::Error::kind) else {
                return Err(e);
            };
            let ip = addr.ip();
            let host = if ip.is_ipv6() {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            match kind {
                ErrorKind::AddrInUse => bail!(
                    "cannot listen on {addr}: port {} is already in use (by another coffer serve or another program). Stop that program, or choose a free port with --listen {host}:PORT",
                    addr.port()
                ),
                ErrorKind::AddrNotAvailable => bail!(
                    "cannot listen on {addr}: {ip} is not an address of this machine. Use 127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one of its own addresses"
                ),
                ErrorKind::PermissionDenied => bail!(
                    "cannot listen on {addr}: permission denied (ports below 1024 need privileges). Choose a port above 1023 with --listen {host}:8443"
                ),
                _ => Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_host_names() {
        assert_eq!(
            resolve("127.0.0.1:8443").unwrap(),
            "127.0.0.1:8443".parse().unwrap()
        );
        assert_eq!(resolve("[::1]:9").unwrap(), "[::1]:9".parse().unwrap());
        assert_eq!(
            resolve("localhost:8446").unwrap(),
            "127.0.0.1:8446".parse().unwrap()
        );
        for bad in [
            "localhost",
            "127.0.0.1",
            "localhost:http",
            ":8443",
            "::1:8443",
        ] {
            let e = resolve(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && e.contains("ADDRESS:PORT"), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn a_port_in_use_is_named() {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = first.local_addr().unwrap();
        let e = bind(addr).await.unwrap_err().to_string();
        assert!(e.contains("already in use"), "{e}");
        assert!(e.contains(&addr.port().to_string()), "{e}");
    }
}
