#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Loading and validating definition documents: one broken document per rule,
//! each problem asserted by pointer and severity; the examples; and property
//! tests that no input makes the reader, the validator or transforms panic.

use super::*;
use crate::document::{Syntax, parse};
use crate::problem::Severity::{self, Error as E, Warning as W};
use proptest::prelude::*;

/// A small valid workflow every case below breaks in one way.
const BASE: &str = r#"
format: ticketflower/v1
key: demo
title: Demo
roles: [editor]
fields:
  type: object
  properties:
    title: {type: string}
    note: {type: string}
    done: {type: boolean}
tickets:
  - key: request
    title: Request
    fields: {type: object, required: [title], properties: {title: {type: string}}}
tasks:
  - key: write
    title: Write
    type: form
    assign: {role: editor}
    input: {title: "$.data.title"}
    output_schema: {type: object, properties: {note: {type: string}, done: {type: boolean}}}
  - key: check
    title: Check
    type: approval
transitions:
  - {from: start, to: write}
  - {from: write, to: check}
  - {from: check, status: COMPLETED, when: {"output.decision": approved}}
  - {from: check, to: write, when: {"output.decision": rejected}}
"#;

fn base() -> Value {
    parse(BASE, Syntax::Yaml).unwrap()
}

/// Sets the value at `pointer`, creating the last member (or appending with `-`).
fn set(document: &mut Value, pointer: &str, value: Value) {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    let last = last.replace("~1", "/").replace("~0", "~");
    match document.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent} in the document")) {
        Value::Object(map) => {
            map.insert(last, value);
        }
        Value::Array(items) if last == "-" => items.push(value),
        Value::Array(items) => items[last.parse::<usize>().unwrap()] = value,
        other => panic!("{parent} is {other}"),
    }
}

fn remove(document: &mut Value, pointer: &str) {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    match document.pointer_mut(parent).unwrap() {
        Value::Object(map) => assert!(map.shift_remove(last).is_some(), "no {pointer}"),
        Value::Array(items) => {
            items.remove(last.parse::<usize>().unwrap());
        }
        other => panic!("{parent} is {other}"),
    }
}

/// A workflow with the base's top level and the given tasks and transitions.
fn workflow(tasks: Value, transitions: Value) -> Value {
    let mut document = base();
    set(&mut document, "/tasks", tasks);
    set(&mut document, "/transitions", transitions);
    document
}

/// A form task with no extras.
fn form(key: &str) -> Value {
    json!({"key": key, "title": key, "type": "form"})
}

struct Case {
    name: &'static str,
    loaded: Loaded,
    /// (pointer, severity, a fragment of the message) for every problem expected, in any order.
    expected: &'static [(&'static str, Severity, &'static str)],
}

fn case(
    name: &'static str,
    change: impl FnOnce(&mut Value),
    expected: &'static [(&'static str, Severity, &'static str)],
) -> Case {
    let mut document = base();
    change(&mut document);
    Case { name, loaded: Definition::load(&document), expected }
}

fn case_of(name: &'static str, document: Value, expected: &'static [(&'static str, Severity, &'static str)]) -> Case {
    Case { name, loaded: Definition::load(&document), expected }
}

fn case_text(
    name: &'static str,
    text: &str,
    syntax: Syntax,
    expected: &'static [(&'static str, Severity, &'static str)],
) -> Case {
    Case { name, loaded: Definition::load_str(text, syntax), expected }
}

/// Every way the case's problems differ from what it expects.
fn mismatches(case: &Case) -> Vec<String> {
    let name = case.name;
    let problems = &case.loaded.problems;
    let listing = problems.iter().map(|p| format!("\n    {:?} {p}", p.severity)).collect::<String>();
    let mut out = Vec::new();
    let mut actual: Vec<(&str, Severity)> = problems.iter().map(|p| (p.pointer.as_str(), p.severity)).collect();
    let mut wanted: Vec<(&str, Severity)> = case.expected.iter().map(|(p, s, _)| (*p, *s)).collect();
    actual.sort_by_key(|(p, s)| (*p, *s == W));
    wanted.sort_by_key(|(p, s)| (*p, *s == W));
    if actual != wanted {
        out.push(format!("{name}: expected {wanted:?}, got:{listing}"));
    }
    for (pointer, severity, fragment) in case.expected {
        if !problems.iter().any(|p| p.pointer == *pointer && p.severity == *severity && p.message.contains(fragment)) {
            out.push(format!("{name}: no {severity:?} at {pointer:?} mentioning {fragment:?}; got:{listing}"));
        }
    }
    for problem in problems {
        if problem.message.len() < 16 {
            out.push(format!("{name}: the message of {problem} is too short to help"));
        }
    }
    let has_error = case.expected.iter().any(|(_, s, _)| *s == E);
    if case.loaded.definition.is_some() == has_error {
        out.push(format!(
            "{name}: a definition must be loaded exactly when there are no errors (warnings do not count)"
        ));
    }
    out
}

