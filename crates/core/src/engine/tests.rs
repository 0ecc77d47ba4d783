#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The engine rules (SPEC §2.3–§2.4), one behaviour per test, each on a small
//! workflow written inline; then the four examples end to end; then property
//! tests over random workflows, random completion orders and random events.

use super::*;
use crate::document::Syntax;
use crate::simulate::{Script, Simulation, simulate};
use proptest::prelude::*;
use proptest::sample::Index;

// ---- helpers ----

const NOW: Timestamp = 1_000_000;
const CREATOR: &str = "creator@example.com";
/// The output schema of most test tasks; `<v>` in a test workflow stands for it.
const V_SCHEMA: &str = "{type: object, properties: {v: {type: integer}}}";

/// Loads a workflow written in YAML without its `format`, `key` and `title` lines.
fn workflow(body: &str) -> Definition {
    let text = format!("format: ticketflower/v1\nkey: test\ntitle: Test\n{}", dedent(body).replace("<v>", V_SCHEMA));
    Definition::load_str(&text, Syntax::Yaml)
        .into_result()
        .unwrap_or_else(|problems| panic!("the test workflow does not load: {problems:#?}\n{text}"))
}

/// Removes the indentation common to every non-blank line.
fn dedent(text: &str) -> String {
    let indent =
        text.lines().filter(|line| !line.trim().is_empty()).map(|l| l.len() - l.trim_start().len()).min().unwrap_or(0);
    text.lines().map(|line| format!("{}\n", line.get(indent..).unwrap_or_default())).collect()
}

/// A start without a ticket type, by [`CREATOR`].
fn ticketless(data: Value) -> NewInstance<'static> {
    NewInstance {
        ticket_type: None,
        submitted: data,
        ticket_id: json!(7),
        creator: Some(CREATOR.to_owned()),
        meta: json!({"id": 1, "definition": "test"}),
    }
}

fn begin(definition: &Definition, data: Value) -> (Instance, Decision) {
    start(definition, ticketless(data), NOW).unwrap_or_else(|error| panic!("the start was refused: {error}"))
}

/// Decides `event` and applies the decision; the event must be accepted.
fn act(definition: &Definition, instance: &mut Instance, event: Event) -> Decision {
    let decision =
        decide(definition, instance, &event, NOW).unwrap_or_else(|error| panic!("{event:?} was refused: {error}"));
    instance.apply(&decision);
    decision
}

/// Decides `event`, which must be refused.
fn refused(definition: &Definition, instance: &Instance, event: Event) -> EngineError {
    match decide(definition, instance, &event, NOW) {
        Ok(decision) => panic!("{event:?} was accepted: {decision:#?}"),
        Err(error) => error,
    }
}

/// The one open run of task `key`.
fn open_seq(definition: &Definition, instance: &Instance, key: &str) -> RunSeq {
    let task = definition.task_index(key).unwrap();
    let open: Vec<RunSeq> = instance.open_runs().filter(|run| run.task == task).map(|run| run.seq).collect();
    assert_eq!(open.len(), 1, "task {key} should have exactly one open run: {:#?}", instance.runs);
    open[0]
}

/// Completes the one open run of task `key`.
fn complete(definition: &Definition, instance: &mut Instance, key: &str, output: Value) -> Decision {
    let seq = open_seq(definition, instance, key);
    act(definition, instance, Event::Complete { seq, output })
}

fn keys<'d>(definition: &'d Definition, runs: &[TaskRun]) -> Vec<&'d str> {
    runs.iter().map(|run| definition.tasks[run.task].key.as_str()).collect()
}

fn open_keys<'d>(definition: &'d Definition, instance: &Instance) -> Vec<&'d str> {
    instance.open_runs().map(|run| definition.tasks[run.task].key.as_str()).collect()
}

fn kinds(decision: &Decision) -> Vec<ErrorKind> {
    decision.faults.iter().map(|fault| fault.kind).collect()
}

fn field(text: &str) -> FieldPath {
    FieldPath::parse(text).unwrap()
}

fn task(definition: &Definition, key: &str) -> usize {
    definition.task_index(key).unwrap()
}

const DOCUMENT_EDIT: &str = r#"
    tasks:
      - key: edit
        title: Edit
        type: form
        output_schema: {type: object, properties: {questions: {type: string}, updated_doc: {type: string}}}
        output: {questions: "$.questions", updated_doc: "$.updated_doc"}
      - key: answer
        title: Answer
        type: form
        assign: {initiator: true}
        output_schema: {type: object, required: [author_responses], properties: {author_responses: {type: string}}}
        output: {author_responses: "$.author_responses"}
    transitions:
      - {from: start, to: edit}
      - {from: edit, to: answer, when: {"data.questions": {$exists: true}}}
      - {from: edit, status: COMPLETED, when: {"data.updated_doc": {$exists: true}, "data.questions": {$exists: false}}}
      - {from: answer, to: edit}
"#;

// ---- start (rule 1) ----

#[test]
fn a_ticket_that_violates_its_type_is_refused_with_every_problem_at_its_field() {
    let definition = workflow(
        r#"
        tickets:
          - key: request
            title: Request
            fields:
              type: object
              required: [title, email]
              properties:
                title: {type: string, minLength: 3}
                email: {type: string, format: email}
                count: {type: integer}
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let new = NewInstance {
        ticket_type: Some("request"),
        submitted: json!({"title": "x", "count": "five"}),
        ..ticketless(json!({}))
    };
    let Err(EngineError::InvalidTicket(problems)) = start(&definition, new, NOW) else {
        panic!("an invalid ticket must be refused");
    };
    let mut pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    pointers.sort_unstable();
    assert_eq!(pointers, ["/count", "/email", "/title"], "{problems:#?}");
}

#[test]
fn a_start_without_a_ticket_type_is_validated_against_the_workflow_fields() {
    let definition = workflow(
        r#"
        fields: {type: object, properties: {n: {type: integer}}}
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let Err(EngineError::InvalidTicket(problems)) = start(&definition, ticketless(json!({"n": "x"})), NOW) else {
        panic!("data that violates the workflow fields must be refused");
    };
    assert_eq!(problems[0].pointer, "/n");
    let (instance, _) = begin(&definition, json!({"n": 1}));
    assert_eq!(instance.data, json!({"n": 1}));
}

#[test]
fn an_unknown_ticket_type_is_refused() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let new = NewInstance { ticket_type: Some("nope"), ..ticketless(json!({})) };
    assert_eq!(start(&definition, new, NOW).unwrap_err(), EngineError::UnknownTicketType("nope".into()));
}

#[test]
fn the_ticket_types_data_transform_gives_the_initial_workflow_data() {
    let definition = workflow(
        r#"
        tickets:
          - key: request
            title: Request
            fields: {type: object, properties: {title: {type: string}, priority: {type: string}, secret: {type: string}}}
            data: {title: "$.title", "meta.priority": "$.priority", channel: web}
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let submitted = json!({"title": "T", "priority": "high", "secret": "s"});
    let new = NewInstance { ticket_type: Some("request"), submitted, ..ticketless(json!({})) };
    let (instance, decision) = start(&definition, new, NOW).unwrap();
    assert_eq!(instance.data, json!({"title": "T", "meta": {"priority": "high"}, "channel": "web"}));
    assert_eq!(decision.writes.len(), 3);
    assert!(decision.writes.iter().all(|w| w.source == WriteSource::Ticket && w.write.old.is_none()));
    assert_eq!(
        instance.ticket,
        json!({"title": "T", "priority": "high", "secret": "s", "id": 7, "type": "request", "creator": CREATOR}),
        "the context's ticket is the ticket as submitted plus id, type and creator"
    );
}

#[test]
fn without_a_data_transform_every_ticket_field_is_copied() {
    let definition = workflow(
        r#"
        tickets:
          - {key: request, title: Request, fields: {type: object, properties: {a: {type: string}, b: {type: object}}}}
        tasks:
          - {key: t, title: T, type: form}
        transitions:
          - {from: start, to: t}
        "#,
    );
    let submitted = json!({"a": "x", "b": {"c": [1, 2]}});
    let new = NewInstance { ticket_type: Some("request"), submitted: submitted.clone(), ..ticketless(json!({})) };
    let (instance, _) = start(&definition, new, NOW).unwrap();
    assert_eq!(instance.data, submitted);
    assert_eq!(instance.status, InstanceStatus::InProgress);
}

#[test]
fn the_ticket_creator_is_the_initiator_and_visible_to_conditions() {
    let definition = workflow(
        r#"
        tickets:
          - {key: request, title: Request, fields: {type: object}}
        tasks:
          - {key: mine, title: Mine, type: form, assign: {initiator: true}}
          - {key: other, title: Other, type: form}
        transitions:
          - {from: start, to: mine, when: {"ticket.creator": "creator@example.com", "ticket.type": request}}
          - {from: start, to: other, when: {"ticket.creator": "someone@example.com"}}
        "#,
    );
    let new = NewInstance { ticket_type: Some("request"), ..ticketless(json!({})) };
    let (instance, _) = start(&definition, new, NOW).unwrap();
    assert_eq!(instance.initiator.as_deref(), Some(CREATOR));
    assert_eq!(keys(&definition, &instance.runs), ["mine"]);
    assert_eq!(
        instance.runs[0].assignment,
        Some(Assignment { eligible: Eligible::Users(vec![CREATOR.into()]), policy: AssignPolicy::Pool })
    );
}

#[test]
fn every_start_transition_that_holds_fires_highest_priority_first() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: form}
          - {key: c, title: C, type: form}
          - {key: d, title: D, type: form}
        transitions:
          - {from: start, to: a}
          - {from: start, to: b, priority: 5}
          - {from: start, to: c, when: {"data.x": 1}, priority: 9}
          - {from: start, to: d, priority: 2}
        "#,
    );
    let (instance, decision) = begin(&definition, json!({"x": 0}));
    assert_eq!(keys(&definition, &decision.new_runs), ["b", "d", "a"]);
    assert_eq!(decision.fired, [1, 3, 0]);
    assert_eq!(instance.runs.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(decision.faults.is_empty());
    assert_eq!(
        decision.effects,
        [Effect::Assigned { seq: 0 }, Effect::Assigned { seq: 1 }, Effect::Assigned { seq: 2 }]
    );
}

