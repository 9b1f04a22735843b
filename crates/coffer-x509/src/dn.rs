//! Distinguished names in Key Vault's text form ("CN=api.contoso.test, O=Contoso"): parsing a
//! policy's subject into rcgen's name, and rendering a parsed certificate's name back.
//!
//! The text lists the most specific attribute first (as RFC 4514 and .NET do), which is the
//! reverse of the DER order, so `CN=a, O=b` is encoded as O then CN and renders back unchanged.

use rcgen::{DistinguishedName, DnType, DnValue};
use x509_parser::der_parser::asn1_rs::{Any, BmpString, Tag, UniversalString};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use crate::X509Error;

/// How an attribute's value is encoded in DER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StringKind {
    Utf8,
    Printable,
    Ia5,
}

/// A known attribute: the labels accepted on input (first one is how it is rendered), its OID.
struct Known {
    labels: &'static [&'static str],
    oid: &'static [u64],
    kind: StringKind,
}

const KNOWN: &[Known] = &[
    Known {
        labels: &["CN"],
        oid: &[2, 5, 4, 3],
        kind: StringKind::Utf8,
    },
    Known {
        labels: &["O"],
        oid: &[2, 5, 4, 10],
        kind: StringKind::Utf8,
    },
    Known {
        labels: &["OU"],
        oid: &[2, 5, 4, 11],
        kind: StringKind::Utf8,
    },
    Known {
        labels: &["L"],
        oid: &[2, 5, 4, 7],
        kind: StringKind::Utf8,
    },
    Known {
        labels: &["S", "ST"],
        oid: &[2, 5, 4, 8],
        kind: StringKind::Utf8,
    },
    Known {
        labels: &["C"],
        oid: &[2, 5, 4, 6],
        kind: StringKind::Printable,
    },
    Known {
        labels: &["E", "EMAIL", "EMAILADDRESS"],
        oid: &[1, 2, 840, 113_549, 1, 9, 1],
        kind: StringKind::Ia5,
    },
    Known {
        labels: &["DC"],
        oid: &[0, 9, 2342, 19_200_300, 100, 1, 25],
        kind: StringKind::Ia5,
    },
    Known {
        labels: &["STREET"],
        oid: &[2, 5, 4, 9],
        kind: StringKind::Utf8,
    },
    Known {
        labels: &["SERIALNUMBER"],
        oid: &[2, 5, 4, 5],
        kind: StringKind::Printable,
    },
    Known {
        labels: &["T", "TITLE"],
        oid: &[2, 5, 4, 12],
        kind: StringKind::Utf8,
    },
    Known {
        labels: &["G", "GN", "GIVENNAME"],
        oid: &[2, 5, 4, 42],
        kind: StringKind::Utf8,
    },
    Known {
        labels: &["SN", "SURNAME"],
        oid: &[2, 5, 4, 4],
        kind: StringKind::Utf8,
    },
    Known {
        labels: &["UID"],
        oid: &[0, 9, 2342, 19_200_300, 100, 1, 1],
        kind: StringKind::Utf8,
    },
];

/// One `TYPE=value` pair of a parsed subject, in text order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DnAttr {
    /// The label as written, upper-cased, for messages.
    pub(crate) label: String,
    pub(crate) oid: Vec<u64>,
    pub(crate) value: String,
    kind: StringKind,
}

/// Parses a subject such as `CN=a, O="Contoso, Ltd", C=US`.
///
/// Separators are `,` or `;`; values may be quoted (`""` or `\"` inside quotes) or use RFC 4514
/// backslash escapes (`\,`, `\2C`). Multi-valued RDNs (`+`) are refused, as is an empty input.
pub(crate) fn parse(subject: &str) -> Result<Vec<DnAttr>, X509Error> {
    let mut parser = Parser {
        chars: subject.chars().collect(),
        pos: 0,
    };
    let mut attrs = Vec::new();
    parser.skip_ws();
    if parser.at_end() {
        return Err(bad("the subject is empty"));
    }
    loop {
        attrs.push(parser.attribute()?);
        parser.skip_ws();
        match parser.next() {
            None => break,
            Some(',' | ';') => {
                parser.skip_ws();
                if parser.at_end() {
                    return Err(bad("the subject ends with a separator"));
                }
            }
            Some('+') => {
                return Err(X509Error::Unsupported(
                    "multi-valued subject attributes ('+') are not supported".into(),
                ));
            }
            Some(c) => return Err(bad(&format!("unexpected '{c}' after a value"))),
        }
    }
    Ok(attrs)
}

