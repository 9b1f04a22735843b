//! Strict JSON request bodies: UTF-8 throughout, nested at most [`MAX_DEPTH`] deep (checked
//! before parsing), an object at the top, and an object wherever a typed body expects one.
//! Serde's derived structs also accept an array of their fields in order, so `["v"]` would
//! otherwise set a secret to `"v"`; [`Strict`] is the deserializer that refuses that.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer as _, Unexpected};
use serde_json::{Map, Value};

/// Deepest nesting of arrays and objects a body may have. Key Vault's bodies nest four levels
/// (a certificate policy); serde_json's own limit is 128.
pub(crate) const MAX_DEPTH: usize = 32;

/// Why a body is not acceptable JSON. The messages never quote the body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum JsonError {
    #[error("the body is not valid UTF-8 (at byte {0})")]
    InvalidUtf8(usize),
    #[error("the JSON nests more than {MAX_DEPTH} levels deep")]
    TooDeep,
    #[error("the JSON ends too early (line {line}, column {column})")]
    Eof { line: usize, column: usize },
    #[error("the body is not valid JSON (line {line}, column {column})")]
    Syntax { line: usize, column: usize },
    #[error("the body must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    /// A field of the wrong shape; the detail names a missing or unknown field at most.
    #[error("{0}")]
    Shape(String),
}

/// Parses a body that must be a JSON object into `T`. An empty body is the caller's to judge
/// before calling this.
pub(crate) fn parse_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonError> {
    let map = parse_map(bytes)?;
    T::deserialize(Strict(&Value::Object(map))).map_err(|e| shape(&e))
}

/// Parses a body that must be a JSON object, without a type.
pub(crate) fn parse_map(bytes: &[u8]) -> Result<Map<String, Value>, JsonError> {
    let text = std::str::from_utf8(bytes).map_err(|e| JsonError::InvalidUtf8(e.valid_up_to()))?;
    check_depth(text.as_bytes())?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        if e.is_eof() {
            JsonError::Eof { line, column }
        } else {
            JsonError::Syntax { line, column }
        }
    })?;
    match value {
        Value::Object(m) => Ok(m),
        other => Err(JsonError::NotAnObject(kind(&other))),
    }
}

/// Serde's text can quote the offending value, which may be a secret: keep only a missing or
/// unknown field's name.
fn shape(e: &serde_json::Error) -> JsonError {
    let text = e.to_string();
    if text.starts_with("missing field") || text.starts_with("unknown field") {
        let field = text.split(", expected").next().unwrap_or_default();
        return JsonError::Shape(
            field
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    if text.starts_with(NOT_AN_OBJECT) {
        return JsonError::Shape("a field that must be a JSON object is not one".to_owned());
    }
    JsonError::Shape("a field has the wrong type or value".to_owned())
}

/// Refuses nesting deeper than [`MAX_DEPTH`] in one pass over the bytes, so no parser ever walks
/// further. Brackets inside strings do not count.
fn check_depth(bytes: &[u8]) -> Result<(), JsonError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(JsonError::TooDeep);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

const NOT_AN_OBJECT: &str = "not a JSON object:";

/// A parsed value read as serde's data model, except that a struct accepts only an object.
struct Strict<'a>(&'a Value);

impl<'de> de::Deserializer<'de> for Strict<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(items) => visitor.visit_seq(Seq(items.iter())),
            Value::Object(m) => visitor.visit_map(Members {
                iter: m.iter(),
                value: None,
            }),
        }
    }

    fn deserialize_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Object(m) => visitor.visit_map(Members {
                iter: m.iter(),
                value: None,
            }),
            other => Err(de::Error::custom(format_args!(
                "{NOT_AN_OBJECT} {}",
                kind(other)
            ))),
        }
    }

    fn deserialize_option<V: de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: de::Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: de::Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        match self.0 {
            // Unit variants by name, the only enums the wire types use.
            Value::String(s) => de::Deserializer::deserialize_enum(
                s.as_str().into_deserializer(),
                name,
                variants,
                visitor,
            ),
            other => Err(de::Error::invalid_type(unexpected(other), &visitor)),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Other("a number"),
        Value::String(_) => Unexpected::Other("a string"),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

struct Seq<'a>(std::slice::Iter<'a, Value>);