#[test]
fn no_start_transition_holding_is_a_workflow_creation_fault() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a, when: {"data.go": true}}
          - {from: a, status: COMPLETED}
        "#,
    );
    let (instance, decision) = begin(&definition, json!({"go": false}));
    assert_eq!(kinds(&decision), [ErrorKind::WorkflowCreation], "one fault, not also a stall: {decision:#?}");
    assert!(instance.runs.is_empty());
    assert!(decision.fired.is_empty());
    assert_eq!(instance.status, InstanceStatus::InProgress);
}

#[test]
fn an_instance_cannot_be_started_twice() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let (instance, _) = begin(&definition, json!({}));
    assert_eq!(
        refused(&definition, &instance, Event::Start { data: json!({}) }),
        EngineError::WrongStatus(InstanceStatus::InProgress)
    );
}

#[test]
fn a_conflict_at_start_is_a_workflow_transition_fault() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
          - {from: start, status: CANCELLED, when: {"data.spam": true}}
          - {from: a, status: COMPLETED}
        "#,
    );
    let (instance, decision) = begin(&definition, json!({"spam": true}));
    assert_eq!(kinds(&decision), [ErrorKind::WorkflowTransition]);
    assert!(instance.runs.is_empty());
    assert_eq!(instance.status, InstanceStatus::InProgress);
    let (instance, decision) = begin(&definition, json!({"spam": false}));
    assert!(decision.faults.is_empty());
    assert_eq!(open_keys(&definition, &instance), ["a"]);
}

// ---- completing a task (rule 2) ----

#[test]
fn an_output_that_violates_the_output_schema_is_refused_and_nothing_changes() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, output_schema: {type: object, required: [v], properties: {v: {type: integer}}}}
        transitions:
          - {from: start, to: a}
          - {from: a, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let before = instance.clone();
    let EngineError::InvalidOutput(problems) =
        refused(&definition, &instance, Event::Complete { seq: 0, output: json!({"v": "seven"}) })
    else {
        panic!("expected InvalidOutput");
    };
    assert_eq!(problems.iter().map(|p| p.pointer.as_str()).collect::<Vec<_>>(), ["/v"]);
    let EngineError::InvalidOutput(problems) =
        refused(&definition, &instance, Event::Complete { seq: 0, output: json!({}) })
    else {
        panic!("expected InvalidOutput");
    };
    assert_eq!(problems[0].pointer, "/v", "a missing required property points at itself");
    assert_eq!(instance, before);
    assert_eq!(instance.runs[0].status, TaskStatus::Open, "the task stays open");
    complete(&definition, &mut instance, "a", json!({"v": 7}));
    assert_eq!(instance.status, InstanceStatus::Completed);
}

#[test]
fn completing_edit_without_questions_completes_the_workflow() {
    let definition = workflow(DOCUMENT_EDIT);
    let (mut instance, _) = begin(&definition, json!({"title": "T"}));
    let decision = complete(&definition, &mut instance, "edit", json!({"updated_doc": "v2"}));
    assert_eq!(decision.status, Some(InstanceStatus::Completed));
    assert!(decision.effects.contains(&Effect::Ended { status: InstanceStatus::Completed }));
    assert_eq!(instance.data, json!({"title": "T", "updated_doc": "v2"}));
    assert_eq!(instance.runs[0].status, TaskStatus::Completed);
    assert_eq!(instance.runs[0].output, Some(json!({"updated_doc": "v2"})));
}

#[test]
fn an_edit_answering_without_questions_clears_the_old_questions() {
    let definition = workflow(DOCUMENT_EDIT);
    let (mut instance, _) = begin(&definition, json!({"title": "T"}));
    let asked = complete(&definition, &mut instance, "edit", json!({"questions": "Why?"}));
    assert_eq!(keys(&definition, &asked.new_runs), ["answer"]);
    complete(&definition, &mut instance, "answer", json!({"author_responses": "Because."}));
    let done = complete(&definition, &mut instance, "edit", json!({"updated_doc": "v2"}));
    let questions = done.writes.iter().find(|w| w.write.path == field("questions")).expect("questions is written");
    assert_eq!(questions.write.old, Some(json!("Why?")));
    assert_eq!(questions.write.new, None, "a target the output lacks is removed");
    assert_eq!(instance.data, json!({"title": "T", "author_responses": "Because.", "updated_doc": "v2"}));
    assert_eq!(instance.status, InstanceStatus::Completed);
    assert_eq!(keys(&definition, &instance.runs), ["edit", "answer", "edit"]);
}

#[test]
fn each_changed_field_is_written_with_its_old_and_new_value_and_the_run_that_wrote_it() {
    let definition = workflow(
        r#"
        tasks:
          - {key: first, title: First, type: form}
          - key: a
            title: A
            type: form
            output_schema: {type: object, properties: {x: {type: integer}, y: {type: integer}}}
            output: {x: "$.x", "nested.y": "$.y"}
        transitions:
          - {from: start, to: first}
          - {from: first, to: a}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({"x": 1, "nested": {"y": 2}}));
    complete(&definition, &mut instance, "first", json!({}));
    let decision = complete(&definition, &mut instance, "a", json!({"x": 1, "y": 3}));
    assert_eq!(
        decision.writes,
        [Write {
            write: DataWrite { path: field("nested.y"), old: Some(json!(2)), new: Some(json!(3)) },
            source: WriteSource::Task(1),
        }],
        "an unchanged field gets no history entry"
    );
    assert_eq!(instance.data, json!({"x": 1, "nested": {"y": 3}}));
}

#[test]
fn without_output_a_form_writes_each_property_its_output_schema_declares() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, output_schema: {type: object, properties: {a: {type: string}, b: {type: integer}}}}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({"keep": true}));
    let decision = complete(&definition, &mut instance, "a", json!({"a": "x", "b": 2, "extra": 1}));
    assert_eq!(instance.data, json!({"keep": true, "a": "x", "b": 2}), "undeclared properties are not written");
    assert_eq!(decision.writes.len(), 2);
    assert_eq!(instance.runs[0].output, Some(json!({"a": "x", "b": 2, "extra": 1})), "the raw output stays on the run");
}

#[test]
fn a_default_output_owns_its_declared_properties_and_clears_one_the_output_lacks() {
    // SPEC leaves open whether the default output also removes; it is the same ownership rule as an explicit one.
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, output_schema: {type: object, properties: {a: {type: string}, b: {type: integer}}}}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({"b": 1}));
    complete(&definition, &mut instance, "a", json!({"a": "x"}));
    assert_eq!(instance.data, json!({"a": "x"}));
}

#[test]
fn an_approval_writes_nothing_to_the_data_but_its_transitions_see_the_output() {
    let definition = workflow(
        r#"
        tasks:
          - {key: review, title: Review, type: approval}
          - {key: fix, title: Fix, type: form}
        transitions:
          - {from: start, to: review}
          - {from: review, status: COMPLETED, when: {"output.decision": approved}}
          - {from: review, to: fix, when: {"output.decision": rejected}}
          - {from: fix, to: review}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({"doc": 1}));
    let output = json!({"decision": "rejected", "comment": "no"});
    let decision = complete(&definition, &mut instance, "review", output.clone());
    assert!(decision.writes.is_empty());
    assert_eq!(instance.data, json!({"doc": 1}));
    assert_eq!(instance.runs[0].output, Some(output));
    assert_eq!(keys(&definition, &decision.new_runs), ["fix"]);
    complete(&definition, &mut instance, "fix", json!({}));
    let seq = open_seq(&definition, &instance, "review");
    let EngineError::InvalidOutput(_) =
        refused(&definition, &instance, Event::Complete { seq, output: json!({"decision": "maybe"}) })
    else {
        panic!("an approval's output is always {{decision: approved|rejected, comment}}");
    };
}

#[test]
fn transitions_see_the_data_as_the_completion_wrote_it() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, output_schema: <v>}
          - {key: big, title: Big, type: form}
          - {key: small, title: Small, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, to: big, when: {"data.v": {$gt: 5}}}
          - {from: a, to: small, when: {"data.v": {$lte: 5}}}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({"v": 100}));
    let decision = complete(&definition, &mut instance, "a", json!({"v": 1}));
    assert_eq!(keys(&definition, &decision.new_runs), ["small"]);
}

#[test]
fn completing_a_closed_run_is_refused() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, to: b}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    complete(&definition, &mut instance, "a", json!({}));
    assert_eq!(
        refused(&definition, &instance, Event::Complete { seq: 0, output: json!({}) }),
        EngineError::RunClosed { seq: 0, status: TaskStatus::Completed }
    );
}

#[test]
fn completing_an_unknown_run_is_refused() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let (instance, _) = begin(&definition, json!({}));
    assert_eq!(
        refused(&definition, &instance, Event::Complete { seq: 9, output: json!({}) }),
        EngineError::UnknownRun(9)
    );
}

#[test]
fn completing_while_on_hold_is_refused() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    act(&definition, &mut instance, Event::Hold);
    assert_eq!(
        refused(&definition, &instance, Event::Complete { seq: 0, output: json!({}) }),
        EngineError::WrongStatus(InstanceStatus::OnHold)
    );
}

#[test]
fn events_before_the_start_are_refused() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let instance = Instance::new(&definition, json!({}), json!({}), None);
    let not_started = EngineError::WrongStatus(InstanceStatus::NotStarted);
    assert_eq!(refused(&definition, &instance, Event::Complete { seq: 0, output: json!({}) }), not_started);
    assert_eq!(refused(&definition, &instance, Event::Hold), not_started);
    assert_eq!(refused(&definition, &instance, Event::Activate { task: 0 }), not_started);
    assert_eq!(refused(&definition, &instance, Event::UpdateData { values: vec![] }), not_started);
}

