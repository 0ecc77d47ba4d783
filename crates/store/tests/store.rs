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
    Command, CompanyId, HistoryId, NewFile, NewTicket, NewUser, Permission, Store, StoreError, StoreOptions, UserId,
};

const DOCUMENT_EDIT: &str = include_str!("../../../examples/document-edit.yaml");

/// The ignored million-ticket list measurement (run by hand; see its header).
#[path = "store/ticket_list_scale.rs"]
mod ticket_list_scale;

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
    a_saved_draft_can_be_taken_back_only_while_it_is_the_latest_draft => discard_draft;
    many_concurrent_completions_are_group_committed => group_commit;
    two_nodes_starting_tickets_at_once_get_distinct_ids => two_nodes_start_tickets;
    admin_events_cancel_and_faults_become_ticket_errors => admin_events_and_errors;
    file_metadata_is_kept_per_ticket_and_company => file_metadata;
    fields_roll_back_and_tasks_rerun_from_history => rollback_and_rerun;
    a_write_is_part_of_its_audit_event_and_history_rows_still_read => history_in_audit_events;
    a_store_reloads_instances_another_store_changed => stale_cache_is_reloaded;
    round_robin_and_least_loaded_spread_work_over_a_role => assignment_policies;
    least_loaded_counts_every_change_of_open_runs => least_loaded_counts;
    least_loaded_deals_in_turn_within_and_across_batches => least_loaded_deals_the_runs_of_a_batch_in_turn;
    assistant_conversations_belong_to_one_user_of_one_company => conversations_are_private;
    the_ticket_list_filters_scopes_and_pages_newest_first => ticket_list;
    search_finds_words_in_titles_fields_and_comments_and_takes_any_input => ticket_search;
    common_and_rare_words_find_the_same_tickets_page_by_page => ticket_search_common_and_rare;
    comments_keep_their_files_and_stay_in_their_company => ticket_comments;
    the_inbox_puts_overdue_first_and_shows_only_eligible_runs => inbox_order_and_eligibility;
    claiming_and_releasing_runs_checks_eligibility_and_state => claim_and_release;
    of_two_concurrent_claims_exactly_one_wins => claim_race;
    ticket_errors_are_listed_reviewed_and_resolved => error_queue;
    company_admins_manage_roles_and_user_access => roles_and_access;
    a_restricted_users_pages_hold_every_visible_ticket_once => restricted_ticket_list;
    who_may_see_a_ticket_through_its_runs_is_written_once_per_pair => ticket_access_pairs;
    a_damaged_stored_json_value_is_an_error_naming_its_column => damaged_stored_json;
}

fn sqlite_url() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
    (dir, url)
}

fn postgres_url() -> Option<String> {
    std::env::var("TICKETFLOWER_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())
}

/// A new PostgreSQL database of the test's own named `name` (for tests that
/// count rows, numbers or connections no other test may touch), if
/// PostgreSQL is tested.
async fn own_postgres_database(name: &str) -> Option<String> {
    let Some(url) = postgres_url() else {
        eprintln!("TICKETFLOWER_TEST_POSTGRES_URL is not set; PostgreSQL not tested");
        return None;
    };
    Some(ticketflower_store::recreate_postgres_database(&url, name).await.unwrap())
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

/// Creates `count` Document Edit tickets; returns the run each opened.
async fn edit_tickets(store: &Store, c: &Company, count: usize) -> Vec<ticketflower_store::RunId> {
    let mut runs = Vec::new();
    for n in 0..count {
        runs.push(store.create_ticket(c.id, edit_request(&format!("Ticket {n}"))).await.unwrap().new_runs[0]);
    }
    runs
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
    // The event's own fields, then its changes, each in the order it is written.
    assert_eq!(
        audit[1].1.to_string(),
        json!({"seq": 0, "changes": [
            {"change": "task_status", "seq": 0, "task": "edit", "status": "COMPLETED"},
            {"change": "task_activated", "seq": 1, "task": "answer", "run": 1, "status": "OPEN"},
        ]})
        .to_string()
    );
    assert_eq!(
        audit[3].1["changes"][1],
        json!({"change": "instance_status", "status": "COMPLETED"}),
        "the last edit ends the workflow"
    );
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

async fn discard_draft(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let other = store.create_company(&unique("other")).await.unwrap();
    let document: Value = serde_norway::from_str(DOCUMENT_EDIT).unwrap();
    let mut changed = document.clone();
    changed["title"] = json!("Document Edit, changed");
    let second = store.save_version(c.id, &changed, Some(1), None).await.unwrap();
    assert_eq!(second.version, 2);
    // Another company's key, an unknown version, an older version: refused, nothing changes.
    assert!(matches!(store.discard_draft(other, "document-edit", 2).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.discard_draft(c.id, "document-edit", 7).await, Err(StoreError::NotFound(_))));
    let older = store.discard_draft(c.id, "document-edit", 1).await.unwrap_err();
    assert!(matches!(&older, StoreError::Conflict(m) if m.contains("version 2")), "{older:?}");
    store.discard_draft(c.id, "document-edit", 2).await.unwrap();
    let versions: Vec<i64> = store.list_versions(c.id).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(versions, [1]);
    // The next save is version 2 again, and its own document is what loads.
    let third = store.save_version(c.id, &document, Some(1), None).await.unwrap();
    assert_eq!(third.version, 2);
    let loaded = store.definition(c.id, third.version_id).await.unwrap();
    assert_eq!(loaded.title, "Document Edit");
    // An active version is not a draft any more.
    store.activate_version(c.id, "document-edit", 2).await.unwrap();
    let active = store.discard_draft(c.id, "document-edit", 2).await.unwrap_err();
    assert!(matches!(&active, StoreError::Conflict(m) if m.contains("active")), "{active:?}");
    // A key whose only version is discarded is gone.
    let mut fresh = document.clone();
    fresh["key"] = json!("fresh-workflow");
    let imported = store.import_definition(c.id, &fresh, None).await.unwrap();
    assert!(imported.created_definition);
    store.discard_draft(c.id, "fresh-workflow", 1).await.unwrap();
    assert!(store.list_versions(c.id).await.unwrap().iter().all(|v| v.key != "fresh-workflow"));
    assert!(store.import_definition(c.id, &fresh, None).await.unwrap().created_definition);
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
            // Every tenth start is invalid: refused alone, its batch goes on.
            let mut request = edit_request(&format!("Doc {n}"));
            if n % 10 == 5 {
                request.fields = json!({"title": "x"});
            }
            store.create_ticket(company, request).await
        }));
    }
    let mut instances = Vec::new();
    let mut tickets = Vec::new();
    for (n, handle) in handles.into_iter().enumerate() {
        match handle.await.unwrap() {
            Ok(created) if n % 10 != 5 => {
                tickets.push(created.ticket);
                instances.push(created.instance);
                let view = store.instance(c.id, created.instance).await.unwrap();
                assert_eq!(view.ticket, Some(created.ticket), "each instance belongs to its own ticket");
                assert_eq!(view.data["title"], format!("Doc {n}"));
            }
            Err(StoreError::Engine(EngineError::InvalidTicket(_))) if n % 10 == 5 => {}
            other => panic!("start {n}: {other:?}"),
        }
    }
    let distinct: std::collections::BTreeSet<_> = tickets.iter().collect();
    assert_eq!(distinct.len(), 90, "batched starts get distinct ticket ids");
    // Written several to a statement (SQLite), each is in the search index.
    for (n, ticket) in (0..100).filter(|n| n % 10 != 5).zip(&tickets) {
        let search = TicketFilter { search: Some(format!("doc {n}")), ..TicketFilter::new(TicketScope::All) };
        assert!(ids(&store, c.id, search).await.contains(ticket), "ticket {n} is found by its words");
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
    assert_eq!(store.count_rows(c.id, "tickets").await.unwrap(), 90);
    assert_eq!(store.count_rows(c.id, "task_runs").await.unwrap(), 90);
    for instance in instances {
        assert_eq!(store.instance(c.id, instance).await.unwrap().status, "COMPLETED");
    }
}

