//! Sample values from a JSON Schema, for simulation without scripted outputs.
//!
//! The sample prefers what the schema itself offers (`const`, `default`,
//! `examples`, the first `enum` value), then a plain value of the declared type
//! that respects formats, lengths and bounds. It is a best effort: the engine
//! still validates it like any other output.

use serde_json::{Map, Value, json};

/// A value that satisfies simple schemas.
pub fn sample(schema: &Value) -> Value {
    sample_named(schema, "value", 0)
}

fn sample_named(schema: &Value, name: &str, depth: usize) -> Value {
    let Some(map) = schema.as_object() else {
        return Value::String(format!("sample {name}"));
    };
    if depth > 8 {
        return Value::Null;
    }
    for key in ["const", "default"] {
        if let Some(value) = map.get(key) {
            return value.clone();
        }
    }
    if let Some(first) = map.get("examples").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(first) = map.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(first) = map.get(key).and_then(Value::as_array).and_then(|e| e.first()) {
            return sample_named(first, name, depth + 1);
        }
    }
    let kind = match map.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).find(|k| *k != "null").unwrap_or("null"),
        _ if map.contains_key("properties") => "object",
        _ if map.contains_key("items") => "array",
        _ => "string",
    };
    match kind {
        "object" => {
            let mut out = Map::new();
            if let Some(properties) = map.get("properties").and_then(Value::as_object) {
                for (property, child) in properties {
                    if child.get("contentMediaType").is_some() {
                        continue;
                    }
                    out.insert(property.clone(), sample_named(child, property, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => {
            let count = map.get("minItems").and_then(Value::as_u64).unwrap_or(1).clamp(1, 5);
            let items = map.get("items").cloned().unwrap_or(json!({"type": "string"}));
            Value::Array((0..count).map(|_| sample_named(&items, name, depth + 1)).collect())
        }
        "integer" => json!(bound(map).map_or(1, |b| b.ceil() as i64)),
        "number" => json!(bound(map).unwrap_or(1.0)),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => sample_string(map, name),
    }
}

fn bound(map: &Map<String, Value>) -> Option<f64> {
    let minimum = map.get("minimum").and_then(Value::as_f64);
    let exclusive = map.get("exclusiveMinimum").and_then(Value::as_f64).map(|m| m + 1.0);
    let maximum = map.get("maximum").and_then(Value::as_f64);
    minimum.or(exclusive).or(maximum.map(|m| m.min(1.0)))
}

fn sample_string(map: &Map<String, Value>, name: &str) -> Value {
    let text = match map.get("format").and_then(Value::as_str) {
        Some("date") => "2026-01-15".to_owned(),
        Some("date-time") => "2026-01-15T09:30:00Z".to_owned(),
        Some("time") => "09:30:00Z".to_owned(),
        Some("email") => "someone@example.com".to_owned(),
        Some("uri" | "url") => "https://example.com/sample".to_owned(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".to_owned(),
        _ => format!("sample {name}"),
    };
    let min = map.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = map.get("maxLength").and_then(Value::as_u64).map_or(usize::MAX, |m| m as usize);
    let mut text = text;
    while text.chars().count() < min {
        text.push('x');
    }
    Value::String(text.chars().take(max).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Schema;

    #[test]
    fn samples_satisfy_their_schemas() {
        let schemas = [
            json!({"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "string", "minLength": 12}, "b": {"type": "integer", "minimum": 3}, "c": {"enum": ["x", "y"]}, "d": {"type": "array", "items": {"type": "string", "format": "email"}, "minItems": 2}, "e": {"type": "string", "format": "date"}, "f": {"type": ["null", "boolean"]}}}),
            json!({"type": "object", "properties": {"nested": {"type": "object", "properties": {"n": {"type": "number", "exclusiveMinimum": 5}}}}}),
            json!({"type": "string", "maxLength": 3}),
            json!({"oneOf": [{"type": "integer"}, {"type": "string"}]}),
        ];
        for source in schemas {
            let schema = Schema::compile(&source).unwrap();
            let value = sample(&source);
            assert!(schema.is_valid(&value), "{value} does not satisfy {source}");
        }
    }
}
