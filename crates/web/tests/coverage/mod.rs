//! What the audit of issue #3 found untested, over real HTTP: the error
//! queue's pick / cancel / resume, rejecting an approval, the CSRF token on
//! every form, every route for a user without any permission, the ticket
//! list's filters and search, the workflow editor, JSON uploads, access
//! changes, and ids of another company in query strings and form bodies.

use crate::support::{self, App, Client, Company, Objects};
use reqwest::StatusCode;
use serde_json::{Value, json};
use ticketflower_core::engine::Event;
use ticketflower_store::{Command, CompanyId, InstanceId, NewTicket, NewUser, RunView, UserId};

on_both_backends! {
    the_error_queue_picks_a_step_cancels_and_resumes_a_workflow => error_queue_actions;
    a_rejected_approval_takes_the_rejected_path_and_keeps_the_comment => rejected_approval;
    every_form_without_its_csrf_token_is_refused => every_form_needs_its_csrf_token;
    a_user_without_permissions_or_roles_is_refused_every_staff_route => every_route_without_access;
    the_ticket_list_filters_by_type_status_assignee_and_date_and_searches => ticket_list_filters;
    the_one_page_editor_creates_a_new_workflow => workflow_created_in_the_editor;
    a_json_document_is_uploaded_as_a_workflow => json_upload;
    access_given_and_taken_on_the_user_page_takes_effect_at_once => access_changes_take_effect;
    another_companys_ids_in_queries_and_form_bodies_reveal_and_change_nothing => ids_in_queries_and_forms;
}

// ---- helpers ----

async fn company_of(app: &App, company: &Company) -> CompanyId {
    app.store.company_by_name(&company.name).await.unwrap().unwrap()
}

async fn user_id(app: &App, company: &Company, who: &str) -> UserId {
    let id = company_of(app, company).await;
    app.store.user_by_email(id, &company.login(who).email).await.unwrap().unwrap()
}

/// A workflow with the `request` ticket type (a required title) and these
/// tasks and transitions (YAML list items, indented by two spaces).
fn workflow(key: &str, title: &str, tasks: &str, transitions: &str) -> String {
    format!(
        "format: ticketflower/v1\nkey: {key}\ntitle: {title}\n\
         fields: {{type: object, properties: {{title: {{type: string}}, paid: {{type: boolean}}}}}}\n\
         tickets:\n  - key: request\n    title: Request\n    fields: {{type: object, required: [title], properties: {{title: {{type: string, title: Title}}}}}}\n\
         tasks:\n{tasks}transitions:\n{transitions}"
    )
}

/// Imports a YAML workflow into `company` and activates it.
async fn install(app: &App, company: CompanyId, yaml: &str) {
    let document = ticketflower_core::document::parse(yaml, ticketflower_core::document::Syntax::Yaml).unwrap();
    let imported = app.store.import_definition(company, &document, None).await.unwrap();
    app.store.activate_version(company, &imported.key, imported.version).await.unwrap();
}

/// Creates a `request` ticket of `definition`; returns (ticket id, instance).
async fn request(app: &App, company: CompanyId, definition: &str, title: &str) -> (i64, InstanceId) {
    let created = app
        .store
        .create_ticket(
            company,
            NewTicket {
                definition: definition.into(),
                ticket_type: "request".into(),
                fields: json!({ "title": title }),
                creator: None,
            },
        )
        .await
        .unwrap();
    (created.ticket.0, created.instance)
}

async fn runs(app: &App, company: CompanyId, instance: InstanceId) -> Vec<RunView> {
    app.store.instance(company, instance).await.unwrap().runs
}

async fn status(app: &App, company: CompanyId, instance: InstanceId) -> String {
    app.store.instance(company, instance).await.unwrap().status
}

/// The open run of `task`.
async fn open_run(app: &App, company: CompanyId, instance: InstanceId, task: &str) -> RunView {
    let view = app.store.instance(company, instance).await.unwrap();
    view.open_runs_of(task).next().cloned().unwrap_or_else(|| panic!("{task} is not open: {:?}", view.runs))
}

/// Completes the open run of `task` as the workflow would be told by a person.
async fn complete(app: &App, company: CompanyId, instance: InstanceId, task: &str, output: Value) {
    let run = open_run(app, company, instance, task).await;
    app.store.execute(Command::Complete { company, run: run.id, output, actor: None }).await.unwrap();
}

/// The instance's only error: (id, kind, message, status).
async fn only_error(app: &App, company: CompanyId, instance: InstanceId) -> (i64, String, String, String) {
    let errors = app.store.instance_errors(company, instance).await.unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let error = &errors[0];
    (error.id.0, error.kind.clone(), error.message.clone(), error.status.clone())
}