async fn two_nodes_start_tickets(url: String) {
    // Two stores are two nodes. On SQLite each counts ticket ids on from what it
    // read; every write checks that the other did not take them, and a batch that
    // lost is decided again with fresh ids.
    let first = connect(&url).await;
    let second = connect(&url).await;
    let c = company_with_document_edit(&first).await;
    let mut handles = Vec::new();
    for n in 0..60 {
        let store = if n % 2 == 0 { first.clone() } else { second.clone() };
        let company = c.id;
        handles.push(tokio::spawn(async move {
            (n, store.create_ticket(company, edit_request(&format!("Doc {n}"))).await)
        }));
    }
    let mut tickets = std::collections::BTreeSet::new();
    for handle in handles {
        let (n, created) = handle.await.unwrap();
        let created = created.unwrap_or_else(|e| panic!("start {n}: {e}"));
        assert!(tickets.insert(created.ticket), "ticket id {} given twice", created.ticket);
        let view = first.instance(c.id, created.instance).await.unwrap();
        assert_eq!(view.ticket, Some(created.ticket), "each instance belongs to its own ticket");
        assert_eq!(view.data["title"], format!("Doc {n}"));
    }
    assert_eq!(first.count_rows(c.id, "tickets").await.unwrap(), 60);
    assert_eq!(first.count_rows(c.id, "instances").await.unwrap(), 60);
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

/// `least_loaded` deals the runs of one group commit in turn too: each run
/// dealt counts as open for the next, and for batches other committers
/// decide side by side before it is committed.
async fn least_loaded_deals_the_runs_of_a_batch_in_turn(url: String) {
    let store = connect(&url).await;
    let company = store.create_company(&unique("crew")).await.unwrap();
    let mut crew = Vec::new();
    for n in 0..3 {
        let user = NewUser {
            email: format!("{}@example.com", unique(&format!("crew-{n}"))),
            display_name: format!("crew {n}"),
            password_hash: "x".into(),
            permissions: vec![],
            roles: vec!["crew".into()],
        };
        crew.push(store.add_user(company, user).await.unwrap());
    }
    import_and_activate(&store, company, LEAST_LOADED_FLOW).await;
    let clients: Vec<_> = (0..9)
        .map(|n| {
            let store = store.clone();
            let ticket = NewTicket {
                definition: "crew-work".into(),
                ticket_type: "job".into(),
                fields: json!({"title": format!("Job {n}")}),
                creator: None,
            };
            tokio::spawn(async move { store.create_ticket(company, ticket).await })
        })
        .collect();
    let mut dealt: std::collections::BTreeMap<UserId, Vec<TicketId>> =
        crew.iter().map(|user| (*user, Vec::new())).collect();
    for client in clients {
        let created = client.await.unwrap().unwrap();
        let run = store.run_detail(company, created.new_runs[0]).await.unwrap();
        let assignee = run.run.assignee.expect("least_loaded assigns at once");
        assert_eq!(created.assignees, [Some(assignee)], "the outcome names whom the run was dealt to");
        dealt.entry(assignee).or_default().push(created.ticket);
    }
    assert_eq!(dealt.values().map(Vec::len).collect::<Vec<_>>(), [3, 3, 3], "{dealt:?}");
    // Each member sees the tickets dealt to them, and no other (none of the
    // role's, which their scope leaves out; `ticket_access`, migration 27).
    for (user, mut tickets) in dealt {
        let scope = TicketScope::Restricted { user, ticket_types: vec![], roles: vec![] };
        let mut seen = all_pages(&store, company, &TicketFilter::new(scope)).await;
        seen.sort();
        tickets.sort();
        assert_eq!(seen, tickets, "{user:?}");
    }
}

/// `least_loaded` keeps each member's open runs in memory (read again every
/// 2 s): every way a count changes must move it, or the next run goes to the
/// wrong member. Each step below names the path it checks; with that path not
/// moving the count, the ticket after it goes to the other member.
async fn least_loaded_counts(url: String) {
    let store = connect(&url).await;
    let company = store.create_company(&unique("crew company")).await.unwrap();
    let roles = vec!["crew".to_owned()];
    let (a, a_email) = add_plain_user(&store, company, "A", &["crew"]).await;
    let (b, _) = add_plain_user(&store, company, "B", &["crew"]).await;
    let worker_a = Worker { user: a, email: &a_email, roles: &roles };
    import_and_activate(&store, company, LEAST_LOADED_FLOW).await;
    import_and_activate(&store, company, &crew_pool_flow()).await;
    let ticket = |definition: &str| NewTicket {
        definition: definition.into(),
        ticket_type: "job".into(),
        fields: json!({"title": "Job"}),
        creator: None,
    };
    // One `least_loaded` ticket: its run and who got it.
    let deal = |store: Store| async move {
        let created = store.create_ticket(company, ticket("crew-work")).await.unwrap();
        let run = created.new_runs[0];
        (run, store.run_detail(company, run).await.unwrap().run.assignee.unwrap(), created.instance)
    };
    let (a1, first, _) = deal(store.clone()).await;
    assert_eq!(first, a, "equal loads: the earlier account");
    // A run assigned by a batch counts at once: A 1, B 0.
    let (_, second, b1_instance) = deal(store.clone()).await;
    assert_eq!(second, b, "the first run counts for A");
    let (a2, third, _) = deal(store.clone()).await;
    assert_eq!(third, a, "1 each: the earlier account");
    // Completing runs frees their assignee: A 0, B 1.
    for run in [a1, a2] {
        complete(&store, company, run, json!({}), a).await.unwrap();
    }
    let (a3, fourth, _) = deal(store.clone()).await;
    assert_eq!(fourth, a, "A's completed runs no longer count");
    // A claim counts: A 2, B 1.
    let pool = store.create_ticket(company, ticket("crew-pool")).await.unwrap().new_runs[0];
    store.claim_run(company, pool, &worker_a).await.unwrap();
    let (b2, fifth, _) = deal(store.clone()).await;
    assert_eq!(fifth, b, "A's claim counts");
    // A release frees: B completes one (A 2, B 1), A releases (A 1, B 1).
    complete(&store, company, b2, json!({}), b).await.unwrap();
    store.release_run(company, pool, &worker_a).await.unwrap();
    let (a4, sixth, _) = deal(store.clone()).await;
    assert_eq!(sixth, a, "A's release counts");
    // Another node (a second store on the same database) closes A's runs:
    // A 0, B 1 — seen here once the counts are read again.
    let other = connect(&url).await;
    for run in [a3, a4] {
        complete(&other, company, run, json!({}), a).await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    let (_, seventh, _) = deal(store.clone()).await;
    assert_eq!(seventh, a, "another node's completions show within 2 s");
    // Cancelling a ticket closes its runs: A 1, B 0.
    let cancel = Command::Apply { company, instance: b1_instance, event: Event::Cancel, actor: Some(a) };
    store.execute(cancel).await.unwrap();
    let (_, eighth, _) = deal(store.clone()).await;
    assert_eq!(eighth, b, "B's cancelled run no longer counts");
}

/// [`LEAST_LOADED_FLOW`] with its task left to the crew's pool, under a key of its own.
fn crew_pool_flow() -> String {
    let flow = LEAST_LOADED_FLOW.replace("key: crew-work", "key: crew-pool").replace(", policy: least_loaded", "");
    assert!(flow.contains("crew-pool") && !flow.contains("least_loaded"), "{flow}");
    flow
}

const LEAST_LOADED_FLOW: &str = r#"
format: ticketflower/v1
key: crew-work
title: Crew work
roles: [crew]
fields: {type: object, properties: {}}
tickets:
  - key: job
    title: Job
    fields: {type: object, properties: {title: {type: string}}}
tasks:
  - {key: work, title: Work, type: form, assign: {role: crew, policy: least_loaded}, output_schema: {type: object, properties: {}}}
transitions:
  - {from: start, to: work}
  - {from: work, status: COMPLETED}
"#;

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

/// A command's data changes are part of its audit event (migration 21); each
/// changed field is still its own history entry, named by the event and the
/// field's path. `field_history` rows written before, one per write or one per
/// field, are read alongside, in order of time, and roll back the same way.
async fn history_in_audit_events(url: String) {
    use sea_orm::{ConnectionTrait, Statement};
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let created =
        store.create_ticket(c.id, NewTicket { creator: Some(c.author), ..edit_request("Packed") }).await.unwrap();
    let start = store.field_history(c.id, created.instance, None).await.unwrap();
    assert!(start.len() >= 2, "{start:?}");
    assert!(start.iter().all(|h| h.id == start[0].id && h.source == "ticket"), "one write for the start: {start:?}");
    assert!(matches!(start[0].id, HistoryId::AuditEvent(_)), "{start:?}");
    let asked =
        complete(&store, c.id, created.new_runs[0], json!({"questions": "Q?", "updated_doc": "Draft"}), c.editor)
            .await
            .unwrap();
    let history = store.field_history(c.id, created.instance, None).await.unwrap();
    let edit: Vec<_> = history.iter().filter(|h| h.source == "task").collect();
    assert_eq!(edit.iter().map(|h| h.path.as_str()).collect::<Vec<_>>(), vec!["questions", "updated_doc"]);
    assert_eq!(edit[0].id, edit[1].id, "one write for the edit");
    assert_ne!(edit[0].id, start[0].id);
    assert_eq!((edit[0].old.clone(), edit[0].new.clone()), (None, Some(json!("Q?"))));
    assert_eq!(edit[1].new, Some(json!("Draft")));
    assert_eq!((edit[0].run_seq, edit[0].actor), (Some(0), Some(c.editor)));
    assert!(edit[0].revision > start[0].revision, "{history:?}");
    // Two commands, two log rows: their audit events, and no history row.
    assert_eq!(store.count_rows(c.id, "audit_events").await.unwrap(), 2);
    assert_eq!(store.count_rows(c.id, "field_history").await.unwrap(), 0);

    // Rows as written before migration 21: one per write (migration 20) and one per field.
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    let backend = db.get_database_backend();
    for (columns, values, at) in [
        ("path, old_value, new_value", "'questions', '\"Q?\"', '\"Old style\"'", 1),
        ("path, changes", "'', '[{\"path\": \"questions\", \"new\": \"Newer style\"}]'", 2),
    ] {
        db.execute_raw(Statement::from_string(
            backend,
            format!(
                "INSERT INTO field_history (company_id, instance_id, {columns}, revision, source, actor_id, created_at) \
                 VALUES ({}, {}, {values}, 99, 'external', NULL, {at})",
                c.id.0, created.instance.0
            ),
        ))
        .await
        .unwrap();
    }
    db.close().await.unwrap();
    let questions = store.field_history(c.id, created.instance, Some("questions")).await.unwrap();
    assert_eq!(questions.len(), 3, "{questions:?}");
    assert_eq!((questions[0].new.clone(), questions[0].revision), (Some(json!("Old style")), 99));
    assert_eq!(questions[1].new, Some(json!("Newer style")));
    assert!(matches!(questions[1].id, HistoryId::HistoryRow(_)), "{questions:?}");
    assert_eq!(questions[2].id, edit[0].id, "the engine's write comes after the older rows");

    // Rolling back names the field; a field the write did not change is not an entry of it.
    let missing = store.rollback_field(c.id, created.instance, edit[0].id, "title", Some(c.editor)).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
    let missing =
        store.rollback_field(c.id, created.instance, questions[0].id, "updated_doc", Some(c.editor)).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
    store.rollback_field(c.id, created.instance, questions[0].id, "questions", Some(c.editor)).await.unwrap();
    assert_eq!(store.instance(c.id, created.instance).await.unwrap().data["questions"], "Old style");
    store.rollback_field(c.id, created.instance, questions[1].id, "questions", Some(c.editor)).await.unwrap();
    assert_eq!(store.instance(c.id, created.instance).await.unwrap().data["questions"], "Newer style");
    store.rollback_field(c.id, created.instance, edit[0].id, "questions", Some(c.editor)).await.unwrap();
    let view = store.instance(c.id, created.instance).await.unwrap();
    assert_eq!(view.data["questions"], "Q?");
    assert!(view.open_runs_of("answer").next().is_some(), "{:?}", asked.activated);
    // An event that wrote no data is no history entry.
    let entries = store.field_history(c.id, created.instance, None).await.unwrap().len();
    store
        .execute(Command::Apply { company: c.id, instance: created.instance, event: Event::Hold, actor: None })
        .await
        .unwrap();
    assert_eq!(store.field_history(c.id, created.instance, None).await.unwrap().len(), entries);
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    let held = db
        .query_one_raw(Statement::from_string(
            backend,
            format!(
                "SELECT id FROM audit_events WHERE instance_id = {} AND kind = 'instance_held'",
                created.instance.0
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    db.close().await.unwrap();
    let held = HistoryId::AuditEvent(held.try_get_by_index(0).unwrap());
    let none = store.rollback_field(c.id, created.instance, held, "questions", None).await.unwrap_err();
    assert!(matches!(none, StoreError::NotFound(_)), "{none:?}");
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
    let foreign = store
        .rollback_field(other.id, created.instance, history[0].id, &history[0].path, Some(other.editor))
        .await
        .unwrap_err();
    assert!(matches!(foreign, StoreError::NotFound(_)), "{foreign:?}");

    store.rollback_field(c.id, created.instance, history[0].id, &history[0].path, Some(c.editor)).await.unwrap();
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

// ---------------------------------------------------------------------------
// The ticket desk: list, search, comments, inbox, error queue, company admin.

use ticketflower_core::engine::{Assignment, Eligible};
use ticketflower_store::{
    ErrorFilter, ErrorStatus, NewComment, RoleId, TicketFilter, TicketId, TicketScope, Visibility, Worker,
};

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres")
}

/// Every ticket id the filter selects, page by page, checking each page's shape.
async fn all_pages(store: &Store, company: CompanyId, filter: &TicketFilter) -> Vec<TicketId> {
    let mut filter = filter.clone();
    let mut ids = Vec::new();
    loop {
        let page = store.list_tickets(company, &filter).await.unwrap();
        assert!(page.tickets.len() <= filter.limit as usize);
        ids.extend(page.tickets.iter().map(|t| t.id));
        match page.next_before {
            Some(before) => {
                assert_eq!(Some(before), page.tickets.last().map(|t| t.id), "the next page starts after this one");
                filter.before = Some(before);
            }
            None => return ids,
        }
    }
}

/// The first page of what `user` may see with the types and roles given.
fn restricted(user: UserId, types: &[&str], roles: &[&str]) -> TicketFilter {
    TicketFilter::new(TicketScope::Restricted {
        user,
        ticket_types: types.iter().map(|t| (*t).to_owned()).collect(),
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
    })
}

async fn ids(store: &Store, company: CompanyId, filter: TicketFilter) -> Vec<TicketId> {
    all_pages(store, company, &filter).await
}

async fn add_plain_user(store: &Store, company: CompanyId, name: &str, roles: &[&str]) -> (UserId, String) {
    let email = format!("{}@example.com", unique(name));
    let id = store
        .add_user(
            company,
            NewUser {
                email: email.clone(),
                display_name: name.into(),
                password_hash: "x".into(),
                permissions: vec![],
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            },
        )
        .await
        .unwrap();
    (id, email)
}

async fn ticket_list(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let other = company_with_document_edit(&store).await;
    let mut created = Vec::new();
    for n in 0..7 {
        let creator = (n % 2 == 0).then_some(c.author);
        let ticket = NewTicket { creator, ..edit_request(&format!("Ticket number {n}")) };
        created.push(store.create_ticket(c.id, ticket).await.unwrap());
    }
    let foreign = store.create_ticket(other.id, edit_request("Another company's")).await.unwrap();
    // Ticket 0 is done; ticket 2 waits on its author's answer.
    complete(&store, c.id, created[0].new_runs[0], json!({"updated_doc": "Done"}), c.editor).await.unwrap();
    complete(&store, c.id, created[2].new_runs[0], json!({"questions": "Why?"}), c.editor).await.unwrap();
    let ticket_ids: Vec<TicketId> = created.iter().rev().map(|t| t.ticket).collect();

    // Pages of three: every ticket exactly once, newest first, none of the other company's.
    let all = TicketFilter { limit: 3, ..TicketFilter::new(TicketScope::All) };
    let first = store.list_tickets(c.id, &all).await.unwrap();
    assert_eq!(first.tickets.len(), 3);
    assert_eq!(first.next_before, Some(ticket_ids[2]));
    assert_eq!(first.tickets[0].title, "Ticket number 6");
    assert_eq!(first.tickets[0].creator.as_deref(), Some("Ann Author"));
    assert_eq!(first.tickets[1].creator, None);
    assert_eq!(first.tickets[0].ticket_type, "edit-request");
    assert_eq!(all_pages(&store, c.id, &all).await, ticket_ids);
    let exact = TicketFilter { limit: 7, ..TicketFilter::new(TicketScope::All) };
    assert_eq!(store.list_tickets(c.id, &exact).await.unwrap().next_before, None, "no empty last page");
    assert!(!ids(&store, other.id, TicketFilter::new(TicketScope::All)).await.contains(&created[0].ticket));
    assert_eq!(ids(&store, other.id, TicketFilter::new(TicketScope::All)).await, vec![foreign.ticket]);

    // Filters.
    let status = |s: &str| TicketFilter { status: Some(s.into()), ..TicketFilter::new(TicketScope::All) };
    assert_eq!(ids(&store, c.id, status("COMPLETED")).await, vec![created[0].ticket]);
    assert_eq!(ids(&store, c.id, status("IN_PROGRESS")).await.len(), 6);
    let of_type = |t: &str| TicketFilter { ticket_type: Some(t.into()), ..TicketFilter::new(TicketScope::All) };
    assert_eq!(ids(&store, c.id, of_type("edit-request")).await, ticket_ids);
    assert!(ids(&store, c.id, of_type("nope")).await.is_empty());
    let assigned = |u: UserId| TicketFilter { assignee: Some(u), ..TicketFilter::new(TicketScope::All) };
    assert_eq!(ids(&store, c.id, assigned(c.author)).await, vec![created[2].ticket], "the open answer task");
    assert!(ids(&store, c.id, assigned(c.editor)).await.is_empty(), "pool tasks are nobody's until claimed");
    let page = store.list_tickets(c.id, &exact).await.unwrap();
    let (oldest, newest) = (page.tickets.last().unwrap().created_at, page.tickets[0].created_at);
    let between = |from: Option<i64>, to: Option<i64>| TicketFilter {
        created_from: from,
        created_to: to,
        ..TicketFilter::new(TicketScope::All)
    };
    assert_eq!(ids(&store, c.id, between(Some(oldest), Some(newest + 1))).await, ticket_ids);
    assert!(ids(&store, c.id, between(Some(newest + 1), None)).await.is_empty(), "from is inclusive");
    assert!(ids(&store, c.id, between(None, Some(oldest))).await.is_empty(), "to is exclusive");
    let combined =
        TicketFilter { status: Some("IN_PROGRESS".into()), before: Some(created[3].ticket), limit: 2, ..status("x") };
    assert_eq!(all_pages(&store, c.id, &combined).await, vec![created[2].ticket, created[1].ticket]);

    // Scopes.
    let (outsider, _) = add_plain_user(&store, c.id, "Olga Outsider", &[]).await;
    assert!(ids(&store, c.id, restricted(outsider, &[], &[])).await.is_empty());
    assert_eq!(ids(&store, c.id, restricted(outsider, &["edit-request"], &[])).await, ticket_ids, "by ticket type");
    assert_eq!(ids(&store, c.id, restricted(outsider, &[], &["editor"])).await, ticket_ids, "eligible by role");
    let authored: Vec<TicketId> = [6, 4, 2, 0].iter().map(|n| created[*n].ticket).collect();
    assert_eq!(ids(&store, c.id, restricted(c.author, &[], &[])).await, authored, "created by the user");
    assert_eq!(
        ids(&store, c.id, restricted(c.editor, &[], &[])).await,
        vec![created[2].ticket, created[0].ticket],
        "with a task the user completed"
    );
    assert!(store.ticket_visible(c.id, created[2].ticket, &TicketScope::All).await.unwrap());
    let author_scope = TicketScope::Restricted { user: c.author, ticket_types: vec![], roles: vec![] };
    assert!(store.ticket_visible(c.id, created[2].ticket, &author_scope).await.unwrap());
    assert!(!store.ticket_visible(c.id, created[1].ticket, &author_scope).await.unwrap());
    assert!(!store.ticket_visible(other.id, created[2].ticket, &TicketScope::All).await.unwrap());

    // One ticket.
    let view = store.ticket(c.id, created[2].ticket).await.unwrap();
    assert_eq!(view.title, "Ticket number 2");
    assert_eq!((view.definition_key.as_str(), view.version), ("document-edit", 1));
    assert_eq!(view.status, "IN_PROGRESS");
    assert_eq!(view.fields["submitted_doc"], "Draft text");
    assert_eq!((view.creator, view.creator_name.as_deref()), (Some(c.author), Some("Ann Author")));
    assert_eq!(view.instance, Some(created[2].instance));
    let missing = store.ticket(other.id, created[2].ticket).await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");
    assert!(matches!(store.ticket(c.id, TicketId(i64::MAX)).await.unwrap_err(), StoreError::NotFound(_)));

    // The plan of the list query names the index each filter needs.
    for (filter, index) in [
        (TicketFilter::new(TicketScope::All), "tickets_company_id"),
        (status("NEW"), "tickets_company_status"),
        (of_type("edit-request"), "tickets_company_type"),
    ] {
        let plan = store.explain_ticket_list(c.id, &filter).await.unwrap();
        assert!(!plan.is_empty());
        if !is_postgres(&url) {
            assert!(plan.iter().any(|line| line.contains(index)), "{index} in {plan:#?}");
            assert!(!plan.iter().any(|line| line.contains("TEMP B-TREE")), "no sort: {plan:#?}");
        }
    }
    let searching = TicketFilter { search: Some("x".into()), ..restricted(c.author, &["a"], &["b"]) };
    assert!(!store.explain_ticket_list(c.id, &searching).await.unwrap().is_empty());
}

/// The roles a ticket's runs were eligible to and the users who completed
/// one are kept as `ticket_access` pairs, each written once: a store that has
/// not seen the instance (another node, or after a restart) sends its pairs
/// again and the database keeps the one it has.
async fn ticket_access_pairs(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let (outsider, _) = add_plain_user(&store, c.id, "Otto Outsider", &[]).await;
    let pairs = |store: &Store| {
        let store = store.clone();
        async move { store.count_rows(c.id, "ticket_access").await.unwrap() }
    };
    let ticket = NewTicket { creator: Some(c.author), ..edit_request("Who may see me") };
    let created = store.create_ticket(c.id, ticket).await.unwrap();
    let visible = |store: &Store, user: UserId, roles: &[&str]| {
        let (store, roles) = (store.clone(), roles.iter().map(|r| (*r).to_owned()).collect());
        async move {
            let scope = TicketScope::Restricted { user, ticket_types: vec![], roles };
            store.ticket_visible(c.id, created.ticket, &scope).await.unwrap()
        }
    };
    assert_eq!(pairs(&store).await, 1, "the editors' edit task");
    assert!(visible(&store, outsider, &["editor"]).await && !visible(&store, outsider, &[]).await);
    assert!(!visible(&store, c.editor, &[]).await, "the editor has not done anything on it yet");
    let asked = complete(&store, c.id, created.new_runs[0], json!({"questions": "Why?"}), c.editor).await.unwrap();
    assert_eq!(pairs(&store).await, 3, "and its completer, and the creator, whom the answer is dealt to");
    assert!(visible(&store, c.editor, &[]).await);

    let other_node = connect(&url).await;
    let answered =
        complete(&other_node, c.id, asked.new_runs[0], json!({"author_responses": "Because"}), c.author).await.unwrap();
    assert_eq!(pairs(&store).await, 3, "the author completed a run; the editors' second edit adds nothing");
    let done = complete(&other_node, c.id, answered.new_runs[0], json!({"updated_doc": "Done"}), c.editor).await;
    assert_eq!(done.unwrap().status, InstanceStatus::Completed);
    assert_eq!(pairs(&other_node).await, 3, "the editor completed one before");
    assert!(visible(&other_node, c.editor, &[]).await && visible(&other_node, outsider, &["editor"]).await);
}

/// The engine's JSON is stored as text that only the store writes; should a
/// value be damaged (edited by hand, say), reading it is a `Corrupt` error
/// naming the column, not a panic or a default.
async fn damaged_stored_json(url: String) {
    use sea_orm::{ConnectionTrait, Statement};
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let created = store.create_ticket(c.id, edit_request("Damaged")).await.unwrap();
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    let backend = db.get_database_backend();
    let damage = format!("UPDATE task_runs SET input = '{{\"doc\": ' WHERE instance_id = {}", created.instance.0);
    db.execute_raw(Statement::from_string(backend, damage)).await.unwrap();
    db.close().await.unwrap();
    let error = store.instance(c.id, created.instance).await.unwrap_err();
    assert!(matches!(&error, StoreError::Corrupt(message) if message.contains("column input")), "{error:?}");
}

/// A PostgreSQL database from before migration 23 held the engine's JSON
/// values as `json`. Migrated, it holds them as text, and everything that
/// reads them reads the same values: an instance with its runs (inputs,
/// outputs, assignments), its history and its audit events; the inbox looks
/// into a run's assignment; the engine goes on from the state it loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_23_keeps_the_engine_json_of_an_older_postgres_database() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    use ticketflower_store::Worker;
    let Some(url) = own_postgres_database("ticketflower_test_json_as_text").await else { return };
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let ticket = NewTicket { creator: Some(c.author), ..edit_request("Before the upgrade") };
    let created = store.create_ticket(c.id, ticket).await.unwrap();
    let asked = complete(&store, c.id, created.new_runs[0], json!({"questions": "Why?"}), c.editor).await.unwrap();
    let (company, instance, author, email) = (c.id, created.instance, c.author, c.author_email.clone());
    let seen = |store: Store| {
        let email = email.clone();
        async move {
            let view = store.instance(company, instance).await.unwrap();
            let history = store.field_history(company, instance, None).await.unwrap();
            let events = store.audit_events(company, instance).await.unwrap();
            let roles = ["author".to_owned()];
            let worker = Worker { user: author, email: &email, roles: &roles };
            let inbox = store.inbox(company, &worker, 50).await.unwrap();
            (serde_json::to_value((view, history, inbox)).unwrap(), events)
        }
    };
    let before = seen(store.clone()).await;
    assert_eq!(before.0[0]["runs"][1]["status"], "OPEN", "{:#}", before.0);
    assert_eq!(before.0[2]["mine"].as_array().map(Vec::len), Some(1), "the author's answer: {:#}", before.0);
    store.close().await.unwrap();

    // As a database of migration 22 held them.
    let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
    for statement in [
        "ALTER TABLE instances ALTER COLUMN data TYPE json USING data::json, \
         ALTER COLUMN ticket TYPE json USING ticket::json, ALTER COLUMN meta TYPE json USING meta::json, \
         ALTER COLUMN arrivals TYPE json USING arrivals::json",
        "ALTER TABLE task_runs ALTER COLUMN input TYPE json USING input::json, \
         ALTER COLUMN output TYPE json USING output::json, ALTER COLUMN assignment TYPE json USING assignment::json",
        "ALTER TABLE audit_events ALTER COLUMN detail TYPE json USING detail::json, \
         ALTER COLUMN data_changes TYPE json USING data_changes::json",
        "ALTER TABLE field_history ALTER COLUMN old_value TYPE json USING old_value::json, \
         ALTER COLUMN new_value TYPE json USING new_value::json, ALTER COLUMN changes TYPE json USING changes::json",
        "ALTER TABLE ticket_errors ALTER COLUMN details TYPE json USING details::json",
        "ALTER TABLE jobs ALTER COLUMN payload TYPE json USING payload::json",
        "DELETE FROM schema_migrations WHERE version = 23",
    ] {
        db.execute_unprepared(statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    let json_columns = || async {
        let sql = "SELECT count(*) FROM information_schema.columns \
                   WHERE table_schema = current_schema() AND data_type = 'json'";
        let row = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap().unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    };
    assert_eq!(json_columns().await, 14, "the engine's JSON columns, as before migration 23");

    let upgraded = connect(&url).await;
    assert_eq!(json_columns().await, 0, "text now");
    db.close().await.unwrap();
    assert_eq!(seen(upgraded.clone()).await, before);
    let answered =
        complete(&upgraded, c.id, asked.new_runs[0], json!({"author_responses": "Because"}), c.author).await.unwrap();
    let done = complete(&upgraded, c.id, answered.new_runs[0], json!({"updated_doc": "Done"}), c.editor).await;
    assert_eq!(done.unwrap().status, InstanceStatus::Completed);
    let data = upgraded.instance(c.id, created.instance).await.unwrap().data;
    assert_eq!((data["author_responses"].as_str(), data["updated_doc"].as_str()), (Some("Because"), Some("Done")));
}

/// A database from before migration 26, whose runs have ids of their own,
/// keeps every run in its place with an id made from its instance and seq.
/// Each new id is above every old one, and an old id (a link kept from
/// before) leads to the run's new id in its own company and to nothing in
/// another. The engine goes on from the state it loads. Migration 27 gives
/// each user a run is assigned to their `ticket_access` pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_26_renumbers_an_older_databases_runs_and_keeps_their_old_ids() {
    use sea_orm::ConnectionTrait;
    let (_dir, sqlite) = sqlite_url();
    let mut urls = vec![sqlite];
    urls.extend(own_postgres_database("ticketflower_test_run_ids").await);
    for url in urls {
        let store = connect(&url).await;
        let c = company_with_document_edit(&store).await;
        let other = company_with_document_edit(&store).await;
        let ticket = NewTicket { creator: Some(c.author), ..edit_request("Before the upgrade") };
        let created = store.create_ticket(c.id, ticket).await.unwrap();
        complete(&store, c.id, created.new_runs[0], json!({"questions": "Why?"}), c.editor).await.unwrap();
        let before = store.instance(c.id, created.instance).await.unwrap();
        let pairs = store.count_rows(c.id, "ticket_access").await.unwrap();
        assert_eq!(pairs, 3, "{url}: the editors', the editor's and the author's, whom the answer is assigned to");
        store.close().await.unwrap();

        // As migration 25 left a database: ids from a sequence (here past
        // 2^20, so the new ids need a base), `(instance_id, seq)` unique.
        let db = sea_orm::Database::connect(url.as_str()).await.unwrap();
        let postgres = url.starts_with("postgres");
        let mut statements = vec!["UPDATE task_runs SET id = 3000000 + seq"];
        if postgres {
            statements.extend([
                "ALTER TABLE task_runs ADD CONSTRAINT task_runs_instance_id_seq_key UNIQUE (instance_id, seq)",
                "ALTER TABLE task_runs ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (START WITH 3000002)",
            ]);
        }
        statements.extend(["DROP TABLE task_run_ids", "DROP TABLE task_run_aliases"]);
        let author_pair = format!("DELETE FROM ticket_access WHERE grantee = 'user:{}'", c.author.0);
        statements.extend([
            "CREATE INDEX task_runs_assignee_ticket ON task_runs (company_id, assignee_id, ticket_id) \
             WHERE assignee_id IS NOT NULL",
            &author_pair,
            "DELETE FROM schema_migrations WHERE version IN (26, 27)",
        ]);
        for statement in statements {
            db.execute_unprepared(statement).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
        }
        db.close().await.unwrap();

        let upgraded = connect(&url).await;
        assert_eq!(upgraded.count_rows(c.id, "ticket_access").await.unwrap(), pairs, "{url}: the author's pair again");
        let after = upgraded.instance(c.id, created.instance).await.unwrap();
        assert_eq!(after.runs.len(), 2, "{url}");
        for (old, new) in before.runs.iter().zip(&after.runs) {
            assert!(new.id.0 > 3000001, "{url}: every new id is above the old ones: {:?}", new.id);
            let (mut old, mut new) = (serde_json::to_value(old).unwrap(), serde_json::to_value(new).unwrap());
            for run in [&mut old, &mut new] {
                run.as_object_mut().unwrap().remove("id");
            }
            assert_eq!(old, new, "{url}: the run as it was");
        }
        assert_eq!(serde_json::to_value(&after.data).unwrap(), serde_json::to_value(&before.data).unwrap());

        // The open run by its old id, then by its new one; another company's old id is nothing.
        let open = upgraded.run_detail(c.id, ticketflower_store::RunId(3000001)).await.unwrap();
        assert_eq!((open.run.id, open.run.status.as_str()), (after.runs[1].id, "OPEN"), "{url}");
        assert_eq!(upgraded.run_detail(c.id, after.runs[1].id).await.unwrap().run.id, after.runs[1].id);
        let elsewhere = upgraded.run_detail(other.id, ticketflower_store::RunId(3000001)).await;
        assert!(matches!(elsewhere, Err(StoreError::NotFound(_))), "{url}: {elsewhere:?}");

        let answered =
            complete(&upgraded, c.id, open.run.id, json!({"author_responses": "Because"}), c.author).await.unwrap();
        assert_eq!(answered.new_runs[0].0, after.runs[1].id.0 + 1, "{url}: the instance's next run, next in its range");
        let done = complete(&upgraded, c.id, answered.new_runs[0], json!({"updated_doc": "Done"}), c.editor).await;
        assert_eq!(done.unwrap().status, InstanceStatus::Completed, "{url}");
        let fresh = upgraded.create_ticket(c.id, edit_request("After the upgrade")).await.unwrap();
        assert!(fresh.new_runs[0].0 > after.runs[1].id.0, "{url}: a new instance's runs come after");
        let runs = upgraded.instance(c.id, created.instance).await.unwrap().runs;
        assert_eq!(runs.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(), ["COMPLETED"; 3], "{url}");
        upgraded.close().await.unwrap();
    }
}

/// Tickets created one at a time get the next number, on whichever node:
/// ids are taken ahead from the sequences only while tickets keep coming (on
/// PostgreSQL each ticket took 32, and the unused ones aged out). Its own
/// database, so that no other test's tickets come in between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_created_one_at_a_time_are_numbered_one_after_another() {
    let (_dir, sqlite) = sqlite_url();
    let mut urls = vec![sqlite];
    urls.extend(own_postgres_database("ticketflower_test_numbers").await);
    for url in urls {
        let (store, other_node) = (connect(&url).await, connect(&url).await);
        let c = company_with_document_edit(&store).await;
        let first = store.create_ticket(c.id, edit_request("First")).await.unwrap().ticket;
        let second = other_node.create_ticket(c.id, edit_request("Second")).await.unwrap().ticket;
        let third = store.create_ticket(c.id, edit_request("Third")).await.unwrap().ticket;
        assert_eq!([second.0 - first.0, third.0 - second.0], [1, 1], "{url}");
    }
}

/// The committers keep their connections from one batch to the next (the
/// pool tested each connection when it was taken and when it was given
/// back: two round trips more per batch). Connections the server dropped
/// while they were idle are found out and replaced before they are used, so
/// the next commands go through. Its own database, whose connections it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_go_through_after_the_server_dropped_idle_connections() {
    use sea_orm::{ConnectionTrait, Statement};
    let Some(url) = own_postgres_database("ticketflower_test_dropped").await else { return };
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let runs = edit_tickets(&store, &c, 4).await;
    let admin = sea_orm::Database::connect(postgres_url().unwrap()).await.unwrap();
    let ended = admin
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = 'ticketflower_test_dropped' AND pid <> pg_backend_pid()",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap();
    assert!(ended >= 1, "the store's connections were ended");
    admin.close().await.unwrap();
    // Idle longer than a connection is trusted without a test.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    for run in runs {
        let done = complete(&store, c.id, run, json!({"updated_doc": "Done"}), c.editor).await.unwrap();
        assert_eq!(done.status, InstanceStatus::Completed);
    }
    let created = store.create_ticket(c.id, edit_request("After")).await.unwrap();
    assert_eq!(created.status, InstanceStatus::InProgress);
    // Closing waits for every connection; the committers give theirs back.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(30), store.close()).await;
    assert!(matches!(closed, Ok(Ok(()))), "the store closed: {closed:?}");
    let after = store.create_ticket(c.id, edit_request("Closed")).await;
    assert!(matches!(after, Err(StoreError::Closed)), "{after:?}");
}

/// Rows of `task_runs` and `instances` read by sequential scans, and index
/// scans of them, in the database at `url`, once its backends have reported
/// at least `index_scans` index scans (each reports its counts when idle, a
/// second or more after its last statement).
async fn scans(url: &str, index_scans: i64) -> (i64, i64) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(url).await.unwrap();
    let sql = "SELECT COALESCE(SUM(seq_tup_read), 0)::bigint, COALESCE(SUM(idx_scan), 0)::bigint \
               FROM pg_stat_user_tables WHERE relname IN ('task_runs', 'instances')";
    let mut counts = (0, 0);
    for _ in 0..60 {
        let row = db.query_one_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql)).await.unwrap().unwrap();
        counts = (row.try_get_by_index(0).unwrap(), row.try_get_by_index(1).unwrap());
        if counts.1 >= index_scans {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    db.close().await.unwrap();
    counts
}

/// On a new, small database the group commit still finds each run and
/// instance it updates by its key. (Its statements are planned once for any
/// batch; while the tables were small, hashing a whole table looked cheaper
/// than ten lookups, and every update read all of it until the next ANALYZE.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_databases_group_commits_look_runs_up_by_key() {
    let Some(url) = own_postgres_database("ticketflower_test_small_plans").await else { return };
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let runs = edit_tickets(&store, &c, 6).await;
    for run in runs {
        complete(&store, c.id, run, json!({"updated_doc": "Done"}), c.editor).await.unwrap();
    }
    // Each completion looks its instance and its run up once.
    let (read_whole, lookups) = scans(&url, 12).await;
    assert!(lookups >= 12, "the completions' lookups were counted: {lookups}");
    assert_eq!(read_whole, 0, "rows read by sequential scans of runs and instances");
}

