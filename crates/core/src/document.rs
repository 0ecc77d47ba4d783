//! Reading a YAML or JSON document into a [`serde_json::Value`], strictly.
//!
//! `serde_json` keeps the last of two equal keys and YAML parsers differ; a
//! definition with a key written twice is almost always a mistake, so both
//! formats go through one visitor that refuses duplicate keys and reports the
//! line. YAML is used for `.yaml`/`.yml` and anything that does not start with
//! `{`; JSON otherwise.

use crate::problem::Problem;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// The syntax a document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    Json,
    Yaml,
}

impl Syntax {
    /// Guesses the syntax from a file name, falling back to the content.
    pub fn detect(file_name: Option<&str>, text: &str) -> Self {
        match file_name.and_then(|name| name.rsplit_once('.')).map(|(_, ext)| ext) {
            Some("json") => Syntax::Json,
            Some("yaml" | "yml") => Syntax::Yaml,
            _ if text.trim_start().starts_with('{') => Syntax::Json,
            _ => Syntax::Yaml,
        }
    }
}

/// Parses a document; a syntax error or duplicate key becomes one problem at the root
/// whose message names the line and column.
pub fn parse(text: &str, syntax: Syntax) -> Result<Value, Problem> {
    let parsed = match syntax {
        Syntax::Json => {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            StrictValue::deserialize(&mut deserializer)
                .and_then(|value| deserializer.end().map(|()| value))
                .map_err(|error| error.to_string())
        }
        Syntax::Yaml => {
            if text.trim().is_empty() {
                return Err(Problem::error("", "the document is empty"));
            }
            StrictValue::deserialize(serde_norway::Deserializer::from_str(text)).map_err(|error| error.to_string())
        }
    };
    parsed.map(|strict| strict.0).map_err(|message| Problem::error("", format!("cannot read the document: {message}")))
}

/// A JSON value built by a visitor that refuses duplicate object keys.
struct StrictValue(Value);

impl<'de> de::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("numbers must be finite (no .nan or .inf)"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key_seed(MapKey { seen: &map })? {
            let StrictValue(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

/// Reads an object key — a string, or one of YAML's plain scalars (numbers,
/// booleans) as its text — and refuses a key the object already has.
///
/// The duplicate is refused while the key itself is being read, so the parser
/// still stands on it and attaches its line and column to the error (checking
/// after the value would report the end of the object instead).
struct MapKey<'m> {
    seen: &'m Map<String, Value>,
}

impl<'de> de::DeserializeSeed<'de> for MapKey<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl MapKey<'_> {
    fn accept<E: de::Error>(&self, key: String) -> Result<String, E> {
        if self.seen.contains_key(&key) {
            Err(E::custom(format!("the key \"{key}\" appears twice in one object; keep one")))
        } else {
            Ok(key)
        }
    }
}

impl Visitor<'_> for MapKey<'_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.accept(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        self.accept(v)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.accept(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.accept(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.accept(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.accept(v.to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_and_json_give_the_same_value() {
        let yaml = parse("a: 1\nb: [x, {c: true}]\n", Syntax::Yaml);
        let json = parse(r#"{"a": 1, "b": ["x", {"c": true}]}"#, Syntax::Json);
        assert_eq!(yaml, Ok(json!({"a": 1, "b": ["x", {"c": true}]})));
        assert_eq!(yaml, json);
    }

    #[test]
    fn duplicate_keys_are_refused_in_json_with_the_line() {
        let problem = parse("{\n \"a\": 1,\n \"a\": 2\n}", Syntax::Json).unwrap_err();
        assert!(problem.message.contains("\"a\" appears twice"), "{problem}");
        assert!(problem.message.contains("line 3"), "{problem}");
    }

    #[test]
    fn duplicate_keys_are_refused_in_yaml() {
        let problem = parse("tasks: []\nkey: a\nkey: b\n", Syntax::Yaml).unwrap_err();
        assert!(problem.message.contains("key"), "{problem}");
        assert!(problem.message.contains("line 3"), "{problem}");
    }

    #[test]
    fn nested_duplicates_name_the_line_and_column_of_the_second_key() {
        let json = "{\"x\": {\"b\": 1,\n\n   \"b\": 2,\n \"c\": 3}}";
        let problem = parse(json, Syntax::Json).unwrap_err();
        assert!(problem.message.contains("\"b\" appears twice"), "{problem}");
        assert!(problem.message.contains("line 3 column"), "{problem}");
        let yaml = "tasks:\n  - key: a\n    title: x\n    title: y\n    type: form\n";
        let problem = parse(yaml, Syntax::Yaml).unwrap_err();
        assert!(problem.message.contains("\"title\" appears twice"), "{problem}");
        assert!(problem.message.contains("line 4 column 5"), "{problem}");
        let problem = parse("a: {b: 1, c: 2, b: 3}\n", Syntax::Yaml).unwrap_err();
        assert!(problem.message.contains("line 1 column 17"), "{problem}");
    }

    #[test]
    fn the_same_key_in_different_objects_is_fine() {
        let value = parse("a: {k: 1}\nb: {k: 2}\n", Syntax::Yaml).unwrap();
        assert_eq!(value, json!({"a": {"k": 1}, "b": {"k": 2}}));
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let problem = parse("a: [1, 2\nb: 3\n", Syntax::Yaml).unwrap_err();
        assert!(problem.message.contains("line"), "{problem}");
        let problem = parse("{\"a\": }", Syntax::Json).unwrap_err();
        assert!(problem.message.contains("line 1"), "{problem}");
    }

    #[test]
    fn empty_and_trailing_input_are_errors() {
        assert!(parse("", Syntax::Yaml).is_err());
        assert!(parse("{} {}", Syntax::Json).is_err());
    }

    #[test]
    fn syntax_is_detected_from_name_then_content() {
        assert_eq!(Syntax::detect(Some("a.json"), "x: 1"), Syntax::Json);
        assert_eq!(Syntax::detect(Some("a.yml"), "{}"), Syntax::Yaml);
        assert_eq!(Syntax::detect(None, "  {\"a\":1}"), Syntax::Json);
        assert_eq!(Syntax::detect(None, "a: 1"), Syntax::Yaml);
    }
}