fn check(case: &Case) {
    let failures = mismatches(case);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_base_document_is_valid_without_warnings() {
    let loaded = Definition::load(&base());
    assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
    assert!(loaded.definition.is_some());
}

#[test]
fn every_broken_document_reports_its_problems_at_the_right_place() {
    let cases = vec![
        // ---- syntax ----
        case_text(
            "duplicate key (YAML)",
            "format: ticketflower/v1\nkey: a\ntitle: A\nkey: b\n",
            Syntax::Yaml,
            &[("", E, "line 4")],
        ),
        case_text(
            "duplicate key (JSON)",
            "{\"format\": \"ticketflower/v1\",\n \"tasks\": [{\"key\": \"a\",\n  \"key\": \"b\"}]}",
            Syntax::Json,
            &[("", E, "line 3")],
        ),
        case_text("not a document", "{\"format\": ", Syntax::Json, &[("", E, "cannot read the document")]),
        case_text("empty document", "  \n", Syntax::Yaml, &[("", E, "empty")]),
        case_of("not an object", json!(["format"]), &[("", E, "must be an object")]),
        // ---- transitions ----
        case(
            "transition to an unknown task",
            |d| set(d, "/transitions/1/to", json!("chek")),
            &[("/transitions/1/to", E, "did you mean \"check\"")],
        ),
        case(
            "transition from an unknown task",
            |d| set(d, "/transitions/1/from", json!("nobody")),
            &[("/transitions/1/from", E, "no task \"nobody\"; the tasks are check, write")],
        ),
        case(
            "transition with both to and status",
            |d| set(d, "/transitions/1/status", json!("COMPLETED")),
            &[("/transitions/1", E, "not both")],
        ),
        case(
            "transition with neither to nor status",
            |d| remove(d, "/transitions/1/to"),
            &[("/transitions/1", E, "needs \"to\" (a task) or \"status\"")],
        ),
        case(
            "transition to start",
            |d| set(d, "/transitions/1/to", json!("start")),
            &[("/transitions/1/to", E, "cannot go to start")],
        ),
        case(
            "unknown status",
            |d| set(d, "/transitions/2/status", json!("COMPLETE")),
            &[("/transitions/2/status", E, "did you mean \"COMPLETED\"")],
        ),
        case(
            "no start transition",
            |d| remove(d, "/transitions/0"),
            &[("/transitions", E, "add a transition {from: start, to: <first task>}")],
        ),
        case(
            "on: timeout without due",
            |d| set(d, "/transitions/-", json!({"from": "write", "status": "CANCELLED", "on": "timeout"})),
            &[("/transitions/4/on", E, "has no \"due\"")],
        ),
        case(
            "on: timeout from start",
            |d| set(d, "/transitions/-", json!({"from": "start", "to": "check", "on": "timeout"})),
            &[("/transitions/4/on", E, "start has no due time")],
        ),
        case(
            "priority that is not a number",
            |d| set(d, "/transitions/1/priority", json!("high")),
            &[("/transitions/1/priority", E, "whole number")],
        ),
        // ---- tasks ----
        case(
            "unknown task type",
            |d| set(d, "/tasks/0/type", json!("email")),
            &[("/tasks/0/type", E, "\"email\" is not a valid type; use one of form, approval, http, http_async, ai")],
        ),
        case(
            "misspelt task type",
            |d| set(d, "/tasks/0/type", json!("aproval")),
            &[("/tasks/0/type", E, "did you mean \"approval\"")],
        ),
        case("missing task type", |d| remove(d, "/tasks/0/type"), &[("/tasks/0/type", E, "\"type\" is required")]),
        case(
            "duplicate task keys",
            |d| set(d, "/tasks/-", form("write")),
            &[("/tasks/2/key", E, "already used at /tasks/0/key")],
        ),
        case(
            "renamed task leaves its references unknown",
            |d| set(d, "/tasks/1/key", json!("write")),
            &[
                ("/tasks/1/key", E, "already used at /tasks/0/key"),
                ("/transitions/1/to", E, "there is no task \"check\"; the tasks are write"),
                ("/transitions/2/from", E, "there is no task \"check\""),
                ("/transitions/3/from", E, "there is no task \"check\""),
            ],
        ),
        case("task named start", |d| set(d, "/tasks/-", form("start")), &[("/tasks/2/key", E, "reserved")]),
        // Without a task list every transition names an unknown task; that is one problem, not six.
        case("no tasks", |d| set(d, "/tasks", json!([])), &[("/tasks", E, "at least one task")]),
        case("tasks missing", |d| remove(d, "/tasks"), &[("/tasks", E, "\"tasks\" is required")]),
        case("tasks not a list", |d| set(d, "/tasks", json!({"write": {}})), &[("/tasks", E, "must be a list")]),
        case(
            "depends_on an unknown task",
            |d| set(d, "/tasks/1/depends_on", json!(["writ"])),
            &[("/tasks/1/depends_on/0", E, "did you mean \"write\"")],
        ),
        case(
            "depends_on itself",
            |d| set(d, "/tasks/1/depends_on", json!(["check"])),
            &[("/tasks/1/depends_on/0", E, "cannot depend on itself")],
        ),
        case(
            "depends_on with join: any",
            |d| {
                set(d, "/tasks/1/depends_on", json!(["write"]));
                set(d, "/tasks/1/join", json!("any"));
            },
            &[("/tasks/1/join", E, "remove join: any")],
        ),
        case(
            "bad ISO 8601 due",
            |d| set(d, "/tasks/0/due", json!("2 days")),
            &[("/tasks/0/due", E, "not an ISO 8601 duration")],
        ),
        case(
            "due in months",
            |d| set(d, "/tasks/0/due", json!("P1M")),
            &[("/tasks/0/due", E, "months and years have no fixed length")],
        ),
        case(
            "http task without action",
            |d| {
                set(d, "/tasks/0/type", json!("http"));
                remove(d, "/tasks/0/assign");
            },
            &[("/tasks/0/action", E, "a http task needs \"action\"")],
        ),
        case(
            "http_async task without output_schema",
            |d| {
                set(d, "/tasks/0/type", json!("http_async"));
                set(d, "/tasks/0/action", json!({"url": "https://example.com/x"}));
                remove(d, "/tasks/0/assign");
                remove(d, "/tasks/0/output_schema");
            },
            &[("/tasks/0/output_schema", E, "needs an output_schema")],
        ),
        case(
            "action on a form",
            |d| set(d, "/tasks/0/action", json!({"url": "https://example.com/x"})),
            &[("/tasks/0/action", E, "only http and http_async tasks")],
        ),
        case(
            "bad action",
            |d| {
                set(d, "/tasks/0/type", json!("http"));
                remove(d, "/tasks/0/assign");
                set(
                    d,
                    "/tasks/0/action",
                    json!({"method": "FETCH", "url": "ftp://x", "headers": {"A": 1}, "timeout_seconds": 0,
                           "retry": {"backoff": "linear", "max_attempts": 0}, "on_error": "ignore"}),
                );
            },
            &[
                ("/tasks/0/action/method", E, "GET, POST, PUT, PATCH or DELETE"),
                ("/tasks/0/action/url", E, "http:// or https://"),
                ("/tasks/0/action/headers/A", E, "must be strings"),
                ("/tasks/0/action/timeout_seconds", E, "from 1 to 3600"),
                ("/tasks/0/action/retry/backoff", E, "exponential"),
                ("/tasks/0/action/retry/max_attempts", E, "from 1 to 100"),
                ("/tasks/0/action/on_error", E, "fail, continue"),
            ],
        ),
        case(
            "ai task without prompt",
            |d| {
                set(d, "/tasks/0/type", json!("ai"));
                remove(d, "/tasks/0/assign");
            },
            &[("/tasks/0/prompt", E, "needs a \"prompt\"")],
        ),
        case(
            "prompt on a form",
            |d| set(d, "/tasks/0/prompt", json!("Summarise")),
            &[("/tasks/0/prompt", E, "only ai tasks")],
        ),
        case(
            "assign on an automated task without review",
            |d| {
                set(d, "/tasks/0/type", json!("ai"));
                set(d, "/tasks/0/prompt", json!("Write a note"));
            },
            &[("/tasks/0/assign", E, "review: true")],
        ),
        case(
            "review on a form",
            |d| set(d, "/tasks/0/review", json!(true)),
            &[("/tasks/0/review", E, "http and ai tasks only")],
        ),
        case(
            "approval with output_schema",
            |d| set(d, "/tasks/1/output_schema", json!({"type": "object"})),
            &[("/tasks/1/output_schema", E, "remove output_schema")],
        ),
        case(
            "watch without the data. prefix",
            |d| set(d, "/tasks/1/watch", json!(["note"])),
            &[("/tasks/1/watch/0", E, "like \"data.note\"")],
        ),
        case(
            "watch with an empty segment",
            |d| set(d, "/tasks/1/watch", json!(["data.a..b"])),
            &[("/tasks/1/watch/0", E, "empty segment")],
        ),
        case(
            "when without watch",
            |d| set(d, "/tasks/1/when", json!({"data.done": true})),
            &[("/tasks/1/when", E, "add \"watch\"")],
        ),
        case(
            "watch of an undeclared field",
            |d| set(d, "/tasks/1/watch", json!(["data.notes"])),
            &[("/tasks/1/watch/0", W, "\"data.notes\"")],
        ),
        // ---- assign ----
        case(
            "assign naming an unlisted role",
            |d| set(d, "/tasks/0/assign/role", json!("editors")),
            &[("/tasks/0/assign/role", W, "\"editors\" is not listed")],
        ),
        case(
            "assign with two targets",
            |d| set(d, "/tasks/0/assign/initiator", json!(true)),
            &[("/tasks/0/assign", E, "exactly one of")],
        ),
        case(
            "assign with no target",
            |d| remove(d, "/tasks/0/assign/role"),
            &[("/tasks/0/assign", E, "exactly one of")],
        ),
        case(
            "assign users that are not emails",
            |d| set(d, "/tasks/0/assign", json!({"users": ["ann@example.com", "bob"]})),
            &[("/tasks/0/assign/users/1", E, "not an email")],
        ),
        case(
            "assign initiator false",
            |d| set(d, "/tasks/0/assign", json!({"initiator": false})),
            &[("/tasks/0/assign/initiator", E, "initiator: true")],
        ),
        case(
            "assign field without data.",
            |d| set(d, "/tasks/0/assign", json!({"field": "reviewer"})),
            &[("/tasks/0/assign/field", E, "\"data.reviewer\"")],
        ),
        case(
            "assign field not declared",
            |d| set(d, "/tasks/0/assign", json!({"field": "data.reviewer"})),
            &[("/tasks/0/assign/field", W, "do not declare \"reviewer\"")],
        ),
        case(
            "assign policy unknown",
            |d| set(d, "/tasks/0/assign/policy", json!("round-robin")),
            &[("/tasks/0/assign/policy", E, "did you mean \"round_robin\"")],
        ),
        case(
            "assign that is not an object",
            |d| set(d, "/tasks/0/assign", json!("editor")),
            &[("/tasks/0/assign", E, "must be an object")],
        ),
        case(
            "role_access naming an unlisted role",
            |d| set(d, "/tickets/0/role_access", json!(["editor", "author"])),
            &[("/tickets/0/role_access/1", W, "\"author\" is not listed")],
        ),
        // ---- unknown keys, types, slugs ----
        case(
            "unknown top-level key",
            |d| set(d, "/transition", json!([])),
            &[("/transition", E, "unknown key \"transition\" in a workflow definition; did you mean \"transitions\"?")],
        ),
        case(
            "unknown task key",
            |d| set(d, "/tasks/0/tittle", json!("x")),
            &[("/tasks/0/tittle", E, "did you mean \"title\"?")],
        ),
        case(
            "unknown transition key without a close match",
            |d| set(d, "/transitions/1/xyzzy", json!(1)),
            &[("/transitions/1/xyzzy", E, "a transition may have from, to, status, when, priority, on")],
        ),
        case(
            "unknown keys in nested objects",
            |d| {
                set(d, "/tasks/0/assign/polcy", json!("pool"));
                set(d, "/tickets/0/role_acess", json!([]));
            },
            &[
                ("/tasks/0/assign/polcy", E, "did you mean \"policy\"?"),
                ("/tickets/0/role_acess", E, "did you mean \"role_access\"?"),
            ],
        ),
        case(
            "unknown key with / and ~ is escaped in the pointer",
            |d| set(d, "/tasks/0/a~1b~0c", json!(1)),
            &[("/tasks/0/a~1b~0c", E, "unknown key \"a/b~c\" in a task")],
        ),
        case(
            "undeclared field with / in a condition is escaped in the pointer",
            |d| set(d, "/transitions/1/when", json!({"data.a/b": 1})),
            &[("/transitions/1/when/data.a~1b", W, "\"data.a/b\"")],
        ),
        case("wrong format", |d| set(d, "/format", json!("ticketflower/v2")), &[("/format", E, "ticketflower/v1")]),
        case("missing format", |d| remove(d, "/format"), &[("/format", E, "\"format\" is required")]),
        case(
            "wrong types",
            |d| {
                set(d, "/title", json!(5));
                set(d, "/roles", json!("editor"));
                set(d, "/tasks/0/max_runs", json!("many"));
                set(d, "/tasks/0/next", json!(1));
                set(d, "/tasks/1/review", json!("yes"));
            },
            &[
                ("/title", E, "must be a string"),
                ("/roles", E, "must be a list"),
                ("/tasks/0/max_runs", E, "whole number"),
                ("/tasks/0/next", E, "must be a string"),
                ("/tasks/1/review", E, "true or false"),
                // roles is unreadable, so the role editor is not listed.
                ("/tasks/0/assign/role", W, "not listed"),
            ],
        ),
        case(
            "a list where an object belongs",
            |d| set(d, "/tasks/0", json!(["write"])),
            &[
                ("/tasks/0", E, "a task must be an object"),
                // The task's key cannot be read, so the references to it are unknown.
                ("/transitions/0/to", E, "there is no task \"write\""),
                ("/transitions/1/from", E, "there is no task \"write\""),
                ("/transitions/3/to", E, "there is no task \"write\""),
            ],
        ),
        case("empty title", |d| set(d, "/title", json!(" ")), &[("/title", E, "must not be empty")]),
        case(
            "bad workflow key",
            |d| set(d, "/key", json!("Document Edit")),
            &[("/key", E, "the workflow key \"Document Edit\" must be lowercase letters")],
        ),
        case(
            "bad task and ticket keys",
            |d| {
                set(d, "/tasks/1/key", json!("-check"));
                set(d, "/tickets/0/key", json!("Request!"));
            },
            &[
                ("/tasks/1/key", E, "the task key \"-check\""),
                ("/tickets/0/key", E, "the ticket type key \"Request!\""),
                ("/transitions/1/to", E, "there is no task \"check\""),
                ("/transitions/2/from", E, "there is no task \"check\""),
                ("/transitions/3/from", E, "there is no task \"check\""),
            ],
        ),
        case(
            "ticket type without fields",
            |d| remove(d, "/tickets/0/fields"),
            &[("/tickets/0/fields", E, "\"fields\" is required")],
        ),
        case(
            "duplicate ticket type keys",
            |d| {
                let ticket = d.pointer("/tickets/0").unwrap().clone();
                set(d, "/tickets/-", ticket);
            },
            &[("/tickets/1/key", E, "already used at /tickets/0")],
        ),
        case(
            "ext_ref entry without uri",
            |d| set(d, "/ext_ref", json!([{"label": "Guide"}])),
            &[("/ext_ref/0/uri", E, "\"uri\" is required")],
        ),
        // ---- schemas ----
        case(
            "invalid JSON Schema in fields",
            |d| set(d, "/fields/properties/title/type", json!("strin")),
            &[("/fields/properties/title/type", E, "not a valid JSON Schema (draft 2020-12)")],
        ),
        case(
            "invalid JSON Schema in an output_schema",
            |d| set(d, "/tasks/0/output_schema/properties/note/minLength", json!(-1)),
            &[("/tasks/0/output_schema/properties/note/minLength", E, "not a valid JSON Schema")],
        ),
        case(
            "output_schema that is not an object schema",
            |d| set(d, "/tasks/0/output_schema", json!({"type": "string"})),
            &[("/tasks/0/output_schema/type", E, "give it \"type\": \"object\"")],
        ),
        case(
            "a schema of another draft",
            |d| set(d, "/fields/$schema", json!("http://json-schema.org/draft-07/schema#")),
            &[("/fields/$schema", E, "draft 2020-12")],
        ),
        case(
            "invalid input_schema",
            |d| set(d, "/tasks/0/input_schema", json!({"required": "title"})),
            &[("/tasks/0/input_schema/required", E, "not a valid JSON Schema")],
        ),
        // ---- transforms ----
        case(
            "JSONPath that does not parse",
            |d| set(d, "/tasks/0/input/title", json!("$.data[")),
            &[("/tasks/0/input/title", E, "not a JSONPath query (RFC 9535)")],
        ),
        case(
            "transform target with an empty segment",
            |d| set(d, "/tasks/0/output", json!({"note..x": "$.note"})),
            &[("/tasks/0/output/note..x", E, "empty segment")],
        ),
        case(
            "transform that is not an object",
            |d| set(d, "/tickets/0/data", json!("$.title")),
            &[("/tickets/0/data", E, "a transform is an object")],
        ),
        case(
            "$literal with other keys",
            |d| set(d, "/tasks/0/input/price", json!({"$literal": "$5", "x": 1})),
            &[("/tasks/0/input/price", E, "must be the only key")],
        ),
        case(
            "input reading an undeclared field",
            |d| set(d, "/tasks/0/input/title", json!("$.data.titel")),
            &[("/tasks/0/input/title", W, "\"data.titel\"")],
        ),
        case(
            "input reading outside the context",
            |d| set(d, "/tasks/0/input/title", json!("$.title")),
            &[("/tasks/0/input/title", W, "\"title\" is not part of the context")],
        ),
        case(
            "output writing an undeclared field",
            |d| set(d, "/tasks/0/output", json!({"notes": "$.note"})),
            &[("/tasks/0/output/notes", W, "writes \"data.notes\"")],
        ),
        case(
            "output reading what the output_schema does not declare",
            |d| set(d, "/tasks/0/output", json!({"note": "$.nota"})),
            &[("/tasks/0/output/note", W, "reads \"nota\"")],
        ),
        case(
            "ticket data reading what the ticket fields do not declare",
            |d| set(d, "/tickets/0/data", json!({"title": "$.subject"})),
            &[("/tickets/0/data/title", W, "reads \"subject\"")],
        ),
        // ---- conditions ----
        case(
            "unknown condition operator",
            |d| set(d, "/transitions/2/when", json!({"output.decision": {"$eqq": "approved"}})),
            &[("/transitions/2/when/output.decision/$eqq", E, "unknown operator $eqq")],
        ),
        case(
            "unknown top-level condition operator",
            |d| set(d, "/transitions/2/when", json!({"$xor": []})),
            &[("/transitions/2/when/$xor", E, "unknown top-level operator $xor")],
        ),
        case(
            "malformed operands",
            |d| {
                set(
                    d,
                    "/transitions/2/when",
                    json!({"output.decision": {"$in": "approved"}, "output.comment": {"$regex": "("}}),
                );
                set(d, "/transitions/3/when", json!({"$or": {"output.decision": "rejected"}}));
            },
            &[
                ("/transitions/2/when/output.decision/$in", E, "array of values"),
                ("/transitions/2/when/output.comment/$regex", E, "regex"),
                ("/transitions/3/when/$or", E, "non-empty array"),
            ],
        ),
        case(
            "condition that is not an object",
            |d| set(d, "/transitions/2/when", json!("approved")),
            &[("/transitions/2/when", E, "a condition must be an object")],
        ),
        case(
            "condition on an undeclared data field",
            |d| set(d, "/transitions/1/when", json!({"data.don": true})),
            &[("/transitions/1/when/data.don", W, "\"data.don\"")],
        ),
        case(
            "condition on an undeclared output field",
            |d| set(d, "/transitions/1/when", json!({"output.dun": true})),
            &[("/transitions/1/when/output.dun", W, "output_schema does not declare \"dun\"")],
        ),
        case(
            "condition on output from start",
            |d| set(d, "/transitions/0/when", json!({"output.done": true})),
            &[("/transitions/0/when/output.done", W, "no task output here")],
        ),
        case(
            "condition on an undeclared ticket field",
            |d| set(d, "/transitions/0/when", json!({"ticket.subject": {"$exists": true}})),
            &[("/transitions/0/when/ticket.subject", W, "no ticket type declares \"ticket.subject\"")],
        ),
        case(
            "condition inside $or on an undeclared field",
            |d| set(d, "/transitions/1/when", json!({"$or": [{"data.done": true}, {"data.don": true}]})),
            &[("/transitions/1/when/$or/1/data.don", W, "\"data.don\"")],
        ),
        case(
            "trigger filter with an unknown operator",
            |d| set(d, "/triggers", json!([{"type": "webhook", "key": "hook", "filter": {"data.x": {"$gtt": 1}}}])),
            &[("/triggers/0/filter/data.x/$gtt", E, "unknown operator $gtt")],
        ),
        case(
            "schedule trigger without cron",
            |d| set(d, "/triggers", json!([{"type": "schedule", "key": "daily"}])),
            &[("/triggers/0/cron", E, "needs \"cron\"")],
        ),
        // ---- graph ----
        case(
            "task unreachable from start",
            |d| set(d, "/tasks/-", form("orphan")),
            &[("/tasks/2", E, "task \"orphan\" can never run")],
        ),
        case(
            "task reachable only from an unreachable task",
            |d| {
                set(d, "/tasks/-", form("orphan"));
                set(d, "/tasks/-", form("orphan-child"));
                set(d, "/transitions/-", json!({"from": "orphan", "to": "orphan-child"}));
                set(d, "/transitions/-", json!({"from": "orphan-child", "status": "COMPLETED"}));
            },
            &[("/tasks/2", E, "\"orphan\" can never run"), ("/tasks/3", E, "\"orphan-child\" can never run")],
        ),
        case(
            "task with no way to an end status",
            |d| {
                set(d, "/tasks/-", form("dead-end"));
                set(d, "/transitions/-", json!({"from": "write", "to": "dead-end", "when": {"output.done": false}}));
            },
            &[("/tasks/2", W, "from task \"dead-end\" there is no way to COMPLETED or CANCELLED")],
        ),
        case(
            "a loop with no way out",
            |d| set(d, "/transitions/2", json!({"from": "check", "status": "ON_HOLD"})),
            &[("/transitions", W, "no transition ends the workflow")],
        ),
        case_of(
            "join: all waiting for a task only reachable through it",
            workflow(
                json!([form("a"), {"key": "merge", "title": "Merge", "type": "form", "join": "all"}, form("b")]),
                json!([
                    {"from": "start", "to": "a"},
                    {"from": "a", "to": "merge"},
                    {"from": "merge", "to": "b"},
                    {"from": "b", "to": "merge"},
                    {"from": "merge", "status": "COMPLETED"}
                ]),
            ),
            &[("/tasks/1/join", E, "join: all on \"merge\" can never fire: it waits for \"b\"")],
        ),
        case_of(
            "depends_on a task only reachable through the dependent task",
            workflow(
                json!([
                    {"key": "a", "title": "A", "type": "form", "depends_on": []},
                    {"key": "merge", "title": "Merge", "type": "form", "depends_on": ["a", "b"]},
                    {"key": "b", "title": "B", "type": "form", "depends_on": ["merge"]}
                ]),
                json!([{"from": "b", "status": "COMPLETED"}]),
            ),
            &[(
                "/tasks/1/depends_on",
                E,
                "waits for \"b\", which can only run after \"merge\" itself; remove it from depends_on",
            )],
        ),
        case_of(
            "join: all with a loop onto itself",
            workflow(
                json!([form("a"), {"key": "merge", "title": "Merge", "type": "form", "join": "all"}]),
                json!([
                    {"from": "start", "to": "a"},
                    {"from": "a", "to": "merge"},
                    {"from": "merge", "to": "merge", "when": {"data.done": false}},
                    {"from": "merge", "status": "COMPLETED", "when": {"data.done": true}}
                ]),
            ),
            &[("/tasks/1/join", E, "waits for \"merge\", which can only run after \"merge\" itself")],
        ),
        case_of(
            "join: all whose loop back is listed apart in depends_on is fine",
            workflow(
                json!([
                    {"key": "a", "title": "A", "type": "form", "depends_on": []},
                    {"key": "c", "title": "C", "type": "form", "depends_on": []},
                    {"key": "merge", "title": "Merge", "type": "form", "depends_on": ["a", "c"]},
                    form("b")
                ]),
                json!([
                    {"from": "merge", "to": "b"},
                    {"from": "b", "to": "merge", "when": {"data.done": false}},
                    {"from": "b", "status": "COMPLETED", "when": {"data.done": true}}
                ]),
            ),
            &[],
        ),
    ];
    let failures: Vec<String> = cases.iter().flat_map(mismatches).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn several_problems_are_all_reported_in_one_load() {
    check(&case(
        "nine problems across the document",
        |d| {
            set(d, "/titel", json!("Typo"));
            set(d, "/fields/properties/note/type", json!("text"));
            set(d, "/tickets/0/role_acess", json!(["author"]));
            set(d, "/tasks/0/type", json!("forms"));
            set(d, "/tasks/0/due", json!("two days"));
            set(d, "/tasks/0/input/title", json!("$.data["));
            set(d, "/tasks/1/output_schema", json!({"type": "object"}));
            set(d, "/transitions/1/to", json!("chek"));
            set(d, "/transitions/2/when", json!({"output.decision": {"$eqq": "approved"}}));
        },
        &[
            ("/titel", E, "did you mean \"title\"?"),
            ("/fields/properties/note/type", E, "not a valid JSON Schema"),
            ("/tickets/0/role_acess", E, "did you mean \"role_access\"?"),
            ("/tasks/0/type", E, "did you mean \"form\"?"),
            ("/tasks/0/due", E, "ISO 8601"),
            ("/tasks/0/input/title", E, "JSONPath"),
            ("/tasks/1/output_schema", E, "remove output_schema"),
            ("/transitions/1/to", E, "did you mean \"check\"?"),
            ("/transitions/2/when/output.decision/$eqq", E, "unknown operator"),
        ],
    ));
}

#[test]
fn structural_and_semantic_problems_are_reported_together() {
    check(&case(
        "a bad key and an unreachable task",
        |d| {
            set(d, "/key", json!("Demo Workflow"));
            set(d, "/title", json!(""));
            set(d, "/tasks/-", form("orphan"));
            set(d, "/tasks/0/assign/role", json!("writer"));
        },
        &[
            ("/key", E, "must be lowercase"),
            ("/title", E, "must not be empty"),
            ("/tasks/2", E, "\"orphan\" can never run"),
            ("/tasks/0/assign/role", W, "\"writer\" is not listed"),
        ],
    ));
}

#[test]
fn semantic_problems_are_reported_together_with_each_other() {
    check(&case(
        "several semantic problems",
        |d| {
            set(d, "/tasks/-", form("orphan"));
            set(d, "/tasks/0/assign/role", json!("writer"));
            set(d, "/transitions/1/when", json!({"data.don": true}));
            set(d, "/tasks/0/input/title", json!("$.data.titel"));
        },
        &[
            ("/tasks/2", E, "\"orphan\" can never run"),
            ("/tasks/0/assign/role", W, "\"writer\""),
            ("/transitions/1/when/data.don", W, "\"data.don\""),
            ("/tasks/0/input/title", W, "\"data.titel\""),
        ],
    ));
}

#[test]
fn warnings_alone_do_not_prevent_loading() {
    let mut document = base();
    set(&mut document, "/tasks/0/assign/role", json!("writer"));
    set(&mut document, "/transitions/1/when", json!({"data.don": true}));
    let loaded = Definition::load(&document);
    assert_eq!(loaded.errors().count(), 0, "{:?}", loaded.problems);
    assert_eq!(loaded.warnings().count(), 2, "{:?}", loaded.problems);
    let definition = loaded.into_result().unwrap();
    assert_eq!(definition.key, "demo");
}

#[test]
fn a_typo_in_a_task_name_does_not_also_report_the_task_unreachable() {
    let mut document = base();
    set(&mut document, "/transitions/1/to", json!("chek"));
    let loaded = Definition::load(&document);
    let pointers: Vec<&str> = loaded.problems.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(pointers, vec!["/transitions/1/to"], "{:#?}", loaded.problems);
}

#[test]
fn problems_display_as_pointer_and_message() {
    let mut document = base();
    set(&mut document, "/tasks/0/tittle", json!("x"));
    let loaded = Definition::load(&document);
    assert_eq!(
        loaded.problems[0].to_string(),
        "/tasks/0/tittle: unknown key \"tittle\" in a task; did you mean \"title\"?"
    );
}

// ---- the examples ----

const EXAMPLES: [(&str, &str); 4] = [
    ("document-edit", include_str!("../../../../examples/document-edit.yaml")),
    ("venue-map", include_str!("../../../../examples/venue-map.yaml")),
    ("customer-support", include_str!("../../../../examples/customer-support.yaml")),
    ("order-fulfilment", include_str!("../../../../examples/order-fulfilment.yaml")),
];

/// Ticket data and scripted outputs of the examples, in the order of [`EXAMPLES`].
const EXAMPLE_DATA: [(&str, &str); 4] = [
    (
        include_str!("../../../../examples/data/document-edit.ticket.json"),
        include_str!("../../../../examples/data/document-edit.outputs.json"),
    ),
    (
        include_str!("../../../../examples/data/venue-map.ticket.json"),
        include_str!("../../../../examples/data/venue-map.outputs.json"),
    ),
    (
        include_str!("../../../../examples/data/customer-support.ticket.json"),
        include_str!("../../../../examples/data/customer-support.outputs.json"),
    ),
    (
        include_str!("../../../../examples/data/order-fulfilment.ticket.json"),
        include_str!("../../../../examples/data/order-fulfilment.outputs.json"),
    ),
];

#[test]
fn the_examples_load_without_problems() {
    for (name, text) in EXAMPLES {
        let loaded = Definition::load_str(text, Syntax::Yaml);
        assert!(loaded.problems.is_empty(), "{name}: {:#?}", loaded.problems);
        let definition = loaded.definition.unwrap();
        assert_eq!(definition.key, name);
    }
}

#[test]
fn the_examples_load_the_same_from_json() {
    for (name, text) in EXAMPLES {
        let value = parse(text, Syntax::Yaml).unwrap();
        let loaded = Definition::load_str(&serde_json::to_string_pretty(&value).unwrap(), Syntax::Json);
        assert!(loaded.problems.is_empty(), "{name}: {:#?}", loaded.problems);
        assert_eq!(loaded.definition.unwrap().source(), &value);
    }
}

#[test]
fn depends_on_builds_the_join_sets_of_the_venue_map() {
    let definition = Definition::load_str(EXAMPLES[1].1, Syntax::Yaml).into_result().unwrap();
    let index = |key: &str| definition.task_index(key).unwrap();
    let qa = definition.join_set(index("qa")).unwrap();
    assert_eq!(qa.len(), 5);
    assert!(qa.contains(&Source::Task(index("match_entities"))));
    assert!(definition.join_set(index("fix_map")).is_none());
    let starts: Vec<&str> = definition
        .outgoing(Source::Start)
        .iter()
        .map(|&t| match definition.transitions[t].target {
            Target::Task(task) => definition.tasks[task].key.as_str(),
            Target::Status(status) => status.as_str(),
        })
        .collect();
    assert_eq!(starts, vec!["create_venue"]);
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("P2D"), Ok(2 * 86_400));
    assert_eq!(parse_duration("PT4H30M"), Ok(4 * 3_600 + 30 * 60));
    assert_eq!(parse_duration("P1W"), Ok(7 * 86_400));
    assert_eq!(parse_duration("P1DT12H"), Ok(86_400 + 12 * 3_600));
    for bad in ["", "P", "PT", "2D", "P2", "PT4", "P1H", "PT1D", "P1DT", "PD", "P-1D", "P1.5D", "PT1M1H"] {
        assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
    }
    assert!(parse_duration("P1Y").unwrap_err().contains("months and years"));
}

// ---- no panic on any input ----

/// Keys a definition uses, so generated documents often reach deep into the
/// reader: the reader's own key lists and the condition operators (so the fuzzing
/// follows the code), plus JSON Schema keywords and a few paths and oddities.
fn keys() -> Vec<&'static str> {
    let reader = [
        TOP_KEYS,
        TICKET_KEYS,
        TASK_KEYS,
        ASSIGN_KEYS,
        ACTION_KEYS,
        RETRY_KEYS,
        TRANSITION_KEYS,
        TRIGGER_KEYS,
        EXT_REF_KEYS,
    ];
    let extra = [
        "properties",
        "required",
        "items",
        "$ref",
        "$defs",
        "enum",
        "const",
        "pattern",
        "minimum",
        "$literal",
        "data.x",
        "output.decision",
        "ticket.title",
        "a.b",
        "",
    ];
    let mut keys: Vec<&str> =
        reader.into_iter().flatten().chain(crate::condition::OPERATORS).copied().chain(extra).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Strings a definition uses as values.
const WORDS: &[&str] = &[
    "ticketflower/v1",
    "start",
    "a",
    "b",
    "c",
    "form",
    "approval",
    "http",
    "http_async",
    "ai",
    "COMPLETED",
    "CANCELLED",
    "ON_HOLD",
    "timeout",
    "complete",
    "all",
    "any",
    "first",
    "object",
    "string",
    "array",
    "$",
    "$.a",
    "$.data.x",
    "$..a",
    "$[0]",
    "$.a[?@.b > 1]",
    "$.data[",
    "$['a']",
    "data.x",
    "data.",
    "P2D",
    "PT1H",
    "P",
    "https://example.com",
    "{{data.x}}",
    "pool",
    "round_robin",
    "approved",
    "^a(",
    "(?i)x",
    "integer",
    "#/$defs/a",
    "http://json-schema.org/draft-07/schema#",
    "email",
    "date",
    "#",
    "1",
    "-1",
    "true",
    "null",
];

fn key_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(keys()).prop_map(str::to_owned),
        1 => "[a-z$._]{0,8}",
        1 => any::<String>(),
    ]
}