async fn ticket_search(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let other = company_with_document_edit(&store).await;
    let ticket = |title: &str, doc: &str| NewTicket {
        fields: json!({"title": title, "submitted_doc": doc}),
        creator: Some(c.author),
        ..edit_request("")
    };
    let zebra = store.create_ticket(c.id, ticket("Quarterly report", "The zebra numbers look odd")).await.unwrap();
    let budget = store.create_ticket(c.id, ticket("Budget plan", "Draft 2025")).await.unwrap();
    store
        .create_ticket(
            other.id,
            NewTicket { fields: json!({"title": "Zebra", "submitted_doc": "zebra"}), ..edit_request("") },
        )
        .await
        .unwrap();
    store
        .add_comment(
            c.id,
            NewComment {
                ticket: budget.ticket,
                author: c.editor,
                body: "Please recheck the giraffe totals".into(),
                visibility: Visibility::Internal,
                files: vec![],
            },
        )
        .await
        .unwrap();
    let search = |words: &str| TicketFilter { search: Some(words.into()), ..TicketFilter::new(TicketScope::All) };
    let found = |words: &'static str| {
        let store = store.clone();
        let company = c.id;
        async move { ids(&store, company, search(words)).await }
    };
    assert_eq!(found("zebra").await, vec![zebra.ticket], "a word of a field");
    assert_eq!(found("ZEBRA").await, vec![zebra.ticket], "in any case");
    assert_eq!(found("budget").await, vec![budget.ticket], "a word of the title");
    assert_eq!(found("2025").await, vec![budget.ticket], "a number");
    assert_eq!(found("giraffe").await, vec![budget.ticket], "a word of a comment");
    assert_eq!(found("budget giraffe").await, vec![budget.ticket], "words from the ticket and a comment");
    assert!(found("zebra giraffe").await.is_empty(), "every word is required");
    assert!(found("submitted").await.is_empty(), "field names are not indexed");
    assert!(found("zeb").await.is_empty(), "whole words");
    assert_eq!(found("zebra\"").await, vec![zebra.ticket]);
    assert_eq!(found("-zebra").await, vec![zebra.ticket]);
    assert_eq!(found("   ").await.len(), 2, "blank input does not filter");
    for hostile in [
        "\"foo AND (",
        "(((",
        "\"",
        "*",
        "NEAR(zebra",
        "zebra OR",
        "a:* & !b | (c",
        "'; DROP TABLE tickets; --",
        "title:zebra",
        "^zebra",
        "\\",
        "%_",
    ] {
        let result = store.list_tickets(c.id, &search(hostile)).await;
        assert!(result.is_ok(), "{hostile}: {result:?}");
    }
    let filtered = TicketFilter { status: Some("IN_PROGRESS".into()), limit: 1, ..search("the") };
    assert_eq!(all_pages(&store, c.id, &filtered).await, vec![budget.ticket, zebra.ticket]);
    let scoped = TicketFilter {
        search: Some("zebra".into()),
        ..TicketFilter::new(TicketScope::Restricted { user: c.editor, ticket_types: vec![], roles: vec![] })
    };
    assert!(ids(&store, c.id, scoped).await.is_empty(), "search stays within the scope");
}