/// Builds rcgen's name from parsed attributes, in DER order (the reverse of the text).
pub(crate) fn to_rcgen(attrs: &[DnAttr]) -> Result<DistinguishedName, X509Error> {
    let mut name = DistinguishedName::new();
    for (i, attr) in attrs.iter().enumerate().rev() {
        // rcgen keeps one value per attribute type, so a repeat would silently replace the first.
        if attrs[..i].iter().any(|other| other.oid == attr.oid) {
            return Err(X509Error::Unsupported(format!(
                "the subject repeats the attribute {}; each attribute may appear once",
                attr.label
            )));
        }
        let value = match attr.kind {
            StringKind::Utf8 => DnValue::Utf8String(attr.value.clone()),
            StringKind::Printable => {
                DnValue::PrintableString(attr.value.as_str().try_into().map_err(|_| {
                    bad(&format!(
                        "{} allows only letters, digits and ' ()+,-./:=?",
                        attr.label
                    ))
                })?)
            }
            StringKind::Ia5 => DnValue::Ia5String(
                attr.value
                    .as_str()
                    .try_into()
                    .map_err(|_| bad(&format!("{} allows only ASCII characters", attr.label)))?,
            ),
        };
        name.push(DnType::from_oid(&attr.oid), value);
    }
    Ok(name)
}

/// Renders a certificate or CSR name the way Key Vault shows it: most specific first,
/// `", "` between attributes, values with special characters in double quotes.
pub(crate) fn render(name: &X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| rdn.iter().map(render_attr).collect::<Vec<_>>().join(" + "))
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(", ")
}

fn render_attr(attr: &AttributeTypeAndValue<'_>) -> String {
    let arcs: Option<Vec<u64>> = attr.attr_type().iter().map(|arcs| arcs.collect());
    let label = arcs
        .as_deref()
        .and_then(|arcs| KNOWN.iter().find(|k| k.oid == arcs))
        .and_then(|k| k.labels.first())
        .map_or_else(|| format!("OID.{}", attr.attr_type()), |l| (*l).to_owned());
    let value = match attr_text(attr.attr_value()) {
        Some(text) => quote(&text),
        // RFC 4514's form for values with no string representation.
        None => format!("#{}", hex_upper(attr.attr_value().data)),
    };
    format!("{label}={value}")
}

fn attr_text(value: &Any<'_>) -> Option<String> {
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(value.data).ok().map(str::to_owned)
        }
        Tag::BmpString => BmpString::try_from(value).ok().map(|s| s.string()),
        Tag::UniversalString => UniversalString::try_from(value).ok().map(|s| s.string()),
        // T.61 in practice carries Latin-1.
        Tag::T61String => Some(value.data.iter().map(|b| char::from(*b)).collect()),
        _ => None,
    }
}

