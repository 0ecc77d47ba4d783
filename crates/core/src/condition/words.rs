//! Conditions in words, for people reviewing a workflow.
//!
//! `{"data.questions": {"$exists": true}}` reads as "data.questions exists".
//! The diagram labels its arrows this way; the exact query document stays in
//! the tooltip and on the transition's page. Anything this does not know how
//! to say (an unknown operator, `$elemMatch` with a query) is shown as compact
//! JSON, so nothing is ever left out.

use serde_json::{Map, Value};

/// A query document as one line of words. Clauses join with "and"; `$or` and
/// `$nor` are bracketed.
pub fn in_words(query: &Value) -> String {
    match query {
        Value::Object(clauses) if clauses.is_empty() => "always".to_owned(),
        Value::Object(clauses) => all(clauses),
        other => other.to_string(),
    }
}

fn all(clauses: &Map<String, Value>) -> String {
    let parts: Vec<String> = clauses.iter().map(|(key, value)| clause(key, value)).collect();
    parts.join(" and ")
}

fn clause(key: &str, value: &Value) -> String {
    match (key, value) {
        ("$and", Value::Array(items)) => group(items, " and "),
        ("$or", Value::Array(items)) => group(items, " or "),
        ("$nor", Value::Array(items)) => format!("not {}", group(items, " or ")),
        (operator, _) if operator.starts_with('$') => json_clause(key, value),
        (path, Value::Object(operators)) if is_operator_object(operators) => tests(path, operators),
        (path, value) => format!("{path} = {}", value),
    }
}

/// Sub-queries joined by `joiner`, in brackets when there is more than one.
fn group(items: &[Value], joiner: &str) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| {
            let text = in_words(item);
            match item {
                Value::Object(clauses) if clauses.len() > 1 => format!("({text})"),
                _ => text,
            }
        })
        .collect();
    match parts.len() {
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => format!("({})", parts.join(joiner)),
    }
}

/// An object whose keys all start with `$` holds operators; any other object
/// is a value to compare with (MongoDB's rule).
fn is_operator_object(object: &Map<String, Value>) -> bool {
    !object.is_empty() && object.keys().all(|key| key.starts_with('$'))
}

/// Every operator on one field, joined with "and"; `$options` goes with its `$regex`.
fn tests(path: &str, operators: &Map<String, Value>) -> String {
    let options = match (operators.get("$regex"), operators.get("$options")) {
        (Some(_), Some(Value::String(options))) => Some(options.as_str()),
        _ => None,
    };
    let tests: Vec<String> = operators
        .iter()
        .filter(|(operator, _)| !(options.is_some() && *operator == "$options"))
        .map(|(operator, operand)| test(path, operator, operand, options.unwrap_or_default()))
        .collect();
    tests.join(" and ")
}

fn test(path: &str, operator: &str, operand: &Value, regex_options: &str) -> String {
    let symbol = match operator {
        "$eq" => Some("="),
        "$ne" => Some("≠"),
        "$gt" => Some(">"),
        "$gte" => Some("≥"),
        "$lt" => Some("<"),
        "$lte" => Some("≤"),
        _ => None,
    };
    if let Some(symbol) = symbol {
        return format!("{path} {symbol} {}", operand);
    }
    match (operator, operand) {
        ("$exists", Value::Bool(true)) => format!("{path} exists"),
        ("$exists", Value::Bool(false)) => format!("{path} does not exist"),
        ("$in", Value::Array(values)) => format!("{path} is one of {}", list(values)),
        ("$nin", Value::Array(values)) => format!("{path} is none of {}", list(values)),
        ("$all", Value::Array(values)) if values.iter().all(|v| !v.is_object()) => {
            format!("{path} has all of {}", list(values))
        }
        ("$size", Value::Number(n)) => format!("{path} has {n} item{}", if n.as_u64() == Some(1) { "" } else { "s" }),
        ("$regex", Value::String(pattern)) => format!("{path} matches /{pattern}/{regex_options}"),
        ("$not", Value::Object(operators)) if is_operator_object(operators) => {
            format!("not ({})", tests(path, operators))
        }
        _ => json_clause(path, &Value::Object(Map::from_iter([(operator.to_owned(), operand.clone())]))),
    }
}

