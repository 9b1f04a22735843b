//! Graph's date and time values: RFC 3339 out, ISO 8601 in.

use serde_json::Value;

pub(super) fn iso(t: i64) -> Value {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Value::Null, Value::String)
}

/// An ISO 8601 date and time; without an offset it is taken as UTC, like Graph.
pub(super) fn parse_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    let s = s.trim();
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    if let Ok(t) = time::OffsetDateTime::parse(s, &Iso8601::DEFAULT) {
        return Some(t.unix_timestamp());
    }
    time::PrimitiveDateTime::parse(s, &Iso8601::DEFAULT)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("2030-01-01T00:00:00Z"), Some(1893456000));
        assert_eq!(parse_time("2030-01-01T00:00:00.5+00:00"), Some(1893456000));
        assert_eq!(parse_time("2030-01-01T00:00:00"), Some(1893456000));
        assert_eq!(parse_time("tomorrow"), None);
        assert_eq!(iso(1893456000), json!("2030-01-01T00:00:00Z"));
    }
}
