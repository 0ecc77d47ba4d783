//! Conditions: MongoDB query documents over JSON.
//!
//! Transition `when` and trigger `filter` are query documents in the subset of
//! MongoDB's language listed in SPEC §2.1. [`Condition::compile`] checks one
//! (unknown operators, malformed operands, bad regexes — every problem with a
//! JSON Pointer) and [`Condition::matches`] evaluates it with MongoDB's rules:
//!
//! - a dotted path walks into objects and, when it meets an array, into each
//!   element that is an object; elements that are scalars or arrays are skipped
//!   (so `{"a.b": null}` does not match `{a: [1, 2]}`); a numeric segment also
//!   indexes the array;
//! - a test on a field holding an array matches when the array itself or any
//!   element matches (`$size`, `$all`'s array form and `$elemMatch` look at the
//!   array itself); a value picked by a numeric index, and an element tested
//!   inside `$elemMatch`, is taken whole: its own elements are not looked at;
//! - `$elemMatch` with a query tests elements that are objects, and elements that
//!   are arrays as objects whose fields are `"0"`, `"1"`, …;
//! - a missing field equals `null`, so `{a: null}`, `{a: {$in: [null]}}` and
//!   `{a: {$ne: 1}}` match documents without `a`;
//! - numbers compare by value whatever their type (`1` equals `1.0`);
//! - `$gt`/`$gte`/`$lt`/`$lte` only compare values of the same type class
//!   ("type bracketing"): `{a: {$gt: 1}}` never matches a string;
//! - embedded documents are equal only with the same fields in the same order.
//!
//! No crate implements this correctly today (see research/rust-deps.md), so it
//! is written here.

mod words;

use crate::problem::{Problem, pointer_push};
use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};
use std::cmp::Ordering;
pub use words::in_words;

/// Where a condition reads its fields from. The engine's context
/// `{data, ticket, output, instance}` implements it without being copied.
pub trait Document {
    fn field(&self, name: &str) -> Option<&Value>;
}

impl Document for Value {
    fn field(&self, name: &str) -> Option<&Value> {
        self.as_object()?.get(name)
    }
}