/// A word in thousands of tickets is checked along the list (on SQLite in
/// windows of ticket ids), a word in a few is gathered from the full-text
/// index (`ticket_list/search.rs`): both find every matching ticket, newest
/// first, page after page, in every scope and with filters.
async fn ticket_search_common_and_rare(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let other = company_with_document_edit(&store).await;
    let (sam, _) = add_plain_user(&store, c.id, "sam", &[]).await;
    let ticket = |title: &str, doc: &str, creator: Option<UserId>| NewTicket {
        fields: json!({"title": title, "submitted_doc": doc}),
        creator,
        ..edit_request("")
    };
    // More copies than a rare word may have (5,000), in two runs; one in a
    // thousand stays open, so a common word and a status span several of
    // SQLite's windows. (On PostgreSQL the copies take
    // ids above the tickets created one by one: only the list's order counts.)
    let copies = 6_000;
    let oldest = store.create_ticket(c.id, ticket("Zebra alpha", "Nothing here", Some(sam))).await.unwrap().ticket;
    let template = store.create_ticket(c.id, ticket("Quarterly report", "Revenue grew", None)).await.unwrap();
    store.bench_fill_tickets(c.id, template.ticket, copies, 1_000).await.unwrap();
    let middle = store.create_ticket(c.id, ticket("Budget", "Draft", Some(sam))).await.unwrap().ticket;
    let comment = |ticket, body: &str| NewComment {
        ticket,
        author: c.editor,
        body: body.into(),
        visibility: Visibility::Public,
        files: vec![],
    };
    store.add_comment(c.id, comment(middle, "Giraffe numbers: revenue is up")).await.unwrap();
    store.bench_fill_tickets(c.id, template.ticket, copies, 1_000).await.unwrap();
    let newest = store.create_ticket(c.id, ticket("Zebra", "Revenue flat", Some(sam))).await.unwrap().ticket;
    let elsewhere = store.create_ticket(other.id, ticket("Revenue", "zebra giraffe", None)).await.unwrap().ticket;

    let everything = TicketFilter { limit: TicketFilter::MAX_LIMIT, ..TicketFilter::new(TicketScope::All) };
    let all = all_pages(&store, c.id, &everything).await;
    assert_eq!(all.len() as i64, 2 * copies + 4);
    let search = |words: &str| TicketFilter { search: Some(words.into()), ..everything.clone() };
    let revenue: Vec<TicketId> = all.iter().copied().filter(|id| *id != oldest).collect();
    same(&all_pages(&store, c.id, &search("revenue")).await, &revenue, "a common word, in every page");
    let grew: Vec<TicketId> = revenue.iter().copied().filter(|id| ![newest, middle].contains(id)).collect();
    same(&all_pages(&store, c.id, &search("REVENUE grew")).await, &grew, "two common words");
    assert_eq!(all_pages(&store, c.id, &search("zebra")).await, vec![newest, oldest], "a rare word");
    assert_eq!(all_pages(&store, c.id, &search("zebra revenue")).await, vec![newest], "a rare and a common word");
    assert_eq!(all_pages(&store, c.id, &search("giraffe")).await, vec![middle], "a rare word of a comment");
    assert_eq!(all_pages(&store, c.id, &search("giraffe revenue")).await, vec![middle]);
    assert!(all_pages(&store, c.id, &search("revenue nowhere")).await.is_empty());
    assert_eq!(all_pages(&store, other.id, &search("revenue")).await, vec![elsewhere], "each company's own");

    let small_pages = TicketFilter { limit: 7, ..search("revenue") };
    let first_pages = store.list_tickets(c.id, &small_pages).await.unwrap();
    assert_eq!(first_pages.tickets.iter().map(|t| t.id).collect::<Vec<_>>(), revenue[..7]);
    let half = revenue.len() / 2;
    let deep = TicketFilter { before: Some(revenue[half]), ..small_pages.clone() };
    let deep_page = store.list_tickets(c.id, &deep).await.unwrap();
    assert_eq!(deep_page.tickets.iter().map(|t| t.id).collect::<Vec<_>>(), revenue[half + 1..half + 8]);

    let in_progress = TicketFilter { status: Some("IN_PROGRESS".into()), ..everything.clone() };
    let expected: Vec<TicketId> =
        all_pages(&store, c.id, &in_progress).await.into_iter().filter(|id| *id != oldest).collect();
    assert!(expected.len() >= 12, "one copy in a thousand is open: the search reads more than one window");
    let searched = TicketFilter { search: Some("revenue".into()), ..in_progress };
    same(&all_pages(&store, c.id, &searched).await, &expected, "a common word and a status");

    let sams = TicketFilter { search: Some("revenue".into()), ..restricted(sam, &[], &[]) };
    assert_eq!(all_pages(&store, c.id, &sams).await, vec![newest, middle], "a common word among a user's few tickets");
    let editors = TicketFilter { search: Some("revenue".into()), limit: 50, ..restricted(c.editor, &[], &["editor"]) };
    let editor_page = store.list_tickets(c.id, &editors).await.unwrap();
    assert_eq!(editor_page.tickets.len(), 50, "the editor's role sees the copies");
    assert!(!store.explain_ticket_list(c.id, &sams).await.unwrap().is_empty());

    // A restricted list filtered to a status few tickets have (a dozen open
    // copies, or none) reads that status's tickets and checks each one's
    // visibility on SQLite; with a status thousands have, it takes the
    // branches per way of seeing tickets. Either way: the user's tickets of it.
    let sams_three = [newest, middle, oldest];
    for status in ["IN_PROGRESS", "COMPLETED", "NEW"] {
        let of_status =
            all_pages(&store, c.id, &TicketFilter { status: Some(status.into()), ..everything.clone() }).await;
        let editors = TicketFilter { status: Some(status.into()), ..restricted(c.editor, &[], &["editor"]) };
        let editors = TicketFilter { limit: TicketFilter::MAX_LIMIT, ..editors };
        same(&all_pages(&store, c.id, &editors).await, &of_status, &format!("the editor's role sees every {status}"));
        let sams = TicketFilter { status: Some(status.into()), limit: 2, ..restricted(sam, &[], &[]) };
        let expected: Vec<TicketId> = sams_three.into_iter().filter(|id| of_status.contains(id)).collect();
        assert_eq!(all_pages(&store, c.id, &sams).await, expected, "Sam's own of {status}");
        if !is_postgres(&url) {
            let plan = store.explain_ticket_list(c.id, &editors).await.unwrap().join("\n");
            let few = of_status.len() < 5000;
            assert_eq!(
                !plan.contains("UNION"),
                few,
                "{status} ({} tickets) read through the status: {plan}",
                of_status.len()
            );
        }
    }
}

