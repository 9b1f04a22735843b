//! The ARM request toolkit every resource provider uses: the parsed request (percent-decoded path
//! segments, matched case-insensitively, and query with percent-decoded keys), the bearer header,
//! the api-version rule, a bounded JSON body read into a typed `coffer-wire` struct with ARM's
//! error when it is malformed or too large, `$top`/`$skiptoken` paging with an absolute
//! `nextLink`, and ETag / `If-Match`. Every refusal is built in `error/arm.rs`.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use coffer_service::{ManagementError, Settings};
use coffer_wire::arm::ResourceList;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::arm::ArmError;
use crate::text::{clip, decode_segment};

/// Largest `$top` honoured; larger values are clamped, as ARM's own listings do.
const MAX_TOP: usize = 1000;

/// A management request once its path and query are parsed; the body is read only after the
/// caller is authenticated.
pub(crate) struct ArmRequest {
    pub(crate) method: Method,
    /// The path as sent (not decoded), for `nextLink`s.
    raw_path: String,
    /// Decoded segments in the caller's spelling (names are echoed as created).
    pub(crate) segs: Vec<String>,
    /// The same segments lowercased, for matching.
    pub(crate) lower: Vec<String>,
    /// Query pairs, keys and values percent-decoded (`%24top` is `$top`).
    query: Vec<(String, String)>,
    headers: HeaderMap,
    /// `https://<host:port>` as the client called it.
    base: String,
    body: Bytes,
}

impl ArmRequest {
    pub(crate) fn parse(parts: &http::request::Parts) -> Result<Self, ArmError> {
        let raw_path = parts.uri.path().to_owned();
        let mut segs = Vec::new();
        for s in raw_path.split('/').filter(|s| !s.is_empty()) {
            segs.push(decode_segment(s).ok_or_else(ArmError::invalid_uri)?);
        }
        let lower = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        let query = query_pairs(parts.uri.query());
        Ok(Self {
            method: parts.method.clone(),
            base: format!(
                "https://{}",
                crate::host::authority_of(&parts.uri, &parts.headers)
            ),
            raw_path,
            segs,
            lower,
            query,
            headers: parts.headers.clone(),
            body: Bytes::new(),
        })
    }

    /// Reads the body, at most `limit` bytes.
    pub(crate) async fn read_body(&mut self, body: Body, limit: usize) -> Result<(), ArmError> {
        self.body = crate::body::read(body, limit)
            .await
            .map_err(|e| ArmError::body(&e))?;
        Ok(())
    }

    /// The path for messages: clipped, so a hostile path cannot inflate an error.
    pub(crate) fn path(&self) -> String {
        clip(&self.raw_path)
    }

    /// The lowercased segments, for `match`.
    pub(crate) fn lower(&self) -> Vec<&str> {
        self.lower.iter().map(String::as_str).collect()
    }

    /// A query parameter by name (ARM's names are case-insensitive).
    pub(crate) fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// The `Authorization` header; a value that is not text reaches the token check as such.
    pub(crate) fn bearer(&self) -> Option<&str> {
        bearer_of(&self.headers)
    }

    /// The api-version, which every call needs: a date, optionally with a suffix.
    pub(crate) fn api_version(&self) -> Result<&str, ArmError> {
        match self.query("api-version") {
            None => Err(ArmError::missing_api_version()),
            Some(v) if valid_api_version(v) => Ok(v),
            Some(v) => Err(ArmError::invalid_api_version(&clip(v))),
        }
    }

    /// The body as `T`; `None` when there is none (or only whitespace).
    pub(crate) fn json<T: DeserializeOwned>(&self) -> Result<Option<T>, ArmError> {
        json_body(&self.body).map_err(|e| {
            ArmError::invalid_content(format!(
                "The request content was invalid and could not be deserialized: {}.",
                clip(&e.to_string())
            ))
        })
    }

    /// The body as `T`, or `T::default()` when there is none.
    pub(crate) fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ArmError> {
        Ok(self.json()?.unwrap_or_default())
    }

    /// Refuses a method other than `want`.
    pub(crate) fn only(&self, want: Method) -> Result<(), ArmError> {
        if self.method == want {
            Ok(())
        } else {
            Err(self.method_not_allowed())
        }
    }

    pub(crate) fn method_not_allowed(&self) -> ArmError {
        ArmError::method_not_allowed(&self.method, &self.path())
    }