impl Document for Map<String, Value> {
    fn field(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// A compiled query document.
#[derive(Debug, Clone)]
pub struct Condition {
    clauses: Vec<Clause>,
}

#[derive(Debug, Clone)]
enum Clause {
    Field { path: Vec<String>, test: FieldTest },
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Nor(Vec<Condition>),
}

#[derive(Debug, Clone)]
enum FieldTest {
    Equals(Value),
    Operators(Vec<Operator>),
}

#[derive(Debug, Clone)]
enum Operator {
    Eq(Value),
    Ne(Value),
    Compare(Ordering, bool, Value),
    In(Vec<Value>),
    Nin(Vec<Value>),
    Exists(bool),
    Regex(Regex),
    Size(usize),
    All(Vec<AllItem>),
    ElemMatch(ElemMatch),
    Not(Vec<Operator>),
}

#[derive(Debug, Clone)]
enum AllItem {
    Equals(Value),
    ElemMatch(ElemMatch),
}

#[derive(Debug, Clone)]
enum ElemMatch {
    /// `{$elemMatch: {$gte: 80}}`: operators applied to each element.
    Operators(Vec<Operator>),
    /// `{$elemMatch: {product: "x"}}`: a query applied to each element that is an object.
    Query(Condition),
}

/// The operators this subset knows, for suggestions in error messages.
pub const OPERATORS: &[&str] = &[
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$regex",
    "$options",
    "$size",
    "$all",
    "$elemMatch",
    "$and",
    "$or",
    "$nor",
    "$not",
];

/// Largest compiled regex accepted, so a hostile pattern cannot take the memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Condition {
    /// Compiles a query document. Problems carry pointers relative to the document.
    pub fn compile(query: &Value) -> Result<Self, Vec<Problem>> {
        let mut problems = Vec::new();
        let condition = compile_query(query, "", &mut problems);
        if problems.is_empty() { Ok(condition) } else { Err(problems) }
    }

    /// The condition that always holds (an empty query document).
    pub fn always() -> Self {
        Self { clauses: Vec::new() }
    }

    pub fn matches(&self, document: &(impl Document + ?Sized)) -> bool {
        self.clauses.iter().all(|clause| clause.matches(document))
    }

    /// Every field path the condition reads, as dotted strings (for "undeclared field" checks).
    pub fn field_paths(&self) -> Vec<String> {
        let mut paths = Vec::new();
        self.collect_paths(&mut paths);
        paths
    }

    fn collect_paths(&self, out: &mut Vec<String>) {
        for clause in &self.clauses {
            match clause {
                Clause::Field { path, .. } => out.push(path.join(".")),
                Clause::And(list) | Clause::Or(list) | Clause::Nor(list) => {
                    list.iter().for_each(|c| c.collect_paths(out));
                }
            }
        }
    }
}

fn compile_query(query: &Value, pointer: &str, problems: &mut Vec<Problem>) -> Condition {
    let Some(map) = query.as_object() else {
        problems.push(Problem::error(
            pointer,
            format!("a condition must be an object like {{\"data.status\": \"open\"}}, not {}", describe(query)),
        ));
        return Condition::always();
    };
    let mut clauses = Vec::with_capacity(map.len());
    for (key, operand) in map {
        let at = pointer_push(pointer, key);
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                let list = compile_query_list(key, operand, &at, problems);
                clauses.push(match key.as_str() {
                    "$and" => Clause::And(list),
                    "$or" => Clause::Or(list),
                    _ => Clause::Nor(list),
                });
            }
            _ if key.starts_with('$') => problems.push(Problem::error(
                at,
                format!(
                    "unknown top-level operator {key}; only $and, $or and $nor may stand at the top, other operators go inside a field like {{\"data.x\": {{\"$gt\": 1}}}}{}",
                    suggest(key)
                ),
            )),
            _ => match parse_path(key) {
                Ok(path) => {
                    let test = compile_field_test(operand, &at, problems);
                    clauses.push(Clause::Field { path, test });
                }
                Err(message) => problems.push(Problem::error(at, message)),
            },
        }
    }
    Condition { clauses }
}

fn compile_query_list(operator: &str, operand: &Value, pointer: &str, problems: &mut Vec<Problem>) -> Vec<Condition> {
    match operand.as_array() {
        Some(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(index, item)| compile_query(item, &pointer_push(pointer, index), problems))
            .collect(),
        _ => {
            problems.push(Problem::error(
                pointer,
                format!(
                    "{operator} takes a non-empty array of conditions, like [{{\"data.a\": 1}}, {{\"data.b\": 2}}]"
                ),
            ));
            Vec::new()
        }
    }
}

fn parse_path(key: &str) -> Result<Vec<String>, String> {
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(format!("\"{key}\" is not a field path; write dotted names like \"data.customer.email\""));
    }
    Ok(key.split('.').map(str::to_owned).collect())
}

fn is_operator_object(value: &Value) -> bool {
    value.as_object().and_then(|map| map.keys().next()).is_some_and(|key| key.starts_with('$'))
}

fn compile_field_test(operand: &Value, pointer: &str, problems: &mut Vec<Problem>) -> FieldTest {
    if is_operator_object(operand) {
        FieldTest::Operators(compile_operators(operand, pointer, problems))
    } else {
        FieldTest::Equals(operand.clone())
    }
}

