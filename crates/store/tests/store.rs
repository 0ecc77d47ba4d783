//! The store's contract, proven on SQLite and PostgreSQL alike.
//!
//! PostgreSQL runs when `TICKETFLOWER_TEST_POSTGRES_URL` is set (CI sets it);
//! then a missing server fails the tests instead of skipping them. Each test
//! works in its own company, so tests share one PostgreSQL database safely.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use ticketflower_core::engine::{EngineError, Event, InstanceStatus};
use ticketflower_store::{
    Command, CompanyId, NewFile, NewTicket, NewUser, Permission, Store, StoreError, StoreOptions, UserId,
};

const DOCUMENT_EDIT: &str = include_str!("../../../examples/document-edit.yaml");

/// Runs a test body once per backend.
macro_rules! on_both_backends {
    ($($name:ident => $body:ident;)+) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (_dir, url) = super::sqlite_url();
                super::$body(url).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match super::postgres_url() {
                    Some(url) => super::$body(url).await,
                    None => eprintln!("TICKETFLOWER_TEST_POSTGRES_URL is not set; PostgreSQL not tested"),
                }
            }
        }
    )+};
}

on_both_backends! {
    document_edit_runs_to_completion_with_history_and_audit => document_edit_runs_to_completion;
    invalid_ticket_data_creates_nothing => invalid_ticket_creates_nothing;
    invalid_output_changes_nothing => invalid_output_changes_nothing;
    another_companys_ids_answer_not_found => other_company_is_not_found;
    concurrent_completions_of_parallel_tasks_keep_both_writes => concurrent_parallel_completions;
    new_versions_leave_running_instances_on_their_snapshot => versions_and_snapshots;
    many_concurrent_completions_are_group_committed => group_commit;
    admin_events_cancel_and_faults_become_ticket_errors => admin_events_and_errors;
    file_metadata_is_kept_per_ticket_and_company => file_metadata;
    fields_roll_back_and_tasks_rerun_from_history => rollback_and_rerun;
    a_store_reloads_instances_another_store_changed => stale_cache_is_reloaded;
}

fn sqlite_url() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    (dir, url)
}