// ---- next (rule 3) ----

#[test]
fn next_all_fans_out_to_every_transition_that_holds() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, output_schema: <v>}
          - {key: b, title: B, type: form}
          - {key: c, title: C, type: form}
          - {key: d, title: D, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, to: b}
          - {from: a, to: c}
          - {from: a, to: d, when: {"output.v": 1}}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut instance, "a", json!({"v": 0}));
    assert_eq!(keys(&definition, &decision.new_runs), ["b", "c"]);
    assert_eq!(decision.fired, [1, 2]);
    assert_eq!(open_keys(&definition, &instance), ["b", "c"]);
}

#[test]
fn next_first_takes_only_the_highest_priority_transition_that_holds() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, next: first, output_schema: <v>}
          - {key: b, title: B, type: form}
          - {key: c, title: C, type: form}
          - {key: d, title: D, type: form}
          - {key: e, title: E, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, to: b}
          - {from: a, to: c, when: {"output.v": {$gt: 5}}, priority: 10}
          - {from: a, to: d, priority: 5}
          - {from: a, to: e, priority: 5}
        "#,
    );
    let (mut low, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut low, "a", json!({"v": 0}));
    assert_eq!(keys(&definition, &decision.new_runs), ["d"], "equal priorities go in document order");
    assert_eq!(decision.fired, [3]);
    let (mut high, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut high, "a", json!({"v": 9}));
    assert_eq!(keys(&definition, &decision.new_runs), ["c"]);
}

#[test]
fn one_completion_activates_a_task_at_most_once_even_if_two_transitions_to_it_fire() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, output_schema: <v>}
          - {key: b, title: B, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, to: b}
          - {from: a, to: b, when: {"output.v": 1}}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut instance, "a", json!({"v": 1}));
    assert_eq!(decision.fired, [1, 2]);
    assert_eq!(keys(&definition, &decision.new_runs), ["b"]);
}

// ---- joins (rule 4, §2.4) ----

const JOIN_ALL: &str = r#"
    tasks:
      - {key: a, title: A, type: form}
      - {key: b, title: B, type: form}
      - {key: c, title: C, type: form, join: all}
    transitions:
      - {from: start, to: a}
      - {from: start, to: b}
      - {from: a, to: c}
      - {from: b, to: c}
      - {from: c, status: COMPLETED}
"#;

#[test]
fn join_all_waits_for_every_source_of_a_transition_into_it() {
    let definition = workflow(JOIN_ALL);
    let c = task(&definition, "c");
    let (mut instance, _) = begin(&definition, json!({}));
    let first = complete(&definition, &mut instance, "a", json!({}));
    assert!(first.new_runs.is_empty(), "a join-waiting task has no run until its join fires");
    assert_eq!(first.arrivals, [(c, vec![Source::Task(0)])]);
    assert!(first.faults.is_empty());
    let second = complete(&definition, &mut instance, "b", json!({}));
    assert_eq!(keys(&definition, &second.new_runs), ["c"]);
    assert_eq!(second.arrivals, [(c, vec![])], "the arrivals reset when the task is activated");
    assert!(instance.arrivals[c].is_empty());
}

#[test]
fn depends_on_waits_for_the_tasks_it_lists() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: form}
          - {key: other, title: Other, type: form}
          - {key: j, title: J, type: form, depends_on: [a, b]}
        transitions:
          - {from: start, to: a}
          - {from: start, to: b}
          - {from: start, to: other}
          - {from: j, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    assert!(complete(&definition, &mut instance, "b", json!({})).new_runs.is_empty());
    assert!(complete(&definition, &mut instance, "other", json!({})).new_runs.is_empty());
    let decision = complete(&definition, &mut instance, "a", json!({}));
    assert_eq!(keys(&definition, &decision.new_runs), ["j"]);
}

#[test]
fn depends_on_empty_starts_the_task_at_start() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, depends_on: []}
          - {key: b, title: B, type: form, depends_on: [a]}
        transitions:
          - {from: b, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    assert_eq!(open_keys(&definition, &instance), ["a"]);
    complete(&definition, &mut instance, "a", json!({}));
    complete(&definition, &mut instance, "b", json!({}));
    assert_eq!(instance.status, InstanceStatus::Completed);
}

#[test]
fn arrivals_reset_after_activation_so_the_next_run_waits_again() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: form}
          - {key: j, title: J, type: form, depends_on: [a, b], output_schema: <v>}
        transitions:
          - {from: start, to: a}
          - {from: start, to: b}
          - {from: j, to: a, when: {"output.v": 0}}
          - {from: j, to: b, when: {"output.v": 0}}
          - {from: j, status: COMPLETED, when: {"output.v": 1}}
        "#,
    );
    let j = task(&definition, "j");
    let (mut instance, _) = begin(&definition, json!({}));
    complete(&definition, &mut instance, "a", json!({}));
    complete(&definition, &mut instance, "b", json!({}));
    let again = complete(&definition, &mut instance, "j", json!({"v": 0}));
    assert_eq!(keys(&definition, &again.new_runs), ["a", "b"]);
    assert!(instance.arrivals[j].is_empty());
    let waiting = complete(&definition, &mut instance, "a", json!({}));
    assert!(waiting.new_runs.is_empty(), "the earlier arrival of b must not count again");
    assert_eq!(instance.arrivals[j], [Source::Task(0)]);
    let joined = complete(&definition, &mut instance, "b", json!({}));
    assert_eq!(keys(&definition, &joined.new_runs), ["j"]);
    assert_eq!(joined.new_runs[0].run, 2);
    complete(&definition, &mut instance, "j", json!({"v": 1}));
    assert_eq!(instance.status, InstanceStatus::Completed);
}

#[test]
fn a_loop_back_from_outside_depends_on_activates_directly() {
    let definition = workflow(
        r#"
        tasks:
          - {key: map, title: Map, type: form, depends_on: []}
          - {key: geo, title: Geo, type: form, depends_on: []}
          - {key: qa, title: QA, type: approval, depends_on: [map, geo]}
          - {key: fix_map, title: Fix, type: form}
        transitions:
          - {from: qa, status: COMPLETED, when: {"output.decision": approved}}
          - {from: qa, to: fix_map, when: {"output.decision": rejected}}
          - {from: fix_map, to: qa}
        "#,
    );
    let qa = task(&definition, "qa");
    let (mut instance, _) = begin(&definition, json!({}));
    complete(&definition, &mut instance, "map", json!({}));
    complete(&definition, &mut instance, "geo", json!({}));
    complete(&definition, &mut instance, "qa", json!({"decision": "rejected"}));
    let decision = complete(&definition, &mut instance, "fix_map", json!({}));
    assert_eq!(keys(&definition, &decision.new_runs), ["qa"], "fix_map is outside depends_on: a loop back");
    assert_eq!(decision.new_runs[0].run, 2);
    assert!(instance.arrivals[qa].is_empty());
    complete(&definition, &mut instance, "qa", json!({"decision": "approved"}));
    assert_eq!(instance.status, InstanceStatus::Completed);
    assert_eq!(keys(&definition, &instance.runs), ["map", "geo", "qa", "fix_map", "qa"]);
}

#[test]
fn arrivals_round_trip_through_storage_by_task_key() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: c, title: C, type: form, join: all}
        transitions:
          - {from: start, to: a}
          - {from: start, to: c}
          - {from: a, to: c}
          - {from: c, status: COMPLETED}
        "#,
    );
    let c = task(&definition, "c");
    let (instance, _) = begin(&definition, json!({}));
    assert_eq!(instance.arrivals[c], [Source::Start]);
    let stored = instance.arrivals_by_key(&definition);
    assert_eq!(stored, BTreeMap::from([("c".to_owned(), vec!["start".to_owned()])]));
    let mut restored = Instance { arrivals: Vec::new(), ..instance.clone() };
    restored.set_arrivals_by_key(&definition, &stored);
    assert_eq!(restored, instance);
    let decision = complete(&definition, &mut restored, "a", json!({}));
    assert_eq!(keys(&definition, &decision.new_runs), ["c"], "the restored arrival of start still counts");
    assert!(restored.arrivals_by_key(&definition).is_empty());

    let stale = BTreeMap::from([
        ("gone".to_owned(), vec!["a".to_owned()]),
        ("c".to_owned(), vec!["start".to_owned(), "renamed".to_owned()]),
    ]);
    restored.set_arrivals_by_key(&definition, &stale);
    assert_eq!(restored.arrivals, [vec![], vec![Source::Start]], "names the definition lacks are dropped");
}

// ---- statuses (rule 5) ----

#[test]
fn a_completed_status_cancels_every_open_run_and_ends_the_instance() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: http, action: {url: "https://example.com"}, output_schema: {type: object}}
        transitions:
          - {from: start, to: a}
          - {from: start, to: b}
          - {from: a, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut instance, "a", json!({}));
    assert_eq!(decision.status, Some(InstanceStatus::Completed));
    assert_eq!(decision.effects, [Effect::Ended { status: InstanceStatus::Completed }]);
    assert_eq!(instance.runs[0].status, TaskStatus::Completed);
    assert_eq!(instance.runs[1].status, TaskStatus::Cancelled);
    assert_eq!(instance.open_runs().count(), 0);
}

#[test]
fn a_cancelled_status_cancels_the_open_runs_too() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: form}
        transitions:
          - {from: start, to: a}
          - {from: start, to: b}
          - {from: a, status: CANCELLED}
          - {from: b, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut instance, "a", json!({}));
    assert_eq!(instance.status, InstanceStatus::Cancelled);
    assert_eq!(decision.effects, [Effect::Ended { status: InstanceStatus::Cancelled }]);
    assert_eq!(instance.runs[1].status, TaskStatus::Cancelled);
    assert_eq!(
        refused(&definition, &instance, Event::Complete { seq: 1, output: json!({}) }),
        EngineError::WrongStatus(InstanceStatus::Cancelled)
    );
}

