//! Strict HTTP at the edge, before any role sees a request: header block, header count and URI
//! within limits, exactly one valid authority, a declared body within the limit, no transfer
//! coding but `chunked`, no expectation but `100-continue`. The protocol layer below
//! (hyper) is configured with somewhat higher limits, so these refusals are the ones clients
//! see, in an Azure envelope (`error/edge.rs`) instead of a bare status line.

use axum::extract::Request;
use http::header;

use crate::host::{AuthorityError, parse_authority};

/// Largest header block, counted as HTTP/2 does (name + value + 32 per field), for HTTP/1.1
/// and HTTP/2 alike. Bearer tokens (at most 16 KiB) fit many times over.
pub const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// Most header fields in one request.
pub const MAX_HEADERS: usize = 100;
/// Longest request target (path and query).
pub const MAX_URI: usize = 8 * 1024;

/// Why the edge refuses a request. Each becomes a 4xx in the envelope of the role the request
/// is for (`error/edge.rs`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    #[error(
        "The request's header fields take {0} bytes, more than the {MAX_HEADER_BLOCK}-byte limit."
    )]
    HeadersTooLarge(usize),
    #[error("The request has {0} header fields, more than the limit of {MAX_HEADERS}.")]
    TooManyHeaders(usize),
    #[error("The request URI is {0} bytes long, more than the {MAX_URI}-byte limit.")]
    UriTooLong(usize),
    #[error("The request declares a {declared}-byte body, more than the {limit}-byte limit.")]
    BodyTooLarge { declared: u64, limit: usize },
    #[error("The request's Content-Length is not a single non-negative integer.")]
    BadContentLength,
    #[error("The request has both Content-Length and Transfer-Encoding; send one of them.")]
    LengthAndTransferEncoding,
    #[error("Transfer-Encoding '{0}' is not supported: only 'chunked' is.")]
    TransferEncoding(String),
    #[error("The expectation '{0}' cannot be met: only 'Expect: 100-continue' is supported.")]
    Expectation(String),
    #[error("The request has no Host header.")]
    MissingHost,
    #[error("The request has more than one Host header.")]
    DuplicateHost,
    #[error("The request's Host header and its URI's authority name different hosts.")]
    HostMismatch,
    #[error("The request's host is not a valid authority: {0}.")]
    BadHost(AuthorityError),
}

/// Checks `req` against the edge's rules; the first rule it breaks is the refusal.
pub(crate) fn check(req: &Request, max_body: usize) -> Result<(), Refusal> {
    let headers = req.headers();
    if headers.len() > MAX_HEADERS {
        return Err(Refusal::TooManyHeaders(headers.len()));
    }
    let block: usize = headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 32)
        .sum();
    if block > MAX_HEADER_BLOCK {
        return Err(Refusal::HeadersTooLarge(block));
    }
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI {
        return Err(Refusal::UriTooLong(target));
    }
    check_host(req)?;
    check_framing(headers, max_body)?;
    let mut expect = headers.get_all(header::EXPECT).iter();
    if let Some(first) = expect.next() {
        let value = first.to_str().unwrap_or_default().trim();
        if !value.eq_ignore_ascii_case("100-continue") || expect.next().is_some() {
            return Err(Refusal::Expectation(clip(value)));
        }
    }
    Ok(())
}

fn check_host(req: &Request) -> Result<(), Refusal> {
    let mut hosts = req.headers().get_all(header::HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Refusal::DuplicateHost);
    }
    let host = match host {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| Refusal::BadHost(AuthorityError::BadHost))?,
        ),
        None => None,
    };
    let authority = match (req.uri().authority().map(|a| a.as_str()), host) {
        (Some(a), Some(h)) if !a.eq_ignore_ascii_case(h) => return Err(Refusal::HostMismatch),
        (Some(a), _) => a,
        (None, Some(h)) => h,
        (None, None) => return Err(Refusal::MissingHost),
    };
    parse_authority(authority).map_err(Refusal::BadHost)?;
    Ok(())
}