fn postgres_url() -> Option<String> {
    std::env::var("TICKETFLOWER_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())
}

async fn connect(url: &str) -> Store {
    Store::connect(StoreOptions::new(url)).await.unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}-{nanos}-{}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

struct Company {
    id: CompanyId,
    editor: UserId,
    author: UserId,
    author_email: String,
}

async fn company_with_document_edit(store: &Store) -> Company {
    let id = store.create_company(&unique("company")).await.unwrap();
    let author_email = format!("{}@example.com", unique("author"));
    let editor = store
        .add_user(
            id,
            NewUser {
                email: format!("{}@example.com", unique("editor")),
                display_name: "Eddie Editor".into(),
                password_hash: "x".into(),
                permissions: vec![Permission::TicketAdmin],
                roles: vec!["editor".into()],
            },
        )
        .await
        .unwrap();
    let author = store
        .add_user(
            id,
            NewUser {
                email: author_email.clone(),
                display_name: "Ann Author".into(),
                password_hash: "x".into(),
                permissions: vec![],
                roles: vec!["author".into()],
            },
        )
        .await
        .unwrap();
    import_and_activate(store, id, DOCUMENT_EDIT).await;
    Company { id, editor, author, author_email }
}

async fn import_and_activate(store: &Store, company: CompanyId, yaml: &str) -> i64 {
    let document: Value = serde_norway::from_str(yaml).unwrap();
    let imported = store.import_definition(company, &document, None).await.unwrap();
    store.activate_version(company, &imported.key, imported.version).await.unwrap();
    imported.version
}

fn edit_request(title: &str) -> NewTicket {
    NewTicket {
        definition: "document-edit".into(),
        ticket_type: "edit-request".into(),
        fields: json!({"title": title, "submitted_doc": "Draft text"}),
        creator: None,
    }
}

async fn complete(
    store: &Store,
    company: CompanyId,
    run: ticketflower_store::RunId,
    output: Value,
    actor: UserId,
) -> Result<ticketflower_store::CommandOutcome, StoreError> {
    store.execute(Command::Complete { company, run, output, actor: Some(actor) }).await
}

async fn document_edit_runs_to_completion(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let created = store
        .create_ticket(c.id, NewTicket { creator: Some(c.author), ..edit_request("Spring newsletter") })
        .await
        .unwrap();
    assert_eq!(created.status, InstanceStatus::InProgress);
    assert_eq!(created.activated, vec!["edit"]);
    let view = store.instance(c.id, created.instance).await.unwrap();
    let edit = view.open_runs_of("edit").next().unwrap().clone();
    assert_eq!(edit.eligible_role.as_deref(), Some("editor"));
    assert_eq!(edit.input, json!({"title": "Spring newsletter", "doc": "Draft text"}));

    assert_eq!(created.new_runs, vec![edit.id]);
    let outcome = complete(&store, c.id, edit.id, json!({"questions": "Which audience?"}), c.editor).await.unwrap();
    assert_eq!(outcome.activated, vec!["answer"]);
    let view = store.instance(c.id, created.instance).await.unwrap();
    let answer = view.open_runs_of("answer").next().unwrap().clone();
    assert_eq!(outcome.new_runs, vec![answer.id], "the outcome names the new run's id");
    assert_eq!(answer.assignee, Some(c.author), "answer goes to the ticket's creator {}", c.author_email);
    assert_eq!(view.data["questions"], "Which audience?");

    complete(&store, c.id, answer.id, json!({"author_responses": "Customers"}), c.author).await.unwrap();
    let view = store.instance(c.id, created.instance).await.unwrap();
    let edit_again = view.open_runs_of("edit").next().unwrap().clone();
    assert_eq!(edit_again.run, 2);
    let outcome = complete(&store, c.id, edit_again.id, json!({"updated_doc": "Final text"}), c.editor).await.unwrap();
    assert_eq!(outcome.status, InstanceStatus::Completed);

    let view = store.instance(c.id, created.instance).await.unwrap();
    assert_eq!(view.status, "COMPLETED");
    assert!(view.data.get("questions").is_none(), "the last edit cleared the questions: {}", view.data);
    assert_eq!(view.data["updated_doc"], "Final text");
    assert_eq!(view.runs.iter().map(|r| r.task.as_str()).collect::<Vec<_>>(), vec!["edit", "answer", "edit"]);
    assert_eq!(view.runs[0].completed_by, Some(c.editor));
    assert_eq!(store.ticket_status(c.id, created.ticket).await.unwrap(), "COMPLETED");

    let questions = store.field_history(c.id, created.instance, Some("questions")).await.unwrap();
    assert_eq!(questions.len(), 2, "set by the first edit, removed by the last");
    assert_eq!(questions[0].new, Some(json!("Which audience?")));
    assert_eq!(questions[0].source, "task");
    assert_eq!(questions[0].actor, Some(c.editor));
    assert_eq!(questions[1].old, Some(json!("Which audience?")));
    assert_eq!(questions[1].new, None);
    let all = store.field_history(c.id, created.instance, None).await.unwrap();
    assert!(all.iter().any(|h| h.path == "title" && h.source == "ticket"));

    let audit = store.audit_events(c.id, created.instance).await.unwrap();
    let kinds: Vec<&str> = audit.iter().map(|(kind, _, _)| kind.as_str()).collect();
    assert_eq!(kinds, vec!["ticket_created", "task_completed", "task_completed", "task_completed"]);
    assert_eq!(audit[1].2, Some(c.editor), "the actor is recorded");
    let changes: Vec<&str> = audit
        .iter()
        .flat_map(|(_, detail, _)| detail["changes"].as_array().unwrap())
        .map(|change| change["change"].as_str().unwrap())
        .collect();
    assert_eq!(changes.iter().filter(|c| **c == "task_activated").count(), 3);
    assert_eq!(changes.iter().filter(|c| **c == "task_status").count(), 3);
    assert_eq!(changes.last(), Some(&"instance_status"));
}

async fn invalid_ticket_creates_nothing(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let error = store
        .create_ticket(c.id, NewTicket { fields: json!({"title": "x", "extra": 1}), ..edit_request("") })
        .await
        .unwrap_err();
    let StoreError::Engine(EngineError::InvalidTicket(problems)) = error else { panic!("unexpected {error:?}") };
    let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    assert!(pointers.contains(&"/title"), "{problems:?}");
    assert!(pointers.contains(&"/submitted_doc"), "{problems:?}");
    for table in ["tickets", "instances", "task_runs", "field_history", "audit_events"] {
        assert_eq!(store.count_rows(c.id, table).await.unwrap(), 0, "{table} is empty");
    }
    let missing =
        store.create_ticket(c.id, NewTicket { ticket_type: "nope".into(), ..edit_request("Valid") }).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
}

async fn invalid_output_changes_nothing(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let created = store.create_ticket(c.id, edit_request("Report")).await.unwrap();
    let before = store.instance(c.id, created.instance).await.unwrap();
    let edit = before.open_runs_of("edit").next().unwrap().id;
    let error = complete(&store, c.id, edit, json!({"questions": 42}), c.editor).await.unwrap_err();
    let StoreError::Engine(EngineError::InvalidOutput(problems)) = error else { panic!("unexpected {error:?}") };
    assert_eq!(problems[0].pointer, "/questions");
    let after = store.instance(c.id, created.instance).await.unwrap();
    assert_eq!(after.revision, before.revision);
    assert_eq!(after.runs.len(), 1);
    assert_eq!(after.runs[0].status, "OPEN");
    // A closed run cannot be completed twice.
    complete(&store, c.id, edit, json!({"updated_doc": "done"}), c.editor).await.unwrap();
    let again = complete(&store, c.id, edit, json!({"updated_doc": "again"}), c.editor).await.unwrap_err();
    assert!(
        matches!(again, StoreError::Engine(EngineError::WrongStatus(_) | EngineError::RunClosed { .. })),
        "{again:?}"
    );
}

async fn other_company_is_not_found(url: String) {
    let store = connect(&url).await;
    let a = company_with_document_edit(&store).await;
    let b = company_with_document_edit(&store).await;
    let created = store.create_ticket(a.id, edit_request("Private")).await.unwrap();
    let run = store.instance(a.id, created.instance).await.unwrap().runs[0].id;
    let error = complete(&store, b.id, run, json!({"updated_doc": "stolen"}), b.editor).await.unwrap_err();
    assert!(matches!(error, StoreError::NotFound(_)), "{error:?}");
    assert!(matches!(store.instance(b.id, created.instance).await.unwrap_err(), StoreError::NotFound(_)));
    assert!(matches!(store.ticket_status(b.id, created.ticket).await.unwrap_err(), StoreError::NotFound(_)));
    let cancel = store
        .execute(Command::Apply { company: b.id, instance: created.instance, event: Event::Cancel, actor: None })
        .await
        .unwrap_err();
    assert!(matches!(cancel, StoreError::NotFound(_)));
    assert!(store.field_history(b.id, created.instance, None).await.unwrap().is_empty());
    assert_eq!(store.instance(a.id, created.instance).await.unwrap().status, "IN_PROGRESS");
}

const PARALLEL: &str = r#"
format: ticketflower/v1
key: parallel
title: Two in parallel
roles: [team]
fields: {type: object, properties: {a: {type: string}, b: {type: string}}}
tickets:
  - key: job
    title: Job
    fields: {type: object, properties: {name: {type: string}}}
tasks:
  - {key: left, title: Left, type: form, depends_on: [], output_schema: {type: object, properties: {a: {type: string}}}}
  - {key: right, title: Right, type: form, depends_on: [], output_schema: {type: object, properties: {b: {type: string}}}}
  - {key: join, title: Join, type: form, depends_on: [left, right], output_schema: {type: object, properties: {}}}
transitions:
  - {from: join, status: COMPLETED}
"#;

/// A company with the PARALLEL workflow active and one worker of its role.
async fn company_with_parallel(store: &Store) -> (CompanyId, UserId) {
    let company = store.create_company(&unique("parallel")).await.unwrap();
    let worker = NewUser {
        email: format!("{}@example.com", unique("w")),
        display_name: String::new(),
        password_hash: "x".into(),
        permissions: vec![],
        roles: vec!["team".into()],
    };
    let worker = store.add_user(company, worker).await.unwrap();
    import_and_activate(store, company, PARALLEL).await;
    (company, worker)
}

async fn concurrent_parallel_completions(url: String) {
    // Two stores are two independent connection pools (two nodes).
    let first = connect(&url).await;
    let second = connect(&url).await;
    let (company, worker) = company_with_parallel(&first).await;
    for round in 0..10 {
        let created = first
            .create_ticket(
                company,
                NewTicket {
                    definition: "parallel".into(),
                    ticket_type: "job".into(),
                    fields: json!({"name": round}),
                    creator: None,
                },
            )
            .await
            .unwrap_err();
        // name must be a string: the invalid ticket is refused; create a valid one.
        assert!(matches!(created, StoreError::Engine(EngineError::InvalidTicket(_))));
        let created = first
            .create_ticket(
                company,
                NewTicket {
                    definition: "parallel".into(),
                    ticket_type: "job".into(),
                    fields: json!({"name": format!("r{round}")}),
                    creator: None,
                },
            )
            .await
            .unwrap();
        let view = first.instance(company, created.instance).await.unwrap();
        let left = view.open_runs_of("left").next().unwrap().id;
        let right = view.open_runs_of("right").next().unwrap().id;
        let (one, two) = tokio::join!(
            complete(&first, company, left, json!({"a": "from left"}), worker),
            complete(&second, company, right, json!({"b": "from right"}), worker),
        );
        let one = one.unwrap();
        let two = two.unwrap();
        let joined = one.activated.iter().chain(&two.activated).filter(|k| *k == "join").count();
        assert_eq!(joined, 1, "the join activates exactly once");
        let view = first.instance(company, created.instance).await.unwrap();
        assert_eq!(view.data["a"], "from left", "round {round}: {}", view.data);
        assert_eq!(view.data["b"], "from right", "round {round}: {}", view.data);
        assert_eq!(view.open_runs_of("join").count(), 1);
    }
}

async fn versions_and_snapshots(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let running = store
        .create_ticket(c.id, NewTicket { creator: Some(c.author), ..edit_request("On version one") })
        .await
        .unwrap();
    let changed = DOCUMENT_EDIT
        .replace("title: Edit Document", "title: Edit the Document")
        .replace("{from: answer, to: edit}", "{from: answer, status: COMPLETED}");
    let version = import_and_activate(&store, c.id, &changed).await;
    assert_eq!(version, 2);
    let first = store.export_definition(c.id, "document-edit", Some(1)).await.unwrap();
    assert_eq!(first["tasks"][0]["title"], "Edit Document");
    let latest = store.export_definition(c.id, "document-edit", None).await.unwrap();
    assert_eq!(latest["tasks"][0]["title"], "Edit the Document");
    let versions = store.list_versions(c.id).await.unwrap();
    let statuses: Vec<(i64, &str)> = versions.iter().map(|v| (v.version, v.status.as_str())).collect();
    assert_eq!(statuses, vec![(2, "ACTIVE"), (1, "ARCHIVED")]);
    // The running instance still follows version 1: answer leads back to edit.
    let view = store.instance(c.id, running.instance).await.unwrap();
    let outcome = complete(&store, c.id, view.runs[0].id, json!({"questions": "?"}), c.editor).await.unwrap();
    assert_eq!(outcome.activated, vec!["answer"]);
    let view = store.instance(c.id, running.instance).await.unwrap();
    let outcome = complete(
        &store,
        c.id,
        view.open_runs_of("answer").next().unwrap().id,
        json!({"author_responses": "!"}),
        c.author,
    )
    .await
    .unwrap();
    assert_eq!(outcome.activated, vec!["edit"], "version 1's transition answer → edit");
    // A new ticket runs version 2.
    let new = store
        .create_ticket(c.id, NewTicket { creator: Some(c.author), ..edit_request("On version two") })
        .await
        .unwrap();
    let view = store.instance(c.id, new.instance).await.unwrap();
    complete(&store, c.id, view.runs[0].id, json!({"questions": "?"}), c.editor).await.unwrap();
    let view = store.instance(c.id, new.instance).await.unwrap();
    let outcome = complete(
        &store,
        c.id,
        view.open_runs_of("answer").next().unwrap().id,
        json!({"author_responses": "!"}),
        c.author,
    )
    .await
    .unwrap();
    assert_eq!(outcome.status, InstanceStatus::Completed, "version 2's transition answer → COMPLETED");
    let invalid = store
        .import_definition(c.id, &json!({"format": "ticketflower/v1", "key": "document-edit"}), None)
        .await
        .unwrap_err();
    assert!(
        matches!(invalid, StoreError::Invalid(ref problems) if problems.iter().any(|p| p.pointer == "/title")),
        "{invalid:?}"
    );
    assert_eq!(store.list_versions(c.id).await.unwrap().len(), 2, "an invalid import adds no version");
    let missing = store.export_definition(c.id, "document-edit", Some(9)).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)));
}