/// Two long lists of ids are equal (told by length and first difference).
fn same(found: &[TicketId], expected: &[TicketId], what: &str) {
    let first_difference = found.iter().zip(expected).position(|(a, b)| a != b);
    assert!(
        found.len() == expected.len() && first_difference.is_none(),
        "{what}: found {} tickets, expected {}; first difference at {first_difference:?}: {:?} against {:?}",
        found.len(),
        expected.len(),
        first_difference.map(|at| &found[at.saturating_sub(2)..(at + 3).min(found.len())]),
        first_difference.map(|at| &expected[at.saturating_sub(2)..(at + 3).min(expected.len())]),
    );
}

fn attachment(name: &str) -> NewFile {
    NewFile {
        ticket: None,
        file_name: name.into(),
        content_type: "text/plain".into(),
        size_bytes: 12,
        storage_path: format!("files/{name}"),
        created_by: None,
    }
}

async fn ticket_comments(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let other = company_with_document_edit(&store).await;
    let created = store.create_ticket(c.id, edit_request("Talk about it")).await.unwrap();
    let reply = NewComment {
        ticket: created.ticket,
        author: c.editor,
        body: "  We are on it.  ".into(),
        visibility: Visibility::Public,
        files: vec![attachment("notes.txt"), attachment("more.txt")],
    };
    let first = store.add_comment(c.id, reply.clone()).await.unwrap();
    let note = NewComment {
        author: c.author,
        body: "Internal only".into(),
        visibility: Visibility::Internal,
        files: vec![],
        ..reply.clone()
    };
    let second = store.add_comment(c.id, note).await.unwrap();

    let comments = store.comments(c.id, created.ticket).await.unwrap();
    assert_eq!(comments.iter().map(|c| c.id).collect::<Vec<_>>(), vec![first, second]);
    assert_eq!(comments[0].body, "We are on it.");
    assert_eq!((comments[0].author, comments[0].author_name.as_str()), (Some(c.editor), "Eddie Editor"));
    assert_eq!(comments[0].visibility, Visibility::Public);
    assert_eq!(comments[1].visibility, Visibility::Internal);
    assert!(comments[0].created_at > 0);
    let names: Vec<&str> = comments[0].files.iter().map(|f| f.file.file_name.as_str()).collect();
    assert_eq!(names, vec!["notes.txt", "more.txt"]);
    assert_eq!(comments[0].files[0].file.ticket, Some(created.ticket), "attachments belong to the ticket");
    assert_eq!(comments[0].files[0].file.created_by, Some(c.editor), "uploaded by the author");
    assert!(comments[1].files.is_empty());
    assert_eq!(store.ticket_files(c.id, created.ticket).await.unwrap().len(), 2);
    let file = store.file(c.id, comments[0].files[1].id).await.unwrap();
    assert_eq!(file, comments[0].files[1]);
    assert!(matches!(store.file(other.id, file.id).await.unwrap_err(), StoreError::NotFound(_)));

    assert_eq!(Visibility::parse("internal"), Some(Visibility::Internal));
    assert_eq!(Visibility::parse(Visibility::Public.as_str()), Some(Visibility::Public));
    assert_eq!(Visibility::parse("secret"), None);

    // Invalid input: every problem, nothing written.
    let invalid =
        NewComment { body: " \n ".into(), files: vec![attachment("ok.txt"), attachment("../x")], ..reply.clone() };
    let error = store.add_comment(c.id, invalid).await.unwrap_err();
    let StoreError::Invalid(problems) = error else { panic!("unexpected {error:?}") };
    let pointers: Vec<&str> = problems.iter().map(|p| p.pointer.as_str()).collect();
    assert_eq!(pointers, vec!["/body", "/files/1/file_name"]);
    assert_eq!(store.comments(c.id, created.ticket).await.unwrap().len(), 2);
    assert_eq!(store.ticket_files(c.id, created.ticket).await.unwrap().len(), 2);

    // Another company's ticket (or author) is not found, and nothing is written.
    let foreign = store.add_comment(other.id, NewComment { author: other.editor, ..reply.clone() }).await.unwrap_err();
    assert!(matches!(foreign, StoreError::NotFound(_)), "{foreign:?}");
    let foreign_author =
        store.add_comment(c.id, NewComment { author: other.editor, ..reply.clone() }).await.unwrap_err();
    assert!(matches!(foreign_author, StoreError::NotFound(_)), "{foreign_author:?}");
    assert!(matches!(store.comments(other.id, created.ticket).await.unwrap_err(), StoreError::NotFound(_)));
    assert_eq!(store.count_rows(other.id, "comments").await.unwrap(), 0);
    assert_eq!(store.count_rows(c.id, "comments").await.unwrap(), 2);

    let audit = store.audit_events(c.id, created.instance).await.unwrap();
    let added: Vec<_> = audit.iter().filter(|(kind, _, _)| kind == "comment_added").collect();
    assert_eq!(added.len(), 2);
    assert_eq!(added[0].1["comment"], first.0);
    assert_eq!(added[0].1["visibility"], "public");
    assert_eq!(added[0].2, Some(c.editor));
}

const INBOX_FLOW: &str = r#"
format: ticketflower/v1
key: inbox-flow
title: Inbox flow
roles: [editor]
fields: {type: object, properties: {}}
tickets:
  - key: request
    title: Request
    fields: {type: object, properties: {title: {type: string}}}
tasks:
  - {key: review, title: Review, type: form, depends_on: [], assign: {role: editor}, due: P1D, output_schema: {type: object, properties: {}}}
  - {key: pair, title: Pair, type: form, depends_on: [], assign: {users: [PAIR_A, PAIR_B]}, output_schema: {type: object, properties: {}}}
  - {key: own, title: Own, type: form, depends_on: [], assign: {initiator: true}, output_schema: {type: object, properties: {}}}
  - {key: done, title: Done, type: form, depends_on: [review, pair, own], output_schema: {type: object, properties: {}}}
transitions:
  - {from: done, status: COMPLETED}
"#;

/// A company running INBOX_FLOW with its people.
struct Desk {
    c: Company,
    editor_email: String,
    editor2: UserId,
    editor2_email: String,
    pat: UserId,
    pat_email: String,
    editor_roles: Vec<String>,
    no_roles: Vec<String>,
}

impl Desk {
    fn editor(&self) -> Worker<'_> {
        Worker { user: self.c.editor, email: &self.editor_email, roles: &self.editor_roles }
    }
    fn editor2(&self) -> Worker<'_> {
        Worker { user: self.editor2, email: &self.editor2_email, roles: &self.editor_roles }
    }
    fn pat(&self) -> Worker<'_> {
        Worker { user: self.pat, email: &self.pat_email, roles: &self.no_roles }
    }
    fn author(&self) -> Worker<'_> {
        Worker { user: self.c.author, email: &self.c.author_email, roles: &self.no_roles }
    }
}

async fn desk(store: &Store) -> Desk {
    let c = company_with_document_edit(store).await;
    let editor_email = store.user(c.id, c.editor).await.unwrap().email;
    let (editor2, editor2_email) = add_plain_user(store, c.id, "Second Editor", &["editor"]).await;
    let (pat, pat_email) = add_plain_user(store, c.id, "Pat Pair", &[]).await;
    // Emails in a definition may be written in any case.
    let flow = INBOX_FLOW.replace("PAIR_A", &pat_email.to_uppercase()).replace("PAIR_B", "nobody@example.com");
    import_and_activate(store, c.id, &flow).await;
    Desk {
        c,
        editor_email,
        editor2,
        editor2_email,
        pat,
        pat_email,
        editor_roles: vec!["editor".into()],
        no_roles: vec![],
    }
}

