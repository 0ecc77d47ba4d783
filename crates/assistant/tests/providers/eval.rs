//! The evaluation harness without the network: every shipped case file loads, bad
//! case files are clear errors, the checks on the repository's example
//! definitions, and the runner against scripted models (plan then proposal, a
//! model that only talks, a provider error between two cases) with its reports.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use ticketflower_assistant::designer::{Designer, DesignerOptions};
use ticketflower_assistant::eval::{self, Case, CaseSpec, Ending, Report, TaskRange, case, checks};
use ticketflower_assistant::fake::{FAKE_MODEL, FakeProvider, Reply, scripts};
use ticketflower_assistant::{Provider, ProviderKind};
use ticketflower_core::definition::Definition;
use ticketflower_core::document::Syntax;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cases_dir() -> PathBuf {
    repository().join("examples/assistant-eval")
}

fn shipped(name: &str) -> Case {
    case::load(&cases_dir().join(format!("{name}.md"))).unwrap()
}

fn example(name: &str) -> Definition {
    let text = std::fs::read_to_string(repository().join(format!("examples/{name}.yaml"))).unwrap();
    let loaded = Definition::load_str(&text, Syntax::Yaml);
    loaded.definition.unwrap_or_else(|| panic!("{name}: {:?}", loaded.problems))
}

fn parse(text: &str) -> Result<Case, case::CaseError> {
    case::parse(Path::new("cases/broken.md"), text)
}

fn designer(fake: &FakeProvider) -> Designer {
    Designer::new(Provider::new(fake.config(ProviderKind::OpenAi)).unwrap(), DesignerOptions::default())
}

fn failed(checks: &[eval::Check]) -> Vec<&str> {
    checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect()
}

/// The text of the last user message of a request the fake received.
fn last_user_text(body: &Value) -> String {
    let messages = body["messages"].as_array().unwrap();
    let last = messages.iter().rev().find(|m| m["role"] == "user").unwrap();
    last["content"].as_str().unwrap().to_owned()
}

// ---- case files ----

#[test]
fn every_shipped_case_file_loads() {
    let cases = case::load_dir(&cases_dir()).unwrap();
    assert!(cases.len() >= 12, "{} cases", cases.len());
    for case in &cases {
        assert!(!case.spec.title.is_empty() && case.request.len() > 100, "{}: {case:?}", case.name);
        assert!(!case.request.contains("---"), "{}: the body took in front matter", case.name);
        // Every case checks more than the sample run, and never fixes task keys.
        assert!(checks::CheckKind::of(&case.spec).len() >= 4, "{}", case.name);
        assert!(case.spec.transitions.is_empty(), "{}: shipped cases should not fix task keys", case.name);
    }
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    for seed in
        ["document-edit", "venue-map", "customer-support", "order-fulfilment", "hr-onboarding", "insurance-claim"]
    {
        assert!(names.contains(&seed), "{names:?}");
    }
    assert!(!names.contains(&"README"), "the README is not a case");
}

#[test]
fn a_case_file_is_parsed_into_its_front_matter_and_request() {
    let case = shipped("document-edit");
    assert_eq!(case.name, "document-edit");
    assert_eq!(case.spec.tasks, Some(TaskRange { min: Some(2), max: Some(4) }));
    assert_eq!(case.spec.loops, Some(true));
    assert_eq!(case.spec.approval, Some(false));
    assert!(case.request.starts_with("We get document edit requests."), "{}", case.request);
}

#[test]
fn an_unknown_front_matter_key_is_an_error_with_the_file_and_line() {
    let error = parse("---\ntitle: Broken\ntasks: {min: 2}\nloop: true\n---\nSome request.\n").unwrap_err();
    assert_eq!(error.line, Some(4), "{error}");
    let text = error.to_string();
    assert!(text.starts_with("cases/broken.md:4: "), "{text}");
    assert!(text.contains("unknown field `loop`"), "{text}");
}

#[test]
fn malformed_case_files_say_what_is_wrong() {
    let cases = [
        ("Just a request.", "starts with front matter"),
        ("---\ntitle: Open\nSome request.", "not closed"),
        ("---\ntitle: T\ntask_types: [froms]\n---\nRequest.", "unknown task type \"froms\""),
        ("---\ntitle: T\nstatuses: [DONE]\n---\nRequest.", "\"DONE\" is not an end status"),
        ("---\ntitle: T\ntasks: {min: 5, max: 2}\n---\nRequest.", "min 5 is more than max 2"),
        ("---\ntitle: T\n---\n\n", "the request"),
        ("---\nroles: [editor]\n---\nRequest.", "missing field `title`"),
        ("---\ntitle: T\ntasks: {min: two}\n---\nRequest.", "front matter"),
    ];
    for (text, expected) in cases {
        let error = parse(text).unwrap_err().to_string();
        assert!(error.starts_with("cases/broken.md"), "{error}");
        assert!(error.contains(expected), "{text:?}: {error}");
    }
}