async fn group_commit(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let mut handles = Vec::new();
    for n in 0..100 {
        let store = store.clone();
        let company = c.id;
        handles.push(tokio::spawn(async move {
            store.create_ticket(company, edit_request(&format!("Doc {n}"))).await.unwrap()
        }));
    }
    let mut instances = Vec::new();
    for handle in handles {
        instances.push(handle.await.unwrap().instance);
    }
    let mut handles = Vec::new();
    for instance in instances.clone() {
        let store = store.clone();
        let (company, editor) = (c.id, c.editor);
        handles.push(tokio::spawn(async move {
            let run = store.instance(company, instance).await.unwrap().runs[0].id;
            complete(&store, company, run, json!({"updated_doc": "done"}), editor).await.unwrap()
        }));
    }
    for handle in handles {
        assert_eq!(handle.await.unwrap().status, InstanceStatus::Completed);
    }
    assert_eq!(store.count_rows(c.id, "tickets").await.unwrap(), 100);
    assert_eq!(store.count_rows(c.id, "task_runs").await.unwrap(), 100);
    for instance in instances {
        assert_eq!(store.instance(c.id, instance).await.unwrap().status, "COMPLETED");
    }
}

const STALLS: &str = r#"
format: ticketflower/v1
key: stalls
title: Stalls when the answer is no
fields: {type: object, properties: {ok: {type: boolean}}}
tickets: [{key: t, title: T, fields: {type: object, properties: {}}}]
tasks:
  - {key: check, title: Check, type: form, output_schema: {type: object, properties: {ok: {type: boolean}}}}