#[test]
fn an_on_hold_status_holds_the_instance_with_its_runs_open_until_resumed() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: form}
        transitions:
          - {from: start, to: a}
          - {from: start, to: b}
          - {from: a, status: ON_HOLD}
          - {from: b, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let held = complete(&definition, &mut instance, "a", json!({}));
    assert_eq!(held.status, Some(InstanceStatus::OnHold));
    assert!(held.effects.is_empty() && held.faults.is_empty(), "{held:#?}");
    assert_eq!(open_keys(&definition, &instance), ["b"]);
    let resumed = act(&definition, &mut instance, Event::Resume);
    assert_eq!(resumed.status, Some(InstanceStatus::InProgress));
    assert!(resumed.faults.is_empty());
    complete(&definition, &mut instance, "b", json!({}));
    assert_eq!(instance.status, InstanceStatus::Completed);
}

#[test]
fn two_different_statuses_from_one_completion_are_a_conflict_and_nothing_fires() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, output_schema: <v>}
        transitions:
          - {from: start, to: a}
          - {from: a, status: COMPLETED}
          - {from: a, status: CANCELLED, when: {"output.v": 1}}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut instance, "a", json!({"v": 1}));
    assert_eq!(kinds(&decision), [ErrorKind::WorkflowTransition]);
    let fault = &decision.faults[0];
    assert!(fault.message.contains("conflicting"), "{}", fault.message);
    assert_eq!(fault.details["transitions"], json!(["/transitions/1", "/transitions/2"]));
    assert!(decision.fired.is_empty());
    assert_eq!(decision.status, None);
    assert!(!decision.effects.iter().any(|e| matches!(e, Effect::Ended { .. })));
    assert_eq!(instance.status, InstanceStatus::InProgress, "the instance keeps its state for a person to decide");
}

#[test]
fn a_status_and_a_task_from_one_completion_are_a_conflict() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, to: b}
          - {from: a, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut instance, "a", json!({}));
    assert_eq!(kinds(&decision), [ErrorKind::WorkflowTransition], "a conflict, not also a stall");
    assert!(decision.new_runs.is_empty() && decision.fired.is_empty());
    assert_eq!(instance.status, InstanceStatus::InProgress);
    // A person decides: the admin activates b by hand.
    act(&definition, &mut instance, Event::Activate { task: task(&definition, "b") });
    assert_eq!(open_keys(&definition, &instance), ["b"]);
}

#[test]
fn two_transitions_to_the_same_status_are_no_conflict() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, status: COMPLETED}
          - {from: a, status: COMPLETED, when: {"data.x": {$exists: false}}}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut instance, "a", json!({}));
    assert!(decision.faults.is_empty());
    assert_eq!(decision.fired, [1, 2]);
    assert_eq!(instance.status, InstanceStatus::Completed);
}

// ---- stall and loops (rule 6) ----

#[test]
fn an_instance_in_progress_with_no_open_run_is_stalled() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, output_schema: <v>}
          - {key: b, title: B, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, to: b, when: {"output.v": 1}}
          - {from: b, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut instance, "a", json!({"v": 0}));
    assert_eq!(kinds(&decision), [ErrorKind::WorkflowTransition]);
    assert!(decision.faults[0].message.contains("stalled"), "{}", decision.faults[0].message);
    assert_eq!(decision.faults[0].details["stalled"], json!(true));
    assert_eq!(instance.status, InstanceStatus::InProgress);
}

#[test]
fn a_join_that_waits_forever_is_reported_as_a_stall_naming_the_join() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: form, output_schema: <v>}
          - {key: c, title: C, type: form, join: all}
        transitions:
          - {from: start, to: a}
          - {from: start, to: b}
          - {from: a, to: c}
          - {from: b, to: c, when: {"output.v": 1}}
          - {from: c, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    assert!(complete(&definition, &mut instance, "a", json!({})).faults.is_empty(), "b is still open");
    let decision = complete(&definition, &mut instance, "b", json!({"v": 0}));
    assert_eq!(kinds(&decision), [ErrorKind::WorkflowTransition]);
    assert!(decision.faults[0].message.contains("c still waits for its join"), "{}", decision.faults[0].message);
    assert_eq!(decision.faults[0].details["waiting"], json!(["c"]));
}

#[test]
fn a_task_activated_past_max_runs_is_a_fault_and_the_loop_stops() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, max_runs: 3}
        transitions:
          - {from: start, to: a}
          - {from: a, to: a}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let mut last = Decision::default();
    for _ in 0..3 {
        last = complete(&definition, &mut instance, "a", json!({}));
    }
    assert_eq!(instance.runs.iter().map(|r| r.run).collect::<Vec<_>>(), [1, 2, 3]);
    assert!(last.new_runs.is_empty());
    assert_eq!(kinds(&last), [ErrorKind::WorkflowTransition], "the loop is a fault, not also a stall");
    assert!(last.faults[0].message.contains("already run 3 times (max_runs 3)"), "{}", last.faults[0].message);
    assert_eq!(last.faults[0].details, json!({"task": "a", "max_runs": 3}));
    assert_eq!(instance.open_runs().count(), 0);
}

#[test]
fn the_default_max_runs_stops_an_endless_loop() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, to: b}
          - {from: b, to: a}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let mut faults = Vec::new();
    for _ in 0..1000 {
        let Some(seq) = instance.open_runs().next().map(|run| run.seq) else { break };
        faults.extend(act(&definition, &mut instance, Event::Complete { seq, output: json!({}) }).faults);
    }
    assert_eq!(instance.runs.len(), 100, "50 runs of a and 50 of b");
    assert_eq!(faults.len(), 1);
    assert!(faults[0].message.starts_with("task \"a\" has already run 50 times"), "{}", faults[0].message);
}

// ---- watch (§2.4) ----

const WATCHING: &str = r#"
    tasks:
      - {key: source, title: Source, type: form, output_schema: {type: object, properties: {x: {type: integer}}}}
      - {key: check, title: Check, type: form, watch: [data.x], output_schema: <v>}
    transitions:
      - {from: start, to: source}
      - {from: start, to: check}
"#;

#[test]
fn a_watching_task_runs_again_when_another_task_changes_its_field() {
    let definition = workflow(WATCHING);
    let (mut instance, _) = begin(&definition, json!({}));
    complete(&definition, &mut instance, "check", json!({"v": 1}));
    let decision = complete(&definition, &mut instance, "source", json!({"x": 1}));
    assert_eq!(keys(&definition, &decision.new_runs), ["check"]);
    assert_eq!(decision.new_runs[0].run, 2);
    assert!(decision.faults.is_empty());
}

#[test]
fn a_watching_task_is_not_activated_again_while_it_is_open() {
    let definition = workflow(WATCHING);
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut instance, "source", json!({"x": 1}));
    assert!(decision.new_runs.is_empty());
    assert_eq!(open_keys(&definition, &instance), ["check"]);
}

#[test]
fn a_watching_task_that_has_never_run_is_not_activated_by_a_change() {
    let definition = workflow(
        r#"
        tasks:
          - {key: source, title: Source, type: form, output_schema: {type: object, properties: {x: {type: integer}, go: {type: boolean}}}}
          - {key: other, title: Other, type: form}
          - {key: check, title: Check, type: form, watch: [data.x]}
        transitions:
          - {from: start, to: source}
          - {from: start, to: other}
          - {from: source, to: check, when: {"output.go": true}}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut instance, "source", json!({"x": 1, "go": false}));
    assert!(decision.new_runs.is_empty(), "{decision:#?}");
}