/// The ticket ids a ticket list links to.
fn listed(html: &str) -> Vec<i64> {
    let mut ids: Vec<i64> = html
        .split("href=\"/tickets/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next().and_then(|id| id.parse().ok()))
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

/// The ids in the order [`listed`] gives them.
fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort();
    ids
}

/// A user of company A with no permission and no role, and a client logged
/// in as them that asks for JSON (so each refusal says why).
async fn user_without_access(app: &App) -> (Client, UserId) {
    let company = company_of(app, &app.a).await;
    let email = format!("nobody@{}.test", app.a.name.to_lowercase().replace(' ', "-"));
    let password = "a long passphrase for nobody";
    let hash =
        tokio::task::spawn_blocking(move || ticketflower_store::passwords::hash(password)).await.unwrap().unwrap();
    let id = app
        .store
        .add_user(
            company,
            NewUser {
                email: email.clone(),
                display_name: "No Body".into(),
                password_hash: hash,
                permissions: Vec::new(),
                roles: Vec::new(),
            },
        )
        .await
        .unwrap();
    let client = Client::accepting(&app.base, "application/json");
    client.login(&email, password).await;
    (client, id)
}

// ---- 1. the error queue's actions ----

/// A check whose completion both opens `fix` and completes the workflow: a conflict.
fn conflicting_workflow() -> String {
    workflow(
        "order-check",
        "Order check",
        "  - {key: check, title: Check the order, type: form}\n  - {key: fix, title: Fix the order, type: form}\n",
        "  - {from: start, to: check}\n  - {from: check, to: fix}\n  - {from: check, status: COMPLETED}\n  - {from: fix, status: COMPLETED}\n",
    )
}

/// An unpaid check leads nowhere: a stall.
fn stalling_workflow() -> String {
    workflow(
        "payment-check",
        "Payment check",
        "  - {key: check, title: Check the payment, type: form, output_schema: {type: object, properties: {paid: {type: boolean}}}}\n  - {key: ship, title: Ship it, type: form}\n",
        "  - {from: start, to: check}\n  - {from: check, to: ship, when: {\"output.paid\": true}}\n  - {from: ship, status: COMPLETED}\n",
    )
}

/// Three steps at once; an unpaid payment holds the workflow.
fn holding_workflow() -> String {
    workflow(
        "parcel",
        "Parcel",
        "  - {key: pay, title: Take the payment, type: form, output_schema: {type: object, properties: {paid: {type: boolean}}}}\n  - {key: label, title: Print the label, type: form}\n  - {key: pack, title: Pack the parcel, type: form}\n",
        "  - {from: start, to: pay}\n  - {from: start, to: label}\n  - {from: start, to: pack}\n  - {from: pay, status: ON_HOLD, when: {\"output.paid\": {$ne: true}}}\n  - {from: pack, status: COMPLETED}\n",
    )
}

async fn error_queue_actions(app: &App) {
    let company = company_of(app, &app.a).await;
    for yaml in [conflicting_workflow(), stalling_workflow(), holding_workflow()] {
        install(app, company, &yaml).await;
    }
    // A ticket admin, and nothing more, works the queue.
    let desk = app.client_for(&app.a, "desk").await;
    let action = |error: i64, fields: &'static [(&'static str, &'static str)]| {
        let desk = &desk;
        async move {
            let response = desk.post_form(&format!("/errors/{error}/action"), fields).await;
            assert_eq!(response.status, StatusCode::SEE_OTHER, "{fields:?}: {}", response.body);
            assert_eq!(response.location, format!("/errors/{error}"));
        }
    };

    // A conflict: nothing fired. Picking "Fix the order" by hand opens it, and
    // completing it finishes the workflow.
    let (ticket, instance) = request(app, company, "order-check", "Conflicted order").await;
    complete(app, company, instance, "check", json!({})).await;
    let (error, kind, message, _) = only_error(app, company, instance).await;
    assert_eq!(kind, "WORKFLOW_TRANSITION");
    assert!(message.contains("conflicting"), "{message}");
    assert_eq!(status(app, company, instance).await, "IN_PROGRESS");
    let page = desk.get_ok(&format!("/errors/{error}")).await;
    assert!(page.contains("value=\"task:fix\"") && page.contains("Pick the next step by hand"), "{page}");
    action(error, &[("action", "pick"), ("target", "task:fix")]).await;
    let fix = open_run(app, company, instance, "fix").await;
    assert_eq!(status(app, company, instance).await, "IN_PROGRESS");
    let page = desk.get_ok(&format!("/errors/{error}")).await;
    assert!(page.contains("REVIEWED") && page.contains("action: pick"), "{page}");
    let done = desk.post_form(&format!("/tasks/{}/complete", fix.id.0), &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(status(app, company, instance).await, "COMPLETED");
    let ticket_page = desk.get_ok(&format!("/tickets/{ticket}")).await;
    assert!(ticket_page.contains("opened a task by hand") && ticket_page.contains("COMPLETED"), "{ticket_page}");

    // The same conflict, cancelled: the workflow and its ticket end, and the
    // error page offers no more fixes.
    let (ticket, instance) = request(app, company, "order-check", "Order to drop").await;
    complete(app, company, instance, "check", json!({})).await;
    let (error, ..) = only_error(app, company, instance).await;
    action(error, &[("action", "cancel")]).await;
    assert_eq!(status(app, company, instance).await, "CANCELLED");
    assert!(runs(app, company, instance).await.iter().all(|r| r.status != "OPEN"), "nothing is left open");
    let page = desk.get_ok(&format!("/errors/{error}")).await;
    assert!(page.contains("action: cancel") && !page.contains("Cancel the workflow"), "{page}");
    let ticket_page = desk.get_ok(&format!("/tickets/{ticket}")).await;
    assert!(ticket_page.contains("cancelled the workflow") && ticket_page.contains("CANCELLED"), "{ticket_page}");

    // A stall: the unpaid check leads nowhere. Setting the workflow completed
    // by hand ends it without shipping.
    let (_, instance) = request(app, company, "payment-check", "Stalled payment").await;
    complete(app, company, instance, "check", json!({"paid": false})).await;
    let (error, kind, message, _) = only_error(app, company, instance).await;
    assert_eq!(kind, "WORKFLOW_TRANSITION");
    assert!(message.contains("stalled"), "{message}");
    action(error, &[("action", "pick"), ("target", "status:COMPLETED")]).await;
    assert_eq!(status(app, company, instance).await, "COMPLETED");
    assert!(!runs(app, company, instance).await.iter().any(|r| r.task == "ship"), "nothing was shipped");

    // A hold: the label printer failed, then the unpaid payment held the
    // workflow. Its other step cannot be done until it is resumed from the
    // error's page; then it can, and the workflow completes.
    let (_, instance) = request(app, company, "parcel", "Parcel on hold").await;
    let label = open_run(app, company, instance, "label").await;
    let failed = Event::Fail { seq: u32::try_from(label.seq).unwrap(), message: "the label printer is offline".into() };
    app.store.execute(Command::Apply { company, instance, event: failed, actor: None }).await.unwrap();
    complete(app, company, instance, "pay", json!({"paid": false})).await;
    assert_eq!(status(app, company, instance).await, "ON_HOLD");
    let (error, kind, ..) = only_error(app, company, instance).await;
    assert_eq!(kind, "TASK_UPDATE");
    let page = desk.get_ok(&format!("/errors/{error}")).await;
    assert!(page.contains("Resume the workflow"), "{page}");
    let pack = open_run(app, company, instance, "pack").await;
    let held = desk.post_form(&format!("/tasks/{}/complete", pack.id.0), &[]).await;
    assert_eq!(held.status, StatusCode::CONFLICT, "nothing moves while on hold: {}", held.body);
    action(error, &[("action", "resume")]).await;
    assert_eq!(status(app, company, instance).await, "IN_PROGRESS");
    let page = desk.get_ok(&format!("/errors/{error}")).await;
    assert!(page.contains("action: resume") && !page.contains("Resume the workflow"), "{page}");
    assert_eq!(app.store.instance_errors(company, instance).await.unwrap().len(), 1, "no stall on resuming");
    let done = desk.post_form(&format!("/tasks/{}/complete", pack.id.0), &[]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(status(app, company, instance).await, "COMPLETED");
}

// ---- 2. rejecting an approval ----

async fn rejected_approval(app: &App) {
    let company = company_of(app, &app.a).await;
    let created = app
        .store
        .create_ticket(
            company,
            NewTicket {
                definition: "order-fulfilment".into(),
                ticket_type: "order".into(),
                fields: serde_json::from_str(include_str!("../../../../examples/data/order-fulfilment.ticket.json"))
                    .unwrap(),
                creator: None,
            },
        )
        .await
        .unwrap();
    let manager = app.client_for(&app.a, "manager").await;
    let task = support::first_task_link(&manager.get_ok("/inbox").await);
    let comment = "The customer still owes us for March";
    let done = manager.post_form(&format!("{task}/complete"), &[("decision", "rejected"), ("comment", comment)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location, format!("/tickets/{}", created.ticket.0));

    // The rejected path: the order is cancelled and its payment never checked.
    let view = app.store.instance(company, created.instance).await.unwrap();
    assert_eq!(view.status, "CANCELLED");
    assert!(!view.runs.iter().any(|r| r.task == "check_payment"), "{:?}", view.runs);
    let approval = view.runs.iter().find(|r| r.task == "approve_order").unwrap();
    assert_eq!(approval.status, "COMPLETED");
    assert_eq!(approval.output, Some(json!({"decision": "rejected", "comment": comment})));
    assert_eq!(view.data["approval_comment"], comment);

    // The comment is on the ticket's history and on the task's result.
    let ticket = manager.get_ok(&done.location).await;
    assert!(ticket.contains("CANCELLED") && ticket.contains(comment), "{ticket}");
    let result = manager.get_ok(&task).await;
    assert!(result.contains("Result") && result.contains(comment) && result.contains("rejected"), "{result}");
    assert!(!manager.get_ok("/inbox").await.contains(&task), "the task left the inbox");
}

// ---- 3 and 4. every route: without the CSRF token, and without access ----

/// One request to try on a route.
struct Walk {
    method: &'static str,
    path: String,
    fields: Vec<(&'static str, &'static str)>,
    /// What a signed-in user of company A without any permission or role gets.
    without_access: StatusCode,
}

/// Every (method, route) the application declares, read from its source the
/// way `declared_routes` reads the paths.
fn declared_methods() -> Vec<(&'static str, String)> {
    let source = include_str!("../../src/ui/mod.rs");
    let mut found = Vec::new();
    for rest in source.split(".route(").skip(1) {
        let route = rest.trim_start().strip_prefix('"').and_then(|r| r.split('"').next()).unwrap().to_owned();
        let methods = &rest[rest.find(',').unwrap()..];
        assert!(methods.contains("get(") || methods.contains("post("), "{route}: neither GET nor POST");
        for method in ["get", "post"] {
            if methods.contains(&format!("{method}(")) {
                found.push((if method == "get" { "GET" } else { "POST" }, route.clone()));
            }
        }
    }
    assert_eq!(
        found.iter().map(|(_, route)| route).collect::<std::collections::BTreeSet<_>>().len(),
        crate::declared_routes().len(),
        "the same routes as declared_routes()"
    );
    found
}

/// Whether a concrete path is an instance of a route pattern like `/tickets/{id}`.
fn instance_of(path: &str, route: &str) -> bool {
    let parts: Vec<&str> = path.split('?').next().unwrap().split('/').collect();
    let pattern: Vec<&str> = route.split('/').collect();
    parts.len() == pattern.len() && parts.iter().zip(&pattern).all(|(p, r)| r.starts_with('{') || p == r)
}

/// One request for every route and method, with company A's ids, and what a
/// user of A without any permission or role gets: 403 where a permission or
/// role is missing, 404 where the handler hides that the thing exists (a
/// ticket, its runs, files and instance are not found for whoever may not see
/// the ticket), and the normal answer on the routes open to everyone.
fn every_route(ids: &Objects) -> Vec<Walk> {
    const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
    const HIDDEN: StatusCode = StatusCode::NOT_FOUND;
    let key = support::PRIVATE_KEY;
    let version = format!("/definitions/{key}/versions/1");
    let conversation = format!("/assistant/conversations/{}", ids.conversation);
    let proposal = format!("{conversation}/proposals/{}", ids.proposal);
    let simulation = vec![("ticket_type", "request"), ("data", "{}"), ("outputs", "{}")];
    let walk = |method, path: String, fields: &[(&'static str, &'static str)], without_access| Walk {
        method,
        path,
        fields: fields.to_vec(),
        without_access,
    };
    vec![
        // Open to everyone signed in (or to anyone).
        walk("GET", "/".into(), &[], StatusCode::SEE_OTHER),
        walk("GET", "/healthz".into(), &[], StatusCode::OK),
        walk("GET", "/assets/app.css".into(), &[], StatusCode::OK),
        walk("GET", "/assets/app.js".into(), &[], StatusCode::OK),
        walk("GET", "/login".into(), &[], StatusCode::OK),
        walk(
            "POST",
            "/login".into(),
            &[("email", "nobody@nowhere.test"), ("password", "wrong")],
            StatusCode::UNAUTHORIZED,
        ),
        walk("POST", "/logout".into(), &[], StatusCode::SEE_OTHER),
        walk("GET", "/account/password".into(), &[], StatusCode::OK),
        walk(
            "POST",
            "/account/password".into(),
            &[("current", "not it"), ("new", "a new passphrase"), ("confirm", "a new passphrase")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        walk("GET", "/inbox".into(), &[], StatusCode::OK),
        walk("GET", "/tickets".into(), &[], StatusCode::OK),
        walk("GET", "/tickets/new".into(), &[], StatusCode::OK),
        // A ticket type of a role the user lacks.
        walk("GET", "/tickets/new/document-edit/edit-request".into(), &[], FORBIDDEN),
        walk(
            "POST",
            "/tickets/new/document-edit/edit-request".into(),
            &[("title", "Sneaky"), ("submitted_doc", "x")],
            FORBIDDEN,
        ),
        // A ticket that is not theirs, with everything hanging off it.
        walk("GET", format!("/tickets/{}", ids.ticket), &[], HIDDEN),
        walk("POST", format!("/tickets/{}/comments", ids.ticket), &[("body", "hi")], HIDDEN),
        walk("GET", format!("/files/{}", ids.file), &[], HIDDEN),
        walk("GET", format!("/instances/{}", ids.instance), &[], HIDDEN),
        walk("GET", format!("/instances/{}/events", ids.instance), &[], HIDDEN),
        walk("GET", format!("/tasks/{}", ids.run), &[], HIDDEN),
        walk("POST", format!("/tasks/{}/claim", ids.run), &[], HIDDEN),
        walk("POST", format!("/tasks/{}/release", ids.run), &[], HIDDEN),
        walk("POST", format!("/tasks/{}/complete", ids.run), &[("questions", "x")], HIDDEN),
        // Workflow creators and ticket admins only.
        walk("GET", "/definitions".into(), &[], FORBIDDEN),
        walk("GET", "/definitions/new".into(), &[], FORBIDDEN),
        walk("POST", "/definitions/upload".into(), &[("document", "key: x")], FORBIDDEN),
        walk("GET", "/definitions/create".into(), &[], FORBIDDEN),
        walk("POST", "/definitions/create".into(), &[("key", "sneaky"), ("title", "Sneaky")], FORBIDDEN),
        walk("GET", format!("/definitions/{key}"), &[], FORBIDDEN),
        walk("GET", format!("/definitions/{key}/edit"), &[], FORBIDDEN),
        walk("POST", format!("/definitions/{key}/edit"), &[("title", "Stolen"), ("base", "1")], FORBIDDEN),
        walk("GET", format!("/definitions/{key}/diff?from=1&to=1"), &[], FORBIDDEN),
        walk("GET", version.clone(), &[], FORBIDDEN),
        walk("GET", format!("{version}/diagram.svg"), &[], FORBIDDEN),
        walk("GET", format!("{version}/download"), &[], FORBIDDEN),
        walk("POST", format!("{version}/activate"), &[], FORBIDDEN),
        walk("POST", format!("{version}/archive"), &[], FORBIDDEN),
        walk("GET", format!("{version}/simulate"), &[], FORBIDDEN),
        walk("POST", format!("{version}/simulate"), &simulation, FORBIDDEN),
        walk("GET", format!("{version}/tasks/review"), &[], FORBIDDEN),
        walk("GET", format!("{version}/ticket-types/request"), &[], FORBIDDEN),
        walk("GET", format!("{version}/transitions/0"), &[], FORBIDDEN),
        // Ticket admins only.
        walk("GET", "/errors".into(), &[], FORBIDDEN),
        walk("GET", format!("/errors/{}", ids.error), &[], FORBIDDEN),
        walk("POST", format!("/errors/{}/review", ids.error), &[("status", "RESOLVED"), ("note", "x")], FORBIDDEN),
        walk("POST", format!("/errors/{}/action", ids.error), &[("action", "cancel")], FORBIDDEN),
        // Company admins only.
        walk("GET", "/admin/users".into(), &[], FORBIDDEN),
        walk(
            "POST",
            "/admin/users".into(),
            &[("email", "sneaky@nowhere.test"), ("password", "a long passphrase")],
            FORBIDDEN,
        ),
        walk("GET", format!("/admin/users/{}", ids.user), &[], FORBIDDEN),
        walk("POST", format!("/admin/users/{}", ids.user), &[("permission", "company_admin")], FORBIDDEN),
        walk("GET", "/admin/roles".into(), &[], FORBIDDEN),
        walk("POST", "/admin/roles".into(), &[("key", "sneaky"), ("title", "Sneaky")], FORBIDDEN),
        walk("POST", format!("/admin/roles/{}", ids.role), &[("title", "Stolen")], FORBIDDEN),
        walk("GET", "/admin/secrets".into(), &[], FORBIDDEN),
        walk("POST", "/admin/secrets".into(), &[("name", "SNEAKY"), ("value", "x")], FORBIDDEN),
        walk("POST", "/admin/secrets/A_ONLY/delete".into(), &[], FORBIDDEN),
        walk("GET", "/admin/assistant".into(), &[], FORBIDDEN),
        walk(
            "POST",
            "/admin/assistant".into(),
            &[("provider", "anthropic"), ("model", "m"), ("api_key", "k")],
            FORBIDDEN,
        ),
        walk("POST", "/admin/assistant/delete".into(), &[], FORBIDDEN),
        // The assistant: workflow creators only, even before the conversation is looked up.
        walk("GET", "/assistant".into(), &[], FORBIDDEN),
        walk("POST", "/assistant/conversations".into(), &[("text", "hello")], FORBIDDEN),
        walk("GET", conversation.clone(), &[], FORBIDDEN),
        walk("POST", format!("{conversation}/messages"), &[("text", "hello")], FORBIDDEN),
        walk("POST", format!("{proposal}/save"), &[], FORBIDDEN),
        walk("POST", format!("{proposal}/undo"), &[], FORBIDDEN),
        walk("GET", format!("{proposal}/document"), &[], FORBIDDEN),
        walk("GET", format!("{proposal}/simulate"), &[], FORBIDDEN),
        walk("POST", format!("{proposal}/simulate"), &simulation, FORBIDDEN),
    ]
}

fn sample_ids() -> Objects {
    Objects { ticket: 1, instance: 2, run: 3, file: 4, error: 5, user: 6, role: 7, conversation: 8, proposal: 9 }
}

/// Routes (as declared) that `walked` has no request for.
fn not_walked(walked: &[Walk], method: Option<&str>) -> Vec<String> {
    declared_methods()
        .into_iter()
        .filter(|(m, _)| method.is_none_or(|wanted| *m == wanted))
        .filter(|(m, route)| !walked.iter().any(|w| w.method == *m && instance_of(&w.path, route)))
        .map(|(m, route)| format!("{m} {route}"))
        .collect()
}

#[test]
fn every_route_is_classified_for_a_user_without_access() {
    let missing = not_walked(&every_route(&sample_ids()), None);
    assert!(missing.is_empty(), "say what a user without access gets on: {missing:?}");
}

#[test]
fn every_form_is_walked_without_its_csrf_token() {
    let missing = not_walked(&every_route(&sample_ids()), Some("POST"));
    assert!(missing.is_empty(), "no CSRF check for: {missing:?}");
}

/// What the server says when a form lacks its session's token.
const CSRF_REFUSAL: &str = "the form has expired or came from elsewhere";

async fn every_form_needs_its_csrf_token(app: &App) {
    let ids = app.a_objects().await;
    // Users who could do each thing with the token: the company's owner, the
    // conversation's author, an editor for the editors' task.
    let owner = app.json_client_for(&app.a, "owner").await;
    let creator = app.json_client_for(&app.a, "creator").await;
    let editor = app.json_client_for(&app.a, "editor").await;
    let stranger_token = app.client_for(&app.b, "owner").await.csrf_token().await;
    let posts: Vec<Walk> = every_route(&ids).into_iter().filter(|w| w.method == "POST" && w.path != "/login").collect();
    for walk in &posts {
        let client = if walk.path.starts_with("/assistant/conversations/") {
            &creator
        } else if walk.path.starts_with("/tasks/") {
            &editor
        } else {
            &owner
        };
        let mut refusals = vec![
            ("no token", client.post_raw(&walk.path, &walk.fields, None, None).await),
            ("another session's token", client.post_raw(&walk.path, &walk.fields, Some(&stranger_token), None).await),
        ];
        let mut form = reqwest::multipart::Form::new().text("note", "multipart");
        for (name, value) in &walk.fields {
            form = form.text(*name, *value);
        }
        let response = client.http.post(format!("{}{}", app.base, walk.path)).multipart(form).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        refusals.push((
            "multipart without a token",
            support::Response { status, location: String::new(), headers: Default::default(), body },
        ));
        for (how, response) in refusals {
            assert_eq!(response.status, StatusCode::FORBIDDEN, "POST {} with {how}: {}", walk.path, response.body);
            assert!(response.body.contains(CSRF_REFUSAL), "POST {} with {how}: {}", walk.path, response.body);
        }
    }
    // Nothing happened: still signed in, A's objects as they were.
    assert_eq!(owner.get("/inbox").await.status, StatusCode::OK, "the logout was refused too");
    let company = company_of(app, &app.a).await;
    let error = app.store.ticket_error(company, ticketflower_store::TicketErrorId(ids.error)).await.unwrap();
    assert_eq!(error.status, "NEW");
    assert!(app.store.secret_value(&app.secret_key, company, "A_ONLY").await.unwrap().is_some());
    let versions = app.store.list_versions(company).await.unwrap();
    assert!(versions.iter().any(|v| v.key == support::PRIVATE_KEY && v.status.as_str() == "DRAFT"), "{versions:?}");
    let run = runs(app, company, InstanceId(ids.instance)).await;
    assert_eq!(run.len(), 1, "{run:?}");
    assert_eq!((run[0].status.as_str(), run[0].assignee), ("OPEN", None), "not claimed nor completed");
    let roles = app.store.list_roles(company).await.unwrap();
    assert!(!roles.iter().any(|r| r.title == "Stolen" || r.key == "sneaky"), "{roles:?}");
    let ticket = owner.get_ok(&format!("/tickets/{}", ids.ticket)).await;
    assert!(!ticket.contains(">hi<"), "no comment was added");

    // Signing in has no token yet: it is guarded by where the form comes from.
    let login = app.a.login("editor");
    let fields = [("email", login.email.as_str()), ("password", login.password.as_str())];
    let browser = Client::new(&app.base);
    for (header, value) in [("origin", "http://evil.test"), ("sec-fetch-site", "cross-site")] {
        let response =
            browser.http.post(format!("{}/login", app.base)).header(header, value).form(&fields).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{header}: {value}");
        assert!(response.headers().get("set-cookie").is_none(), "no session for a cross-site sign-in");
        assert_eq!(browser.get("/inbox").await.status, StatusCode::SEE_OTHER, "still signed out");
    }
    let response = browser
        .http
        .post(format!("{}/login", app.base))
        .header("origin", &app.base)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "the same sign-in from the site itself works");
}

async fn every_route_without_access(app: &App) {
    let ids = app.a_objects().await;
    let (nobody, _) = user_without_access(app).await;
    let walks = every_route(&ids);
    // Signing out ends the walk.
    let (last, walks): (Vec<&Walk>, Vec<&Walk>) = walks.iter().partition(|w| w.path == "/logout");
    for walk in walks.into_iter().chain(last) {
        let response = match walk.method {
            "GET" => nobody.get(&walk.path).await,
            _ => nobody.post_form(&walk.path, &walk.fields).await,
        };
        assert_eq!(response.status, walk.without_access, "{} {}: {}", walk.method, walk.path, response.body);
        if response.status == StatusCode::FORBIDDEN {
            let error = response.json_error()["error"].as_str().unwrap().to_owned();
            assert!(error.contains("permission") || error.contains("roles"), "{} {}: {error}", walk.method, walk.path);
        }
        // What is open shows nothing of what the user may not see.
        if walk.method == "GET" && response.status == StatusCode::OK {
            assert!(!response.body.contains("Private thing"), "{}: {}", walk.path, response.body);
            assert!(!response.body.contains(&format!("/tasks/{}\"", ids.run)), "{}: {}", walk.path, response.body);
            assert!(!response.body.contains("/tickets/new/document-edit/"), "{}: {}", walk.path, response.body);
        }
    }
    assert_eq!(nobody.get("/inbox").await.status, StatusCode::UNAUTHORIZED, "signed out at the end");

    // Nothing changed.
    let company = company_of(app, &app.a).await;
    let error = app.store.ticket_error(company, ticketflower_store::TicketErrorId(ids.error)).await.unwrap();
    assert_eq!(error.status, "NEW");
    assert!(app.store.secret_value(&app.secret_key, company, "A_ONLY").await.unwrap().is_some());
    let editor = app.store.user(company, UserId(ids.user)).await.unwrap();
    assert!(editor.permissions.is_empty(), "{:?}", editor.permissions);
    let versions = app.store.list_versions(company).await.unwrap();
    assert!(!versions.iter().any(|v| v.key == "sneaky"), "{versions:?}");
    assert!(versions.iter().any(|v| v.key == support::PRIVATE_KEY && v.status.as_str() == "DRAFT"));
}

// ---- 5. over HTTP: the ticket list, the editor, JSON uploads, access ----

async fn ticket_list_filters(app: &App) {
    let company = company_of(app, &app.a).await;
    let created = |response: support::Response| -> i64 {
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        response.location.split('?').next().unwrap().rsplit('/').next().unwrap().parse().unwrap()
    };
    // A document edit whose text holds a rare word; a support request with
    // the rare word in a reply; two orders, one rejected, one claimed.
    let author = app.client_for(&app.a, "author").await;
    let brochure = created(
        author
            .post_form(
                "/tickets/new/document-edit/edit-request",
                &[("title", "Spring brochure"), ("submitted_doc", "Tulips from Zanzibar.")],
            )
            .await,
    );
    let support_user = app.client_for(&app.a, "support").await;
    let printer = created(
        support_user
            .post_form(
                "/tickets/new/customer-support/support-request",
                &[("subject", "Printer jam"), ("description", "It beeps all day."), ("priority", "normal")],
            )
            .await,
    );
    let reply = support_user
        .post_form(
            &format!("/tickets/{printer}/comments"),
            &[("body", "A quokka sat on it."), ("visibility", "public")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let order = || NewTicket {
        definition: "order-fulfilment".into(),
        ticket_type: "order".into(),
        fields: serde_json::from_str(include_str!("../../../../examples/data/order-fulfilment.ticket.json")).unwrap(),
        creator: None,
    };
    let rejected = app.store.create_ticket(company, order()).await.unwrap();
    let claimed = app.store.create_ticket(company, order()).await.unwrap();
    let manager = app.client_for(&app.a, "manager").await;
    let approval = |instance| async move { open_run(app, company, instance, "approve_order").await.id.0 };
    let sent = manager
        .post_form(&format!("/tasks/{}/complete", approval(rejected.instance).await), &[("decision", "rejected")])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let sent = manager.post_form(&format!("/tasks/{}/claim", approval(claimed.instance).await), &[]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let (rejected, claimed) = (rejected.ticket.0, claimed.ticket.0);

    let owner = app.client_for(&app.a, "owner").await;
    let list = |query: String| {
        let owner = &owner;
        async move { listed(&owner.get_ok(&format!("/tickets?{query}")).await) }
    };
    let everything = sorted(vec![brochure, printer, rejected, claimed]);
    assert_eq!(list(String::new()).await, everything);
    assert_eq!(list("type=order".into()).await, sorted(vec![rejected, claimed]));
    assert_eq!(list("type=support-request".into()).await, [printer]);
    assert_eq!(list("status=CANCELLED".into()).await, [rejected]);
    assert_eq!(list("status=IN_PROGRESS&type=order".into()).await, [claimed]);
    let manager_id = user_id(app, &app.a, "manager").await;
    assert_eq!(list(format!("assignee={manager_id}")).await, [claimed]);
    assert_eq!(listed(&manager.get_ok("/tickets?assignee=me").await), [claimed]);
    let editor_id = user_id(app, &app.a, "editor").await;
    assert_eq!(list(format!("assignee={editor_id}")).await, Vec::<i64>::new(), "the edit is in the pool, not theirs");
    let today = chrono::Utc::now().date_naive();
    let day = |offset: i64| (today + chrono::Duration::days(offset)).format("%Y-%m-%d").to_string();
    assert_eq!(list(format!("from={}&to={}", day(0), day(0))).await, everything);
    assert_eq!(list(format!("from={}", day(1))).await, Vec::<i64>::new(), "nothing is from tomorrow");
    assert_eq!(list(format!("to={}", day(-1))).await, Vec::<i64>::new(), "nothing is from before today");
    assert_eq!(list(format!("from={}&type=order", day(-1))).await, sorted(vec![rejected, claimed]));
    // Search: a title, a field, a reply; combined with a filter.
    assert_eq!(list("q=printer".into()).await, [printer]);
    assert_eq!(list("q=zanzibar".into()).await, [brochure]);
    assert_eq!(list("q=quokka".into()).await, [printer]);
    assert_eq!(list("q=quokka&status=CANCELLED".into()).await, Vec::<i64>::new());
    assert_eq!(list("q=SO-2291&type=order".into()).await, sorted(vec![rejected, claimed]));
    // Someone who may see only some tickets finds only those.
    assert_eq!(listed(&author.get_ok("/tickets?q=zanzibar").await), [brochure]);
    assert_eq!(listed(&author.get_ok("/tickets?q=quokka").await), Vec::<i64>::new(), "not theirs to see");
}

async fn workflow_created_in_the_editor(app: &App) {
    let creator = app.client_for(&app.a, "creator").await;
    let blank = creator.get_ok("/definitions/create").await;
    assert!(blank.contains("action=\"/definitions/create\"") && blank.contains("name=\"key\""), "{blank}");
    let ticket = "key: request\ntitle: Purchase\nfields:\n  type: object\n  required: [title]\n  properties:\n    title: {type: string, title: What to buy}";
    let form = |key: &'static str, task: &'static str| {
        vec![
            ("key", key),
            ("title", "Purchase request"),
            ("description", "Buying things for the office."),
            ("roles", "staff"),
            ("fields", "type: object\nproperties:\n  title: {type: string}"),
            ("ticket", ticket),
            ("ticket", ""),
            ("task", task),
            ("task", ""),
            ("t_from", "start"),
            ("t_to", "approve"),
            ("t_when", ""),
            ("t_priority", ""),
            ("t_on", ""),
            ("t_from", "approve"),
            ("t_to", "COMPLETED"),
            ("t_when", "{\"output.decision\": approved}"),
            ("t_priority", ""),
            ("t_on", ""),
            ("t_from", "approve"),
            ("t_to", "CANCELLED"),
            ("t_when", "{\"output.decision\": rejected}"),
            ("t_priority", "2"),
            ("t_on", ""),
            ("t_from", ""),
            ("t_to", ""),
            ("t_when", ""),
            ("t_priority", ""),
            ("t_on", ""),
            ("rest", ""),
        ]
    };
    let task = "key: approve\ntitle: Approve the purchase\ntype: approval\nassign: {role: staff}";
    let saved = creator.post_form("/definitions/create", &form("purchase-request", task)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location, "/definitions/purchase-request/versions/1?saved=1");
    let page = creator.get_ok("/definitions/purchase-request").await;
    assert!(page.contains("Purchase request") && page.contains("DRAFT"), "{page}");
    assert!(page.contains("Approve the purchase") && page.contains("<td>role staff</td>"), "{page}");
    let document = creator.get("/definitions/purchase-request/versions/1/download?format=json").await;
    let document: Value = serde_json::from_str(&document.body).unwrap();
    assert_eq!(document["description"], "Buying things for the office.");
    assert_eq!(document["tickets"][0]["fields"]["properties"]["title"]["title"], "What to buy");
    assert_eq!(
        document["transitions"],
        json!([
            {"from": "start", "to": "approve"},
            {"from": "approve", "status": "COMPLETED", "when": {"output.decision": "approved"}},
            {"from": "approve", "status": "CANCELLED", "when": {"output.decision": "rejected"}, "priority": 2},
        ])
    );
    // It runs once activated.
    let activated = creator.post_form("/definitions/purchase-request/versions/1/activate", &[]).await;
    assert_eq!(activated.status, StatusCode::SEE_OTHER);
    let owner = app.client_for(&app.a, "owner").await;
    let ticket = owner.post_form("/tickets/new/purchase-request/request", &[("title", "A standing desk")]).await;
    assert_eq!(ticket.status, StatusCode::SEE_OTHER, "{}", ticket.body);
    let page = owner.get_ok(ticket.location.split('?').next().unwrap()).await;
    assert!(page.contains("Approve the purchase") && page.contains("IN PROGRESS"), "{page}");

    // The key is taken now; a broken task block saves nothing either.
    let again = creator.post_form("/definitions/create", &form("purchase-request", task)).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(again.body.contains("exists already"), "{}", again.body);
    let broken = creator.post_form("/definitions/create", &form("office-supplies", "key: approve\ntype: [")).await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(broken.body.contains("/tasks/0"), "{}", broken.body);
    let company = company_of(app, &app.a).await;
    let versions = app.store.list_versions(company).await.unwrap();
    assert_eq!(versions.iter().filter(|v| v.key == "purchase-request").count(), 1, "{versions:?}");
    assert!(!versions.iter().any(|v| v.key == "office-supplies"), "{versions:?}");
}

async fn json_upload(app: &App) {
    let creator = app.client_for(&app.a, "creator").await;
    let as_json = |key: &str, title: &str| {
        let yaml = support::private_workflow(key, title);
        let document = ticketflower_core::document::parse(&yaml, ticketflower_core::document::Syntax::Yaml).unwrap();
        serde_json::to_string_pretty(&document).unwrap()
    };
    let upload = |file_name: &'static str, text: String| {
        let creator = &creator;
        async move {
            let form = reqwest::multipart::Form::new()
                .text("_csrf", creator.csrf_token().await)
                .text("document", "")
                .part("file", reqwest::multipart::Part::bytes(text.into_bytes()).file_name(file_name));
            let response =
                creator.http.post(format!("{}/definitions/upload", app.base)).multipart(form).send().await.unwrap();
            let status = response.status();
            let location = response.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
            (status, location, response.text().await.unwrap())
        }
    };
    // A .json file.
    let (status, location, body) = upload("intake.json", as_json("json-intake", "Intake from JSON")).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location.as_deref(), Some("/definitions/json-intake/versions/1?saved=1"));
    let page = creator.get_ok("/definitions/json-intake").await;
    assert!(page.contains("Intake from JSON") && page.contains("DRAFT"), "{page}");
    let yaml = creator.get("/definitions/json-intake/versions/1/download").await;
    assert!(yaml.body.contains("title: Intake from JSON") && yaml.body.contains("key: review"), "{}", yaml.body);
    // JSON pasted into the text box.
    let pasted = as_json("pasted-intake", "Pasted JSON intake");
    let sent = creator.post_form("/definitions/upload", &[("document", pasted.as_str())]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert!(sent.location.starts_with("/definitions/pasted-intake/versions/1"), "{}", sent.location);
    // Broken JSON is read as JSON: the JSON parser's own words, and nothing saved.
    let mut cut = as_json("broken-intake", "Broken");
    cut.truncate(cut.len() / 2);
    let (status, _, body) = upload("broken.json", cut).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("EOF while parsing"), "{body}");
    let company = company_of(app, &app.a).await;
    let keys: Vec<String> = app.store.list_versions(company).await.unwrap().into_iter().map(|v| v.key).collect();
    assert!(keys.contains(&"json-intake".into()) && keys.contains(&"pasted-intake".into()), "{keys:?}");
    assert!(!keys.contains(&"broken-intake".into()), "{keys:?}");
}

async fn access_changes_take_effect(app: &App) {
    let (person, id) = user_without_access(app).await;
    let author = app.client_for(&app.a, "author").await;
    let sent = author
        .post_form("/tickets/new/document-edit/edit-request", &[("title", "Autumn flyer"), ("submitted_doc", "x")])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert_eq!(person.get("/definitions").await.status, StatusCode::FORBIDDEN);
    assert!(!person.get_ok("/inbox").await.contains("Edit Document"), "no role, no pool");

    // The owner gives a permission and a role; the person's session has them at once.
    let owner = app.client_for(&app.a, "owner").await;
    let path = format!("/admin/users/{id}");
    let saved = owner.post_form(&path, &[("permission", "workflow_creator"), ("role", "editor")]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location, path);
    let page = owner.get_ok(&path).await;
    assert!(page.contains("value=\"workflow_creator\" checked") && page.contains("value=\"editor\" checked"), "{page}");
    assert!(!page.contains("value=\"ticket_admin\" checked"), "{page}");
    assert_eq!(person.get("/definitions").await.status, StatusCode::OK, "the permission works");
    assert!(person.get_ok("/inbox").await.contains("Edit Document"), "the role's pool is theirs");
    let listed_users = owner.get_ok("/admin/users").await;
    assert!(listed_users.contains("workflow_creator"), "{listed_users}");

    // And taken away again.
    let taken = owner.post_form(&path, &[]).await;
    assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.body);
    assert_eq!(person.get("/definitions").await.status, StatusCode::FORBIDDEN);
    assert!(!person.get_ok("/inbox").await.contains("Edit Document"));
}

// ---- 6. another company's ids in query strings and form bodies ----

async fn ids_in_queries_and_forms(app: &App) {
    let ids = app.a_objects().await;
    let (a, b) = (company_of(app, &app.a).await, company_of(app, &app.b).await);
    let a_editor = app.client_for(&app.a, "editor").await;
    let claimed = a_editor.post_form(&format!("/tasks/{}/claim", ids.run), &[]).await;
    assert_eq!(claimed.status, StatusCode::SEE_OTHER, "{}", claimed.body);
    let a_owner = app.client_for(&app.a, "owner").await;
    let intruder = app.client_for(&app.b, "owner").await;

    // The ticket list: A's editor as the assignee, or A's ticket id to page
    // from, finds nothing of A's (A's owner finds it: the filter works).
    let by_assignee = format!("/tickets?assignee={}", ids.user);
    assert_eq!(listed(&a_owner.get_ok(&by_assignee).await), [ids.ticket]);
    for query in [by_assignee, format!("/tickets?before={}", ids.ticket + 1), "/tickets?q=Private".into()] {
        let page = intruder.get_ok(&query).await;
        assert!(!listed(&page).contains(&ids.ticket) && !page.contains("Private thing"), "{query}: {page}");
    }

    // The error queue: B's own error, retried with A's run, or with the run of
    // another of B's workflows, is not found; neither run is touched.
    let (_, b_instance) = request_error(app, b).await;
    let (b_error, ..) = only_error(app, b, b_instance).await;
    let a_instance = InstanceId(ids.instance);
    let a_runs = runs(app, a, a_instance).await;
    let retry = |run: String| {
        let intruder = &intruder;
        async move {
            let fields = [("action", "retry"), ("run", run.as_str())];
            intruder.post_form(&format!("/errors/{b_error}/action"), &fields).await
        }
    };
    let response = retry(ids.run.to_string()).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.body);
    assert_eq!(runs(app, a, a_instance).await.len(), a_runs.len(), "A's task was not run again");
    let (_, sibling) = request_error(app, b).await;
    let sibling_run = runs(app, b, sibling).await[0].id.0;
    let response = retry(sibling_run.to_string()).await;
    assert_eq!(response.status, StatusCode::NOT_FOUND, "a run of another workflow: {}", response.body);
    assert_eq!(runs(app, b, sibling).await.len(), 1, "the other workflow's task was not run again");
    let (.., error_status) = only_error(app, b, b_instance).await;
    assert_eq!(error_status, "NEW", "nothing was done, so nothing was reviewed");

    // Access: a role only A has is not B's to give.
    app.store.create_role(a, "auditor", "Auditors").await.unwrap();
    let b_editor = user_id(app, &app.b, "editor").await;
    let given = intruder.post_form(&format!("/admin/users/{b_editor}"), &[("role", "auditor")]).await;
    assert_eq!(given.status, StatusCode::NOT_FOUND, "{}", given.body);
    assert_eq!(app.store.user(b, b_editor).await.unwrap().roles, ["editor"]);
    let email = format!("auditor@{}.test", app.b.name.to_lowercase().replace(' ', "-"));
    let added = intruder
        .post_form("/admin/users", &[("email", email.as_str()), ("password", "a long passphrase"), ("role", "auditor")])
        .await;
    assert_eq!(added.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", added.body);
    assert!(added.body.contains("there is no role"), "{}", added.body);
    assert!(app.store.user_by_email(b, &email).await.unwrap().is_none());

    // Versions in the query: A's version 2 of a key both have is not B's.
    let yaml = ticketflower_web::demo::EXAMPLES[0].1.replace("title: Document Edit", "title: Alpha's secret edits");
    let document = ticketflower_core::document::parse(&yaml, ticketflower_core::document::Syntax::Yaml).unwrap();
    assert_eq!(app.store.import_definition(a, &document, None).await.unwrap().version, 2);
    let diff = "/definitions/document-edit/diff?from=1&to=2";
    assert!(a_owner.get_ok(diff).await.contains("secret edits"), "A's diff shows its version 2");
    for path in [diff, "/definitions/document-edit/diff?to=2", "/definitions/document-edit/versions/2/download"] {
        let response = intruder.get(path).await;
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}: {}", response.body);
        assert!(!response.body.contains("secret edits"), "{path}: {}", response.body);
    }

    // Emails in a workflow document and in a ticket's fields name people of
    // B's company only: A's editor is given nothing.
    let a_editor_email = app.a.login("editor").email;
    let yaml = workflow(
        "named",
        "Named people",
        &format!(
            "  - {{key: by_name, title: Named task, type: form, assign: {{users: [{a_editor_email}]}}}}\n  - {{key: by_field, title: Field task, type: form, assign: {{field: data.reviewer}}}}\n"
        ),
        "  - {from: start, to: by_name}\n  - {from: start, to: by_field}\n",
    )
    .replace("title: {type: string}, paid", "title: {type: string}, reviewer: {type: string}, paid")
    .replace(
        "properties: {title: {type: string, title: Title}}",
        "properties: {title: {type: string, title: Title}, reviewer: {type: string, title: Reviewer}}",
    );
    let b_creator = app.client_for(&app.b, "creator").await;
    let uploaded = b_creator.post_form("/definitions/upload", &[("document", yaml.as_str())]).await;
    assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.body);
    let activated = b_creator.post_form("/definitions/named/versions/1/activate", &[]).await;
    assert_eq!(activated.status, StatusCode::SEE_OTHER, "{}", activated.body);
    let created = intruder
        .post_form(
            "/tickets/new/named/request",
            &[("title", "Work for Alpha's editor"), ("reviewer", a_editor_email.as_str())],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let ticket: i64 = created.location.split('?').next().unwrap().rsplit('/').next().unwrap().parse().unwrap();
    let view = app.store.ticket(b, ticketflower_store::TicketId(ticket)).await.unwrap();
    let a_editor_id = UserId(ids.user);
    for run in runs(app, b, view.instance.unwrap()).await {
        assert_ne!(run.assignee, Some(a_editor_id), "{run:?}");
        let page = a_editor.get(&format!("/tasks/{}", run.id.0)).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    }
    let inbox = a_editor.get_ok("/inbox").await;
    assert!(!inbox.contains("Named task") && !inbox.contains("Field task"), "{inbox}");

    // A file field's "keep this file" input naming A's file attaches nothing.
    let yaml = support::private_workflow("claims", "Claims").replace(
        "properties: {title: {type: string, title: Title}}}",
        "properties: {title: {type: string, title: Title}, receipt: {title: Receipt, contentMediaType: application/pdf}}}",
    );
    install(app, b, &yaml).await;
    let file = ids.file.to_string();
    let created =
        intruder.post_form("/tickets/new/claims/request", &[("title", "Taxi"), ("receipt~keep", file.as_str())]).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let path = created.location.split('?').next().unwrap().to_owned();
    let ticket: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
    let view = app.store.ticket(b, ticketflower_store::TicketId(ticket)).await.unwrap();
    assert_eq!(view.fields, json!({"title": "Taxi"}), "no receipt of A's");
    assert!(!intruder.get_ok(&path).await.contains(&format!("/files/{}", ids.file)));
}

/// A document-edit ticket in `company` whose first step failed for good: (ticket, instance).
async fn request_error(app: &App, company: CompanyId) -> (i64, InstanceId) {
    let created = app
        .store
        .create_ticket(
            company,
            NewTicket {
                definition: "document-edit".into(),
                ticket_type: "edit-request".into(),
                fields: json!({"title": "Error maker", "submitted_doc": "x"}),
                creator: None,
            },
        )
        .await
        .unwrap();
    let event = Event::Fail { seq: 0, message: "the partner API is down".into() };
    app.store.execute(Command::Apply { company, instance: created.instance, event, actor: None }).await.unwrap();
    (created.ticket.0, created.instance)
}