fn compile_operators(operand: &Value, pointer: &str, problems: &mut Vec<Problem>) -> Vec<Operator> {
    let Some(map) = operand.as_object() else {
        return Vec::new();
    };
    let mut operators = Vec::with_capacity(map.len());
    for (key, value) in map {
        let at = pointer_push(pointer, key);
        let operator = match key.as_str() {
            "$eq" => Some(Operator::Eq(value.clone())),
            "$ne" => Some(Operator::Ne(value.clone())),
            "$gt" => Some(Operator::Compare(Ordering::Greater, false, value.clone())),
            "$gte" => Some(Operator::Compare(Ordering::Greater, true, value.clone())),
            "$lt" => Some(Operator::Compare(Ordering::Less, false, value.clone())),
            "$lte" => Some(Operator::Compare(Ordering::Less, true, value.clone())),
            "$in" | "$nin" => match value.as_array() {
                Some(items) => {
                    let nested = items
                        .iter()
                        .enumerate()
                        .filter(|(_, item)| is_operator_object(item))
                        .map(|(index, _)| {
                            Problem::error(
                                pointer_push(&at, index),
                                format!(
                                    "{key} takes plain values; an operator like {{\"$gt\": 1}} cannot go inside it"
                                ),
                            )
                        })
                        .collect::<Vec<_>>();
                    if nested.is_empty() {
                        Some(if key == "$in" { Operator::In(items.clone()) } else { Operator::Nin(items.clone()) })
                    } else {
                        problems.extend(nested);
                        None
                    }
                }
                None => {
                    problems.push(Problem::error(at, format!("{key} takes an array of values, like [\"a\", \"b\"]")));
                    None
                }
            },
            "$exists" => match value {
                Value::Bool(flag) => Some(Operator::Exists(*flag)),
                Value::Number(number) => Some(Operator::Exists(number.as_f64() != Some(0.0))),
                _ => {
                    problems.push(Problem::error(at, "$exists takes true or false"));
                    None
                }
            },
            "$regex" => compile_regex(value, map.get("$options"), &at, problems).map(Operator::Regex),
            "$options" => {
                if map.contains_key("$regex") {
                    if let Err(message) = regex_flags(value) {
                        problems.push(Problem::error(at, message));
                    }
                } else {
                    problems.push(Problem::error(at, "$options only goes beside $regex in the same object"));
                }
                None
            }
            "$size" => match value
                .as_u64()
                .or_else(|| value.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
            {
                Some(size) => Some(Operator::Size(usize::try_from(size).unwrap_or(usize::MAX))),
                None => {
                    problems.push(Problem::error(at, "$size takes a whole number of at least 0, like 2"));
                    None
                }
            },
            "$all" => match value.as_array() {
                Some(items) => compile_all(items, &at, problems).map(Operator::All),
                None => {
                    problems.push(Problem::error(at, "$all takes an array of values"));
                    None
                }
            },
            "$elemMatch" => Some(Operator::ElemMatch(compile_elem_match(value, &at, problems))),
            "$not" => {
                if is_operator_object(value) {
                    Some(Operator::Not(compile_operators(value, &at, problems)))
                } else {
                    problems.push(Problem::error(
                        at,
                        "$not takes an object of operators, like {\"$gt\": 5} or {\"$regex\": \"^a\"}",
                    ));
                    None
                }
            }
            _ if key.starts_with('$') => {
                problems.push(Problem::error(at, format!("unknown operator {key}{}", suggest(key))));
                None
            }
            _ => {
                problems.push(Problem::error(
                    at,
                    format!(
                        "\"{key}\" is not an operator; an object that starts with an operator may only hold operators (to compare with a whole object, put it under $eq)"
                    ),
                ));
                None
            }
        };
        operators.extend(operator);
    }
    operators
}

/// `$all`'s items: plain values, or (all of them) `{"$elemMatch": …}` objects, as MongoDB requires.
fn compile_all(items: &[Value], pointer: &str, problems: &mut Vec<Problem>) -> Option<Vec<AllItem>> {
    let elem_match_form = items.first().is_some_and(is_elem_match_item);
    let before = problems.len();
    let mut compiled = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let at = pointer_push(pointer, index);
        if elem_match_form {
            match item.as_object().and_then(|map| map.get("$elemMatch")) {
                Some(inner) if is_elem_match_item(item) => {
                    let inner_at = pointer_push(&at, "$elemMatch");
                    compiled.push(AllItem::ElemMatch(compile_elem_match(inner, &inner_at, problems)));
                }
                _ => problems.push(Problem::error(
                    at,
                    "$all starts with {\"$elemMatch\": …}, so every item must be one; put plain values in a separate $all",
                )),
            }
        } else if is_operator_object(item) {
            problems.push(Problem::error(
                at,
                if is_elem_match_item(item) {
                    "$all mixes values and {\"$elemMatch\": …}; use one form for every item"
                } else {
                    "$all takes plain values (or only {\"$elemMatch\": …} items); an operator cannot go inside it"
                },
            ));
        } else {
            compiled.push(AllItem::Equals(item.clone()));
        }
    }
    (problems.len() == before).then_some(compiled)
}