#[test]
fn a_directory_without_cases_is_an_error() {
    let dir = std::env::temp_dir().join(format!("ticketflower-eval-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("README.md"), "# not a case").unwrap();
    let error = case::load_dir(&dir).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(error.contains("no case files"), "{error}");
}

// ---- checks ----

#[test]
fn each_example_definition_passes_its_case() {
    for name in ["document-edit", "venue-map", "customer-support", "order-fulfilment"] {
        let results = checks::check(&shipped(name).spec, &example(name));
        assert!(results.iter().all(|c| c.passed), "{name}: {results:#?}");
        assert_eq!(results.last().map(|c| c.name.as_str()), Some("sample_run"));
    }
}

#[test]
fn the_document_edit_example_fails_a_case_that_requires_an_approval() {
    let spec = CaseSpec { approval: Some(true), ..shipped("document-edit").spec };
    let results = checks::check(&spec, &example("document-edit"));
    assert_eq!(failed(&results), ["approval"]);
    let approval = results.iter().find(|c| c.name == "approval").unwrap();
    assert_eq!(approval.detail, "expected an approval task; there is none");
}

#[test]
fn shape_checks_fail_with_what_was_found() {
    let spec = CaseSpec {
        title: "Wrong on purpose".into(),
        tasks: Some(TaskRange { min: Some(5), max: None }),
        task_types: vec!["form".into(), "http".into()],
        statuses: vec!["CANCELLED".into()],
        loops: Some(false),
        parallel: Some(true),
        roles: vec!["Manager".into()],
        fields: vec!["amount|total".into()],
        ..CaseSpec::default()
    };
    let results = checks::check(&spec, &example("document-edit"));
    assert_eq!(
        failed(&results),
        ["tasks", "task_types", "statuses", "loops", "parallel", "roles", "fields"],
        "{results:#?}"
    );
    let detail = |name: &str| results.iter().find(|c| c.name == name).unwrap().detail.clone();
    assert_eq!(detail("tasks"), "2 tasks; expected at least 5");
    assert_eq!(detail("task_types"), "no task of type http; types used: form");
    assert_eq!(detail("statuses"), "no transition to CANCELLED; end statuses reached: COMPLETED");
    assert!(detail("loops").contains("answer → edit loops back"), "{}", detail("loops"));
    assert_eq!(detail("roles"), "nothing matches Manager; assigned roles: editor");
    assert_eq!(detail("fields"), "nothing matches amount|total; ticket fields: submitted_doc, title");
}

#[test]
fn roles_and_fields_match_part_of_a_name_ignoring_case_and_punctuation() {
    let spec = CaseSpec {
        title: "Words".into(),
        roles: vec!["EDIT".into(), "boss|editor".into()],
        fields: vec!["Submitted-Doc".into(), "TITLE".into()],
        ..CaseSpec::default()
    };
    let results = checks::check(&spec, &example("document-edit"));
    assert!(results.iter().all(|c| c.passed), "{results:#?}");
}

#[test]
fn transitions_are_checked_by_task_key_and_end_status() {
    let spec = |pairs: &[(&str, &str)]| CaseSpec {
        title: "Keys".into(),
        transitions: pairs.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect(),
        ..CaseSpec::default()
    };
    let definition = example("document-edit");
    let present = checks::check(&spec(&[("start", "edit"), ("answer", "edit"), ("edit", "COMPLETED")]), &definition);
    assert!(present[0].passed, "{present:?}");
    let absent = checks::check(&spec(&[("start", "review"), ("answer", "COMPLETED")]), &definition);
    assert!(!absent[0].passed);
    assert_eq!(absent[0].detail, "missing: start → review (there is no task \"review\"); answer → COMPLETED");
}

#[test]
fn parallel_steps_are_found_by_joins_and_by_fan_out_under_one_condition() {
    let spec = CaseSpec { title: "Parallel".into(), parallel: Some(true), ..CaseSpec::default() };
    let venue = checks::check(&spec, &example("venue-map"));
    assert!(venue[0].passed && venue[0].detail.contains("waits for"), "{venue:?}");
    let support = checks::check(&spec, &example("customer-support"));
    assert!(!support[0].passed, "triage's ways out have different conditions: {support:?}");
}

// ---- the runner ----

#[tokio::test]
async fn a_plan_then_a_proposal_passes_the_case() {
    let fake = FakeProvider::start(scripts::document_edit()).await.unwrap();
    let result = eval::run_case(&designer(&fake), &shipped("document-edit"), 4).await;
    assert!(result.passed && result.valid, "{result:#?}");
    assert_eq!(result.ending, Ending::Proposal);
    assert_eq!((result.turns, result.model_calls, result.repairs), (2, 2, 0));
    assert!(result.problem.is_none());
    assert!(result.input_tokens > 0 && result.output_tokens > 0);
    let requests = fake.requests();
    assert_eq!(last_user_text(&requests[0].body), shipped("document-edit").request);
    assert_eq!(last_user_text(&requests[1].body), eval::PLAN_APPROVED);
    assert!(requests[0].system_prompt().unwrap().contains("Evaluation"));
}

#[tokio::test]
async fn a_question_is_left_to_the_assistant_to_decide() {
    let mut script = vec![Reply::tool_call(
        "ask_clarifying_question",
        json!({"question": "Who edits the documents?", "options": ["Editors", "Anyone"]}),
    )];
    script.extend(scripts::document_edit());
    let fake = FakeProvider::start(script).await.unwrap();
    let result = eval::run_case(&designer(&fake), &shipped("document-edit"), 4).await;
    assert!(result.passed, "{result:#?}");
    assert_eq!(result.turns, 3);
    assert_eq!(last_user_text(&fake.requests()[1].body), eval::DECIDE_YOURSELF);
}

#[tokio::test]
async fn a_model_that_only_answers_in_text_fails_after_the_turn_limit() {
    let script = (0..3).map(|n| Reply::text(format!("Workflows are great, part {n}.")));
    let fake = FakeProvider::start(script).await.unwrap();
    let case = shipped("document-edit");
    let result = eval::run_case(&designer(&fake), &case, 3).await;
    assert!(!result.passed && !result.valid);
    assert_eq!(result.ending, Ending::OutOfTurns);
    assert_eq!((result.turns, result.model_calls), (3, 3));
    assert_eq!(result.problem.as_deref(), Some("no proposal within 3 turns"));
    assert_eq!(result.checks.len(), checks::CheckKind::of(&case.spec).len());
    assert!(result.checks.iter().all(|c| !c.passed && c.detail.contains("no definition to check")));
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(last_user_text(&requests[2].body), eval::PROPOSE_NOW);
}

#[tokio::test]
async fn a_provider_error_fails_its_case_and_the_next_case_still_runs() {
    let mut script = vec![Reply::error(401, "invalid x-api-key")];
    script.extend(scripts::document_edit());
    let fake = FakeProvider::start(script).await.unwrap();
    let cases = [shipped("document-edit"), shipped("document-edit")];
    let mut heard = Vec::new();
    let report = eval::run(&designer(&fake), &cases, 4, &mut |result| heard.push(result.passed)).await;
    assert_eq!(heard, [false, true]);
    let first = &report.cases[0];
    assert_eq!(first.ending, Ending::ProviderError);
    assert_eq!(first.turns, 0);
    let problem = first.problem.as_deref().unwrap();
    assert!(problem.contains("refused the API key"), "{problem}");
    assert!(report.cases[1].passed, "{:#?}", report.cases[1]);
    assert_eq!((report.total.cases, report.total.passed, report.total.valid), (2, 1, 1));
    assert!(!report.all_passed());

    let table = report.table();
    assert!(table.contains("provider openai model fake-model, at most 4 turns"), "{table}");
    assert!(table.contains("provider error: "), "{table}");
    assert!(table.contains("Total: 1/2 cases passed; valid within 4 turns 1/2 (50 %)"), "{table}");
    assert_eq!(table.lines().filter(|line| line.starts_with("document-edit")).count(), 2, "{table}");
}

#[tokio::test]
async fn the_json_report_is_one_object_with_provider_model_cases_and_total() {
    let fake = FakeProvider::start(scripts::document_edit()).await.unwrap();
    let report = eval::run(&designer(&fake), &[shipped("document-edit")], 4, &mut |_| {}).await;
    let json = serde_json::to_value(&report).unwrap();
    let keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["provider", "model", "cases", "total"]);
    assert_eq!(json["provider"], "openai");
    assert_eq!(json["model"], FAKE_MODEL);
    let case = &json["cases"][0];
    for key in [
        "name",
        "title",
        "passed",
        "valid",
        "ending",
        "problem",
        "checks",
        "checks_passed",
        "checks_total",
        "turns",
        "model_calls",
        "repairs",
        "input_tokens",
        "output_tokens",
        "seconds",
    ] {
        assert!(case.get(key).is_some(), "{key} missing: {case}");
    }
    assert_eq!(case["ending"], "proposal");
    assert_eq!(case["checks_passed"], case["checks_total"]);
    assert_eq!(case["checks"][0], json!({"name": "tasks", "passed": true, "detail": "2 tasks; expected 2 to 4"}));
    let total = &json["total"];
    assert_eq!(
        (total["cases"].as_u64(), total["passed"].as_u64(), total["max_turns"].as_u64()),
        (Some(1), Some(1), Some(4))
    );
    assert_eq!(total["valid_rate"], 1.0);
    // It reads back as a report.
    let back: Report = serde_json::from_value(json).unwrap();
    assert_eq!((back.cases[0].name.as_str(), back.total.passed), ("document-edit", report.total.passed));
}