fn json_clause(key: &str, value: &Value) -> String {
    Value::Object(Map::from_iter([(key.to_owned(), value.clone())])).to_string()
}

fn list(values: &[Value]) -> String {
    let items: Vec<String> = values.iter().map(Value::to_string).collect();
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::in_words;
    use serde_json::json;

    #[test]
    fn reads_each_operator_in_words() {
        let table = [
            (json!({}), "always"),
            (json!({"data.questions": {"$exists": true}}), "data.questions exists"),
            (
                json!({"data.updated_doc": {"$exists": true}, "data.questions": {"$exists": false}}),
                "data.updated_doc exists and data.questions does not exist",
            ),
            (json!({"data.decision": "approve"}), "data.decision = \"approve\""),
            (json!({"data.total": {"$gte": 100, "$lt": 500}}), "data.total ≥ 100 and data.total < 500"),
            (json!({"data.total": {"$gt": 1.5}}), "data.total > 1.5"),
            (json!({"data.total": {"$lte": 0}}), "data.total ≤ 0"),
            (json!({"data.kind": {"$ne": null}}), "data.kind ≠ null"),
            (json!({"data.kind": {"$eq": "a"}}), "data.kind = \"a\""),
            (json!({"data.kind": {"$in": ["a", "b"]}}), "data.kind is one of [\"a\", \"b\"]"),
            (json!({"data.kind": {"$nin": [1, 2]}}), "data.kind is none of [1, 2]"),
            (json!({"data.tags": {"$all": ["x", "y"]}}), "data.tags has all of [\"x\", \"y\"]"),
            (json!({"data.tags": {"$size": 1}}), "data.tags has 1 item"),
            (json!({"data.tags": {"$size": 3}}), "data.tags has 3 items"),
            (json!({"data.email": {"$regex": "@example\\.com$"}}), "data.email matches /@example\\.com$/"),
            (json!({"data.email": {"$regex": "^ann", "$options": "i"}}), "data.email matches /^ann/i"),
            (json!({"data.total": {"$not": {"$gt": 5}}}), "not (data.total > 5)"),
            (json!({"$or": [{"data.a": 1}, {"data.b": {"$exists": true}}]}), "(data.a = 1 or data.b exists)"),
            (
                json!({"$and": [{"data.a": 1, "data.b": 2}, {"data.c": 3}]}),
                "((data.a = 1 and data.b = 2) and data.c = 3)",
            ),
            (json!({"$nor": [{"data.a": 1}, {"data.b": 2}]}), "not (data.a = 1 or data.b = 2)"),
            (json!({"$or": [{"data.a": 1}]}), "data.a = 1"),
            // An embedded document is a value to compare with, not operators.
            (json!({"data.address": {"city": "Oslo"}}), "data.address = {\"city\":\"Oslo\"}"),
        ];
        for (query, expected) in table {
            assert_eq!(in_words(&query), expected, "{query}");
        }
    }

    #[test]
    fn what_it_cannot_say_stays_json() {
        assert_eq!(
            in_words(&json!({"data.tags": {"$elemMatch": {"name": "x"}}})),
            r#"{"data.tags":{"$elemMatch":{"name":"x"}}}"#
        );
        assert_eq!(in_words(&json!({"$where": "1"})), r#"{"$where":"1"}"#);
        // Options without a pattern are not dropped.
        assert_eq!(in_words(&json!({"data.a": {"$options": "i"}})), r#"{"data.a":{"$options":"i"}}"#);
        assert_eq!(in_words(&json!(true)), "true");
    }
}