fn is_elem_match_item(item: &Value) -> bool {
    item.as_object().is_some_and(|map| map.len() == 1 && map.contains_key("$elemMatch"))
}

fn compile_elem_match(value: &Value, pointer: &str, problems: &mut Vec<Problem>) -> ElemMatch {
    let first_key = value.as_object().and_then(|map| map.keys().next());
    match first_key {
        None if !value.is_object() => {
            problems.push(Problem::error(
                pointer,
                "$elemMatch takes an object: operators like {\"$gt\": 5} or a query like {\"sku\": \"A1\"}",
            ));
            ElemMatch::Query(Condition::always())
        }
        Some(key) if key.starts_with('$') && !matches!(key.as_str(), "$and" | "$or" | "$nor") => {
            ElemMatch::Operators(compile_operators(value, pointer, problems))
        }
        _ => ElemMatch::Query(compile_query(value, pointer, problems)),
    }
}

fn compile_regex(
    pattern: &Value,
    options: Option<&Value>,
    pointer: &str,
    problems: &mut Vec<Problem>,
) -> Option<Regex> {
    let Some(pattern) = pattern.as_str() else {
        problems.push(Problem::error(pointer, "$regex takes a string pattern"));
        return None;
    };
    // Bad options are reported at `$options` itself; the pattern is still checked.
    let (flags, options_valid) = match options.map(regex_flags) {
        None => ("", true),
        Some(Ok(flags)) => (flags, true),
        Some(Err(_)) => ("", false),
    };
    let mut builder = RegexBuilder::new(pattern);
    builder.size_limit(REGEX_SIZE_LIMIT);
    for flag in flags.chars() {
        match flag {
            'i' => builder.case_insensitive(true),
            'm' => builder.multi_line(true),
            's' => builder.dot_matches_new_line(true),
            'x' => builder.ignore_whitespace(true),
            // MongoDB accepts `u` as redundant: patterns are always Unicode, as here.
            _ => &mut builder,
        };
    }
    match builder.build() {
        Ok(regex) => options_valid.then_some(regex),
        Err(error) => {
            problems.push(Problem::error(pointer, format!("the regular expression does not compile: {error}")));
            None
        }
    }
}

/// The flags of `$options`, or why they are not valid.
fn regex_flags(options: &Value) -> Result<&str, String> {
    let Some(flags) = options.as_str() else {
        return Err("$options takes a string like \"i\"".to_owned());
    };
    match flags.chars().find(|flag| !matches!(flag, 'i' | 'm' | 's' | 'x' | 'u')) {
        Some(other) => {
            Err(format!("unknown regex option '{other}'; use any of i, m, s, x (and u, which changes nothing)"))
        }
        None => Ok(flags),
    }
}

/// " (did you mean $x?)" when an operator is a near miss of a known one.
fn suggest(word: &str) -> String {
    crate::definition::closest(word, OPERATORS.iter().copied())
        .map(|best| format!("; did you mean {best}?"))
        .unwrap_or_default()
}

use crate::problem::describe;

// ---- evaluation ----

impl Clause {
    fn matches(&self, document: &(impl Document + ?Sized)) -> bool {
        match self {
            Clause::Field { path, test } => {
                let mut reached = Vec::new();
                match document.field(&path[0]) {
                    Some(value) => resolve(value, &path[1..], &mut reached),
                    None => reached.push(Reached::MISSING),
                }
                test.matches(&reached)
            }
            Clause::And(list) => list.iter().all(|c| c.matches(document)),
            Clause::Or(list) => list.iter().any(|c| c.matches(document)),
            Clause::Nor(list) => !list.iter().any(|c| c.matches(document)),
        }
    }
}

