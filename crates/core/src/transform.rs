//! Transforms: objects of `target path → JSONPath query or literal` (SPEC §2.1).
//!
//! A value that is a string starting with `$` is an RFC 9535 JSONPath query
//! (evaluated by `serde_json_path`); `{"$literal": x}` is the literal `x`; any
//! other value is itself a literal. A query with one match yields that value,
//! with none the target is absent, with several an array of the matches.
//!
//! Queries that begin with a member of the context (`$.data.…`) are compiled
//! against that member directly, so evaluating an `input` transform does not
//! copy the workflow data into a context object first.

use crate::condition::Document;
use crate::path::FieldPath;
use crate::problem::{Problem, pointer_push};
use serde_json::{Map, Value};
use serde_json_path::JsonPath;

/// A compiled transform.
#[derive(Debug, Clone, Default)]
pub struct Transform {
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    target: FieldPath,
    source: Source,
}

#[derive(Debug, Clone)]
enum Source {
    Query(Query),
    Literal(Value),
}

/// One compiled JSONPath query.
#[derive(Debug, Clone)]
pub struct Query {
    text: String,
    /// When the query starts with `$.name`, the member name and the query for the rest.
    member: Option<(String, JsonPath)>,
    whole: JsonPath,
}

/// One change a transform made to the workflow data.
#[derive(Debug, Clone, PartialEq)]
pub struct DataWrite {
    pub path: FieldPath,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl Query {
    pub fn parse(text: &str) -> Result<Self, String> {
        let whole =
            JsonPath::parse(text).map_err(|error| format!("\"{text}\" is not a JSONPath query (RFC 9535): {error}"))?;
        let member = split_member(text)
            .and_then(|(name, rest)| JsonPath::parse(&format!("${rest}")).ok().map(|path| (name.to_owned(), path)));
        Ok(Self { text: text.to_owned(), member, whole })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The leading member names of a query like `$.data.address['city']`, as far as they are plain names.
    pub fn leading_names(&self) -> Vec<String> {
        leading_names(&self.text)
    }

    /// Evaluates against `root`: one match gives it, none gives `None`, several an array.
    pub fn evaluate<D: Document + ?Sized>(&self, root: &D, whole: impl FnOnce() -> Value) -> Option<Value> {
        let nodes = match &self.member {
            Some((name, rest)) => match root.field(name) {
                Some(member) => rest.query(member).all(),
                None => Vec::new(),
            },
            None => return collect(self.whole.query(&whole()).all()),
        };
        collect(nodes)
    }

    /// Evaluates against a plain value as the root.
    pub fn evaluate_on(&self, root: &Value) -> Option<Value> {
        collect(self.whole.query(root).all())
    }
}

fn collect(nodes: Vec<&Value>) -> Option<Value> {
    match nodes.as_slice() {
        [] => None,
        [one] => Some((*one).clone()),
        many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect())),
    }
}

/// `$.name.rest` or `$.name[...]` → (name, ".rest" / "[...]"); `$.name` → (name, "").
fn split_member(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix("$.")?;
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
    let (name, tail) = rest.split_at(end);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    if tail.is_empty() || (tail.starts_with('.') && !tail.starts_with("..")) || tail.starts_with('[') {
        Some((name, tail))
    } else {
        None
    }
}

fn leading_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = match text.strip_prefix('$') {
        Some(rest) => rest,
        None => return names,
    };
    loop {
        if let Some(tail) = rest.strip_prefix('.') {
            if tail.starts_with('.') || tail.starts_with('*') {
                break;
            }
            let end = tail.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(tail.len());
            if end == 0 {
                break;
            }
            names.push(tail[..end].to_owned());
            rest = &tail[end..];
        } else if let Some(tail) = rest.strip_prefix("['") {
            match tail.find("']") {
                Some(end) if !tail[..end].contains(['\'', '\\']) => {
                    names.push(tail[..end].to_owned());
                    rest = &tail[end + 2..];
                }
                _ => break,
            }
        } else {
            break;
        }
    }
    names
}