impl<'de> de::SeqAccess<'de> for Seq<'de> {
    type Error = serde_json::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Self::Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(Strict(v)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Members<'a> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'de> de::MapAccess<'de> for Members<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(Strict(v)),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Attrs {
        enabled: Option<bool>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Body {
        value: Option<String>,
        attributes: Option<Attrs>,
        tags: Option<HashMap<String, String>>,
        content_type: Option<String>,
        #[serde(default)]
        ops: Vec<String>,
        n: Option<u32>,
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    enum Kind {
        #[serde(rename = "RSA")]
        Rsa,
    }

    #[test]
    fn objects_parse_as_before() {
        let b: Body = parse_object(
            br#"{"value":"v","attributes":{"enabled":true},"tags":{"a":"b"},"contentType":"t","ops":["x"],"n":3,"kind":"RSA","extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(b.value.as_deref(), Some("v"));
        assert_eq!(
            b.attributes,
            Some(Attrs {
                enabled: Some(true)
            })
        );
        assert_eq!(b.ops, ["x"]);
        assert_eq!(b.n, Some(3));
        assert_eq!(b.kind, Some(Kind::Rsa));
        let b: Body = parse_object(b"{}").unwrap();
        assert_eq!(b.value, None);
    }

    #[test]
    fn arrays_and_scalars_are_not_objects() {
        let cases: &[(&[u8], JsonError)] = &[
            (br#"["from-array"]"#, JsonError::NotAnObject("an array")),
            (b"[]", JsonError::NotAnObject("an array")),
            (b"\"v\"", JsonError::NotAnObject("a string")),
            (b"5", JsonError::NotAnObject("a number")),
            (b"null", JsonError::NotAnObject("null")),
            (b"true", JsonError::NotAnObject("a boolean")),
        ];
        for (body, want) in cases {
            assert_eq!(parse_object::<Body>(body).unwrap_err(), *want, "{body:?}");
        }
        let nested = parse_object::<Body>(br#"{"attributes":[true]}"#).unwrap_err();
        assert!(matches!(nested, JsonError::Shape(m) if m.contains("must be a JSON object")));
    }

    #[test]
    fn invalid_utf8_anywhere_is_refused() {
        let mut body = br#"{"value":"v","ignored":""#.to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(br#""}"#);
        assert!(matches!(
            parse_object::<Body>(&body),
            Err(JsonError::InvalidUtf8(_))
        ));
    }

    #[test]
    fn depth_is_limited_before_parsing() {
        let ok = format!(
            "{{\"x\":{}1{}}}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(parse_map(ok.as_bytes()).is_ok());
        let deep = format!(
            "{{\"x\":{}1{}}}",
            "[".repeat(MAX_DEPTH),
            "]".repeat(MAX_DEPTH)
        );
        assert_eq!(parse_map(deep.as_bytes()), Err(JsonError::TooDeep));
        // Far past serde_json's own limit, and unbalanced: refused without recursion.
        assert_eq!(
            parse_map("[".repeat(1_000_000).as_bytes()),
            Err(JsonError::TooDeep)
        );
        // Brackets inside strings are text.
        let text = format!("{{\"x\":\"{}\\\"{}\"}}", "[".repeat(100), "{".repeat(100));
        assert!(parse_map(text.as_bytes()).is_ok());
    }

    #[test]
    fn messages_never_quote_values() {
        let e = parse_object::<Body>(br#"{"value":5,"n":"hunter2"}"#).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = parse_object::<Body>(br#"{"n":"hunter2"}"#).unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = parse_object::<Body>(br#"{"value": "hunter2"#).unwrap_err();
        assert!(matches!(e, JsonError::Eof { .. }), "{e}");
    }
}