    /// `$top` and `$skiptoken` of a listing.
    pub(crate) fn paging(&self) -> Result<Paging, ArmError> {
        let top = match self.query("$top") {
            None => None,
            Some(t) => match t.trim().parse::<usize>() {
                Ok(n) if n > 0 => Some(n.min(MAX_TOP)),
                _ => {
                    return Err(ArmError::invalid_query(format!(
                        "The value '{}' of the query parameter '$top' is invalid: a positive integer is expected.",
                        clip(t)
                    )));
                }
            },
        };
        let after = match self.query("$skiptoken") {
            None => None,
            Some(t) => Some(
                URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        ArmError::invalid_query(
                            "The value of the query parameter '$skiptoken' is invalid: pass on the nextLink of the previous page unchanged.",
                        )
                    })?,
            ),
        };
        Ok(Paging { top, after })
    }

    /// A request header as text, if present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Whether the request carries `If-Match`.
    pub(crate) fn has_if_match(&self) -> bool {
        self.headers.contains_key(http::header::IF_MATCH)
    }

    /// Whether `If-Match` (absent, `*`, or a list of ETags) admits the resource's `current` ETag.
    pub(crate) fn check_if_match(&self, current: &str) -> Result<(), ArmError> {
        let Some(v) = self.headers.get(http::header::IF_MATCH) else {
            return Ok(());
        };
        let v = v.to_str().unwrap_or_default();
        let admitted = v.split(',').map(str::trim).any(|t| {
            t == "*"
                || t == current
                || t.trim_start_matches("W/") == current.trim_start_matches("W/")
        });
        if admitted {
            Ok(())
        } else {
            Err(ArmError::precondition_failed(current))
        }
    }

    /// This request's URL with `$skiptoken` replaced: the next page of the same listing.
    fn next_link(&self, skiptoken: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.query {
            if !k.eq_ignore_ascii_case("$skiptoken") {
                q.append_pair(k, v);
            }
        }
        q.append_pair("$skiptoken", skiptoken);
        format!("{}{}?{}", self.base, self.raw_path, q.finish())
    }
}

/// Query pairs, keys and values percent-decoded (`%24top` is `$top`). Graph's API uses it too.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The `Authorization` header; a value that is not text reaches the token check as such, so it
/// fails there with the API's own 401 rather than passing as "no header".
/// Two or more headers fail there too, with their own message: which one counts is ambiguous.
pub(crate) fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    let mut all = headers.get_all(http::header::AUTHORIZATION).iter();
    let first = all.next()?;
    if all.next().is_some() {
        return Some(coffer_identity::DUPLICATE_AUTHORIZATION);
    }
    Some(first.to_str().unwrap_or("\u{0}invalid"))
}

/// A JSON object body as `T` (strictly: `crate::json`); `None` when there is none (or only
/// whitespace).
pub(crate) fn json_body<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<Option<T>, crate::json::JsonError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    crate::json::parse_object(bytes).map(Some)
}

/// A listing's window: at most `top` items after the item keyed `after`.
pub(crate) struct Paging {
    top: Option<usize>,
    after: Option<String>,
}

impl Paging {
    /// One page of `items`, ordered by `key` (unique per item); with `nextLink` when more follow.
    /// The token is the last key shown, so items added or removed meanwhile never shift a page.
    pub(crate) fn page<T>(
        &self,
        req: &ArmRequest,
        mut items: Vec<T>,
        key: impl Fn(&T) -> String,
    ) -> ResourceList<T> {
        items.sort_by_key(|i| key(i));
        if let Some(after) = &self.after {
            items.retain(|i| key(i).as_str() > after.as_str());
        }
        let next_link = match self.top {
            Some(top) if items.len() > top => {
                items.truncate(top);
                items
                    .last()
                    .map(|last| req.next_link(&URL_SAFE_NO_PAD.encode(key(last))))
            }
            _ => None,
        };
        ResourceList {
            value: items,
            next_link,
        }
    }
}

/// ARM api-versions are dates, optionally with a suffix such as `-preview`.
fn valid_api_version(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 10
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
        && (b.len() == 10
            || (b[10] == b'-' && b.len() > 11 && b[11..].iter().all(|c| c.is_ascii_alphanumeric())))
}

/// The ETag of a stored revision.
pub(crate) fn etag(revision: u64) -> String {
    format!("W/\"{revision}\"")
}

/// 200 with a JSON body.
pub(crate) fn ok<T: Serialize>(body: T) -> Response {
    Json(body).into_response()
}

/// 201 when the PUT created the resource, 200 when it updated it.
pub(crate) fn put_answer<T: Serialize>(created: bool, body: T) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

/// Adds an `ETag` header.
pub(crate) fn with_etag(mut resp: Response, etag: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(http::header::ETAG, v);
    }
    resp
}

/// A failure of routing or parsing (already an ARM error) or of the service.
pub(crate) enum Failure {
    Arm(ArmError),
    Service(ManagementError),
}

impl Failure {
    pub(crate) fn into_arm(self, settings: &Settings) -> ArmError {
        match self {
            Self::Arm(e) => e,
            Self::Service(e) => ArmError::from_management(e, settings),
        }
    }
}