#[test]
fn a_watch_with_when_reactivates_only_when_the_condition_holds() {
    let definition = workflow(
        r#"
        tasks:
          - {key: source, title: Source, type: form, output_schema: {type: object, properties: {x: {type: integer}}}}
          - {key: check, title: Check, type: form, watch: [data.x], when: {"data.x": {$gt: 5}}}
        transitions:
          - {from: start, to: source}
          - {from: start, to: check}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    complete(&definition, &mut instance, "check", json!({}));
    let small = complete(&definition, &mut instance, "source", json!({"x": 1}));
    assert!(small.new_runs.is_empty());
    let big = act(&definition, &mut instance, Event::UpdateData { values: vec![(field("x"), Some(json!(9)))] });
    assert_eq!(keys(&definition, &big.new_runs), ["check"]);
}

#[test]
fn an_external_data_update_is_recorded_and_reactivates_a_watching_task() {
    let definition = workflow(WATCHING);
    let (mut instance, _) = begin(&definition, json!({"x": 1}));
    complete(&definition, &mut instance, "check", json!({}));
    let decision = act(&definition, &mut instance, Event::UpdateData { values: vec![(field("x"), Some(json!(3)))] });
    assert_eq!(
        decision.writes,
        [Write {
            write: DataWrite { path: field("x"), old: Some(json!(1)), new: Some(json!(3)) },
            source: WriteSource::External
        }]
    );
    assert_eq!(keys(&definition, &decision.new_runs), ["check"]);
    assert_eq!(instance.data, json!({"x": 3}));
    let same = act(&definition, &mut instance, Event::UpdateData { values: vec![(field("x"), Some(json!(3)))] });
    assert!(same.writes.is_empty() && same.new_runs.is_empty(), "an unchanged value is no change");
    let removed = act(&definition, &mut instance, Event::UpdateData { values: vec![(field("x"), None)] });
    assert_eq!(removed.writes[0].write.new, None);
    assert_eq!(instance.data, json!({}));
}

#[test]
fn a_task_is_not_reactivated_by_its_own_writes() {
    let definition = workflow(
        r#"
        tasks:
          - {key: other, title: Other, type: form}
          - {key: check, title: Check, type: form, watch: [data.v], output_schema: <v>}
        transitions:
          - {from: start, to: other}
          - {from: start, to: check}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = complete(&definition, &mut instance, "check", json!({"v": 1}));
    assert_eq!(decision.writes.len(), 1);
    assert!(decision.new_runs.is_empty());
}

#[test]
fn a_watch_on_an_object_sees_changes_inside_it() {
    let definition = workflow(
        r#"
        tasks:
          - {key: other, title: Other, type: form}
          - {key: check, title: Check, type: form, watch: [data.location]}
        transitions:
          - {from: start, to: other}
          - {from: start, to: check}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    complete(&definition, &mut instance, "check", json!({}));
    let unrelated =
        act(&definition, &mut instance, Event::UpdateData { values: vec![(field("locations"), Some(json!(1)))] });
    assert!(unrelated.new_runs.is_empty(), "locations is not location");
    let inside =
        act(&definition, &mut instance, Event::UpdateData { values: vec![(field("location.lat"), Some(json!(1.5)))] });
    assert_eq!(keys(&definition, &inside.new_runs), ["check"]);
}

#[test]
fn a_watching_task_is_not_reactivated_by_the_completion_that_ends_the_instance() {
    let definition = workflow(
        r#"
        tasks:
          - {key: source, title: Source, type: form, output_schema: {type: object, properties: {x: {type: integer}}}}
          - {key: check, title: Check, type: form, watch: [data.x]}
        transitions:
          - {from: start, to: source}
          - {from: start, to: check}
          - {from: source, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    complete(&definition, &mut instance, "check", json!({}));
    let decision = complete(&definition, &mut instance, "source", json!({"x": 1}));
    assert!(decision.new_runs.is_empty());
    assert_eq!(instance.status, InstanceStatus::Completed);
}

// ---- timeouts (rule 7) ----

#[test]
fn a_timeout_marks_the_run_overdue_and_leaves_it_open() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, due: PT1H}
        transitions:
          - {from: start, to: a}
          - {from: a, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    assert_eq!(instance.runs[0].due_at, Some(NOW + 3_600_000));
    let decision = act(&definition, &mut instance, Event::Timeout { seq: 0 });
    assert_eq!(decision.updates, [RunUpdate { seq: 0, status: TaskStatus::Open, output: None, overdue: true }]);
    assert!(decision.new_runs.is_empty() && decision.faults.is_empty() && decision.fired.is_empty());
    assert!(instance.runs[0].overdue);
    complete(&definition, &mut instance, "a", json!({}));
    assert!(instance.runs[0].overdue, "completing late keeps the run marked overdue");
    assert_eq!(instance.status, InstanceStatus::Completed);
}

#[test]
fn a_timeout_transition_escalates_and_cancels_the_overdue_run() {
    let definition = workflow(
        r#"
        tasks:
          - {key: triage, title: Triage, type: form, due: PT4H}
          - {key: lead, title: Lead, type: form}
        transitions:
          - {from: start, to: triage}
          - {from: triage, to: lead, on: timeout}
          - {from: triage, status: COMPLETED}
          - {from: lead, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = act(&definition, &mut instance, Event::Timeout { seq: 0 });
    assert_eq!(decision.fired, [1]);
    assert_eq!(keys(&definition, &decision.new_runs), ["lead"]);
    assert_eq!(instance.runs[0].status, TaskStatus::Cancelled);
    assert!(instance.runs[0].overdue);
    assert_eq!(
        refused(&definition, &instance, Event::Timeout { seq: 0 }),
        EngineError::RunClosed { seq: 0, status: TaskStatus::Cancelled }
    );
}

#[test]
fn a_timeout_transition_to_a_status_ends_the_instance() {
    let definition = workflow(
        r#"
        tasks:
          - {key: confirm, title: Confirm, type: form, due: P7D}
        transitions:
          - {from: start, to: confirm}
          - {from: confirm, status: COMPLETED, on: timeout}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    assert_eq!(instance.runs[0].due_at, Some(NOW + 7 * 86_400_000));
    let decision = act(&definition, &mut instance, Event::Timeout { seq: 0 });
    assert_eq!(instance.status, InstanceStatus::Completed);
    assert_eq!(instance.runs[0].status, TaskStatus::Cancelled);
    assert_eq!(decision.effects, [Effect::Ended { status: InstanceStatus::Completed }]);
}

#[test]
fn a_timeout_transition_whose_condition_fails_leaves_the_run_open_and_overdue() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, due: P1D}
          - {key: urgent, title: Urgent, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, to: urgent, on: timeout, when: {"data.priority": high}}
          - {from: a, status: COMPLETED}
          - {from: urgent, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({"priority": "low"}));
    let decision = act(&definition, &mut instance, Event::Timeout { seq: 0 });
    assert!(decision.new_runs.is_empty() && decision.fired.is_empty());
    assert_eq!(instance.runs[0].status, TaskStatus::Open);
    assert!(instance.runs[0].overdue);
    let (mut high, _) = begin(&definition, json!({"priority": "high"}));
    let decision = act(&definition, &mut high, Event::Timeout { seq: 0 });
    assert_eq!(keys(&definition, &decision.new_runs), ["urgent"]);
    assert_eq!(high.runs[0].status, TaskStatus::Cancelled);
}

// ---- activation: assignment, input, effects ----

#[test]
fn assignment_resolves_a_role_users_the_initiator_or_an_email_in_the_data() {
    let definition = workflow(
        r#"
        roles: [editor]
        tasks:
          - {key: r, title: R, type: form, assign: {role: editor, policy: round_robin}}
          - {key: u, title: U, type: form, assign: {users: [a@example.com, b@example.com]}}
          - {key: i, title: I, type: form, assign: {initiator: true}}
          - {key: f, title: F, type: form, assign: {field: data.reviewer, policy: least_loaded}}
        transitions:
          - {from: start, to: r}
          - {from: start, to: u}
          - {from: start, to: i}
          - {from: start, to: f}
        "#,
    );
    let (instance, decision) = begin(&definition, json!({"reviewer": "rev@example.com"}));
    let assignments: Vec<Option<Assignment>> = instance.runs.iter().map(|r| r.assignment.clone()).collect();
    let users = |emails: &[&str]| Eligible::Users(emails.iter().map(|e| (*e).to_owned()).collect());
    assert_eq!(
        assignments,
        [
            Some(Assignment { eligible: Eligible::Role("editor".into()), policy: AssignPolicy::RoundRobin }),
            Some(Assignment { eligible: users(&["a@example.com", "b@example.com"]), policy: AssignPolicy::Pool }),
            Some(Assignment { eligible: users(&[CREATOR]), policy: AssignPolicy::Pool }),
            Some(Assignment { eligible: users(&["rev@example.com"]), policy: AssignPolicy::LeastLoaded }),
        ]
    );
    assert!(decision.faults.is_empty());
}

#[test]
fn a_field_assignment_without_an_email_is_a_task_creation_fault_and_the_run_is_in_error() {
    let definition = workflow(
        r#"
        tasks:
          - {key: f, title: F, type: form, assign: {field: data.reviewer}}
        transitions:
          - {from: start, to: f}
        "#,
    );
    for data in [json!({}), json!({"reviewer": "not an email"}), json!({"reviewer": 5})] {
        let (instance, decision) = begin(&definition, data);
        assert_eq!(instance.runs[0].status, TaskStatus::Error);
        assert_eq!(instance.runs[0].assignment, None);
        assert_eq!(kinds(&decision), [ErrorKind::TaskCreation], "one fault, not also a stall: {decision:#?}");
        assert_eq!(decision.faults[0].seq, Some(0));
        assert!(decision.faults[0].message.contains("data.reviewer"), "{}", decision.faults[0].message);
        assert!(decision.effects.is_empty(), "nobody is notified of a run in error");
    }
}

#[test]
fn an_initiator_assignment_without_a_creator_is_a_task_creation_fault() {
    let definition = workflow(
        r#"
        tasks:
          - {key: i, title: I, type: form, assign: {initiator: true}}
        transitions:
          - {from: start, to: i}
        "#,
    );
    let (instance, decision) = start(&definition, NewInstance { creator: None, ..ticketless(json!({})) }, NOW).unwrap();
    assert_eq!(instance.initiator, None);
    assert_eq!(instance.runs[0].status, TaskStatus::Error);
    assert_eq!(kinds(&decision), [ErrorKind::TaskCreation]);
}

#[test]
fn an_input_that_violates_the_input_schema_is_a_task_creation_fault() {
    let definition = workflow(
        r#"
        tasks:
          - key: a
            title: A
            type: form
            input: {title: "$.data.title"}
            input_schema: {type: object, required: [title], properties: {title: {type: string}}}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let (instance, decision) = begin(&definition, json!({"other": 1}));
    assert_eq!(instance.runs[0].status, TaskStatus::Error);
    assert_eq!(instance.runs[0].input, json!({}));
    assert_eq!(kinds(&decision), [ErrorKind::TaskCreation]);
    assert!(decision.faults[0].message.contains("input_schema"), "{}", decision.faults[0].message);
    let (good, decision) = begin(&definition, json!({"title": "T"}));
    assert_eq!(good.runs[0].status, TaskStatus::Open);
    assert!(decision.faults.is_empty());
}

#[test]
fn the_input_transform_reads_the_context_and_without_it_a_task_sees_all_the_data() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form, input: {title: "$.data.title", by: "$.ticket.creator", instance: "$.instance.id", n: 5, missing: "$.data.nope"}}
          - {key: b, title: B, type: form}
        transitions:
          - {from: start, to: a}
          - {from: start, to: b}
        "#,
    );
    let (instance, _) = begin(&definition, json!({"title": "T", "n": 1}));
    assert_eq!(instance.runs[0].input, json!({"title": "T", "by": CREATOR, "instance": 1, "n": 5}));
    assert_eq!(instance.runs[1].input, json!({"title": "T", "n": 1}));
}

#[test]
fn automated_tasks_are_queued_and_peoples_tasks_announced() {
    let definition = workflow(
        r#"
        tasks:
          - {key: h, title: H, type: http, action: {url: "https://example.com/x"}, output_schema: <v>}
          - {key: f, title: F, type: form}
          - {key: ai, title: AI, type: ai, prompt: Summarise, output_schema: <v>}
        transitions:
          - {from: start, to: h}
          - {from: start, to: f}
          - {from: start, to: ai}
        "#,
    );
    let (_, decision) = begin(&definition, json!({}));
    assert_eq!(
        decision.effects,
        [Effect::Automate { seq: 0 }, Effect::Assigned { seq: 1 }, Effect::Automate { seq: 2 }]
    );
}

// ---- events by hand: cancel, hold, resume, set status, activate, fail ----

#[test]
fn cancel_ends_the_instance_and_cancels_its_open_runs() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: form}
        transitions:
          - {from: start, to: a}
          - {from: start, to: b}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    complete(&definition, &mut instance, "a", json!({}));
    let decision = act(&definition, &mut instance, Event::Cancel);
    assert_eq!(decision.status, Some(InstanceStatus::Cancelled));
    assert_eq!(decision.updates, [RunUpdate { seq: 1, status: TaskStatus::Cancelled, output: None, overdue: false }]);
    assert_eq!(decision.effects, [Effect::Ended { status: InstanceStatus::Cancelled }]);
    assert_eq!(instance.runs[0].status, TaskStatus::Completed, "a completed run stays completed");
    assert_eq!(refused(&definition, &instance, Event::Cancel), EngineError::WrongStatus(InstanceStatus::Cancelled));
}

#[test]
fn hold_is_only_for_a_running_instance_and_resume_only_for_a_held_one() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    assert_eq!(refused(&definition, &instance, Event::Resume), EngineError::WrongStatus(InstanceStatus::InProgress));
    let held = act(&definition, &mut instance, Event::Hold);
    assert_eq!(held.status, Some(InstanceStatus::OnHold));
    assert!(held.updates.is_empty(), "holding leaves the runs as they are");
    assert_eq!(refused(&definition, &instance, Event::Hold), EngineError::WrongStatus(InstanceStatus::OnHold));
    assert_eq!(
        refused(&definition, &instance, Event::Timeout { seq: 0 }),
        EngineError::WrongStatus(InstanceStatus::OnHold)
    );
    act(&definition, &mut instance, Event::Resume);
    assert_eq!(instance.status, InstanceStatus::InProgress);
    assert_eq!(open_keys(&definition, &instance), ["a"]);
}