/// Starts an INBOX_FLOW ticket; returns it with its runs by task key.
async fn request(
    store: &Store,
    desk: &Desk,
    title: &str,
) -> (ticketflower_store::TicketCreated, HashMap<String, RunId>) {
    let created = store
        .create_ticket(
            desk.c.id,
            NewTicket {
                definition: "inbox-flow".into(),
                ticket_type: "request".into(),
                fields: json!({"title": title}),
                creator: Some(desk.c.author),
            },
        )
        .await
        .unwrap();
    let runs = created.activated.iter().cloned().zip(created.new_runs.iter().copied()).collect();
    (created, runs)
}

use std::collections::HashMap;
use ticketflower_store::RunId;

async fn inbox_order_and_eligibility(url: String) {
    let store = connect(&url).await;
    let d = desk(&store).await;
    let (t1, r1) = request(&store, &d, "First").await;
    let (_t2, r2) = request(&store, &d, "Second").await;
    let (t3, r3) = request(&store, &d, "Third").await;
    // The third ticket's review times out: it is overdue.
    let seq = store.run_detail(d.c.id, r3["review"]).await.unwrap().run.seq;
    store
        .execute(Command::Apply {
            company: d.c.id,
            instance: t3.instance,
            event: Event::Timeout { seq: u32::try_from(seq).unwrap() },
            actor: None,
        })
        .await
        .unwrap();

    let inbox = store.inbox(d.c.id, &d.editor(), 50).await.unwrap();
    assert!(inbox.mine.is_empty());
    let runs: Vec<RunId> = inbox.unclaimed.iter().map(|i| i.run).collect();
    assert_eq!(runs, vec![r3["review"], r1["review"], r2["review"]], "overdue first, then by due time");
    let overdue: Vec<bool> = inbox.unclaimed.iter().map(|i| i.overdue).collect();
    assert_eq!(overdue, vec![true, false, false]);
    let item = &inbox.unclaimed[1];
    assert_eq!((item.ticket, item.ticket_title.as_str(), item.task_key.as_str()), (Some(t1.ticket), "First", "review"));
    assert_eq!((item.instance, item.status.as_str()), (t1.instance, "OPEN"));
    assert_eq!(item.eligible_role.as_deref(), Some("editor"));
    assert!(item.due_at.unwrap() > item.created_at);
    assert_eq!((item.assignee, item.assignee_name.as_deref()), (None, None));
    let version = store.ticket(d.c.id, t1.ticket).await.unwrap().version_id;
    assert_eq!(item.version_id, version);
    assert_eq!(store.inbox(d.c.id, &d.editor(), 2).await.unwrap().unclaimed.len(), 2, "the limit");

    // Named users (in any case) see the pool task listing them; no due time: oldest first.
    let pat = store.inbox(d.c.id, &d.pat(), 50).await.unwrap();
    assert!(pat.mine.is_empty());
    assert_eq!(pat.unclaimed.iter().map(|i| i.run).collect::<Vec<_>>(), vec![r1["pair"], r2["pair"], r3["pair"]]);
    assert!(pat.unclaimed.iter().all(|i| i.due_at.is_none() && !i.overdue));

    // The initiator's task is assigned to the ticket's creator at once.
    let author = store.inbox(d.c.id, &d.author(), 50).await.unwrap();
    assert_eq!(author.mine.iter().map(|i| i.run).collect::<Vec<_>>(), vec![r1["own"], r2["own"], r3["own"]]);
    assert_eq!(author.mine[0].assignee_name.as_deref(), Some("Ann Author"));
    assert!(author.unclaimed.is_empty());

    // Closed runs leave the inbox.
    complete(&store, d.c.id, r2["own"], json!({}), d.c.author).await.unwrap();
    let author = store.inbox(d.c.id, &d.author(), 50).await.unwrap();
    assert_eq!(author.mine.iter().map(|i| i.run).collect::<Vec<_>>(), vec![r1["own"], r3["own"]]);

    // A run activated by a store that read its instance from the database
    // (not from its memory) carries its ticket's title and version too.
    let doc =
        store.create_ticket(d.c.id, NewTicket { creator: Some(d.c.author), ..edit_request("Reloaded") }).await.unwrap();
    let other = connect(&url).await;
    let asked = complete(&other, d.c.id, doc.new_runs[0], json!({"questions": "Why?"}), d.c.editor).await.unwrap();
    assert_eq!(asked.activated, vec!["answer"]);
    let author = store.inbox(d.c.id, &d.author(), 50).await.unwrap();
    let answer = author.mine.iter().find(|i| i.run == asked.new_runs[0]).expect("the answer is the author's");
    let version = store.ticket(d.c.id, doc.ticket).await.unwrap().version_id;
    assert_eq!(
        (answer.ticket, answer.ticket_title.as_str(), answer.version_id),
        (Some(doc.ticket), "Reloaded", version)
    );

    // Another company's worker with the same role sees nothing of this one.
    let other = company_with_document_edit(&store).await;
    let roles = vec!["editor".to_owned()];
    let email = format!("{}@example.com", unique("x"));
    let stranger = Worker { user: other.editor, email: &email, roles: &roles };
    let theirs = store.inbox(other.id, &stranger, 50).await.unwrap();
    assert!(theirs.mine.is_empty() && theirs.unclaimed.is_empty());
    let same_user_wrong_company = store.inbox(other.id, &d.editor(), 50).await.unwrap();
    assert!(same_user_wrong_company.unclaimed.is_empty());

    let plan = store.explain_inbox(d.c.id, &d.editor(), 50).await.unwrap();
    assert!(!plan.is_empty());
    if !is_postgres(&url) {
        assert!(plan.iter().any(|l| l.contains("task_runs_assignee")), "{plan:#?}");
        assert!(plan.iter().any(|l| l.contains("task_runs_pool")), "{plan:#?}");
        // Neither half reads every run of the company.
        let full_scan = |l: &String| l.trim() == "SCAN p";
        assert!(!plan.iter().any(full_scan), "{plan:#?}");
    }
}

async fn claim_and_release(url: String) {
    let store = connect(&url).await;
    let d = desk(&store).await;
    let (t1, r1) = request(&store, &d, "First").await;
    let (_t2, r2) = request(&store, &d, "Second").await;

    let detail = store.run_detail(d.c.id, r1["review"]).await.unwrap();
    assert_eq!((detail.instance, detail.ticket, detail.ticket_title.as_str()), (t1.instance, Some(t1.ticket), "First"));
    assert_eq!(detail.initiator.as_deref(), Some(d.c.author_email.as_str()));
    assert_eq!(detail.run.task, "review");
    assert!(detail.run.created_at > 0);
    assert_eq!(
        detail.run.assignment.as_ref().map(|a| &a.eligible),
        Some(&Eligible::Role("editor".into())),
        "{detail:?}"
    );
    assert!(detail.may_work(&d.editor()) && detail.may_work(&d.editor2()));
    assert!(!detail.may_work(&d.pat()) && !detail.may_work(&d.author()));
    let pair = store.run_detail(d.c.id, r1["pair"]).await.unwrap();
    assert!(
        matches!(pair.run.assignment, Some(Assignment { eligible: Eligible::Users(ref users), .. }) if users.len() == 2)
    );
    assert!(pair.may_work(&d.pat()) && !pair.may_work(&d.editor()));
    let own = store.run_detail(d.c.id, r1["own"]).await.unwrap();
    assert_eq!(own.run.assignee, Some(d.c.author));
    assert!(own.may_work(&d.author()) && !own.may_work(&d.pat()));

    // Claim: it moves from the pool to mine, and nobody else may have it.
    store.claim_run(d.c.id, r1["review"], &d.editor()).await.unwrap();
    store.claim_run(d.c.id, r1["review"], &d.editor()).await.unwrap();
    let inbox = store.inbox(d.c.id, &d.editor(), 50).await.unwrap();
    assert_eq!(inbox.mine.iter().map(|i| i.run).collect::<Vec<_>>(), vec![r1["review"]]);
    assert_eq!(inbox.mine[0].assignee_name.as_deref(), Some("Eddie Editor"));
    assert_eq!(inbox.unclaimed.iter().map(|i| i.run).collect::<Vec<_>>(), vec![r2["review"]]);
    let taken = store.claim_run(d.c.id, r1["review"], &d.editor2()).await.unwrap_err();
    assert!(matches!(taken, StoreError::Conflict(ref m) if m.contains("Eddie Editor")), "{taken:?}");
    let claimed = store.run_detail(d.c.id, r1["review"]).await.unwrap();
    assert!(claimed.may_work(&d.editor()) && !claimed.may_work(&d.editor2()));
    let filter = TicketFilter { assignee: Some(d.c.editor), ..TicketFilter::new(TicketScope::All) };
    assert_eq!(ids(&store, d.c.id, filter).await, vec![t1.ticket], "the list's assignee filter sees claims");

    // Not eligible: refused, and nothing changes.
    let refused = store.claim_run(d.c.id, r2["review"], &d.pat()).await.unwrap_err();
    assert!(matches!(refused, StoreError::Forbidden(_)), "{refused:?}");
    let refused = store.claim_run(d.c.id, r1["pair"], &d.editor()).await.unwrap_err();
    assert!(matches!(refused, StoreError::Forbidden(_)), "{refused:?}");
    assert_eq!(store.run_detail(d.c.id, r2["review"]).await.unwrap().run.assignee, None);
    store.claim_run(d.c.id, r1["pair"], &d.pat()).await.unwrap();
    assert_eq!(store.run_detail(d.c.id, r1["pair"]).await.unwrap().run.assignee, Some(d.pat));

    // Release: only the holder, back to the pool.
    let not_yours = store.release_run(d.c.id, r1["review"], &d.editor2()).await.unwrap_err();
    assert!(matches!(not_yours, StoreError::Conflict(_)), "{not_yours:?}");
    store.release_run(d.c.id, r1["review"], &d.editor()).await.unwrap();
    let inbox = store.inbox(d.c.id, &d.editor2(), 50).await.unwrap();
    assert_eq!(inbox.unclaimed.iter().map(|i| i.run).collect::<Vec<_>>(), vec![r1["review"], r2["review"]]);
    store.claim_run(d.c.id, r1["review"], &d.editor2()).await.unwrap();

    // Closed runs cannot be claimed or released.
    complete(&store, d.c.id, r1["review"], json!({}), d.editor2).await.unwrap();
    let closed = store.claim_run(d.c.id, r1["review"], &d.editor()).await.unwrap_err();
    assert!(matches!(closed, StoreError::Conflict(_)), "{closed:?}");
    let closed = store.release_run(d.c.id, r1["review"], &d.editor2()).await.unwrap_err();
    assert!(matches!(closed, StoreError::Conflict(_)), "{closed:?}");

    // Another company: not found, whoever asks.
    let other = company_with_document_edit(&store).await;
    for result in [
        store.run_detail(other.id, r2["review"]).await.map(|_| ()),
        store.claim_run(other.id, r2["review"], &d.editor()).await,
        store.release_run(other.id, r1["pair"], &d.pat()).await,
    ] {
        assert!(matches!(result, Err(StoreError::NotFound(_))), "{result:?}");
    }
    assert_eq!(store.run_detail(d.c.id, r1["pair"]).await.unwrap().run.assignee, Some(d.pat));

    let audit = store.audit_events(d.c.id, t1.instance).await.unwrap();
    let desk_events: Vec<(&str, Option<UserId>)> = audit
        .iter()
        .filter(|(kind, _, _)| matches!(kind.as_str(), "task_claimed" | "task_released"))
        .map(|(kind, _, actor)| (kind.as_str(), *actor))
        .collect();
    assert_eq!(
        desk_events,
        vec![
            ("task_claimed", Some(d.c.editor)),
            ("task_claimed", Some(d.pat)),
            ("task_released", Some(d.c.editor)),
            ("task_claimed", Some(d.editor2)),
        ]
    );
    let claimed = audit.iter().find(|(kind, _, _)| kind == "task_claimed").unwrap();
    assert_eq!(claimed.1["task"], "review");
}

async fn claim_race(url: String) {
    // Two stores are two nodes with their own connection pools.
    let first = connect(&url).await;
    let second = connect(&url).await;
    let d = desk(&first).await;
    for round in 0..5 {
        let (_, runs) = request(&first, &d, &format!("Race {round}")).await;
        let run = runs["review"];
        let (editor, editor2) = (d.editor(), d.editor2());
        let (one, two) = tokio::join!(first.claim_run(d.c.id, run, &editor), second.claim_run(d.c.id, run, &editor2));
        let winners = [&one, &two].iter().filter(|r| r.is_ok()).count();
        assert_eq!(winners, 1, "round {round}: {one:?} {two:?}");
        let loser = if one.is_ok() { two } else { one };
        assert!(matches!(loser, Err(StoreError::Conflict(_))), "round {round}: {loser:?}");
        let holder = first.run_detail(d.c.id, run).await.unwrap().run.assignee.unwrap();
        assert!(holder == d.c.editor || holder == d.editor2);
        let winner = if holder == d.c.editor { d.editor() } else { d.editor2() };
        let inbox = first.inbox(d.c.id, &winner, 50).await.unwrap();
        assert!(inbox.mine.iter().any(|i| i.run == run));
    }
}