transitions:
  - {from: start, to: check}
  - {from: check, status: COMPLETED, when: {"output.ok": true}}
"#;

async fn admin_events_and_errors(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    import_and_activate(&store, c.id, STALLS).await;
    let created = store
        .create_ticket(
            c.id,
            NewTicket { definition: "stalls".into(), ticket_type: "t".into(), fields: json!({}), creator: None },
        )
        .await
        .unwrap();
    let run = store.instance(c.id, created.instance).await.unwrap().runs[0].id;
    let outcome = complete(&store, c.id, run, json!({"ok": false}), c.editor).await.unwrap();
    assert_eq!(outcome.faults.len(), 1);
    let errors = store.instance_errors(c.id, created.instance).await.unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, "WORKFLOW_TRANSITION");
    assert_eq!(errors[0].status, "NEW");
    assert!(errors[0].message.contains("stalled"), "{}", errors[0].message);
    // A ticket admin picks the next step by hand.
    let hold = Command::Apply { company: c.id, instance: created.instance, event: Event::Hold, actor: Some(c.editor) };
    assert_eq!(store.execute(hold.clone()).await.unwrap().status, InstanceStatus::OnHold);
    let again = store.execute(hold).await.unwrap_err();
    assert!(matches!(again, StoreError::Engine(EngineError::WrongStatus(InstanceStatus::OnHold))));
    let cancel =
        Command::Apply { company: c.id, instance: created.instance, event: Event::Cancel, actor: Some(c.editor) };
    assert_eq!(store.execute(cancel).await.unwrap().status, InstanceStatus::Cancelled);
    assert_eq!(store.ticket_status(c.id, created.ticket).await.unwrap(), "CANCELLED");
}