/// One place a path reaches in a document.
#[derive(Debug, Clone, Copy)]
struct Reached<'v> {
    /// `None` where the field is missing.
    value: Option<&'v Value>,
    /// Whether a test also looks at the elements when the value is an array: yes
    /// where a path ends on a field, no for a value picked by a numeric index or
    /// an element tested inside `$elemMatch` (MongoDB takes those whole).
    elements: bool,
}

impl<'v> Reached<'v> {
    const MISSING: Self = Self { value: None, elements: true };

    fn field(value: &'v Value) -> Self {
        Self { value: Some(value), elements: true }
    }

    fn whole(value: &'v Value) -> Self {
        Self { value: Some(value), elements: false }
    }

    /// True when `test` holds for the value, or for one of its elements if it
    /// is an array whose elements count; false where the field is missing.
    fn any(&self, test: impl Fn(&Value) -> bool) -> bool {
        self.value.is_some_and(|value| {
            test(value) || (self.elements && value.as_array().is_some_and(|items| items.iter().any(&test)))
        })
    }
}

/// Collects the places a path reaches, MongoDB's way: through objects, and
/// through arrays into each element that is an object (elements that are
/// scalars or arrays hold no fields and are skipped); a numeric segment also
/// picks that element of an array.
fn resolve<'v>(value: &'v Value, rest: &[String], out: &mut Vec<Reached<'v>>) {
    let Some((segment, tail)) = rest.split_first() else {
        out.push(Reached::field(value));
        return;
    };
    match value {
        Value::Object(map) => match map.get(segment) {
            Some(child) => resolve(child, tail, out),
            None => out.push(Reached::MISSING),
        },
        Value::Array(items) => {
            for item in items {
                if let Value::Object(map) = item {
                    match map.get(segment) {
                        Some(child) => resolve(child, tail, out),
                        None => out.push(Reached::MISSING),
                    }
                }
            }
            if let Some(item) = array_index(segment).and_then(|index| items.get(index)) {
                match (item, tail.is_empty()) {
                    (_, true) => out.push(Reached::whole(item)),
                    (Value::Object(_) | Value::Array(_), false) => resolve(item, tail, out),
                    // A scalar has no fields: nothing is reached.
                    _ => {}
                }
            }
        }
        _ => out.push(Reached::MISSING),
    }
}

/// A path segment as an array index: digits only, without leading zeros, the
/// way MongoDB names array elements ("0", "1", …).
fn array_index(segment: &str) -> Option<usize> {
    let canonical = !segment.is_empty()
        && segment.bytes().all(|byte| byte.is_ascii_digit())
        && (segment == "0" || !segment.starts_with('0'));
    if canonical { segment.parse().ok() } else { None }
}

/// An array seen as a document whose fields are its indexes, the way
/// `$elemMatch` with a query sees an element that is an array.
struct Elements<'v>(&'v [Value]);

impl Document for Elements<'_> {
    fn field(&self, name: &str) -> Option<&Value> {
        array_index(name).and_then(|index| self.0.get(index))
    }
}

impl FieldTest {
    fn matches(&self, reached: &[Reached]) -> bool {
        match self {
            FieldTest::Equals(expected) => equals_any(reached, expected),
            FieldTest::Operators(operators) => operators.iter().all(|op| op.matches(reached)),
        }
    }
}