fn check_framing(headers: &http::HeaderMap, max_body: usize) -> Result<(), Refusal> {
    let mut declared: Option<u64> = None;
    for v in headers.get_all(header::CONTENT_LENGTH) {
        let text = v.to_str().map_err(|_| Refusal::BadContentLength)?;
        for part in text.split(',') {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Refusal::BadContentLength);
            }
            let n: u64 = part.parse().map_err(|_| Refusal::BadContentLength)?;
            if declared.is_some_and(|d| d != n) {
                return Err(Refusal::BadContentLength);
            }
            declared = Some(n);
        }
    }
    let codings: Vec<&str> = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{fffd}"))
        .collect();
    if !codings.is_empty() {
        let joined = codings.join(", ");
        if !joined.trim().eq_ignore_ascii_case("chunked") {
            return Err(Refusal::TransferEncoding(clip(&joined)));
        }
        if declared.is_some() {
            return Err(Refusal::LengthAndTransferEncoding);
        }
    }
    if let Some(n) = declared
        && n > max_body as u64
    {
        return Err(Refusal::BodyTooLarge {
            declared: n,
            limit: max_body,
        });
    }
    Ok(())
}

/// A client's header value for a message: printable ASCII only, at most 64 characters.
fn clip(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request {
        let mut b = http::Request::builder().uri("/secrets/x?api-version=7.6");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    const HOST: (&str, &str) = ("host", "dev.vault.localhost:8443");

    #[test]
    fn well_formed_requests_pass() {
        for h in [
            vec![HOST],
            vec![HOST, ("content-length", "10")],
            vec![HOST, ("transfer-encoding", "chunked")],
            vec![HOST, ("expect", "100-Continue")],
            vec![HOST, ("content-length", "10, 10")],
        ] {
            assert_eq!(check(&req(&h), 100), Ok(()), "{h:?}");
        }
    }

    #[test]
    fn each_rule_refuses() {
        let cases: Vec<(Vec<(&str, &str)>, Refusal)> = vec![
            (vec![], Refusal::MissingHost),
            (vec![HOST, HOST], Refusal::DuplicateHost),
            (
                vec![("host", "dev.vault.localhost:8443/x")],
                Refusal::BadHost(AuthorityError::BadPort),
            ),
            (
                vec![("host", "dev.vault.localhost:70000")],
                Refusal::BadHost(AuthorityError::BadPort),
            ),
            (
                vec![HOST, ("content-length", "101")],
                Refusal::BodyTooLarge {
                    declared: 101,
                    limit: 100,
                },
            ),
            (
                vec![HOST, ("content-length", "99999999999999999999999")],
                Refusal::BadContentLength,
            ),
            (
                vec![HOST, ("content-length", "-1")],
                Refusal::BadContentLength,
            ),
            (
                vec![HOST, ("content-length", "5"), ("content-length", "6")],
                Refusal::BadContentLength,
            ),
            (
                vec![HOST, ("transfer-encoding", "gzip, chunked")],
                Refusal::TransferEncoding("gzip, chunked".into()),
            ),
            (
                vec![
                    HOST,
                    ("transfer-encoding", "gzip"),
                    ("transfer-encoding", "chunked"),
                ],
                Refusal::TransferEncoding("gzip, chunked".into()),
            ),
            (
                vec![
                    HOST,
                    ("transfer-encoding", "chunked"),
                    ("content-length", "5"),
                ],
                Refusal::LengthAndTransferEncoding,
            ),
            (
                vec![HOST, ("expect", "200-ok")],
                Refusal::Expectation("200-ok".into()),
            ),
        ];
        for (h, want) in cases {
            assert_eq!(check(&req(&h), 100), Err(want), "{h:?}");
        }
    }

    #[test]
    fn sizes_are_limited() {
        let many: Vec<(String, String)> = (0..=MAX_HEADERS)
            .map(|i| (format!("x-h{i}"), "v".to_owned()))
            .collect();
        let mut h: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        h.push(HOST);
        assert!(matches!(
            check(&req(&h), 100),
            Err(Refusal::TooManyHeaders(_))
        ));
        let big = "a".repeat(MAX_HEADER_BLOCK);
        assert!(matches!(
            check(&req(&[HOST, ("authorization", &big)]), 100),
            Err(Refusal::HeadersTooLarge(_))
        ));
        let long = http::Request::builder()
            .uri(format!("/{}", "p".repeat(MAX_URI)))
            .header("host", "dev.vault.localhost")
            .body(axum::body::Body::empty())
            .unwrap();
        assert!(matches!(check(&long, 100), Err(Refusal::UriTooLong(_))));
    }

    #[test]
    fn an_absolute_uri_must_agree_with_host() {
        let r = http::Request::builder()
            .uri("https://dev.vault.localhost:8443/secrets")
            .header("host", "other.vault.localhost:8443")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(check(&r, 100), Err(Refusal::HostMismatch));
        let r = http::Request::builder()
            .uri("https://dev.vault.localhost:8443/secrets")
            .body(axum::body::Body::empty())
            .unwrap();
        assert_eq!(check(&r, 100), Ok(()));
    }
}
