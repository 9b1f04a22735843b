//! Small text helpers shared by the handlers: percent-decoding of path segments, and clipping of
//! caller-supplied text before it is echoed in an error message.

/// Percent-decodes one path segment (`+` stays `+`: turning it into a space is a query rule).
/// `None` for a malformed escape (`%` not followed by two hex digits) or a result that is not
/// UTF-8, so such paths are refused rather than passed on half-decoded.
pub(crate) fn decode_segment(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let well_formed = b.iter().enumerate().all(|(i, c)| {
        *c != b'%'
            || (b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// At most 200 characters of caller-supplied text, without control characters, so an error
/// message can neither be inflated nor split into forged log lines.
pub(crate) fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_and_clipping() {
        assert_eq!(decode_segment("a%20b+c").as_deref(), Some("a b+c"));
        assert_eq!(decode_segment("%ff"), None);
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("bad%2"), None);
        assert_eq!(clip("a\nb\u{7}c"), "abc");
        assert_eq!(clip(&"x".repeat(500)).len(), 200);
        assert_eq!(clip("line\nforged"), "lineforged");
    }
}