impl Transform {
    /// Compiles a transform object; every bad target or query is a problem.
    pub fn compile(value: &Value) -> Result<Self, Vec<Problem>> {
        let Some(map) = value.as_object() else {
            return Err(vec![Problem::error(
                "",
                "a transform is an object of target: \"$.json.path\" (or a literal value)",
            )]);
        };
        let mut problems = Vec::new();
        let mut entries = Vec::with_capacity(map.len());
        for (key, source) in map {
            let at = pointer_push("", key);
            let target = match FieldPath::parse(key) {
                Ok(target) => target,
                Err(message) => {
                    problems.push(Problem::error(&at, message));
                    continue;
                }
            };
            let source = match source {
                Value::String(text) if text.starts_with('$') => {
                    match Query::parse(text) {
                        Ok(query) => Source::Query(query),
                        Err(message) => {
                            problems.push(Problem::error(&at, format!("{message}; a literal string that starts with $ is written {{\"$literal\": \"{text}\"}}")));
                            continue;
                        }
                    }
                }
                Value::Object(inner) if inner.contains_key("$literal") => {
                    if inner.len() != 1 {
                        problems.push(Problem::error(&at, "{\"$literal\": ...} must be the only key of its object"));
                        continue;
                    }
                    Source::Literal(inner["$literal"].clone())
                }
                literal => Source::Literal(literal.clone()),
            };
            entries.push(Entry { target, source });
        }
        if problems.is_empty() { Ok(Self { entries }) } else { Err(problems) }
    }