#[tokio::test]
async fn connecting_twice_runs_migrations_once() {
    let (_dir, url) = sqlite_url();
    let first = connect(&url).await;
    let company = first.create_company("Kept").await.unwrap();
    drop(first);
    let second = connect(&url).await;
    assert_eq!(second.company_by_name("Kept").await.unwrap(), Some(company));
    assert!(matches!(second.create_company("Kept").await.unwrap_err(), StoreError::Conflict(_)));
}

async fn file_metadata(url: String) {
    let store = connect(&url).await;
    let a = company_with_document_edit(&store).await;
    let b = company_with_document_edit(&store).await;
    let ticket = store.create_ticket(a.id, edit_request("With attachment")).await.unwrap().ticket;
    let file = |ticket, name: &str, size| NewFile {
        ticket: Some(ticket),
        file_name: name.into(),
        content_type: "application/pdf".into(),
        size_bytes: size,
        storage_path: format!("files/{name}"),
        created_by: Some(a.author),
    };
    store.add_file(a.id, file(ticket, "plan.pdf", 1234)).await.unwrap();
    let files = store.ticket_files(a.id, ticket).await.unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!((files[0].file.file_name.as_str(), files[0].file.size_bytes), ("plan.pdf", 1234));
    let invalid = store.add_file(a.id, file(ticket, "../etc/passwd", -1)).await.unwrap_err();
    assert!(matches!(invalid, StoreError::Invalid(ref problems) if problems.len() == 2), "{invalid:?}");
    let foreign = store.add_file(b.id, file(ticket, "x.pdf", 1)).await.unwrap_err();
    assert!(matches!(foreign, StoreError::NotFound(_)), "{foreign:?}");
    assert!(store.ticket_files(b.id, ticket).await.unwrap().is_empty());
}