async fn error_queue(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let other = company_with_document_edit(&store).await;
    import_and_activate(&store, c.id, STALLS).await;
    import_and_activate(&store, other.id, STALLS).await;
    let stall = |company: CompanyId, editor: UserId| {
        let store = store.clone();
        async move {
            let created = store
                .create_ticket(
                    company,
                    NewTicket {
                        definition: "stalls".into(),
                        ticket_type: "t".into(),
                        fields: json!({}),
                        creator: None,
                    },
                )
                .await
                .unwrap();
            complete(&store, company, created.new_runs[0], json!({"ok": false}), editor).await.unwrap();
            created
        }
    };
    let first = stall(c.id, c.editor).await;
    let second = stall(c.id, c.editor).await;
    let foreign = stall(other.id, other.editor).await;
    let filter = |status: Option<&str>, kind: Option<&str>, ticket: Option<TicketId>| ErrorFilter {
        status: status.map(str::to_owned),
        kind: kind.map(str::to_owned),
        ticket,
        limit: 50,
    };

    let all = store.ticket_errors(c.id, &filter(None, None, None)).await.unwrap();
    assert_eq!(all.iter().map(|e| e.ticket).collect::<Vec<_>>(), vec![Some(second.ticket), Some(first.ticket)]);
    let error = &all[1];
    assert_eq!((error.kind.as_str(), error.status.as_str()), ("WORKFLOW_TRANSITION", "NEW"));
    assert_eq!((error.instance, error.ticket_title.as_deref()), (first.instance, Some("T")));
    assert!(error.message.contains("stalled"), "{}", error.message);
    assert_eq!(error.resolution, None);
    assert_eq!(store.ticket_error(c.id, error.id).await.unwrap(), *error);
    let of_first = store.ticket_errors(c.id, &filter(None, None, Some(first.ticket))).await.unwrap();
    assert_eq!(of_first.len(), 1);
    assert_eq!(
        store.ticket_errors(c.id, &filter(Some("NEW"), Some("WORKFLOW_TRANSITION"), None)).await.unwrap().len(),
        2
    );
    assert!(store.ticket_errors(c.id, &filter(None, Some("TASK_UPDATE"), None)).await.unwrap().is_empty());
    assert_eq!(
        store.ticket_errors(c.id, &ErrorFilter { limit: 1, ..filter(None, None, None) }).await.unwrap().len(),
        1
    );

    // Review, then resolve: the notes accumulate with who wrote them.
    store.review_error(c.id, error.id, ErrorStatus::Reviewed, "Looking into it", c.editor).await.unwrap();
    let reviewed = store.ticket_error(c.id, error.id).await.unwrap();
    assert_eq!(reviewed.status, "REVIEWED");
    let resolution = reviewed.resolution.unwrap();
    assert!(resolution.ends_with("Eddie Editor (REVIEWED): Looking into it"), "{resolution}");
    store.review_error(c.id, error.id, ErrorStatus::Resolved, "Completed by hand", c.author).await.unwrap();
    store.review_error(c.id, error.id, ErrorStatus::Resolved, "", c.author).await.unwrap();
    let resolved = store.ticket_error(c.id, error.id).await.unwrap();
    assert_eq!(resolved.status, "RESOLVED");
    let lines: Vec<String> = resolved.resolution.unwrap().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].ends_with("Ann Author (RESOLVED): Completed by hand"), "{lines:?}");
    assert!(resolved.updated_at >= resolved.created_at);
    let back = store.review_error(c.id, error.id, ErrorStatus::Reviewed, "again", c.editor).await.unwrap_err();
    assert!(matches!(back, StoreError::Conflict(_)), "{back:?}");
    let new = store.review_error(c.id, all[0].id, ErrorStatus::New, "", c.editor).await.unwrap_err();
    assert!(matches!(new, StoreError::Invalid(ref p) if p[0].pointer == "/status"), "{new:?}");
    assert_eq!(store.ticket_errors(c.id, &filter(Some("RESOLVED"), None, None)).await.unwrap().len(), 1);
    assert_eq!(store.ticket_errors(c.id, &filter(Some("NEW"), None, None)).await.unwrap().len(), 1);
    assert_eq!(ErrorStatus::parse("REVIEWED"), Some(ErrorStatus::Reviewed));

    // Another company's errors: not listed, not found, not reviewable.
    let theirs = store.ticket_errors(other.id, &filter(None, None, None)).await.unwrap();
    assert_eq!(theirs.iter().map(|e| e.ticket).collect::<Vec<_>>(), vec![Some(foreign.ticket)]);
    assert!(matches!(store.ticket_error(other.id, error.id).await.unwrap_err(), StoreError::NotFound(_)));
    let foreign_review =
        store.review_error(other.id, all[0].id, ErrorStatus::Reviewed, "x", other.editor).await.unwrap_err();
    assert!(matches!(foreign_review, StoreError::NotFound(_)), "{foreign_review:?}");
    let foreign_actor =
        store.review_error(c.id, all[0].id, ErrorStatus::Reviewed, "x", other.editor).await.unwrap_err();
    assert!(matches!(foreign_actor, StoreError::NotFound(_)), "{foreign_actor:?}");
    assert_eq!(store.ticket_error(c.id, all[0].id).await.unwrap().status, "NEW");

    let audit = store.audit_events(c.id, first.instance).await.unwrap();
    let kinds: Vec<&str> = audit.iter().map(|(kind, _, _)| kind.as_str()).filter(|k| k.starts_with("error_")).collect();
    assert_eq!(kinds, vec!["error_reviewed", "error_resolved", "error_resolved"]);
}

async fn roles_and_access(url: String) {
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let other = company_with_document_edit(&store).await;
    let roles = store.list_roles(c.id).await.unwrap();
    let summary: Vec<(&str, i64)> = roles.iter().map(|r| (r.key.as_str(), r.members)).collect();
    assert_eq!(summary, vec![("author", 1), ("editor", 1)]);
    let editor_role = roles[1].id;

    let warehouse = store.create_role(c.id, "warehouse", "Warehouse").await.unwrap();
    let hr = store.create_role(c.id, "hr", " ").await.unwrap();
    let invalid = store.create_role(c.id, "Bad Key!", "Bad").await.unwrap_err();
    assert!(matches!(invalid, StoreError::Invalid(ref p) if p[0].pointer == "/key"), "{invalid:?}");
    let duplicate = store.create_role(c.id, "warehouse", "Again").await.unwrap_err();
    assert!(matches!(duplicate, StoreError::Conflict(_)), "{duplicate:?}");
    store.create_role(other.id, "warehouse", "Theirs").await.unwrap();
    store.rename_role(c.id, warehouse, "Stock room").await.unwrap();
    let blank = store.rename_role(c.id, warehouse, "  ").await.unwrap_err();
    assert!(matches!(blank, StoreError::Invalid(ref p) if p[0].pointer == "/title"), "{blank:?}");
    let foreign = store.rename_role(other.id, warehouse, "Stolen").await.unwrap_err();
    assert!(matches!(foreign, StoreError::NotFound(_)), "{foreign:?}");
    let roles = store.list_roles(c.id).await.unwrap();
    let titles: Vec<(&str, &str, i64)> = roles.iter().map(|r| (r.key.as_str(), r.title.as_str(), r.members)).collect();
    assert_eq!(
        titles,
        vec![("author", "author", 1), ("editor", "editor", 1), ("hr", "hr", 0), ("warehouse", "Stock room", 0)]
    );

    let editor = store.user(c.id, c.editor).await.unwrap();
    assert_eq!((editor.display_name.as_str(), editor.roles.as_slice()), ("Eddie Editor", &["editor".to_owned()][..]));
    assert_eq!(editor.permissions, vec!["ticket_admin"]);
    assert!(matches!(store.user(other.id, c.editor).await.unwrap_err(), StoreError::NotFound(_)));

    // Replace both lists at once.
    store
        .set_user_access(
            c.id,
            c.author,
            &[Permission::WorkflowCreator, Permission::TicketAdmin],
            &[warehouse, editor_role, hr],
        )
        .await
        .unwrap();
    let author = store.user(c.id, c.author).await.unwrap();
    assert_eq!(author.permissions, vec!["ticket_admin", "workflow_creator"]);
    assert_eq!(author.roles, vec!["editor", "hr", "warehouse"]);
    let members: Vec<i64> = store.list_roles(c.id).await.unwrap().iter().map(|r| r.members).collect();
    assert_eq!(members, vec![0, 2, 1, 1]);
    store.set_user_access(c.id, c.author, &[], &[hr]).await.unwrap();
    let author = store.user(c.id, c.author).await.unwrap();
    assert!(author.permissions.is_empty());
    assert_eq!(author.roles, vec!["hr"]);

    // Another company's role or user: not found, nothing changed.
    let their_role = store.list_roles(other.id).await.unwrap()[0].id;
    let foreign_role = store.set_user_access(c.id, c.author, &[], &[warehouse, their_role]).await.unwrap_err();
    assert!(matches!(foreign_role, StoreError::NotFound(_)), "{foreign_role:?}");
    let missing_role = store.set_user_access(c.id, c.author, &[], &[RoleId(i64::MAX)]).await.unwrap_err();
    assert!(matches!(missing_role, StoreError::NotFound(_)), "{missing_role:?}");
    assert_eq!(store.user(c.id, c.author).await.unwrap().roles, vec!["hr"]);
    let foreign_user = store.set_user_access(other.id, c.author, &[], &[]).await.unwrap_err();
    assert!(matches!(foreign_user, StoreError::NotFound(_)), "{foreign_user:?}");

    // The last company admin keeps the permission.
    store.set_user_access(c.id, c.editor, &[Permission::CompanyAdmin], &[editor_role]).await.unwrap();
    let last = store.set_user_access(c.id, c.editor, &[], &[editor_role]).await.unwrap_err();
    assert!(matches!(last, StoreError::Conflict(_)), "{last:?}");
    assert_eq!(store.user(c.id, c.editor).await.unwrap().permissions, vec!["company_admin"]);
    store.set_user_access(c.id, c.author, &[Permission::CompanyAdmin], &[]).await.unwrap();
    store.set_user_access(c.id, c.editor, &[Permission::TicketAdmin], &[editor_role]).await.unwrap();

    let names = store.user_names(c.id, &[c.editor, c.author, other.editor, UserId(i64::MAX)]).await.unwrap();
    assert_eq!(names.len(), 2);
    assert_eq!(names[&c.editor], "Eddie Editor");
    assert_eq!(names[&c.author], "Ann Author");
    assert!(store.user_names(c.id, &[]).await.unwrap().is_empty());
}

const CUSTOMER_SUPPORT: &str = include_str!("../../../examples/customer-support.yaml");