    /// The identity-like transform that copies each named field from the root to the same name.
    pub fn copy_fields<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let entries = names
            .into_iter()
            .filter_map(|name| {
                let target = FieldPath::parse(name).ok()?;
                let query = Query::parse(&format!("$['{}']", name.replace('\\', "\\\\").replace('\'', "\\'"))).ok()?;
                Some(Entry { target, source: Source::Query(query) })
            })
            .collect();
        Self { entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Target paths, in order.
    pub fn targets(&self) -> impl Iterator<Item = &FieldPath> {
        self.entries.iter().map(|entry| &entry.target)
    }

    /// (target, query) pairs for the entries that are queries.
    pub fn queries(&self) -> impl Iterator<Item = (&FieldPath, &Query)> {
        self.entries.iter().filter_map(|entry| match &entry.source {
            Source::Query(query) => Some((&entry.target, query)),
            Source::Literal(_) => None,
        })
    }

    /// Builds a new object from `root` (a context whose members may be queried directly).
    pub fn build<D: Document + ?Sized>(&self, root: &D, whole: impl Fn() -> Value) -> Value {
        let mut out = Value::Object(Map::new());
        for entry in &self.entries {
            let value = match &entry.source {
                Source::Query(query) => query.evaluate(root, &whole),
                Source::Literal(literal) => Some(literal.clone()),
            };
            if let Some(value) = value {
                entry.target.set(&mut out, value);
            }
        }
        out
    }

    /// Builds a new object from a plain root value.
    pub fn build_from(&self, root: &Value) -> Value {
        self.build(root, || root.clone())
    }

    /// Applies the output-ownership rule: every target is set from `output`, or
    /// removed when the output has no value for it. Returns the changes made.
    pub fn apply(&self, output: &Value, data: &mut Value) -> Vec<DataWrite> {
        let mut writes = Vec::new();
        for entry in &self.entries {
            let new = match &entry.source {
                Source::Query(query) => query.evaluate_on(output),
                Source::Literal(literal) => Some(literal.clone()),
            };
            let old = entry.target.get(data);
            if old == new.as_ref() {
                continue;
            }
            let old = old.cloned();
            match &new {
                Some(value) => {
                    entry.target.set(data, value.clone());
                }
                None => {
                    entry.target.remove(data);
                }
            }
            writes.push(DataWrite { path: entry.target.clone(), old, new });
        }
        writes
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn transform(value: Value) -> Transform {
        Transform::compile(&value).unwrap()
    }

    #[test]
    fn one_match_gives_the_value_none_gives_absence_several_an_array() {
        let t = transform(json!({"one": "$.a", "none": "$.missing", "many": "$.items[*].id"}));
        let out = t.build_from(&json!({"a": 1, "items": [{"id": 1}, {"id": 2}]}));
        assert_eq!(out, json!({"one": 1, "many": [1, 2]}));
    }

    #[test]
    fn literals_and_dollar_literals() {
        let t = transform(json!({"n": 5, "s": "plain", "price": {"$literal": "$5"}, "obj": {"k": "$.not_a_query"}}));
        let out = t.build_from(&json!({}));
        assert_eq!(out, json!({"n": 5, "s": "plain", "price": "$5", "obj": {"k": "$.not_a_query"}}));
    }

    #[test]
    fn dotted_targets_nest() {
        let t = transform(json!({"customer.name": "$.name"}));
        assert_eq!(t.build_from(&json!({"name": "Ann"})), json!({"customer": {"name": "Ann"}}));
    }

    #[test]
    fn member_queries_read_the_member_without_building_the_context() {
        let t = transform(json!({"title": "$.data.title", "first": "$.data.items[0]", "all": "$.data"}));
        let context = json!({"data": {"title": "T", "items": [7, 8]}});
        let out = t.build(&context, || panic!("the whole context was not needed"));
        assert_eq!(out, json!({"title": "T", "first": 7, "all": {"title": "T", "items": [7, 8]}}));
    }

    #[test]
    fn filter_queries_fall_back_to_the_whole_context() {
        let t = transform(json!({"big": "$..price"}));
        let context = json!({"data": {"a": {"price": 3}}});
        assert_eq!(t.build(&context, || context.clone()), json!({"big": 3}));
    }

    #[test]
    fn apply_sets_and_removes_owned_targets_and_reports_changes() {
        let t = transform(json!({"questions": "$.questions", "doc": "$.updated_doc"}));
        let mut data = json!({"questions": "why?", "doc": "v1", "other": 1});
        let writes = t.apply(&json!({"updated_doc": "v2"}), &mut data);
        assert_eq!(data, json!({"doc": "v2", "other": 1}));
        assert_eq!(writes.len(), 2);
        assert_eq!(writes[0].old, Some(json!("why?")));
        assert_eq!(writes[0].new, None);
        assert_eq!(writes[1].new, Some(json!("v2")));
        assert!(t.apply(&json!({"updated_doc": "v2"}), &mut data).is_empty(), "unchanged fields write nothing");
    }

    #[test]
    fn bad_queries_and_targets_are_all_reported() {
        let problems =
            Transform::compile(&json!({"a": "$.[", "": "$.x", "b..c": 1, "d": {"$literal": 1, "x": 2}})).unwrap_err();
        let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers, vec!["/a", "/", "/b..c", "/d"]);
        assert!(problems[0].message.contains("$literal"));
    }

    #[test]
    fn leading_names_stop_at_the_first_non_name() {
        let names = |q: &str| Query::parse(q).unwrap().leading_names();
        assert_eq!(names("$.data.address['city'].x"), vec!["data", "address", "city", "x"]);
        assert_eq!(names("$.data.items[0].id"), vec!["data", "items"]);
        assert_eq!(names("$..x"), Vec::<String>::new());
        assert_eq!(names("$"), Vec::<String>::new());
    }

    #[test]
    fn copy_fields_handles_awkward_names() {
        let t = Transform::copy_fields(["it's", "a b"]);
        assert_eq!(t.build_from(&json!({"it's": 1, "a b": 2, "c": 3})), json!({"it's": 1, "a b": 2}));
    }
}