async fn rollback_and_rerun(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let other = company_with_document_edit(&store).await;
    let created =
        store.create_ticket(c.id, NewTicket { creator: Some(c.author), ..edit_request("Roll me back") }).await.unwrap();
    let edit = created.new_runs[0];
    let asked = complete(&store, c.id, edit, json!({"questions": "First question"}), c.editor).await.unwrap();
    let answered =
        complete(&store, c.id, asked.new_runs[0], json!({"author_responses": "An answer"}), c.author).await.unwrap();
    complete(&store, c.id, answered.new_runs[0], json!({"questions": "Second question"}), c.editor).await.unwrap();
    let history = store.field_history(c.id, created.instance, Some("questions")).await.unwrap();
    assert_eq!(history.len(), 2);

    // Another company cannot roll back this field.
    let foreign = store.rollback_field(other.id, history[0].id, Some(other.editor)).await.unwrap_err();
    assert!(matches!(foreign, StoreError::NotFound(_)), "{foreign:?}");

    store.rollback_field(c.id, history[0].id, Some(c.editor)).await.unwrap();
    let view = store.instance(c.id, created.instance).await.unwrap();
    assert_eq!(view.data["questions"], "First question");
    let history = store.field_history(c.id, created.instance, Some("questions")).await.unwrap();
    assert_eq!(history.len(), 3, "the rollback is a history entry too");
    assert_eq!(history[2].source, "external");
    assert_eq!(history[2].actor, Some(c.editor));
    assert_eq!(history[2].old, Some(json!("Second question")));

    // Retry from here: the first edit runs again, with the data as it is now.
    let rerun = store.rerun_task(c.id, edit, Some(c.editor)).await.unwrap();
    assert_eq!(rerun.activated, vec!["edit"]);
    let view = store.instance(c.id, created.instance).await.unwrap();
    let again = view.runs.iter().find(|r| r.id == rerun.new_runs[0]).unwrap();
    assert_eq!(again.run, 3);
    assert_eq!(again.input["answers"], "An answer");
    let foreign = store.rerun_task(other.id, edit, None).await.unwrap_err();
    assert!(matches!(foreign, StoreError::NotFound(_)), "{foreign:?}");
}

async fn stale_cache_is_reloaded(url: String) {
    // The first store keeps the instance it started in memory; the second
    // changes it; the first must see that change instead of overwriting it.
    let first = connect(&url).await;
    let second = connect(&url).await;
    let (company, worker) = company_with_parallel(&first).await;
    let created = first
        .create_ticket(
            company,
            NewTicket {
                definition: "parallel".into(),
                ticket_type: "job".into(),
                fields: json!({"name": "n"}),
                creator: None,
            },
        )
        .await
        .unwrap();
    let (left, right) = (created.new_runs[0], created.new_runs[1]);
    complete(&second, company, left, json!({"a": "by the second store"}), worker).await.unwrap();
    let outcome = complete(&first, company, right, json!({"b": "by the first store"}), worker).await.unwrap();
    assert_eq!(outcome.activated, vec!["join"], "the first store saw that left had completed");
    let view = second.instance(company, created.instance).await.unwrap();
    assert_eq!(view.data, json!({"name": "n", "a": "by the second store", "b": "by the first store"}));
    assert_eq!(view.revision, 3);
}