#[test]
fn set_status_holds_or_ends_the_instance_by_hand() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    act(&definition, &mut instance, Event::SetStatus { status: EndStatus::OnHold });
    assert_eq!(instance.status, InstanceStatus::OnHold);
    let decision = act(&definition, &mut instance, Event::SetStatus { status: EndStatus::Completed });
    assert_eq!(instance.status, InstanceStatus::Completed);
    assert_eq!(instance.runs[0].status, TaskStatus::Cancelled);
    assert_eq!(decision.effects, [Effect::Ended { status: InstanceStatus::Completed }]);
    assert_eq!(
        refused(&definition, &instance, Event::SetStatus { status: EndStatus::Cancelled }),
        EngineError::WrongStatus(InstanceStatus::Completed)
    );
}

#[test]
fn activate_creates_a_run_by_hand_and_checks_the_task() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
          - {key: b, title: B, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, to: b}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let decision = act(&definition, &mut instance, Event::Activate { task: 0 });
    assert_eq!(keys(&definition, &decision.new_runs), ["a"], "retry from here: a second run of a");
    assert_eq!(decision.new_runs[0].run, 2);
    assert_eq!(refused(&definition, &instance, Event::Activate { task: 2 }), EngineError::UnknownTask(2));
    act(&definition, &mut instance, Event::Hold);
    assert_eq!(
        refused(&definition, &instance, Event::Activate { task: 1 }),
        EngineError::WrongStatus(InstanceStatus::OnHold)
    );
}