fn quote(value: &str) -> String {
    let needs_quotes = value.is_empty()
        || value.starts_with([' ', '#'])
        || value.ends_with(' ')
        || value.contains([',', '+', '=', '"', '\\', '<', '>', ';', '\n', '\r']);
    if needs_quotes {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

pub(crate) fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn bad(reason: &str) -> X509Error {
    X509Error::InvalidSubject(reason.to_owned())
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn attribute(&mut self) -> Result<DnAttr, X509Error> {
        let mut label = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                label.push(c.to_ascii_uppercase());
                self.pos += 1;
            } else {
                break;
            }
        }
        if label.is_empty() {
            return Err(bad("expected an attribute name such as CN"));
        }
        self.skip_ws();
        if self.next() != Some('=') {
            return Err(bad(&format!("expected '=' after {label}")));
        }
        let (oid, kind) = attribute_type(&label)?;
        self.skip_ws();
        let value = if self.peek() == Some('"') {
            self.pos += 1;
            self.quoted(&label)?
        } else {
            self.unquoted(&label)?
        };
        if value.is_empty() {
            return Err(bad(&format!("the value of {label} is empty")));
        }
        if kind == StringKind::Printable && label == "C" && value.chars().count() != 2 {
            return Err(bad("C must be a two-letter country code"));
        }
        Ok(DnAttr {
            label,
            oid,
            value,
            kind,
        })
    }

    fn quoted(&mut self, label: &str) -> Result<String, X509Error> {
        let mut value = String::new();
        loop {
            match self.next() {
                None => return Err(bad(&format!("the quoted value of {label} is not closed"))),
                Some('"') if self.peek() == Some('"') => {
                    self.pos += 1;
                    value.push('"');
                }
                Some('"') => return Ok(value),
                Some('\\') => match self.next() {
                    Some(c) => value.push(c),
                    None => return Err(bad(&format!("the value of {label} ends with '\\'"))),
                },
                Some(c) => value.push(c),
            }
        }
    }

    fn unquoted(&mut self, label: &str) -> Result<String, X509Error> {
        // Bytes, because RFC 4514 hex escapes (\C3\A9) may spell one UTF-8 character.
        let mut bytes = Vec::new();
        // Length up to the last escaped or non-space character: trailing spaces are not data.
        let mut kept = 0;
        while let Some(c) = self.peek() {
            match c {
                ',' | ';' | '+' => break,
                '"' => return Err(bad(&format!("unexpected quote in the value of {label}"))),
                '\\' => {
                    self.pos += 1;
                    let escaped = self.escape(label)?;
                    bytes.extend_from_slice(&escaped);
                    kept = bytes.len();
                }
                c => {
                    self.pos += 1;
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    if !c.is_whitespace() {
                        kept = bytes.len();
                    }
                }
            }
        }
        bytes.truncate(kept);
        String::from_utf8(bytes).map_err(|_| bad(&format!("the value of {label} is not UTF-8")))
    }

    fn escape(&mut self, label: &str) -> Result<Vec<u8>, X509Error> {
        let first = self
            .next()
            .ok_or_else(|| bad(&format!("the value of {label} ends with '\\'")))?;
        if let Some(high) = first.to_digit(16) {
            let low = self
                .next()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| bad(&format!("bad hex escape in the value of {label}")))?;
            // Two hex digits make one byte: high * 16 + low <= 255.
            let byte = u8::try_from(high * 16 + low).map_err(|_| bad("bad hex escape"))?;
            return Ok(vec![byte]);
        }
        if !matches!(
            first,
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' | '#' | ' '
        ) {
            return Err(bad(&format!(
                "bad escape '\\{first}' in the value of {label}"
            )));
        }
        Ok(vec![u8::try_from(first).map_err(|_| bad("bad escape"))?])
    }
}

fn attribute_type(label: &str) -> Result<(Vec<u64>, StringKind), X509Error> {
    if let Some(known) = KNOWN.iter().find(|k| k.labels.contains(&label)) {
        return Ok((known.oid.to_vec(), known.kind));
    }
    let dotted = label.strip_prefix("OID.").unwrap_or(label);
    let oid = parse_oid(dotted).ok_or_else(|| bad(&format!("unknown attribute {label}")))?;
    // A known attribute written as an OID keeps its DER string type.
    let kind = KNOWN
        .iter()
        .find(|k| k.oid == oid.as_slice())
        .map_or(StringKind::Utf8, |k| k.kind);
    Ok((oid, kind))
}

