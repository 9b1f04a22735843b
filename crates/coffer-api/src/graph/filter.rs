//! OData in Graph requests: the `$filter` forms Graph clients (the Azure CLI) send for
//! directory look-ups, and the single-quoted string literal they and key segments use.

use coffer_service::DirectoryFilter;
use http::StatusCode;

use crate::error::graph::GraphError;
use crate::text::clip;

/// A single-quoted OData string at the start of `s` (`''` is a quote): the value and the rest.
pub(super) fn parse_quoted(s: &str) -> Option<(String, &str)> {
    let body = s.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if let Some((_, '\'')) = chars.peek() {
                chars.next();
                out.push('\'');
                continue;
            }
            return Some((out, &body[i + 1..]));
        }
        out.push(c);
    }
    None
}

/// Parses the `$filter` forms Graph clients send for directory look-ups.
fn parse_filter(raw: &str) -> Result<DirectoryFilter, GraphError> {
    let unsupported = || {
        GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            format!(
                "Unsupported or invalid query filter clause specified: '{}'. Supported: displayName eq '…', startswith(displayName,'…'), appId eq '…', id eq '…', userPrincipalName eq '…', servicePrincipalNames/any(c:c eq '…').",
                clip(raw)
            ),
        )
    };
    let s = raw.trim();
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("startswith(") {
        let inner = s["startswith(".len()..]
            .strip_suffix(')')
            .ok_or_else(unsupported)?;
        let (prop, value) = inner.split_once(',').ok_or_else(unsupported)?;
        if !prop.trim().eq_ignore_ascii_case("displayName") {
            return Err(unsupported());
        }
        let (v, rest) = parse_quoted(value.trim()).ok_or_else(unsupported)?;
        if !rest.trim().is_empty() {
            return Err(unsupported());
        }
        return Ok(DirectoryFilter::DisplayNameStartsWith(v));
    }
    if lower.starts_with("serviceprincipalnames/any(") {
        let inner = s["servicePrincipalNames/any(".len()..]
            .strip_suffix(')')
            .ok_or_else(unsupported)?;
        let (var, cond) = inner.split_once(':').ok_or_else(unsupported)?;
        let var = var.trim();
        let cond = cond.trim();
        let rest = cond
            .strip_prefix(var)
            .map(str::trim_start)
            .ok_or_else(unsupported)?;
        let value = rest
            .get(..3)
            .filter(|op| op.eq_ignore_ascii_case("eq "))
            .map(|_| rest[3..].trim())
            .ok_or_else(unsupported)?;
        let (v, tail) = parse_quoted(value).ok_or_else(unsupported)?;
        if var.is_empty() || !tail.trim().is_empty() {
            return Err(unsupported());
        }
        return Ok(DirectoryFilter::ServicePrincipalName(v));
    }
    let mut parts = s.splitn(3, char::is_whitespace);
    let (Some(prop), Some(op), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(unsupported());
    };
    if !op.eq_ignore_ascii_case("eq") {
        return Err(unsupported());
    }
    let (v, tail) = parse_quoted(value.trim()).ok_or_else(unsupported)?;
    if !tail.trim().is_empty() {
        return Err(unsupported());
    }
    match prop.to_ascii_lowercase().as_str() {
        "displayname" => Ok(DirectoryFilter::DisplayNameEq(v)),
        "appid" => Ok(DirectoryFilter::AppIdEq(v)),
        "id" => Ok(DirectoryFilter::IdEq(v)),
        "userprincipalname" => Ok(DirectoryFilter::UserPrincipalNameEq(v)),
        _ => Err(unsupported()),
    }
}

pub(super) fn filter_of(query: &[(String, String)]) -> Result<Option<DirectoryFilter>, GraphError> {
    query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("$filter") || k.eq_ignore_ascii_case("filter"))
        .map(|(_, v)| parse_filter(v))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(
            parse_filter("displayName eq 'my app'").ok(),
            Some(DirectoryFilter::DisplayNameEq("my app".into()))
        );
        assert_eq!(
            parse_filter("startswith(displayName,'o''brien')").ok(),
            Some(DirectoryFilter::DisplayNameStartsWith("o'brien".into()))
        );
        assert_eq!(
            parse_filter("servicePrincipalNames/any(c:c eq 'abc')").ok(),
            Some(DirectoryFilter::ServicePrincipalName("abc".into()))
        );
        assert_eq!(
            parse_filter("servicePrincipalNames/any(x: x eq 'abc')").ok(),
            Some(DirectoryFilter::ServicePrincipalName("abc".into()))
        );
        assert_eq!(
            parse_filter("appId eq 'abc'").ok(),
            Some(DirectoryFilter::AppIdEq("abc".into()))
        );
        for bad in [
            "displayName ne 'x'",
            "displayName eq x",
            "displayName eq 'x' or 1",
            "startswith(mail,'x')",
            "servicePrincipalNames/any(c:d eq 'x')",
            "",
            "'",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }
}