impl Operator {
    fn matches(&self, reached: &[Reached]) -> bool {
        match self {
            Operator::Eq(expected) => equals_any(reached, expected),
            Operator::Ne(expected) => !equals_any(reached, expected),
            Operator::Compare(direction, or_equal, bound) => reached.iter().any(|place| {
                if place.value.is_none() {
                    // Missing compares as null: only `$gte: null` and `$lte: null` hold.
                    return *or_equal && bound.is_null();
                }
                place.any(|value| {
                    same_class(value, bound) && {
                        let order = compare_values(value, bound);
                        order == *direction || (*or_equal && order == Ordering::Equal)
                    }
                })
            }),
            Operator::In(items) => items.iter().any(|item| equals_any(reached, item)),
            Operator::Nin(items) => !items.iter().any(|item| equals_any(reached, item)),
            Operator::Exists(wanted) => reached.iter().any(|place| place.value.is_some()) == *wanted,
            Operator::Regex(regex) => {
                reached.iter().any(|place| place.any(|value| value.as_str().is_some_and(|text| regex.is_match(text))))
            }
            Operator::Size(size) => reached
                .iter()
                .any(|place| place.value.and_then(Value::as_array).is_some_and(|items| items.len() == *size)),
            Operator::All(items) => {
                !items.is_empty()
                    && items.iter().all(|item| match item {
                        AllItem::Equals(expected) => equals_any(reached, expected),
                        AllItem::ElemMatch(elem) => elem.matches_any(reached),
                    })
            }
            Operator::ElemMatch(elem) => elem.matches_any(reached),
            Operator::Not(operators) => !operators.iter().all(|op| op.matches(reached)),
        }
    }
}

impl ElemMatch {
    /// True when a reached value is an array with an element matching everything.
    fn matches_any(&self, reached: &[Reached]) -> bool {
        reached.iter().any(|place| {
            place
                .value
                .and_then(Value::as_array)
                .is_some_and(|items| items.iter().any(|item| self.matches_element(item)))
        })
    }

    fn matches_element(&self, item: &Value) -> bool {
        match self {
            ElemMatch::Operators(operators) => {
                let single = [Reached::whole(item)];
                operators.iter().all(|op| op.matches(&single))
            }
            ElemMatch::Query(query) => match item {
                Value::Object(map) => query.matches(map),
                Value::Array(items) => query.matches(&Elements(items)),
                _ => false,
            },
        }
    }
}

/// MongoDB equality of a field with a value: missing equals null; an array field
/// matches when it equals the value or holds an element equal to it.
fn equals_any(reached: &[Reached], expected: &Value) -> bool {
    reached.iter().any(|place| match place.value {
        None => expected.is_null(),
        Some(_) => place.any(|value| mongo_equal(value, expected)),
    })
}

/// Equality with numbers by value and objects by ordered fields.
pub fn mongo_equal(a: &Value, b: &Value) -> bool {
    compare_values(a, b) == Ordering::Equal && same_class(a, b)
}

/// The canonical rank of a JSON type in MongoDB's comparison order
/// (null < numbers < strings < objects < arrays < booleans).
fn type_rank(value: &Value) -> u8 {
    match value {
        Value::Null => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Object(_) => 4,
        Value::Array(_) => 5,
        Value::Bool(_) => 8,
    }
}

fn same_class(a: &Value, b: &Value) -> bool {
    type_rank(a) == type_rank(b)
}

/// MongoDB's total order over JSON values: by type rank, then by value.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Array(x), Value::Array(y)) => {
            for (left, right) in x.iter().zip(y) {
                let order = compare_values(left, right);
                if order != Ordering::Equal {
                    return order;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => {
            for ((left_key, left), (right_key, right)) in x.iter().zip(y) {
                let order = type_rank(left)
                    .cmp(&type_rank(right))
                    .then_with(|| left_key.cmp(right_key))
                    .then_with(|| compare_values(left, right));
                if order != Ordering::Equal {
                    return order;
                }
            }
            x.len().cmp(&y.len())
        }
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

fn compare_numbers(x: &serde_json::Number, y: &serde_json::Number) -> Ordering {
    if let (Some(a), Some(b)) = (x.as_i64(), y.as_i64()) {
        return a.cmp(&b);
    }
    if let (Some(a), Some(b)) = (x.as_u64(), y.as_u64()) {
        return a.cmp(&b);
    }
    // One is a negative i64, the other a u64 beyond i64::MAX.
    if x.is_i64() && y.is_u64() {
        return Ordering::Less;
    }
    if x.is_u64() && y.is_i64() {
        return Ordering::Greater;
    }
    let (a, b) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}
#[cfg(test)]
mod tests;