#[test]
fn fail_puts_the_run_in_error_with_a_task_update_fault() {
    let definition = workflow(
        r#"
        tasks:
          - {key: h, title: H, type: http, action: {url: "https://example.com"}, output_schema: <v>}
          - {key: f, title: F, type: form}
        transitions:
          - {from: start, to: h}
          - {from: start, to: f}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    act(&definition, &mut instance, Event::Hold);
    let decision = act(&definition, &mut instance, Event::Fail { seq: 0, message: "HTTP 503".into() });
    assert_eq!(instance.runs[0].status, TaskStatus::Error);
    assert_eq!(kinds(&decision), [ErrorKind::TaskUpdate]);
    assert_eq!(decision.faults[0].seq, Some(0));
    assert!(decision.faults[0].message.contains("HTTP 503"), "{}", decision.faults[0].message);
    assert_eq!(
        refused(&definition, &instance, Event::Fail { seq: 0, message: "again".into() }),
        EngineError::RunClosed { seq: 0, status: TaskStatus::Error }
    );
    act(&definition, &mut instance, Event::Cancel);
    assert_eq!(
        refused(&definition, &instance, Event::Fail { seq: 1, message: "late".into() }),
        EngineError::WrongStatus(InstanceStatus::Cancelled)
    );
}

#[test]
fn data_cannot_be_updated_once_the_instance_has_ended() {
    let definition = workflow(
        r#"
        tasks:
          - {key: a, title: A, type: form}
        transitions:
          - {from: start, to: a}
          - {from: a, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let held = act(&definition, &mut instance, Event::Hold);
    assert!(held.faults.is_empty());
    let update = act(&definition, &mut instance, Event::UpdateData { values: vec![(field("x"), Some(json!(1)))] });
    assert_eq!(update.writes.len(), 1, "a held instance's data may still be edited");
    act(&definition, &mut instance, Event::Resume);
    complete(&definition, &mut instance, "a", json!({}));
    assert_eq!(
        refused(&definition, &instance, Event::UpdateData { values: vec![(field("x"), Some(json!(2)))] }),
        EngineError::WrongStatus(InstanceStatus::Completed)
    );
}

#[test]
fn resuming_an_instance_with_no_open_run_reports_the_stall() {
    let definition = workflow(
        r#"
        tasks:
          - {key: pay, title: Pay, type: form, output_schema: {type: object, properties: {paid: {type: boolean}}}}
          - {key: ship, title: Ship, type: form}
        transitions:
          - {from: start, to: pay}
          - {from: pay, to: ship, when: {"output.paid": true}}
          - {from: pay, status: ON_HOLD, when: {"output.paid": {$ne: true}}}
          - {from: ship, status: COMPLETED}
        "#,
    );
    let (mut instance, _) = begin(&definition, json!({}));
    let held = complete(&definition, &mut instance, "pay", json!({"paid": false}));
    assert!(held.faults.is_empty(), "on hold is not a stall");
    let resumed = act(&definition, &mut instance, Event::Resume);
    assert_eq!(kinds(&resumed), [ErrorKind::WorkflowTransition]);
    assert!(resumed.faults[0].message.contains("stalled"));
    act(&definition, &mut instance, Event::Activate { task: task(&definition, "ship") });
    complete(&definition, &mut instance, "ship", json!({}));
    assert_eq!(instance.status, InstanceStatus::Completed);
}

// ---- the examples, end to end ----

fn simulate_example(yaml: &str, ticket: &str, outputs: &str) -> (Definition, Simulation) {
    let definition = Definition::load_str(yaml, Syntax::Yaml).into_result().unwrap();
    let ticket: Value = serde_json::from_str(ticket).unwrap();
    let script = Script::from_value(&serde_json::from_str(outputs).unwrap()).unwrap();
    let simulation = simulate(&definition, None, ticket, script).unwrap();
    assert!(simulation.errors.is_empty(), "{:#?}", simulation.errors);
    assert_eq!(simulation.status, InstanceStatus::Completed);
    assert!(simulation.open.is_empty());
    (definition, simulation)
}

#[test]
fn the_document_edit_example_asks_the_author_once_and_completes() {
    let (_, simulation) = simulate_example(
        include_str!("../../../../examples/document-edit.yaml"),
        include_str!("../../../../examples/data/document-edit.ticket.json"),
        include_str!("../../../../examples/data/document-edit.outputs.json"),
    );
    assert_eq!(simulation.path, ["edit", "answer", "edit"]);
    assert_eq!(simulation.data.get("questions"), None, "the second edit cleared the questions");
    assert_eq!(simulation.data["author_responses"], json!("Yes, 9 to 6 on weekdays."));
}

#[test]
fn the_venue_map_example_runs_its_dag_and_one_qa_loop() {
    let (_, simulation) = simulate_example(
        include_str!("../../../../examples/venue-map.yaml"),
        include_str!("../../../../examples/data/venue-map.ticket.json"),
        include_str!("../../../../examples/data/venue-map.outputs.json"),
    );
    assert_eq!(
        simulation.path,
        ["create_venue", "geocode", "digitize", "entities", "addresses", "match_entities", "qa", "fix_map", "qa"]
    );
    assert_eq!(simulation.data["location"], json!({"lat": -36.84, "lng": 174.77}));
    assert_eq!(simulation.data["digitized_map"], json!("https://files.example.com/harbour/map-v2.geojson"));
    assert_eq!(simulation.data["qa_comment"], json!("Looks good."));
}

#[test]
fn the_customer_support_example_reopens_once_and_goes_to_a_specialist() {
    let (_, simulation) = simulate_example(
        include_str!("../../../../examples/customer-support.yaml"),
        include_str!("../../../../examples/data/customer-support.ticket.json"),
        include_str!("../../../../examples/data/customer-support.outputs.json"),
    );
    assert_eq!(simulation.path, ["triage", "respond", "confirm", "triage", "specialist", "confirm"]);
    assert_eq!(simulation.data["resolved"], json!(true));
}

#[test]
fn the_order_fulfilment_example_approves_picks_invoices_and_ships() {
    let (_, simulation) = simulate_example(
        include_str!("../../../../examples/order-fulfilment.yaml"),
        include_str!("../../../../examples/data/order-fulfilment.ticket.json"),
        include_str!("../../../../examples/data/order-fulfilment.outputs.json"),
    );
    assert_eq!(simulation.path, ["approve_order", "check_payment", "pick", "invoice", "ship"]);
    assert_eq!(simulation.data["tracking_number"], json!("NZ123456789"));
    assert_eq!(simulation.data["approval_comment"], json!("Known wholesale customer"));
}

// ---- properties over random workflows ----

const OPERATORS: [&str; 6] = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"];
const STATUSES: [&str; 3] = ["COMPLETED", "CANCELLED", "ON_HOLD"];

/// A random `when` comparing `output.v` (sometimes `data.v`) with a small number.
fn arb_when(probability: f64) -> impl Strategy<Value = Option<Value>> {
    prop::option::weighted(probability, (0..OPERATORS.len(), 0i64..4, prop::bool::weighted(0.2))).prop_map(|when| {
        when.map(|(operator, bound, on_data)| {
            let mut test = Map::new();
            test.insert(OPERATORS[operator].to_owned(), json!(bound));
            let mut condition = Map::new();
            condition.insert(if on_data { "data.v" } else { "output.v" }.to_owned(), Value::Object(test));
            Value::Object(condition)
        })
    })
}

#[derive(Debug, Clone)]
struct TaskGen {
    next_first: bool,
    join_all: bool,
    depends_on: Option<Vec<Index>>,
    max_runs: u32,
    watch: bool,
}

fn arb_task() -> impl Strategy<Value = TaskGen> {
    (
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::option::weighted(0.2, prop::collection::vec(any::<Index>(), 0..=3)),
        3u32..=6,
        prop::bool::weighted(0.15),
    )
        .prop_map(|(next_first, join_all, depends_on, max_runs, watch)| TaskGen {
            next_first,
            join_all,
            depends_on,
            max_runs,
            watch,
        })
}

#[derive(Debug, Clone)]
enum TargetGen {
    Task(Index),
    Status(usize),
}

#[derive(Debug, Clone)]
struct TransitionGen {
    /// `None` is start.
    from: Option<Index>,
    to: TargetGen,
    when: Option<Value>,
    priority: i64,
}

fn arb_transition() -> impl Strategy<Value = TransitionGen> {
    let target = prop_oneof![
        3 => any::<Index>().prop_map(TargetGen::Task),
        1 => (0..STATUSES.len()).prop_map(TargetGen::Status),
    ];
    (prop::option::weighted(0.9, any::<Index>()), target, arb_when(0.6), 0i64..3)
        .prop_map(|(from, to, when, priority)| TransitionGen { from, to, when, priority })
}

/// A random workflow document: 2–8 form tasks writing `data.v`, each reachable from start
/// through a spine of transitions, plus random extra transitions, joins, statuses and watches.
fn arb_document() -> impl Strategy<Value = Value> {
    (2usize..=8)
        .prop_flat_map(|n| {
            (
                Just(n),
                prop::collection::vec(arb_task(), n),
                prop::collection::vec((any::<Index>(), arb_when(0.25)), n),
                prop::collection::vec(arb_transition(), 0..=2 * n),
            )
        })
        .prop_map(|(n, tasks, spine, extra)| build_document(n, &tasks, &spine, &extra))
}

fn build_document(n: usize, tasks: &[TaskGen], spine: &[(Index, Option<Value>)], extra: &[TransitionGen]) -> Value {
    let key = |i: usize| format!("t{i}");
    let source = |from: Option<&Index>| from.map_or_else(|| "start".to_owned(), |index| key(index.index(n)));
    let mut task_docs = Vec::new();
    for (i, spec) in tasks.iter().enumerate() {
        let mut task = json!({
            "key": key(i),
            "title": key(i),
            "type": "form",
            "output_schema": {"type": "object", "properties": {"v": {"type": "integer"}}},
            "max_runs": spec.max_runs,
        });
        if spec.next_first {
            task["next"] = json!("first");
        }
        match &spec.depends_on {
            Some(members) => {
                let mut names: Vec<String> = Vec::new();
                for member in members.iter().map(|m| m.index(n)).filter(|&m| m != i) {
                    if !names.contains(&key(member)) {
                        names.push(key(member));
                    }
                }
                task["depends_on"] = json!(names);
            }
            None if spec.join_all => task["join"] = json!("all"),
            None => {}
        }
        if spec.watch {
            task["watch"] = json!(["data.v"]);
        }
        task_docs.push(task);
    }
    let mut transitions = Vec::new();
    for (i, (parent, when)) in spine.iter().enumerate() {
        // Task i is reached from start or from an earlier task, so every task is reachable.
        let parent = parent.index(i + 1);
        let from = if parent == 0 { "start".to_owned() } else { key(parent - 1) };
        let mut transition = json!({"from": from, "to": key(i)});
        if let Some(when) = when.as_ref().filter(|_| parent > 0) {
            transition["when"] = when.clone();
        }
        transitions.push(transition);
    }
    for spec in extra {
        let mut transition = json!({"from": source(spec.from.as_ref()), "priority": spec.priority});
        match &spec.to {
            TargetGen::Task(index) => transition["to"] = json!(key(index.index(n))),
            TargetGen::Status(status) => transition["status"] = json!(STATUSES[*status]),
        }
        if let Some(when) = &spec.when {
            transition["when"] = when.clone();
        }
        transitions.push(transition);
    }
    json!({
        "format": "ticketflower/v1",
        "key": "random",
        "title": "Random",
        "tasks": task_docs,
        "transitions": transitions,
    })
}

/// The invariants every decision keeps, checked on the state before and after it.
fn check_decision(
    definition: &Definition,
    event: &Event,
    before: &Instance,
    decision: &Decision,
    after: &Instance,
) -> Result<(), TestCaseError> {
    // (1) No task is activated twice by one decision.
    let mut tasks: Vec<usize> = decision.new_runs.iter().map(|run| run.task).collect();
    tasks.sort_unstable();
    tasks.dedup();
    prop_assert_eq!(tasks.len(), decision.new_runs.len(), "a task activated twice: {:#?}", decision.new_runs);
    // (2) A closed run never changes again.
    for run in before.runs.iter().filter(|run| !run.status.is_open()) {
        prop_assert_eq!(Some(run), after.runs.get(run.seq as usize), "a closed run changed");
    }
    // (3) Run seqs are dense and increasing; each task's runs are numbered 1, 2, … up to max_runs.
    prop_assert!(after.runs.len() >= before.runs.len());
    let mut counts = vec![0u32; definition.tasks.len()];
    for (position, run) in after.runs.iter().enumerate() {
        prop_assert_eq!(run.seq as usize, position);
        counts[run.task] += 1;
        prop_assert_eq!(run.run, counts[run.task]);
        prop_assert!(run.run <= definition.tasks[run.task].max_runs, "past max_runs: {:?}", run);
    }
    // An event's writes come from one source (its ticket, a task's output or
    // an edit): the store keeps them, with that source, in the event's audit row.
    if let Some(first) = decision.writes.first() {
        prop_assert!(decision.writes.iter().all(|w| w.source == first.source), "two sources: {:?}", decision.writes);
    }
    // Writes carry the value they replace; replaying them gives the new data.
    let mut data = before.data.clone();
    for write in &decision.writes {
        prop_assert_eq!(write.write.path.get(&data), write.write.old.as_ref(), "a write's old value is wrong");
        match &write.write.new {
            Some(value) => write.write.path.set(&mut data, value.clone()),
            None => write.write.path.remove(&mut data),
        };
    }
    prop_assert_eq!(&data, &after.data);
    // A final instance has no open run, and ending is announced.
    if after.status.is_final() {
        prop_assert_eq!(after.open_runs().count(), 0);
    }
    if after.status.is_final() && !before.status.is_final() {
        prop_assert!(decision.effects.contains(&Effect::Ended { status: after.status }), "the end is not announced");
        let work_queued =
            decision.effects.iter().any(|e| matches!(e, Effect::Assigned { .. } | Effect::Automate { .. }));
        prop_assert!(!work_queued, "work queued for an ended instance");
    }
    // (5) An ended instance never changes again: an event the engine accepts for it
    // decides nothing at all (no run, update, write, arrival, status, fault or effect).
    if before.status.is_final() {
        prop_assert_eq!(decision, &Decision::default(), "{:?} changed an instance that had ended", event);
        prop_assert_eq!(before, after);
    }
    // A conflict fires nothing.
    if decision.faults.iter().any(|f| f.message.contains("conflicting")) {
        prop_assert!(decision.fired.is_empty());
    }
    // Every new run is explained (a fired transition into it, a watch, or a hand activation),
    // and every fired transition into a task without a join activates it (or hits max_runs).
    let fired_into =
        |task: usize| decision.fired.iter().any(|&t| definition.transitions[t].target == Target::Task(task));
    for run in &decision.new_runs {
        let by_hand = matches!(event, Event::Activate { task } if *task == run.task);
        let watching = !definition.tasks[run.task].watch.is_empty();
        prop_assert!(fired_into(run.task) || watching || by_hand, "an unexplained run: {:?}", run);
    }
    for &fired in &decision.fired {
        let transition = &definition.transitions[fired];
        match transition.target {
            Target::Task(task) => {
                // Rule 4: activated unless it joins and some other member of its join set has not arrived.
                let key = &definition.tasks[task].key;
                let activated = decision.new_runs.iter().any(|run| run.task == task)
                    || decision.faults.iter().any(|fault| fault.details["task"] == json!(key));
                let joined = definition.join_set(task).is_none_or(|join| {
                    !join.contains(&transition.from)
                        || join
                            .iter()
                            .all(|member| *member == transition.from || before.arrivals[task].contains(member))
                });
                if joined {
                    prop_assert!(activated, "transition {} fired but {} was not activated", fired, key);
                } else if !activated {
                    prop_assert!(after.arrivals[task].contains(&transition.from), "an arrival at {} was lost", key);
                }
            }
            Target::Status(status) => {
                prop_assert_eq!(after.status, InstanceStatus::from(status), "a fired status did not take effect")
            }
        }
    }
    Ok(())
}

fn load(document: &Value) -> Option<Definition> {
    Definition::load(document).definition
}

/// Every kind of event, aimed at every run and task of `instance` (and one past
/// the last), with outputs its tasks would accept and data that would change.
fn every_event(definition: &Definition, instance: &Instance) -> Vec<Event> {
    let mut outputs: Vec<Value> = PLAUSIBLE.iter().map(|text| serde_json::from_str(text).unwrap()).collect();
    outputs.extend(instance.runs.iter().filter_map(|run| run.output.clone()));
    outputs.push(json!({}));
    let runs = u32::try_from(instance.runs.len()).unwrap_or(u32::MAX);
    let mut events = Vec::new();
    for seq in 0..=runs {
        events.extend(outputs.iter().map(|output| Event::Complete { seq, output: output.clone() }));
        events.push(Event::Fail { seq, message: "boom".into() });
        events.push(Event::Timeout { seq });
    }
    for path in ["v", "x", "a.b"] {
        let path = FieldPath::parse(path).unwrap();
        events.push(Event::UpdateData { values: vec![(path.clone(), Some(json!(99)))] });
        events.push(Event::UpdateData { values: vec![(path, None)] });
    }
    events.extend((0..=definition.tasks.len()).map(|task| Event::Activate { task }));
    events.extend(
        [EndStatus::Completed, EndStatus::Cancelled, EndStatus::OnHold].map(|status| Event::SetStatus { status }),
    );
    events.extend([Event::Start { data: json!({"v": 1}) }, Event::Cancel, Event::Hold, Event::Resume]);
    events
}

/// (5) for an instance that has ended: every later event is refused because of
/// the status (docs/engine-rules.md, "Ending"), before anything else is looked
/// at, so nothing about the instance can change it again.
fn check_ended_instance_never_changes(definition: &Definition, ended: &Instance) -> Result<(), TestCaseError> {
    prop_assert!(ended.status.is_final(), "not ended: {:?}", ended.status);
    for event in every_event(definition, ended) {
        match decide(definition, ended, &event, NOW) {
            Err(EngineError::WrongStatus(status)) => prop_assert_eq!(status, ended.status),
            other => prop_assert!(false, "{:?} on a {} instance gave {:?}", event, ended.status, other),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { max_global_rejects: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn random_workflows_keep_the_engine_invariants(
        document in arb_document(),
        steps in prop::collection::vec((any::<Index>(), 0i64..5, prop::bool::weighted(0.7)), 200),
        end_by_hand in prop::sample::select(vec![Event::Cancel, Event::SetStatus { status: EndStatus::Completed }]),
    ) {
        let definition = load(&document);
        prop_assume!(definition.is_some());
        let definition = definition.unwrap();
        let (mut instance, first) = start(&definition, ticketless(json!({})), NOW).unwrap();
        let fresh = Instance::new(&definition, json!({}), json!({}), None);
        check_decision(&definition, &Event::Start { data: json!({}) }, &fresh, &first, &instance)?;
        let mut faults = first.faults.len();
        for (pick, v, resume) in steps {
            if instance.status == InstanceStatus::OnHold && resume {
                // A ticket admin resumes a held instance (most of the time).
                let decision = decide(&definition, &instance, &Event::Resume, NOW)
                    .map_err(|error| TestCaseError::fail(format!("resuming was refused: {error}")))?;
                let before = instance.clone();
                instance.apply(&decision);
                check_decision(&definition, &Event::Resume, &before, &decision, &instance)?;
                faults += decision.faults.len();
            }
            if instance.status != InstanceStatus::InProgress {
                break;
            }
            let open: Vec<RunSeq> = instance.open_runs().map(|run| run.seq).collect();
            if open.is_empty() {
                break;
            }
            let seq = open[pick.index(open.len())];
            let event = Event::Complete { seq, output: json!({"v": v}) };
            let decision = decide(&definition, &instance, &event, NOW)
                .map_err(|error| TestCaseError::fail(format!("completing open run {seq} was refused: {error}")))?;
            let before = instance.clone();
            instance.apply(&decision);
            check_decision(&definition, &event, &before, &decision, &instance)?;
            faults += decision.faults.len();
        }
        // (4) Nothing ends silently.
        prop_assert!(
            instance.status.is_final()
                || instance.status == InstanceStatus::OnHold
                || instance.open_runs().next().is_some()
                || faults > 0,
            "the instance stopped without a fault: {:#?}", instance
        );
        // (5) However it ended (by its own transitions or by hand), it stays as it ended.
        if !instance.status.is_final() {
            let decision = decide(&definition, &instance, &end_by_hand, NOW)
                .map_err(|error| TestCaseError::fail(format!("{end_by_hand:?} was refused: {error}")))?;
            let before = instance.clone();
            instance.apply(&decision);
            check_decision(&definition, &end_by_hand, &before, &decision, &instance)?;
        }
        check_ended_instance_never_changes(&definition, &instance)?;
    }
}

/// Any JSON, small: the outputs, data and values a confused caller might send.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..10).prop_map(Value::from),
        (-1e3f64..1e3).prop_map(Value::from),
        "[a-z$.@ ]{0,8}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop_oneof![Just("v".to_owned()), "[a-z.$]{0,3}"], inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Outputs some example task would accept, so random events get somewhere.
const PLAUSIBLE: &[&str] = &[
    r#"{"v": 1}"#,
    r#"{"v": 0}"#,
    r#"{"decision": "approved", "comment": "ok"}"#,
    r#"{"decision": "rejected", "comment": "no"}"#,
    r#"{"questions": "why?"}"#,
    r#"{"updated_doc": "done"}"#,
    r#"{"author_responses": "because"}"#,
    r#"{"paid": true}"#,
    r#"{"paid": false}"#,
    r#"{"category": "billing", "needs_specialist": true}"#,
    r#"{"resolved": false}"#,
    r#"{"resolved": true}"#,
];

fn arb_event() -> impl Strategy<Value = Event> {
    let seq = 0u32..16;
    let path = prop::sample::select(vec!["v", "x", "questions", "location.lat", "a.b.c", "total"])
        .prop_map(|text| FieldPath::parse(text).unwrap());
    prop_oneof![
        4 => (seq.clone(), arb_json()).prop_map(|(seq, output)| Event::Complete { seq, output }),
        4 => (seq.clone(), prop::sample::select(PLAUSIBLE))
            .prop_map(|(seq, output)| Event::Complete { seq, output: serde_json::from_str(output).unwrap() }),
        1 => seq.clone().prop_map(|seq| Event::Fail { seq, message: "boom".into() }),
        1 => seq.prop_map(|seq| Event::Timeout { seq }),
        1 => prop::collection::vec((path, prop::option::of(arb_json())), 0..3)
            .prop_map(|values| Event::UpdateData { values }),
        1 => (0usize..10).prop_map(|task| Event::Activate { task }),
        1 => prop::sample::select(vec![EndStatus::Completed, EndStatus::Cancelled, EndStatus::OnHold])
            .prop_map(|status| Event::SetStatus { status }),
        1 => arb_json().prop_map(|data| Event::Start { data }),
        1 => Just(Event::Cancel),
        1 => Just(Event::Hold),
        2 => Just(Event::Resume),
    ]
}

const EXAMPLES: [(&str, &str); 4] = [
    (
        include_str!("../../../../examples/document-edit.yaml"),
        include_str!("../../../../examples/data/document-edit.ticket.json"),
    ),
    (
        include_str!("../../../../examples/venue-map.yaml"),
        include_str!("../../../../examples/data/venue-map.ticket.json"),
    ),
    (
        include_str!("../../../../examples/customer-support.yaml"),
        include_str!("../../../../examples/data/customer-support.ticket.json"),
    ),
    (
        include_str!("../../../../examples/order-fulfilment.yaml"),
        include_str!("../../../../examples/data/order-fulfilment.ticket.json"),
    ),
];

proptest! {
    #![proptest_config(ProptestConfig { max_global_rejects: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn decide_never_panics_and_keeps_the_invariants_for_arbitrary_events(
        which in 0..=EXAMPLES.len(),
        document in arb_document(),
        events in prop::collection::vec(arb_event(), 1..60),
    ) {
        let (definition, new) = match EXAMPLES.get(which) {
            Some((yaml, ticket)) => {
                let definition = Definition::load_str(yaml, Syntax::Yaml).into_result().unwrap();
                let ticket_type = definition.tickets[0].key.clone();
                (definition, Some((ticket_type, serde_json::from_str::<Value>(ticket).unwrap())))
            }
            None => {
                let definition = load(&document);
                prop_assume!(definition.is_some());
                (definition.unwrap(), None)
            }
        };
        let (mut instance, _) = match &new {
            Some((ticket_type, ticket)) => {
                let new = NewInstance { ticket_type: Some(ticket_type), submitted: ticket.clone(), ..ticketless(json!({})) };
                start(&definition, new, NOW).unwrap()
            }
            None => start(&definition, ticketless(json!({})), NOW).unwrap(),
        };
        for event in events {
            let Ok(decision) = decide(&definition, &instance, &event, NOW) else { continue };
            let before = instance.clone();
            instance.apply(&decision);
            check_decision(&definition, &event, &before, &decision, &instance)?;
        }
        if instance.status.is_final() {
            check_ended_instance_never_changes(&definition, &instance)?;
        }
    }
}
