#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The `ticketflower` binary as a user runs it: `validate` and `simulate` on the
//! examples and on broken files, checking exit codes and the exact output shapes
//! the issue promises (`FILE: valid`, `FILE: /pointer: message`, one JSON object);
//! `assistant-eval` against a fake model server started in the test and without a
//! provider; and the database commands (`import`, `export`, `company`, `user`) against a
//! SQLite file in a scratch directory.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const EXAMPLES: [&str; 4] = ["document-edit", "venue-map", "customer-support", "order-fulfilment"];

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn example(name: &str) -> PathBuf {
    examples().join(format!("{name}.yaml"))
}

fn data(name: &str, kind: &str) -> PathBuf {
    examples().join("data").join(format!("{name}.{kind}.json"))
}

/// Runs the binary in a scratch directory (so nothing it might create lands in the repository).
fn run(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    let scratch = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_ticketflower"))
        .args(args.iter().map(|a| a.as_ref()))
        .current_dir(scratch.path())
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn describe(output: &Output) -> String {
    format!("status {:?}\n--- stdout\n{}--- stderr\n{}", output.status.code(), stdout(output), stderr(output))
}

/// Writes `text` to `name` in a fresh directory; the directory lives as long as the returned guard.
fn write_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

/// A valid workflow with one task.
const SMALL: &str = "\
format: ticketflower/v1
key: small
title: Small
roles: [staff]
fields: {type: object, properties: {note: {type: string}}}
tickets:
  - key: request
    title: Request
    fields: {type: object, required: [note], properties: {note: {type: string, minLength: 3}}}
tasks:
  - key: work
    title: Work
    type: form
    assign: {role: staff}
    output_schema: {type: object, properties: {note: {type: string}}}
transitions:
  - {from: start, to: work}
  - {from: work, status: COMPLETED}
";

// ---- validate ----

#[test]
fn validate_accepts_every_example() {
    for name in EXAMPLES {
        let path = example(name);
        let output = run(&[&"validate", &path]);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", describe(&output));
        assert_eq!(stdout(&output), format!("{}: valid\n", path.display()), "{name}: {}", describe(&output));
    }
}

#[test]
fn validate_takes_several_files_at_once() {
    let paths: Vec<PathBuf> = EXAMPLES.iter().map(|name| example(name)).collect();
    let mut args: Vec<&dyn AsRef<std::ffi::OsStr>> = vec![&"validate"];
    args.extend(paths.iter().map(|p| p as &dyn AsRef<std::ffi::OsStr>));
    let output = run(&args);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let expected: String = paths.iter().map(|p| format!("{}: valid\n", p.display())).collect();
    assert_eq!(stdout(&output), expected);
}

#[test]
fn validate_lists_every_problem_of_a_broken_file_with_its_pointer() {
    let broken = SMALL
        .replace("title: Work", "titel: Work")
        .replace("type: form", "type: from")
        .replace("{from: work, status: COMPLETED}", "{from: work, to: wrok, status: COMPLETED}")
        .replace("{type: string, minLength: 3}", "{type: strin}");
    let (_dir, path) = write_file("broken.yaml", &broken);
    let output = run(&[&"validate", &path]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = stdout(&output);
    let prefix = format!("{}: ", path.display());
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines {
        let rest = line.strip_prefix(&prefix).unwrap_or_else(|| panic!("{line:?} does not start with the file name"));
        let (pointer, message) =
            rest.split_once(": ").unwrap_or_else(|| panic!("{line:?} is not FILE: /pointer: message"));
        assert!(pointer.starts_with('/'), "{line:?}: {pointer:?} is not a JSON Pointer");
        assert!(!message.trim().is_empty(), "{line:?} has no message");
    }
    let pointers: Vec<&str> =
        lines.iter().map(|l| l.strip_prefix(&prefix).unwrap().split_once(": ").unwrap().0).collect();
    assert_eq!(
        pointers,
        vec![
            "/tickets/0/fields/properties/note/type",
            "/tasks/0/titel",
            "/tasks/0/title",
            "/tasks/0/type",
            "/transitions/1",
        ],
        "{}",
        describe(&output)
    );
    assert!(text.contains("/tasks/0/titel: unknown key \"titel\" in a task; did you mean \"title\"?"), "{text}");
    assert!(text.contains("did you mean \"form\"?"), "{text}");
    assert!(!text.contains(": valid"), "{text}");
}

#[test]
fn validate_reports_a_syntax_error_with_its_line() {
    let (_dir, path) = write_file("bad.yaml", "format: ticketflower/v1\ntasks: [\n  {key: a\n");
    let output = run(&[&"validate", &path]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.starts_with(&format!("{}: /: cannot read the document", path.display())), "{text}");
    assert!(text.contains("line"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn validate_reports_duplicate_keys_in_json_with_the_line() {
    let (_dir, path) = write_file("dup.json", "{\n  \"format\": \"ticketflower/v1\",\n  \"format\": \"x\"\n}\n");
    let output = run(&[&"validate", &path]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.contains("the key \"format\" appears twice"), "{text}");
    assert!(text.contains("line 3"), "{text}");
}

#[test]
fn validate_passes_a_file_with_only_warnings_and_prints_them() {
    let warned = SMALL.replace("roles: [staff]", "roles: [staf]").replace(
        "{from: work, status: COMPLETED}",
        "{from: work, status: COMPLETED, when: {\"data.notes\": {$exists: true}}}",
    );
    let (_dir, path) = write_file("warned.yaml", &warned);
    let output = run(&[&"validate", &path]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let name = path.display();
    let lines: Vec<String> = stdout(&output).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 3, "{}", describe(&output));
    assert_eq!(lines[0], format!("{name}: valid"));
    assert!(lines.iter().any(|l| l.starts_with(&format!("{name}: /tasks/0/assign/role: warning: the role \"staff\""))));
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{name}: /transitions/1/when/data.notes: warning: "))),
        "{lines:#?}"
    );
}

#[test]
fn validate_fails_when_any_file_fails_but_checks_them_all() {
    let (_dir, broken) = write_file("broken.json", "{\"format\": \"ticketflower/v1\"}");
    let good = example("document-edit");
    let output = run(&[&"validate", &broken, &good]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.contains(&format!("{}: /key: \"key\" is required", broken.display())), "{text}");
    assert!(text.contains(&format!("{}: /tasks: \"tasks\" is required", broken.display())), "{text}");
    assert!(text.contains(&format!("{}: valid", good.display())), "{text}");
}

#[test]
fn validate_explains_an_unreadable_file() {
    let missing = Path::new("/nonexistent/dir/workflow.yaml");
    let output = run(&[&"validate", &missing]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.starts_with("/nonexistent/dir/workflow.yaml: cannot read the file: "), "{}", describe(&output));
    assert!(text.to_lowercase().contains("no such file"), "{}", describe(&output));
    assert_eq!(text.lines().count(), 1, "{}", describe(&output));

    let dir = tempfile::tempdir().unwrap();
    let output = run(&[&"validate", &dir.path(), &example("venue-map")]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.starts_with(&format!("{}: cannot read the file: ", dir.path().display())), "{text}");
    assert!(
        text.ends_with(&format!("{}: valid\n", example("venue-map").display())),
        "the next file is still checked: {text}"
    );
}

#[test]
fn validate_refuses_a_file_that_is_not_text() {
    let (_dir, path) = write_file("binary.yaml", "");
    std::fs::write(&path, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let output = run(&[&"validate", &path]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(stdout(&output).contains("cannot read the file"), "{}", describe(&output));
    assert!(stdout(&output).contains("UTF-8"), "{}", describe(&output));
}

#[test]
fn validate_needs_a_file() {
    let output = run(&[&"validate"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(stderr(&output).contains("FILES"), "{}", describe(&output));
}

// ---- simulate ----

fn simulate_json(name: &str, outputs: bool) -> (Output, Value) {
    let (definition, ticket, scripted) = (example(name), data(name, "ticket"), data(name, "outputs"));
    let output = if outputs {
        run(&[&"simulate", &definition, &"--data", &ticket, &"--outputs", &scripted, &"--json"])
    } else {
        run(&[&"simulate", &definition, &"--data", &ticket, &"--json"])
    };
    assert_eq!(output.status.code(), Some(0), "{name}: {}", describe(&output));
    // Exactly one JSON value on stdout, and nothing else.
    let text = stdout(&output);
    let mut values = serde_json::Deserializer::from_str(&text).into_iter::<Value>();
    let value = values.next().unwrap_or_else(|| panic!("{name}: no JSON")).unwrap();
    assert!(values.next().is_none(), "{name}: more than one JSON value:\n{text}");
    let object = value.as_object().unwrap_or_else(|| panic!("{name}: not an object: {value}"));
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    assert_eq!(keys, vec!["status", "path", "data", "errors", "open"], "{name}: {value}");
    (output, value)
}

fn path_of(value: &Value) -> Vec<&str> {
    value["path"].as_array().unwrap().iter().map(|step| step.as_str().unwrap()).collect()
}

#[test]
fn simulate_json_runs_each_example_to_its_expected_end() {
    let expected: [(&str, &str, &[&str]); 4] = [
        ("document-edit", "COMPLETED", &["edit", "answer", "edit"]),
        (
            "venue-map",
            "COMPLETED",
            &["create_venue", "geocode", "digitize", "entities", "addresses", "match_entities", "qa", "fix_map", "qa"],
        ),
        ("customer-support", "COMPLETED", &["triage", "respond", "confirm", "triage", "specialist", "confirm"]),
        ("order-fulfilment", "COMPLETED", &["approve_order", "check_payment", "pick", "invoice", "ship"]),
    ];
    for (name, status, path) in expected {
        let (_, value) = simulate_json(name, true);
        assert_eq!(value["status"], status, "{name}: {value:#}");
        assert_eq!(path_of(&value), path, "{name}: {value:#}");
        assert_eq!(value["errors"], Value::Array(vec![]), "{name}: {value:#}");
        assert_eq!(value["open"], Value::Array(vec![]), "{name}: {value:#}");
        assert!(value["data"].is_object(), "{name}: {value:#}");
    }
}

#[test]
fn simulate_json_carries_the_final_data() {
    let (_, value) = simulate_json("document-edit", true);
    assert_eq!(value["data"]["updated_doc"], "Our spring newsletter is here, with new opening hours.");
    assert_eq!(value["data"]["author_responses"], "Yes, 9 to 6 on weekdays.");
    assert!(value["data"].get("questions").is_none(), "the last edit cleared the questions: {value:#}");
    let (_, value) = simulate_json("venue-map", true);
    assert_eq!(value["data"]["location"], serde_json::json!({"lat": -36.84, "lng": 174.77}));
    assert_eq!(value["data"]["digitized_map"], "https://files.example.com/harbour/map-v2.geojson");
}

#[test]
fn simulate_without_outputs_leaves_the_first_person_task_open() {
    let (_, value) = simulate_json("document-edit", false);
    assert_eq!(value["status"], "IN_PROGRESS", "{value:#}");
    assert_eq!(path_of(&value), vec!["edit"]);
    assert_eq!(value["open"], serde_json::json!(["edit"]));
}

#[test]
fn simulate_with_an_explicit_ticket_type() {
    let output = run(&[
        &"simulate",
        &example("document-edit"),
        &"--ticket",
        &"edit-request",
        &"--data",
        &data("document-edit", "ticket"),
        &"--outputs",
        &data("document-edit", "outputs"),
        &"--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value["status"], "COMPLETED");

    let output = run(&[
        &"simulate",
        &example("document-edit"),
        &"--ticket",
        &"nope",
        &"--data",
        &data("document-edit", "ticket"),
    ]);
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stderr(&output).contains("no ticket type \"nope\""), "{}", describe(&output));
    assert!(stderr(&output).contains("edit-request"), "{}", describe(&output));
}

#[test]
fn simulate_names_every_problem_of_invalid_ticket_data() {
    let (_dir, ticket) = write_file("ticket.json", r#"{"title": "ab", "submitted_doc": 5}"#);
    let output = run(&[&"simulate", &example("document-edit"), &"--data", &ticket, &"--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert_eq!(stdout(&output), "", "no simulation is printed for invalid data");
    let text = stderr(&output);
    let name = ticket.display();
    assert!(text.contains(&format!("{name}: /title: ")), "{text}");
    assert!(text.contains(&format!("{name}: /submitted_doc: ")), "{text}");

    let (_dir, ticket) = write_file("ticket.json", "{}");
    let output = run(&[&"simulate", &example("document-edit"), &"--data", &ticket]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let text = stderr(&output);
    assert!(text.contains(&format!("{}: /title: title is required", ticket.display())), "{text}");
    assert!(text.contains(&format!("{}: /submitted_doc: submitted_doc is required", ticket.display())), "{text}");
}

#[test]
fn simulate_reports_the_problems_of_a_broken_definition() {
    let (_dir, path) = write_file("broken.yaml", &SMALL.replace("type: form", "type: forms"));
    let (_data_dir, ticket) = write_file("ticket.json", r#"{"note": "hello"}"#);
    let output = run(&[&"simulate", &path, &"--data", &ticket, &"--json"]);
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        stderr(&output).contains(&format!("{}: /tasks/0/type: \"forms\" is not a valid type", path.display())),
        "{}",
        describe(&output)
    );
}

#[test]
fn simulate_explains_unreadable_and_malformed_inputs() {
    let output = run(&[&"simulate", &example("document-edit"), &"--data", &"/nonexistent/ticket.json"]);
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stderr(&output).contains("cannot read /nonexistent/ticket.json"), "{}", describe(&output));

    let (_dir, ticket) = write_file("ticket.json", "{\"title\": ");
    let output = run(&[&"simulate", &example("document-edit"), &"--data", &ticket]);
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stderr(&output).contains("is not valid JSON"), "{}", describe(&output));

    let (_dir, outputs) = write_file("outputs.json", r#"{"edti": [{}]}"#);
    let output = run(&[
        &"simulate",
        &example("document-edit"),
        &"--data",
        &data("document-edit", "ticket"),
        &"--outputs",
        &outputs,
    ]);
    assert_ne!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(stderr(&output).contains("edti"), "{}", describe(&output));
    assert!(!stderr(&output).contains("panicked"), "{}", describe(&output));
}

#[test]
fn simulate_reports_a_scripted_output_that_breaks_its_schema() {
    let (_dir, outputs) =
        write_file("outputs.json", r#"{"answer": [{"author_responses": 42}], "edit": [{"questions": "Why?"}]}"#);
    let output = run(&[
        &"simulate",
        &example("document-edit"),
        &"--data",
        &data("document-edit", "ticket"),
        &"--outputs",
        &outputs,
        &"--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value["status"], "IN_PROGRESS", "{value:#}");
    assert_eq!(value["open"], serde_json::json!(["answer"]), "{value:#}");
    let errors = value["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{value:#}");
    assert_eq!(errors[0]["type"], "INVALID_OUTPUT");
    assert!(errors[0]["message"].as_str().unwrap().contains("\"answer\""), "{value:#}");
}

#[test]
fn simulate_prints_a_readable_run_with_the_path() {
    let output = run(&[
        &"simulate",
        &example("document-edit"),
        &"--data",
        &data("document-edit", "ticket"),
        &"--outputs",
        &data("document-edit", "outputs"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.contains("Document Edit"), "{text}");
    assert!(text.contains("Status: COMPLETED"), "{text}");
    assert!(text.contains("Path: edit → answer → edit"), "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_err(), "without --json the output is for people");

    let output = run(&[&"simulate", &example("document-edit"), &"--data", &data("document-edit", "ticket")]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.contains("Status: IN_PROGRESS"), "{text}");
    assert!(text.contains("Path: edit"), "{text}");
    assert!(text.contains("Still open"), "{text}");
    assert!(text.contains("edit"), "{text}");
}

#[test]
fn simulate_stops_at_the_first_person_task_without_a_script() {
    let output =
        run(&[&"simulate", &example("order-fulfilment"), &"--data", &data("order-fulfilment", "ticket"), &"--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    // The approval is a person's task, so the run stops there, before any http task.
    assert_eq!(value["open"], serde_json::json!(["approve_order"]), "{value:#}");
}

/// An ai task and an http task between two people's tasks; the transitions
/// after them read what they returned, so the path only continues when the
/// generated samples landed in the data.
const AUTOMATED: &str = r#"
format: ticketflower/v1
key: automated
title: Automated
roles: [staff]
tickets:
  - key: request
    title: Request
    fields: {type: object, required: [message], properties: {message: {type: string}}}
tasks:
  - key: intake
    title: Intake
    type: form
    assign: {role: staff}
    output_schema: {type: object, required: [priority], properties: {priority: {type: integer}}}
  - key: classify
    title: Classify
    type: ai
    prompt: Classify the message and summarise it in one sentence.
    input: {message: "$.data.message"}
    output_schema:
      type: object
      required: [category, summary]
      properties:
        category: {type: string, enum: [billing, technical]}
        summary: {type: string, minLength: 12}
  - key: lookup
    title: Look up the account
    type: http
    action: {method: POST, url: "https://crm.example.com/lookup"}
    input: {category: "$.data.category"}
    output_schema:
      type: object
      required: [account, open_invoices]
      properties:
        account: {type: string, format: email}
        open_invoices: {type: integer, minimum: 2}
  - key: respond
    title: Respond
    type: form
    assign: {role: staff}
    output_schema: {type: object, required: [reply], properties: {reply: {type: string}}}
transitions:
  - {from: start, to: intake}
  - {from: intake, to: classify}
  - {from: classify, to: lookup, when: {data.category: billing, data.summary: {$exists: true}}}
  - {from: classify, status: CANCELLED, when: {data.category: {$ne: billing}}}
  - {from: lookup, to: respond, when: {data.open_invoices: {$gte: 2}, data.account: {$regex: "@"}}}
  - {from: lookup, status: CANCELLED, when: {data.open_invoices: {$lt: 2}}}
  - {from: respond, status: COMPLETED}
"#;

#[test]
fn simulate_generates_samples_for_automated_tasks() {
    // Only the people's tasks are scripted: the ai and http tasks must be sampled from their output_schema.
    let (_dir, definition) = write_file("automated.yaml", AUTOMATED);
    let (_ticket_dir, ticket) = write_file("ticket.json", r#"{"message": "I was charged twice."}"#);
    let (_outputs_dir, outputs) =
        write_file("outputs.json", r#"{"intake": [{"priority": 2}], "respond": [{"reply": "Refunded."}]}"#);
    let output = run(&[&"simulate", &definition, &"--data", &ticket, &"--outputs", &outputs, &"--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let value: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(value["errors"], serde_json::json!([]), "{value:#}");
    assert_eq!(path_of(&value), vec!["intake", "classify", "lookup", "respond"], "{value:#}");
    assert_eq!(value["status"], "COMPLETED", "{value:#}");
    assert_eq!(value["open"], serde_json::json!([]), "{value:#}");

    // What each automated task wrote is a valid output of that task.
    let loaded =
        ticketflower_core::definition::Definition::load_str(AUTOMATED, ticketflower_core::document::Syntax::Yaml);
    let workflow = loaded.definition.unwrap_or_else(|| panic!("{:?}", loaded.problems));
    let data = value["data"].as_object().unwrap();
    for (task, fields) in [("classify", ["category", "summary"]), ("lookup", ["account", "open_invoices"])] {
        let written: serde_json::Map<String, Value> = fields
            .iter()
            .map(|field| {
                let value = data.get(*field).unwrap_or_else(|| panic!("{task} wrote no {field}: {data:#?}"));
                ((*field).to_owned(), value.clone())
            })
            .collect();
        let schema = workflow.task(task).unwrap().output_schema.as_ref().unwrap();
        let written = Value::Object(written);
        assert!(schema.validate(&written).is_ok(), "{task} wrote {written}, which its output_schema refuses");
    }
    assert_eq!(data["category"], "billing", "the first enum value: {value:#}");
    assert_eq!(data["open_invoices"], 2, "the minimum: {value:#}");
    assert_eq!(data["reply"], "Refunded.", "the scripted output of the last task: {value:#}");

    // The readable output says which outputs were generated.
    let output = run(&[&"simulate", &definition, &"--data", &ticket, &"--outputs", &outputs]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = stdout(&output);
    let generated: Vec<&str> =
        text.lines().filter(|line| line.ends_with("(generated sample)")).map(str::trim).collect();
    assert_eq!(generated.len(), 2, "{text}");
    assert!(generated[0].starts_with("2. classify completed with "), "{text}");
    assert!(generated[1].starts_with("3. lookup completed with "), "{text}");
}

// ---- help ----

#[test]
fn help_exits_zero_and_lists_the_subcommands() {
    let output = run(&[&"--help"]);
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let text = stdout(&output);
    assert!(text.contains("validate"), "{text}");
    assert!(text.contains("simulate"), "{text}");
    for command in ["validate", "simulate"] {
        let output = run(&[&command, &"--help"]);
        assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
        assert!(stdout(&output).contains("Usage"), "{}", describe(&output));
    }
}

/// Runs the binary in `dir` with the default database (`./data/ticketflower.db` there), feeding `input`.
fn run_in(dir: &Path, args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ticketflower"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn operators_provision_companies_and_users_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let created = run_in(dir, &["company", "create", "Acme Bakery"], "");
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(dir.join("data/ticketflower.db").exists(), "the default database lives under ./data");
    let again = run_in(dir, &["company", "create", "Acme Bakery"], "");
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already exists"), "{}", stderr(&again));

    let add = |email: &str, password: &str, extra: &[&str]| {
        let mut args = vec!["user", "add", "--company", "Acme Bakery", "--email", email, "--password-stdin"];
        args.extend_from_slice(extra);
        run_in(dir, &args, password)
    };
    let ann = add(
        "Ann@Acme.test",
        "a long passphrase\n",
        &["--permission", "workflow_creator", "--role", "editor", "--role", "qa"],
    );
    assert!(ann.status.success(), "{}", stderr(&ann));
    let short = add("bob@acme.test", "short\n", &[]);
    assert_eq!(short.status.code(), Some(1));
    assert!(stderr(&short).contains("at least 10 characters"), "{}", stderr(&short));
    let wizard = add("bob@acme.test", "a long passphrase\n", &["--permission", "wizard"]);
    assert_eq!(wizard.status.code(), Some(1));
    assert!(stderr(&wizard).contains("company_admin, workflow_creator, ticket_admin"), "{}", stderr(&wizard));
    let twice = add("ann@acme.test", "another long passphrase\n", &[]);
    assert_eq!(twice.status.code(), Some(1));
    assert!(stderr(&twice).contains("already exists"), "{}", stderr(&twice));
    let nowhere = run_in(
        dir,
        &["user", "add", "--company", "Nope", "--email", "x@y.z", "--password-stdin"],
        "a long passphrase\n",
    );
    assert_eq!(nowhere.status.code(), Some(1));

    let listed = run_in(dir, &["user", "list", "--company", "Acme Bakery", "--json"], "");
    assert!(listed.status.success(), "{}", stderr(&listed));
    let users: Value = serde_json::from_str(&stdout(&listed)).unwrap();
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 1, "only ann was added: {users:?}");
    assert_eq!(users[0]["email"], "ann@acme.test");
    assert_eq!(users[0]["permissions"], serde_json::json!(["workflow_creator"]));
    assert_eq!(users[0]["roles"], serde_json::json!(["editor", "qa"]));
}

#[test]
fn import_then_export_round_trips_versions() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let file = example("document-edit");
    let file = file.to_str().unwrap();
    let first = run_in(dir, &["import", file, "--company", "Acme", "--activate"], "");
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(stdout(&first).contains("created company \"Acme\""), "{}", stdout(&first));
    assert!(stdout(&first).contains("version 1"), "{}", stdout(&first));
    let second = run_in(dir, &["import", file, "--company", "Acme"], "");
    assert!(stdout(&second).contains("new version of document-edit version 2"), "{}", stdout(&second));
    let exported = run_in(dir, &["export", "document-edit", "--company", "Acme", "--version", "1", "--json"], "");
    assert!(exported.status.success(), "{}", stderr(&exported));
    let document: Value = serde_json::from_str(&stdout(&exported)).unwrap();
    let original: Value = serde_norway::from_str(&std::fs::read_to_string(example("document-edit")).unwrap()).unwrap();
    assert_eq!(document, original);
    let keys: Vec<&String> = document.as_object().unwrap().keys().collect();
    assert_eq!(keys[..3], ["format", "key", "title"], "key order is kept");
    let missing = run_in(dir, &["export", "nope", "--company", "Acme"], "");
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("has no workflow \"nope\""), "{}", stderr(&missing));
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "format: ticketflower/v1\nkey: broken\n").unwrap();
    let refused = run_in(dir, &["import", broken.to_str().unwrap(), "--company", "Acme"], "");
    assert_eq!(refused.status.code(), Some(1));
    assert!(stdout(&refused).contains("/title"), "{}", stdout(&refused));
    assert!(stdout(&refused).contains("not imported"), "{}", stdout(&refused));
}

#[test]
fn an_invalid_import_into_a_new_company_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let broken = dir.join("broken.yaml");
    std::fs::write(&broken, "format: ticketflower/v1\nkey: broken\n").unwrap();
    let refused = run_in(dir, &["import", broken.to_str().unwrap(), "--company", "Brand New"], "");
    assert_eq!(refused.status.code(), Some(1), "{}", describe(&refused));
    let name = broken.display();
    let text = stdout(&refused);
    assert!(text.contains(&format!("{name}: /title: \"title\" is required")), "{text}");
    assert!(text.contains(&format!("{name}: /tasks: \"tasks\" is required")), "{text}");
    assert!(text.ends_with(&format!("{name}: not imported\n")), "{text}");
    assert!(!text.contains("created company"), "{text}");

    // Nothing half-written: the company the import would have created does not exist.
    let listed = run_in(dir, &["user", "list", "--company", "Brand New"], "");
    assert_eq!(listed.status.code(), Some(1), "{}", describe(&listed));
    assert!(stderr(&listed).contains("there is no company named \"Brand New\""), "{}", describe(&listed));
    let created = run_in(dir, &["company", "create", "Brand New"], "");
    assert!(created.status.success(), "the name is still free: {}", describe(&created));
}

#[test]
fn an_import_refused_by_the_database_leaves_no_new_company() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let other = run_in(dir, &["company", "create", "Other"], "");
    assert!(other.status.success(), "{}", describe(&other));
    // The database refuses every new version, as a full disk or a lost
    // connection would refuse the import's last write.
    let database = rusqlite::Connection::open(dir.join("data/ticketflower.db")).unwrap();
    database
        .execute_batch(
            "CREATE TRIGGER refuse_versions BEFORE INSERT ON definition_versions \
             BEGIN SELECT RAISE(ABORT, 'the disk said no'); END",
        )
        .unwrap();
    let file = example("document-edit");
    let refused = run_in(dir, &["import", file.to_str().unwrap(), "--company", "Brand New"], "");
    assert!(!refused.status.success(), "{}", describe(&refused));
    assert!(stderr(&refused).contains("the disk said no"), "{}", describe(&refused));
    assert!(!stdout(&refused).contains("created company"), "{}", describe(&refused));

    let listed = run_in(dir, &["user", "list", "--company", "Brand New"], "");
    assert_eq!(listed.status.code(), Some(1), "{}", describe(&listed));
    assert!(stderr(&listed).contains("there is no company named \"Brand New\""), "{}", describe(&listed));
    // With the database willing again, the same import creates the company.
    database.execute_batch("DROP TRIGGER refuse_versions").unwrap();
    let imported = run_in(dir, &["import", file.to_str().unwrap(), "--company", "Brand New"], "");
    assert!(imported.status.success(), "{}", describe(&imported));
    assert!(stdout(&imported).contains("created company \"Brand New\""), "{}", describe(&imported));
}

// ---- assistant-eval ----

const LLM_VARIABLES: [&str; 5] = [
    "TICKETFLOWER_LLM_PROVIDER",
    "TICKETFLOWER_LLM_MODEL",
    "TICKETFLOWER_LLM_API_KEY",
    "TICKETFLOWER_LLM_BASE_URL",
    "TICKETFLOWER_LLM_TIMEOUT_SECONDS",
];

/// Runs `assistant-eval` with exactly these `TICKETFLOWER_LLM_*` variables set.
fn run_eval(args: &[&dyn AsRef<std::ffi::OsStr>], llm: &[(&str, &str)]) -> Output {
    let scratch = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ticketflower"));
    command.arg("assistant-eval").args(args.iter().map(|a| a.as_ref())).current_dir(scratch.path());
    for variable in LLM_VARIABLES {
        command.env_remove(variable);
    }
    command.envs(llm.iter().copied()).env("NO_COLOR", "1").output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assistant_eval_runs_a_case_against_the_configured_provider_and_prints_json() {
    use ticketflower_assistant::fake::{FakeProvider, scripts};
    let fake = FakeProvider::start(scripts::document_edit()).await.unwrap();
    let cases = tempfile::tempdir().unwrap();
    let shipped = examples().join("assistant-eval/document-edit.md");
    std::fs::copy(&shipped, cases.path().join("document-edit.md")).unwrap();
    let dir = cases.path().to_owned();
    let base_url = fake.base_url.clone();
    let output = tokio::task::spawn_blocking(move || {
        let llm = [
            ("TICKETFLOWER_LLM_PROVIDER", "openai"),
            ("TICKETFLOWER_LLM_MODEL", "fake-model"),
            ("TICKETFLOWER_LLM_BASE_URL", base_url.as_str()),
            ("TICKETFLOWER_LLM_API_KEY", "fake-key"),
        ];
        run_eval(&[&dir, &"--json"], &llm)
    })
    .await
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap_or_else(|e| panic!("{e}: {}", describe(&output)));
    assert_eq!(report["provider"], "openai");
    assert_eq!(report["model"], "fake-model");
    let case = &report["cases"][0];
    assert_eq!(case["name"], "document-edit");
    assert_eq!((case["passed"].as_bool(), case["valid"].as_bool()), (Some(true), Some(true)), "{case}");
    assert_eq!((case["turns"].as_u64(), case["model_calls"].as_u64()), (Some(2), Some(2)));
    assert_eq!(case["checks_passed"], case["checks_total"]);
    assert_eq!(report["total"]["cases"], 1);
    assert_eq!(report["total"]["passed"], 1);
    // The request went to the fake, with the configured key.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].header("authorization"), Some("Bearer fake-key"));
    assert!(stderr(&output).contains("[1/1] document-edit: passed"), "{}", describe(&output));
}

#[test]
fn assistant_eval_without_a_provider_says_how_to_configure_one() {
    let cases = examples().join("assistant-eval");
    let output = run_eval(&[&cases], &[]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let text = stderr(&output);
    assert!(text.contains("The AI assistant is not configured"), "{text}");
    assert!(text.contains("TICKETFLOWER_LLM_PROVIDER") && text.contains("TICKETFLOWER_LLM_MODEL"), "{text}");
    assert!(stdout(&output).is_empty(), "{}", describe(&output));
}

#[test]
fn assistant_eval_names_a_bad_case_file() {
    let (dir, path) = write_file("broken.md", "---\ntitle: Broken\nloop: true\n---\nA request.\n");
    let llm = [
        ("TICKETFLOWER_LLM_PROVIDER", "openai"),
        ("TICKETFLOWER_LLM_MODEL", "m"),
        ("TICKETFLOWER_LLM_BASE_URL", "http://127.0.0.1:9"),
    ];
    let output = run_eval(&[&dir.path()], &llm);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    let text = stderr(&output);
    assert!(text.contains(&format!("{}:3:", path.display())) && text.contains("unknown field `loop`"), "{text}");
}

/// The README's run command in a fresh folder: `ticketflower` with no
/// arguments (on a free port), until it says where it listens.
struct Served {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    /// What it printed up to and including the line with its address.
    printed: String,
    address: String,
}

fn serve_in(dir: &Path) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ticketflower"))
        .current_dir(dir)
        .env("TICKETFLOWER_BIND", "127.0.0.1:0")
        .env_remove("DATABASE_URL")
        .env_remove("TICKETFLOWER_DATA_DIR")
        .env_remove("TICKETFLOWER_LLM_PROVIDER")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    match read_until_listening(&mut stdout) {
        Ok((printed, address)) => Served { child, stdout, printed, address },
        Err(printed) => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the server stopped before listening:\n{printed}");
        }
    }
}

/// The lines up to the one with the address, and the address (or what was
/// printed, when the output ended first).
fn read_until_listening(stdout: &mut impl std::io::BufRead) -> Result<(String, String), String> {
    let mut printed = String::new();
    loop {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap_or(0) == 0 {
            return Err(printed);
        }
        printed.push_str(&line);
        if let Some((_, address)) = line.trim().split_once("is running on http://") {
            let address = address.split_whitespace().next().unwrap_or_default().to_owned();
            return Ok((printed, address));
        }
    }
}

impl Served {
    /// The status line of `GET path`.
    fn status_of(&self, path: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&self.address).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.address).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response.lines().next().unwrap_or_default().to_owned()
    }

    /// Sends SIGTERM; returns the exit status and what was printed after the address.
    fn terminate(mut self) -> (std::process::ExitStatus, String) {
        use std::io::Read;
        let killed = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(killed.success());
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (self.child.wait().unwrap(), rest)
    }
}

impl Drop for Served {
    /// A server a failed assertion left running is stopped (after
    /// `terminate`, this finds it already ended).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_seeds_the_demo_company_once_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let first = serve_in(dir.path());
    assert!(first.printed.contains("Demo logins"), "{}", first.printed);
    assert!(first.printed.contains("owner@demo.test"), "{}", first.printed);
    assert_eq!(first.status_of("/login"), "HTTP/1.1 200 OK");
    let (status, rest) = first.terminate();
    assert!(status.success(), "{status:?}: {rest}");
    assert!(rest.contains("TicketFlower stopped."), "{rest}");
    let data = dir.path().join("data");
    assert!(data.join("ticketflower.db").exists());
    // The database was closed: its write-ahead log is folded back into the file.
    assert!(!data.join("ticketflower.db-wal").exists(), "the write-ahead log was left behind");

    let second = serve_in(dir.path());
    assert!(!second.printed.contains("Demo logins"), "the demo is created once:\n{}", second.printed);
    assert_eq!(second.status_of("/login"), "HTTP/1.1 200 OK");
    let (status, rest) = second.terminate();
    assert!(status.success(), "{status:?}: {rest}");
}
