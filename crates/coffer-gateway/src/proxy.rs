//! The reverse proxy for one request of a gateway connection: the service by Host, the API and
//! operation by path and method, the subscription key, then the request forwarded to the API's
//! backend with both bodies streamed (never buffered whole) and hop-by-hop headers removed.

use std::net::SocketAddr;

use bytes::Bytes;
use coffer_domain::gateway::{GatewayBackend, normalize_host};
use coffer_domain::gateway_route::{
    KeyDecision, decide_subscription, select_api, select_operation,
};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;

use crate::backend::Backends;
use crate::compile::Compiled;
use crate::errors::{self, apim_error};
use crate::{ConnInfo, GatewayOptions};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body the gateway sends or forwards, streamed.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Headers that belong to one hop only (RFC 9110 §7.6.1), besides those `Connection` names.
/// Parsed once: turning a `&str` into a header name on every request was a visible share of a
/// proxied request's instructions.
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

pub(crate) async fn handle<B>(
    snapshot: &Compiled,
    backends: &Backends,
    options: &GatewayOptions,
    req: http::Request<B>,
    conn: &ConnInfo,
    peer: SocketAddr,
) -> http::Response<ProxyBody>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let host = request_host(&req);
    let Some(service) = snapshot.service_for(conn, &host) else {
        return apim_error(404, errors::NOT_FOUND);
    };
    let svc = &service.service;
    let path = req.uri().path().to_owned();
    let Some((api, rest)) = select_api(&svc.apis, &path) else {
        return apim_error(404, errors::NOT_FOUND);
    };
    if select_operation(&api.operations, req.method().as_str(), rest).is_none() {
        return apim_error(404, errors::NOT_FOUND);
    }
    let header_name = HeaderName::from_bytes(api.subscription_key_header.as_bytes()).ok();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let key = header_name
        .as_ref()
        .and_then(|h| req.headers().get(h))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query_value(&query, &api.subscription_key_query));
    match decide_subscription(api, key.as_deref(), &svc.subscriptions) {
        KeyDecision::Open | KeyDecision::Allowed(_) => {}
        KeyDecision::Missing => return apim_error(401, errors::MISSING_KEY),
        KeyDecision::Invalid => return apim_error(401, errors::INVALID_KEY),
    }
    let Some(service_url) = api.service_url.as_deref() else {
        return apim_error(500, errors::NO_BACKEND);
    };
    let Some(target) = target_uri(service_url, rest, &query, &api.subscription_key_query) else {
        tracing::warn!(service = %svc.name, api = %api.id, "the API's backend URL is not a valid URL");
        return apim_error(500, errors::NO_BACKEND);
    };
    let backend = backend_for(&svc.backends, service_url);
    let client = match backends.client_for(backend) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(service = %svc.name, api = %api.id, error = %e, "the backend's TLS settings do not load");
            return apim_error(500, errors::NO_BACKEND);
        }
    };
    let out = forward_request(req, target, &host, peer, header_name.as_ref());
    match tokio::time::timeout(options.backend_timeout, client.request(out)).await {
        Ok(Ok(resp)) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            http::Response::from_parts(parts, body.map_err(BoxError::from).boxed_unsync())
        }
        Ok(Err(e)) => {
            tracing::debug!(service = %svc.name, api = %api.id, path = %path, error = %e, "backend request failed");
            apim_error(502, errors::BAD_GATEWAY)
        }
        Err(_) => {
            tracing::debug!(service = %svc.name, api = %api.id, path = %path, "backend timed out");
            apim_error(504, errors::TIMEOUT)
        }
    }
}

/// The host a request names: the authority of an HTTP/2 request, else its Host header.
fn request_host<B>(req: &http::Request<B>) -> String {
    req.uri()
        .host()
        .map(str::to_owned)
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .map(|h| normalize_host(&h))
        .unwrap_or_default()
}

/// The (decoded) value of query parameter `name`, compared case-insensitively.
fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
}

