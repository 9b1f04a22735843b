//! Headers every response carries: `x-ms-request-id`, the echoed `x-ms-client-request-id`, the
//! caller's network information and the service version, plus one access-log line per request.
//! Here, too, the client address is decided once (the socket peer, or what a trusted proxy
//! forwarded), for the firewall, the audit log and `x-ms-keyvault-network-info` alike.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use coffer_domain::IpRule;
use http::HeaderValue;

use crate::Edge;

/// The request id, available to handlers through request extensions.
#[derive(Clone, Debug)]
pub(crate) struct RequestId(pub(crate) String);

/// The client address the firewall judges, available to handlers through request extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub(crate) IpAddr);

/// The client address of a request (unspecified when the connection did not say, as in
/// in-process tests without a socket).
pub(crate) fn client_addr(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ClientAddr>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0)
}

/// The client behind `peer`: the peer itself, unless it is a trusted proxy; then the right-most
/// `X-Forwarded-For` hop that is not a trusted proxy (proxies append, so hops left of the first
/// untrusted one are the client's to forge). A hop that is not an address ends the walk at the
/// last trusted one.
pub(crate) fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a HeaderValue>,
    trusted: &[IpRule],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    let mut addr = peer.to_canonical();
    if !is_trusted(addr) {
        return addr;
    }
    let hops: Vec<&str> = forwarded
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect();
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return addr;
        };
        addr = ip.to_canonical();
        if !is_trusted(addr) {
            return addr;
        }
    }
    addr
}

/// `203.0.113.7`, `203.0.113.7:5000`, `2001:db8::1` or `[2001:db8::1]:5000`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

pub(crate) async fn common_headers(
    State(edge): State<Arc<Edge>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    // Time-ordered (version 7), so the audit log's request-id index grows at its end instead of
    // touching a random page per record; still a GUID in Key Vault's format.
    let request_id = uuid::Uuid::now_v7().to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let client_request_id = req
        .headers()
        .get("x-ms-client-request-id")
        .filter(|v| v.len() <= 256)
        .cloned();
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let client = peer.map(|p| {
        client_address(
            p.ip(),
            req.headers().get_all("x-forwarded-for").iter(),
            &edge.trusted_proxies,
        )
    });
    if let Some(c) = client {
        req.extensions_mut().insert(ClientAddr(c));
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let host = crate::host::authority(&req);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-ms-request-id", v);
    }
    if let Some(v) = client_request_id {
        h.insert("x-ms-client-request-id", v);
    }
    if let Some(ip) = client {
        let (conn, fam) = if ip.is_ipv4() {
            ("Ipv4", "InterNetwork")
        } else {
            ("Ipv6", "InterNetworkV6")
        };
        if let Ok(v) =
            HeaderValue::from_str(&format!("conn_type={conn};addr={ip};act_addr_fam={fam};"))
        {
            h.insert("x-ms-keyvault-network-info", v);
        }
    }
    h.insert(
        "x-ms-keyvault-service-version",
        HeaderValue::from_static(concat!("coffer/", env!("CARGO_PKG_VERSION"))),
    );
    h.insert("x-ms-keyvault-region", HeaderValue::from_static("local"));
    // A handler that said `no-store` (sign-in pages, token answers) keeps it.
    if !h.contains_key(http::header::CACHE_CONTROL) {
        h.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
    }
    tracing::info!(
        target: "coffer::access",
        %method,
        host = %host.chars().take(128).collect::<String>(),
        path = %path.chars().take(256).collect::<String>(),
        status = resp.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        request_id = %request_id,
        peer = peer.map(tracing::field::display),
        client = client.map(tracing::field::display),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted = vec![
            IpRule::parse("10.0.0.0/8").unwrap(),
            IpRule::parse("127.0.0.1").unwrap(),
        ];
        let h = |s: &str| HeaderValue::from_str(s).unwrap();
        let table: &[(&str, &[&str], &str)] = &[
            // An untrusted peer: whatever it forwards is ignored.
            ("192.0.2.1", &["198.51.100.7"], "192.0.2.1"),
            // A trusted proxy: the right-most hop it did not add itself.
            ("127.0.0.1", &["198.51.100.7"], "198.51.100.7"),
            ("127.0.0.1", &["6.6.6.6, 198.51.100.7"], "198.51.100.7"),
            (
                "127.0.0.1",
                &["6.6.6.6, 198.51.100.7, 10.1.1.1"],
                "198.51.100.7",
            ),
            (
                "127.0.0.1",
                &["6.6.6.6", "198.51.100.7:4711"],
                "198.51.100.7",
            ),
            ("127.0.0.1", &["[2001:db8::5]:443"], "2001:db8::5"),
            // Nothing forwarded, or only proxies: the left-most proxy.
            ("127.0.0.1", &[], "127.0.0.1"),
            ("127.0.0.1", &["10.2.2.2"], "10.2.2.2"),
            // A hop that is no address stops at the last trusted one.
            ("127.0.0.1", &["198.51.100.7, unknown"], "127.0.0.1"),
            ("::ffff:127.0.0.1", &["198.51.100.7"], "198.51.100.7"),
        ];
        for (peer, xff, want) in table {
            let values: Vec<HeaderValue> = xff.iter().map(|v| h(v)).collect();
            assert_eq!(
                client_address(ip(peer), values.iter(), &trusted),
                ip(want),
                "{peer} {xff:?}"
            );
        }
        assert_eq!(
            client_address(ip("127.0.0.1"), [h("198.51.100.7")].iter(), &[]),
            ip("127.0.0.1"),
            "no trusted proxies configured"
        );
    }
}