/// `round_robin` hands triage to each support user in turn; `least_loaded`
/// gives "respond" to the support user with the fewest open tasks.
async fn assignment_policies(url: String) {
    let store = connect(&url).await;
    let company = store.create_company(&unique("support company")).await.unwrap();
    let mut agents = Vec::new();
    for name in ["one", "two", "three"] {
        let user = store
            .add_user(
                company,
                NewUser {
                    email: format!("{}@example.com", unique(name)),
                    display_name: name.into(),
                    password_hash: "x".into(),
                    permissions: vec![],
                    roles: vec!["support".into()],
                },
            )
            .await
            .unwrap();
        agents.push(user);
    }
    import_and_activate(&store, company, CUSTOMER_SUPPORT).await;
    let ticket = || NewTicket {
        definition: "customer-support".into(),
        ticket_type: "support-request".into(),
        fields: json!({"subject": "Cannot log in", "description": "Password refused."}),
        creator: None,
    };
    let mut triage_assignees = Vec::new();
    let mut triage_runs = Vec::new();
    for _ in 0..6 {
        let created = store.create_ticket(company, ticket()).await.unwrap();
        let run = store.run_detail(company, created.new_runs[0]).await.unwrap();
        triage_assignees.push(run.run.assignee.expect("round_robin assigns at once"));
        triage_runs.push(created.new_runs[0]);
    }
    // Each agent gets every third ticket, in a fixed rotation.
    for (index, assignee) in triage_assignees.iter().enumerate() {
        assert_eq!(*assignee, triage_assignees[index % 3], "{triage_assignees:?}");
    }
    let mut distinct = triage_assignees[..3].to_vec();
    distinct.sort();
    let mut all = agents.clone();
    all.sort();
    assert_eq!(distinct, all, "all three agents take turns");

    // Agent one finishes triage of their first ticket: "respond" goes to the
    // least loaded agent — agent one, with 1 open triage left against 2 each.
    let first_of = |agent: UserId| triage_runs[triage_assignees.iter().position(|a| *a == agent).unwrap()];
    let one = triage_assignees[0];
    let output = json!({"category": "technical", "needs_specialist": false});
    let done = complete(&store, company, first_of(one), output, one).await.unwrap();
    assert_eq!(done.activated, vec!["respond"]);
    let respond = store.run_detail(company, done.new_runs[0]).await.unwrap();
    let loads = |agent: UserId| triage_assignees.iter().filter(|a| **a == agent).count() - usize::from(agent == one);
    let least = agents.iter().copied().min_by_key(|agent| (loads(*agent), agent.0)).unwrap();
    assert_eq!(
        respond.run.assignee,
        Some(least),
        "least loaded: {:?}",
        agents.iter().map(|a| (a, loads(*a))).collect::<Vec<_>>()
    );

    // Tickets created at once land in a few group commits, several in each
    // (on PostgreSQL decided side by side by several committers); the
    // rotation still deals them out evenly.
    let clients: Vec<_> = (0..12)
        .map(|_| {
            let (store, ticket) = (store.clone(), ticket());
            tokio::spawn(async move { store.create_ticket(company, ticket).await })
        })
        .collect();
    let mut dealt: std::collections::BTreeMap<UserId, usize> = agents.iter().map(|agent| (*agent, 0)).collect();
    for client in clients {
        let run = store.run_detail(company, client.await.unwrap().unwrap().new_runs[0]).await.unwrap();
        *dealt.entry(run.run.assignee.expect("round_robin assigns at once")).or_default() += 1;
    }
    assert_eq!(dealt.values().copied().collect::<Vec<_>>(), [4, 4, 4], "{dealt:?}");

    // Someone who joins the role has had no turn yet: the next ticket is theirs.
    let newcomer = NewUser {
        email: format!("{}@example.com", unique("four")),
        display_name: "four".into(),
        password_hash: "x".into(),
        permissions: vec![],
        roles: vec!["support".into()],
    };
    let newcomer = store.add_user(company, newcomer).await.unwrap();
    let created = store.create_ticket(company, ticket()).await.unwrap();
    let run = store.run_detail(company, created.new_runs[0]).await.unwrap();
    assert_eq!(run.run.assignee, Some(newcomer));
}

const AUDIT_FLOW: &str = r#"
format: ticketflower/v1
key: audit-flow
title: Audit flow
roles: [auditor]
fields: {type: object, properties: {}}
tickets:
  - key: audit
    title: Audit
    fields: {type: object, properties: {title: {type: string}}}
tasks:
  - {key: check, title: Check, type: form, depends_on: [], assign: {role: auditor}, output_schema: {type: object, properties: {}}}
  - {key: recheck, title: Recheck, type: form, depends_on: [], assign: {role: auditor}, output_schema: {type: object, properties: {}}}
  - {key: done, title: Done, type: form, depends_on: [check, recheck], output_schema: {type: object, properties: {}}}
transitions:
  - {from: done, status: COMPLETED}
"#;

/// An audit ticket: two open runs eligible to `auditor`.
async fn audit(store: &Store, company: CompanyId, title: &str) -> TicketId {
    let ticket = NewTicket {
        definition: "audit-flow".into(),
        ticket_type: "audit".into(),
        fields: json!({"title": title}),
        creator: None,
    };
    let created = store.create_ticket(company, ticket).await.unwrap();
    assert_eq!(created.new_runs.len(), 2);
    created.ticket
}

/// One ticket of `restricted_ticket_list` and whether the user may see it.
struct Seen {
    id: TicketId,
    visible: bool,
    kind: &'static str,
    ticket_type: &'static str,
    round: usize,
}

/// A restricted user sees, page by page, exactly the tickets of the types
/// allowed, those they created, and those with a run assigned to them,
/// completed by them or eligible to one of their roles: each once, newest
/// first, whatever the page size, with the filters applied to all of them.
async fn restricted_ticket_list(url: String) {
    let store = connect(&url).await;
    let d = desk(&store).await;
    let c = d.c.id;
    import_and_activate(&store, c, AUDIT_FLOW).await;
    let other = company_with_document_edit(&store).await;
    import_and_activate(&store, other.id, AUDIT_FLOW).await;
    let user = d.editor2;
    let mut seen = Vec::new();
    let mut add = |id: TicketId, visible: bool, kind: &'static str, ticket_type: &'static str, round: usize| {
        seen.push(Seen { id, visible, kind, ticket_type, round });
    };
    let parity = |round: usize| if round.is_multiple_of(2) { "even" } else { "odd" };
    for round in 0..5 {
        let words = |kind: &str| format!("{kind} {} round{round}", parity(round));
        let edit = |kind: &str, creator: Option<UserId>| NewTicket { creator, ..edit_request(&words(kind)) };
        // Nobody's business of the user's.
        let untouched = store.create_ticket(c, edit("untouched", Some(d.c.author))).await.unwrap();
        add(untouched.ticket, false, "untouched", "edit-request", round);
        // Created by the user.
        let own = store.create_ticket(c, edit("own", Some(user))).await.unwrap();
        add(own.ticket, true, "own", "edit-request", round);
        // Of a type the user's roles allow (with runs eligible to a role the scope leaves out).
        let (typed, _) = request(&store, &d, &words("typed")).await;
        add(typed.ticket, true, "typed", "request", round);
        // Claimed by the user; every other one given back again.
        let claimed = store.create_ticket(c, edit("claimed", Some(d.c.author))).await.unwrap();
        store.claim_run(c, claimed.new_runs[0], &d.editor2()).await.unwrap();
        let released = !round.is_multiple_of(2);
        if released {
            store.release_run(c, claimed.new_runs[0], &d.editor2()).await.unwrap();
        }
        add(claimed.ticket, !released, "claimed", "edit-request", round);
        // Completed by the user: done, or questions back to the author.
        let worked = store.create_ticket(c, edit("worked", Some(d.c.author))).await.unwrap();
        let output =
            if round.is_multiple_of(2) { json!({"updated_doc": "Done"}) } else { json!({"questions": "Why?"}) };
        complete(&store, c, worked.new_runs[0], output, user).await.unwrap();
        add(worked.ticket, true, "worked", "edit-request", round);
        // Eligible to the user's role, twice over.
        add(audit(&store, c, &words("audited")).await, true, "audited", "audit", round);
        // Completed by someone else.
        let theirs = store.create_ticket(c, edit("theirs", Some(d.c.author))).await.unwrap();
        complete(&store, c, theirs.new_runs[0], json!({"updated_doc": "Done"}), d.c.editor).await.unwrap();
        add(theirs.ticket, false, "theirs", "edit-request", round);
        // Another company's tickets, whatever their type and runs.
        add(audit(&store, other.id, &words("audited")).await, false, "foreign", "audit", round);
        let foreign = store.create_ticket(other.id, edit_request(&words("foreign"))).await.unwrap();
        add(foreign.ticket, false, "foreign", "edit-request", round);
    }
    seen.sort_by_key(|s| std::cmp::Reverse(s.id));
    let scope = TicketScope::Restricted {
        user,
        ticket_types: vec!["request".into(), "request".into(), "no-such-type".into()],
        roles: vec!["auditor".into(), "no-such-role".into()],
    };
    let base = TicketFilter::new(scope.clone());
    let expected = |keep: &dyn Fn(&Seen) -> bool| -> Vec<TicketId> {
        seen.iter().filter(|s| s.visible && keep(s)).map(|s| s.id).collect()
    };
    let visible = expected(&|_| true);
    assert_eq!(visible.len(), 5 * 5 - 2);
    for limit in [1, 2, 3, 4, 7, 22, 23, 24, 50] {
        let filter = TicketFilter { limit, ..base.clone() };
        assert_eq!(all_pages(&store, c, &filter).await, visible, "pages of {limit}");
    }
    for s in &seen {
        assert_eq!(store.ticket_visible(c, s.id, &scope).await.unwrap(), s.visible, "ticket {:?}", s.id);
    }

    // The filters apply to every way of seeing a ticket.
    let completed =
        ids(&store, c, TicketFilter { status: Some("COMPLETED".into()), ..TicketFilter::new(TicketScope::All) }).await;
    let filtered = |filter: TicketFilter| {
        let store = store.clone();
        async move { all_pages(&store, c, &TicketFilter { limit: 2, ..filter }).await }
    };
    assert_eq!(
        filtered(TicketFilter { status: Some("COMPLETED".into()), ..base.clone() }).await,
        expected(&|s| completed.contains(&s.id)),
        "by status"
    );
    assert_eq!(expected(&|s| completed.contains(&s.id)).len(), 3, "the user's finished edits");
    assert_eq!(expected(&|s| s.kind == "claimed").len(), 3, "claimed and kept");
    for ticket_type in ["request", "audit", "edit-request", "no-such-type"] {
        assert_eq!(
            filtered(TicketFilter { ticket_type: Some(ticket_type.into()), ..base.clone() }).await,
            expected(&|s| s.ticket_type == ticket_type),
            "of type {ticket_type}"
        );
    }
    assert_eq!(
        filtered(TicketFilter { assignee: Some(user), ..base.clone() }).await,
        expected(&|s| s.kind == "claimed"),
        "assigned to the user"
    );
    assert_eq!(
        filtered(TicketFilter { search: Some("even".into()), ..base.clone() }).await,
        expected(&|s| s.round.is_multiple_of(2)),
        "by search"
    );
    let middle = visible[visible.len() / 2];
    assert_eq!(
        filtered(TicketFilter { before: Some(middle), ..base.clone() }).await,
        expected(&|s| s.id < middle),
        "from a ticket on"
    );
    let created: HashMap<TicketId, i64> = store
        .list_tickets(c, &TicketFilter { limit: TicketFilter::MAX_LIMIT, ..TicketFilter::new(TicketScope::All) })
        .await
        .unwrap()
        .tickets
        .iter()
        .map(|t| (t.id, t.created_at))
        .collect();
    let from = created[&middle];
    assert_eq!(
        filtered(TicketFilter { created_from: Some(from), ..base.clone() }).await,
        expected(&|s| created.get(&s.id).is_some_and(|at| *at >= from)),
        "created from a time on"
    );

    // In another company the same scope finds only that company's tickets.
    let theirs: Vec<TicketId> =
        seen.iter().filter(|s| s.kind == "foreign" && s.ticket_type == "audit").map(|s| s.id).collect();
    assert_eq!(ids(&store, other.id, TicketFilter { limit: 2, ..base.clone() }).await, theirs, "by role");
    let own_only = TicketScope::Restricted { user, ticket_types: vec![], roles: vec![] };
    assert!(ids(&store, other.id, TicketFilter::new(own_only)).await.is_empty(), "nothing of the user's");
}

async fn conversations_are_private(url: String) {
    use ticketflower_store::{ConversationId, NewMessage};
    let store = connect(&url).await;
    let c = company_with_document_edit(&store).await;
    let other = company_with_document_edit(&store).await;
    let id = store.create_conversation(c.id, c.editor, "Onboarding process").await.unwrap();
    let message = |role: &str, content: Value, tokens: i64| NewMessage {
        role: role.into(),
        content,
        input_tokens: tokens,
        output_tokens: tokens / 2,
    };
    store
        .append_messages(
            c.id,
            c.editor,
            id,
            &[
                message("user", json!({"text": "we hire people"}), 0),
                message("assistant", json!({"text": "Which roles?"}), 100),
            ],
        )
        .await
        .unwrap();
    let (summary, messages) = store.conversation(c.id, c.editor, id).await.unwrap();
    assert_eq!(summary.title, "Onboarding process");
    assert_eq!(messages.iter().map(|m| m.role.as_str()).collect::<Vec<_>>(), vec!["user", "assistant"]);
    assert_eq!(messages[1].content, json!({"text": "Which roles?"}));
    assert_eq!(store.assistant_usage(c.id).await.unwrap(), (100, 50));
    assert_eq!(store.conversations(c.id, c.editor).await.unwrap().len(), 1);
    assert!(store.conversations(c.id, c.author).await.unwrap().is_empty(), "another user's list is empty");
    // Another user, or another company, cannot read or write it.
    for (company, user) in [(c.id, c.author), (other.id, other.editor)] {
        assert!(matches!(store.conversation(company, user, id).await, Err(StoreError::NotFound(_))));
        let appended = store.append_messages(company, user, id, &[message("user", json!({}), 0)]).await;
        assert!(matches!(appended, Err(StoreError::NotFound(_))));
    }
    assert!(matches!(store.create_conversation(other.id, c.editor, "x").await, Err(StoreError::NotFound(_))));
    assert!(matches!(
        store.conversation(c.id, c.editor, ConversationId(id.0 + 10_000)).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.conversation(c.id, c.editor, id).await.unwrap().1.len(), 2, "nothing was added");
}