fn leaf_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => (-1e6f64..1e6).prop_map(Value::from),
        1 => Just(json!(u64::MAX)),
        3 => proptest::sample::select(WORDS).prop_map(Value::from),
        1 => "\\PC{0,12}".prop_map(Value::String),
    ]
}

fn document_strategy() -> impl Strategy<Value = Value> {
    leaf_strategy().prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key_strategy(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// A real document with one value somewhere replaced by a generated one.
fn mutated_example_strategy() -> impl Strategy<Value = Value> {
    (0..EXAMPLES.len(), any::<proptest::sample::Index>(), document_strategy()).prop_map(|(example, at, new)| {
        let mut document = parse(EXAMPLES[example].1, Syntax::Yaml).unwrap();
        let mut pointers = Vec::new();
        collect_pointers(&document, String::new(), &mut pointers);
        let pointer = at.get(&pointers).clone();
        if let Some(slot) = document.pointer_mut(&pointer) {
            *slot = new;
        }
        document
    })
}

fn collect_pointers(value: &Value, pointer: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                collect_pointers(child, pointer_push(&pointer, key), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                collect_pointers(child, pointer_push(&pointer, index), out);
            }
        }
        _ => {}
    }
    out.push(pointer);
}

/// Loads a document and, when it loads, checks the problems are consistent.
fn load_any(document: &Value) {
    let loaded = Definition::load(document);
    assert_eq!(loaded.definition.is_some(), !has_errors(&loaded.problems));
    for problem in &loaded.problems {
        assert!(problem.pointer.is_empty() || problem.pointer.starts_with('/'), "{problem}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Definition::load_str(&text, Syntax::Yaml);
        let _ = Definition::load_str(&text, Syntax::Json);
    }

    #[test]
    fn yaml_like_text_never_panics(lines in proptest::collection::vec(
        ("[ -]{0,6}", key_strategy(), prop_oneof![Just(String::new()), "[\\[\\]{}:,&*!|>'\"#a-z0-9 $.-]{0,16}"]),
        0..20,
    )) {
        let text: String = lines.iter().map(|(indent, key, value)| format!("{indent}{key}: {value}\n")).collect();
        let _ = Definition::load_str(&text, Syntax::Yaml);
    }

    #[test]
    fn json_like_text_never_panics(document in document_strategy(), cut in any::<proptest::sample::Index>()) {
        let text = serde_json::to_string(&document).unwrap();
        let _ = Definition::load_str(&text, Syntax::Json);
        // Truncated at a character boundary.
        let ends: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
        let _ = Definition::load_str(&text[..*cut.get(&ends)], Syntax::Json);
    }

    #[test]
    fn arbitrary_documents_never_panic(document in document_strategy()) {
        load_any(&document);
        // The same document as the top level of a definition.
        let mut top = base();
        if let (Value::Object(top), Value::Object(extra)) = (&mut top, &document) {
            top.extend(extra.clone());
        }
        load_any(&top);
    }

    #[test]
    fn mutated_examples_never_panic(document in mutated_example_strategy()) {
        load_any(&document);
    }

    #[test]
    fn transforms_never_panic(transform in document_strategy(), root in document_strategy(), data in document_strategy()) {
        if let Ok(compiled) = Transform::compile(&transform) {
            let _ = compiled.build_from(&root);
            let context = json!({"data": data, "ticket": root});
            let _ = compiled.build(&context, || context.clone());
            let mut written = data.clone();
            let writes = compiled.apply(&root, &mut written);
            for write in writes {
                prop_assert_ne!(write.old, write.new);
            }
        }
    }

    #[test]
    fn conditions_never_panic(query in document_strategy(), document in document_strategy()) {
        if let Ok(condition) = Condition::compile(&query) {
            let _ = condition.matches(&document);
            let _ = condition.matches(&json!({"data": document, "output": query}));
        }
    }

    #[test]
    fn simulating_mutated_examples_never_panics(
        document in mutated_example_strategy(),
        data in 0..EXAMPLE_DATA.len(),
        ticket in document_strategy(),
        scripted in any::<bool>(),
    ) {
        if let Some(definition) = Definition::load(&document).definition {
            let (ticket_json, outputs_json) = EXAMPLE_DATA[data];
            let ticket = if scripted { serde_json::from_str(ticket_json).unwrap() } else { ticket };
            let script = if scripted {
                crate::simulate::Script::from_value(&serde_json::from_str(outputs_json).unwrap()).unwrap()
            } else {
                crate::simulate::Script::default()
            };
            let _ = crate::simulate::simulate(&definition, None, ticket, script);
        }
    }

    #[test]
    fn transform_queries_never_panic(query in prop_oneof![
        proptest::sample::select(WORDS).prop_map(str::to_owned),
        "\\$[.\\[\\]?@*a-z0-9'\"()<>=!&| ,:-]{0,24}",
    ], root in document_strategy()) {
        if let Ok(compiled) = Transform::compile(&json!({"x": query, "y.z": query})) {
            let _ = compiled.build_from(&root);
            let mut data = json!({"y": 1});
            let _ = compiled.apply(&root, &mut data);
        }
    }
}

#[test]
fn suggestions_allow_one_typo_including_a_swap() {
    assert_eq!(edit_distance("titel", "title"), 1);
    assert_eq!(edit_distance("tittle", "title"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(edit_distance("ca", "abc"), 3);
    assert_eq!(closest("titel", TOP_KEYS.iter().copied()), Some("title"));
    assert_eq!(closest("transition", TOP_KEYS.iter().copied()), Some("transitions"));
    assert_eq!(closest("xyzzy", TOP_KEYS.iter().copied()), None);
    assert_eq!(closest("title", TOP_KEYS.iter().copied()), None, "an exact match is not a suggestion");
}

#[test]
fn deep_nesting_and_alias_bombs_are_refused_without_a_panic() {
    for syntax in [Syntax::Json, Syntax::Yaml] {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let loaded = Definition::load_str(&deep, syntax);
        assert!(loaded.definition.is_none());
        let deep = format!("{}1{}", "{\"a\": ".repeat(5_000), "}".repeat(5_000));
        assert!(Definition::load_str(&deep, syntax).definition.is_none());
    }
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..12 {
        let previous = level - 1;
        bomb.push_str(&format!("a{level}: &a{level} [*a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}, *a{previous}]\n"));
    }
    let loaded = Definition::load_str(&bomb, Syntax::Yaml);
    assert!(loaded.definition.is_none());
    assert_eq!(loaded.problems.len(), 1, "{:?}", loaded.problems);
}