/// `service_url` + the rest of the path + the query without the subscription key parameter.
fn target_uri(service_url: &str, rest: &str, query: &str, key_param: &str) -> Option<http::Uri> {
    let base = service_url.trim_end_matches('/');
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            let decoded: String = form_urlencoded::parse(name.as_bytes())
                .map(|(k, _)| k.into_owned())
                .next()
                .unwrap_or_default();
            !decoded.eq_ignore_ascii_case(key_param)
        })
        .collect();
    let mut uri = String::with_capacity(base.len() + rest.len() + query.len() + 1);
    uri.push_str(base);
    if rest.is_empty() && !base.contains("://") {
        return None;
    }
    uri.push_str(rest);
    if uri.ends_with("://") || !uri[uri.find("://").map_or(0, |i| i + 3)..].contains('/') {
        uri.push('/');
    }
    if !kept.is_empty() {
        uri.push('?');
        uri.push_str(&kept.join("&"));
    }
    let parsed: http::Uri = uri.parse().ok()?;
    matches!(parsed.scheme_str(), Some("http" | "https")).then_some(parsed)
}

/// The backend entity whose `url` is the longest prefix of the API's backend URL.
fn backend_for<'a>(
    backends: &'a [GatewayBackend],
    service_url: &str,
) -> Option<&'a GatewayBackend> {
    let target = service_url.to_ascii_lowercase();
    backends
        .iter()
        .filter(|b| {
            let url = b.url.trim_end_matches('/').to_ascii_lowercase();
            !url.is_empty()
                && target.starts_with(&url)
                && target[url.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| matches!(c, '/' | '?'))
        })
        .max_by_key(|b| b.url.len())
}

fn forward_request<B>(
    req: http::Request<B>,
    target: http::Uri,
    original_host: &str,
    peer: SocketAddr,
    key_header: Option<&HeaderName>,
) -> http::Request<ProxyBody>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let (parts, body) = req.into_parts();
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    if let Some(h) = key_header {
        headers.remove(h);
    }
    headers.remove(header::HOST);
    if let Some(authority) = target.authority()
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(header::HOST, v);
    }
    let ip = peer.ip().to_canonical().to_string();
    let xff = match headers
        .get(&X_FORWARDED_FOR)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
    {
        Some(prev) => format!("{prev}, {ip}"),
        None => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("https"));
    if !headers.contains_key(&X_FORWARDED_HOST)
        && let Ok(v) = HeaderValue::from_str(original_host)
    {
        headers.insert(X_FORWARDED_HOST, v);
    }
    let mut out = http::Request::new(body.map_err(Into::into).boxed_unsync());
    *out.method_mut() = parts.method;
    *out.uri_mut() = target;
    *out.version_mut() = http::Version::HTTP_11;
    *out.headers_mut() = headers;
    out
}

/// Removes the hop-by-hop headers and every header `Connection` names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(header::CONNECTION) {
        strip_connection_named(headers);
    }
    for h in &HOP_BY_HOP {
        headers.remove(h);
    }
}

fn strip_connection_named(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_keep_the_query_without_the_key() {
        let t =
            |base, rest, q| target_uri(base, rest, q, "subscription-key").map(|u| u.to_string());
        assert_eq!(
            t(
                "http://b:81/api",
                "/users/1",
                "a=1&subscription-key=s&b=%20"
            )
            .as_deref(),
            Some("http://b:81/api/users/1?a=1&b=%20")
        );
        assert_eq!(t("http://b", "", "").as_deref(), Some("http://b/"));
        assert_eq!(
            t("https://b/x/", "", "Subscription-Key=1").as_deref(),
            Some("https://b/x")
        );
        assert_eq!(t("ftp://b", "/x", ""), None);
        assert_eq!(t("not a url", "/x", ""), None);
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_go() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "close, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic x"),
            ("x-kept", "yes"),
        ] {
            h.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn the_longest_backend_url_prefix_governs() {
        let b = |id: &str, url: &str| GatewayBackend {
            id: id.into(),
            url: url.into(),
            validate_certificate_chain: true,
            validate_certificate_name: true,
            client_certificate: None,
        };
        let all = [
            b("a", "https://be.test"),
            b("b", "https://be.test/v2/"),
            b("c", "https://be.testing"),
        ];
        let pick = |u| backend_for(&all, u).map(|b| b.id.as_str());
        assert_eq!(pick("https://be.test/v2/x"), Some("b"));
        assert_eq!(pick("https://BE.test/v1"), Some("a"));
        assert_eq!(pick("https://be.tes"), None);
        assert_eq!(pick("https://other.test"), None);
    }
}