impl From<ArmError> for Failure {
    fn from(e: ArmError) -> Self {
        Self::Arm(e)
    }
}

impl From<ManagementError> for Failure {
    fn from(e: ManagementError) -> Self {
        Self::Service(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, headers: &[(&str, &str)]) -> ArmRequest {
        let mut b = http::Request::builder()
            .uri(uri)
            .header("host", "management.localhost:8443");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (parts, _) = b.body(()).unwrap().into_parts();
        ArmRequest::parse(&parts).unwrap()
    }

    #[test]
    fn api_versions() {
        assert!(valid_api_version("2024-11-30"));
        assert!(valid_api_version("2021-09-30-preview"));
        assert!(!valid_api_version("7.6"));
        assert!(!valid_api_version("2024-11-3"));
        assert!(!valid_api_version("2024-11-30-"));
        assert!(!valid_api_version("2024-11-30x"));
        assert!(req("/x?Api-Version=2024-11-30", &[]).api_version().is_ok());
        assert!(req("/x", &[]).api_version().is_err());
    }

    #[test]
    fn path_and_query_are_decoded() {
        let r = req(
            "/Subscriptions/S/resourceGroups/rg%28a%29?%24top=2&%24filter=name%20eq%20%27v%27",
            &[],
        );
        assert_eq!(r.segs, ["Subscriptions", "S", "resourceGroups", "rg(a)"]);
        assert_eq!(r.lower(), ["subscriptions", "s", "resourcegroups", "rg(a)"]);
        assert_eq!(r.query("$TOP"), Some("2"));
        assert_eq!(r.query("$filter"), Some("name eq 'v'"));
        let (parts, _) = http::Request::builder()
            .uri("/bad%2")
            .body(())
            .unwrap()
            .into_parts();
        assert!(ArmRequest::parse(&parts).is_err());
    }

    #[test]
    fn bodies_are_typed_and_refused_in_arms_terms() {
        #[derive(serde::Deserialize, Default)]
        struct B {
            location: Option<String>,
        }
        let mut r = req("/x", &[]);
        assert!(r.json::<B>().unwrap().is_none());
        r.body = Bytes::from_static(br#"{"location":"local","other":1}"#);
        assert_eq!(
            r.json_or_default::<B>().unwrap().location.as_deref(),
            Some("local")
        );
        r.body = Bytes::from_static(b"{\"location\":");
        assert!(r.json::<B>().is_err());
        r.body = Bytes::from_static(br#"{"location":5}"#);
        assert!(r.json::<B>().is_err());
    }

    #[test]
    fn paging_walks_every_item_once() {
        let items: Vec<String> = ["c", "a", "e", "b", "d"].map(String::from).to_vec();
        let mut seen = Vec::new();
        let mut uri = "/subscriptions/s/providers/x?api-version=2024-11-30&$top=2".to_owned();
        for _ in 0..5 {
            let r = req(&uri, &[]);
            let page = r.paging().unwrap().page(&r, items.clone(), Clone::clone);
            assert!(page.value.len() <= 2);
            seen.extend(page.value);
            match page.next_link {
                Some(next) => {
                    assert!(next.starts_with("https://management.localhost:8443/subscriptions/s/"));
                    assert!(next.contains("api-version=2024-11-30"));
                    uri = next
                        .trim_start_matches("https://management.localhost:8443")
                        .to_owned();
                }
                None => break,
            }
        }
        assert_eq!(seen, ["a", "b", "c", "d", "e"]);
        let r = req("/x?$top=0", &[]);
        assert!(r.paging().is_err());
        let r = req("/x?$skiptoken=%%%", &[]);
        assert!(r.paging().is_err());
        let r = req("/x", &[]);
        let all = r.paging().unwrap().page(&r, items, Clone::clone);
        assert_eq!(all.value.len(), 5);
        assert!(all.next_link.is_none());
    }

    #[test]
    fn if_match() {
        let current = etag(3);
        assert!(req("/x", &[]).check_if_match(&current).is_ok());
        assert!(
            req("/x", &[("if-match", "*")])
                .check_if_match(&current)
                .is_ok()
        );
        assert!(
            req("/x", &[("if-match", "\"3\"")])
                .check_if_match(&current)
                .is_ok()
        );
        assert!(
            req("/x", &[("if-match", "W/\"2\", W/\"3\"")])
                .check_if_match(&current)
                .is_ok()
        );
        assert!(
            req("/x", &[("if-match", "W/\"2\"")])
                .check_if_match(&current)
                .is_err()
        );
    }

    #[test]
    fn bearer() {
        assert_eq!(
            req("/x", &[("authorization", "Bearer t")]).bearer(),
            Some("Bearer t")
        );
        assert_eq!(req("/x", &[]).bearer(), None);
    }
}