/// Parses a dotted OID (`1.3.6.1.5.5.7.3.1`), checking the first two arcs as X.660 requires.
pub(crate) fn parse_oid(dotted: &str) -> Option<Vec<u64>> {
    let arcs: Option<Vec<u64>> = dotted
        .split('.')
        .map(|arc| {
            if arc.is_empty() || !arc.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                arc.parse().ok()
            }
        })
        .collect();
    let arcs = arcs?;
    match arcs.as_slice() {
        [first, second, ..] if *first <= 1 && *second < 40 => Some(arcs),
        [2, _, ..] => Some(arcs),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(subject: &str) -> Vec<(String, String)> {
        parse(subject)
            .unwrap()
            .into_iter()
            .map(|a| (a.label, a.value))
            .collect()
    }

    fn p(label: &str, value: &str) -> (String, String) {
        (label.to_owned(), value.to_owned())
    }

    #[test]
    fn parses_key_vault_subjects() {
        assert_eq!(
            pairs("CN=api.contoso.test, O=Contoso"),
            vec![p("CN", "api.contoso.test"), p("O", "Contoso")]
        );
        assert_eq!(
            pairs("  cn = a ;ou=Eng;  S=WA,ST=WA2, c=US , E=a@b.c, DC=contoso, L=Redmond"),
            vec![
                p("CN", "a"),
                p("OU", "Eng"),
                p("S", "WA"),
                p("ST", "WA2"),
                p("C", "US"),
                p("E", "a@b.c"),
                p("DC", "contoso"),
                p("L", "Redmond")
            ]
        );
    }

    #[test]
    fn parses_quotes_and_escapes() {
        assert_eq!(
            pairs(r#"CN=x, O="Contoso, Ltd", OU="say ""hi""", L="a\"b""#),
            vec![
                p("CN", "x"),
                p("O", "Contoso, Ltd"),
                p("OU", "say \"hi\""),
                p("L", "a\"b")
            ]
        );
        assert_eq!(
            pairs(r"CN=a\, b, O=caf\C3\A9, OU=x\+y, L=trailing\ "),
            vec![
                p("CN", "a, b"),
                p("O", "café"),
                p("OU", "x+y"),
                p("L", "trailing ")
            ]
        );
        assert_eq!(
            pairs("OID.2.5.4.3=x, 2.5.4.10=y"),
            vec![p("OID.2.5.4.3", "x"), p("2.5.4.10", "y")]
        );
    }

    #[test]
    fn refuses_bad_subjects() {
        for bad in [
            "",
            "   ",
            "CN",
            "CN=",
            "=x",
            "CN=a,",
            "CN=a,,O=b",
            "XX=a",
            "CN=\"open",
            "CN=a\"b",
            "CN=a\\",
            "CN=a\\G1",
            "C=USA",
            "OID.3.1=x",
            "CN=\"a\" b",
            "CN=\\FF",
        ] {
            assert!(
                matches!(parse(bad), Err(X509Error::InvalidSubject(_))),
                "{bad:?} was accepted: {:?}",
                parse(bad)
            );
        }
        assert!(matches!(parse("CN=a+O=b"), Err(X509Error::Unsupported(_))));
    }

    #[test]
    fn rcgen_name_is_in_der_order_and_typed() {
        let name = to_rcgen(&parse("CN=a, O=b, C=US, E=x@y.z").unwrap()).unwrap();
        let order: Vec<_> = name.iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(
            order[0],
            DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1])
        );
        assert_eq!(order[1], DnType::CountryName);
        assert_eq!(order[3], DnType::CommonName);
        assert!(matches!(
            name.get(&DnType::CountryName),
            Some(DnValue::PrintableString(_))
        ));
        assert!(matches!(
            name.get(&DnType::CustomDnType(vec![1, 2, 840, 113_549, 1, 9, 1])),
            Some(DnValue::Ia5String(_))
        ));
        assert!(matches!(
            to_rcgen(&parse("CN=a, DC=contoso, DC=com").unwrap()),
            Err(X509Error::Unsupported(_))
        ));
        assert!(matches!(
            to_rcgen(&parse("CN=a, E=é@x.y").unwrap()),
            Err(X509Error::InvalidSubject(_))
        ));
        assert!(matches!(
            to_rcgen(&parse("CN=a, SERIALNUMBER=a_b").unwrap()),
            Err(X509Error::InvalidSubject(_))
        ));
    }

    #[test]
    fn quote_marks_special_values() {
        assert_eq!(quote("plain value"), "plain value");
        assert_eq!(quote("Contoso, Ltd"), "\"Contoso, Ltd\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote(" lead"), "\" lead\"");
    }

    #[test]
    fn oids_are_checked() {
        assert_eq!(
            parse_oid("1.3.6.1.5.5.7.3.1"),
            Some(vec![1, 3, 6, 1, 5, 5, 7, 3, 1])
        );
        assert_eq!(parse_oid("2.999.1"), Some(vec![2, 999, 1]));
        for bad in ["", "1", "1.", "1..2", "3.1", "1.40", "a.b", "1.+2", "1.2.x"] {
            assert_eq!(parse_oid(bad), None, "{bad:?}");
        }
    }
}
