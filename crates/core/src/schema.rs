//! JSON Schema 2020-12: the language of forms, ticket types and task outputs.
//!
//! A [`Schema`] is checked against the 2020-12 meta-schema and compiled once
//! when a definition is loaded; validating an instance returns every problem
//! with a JSON Pointer to the offending field (a missing required property is
//! reported at the property's own pointer, so a form can show it beside the field).

use crate::problem::{Problem, pointer_push};
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;
use std::sync::Arc;

/// A compiled JSON Schema together with its source document.
#[derive(Clone)]
pub struct Schema {
    source: Value,
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Schema").field(&self.source).finish()
    }
}

/// Whether a schema declares a field path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    Yes,
    No,
    /// The schema does not list properties at that level (anything goes).
    Unknown,
}

impl Schema {
    /// Checks `source` against the 2020-12 meta-schema and compiles it. Problems
    /// point into the schema document.
    pub fn compile(source: &Value) -> Result<Self, Vec<Problem>> {
        let meta = jsonschema::draft202012::meta::validator();
        let problems: Vec<Problem> = meta
            .iter_errors(source)
            .map(|error| {
                Problem::error(
                    error.instance_path().as_str(),
                    format!("not a valid JSON Schema (draft 2020-12): {error}"),
                )
            })
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        if let Some(dialect) = source.get("$schema").and_then(Value::as_str)
            && !DIALECTS.contains(&dialect.trim_end_matches('#'))
        {
            return Err(vec![Problem::error(
                "/$schema",
                format!(
                    "\"{dialect}\" is another JSON Schema dialect; schemas here are draft 2020-12, so remove \"$schema\" or write \"{}\"",
                    DIALECTS[0]
                ),
            )]);
        }
        jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(source)
            .map(|validator| Self { source: source.clone(), validator: Arc::new(validator) })
            .map_err(|error| {
                vec![Problem::error(error.instance_path().as_str(), format!("the JSON Schema cannot be used: {error}"))]
            })
    }

    pub fn source(&self) -> &Value {
        &self.source
    }

    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }

    /// Every reason `instance` does not satisfy the schema.
    pub fn validate(&self, instance: &Value) -> Result<(), Vec<Problem>> {
        if self.validator.is_valid(instance) {
            return Ok(());
        }
        Err(self
            .validator
            .iter_errors(instance)
            .map(|error| {
                let pointer = error.instance_path().as_str().to_owned();
                match error.kind() {
                    ValidationErrorKind::Required { property } => {
                        let name = property.as_str().unwrap_or_default();
                        Problem::error(pointer_push(&pointer, name), format!("{name} is required"))
                    }
                    _ => Problem::error(pointer, error.to_string()),
                }
            })
            .collect())
    }

    /// The names of the top-level properties the schema declares, in order.
    pub fn property_names(&self) -> Vec<&str> {
        properties(&self.source).map(|map| map.keys().map(String::as_str).collect()).unwrap_or_default()
    }

    /// Whether the schema declares the nested property `path` (names, outermost first).
    pub fn declares<'p>(&self, path: impl IntoIterator<Item = &'p str>) -> Declared {
        let mut schema = &self.source;
        for name in path {
            let Some(map) = properties(schema) else {
                return Declared::Unknown;
            };
            match map.get(name) {
                Some(child) => schema = child,
                None if COMPOSING.iter().any(|keyword| schema.get(keyword).is_some()) => return Declared::Unknown,
                None => return Declared::No,
            }
        }
        Declared::Yes
    }
}

/// The `$schema` values naming draft 2020-12 (without a trailing `#`).
const DIALECTS: &[&str] =
    &["https://json-schema.org/draft/2020-12/schema", "http://json-schema.org/draft/2020-12/schema"];

/// Keywords through which a schema may declare properties beside its own `properties`.
const COMPOSING: &[&str] =
    &["patternProperties", "allOf", "anyOf", "oneOf", "$ref", "$dynamicRef", "if", "then", "else", "dependentSchemas"];

fn properties(schema: &Value) -> Option<&serde_json::Map<String, Value>> {
    schema.get("properties")?.as_object()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_invalid_schema_is_reported_at_its_pointer() {
        let problems = Schema::compile(&json!({"type": "object", "properties": {"a": {"type": "strin"}}})).unwrap_err();
        assert!(problems.iter().any(|p| p.pointer == "/properties/a/type"), "{problems:?}");
        let problems = Schema::compile(&json!({"minLength": -1})).unwrap_err();
        assert_eq!(problems[0].pointer, "/minLength");
    }

    #[test]
    fn another_dialect_is_refused() {
        let problems =
            Schema::compile(&json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"}))
                .unwrap_err();
        assert_eq!(problems[0].pointer, "/$schema");
        assert!(problems[0].message.contains("2020-12"), "{problems:?}");
        assert!(Schema::compile(&json!({"$schema": "https://json-schema.org/draft/2020-12/schema"})).is_ok());
    }

    #[test]
    fn every_violation_is_reported_and_required_points_at_the_field() {
        let schema = Schema::compile(&json!({
            "type": "object",
            "required": ["title", "email"],
            "properties": {"title": {"type": "string", "minLength": 3}, "email": {"type": "string", "format": "email"}, "n": {"type": "integer"}}
        }))
        .unwrap();
        let problems = schema.validate(&json!({"title": "x", "n": "five"})).unwrap_err();
        let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert!(pointers.contains(&"/title"), "{problems:?}");
        assert!(pointers.contains(&"/email"), "{problems:?}");
        assert!(pointers.contains(&"/n"), "{problems:?}");
        assert!(schema.validate(&json!({"title": "abc", "email": "a@b.co"})).is_ok());
    }

    #[test]
    fn formats_are_asserted() {
        let schema = Schema::compile(&json!({"type": "string", "format": "date"})).unwrap();
        assert!(schema.validate(&json!("2026-11-22")).is_ok());
        assert!(schema.validate(&json!("22/11/2026")).is_err());
    }

    #[test]
    fn declares_walks_nested_properties() {
        let schema = Schema::compile(&json!({
            "type": "object",
            "properties": {"a": {"type": "object", "properties": {"b": {}}}, "free": {"type": "object"}}
        }))
        .unwrap();
        assert_eq!(schema.declares(["a", "b"]), Declared::Yes);
        assert_eq!(schema.declares(["a", "c"]), Declared::No);
        assert_eq!(schema.declares(["z"]), Declared::No);
        assert_eq!(schema.declares(["free", "x"]), Declared::Unknown);
        assert_eq!(schema.property_names(), vec!["a", "free"]);
    }

    #[test]
    fn properties_declared_through_composition_are_not_called_undeclared() {
        let schema = Schema::compile(&json!({
            "type": "object",
            "properties": {"a": {}},
            "allOf": [{"properties": {"b": {}}}],
            "$defs": {"x": {"properties": {"c": {}}}}
        }))
        .unwrap();
        assert_eq!(schema.declares(["a"]), Declared::Yes);
        assert_eq!(schema.declares(["b"]), Declared::Unknown);
        let schema = Schema::compile(&json!({"type": "object", "properties": {"a": {}}, "$defs": {}})).unwrap();
        assert_eq!(schema.declares(["b"]), Declared::No, "$defs alone declares nothing here");
    }
}
