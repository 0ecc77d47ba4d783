//! The web application over real HTTP: a server on a random port, on SQLite
//! and on PostgreSQL (when `TICKETFLOWER_TEST_POSTGRES_URL` is set; then a
//! missing server fails the tests). Each test seeds its own two demo
//! companies, so tests share one PostgreSQL database safely.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod assistant;
mod e2e;
mod support;

use reqwest::StatusCode;
use support::{App, Client};

/// Runs a test body once per backend.
/// (Declared before the modules that use it.)
macro_rules! on_both_backends {
    ($($name:ident => $body:ident;)+) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = crate::support::App::spawn(crate::support::Backend::Sqlite).await;
                super::$body(&app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match crate::support::App::spawn_postgres().await {
                    Some(app) => super::$body(&app).await,
                    None => eprintln!("TICKETFLOWER_TEST_POSTGRES_URL is not set; PostgreSQL not tested"),
                }
            }
        }
    )+};
}

mod coverage;

on_both_backends! {
    document_edit_is_worked_to_completion_by_two_people => document_edit_flow;
    an_invalid_ticket_form_comes_back_with_each_error_beside_its_field => invalid_ticket_form;
    forms_without_the_csrf_token_or_from_another_origin_are_refused => csrf_is_enforced;
    another_companys_ids_answer_not_found_on_every_route => tenant_isolation;
    pages_need_their_permission => permissions_are_checked;
    logins_are_throttled_rotated_and_ended => login_security;
    workflows_are_uploaded_edited_compared_activated_and_simulated => workflow_pages;
    approvals_and_the_error_queue_work_from_the_pages => approvals_and_errors;
    company_admins_manage_users_roles_and_passwords => admin_pages;
    instance_changes_arrive_as_server_sent_events => live_updates;
    no_input_makes_a_server_error => junk_never_500s;
    a_ticket_form_takes_file_uploads_and_keeps_nothing_when_invalid => ticket_files;
    a_task_form_takes_file_uploads_and_keeps_nothing_when_invalid => task_files;
    an_invalid_ticket_form_is_listed_as_json_when_json_is_asked_for => invalid_ticket_form_as_json;
    an_invalid_task_output_is_listed_as_json_and_the_task_stays_open => invalid_task_output_as_json;
    not_found_forbidden_and_login_required_are_json_when_json_is_asked_for => errors_as_json;
}

/// Every route the application declares, read from its source, so a new
/// route without an isolation check fails `every_route_is_walked_for_isolation`.
fn declared_routes() -> Vec<String> {
    let source = include_str!("../src/ui/mod.rs");
    source
        .split(".route(")
        .skip(1)
        .filter_map(|rest| rest.trim_start().strip_prefix('"').and_then(|r| r.split('"').next()).map(str::to_owned))
        .collect()
}

/// Routes without ids or company data (the same for everyone), and lists and
/// forms that only ever show the caller's own company.
const COMPANY_FREE: &[&str] = &[
    "/",
    "/healthz",
    "/assets/app.css",
    "/assets/app.js",
    "/login",
    "/logout",
    "/account/password",
    "/inbox",
    "/tickets",
    "/tickets/new",
    "/definitions",
    "/definitions/new",
    "/definitions/upload",
    "/definitions/create",
    "/errors",
    "/admin/users",
    "/admin/roles",
    "/admin/secrets",
    "/assistant",
    "/assistant/conversations",
    "/admin/assistant",
    "/admin/assistant/delete",
];

#[test]
fn every_route_is_walked_for_isolation() {
    let walked = isolation_paths(&support::Objects {
        ticket: 1,
        instance: 2,
        run: 3,
        file: 4,
        error: 5,
        user: 6,
        role: 7,
        conversation: 8,
        proposal: 9,
    });
    for route in declared_routes() {
        if COMPANY_FREE.contains(&route.as_str()) {
            continue;
        }
        let pattern = route.split('/').map(|part| if part.starts_with('{') { "*" } else { part }).collect::<Vec<_>>();
        let covered = walked.iter().any(|(_, path, _)| {
            let parts: Vec<&str> = path.split('?').next().unwrap().split('/').collect();
            parts.len() == pattern.len() && parts.iter().zip(&pattern).all(|(a, b)| *b == "*" || a == b)
        });
        assert!(covered, "route {route} is not walked by the tenant-isolation test");
    }
}

/// A request to try: (method, path, form fields).
type Attempt = (&'static str, String, Vec<(&'static str, &'static str)>);

/// Every route that names company data, with company A's ids.
fn isolation_paths(ids: &support::Objects) -> Vec<Attempt> {
    let key = support::PRIVATE_KEY;
    let version = format!("/definitions/{key}/versions/1");
    vec![
        ("GET", format!("/tickets/{}", ids.ticket), vec![]),
        ("POST", format!("/tickets/{}/comments", ids.ticket), vec![("body", "hi")]),
        ("GET", format!("/tickets/new/{key}/request"), vec![]),
        ("POST", format!("/tickets/new/{key}/request"), vec![("title", "x")]),
        ("GET", format!("/instances/{}", ids.instance), vec![]),
        ("GET", format!("/instances/{}/events", ids.instance), vec![]),
        ("GET", format!("/tasks/{}", ids.run), vec![]),
        ("POST", format!("/tasks/{}/claim", ids.run), vec![]),
        ("POST", format!("/tasks/{}/release", ids.run), vec![]),
        ("POST", format!("/tasks/{}/complete", ids.run), vec![("questions", "x")]),
        ("GET", format!("/files/{}", ids.file), vec![]),
        ("GET", format!("/errors/{}", ids.error), vec![]),
        ("POST", format!("/errors/{}/review", ids.error), vec![("status", "RESOLVED"), ("note", "x")]),
        ("POST", format!("/errors/{}/action", ids.error), vec![("action", "cancel")]),
        ("GET", format!("/definitions/{key}"), vec![]),
        ("GET", format!("/definitions/{key}/edit"), vec![]),
        ("POST", format!("/definitions/{key}/edit"), vec![("title", "Stolen"), ("base", "1")]),
        ("GET", format!("/definitions/{key}/diff?from=1&to=1"), vec![]),
        ("GET", version.clone(), vec![]),
        ("GET", format!("{version}/diagram.svg"), vec![]),
        ("GET", format!("{version}/download"), vec![]),
        ("POST", format!("{version}/activate"), vec![]),
        ("POST", format!("{version}/archive"), vec![]),
        ("GET", format!("{version}/simulate"), vec![]),
        ("POST", format!("{version}/simulate"), vec![("ticket_type", "request"), ("data", "{}"), ("outputs", "{}")]),
        ("GET", format!("{version}/tasks/review"), vec![]),
        ("GET", format!("{version}/ticket-types/request"), vec![]),
        ("GET", format!("{version}/transitions/0"), vec![]),
        ("GET", format!("/admin/users/{}", ids.user), vec![]),
        ("POST", format!("/admin/users/{}", ids.user), vec![("permission", "ticket_admin")]),
        ("POST", format!("/admin/roles/{}", ids.role), vec![("title", "Stolen")]),
        ("POST", "/admin/secrets/A_ONLY/delete".to_owned(), vec![]),
        ("GET", format!("/assistant/conversations/{}", ids.conversation), vec![]),
        ("POST", format!("/assistant/conversations/{}/messages", ids.conversation), vec![("text", "hello")]),
        ("POST", format!("/assistant/conversations/{}/proposals/{}/save", ids.conversation, ids.proposal), vec![]),
        ("POST", format!("/assistant/conversations/{}/proposals/{}/undo", ids.conversation, ids.proposal), vec![]),
        ("GET", format!("/assistant/conversations/{}/proposals/{}/simulate", ids.conversation, ids.proposal), vec![]),
        ("GET", format!("/assistant/conversations/{}/proposals/{}/document", ids.conversation, ids.proposal), vec![]),
        (
            "POST",
            format!("/assistant/conversations/{}/proposals/{}/simulate", ids.conversation, ids.proposal),
            vec![("ticket_type", "request"), ("data", "{}"), ("outputs", "{}")],
        ),
    ]
}

async fn document_edit_flow(app: &App) {
    let a = &app.a;
    let author = app.client_for(a, "author").await;
    let form = author.get_ok("/tickets/new/document-edit/edit-request").await;
    assert!(form.contains("name=\"title\""), "{form}");
    let ticket = author
        .post_form(
            "/tickets/new/document-edit/edit-request",
            &[("title", "Spring brochure"), ("submitted_doc", "Our spring brochure text.")],
        )
        .await;
    assert_eq!(ticket.status, StatusCode::SEE_OTHER, "{}", ticket.body);
    let ticket_path = ticket.location.split('?').next().unwrap().to_owned();
    let page = author.get_ok(&ticket_path).await;
    assert!(page.contains("Spring brochure") && page.contains("IN PROGRESS"), "{page}");

    // The editor claims the edit task from the pool and asks a question.
    let editor = app.client_for(a, "editor").await;
    let inbox = editor.get_ok("/inbox").await;
    assert!(inbox.contains("Edit Document") && inbox.contains("Claim"), "{inbox}");
    let run = support::first_task_link(&inbox);
    let claimed = editor.post_form(&format!("{run}/claim"), &[]).await;
    assert_eq!(claimed.status, StatusCode::SEE_OTHER);
    let done =
        editor.post_form(&format!("{run}/complete"), &[("questions", "Which photos?"), ("updated_doc", "")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);

    // The author (the initiator) answers.
    let inbox = author.get_ok("/inbox").await;
    assert!(inbox.contains("Answer Questions"), "{inbox}");
    let answer = support::first_task_link(&inbox);
    let task_page = author.get_ok(&answer).await;
    assert!(task_page.contains("Which photos?"), "the task shows its inputs: {task_page}");
    let sent = author.post_form(&format!("{answer}/complete"), &[("author_responses", "")]).await;
    assert_eq!(sent.status, StatusCode::UNPROCESSABLE_ENTITY, "a required answer is refused");
    assert!(sent.body.contains("field-error"), "{}", sent.body);
    let sent = author.post_form(&format!("{answer}/complete"), &[("author_responses", "The ones from May.")]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);

    // The editor finishes; the ticket is completed.
    let inbox = editor.get_ok("/inbox").await;
    let run = support::first_task_link(&inbox);
    let done = editor.post_form(&format!("{run}/complete"), &[("updated_doc", "The edited brochure.")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let page = author.get_ok(&ticket_path).await;
    assert!(page.contains("COMPLETED"), "{page}");
    assert!(page.contains("The ones from May."), "the timeline shows data changes: {page}");

    // A comment is part of the conversation; the author sees public replies only.
    let note = editor
        .post_form(&format!("{ticket_path}/comments"), &[("body", "Internal: printed 200"), ("visibility", "internal")])
        .await;
    assert_eq!(note.status, StatusCode::SEE_OTHER, "{}", note.body);
    let reply = editor
        .post_form(&format!("{ticket_path}/comments"), &[("body", "Thanks, all done!"), ("visibility", "public")])
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    let page = author.get_ok(&ticket_path).await;
    assert!(page.contains("Thanks, all done!"), "{page}");
    assert!(!page.contains("Internal: printed 200"), "internal notes stay internal");

    // So do their attachments, even to someone who guesses the file's id.
    let attach = |visibility: &'static str, name: &'static str| {
        let editor = &editor;
        let ticket_path = ticket_path.as_str();
        async move {
            let form = reqwest::multipart::Form::new()
                .text("_csrf", editor.csrf_token().await)
                .text("body", format!("See {name}"))
                .text("visibility", visibility)
                .part("files", reqwest::multipart::Part::bytes(name.as_bytes().to_vec()).file_name(name));
            let sent = editor.http.post(format!("{}{ticket_path}/comments", app.base)).multipart(form).send().await;
            assert_eq!(sent.unwrap().status(), StatusCode::SEE_OTHER);
            let page = editor.get_ok(ticket_path).await;
            let at = page.find(&format!(">{name}<")).expect("the attachment is listed for staff");
            support::link_starting(page[..at].rsplit_once("<a ").unwrap().1, "/files/")
        }
    };
    let internal_file = attach("internal", "costing.xlsx").await;
    let public_file = attach("public", "proof.pdf").await;
    let download = |client: &support::Client, file: &str| client.http.get(format!("{}{file}", app.base)).send();
    let status = |response: reqwest::Result<reqwest::Response>| response.unwrap().status();
    assert_eq!(status(download(&editor, &internal_file).await), StatusCode::OK, "staff download internal attachments");
    assert_eq!(status(download(&author, &internal_file).await), StatusCode::NOT_FOUND, "the requester cannot");
    assert_eq!(status(download(&author, &public_file).await), StatusCode::OK, "a public reply's attachments are not");
    let page = author.get_ok(&ticket_path).await;
    assert!(page.contains("proof.pdf") && !page.contains("costing.xlsx"), "{page}");

    // The instance view shows the diagram with live states.
    let desk = app.client_for(a, "desk").await;
    let instance = support::link_starting(&page, "/instances/");
    let view = desk.get_ok(&instance).await;
    assert!(view.contains("<svg") && view.contains("data-task=\"edit\""), "{view}");
    // Its data changes, one line per field, the ticket's start among them.
    assert!(view.contains("Data changes") && view.contains("<code>submitted_doc</code>"), "{view}");
}

async fn invalid_ticket_form(app: &App) {
    let author = app.client_for(&app.a, "author").await;
    let before = author.get_ok("/tickets").await.matches("href=\"/tickets/").count();
    let sent =
        author.post_form("/tickets/new/document-edit/edit-request", &[("title", "ab"), ("submitted_doc", "")]).await;
    assert_eq!(sent.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(sent.body.contains("field-error"), "{}", sent.body);
    assert!(sent.body.contains("value=\"ab\""), "what was typed is kept: {}", sent.body);
    let after = author.get_ok("/tickets").await.matches("href=\"/tickets/").count();
    assert_eq!(before, after, "nothing was created");
}

/// What Firefox and Chrome send with a page request.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

async fn invalid_ticket_form_as_json(app: &App) {
    let company = app.store.company_by_name(&app.a.name).await.unwrap().unwrap();
    let tickets_before = app.store.count_rows(company, "tickets").await.unwrap();
    let author = app.json_client_for(&app.a, "author").await;
    let path = "/tickets/new/document-edit/edit-request";
    let missing = author.post_form(path, &[("title", ""), ("submitted_doc", "")]).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", missing.body);
    let body = missing.json_error();
    assert_eq!(body["error"], "invalid input");
    assert_eq!(missing.problem_pointers(), ["/submitted_doc", "/title"], "one problem per field: {body}");
    assert_eq!(body["problems"][0]["field"], body["problems"][0]["pointer"].as_str().unwrap()[1..]);
    let short = author.post_form(path, &[("title", "ab")]).await;
    assert_eq!(short.problem_pointers(), ["/submitted_doc", "/title"], "{}", short.body);

    // A choice outside the enum is listed beside the missing and too-short fields.
    let support = app.json_client_for(&app.a, "support").await;
    let path = "/tickets/new/customer-support/support-request";
    let fields = [("subject", "ab"), ("description", ""), ("priority", "urgent")];
    let sent = support.post_form(path, &fields).await;
    assert_eq!(sent.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", sent.body);
    assert_eq!(sent.problem_pointers(), ["/description", "/priority", "/subject"], "{}", sent.body);

    // A browser still gets the form back, every problem beside its field.
    let browser = Client::accepting(&app.base, BROWSER_ACCEPT);
    let login = app.a.login("support");
    browser.login(&login.email, &login.password).await;
    let page = browser.post_form(path, &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.headers.get("content-type").unwrap().to_str().unwrap().starts_with("text/html"));
    for field in ["subject", "description", "priority"] {
        assert!(page.body.contains(&format!("id=\"error-{field}-0\"")), "{field}: {}", page.body);
    }
    assert_eq!(app.store.count_rows(company, "tickets").await.unwrap(), tickets_before, "nothing was created");
}

async fn invalid_task_output_as_json(app: &App) {
    let company = app.store.company_by_name(&app.a.name).await.unwrap().unwrap();
    let new_ticket = |definition: &str, ticket_type: &str, fields: serde_json::Value| ticketflower_store::NewTicket {
        definition: definition.into(),
        ticket_type: ticket_type.into(),
        fields,
        creator: None,
    };
    let open_run = |runs: &[ticketflower_store::RunView], task: &str| {
        runs.iter().find(|r| r.task == task && r.status == "OPEN").cloned()
    };

    // A form task: a choice outside the enum, then two missing answers.
    let fields = serde_json::json!({"subject": "Printer jam", "description": "It beeps."});
    let instance = app
        .store
        .create_ticket(company, new_ticket("customer-support", "support-request", fields))
        .await
        .unwrap()
        .instance;
    let support = app.json_client_for(&app.a, "support").await;
    let run = |task: &'static str| async move {
        let view = app.store.instance(company, instance).await.unwrap();
        open_run(&view.runs, task).unwrap_or_else(|| panic!("{task} is open: {:?}", view.runs))
    };
    let triage = run("triage").await;
    let sent = support.post_form(&format!("/tasks/{}/complete", triage.id.0), &[("category", "urgent")]).await;
    assert_eq!(sent.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", sent.body);
    assert_eq!(sent.problem_pointers(), ["/category"]);
    assert_eq!(run("triage").await.id, triage.id, "the task stays open");
    let done = support.post_form(&format!("/tasks/{}/complete", triage.id.0), &[("category", "billing")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let respond = run("respond").await;
    let sent = support
        .post_form(&format!("/tasks/{}/complete", respond.id.0), &[("resolution", ""), ("customer_reply", " ")])
        .await;
    assert_eq!(sent.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", sent.body);
    assert_eq!(sent.problem_pointers(), ["/customer_reply", "/resolution"], "{}", sent.body);
    let still = run("respond").await;
    assert!(still.id == respond.id && still.output.is_none(), "the task stays open: {still:?}");

    // An approval from the pool: a decision that is not one is refused before
    // the task is claimed, so it stays in the pool.
    let order = serde_json::from_str(include_str!("../../../examples/data/order-fulfilment.ticket.json")).unwrap();
    let created = app.store.create_ticket(company, new_ticket("order-fulfilment", "order", order)).await.unwrap();
    let view = app.store.instance(company, created.instance).await.unwrap();
    let approval = open_run(&view.runs, "approve_order").unwrap();
    assert_eq!(approval.assignee, None, "a pool task");
    let manager = app.json_client_for(&app.a, "manager").await;
    let sent = manager
        .post_form(&format!("/tasks/{}/complete", approval.id.0), &[("decision", "maybe"), ("comment", "hmm")])
        .await;
    assert_eq!(sent.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", sent.body);
    assert_eq!(sent.problem_pointers(), ["/decision"]);
    let view = app.store.instance(company, created.instance).await.unwrap();
    let after = open_run(&view.runs, "approve_order").expect("still open");
    assert_eq!(after.assignee, None, "not claimed either");
}

async fn errors_as_json(app: &App) {
    let ids = app.a_objects().await;
    // Another company's ids: 404.
    let intruder = app.json_client_for(&app.b, "owner").await;
    for response in [
        intruder.get(&format!("/tickets/{}", ids.ticket)).await,
        intruder.post_form(&format!("/tickets/{}/comments", ids.ticket), &[("body", "hi")]).await,
        intruder.post_form(&format!("/tasks/{}/complete", ids.run), &[("questions", "x")]).await,
    ] {
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{}", response.body);
        assert_eq!(response.json_error(), serde_json::json!({"status": 404, "error": "not found"}));
    }
    // Without the permission: 403.
    let author = app.json_client_for(&app.a, "author").await;
    let response = author.get("/admin/users").await;
    assert_eq!(response.status, StatusCode::FORBIDDEN);
    let error = response.json_error()["error"].as_str().unwrap().to_owned();
    assert!(error.contains("company_admin"), "{error}");
    let forged = author.post_raw("/tickets/new/document-edit/edit-request", &[("title", "x")], None, None).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    forged.json_error();
    // Without a session: 401 instead of the way to the sign-in page.
    let anonymous = Client::accepting(&app.base, "application/json");
    for response in [anonymous.get("/inbox").await, anonymous.post_raw("/logout", &[], None, None).await] {
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{}", response.body);
        assert!(response.headers.get("location").is_none());
        assert_eq!(response.json_error(), serde_json::json!({"status": 401, "error": "login required"}));
    }
    let wrong = anonymous.post_login(&app.a.login("editor").email, "not the password").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    wrong.json_error();
    // What axum refuses by itself is JSON too.
    let owner = app.json_client_for(&app.a, "owner").await;
    for (path, status) in [("/tasks/abc", StatusCode::BAD_REQUEST), ("/no/such/page", StatusCode::NOT_FOUND)] {
        let response = owner.get(path).await;
        assert_eq!(response.status, status, "{path}: {}", response.body);
        response.json_error();
    }
    // Successes stay as they are, and a browser still gets pages and redirects.
    assert!(owner.get_ok("/inbox").await.contains("<html"));
    let browser = Client::accepting(&app.base, BROWSER_ACCEPT);
    let response = browser.get("/inbox").await;
    assert_eq!(response.status, StatusCode::SEE_OTHER);
    assert!(response.location.starts_with("/login"), "{}", response.location);
    let response = Client::new(&app.base).get("/no/such/page").await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    assert!(response.headers.get("content-type").is_none_or(|t| t != "application/json"));
}

async fn csrf_is_enforced(app: &App) {
    let author = app.client_for(&app.a, "author").await;
    let path = "/tickets/new/document-edit/edit-request";
    let fields = [("title", "Forged ticket"), ("submitted_doc", "x")];
    let without_token = author.post_raw(path, &fields, None, None).await;
    assert_eq!(without_token.status, StatusCode::FORBIDDEN);
    let token = author.csrf_token().await;
    let wrong_token = author.post_raw(path, &fields, Some("0".repeat(64).as_str()), None).await;
    assert_eq!(wrong_token.status, StatusCode::FORBIDDEN);
    let cross_origin = author.post_raw(path, &fields, Some(&token), Some("http://evil.test")).await;
    assert_eq!(cross_origin.status, StatusCode::FORBIDDEN);
    let list = author.get_ok("/tickets?q=Forged").await;
    assert!(!list.contains("Forged ticket"), "nothing was created");
    let fine = author.post_raw(path, &fields, Some(&token), None).await;
    assert_eq!(fine.status, StatusCode::SEE_OTHER, "the same form with its token works");
}

async fn tenant_isolation(app: &App) {
    // Company A gets a ticket with a run, a comment with a file, an error and
    // a workflow of its own; company B's most privileged user tries every
    // route with A's ids and key.
    let ids = app.a_objects().await;
    let intruder = app.client_for(&app.b, "owner").await;
    for (method, path, fields) in isolation_paths(&ids) {
        let response = match method {
            "GET" => intruder.get(&path).await,
            _ => intruder.post_form(&path, &fields).await,
        };
        assert_eq!(response.status, StatusCode::NOT_FOUND, "{method} {path}: {}", response.body);
    }
    // And A's data is untouched.
    let owner = app.client_for(&app.a, "owner").await;
    let error = owner.get_ok(&format!("/errors/{}", ids.error)).await;
    assert!(error.contains("NEW"), "{error}");
    let ticket = owner.get_ok(&format!("/tickets/{}", ids.ticket)).await;
    assert!(!ticket.contains("hi</div>"), "no comment was added");
    let company = app.store.company_by_name(&app.a.name).await.unwrap().unwrap();
    let kept = app.store.secret_value(&app.secret_key, company, "A_ONLY").await.unwrap();
    assert_eq!(kept.as_deref(), Some("alpha's key"), "A's secret is still there");
    let workflow = owner.get_ok(&format!("/definitions/{}", support::PRIVATE_KEY)).await;
    assert!(!workflow.contains("Stolen") && workflow.contains("DRAFT"), "{workflow}");
}

async fn permissions_are_checked(app: &App) {
    let author = app.client_for(&app.a, "author").await;
    for path in ["/definitions", "/definitions/document-edit", "/errors", "/admin/users"] {
        assert_eq!(author.get(path).await.status, StatusCode::FORBIDDEN, "GET {path}");
    }
    let creator = app.client_for(&app.a, "creator").await;
    assert_eq!(creator.get("/definitions/document-edit").await.status, StatusCode::OK);
    let assistant = creator.get_ok("/assistant").await;
    assert!(assistant.contains("not set up") && assistant.contains("TICKETFLOWER_LLM_PROVIDER"), "{assistant}");
    assert_eq!(author.get("/assistant").await.status, StatusCode::FORBIDDEN);
    assert_eq!(creator.get("/errors").await.status, StatusCode::FORBIDDEN);
    let anonymous = Client::new(&app.base);
    let response = anonymous.get("/inbox").await;
    assert_eq!(response.status, StatusCode::SEE_OTHER);
    assert!(
        response.location.starts_with("/login?next=%2Finbox") || response.location.starts_with("/login?next=/inbox")
    );
}

async fn login_security(app: &App) {
    let login = app.a.login("editor");
    let client = Client::new(&app.base);
    // Security headers on every page.
    let page = client.get("/login").await;
    assert!(page.headers.get("content-security-policy").unwrap().to_str().unwrap().contains("script-src 'self'"));
    assert_eq!(page.headers.get("x-frame-options").unwrap(), "DENY");
    assert!(page.headers.get("referrer-policy").is_some());
    // Sessions rotate at login and end at logout.
    let first = client.login(&login.email, &login.password).await;
    let second = client.login(&login.email, &login.password).await;
    assert_ne!(first, second, "each login makes a new session");
    let cookie = first.split(';').next().unwrap().to_owned();
    assert!(first.contains("HttpOnly") && first.contains("SameSite=Lax"), "{first}");
    assert!(!first.contains("Secure"), "plain http on loopback");
    let behind_proxy = client
        .http
        .post(format!("{}/login", app.base))
        .header("x-forwarded-proto", "https")
        .form(&[("email", login.email.as_str()), ("password", login.password.as_str())])
        .send()
        .await
        .unwrap();
    let secure = behind_proxy.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(secure.contains("; Secure"), "behind an https proxy: {secure}");
    client.post_form("/logout", &[]).await;
    let after = client.get("/inbox").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "logged out");
    let replay = Client::with_cookie(&app.base, &cookie).get("/inbox").await;
    assert_eq!(replay.status, StatusCode::OK, "the other session still works");
    // Wrong passwords are throttled, even when the right one follows.
    let victim = app.a.login("qa");
    let attacker = Client::new(&app.base);
    for _ in 0..5 {
        let response = attacker.post_login(&victim.email, "wrong-password").await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }
    let response = attacker.post_login(&victim.email, &victim.password).await;
    assert_eq!(response.status, StatusCode::TOO_MANY_REQUESTS);
}

async fn workflow_pages(app: &App) {
    let creator = app.client_for(&app.a, "creator").await;
    let list = creator.get_ok("/definitions").await;
    assert!(list.contains("Document Edit") && list.contains("Venue Map"), "{list}");
    let detail = creator.get_ok("/definitions/document-edit").await;
    assert!(detail.contains("<svg") && detail.contains("data-task=\"answer\""), "the diagram is on the page");
    // Who works each task, in words: the editors' pool, the ticket's creator.
    assert!(detail.contains("<td>role editor</td>") && detail.contains("<td>the ticket's creator</td>"), "{detail}");
    for path in [
        "/definitions/document-edit/versions/1/tasks/edit",
        "/definitions/document-edit/versions/1/ticket-types/edit-request",
        "/definitions/document-edit/versions/1/transitions/1",
    ] {
        let page = creator.get_ok(path).await;
        assert!(page.contains("Definition") || page.contains("When"), "{path}: {page}");
    }
    // A condition reads in words, with the JSON as written beside it.
    let transition = creator.get_ok("/definitions/document-edit/versions/1/transitions/1").await;
    assert!(transition.contains("<strong>data.questions exists</strong>"), "{transition}");
    assert!(transition.contains("{&quot;data.questions&quot;:{&quot;$exists&quot;:true}}"), "{transition}");
    let svg = creator.get("/definitions/document-edit/versions/1/diagram.svg").await;
    assert_eq!(svg.headers.get("content-type").unwrap(), "image/svg+xml");
    assert!(svg.body.starts_with("<svg"));

    // An invalid upload shows every problem beside its part and saves nothing.
    let broken = support::private_workflow("leave-request", "Leave request")
        .replace("type: approval", "type: aproval")
        .replace("{from: review, status: COMPLETED}", "{from: reviw, status: COMPLETED}");
    let sent = creator.post_form("/definitions/upload", &[("document", broken.as_str())]).await;
    assert_eq!(sent.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(sent.body.contains("error at /tasks/0/type"), "{}", sent.body);
    assert!(sent.body.contains("error at /transitions/1/from"), "{}", sent.body);
    assert!(!creator.get_ok("/definitions").await.contains("Leave request"), "nothing saved");
    let sent = creator.post_form("/definitions/upload", &[("document", "key: [unclosed")]).await;
    assert_eq!(sent.status, StatusCode::UNPROCESSABLE_ENTITY, "a syntax error is a clear 422");

    // A valid upload becomes version 1, a draft.
    let good = support::private_workflow("leave-request", "Leave request");
    let sent = creator.post_form("/definitions/upload", &[("document", good.as_str())]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    assert!(sent.location.starts_with("/definitions/leave-request/versions/1"), "{}", sent.location);

    // The one-page editor saves version 2 from version 1; a stale save is refused.
    let editor = creator.get_ok("/definitions/leave-request/edit").await;
    assert!(editor.contains("name=\"task\"") && editor.contains("name=\"t_from\""), "{editor}");
    let task = "key: review\ntitle: Review\ntype: approval\nassign: {role: staff}";
    let ticket = "key: request\ntitle: Request\nfields: {type: object, required: [title], properties: {title: {type: string, title: Title}}}";
    let form = |title: &'static str, base: &'static str, task: &'static str| {
        vec![
            ("base", base),
            ("title", title),
            ("roles", "staff"),
            ("fields", "{type: object, properties: {title: {type: string}}}"),
            ("ticket", ticket),
            ("task", task),
            ("t_from", "start"),
            ("t_to", "review"),
            ("t_when", ""),
            ("t_priority", ""),
            ("t_on", ""),
            ("t_from", "review"),
            ("t_to", "COMPLETED"),
            ("t_when", ""),
            ("t_priority", ""),
            ("t_on", ""),
        ]
    };
    let saved = creator.post_form("/definitions/leave-request/edit", &form("Time-off request", "1", task)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert!(saved.location.starts_with("/definitions/leave-request/versions/2"));
    let stale = creator.post_form("/definitions/leave-request/edit", &form("Holiday request", "1", task)).await;
    assert_eq!(stale.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(stale.body.contains("was saved after the version 1"), "{}", stale.body);
    assert!(stale.body.contains("Holiday request"), "the form keeps what was typed");
    let bad_block = creator.post_form("/definitions/leave-request/edit", &form("X", "2", "key: review\ntype: [")).await;
    assert_eq!(bad_block.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_block.body.contains("/tasks/0"), "the problem sits beside the task block: {}", bad_block.body);

    // The diff shows what changed; download gives the document back.
    let diff = creator.get_ok("/definitions/leave-request/diff?from=1&to=2").await;
    assert!(diff.contains("- title: Leave request") && diff.contains("+ title: Time-off request"), "{diff}");
    let download = creator.get("/definitions/leave-request/versions/1/download").await;
    assert!(download.body.contains("key: leave-request"), "{}", download.body);
    let json = creator.get("/definitions/leave-request/versions/2/download?format=json").await;
    assert_eq!(serde_json::from_str::<serde_json::Value>(&json.body).unwrap()["title"], "Time-off request");

    // Simulate before activation, then activate: the ticket type is offered.
    let simulate = creator.get_ok("/definitions/leave-request/versions/2/simulate").await;
    assert!(simulate.contains("Run simulation"));
    let result = creator
        .post_form(
            "/definitions/leave-request/versions/2/simulate",
            &[
                ("ticket_type", "request"),
                ("data", "{\"title\": \"Week off\"}"),
                ("outputs", "{\"review\": [{\"decision\": \"approved\"}]}"),
            ],
        )
        .await;
    assert_eq!(result.status, StatusCode::OK);
    assert!(result.body.contains("COMPLETED") && result.body.contains("Review"), "{}", result.body);
    // Without an output for the review, it stays open; tasks are named by their titles.
    let unscripted = creator
        .post_form(
            "/definitions/leave-request/versions/2/simulate",
            &[("ticket_type", "request"), ("data", "{\"title\": \"Week off\"}"), ("outputs", "{}")],
        )
        .await;
    assert!(unscripted.body.contains("Still open (no scripted output left): Review<"), "{}", unscripted.body);
    let invalid = creator
        .post_form(
            "/definitions/leave-request/versions/2/simulate",
            &[("ticket_type", "request"), ("data", "{not json"), ("outputs", "")],
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(invalid.body.contains("not valid JSON") && invalid.body.contains("{not json"), "{}", invalid.body);
    // A JSON client hears each problem with the form field it is in.
    let creator_json = app.json_client_for(&app.a, "creator").await;
    let misfit = creator_json
        .post_form(
            "/definitions/leave-request/versions/2/simulate",
            &[("ticket_type", "request"), ("data", "{not json"), ("outputs", "[1,")],
        )
        .await;
    assert_eq!(misfit.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", misfit.body);
    assert_eq!(misfit.problem_pointers(), ["/data", "/outputs"], "{}", misfit.body);
    let misfit = creator_json
        .post_form(
            "/definitions/leave-request/versions/2/simulate",
            &[("ticket_type", "request"), ("data", "{\"title\": 7}"), ("outputs", "")],
        )
        .await;
    assert_eq!(misfit.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", misfit.body);
    assert_eq!(misfit.problem_pointers(), ["/data/title"], "{}", misfit.body);
    assert!(!creator.get_ok("/tickets/new").await.contains("/tickets/new/leave-request/request"));
    let activated = creator.post_form("/definitions/leave-request/versions/2/activate", &[]).await;
    assert_eq!(activated.status, StatusCode::SEE_OTHER);
    assert!(creator.get_ok("/tickets/new").await.contains("/tickets/new/leave-request/request"));
    let archived = creator.post_form("/definitions/leave-request/versions/2/archive", &[]).await;
    assert_eq!(archived.status, StatusCode::SEE_OTHER);
    assert!(!creator.get_ok("/tickets/new").await.contains("/tickets/new/leave-request/request"));
    // A ticket admin may look but not change.
    let desk = app.client_for(&app.a, "desk").await;
    assert_eq!(desk.get("/definitions/leave-request").await.status, StatusCode::OK);
    assert_eq!(
        desk.post_form("/definitions/leave-request/versions/1/activate", &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(desk.get("/definitions/leave-request/edit").await.status, StatusCode::FORBIDDEN);
}

async fn approvals_and_errors(app: &App) {
    let company = app.store.company_by_name(&app.a.name).await.unwrap().unwrap();
    let created = app
        .store
        .create_ticket(
            company,
            ticketflower_store::NewTicket {
                definition: "order-fulfilment".into(),
                ticket_type: "order".into(),
                fields: serde_json::from_str(include_str!("../../../examples/data/order-fulfilment.ticket.json"))
                    .unwrap(),
                creator: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(created.activated, vec!["approve_order"]);
    let manager = app.client_for(&app.a, "manager").await;
    let inbox = manager.get_ok("/inbox").await;
    assert!(inbox.contains("Approve a large order"), "{inbox}");
    let task = support::first_task_link(&inbox);
    let page = manager.get_ok(&task).await;
    assert!(page.contains("value=\"approved\"") && page.contains("value=\"rejected\""), "{page}");
    let done =
        manager.post_form(&format!("{task}/complete"), &[("decision", "approved"), ("comment", "Good customer")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let view = app.store.instance(company, created.instance).await.unwrap();
    assert_eq!(view.data["approval_comment"], "Good customer");
    assert!(view.runs.iter().any(|r| r.task == "check_payment"), "approved → payment check");
    let warehouse = app.client_for(&app.a, "warehouse").await;
    assert_eq!(warehouse.get(&task).await.status, StatusCode::NOT_FOUND, "not eligible, not visible");

    // An error in the queue: retry the failed task from its page, then resolve it.
    let owner = app.client_for(&app.a, "owner").await;
    let error = app.raise_error(&owner).await;
    let queue = owner.get_ok("/errors?status=NEW").await;
    assert!(queue.contains("the partner API is down"), "{queue}");
    let page = owner.get_ok(&format!("/errors/{error}")).await;
    assert!(page.contains("Retry") && page.contains("Cancel the workflow"), "{page}");
    let run = page.split("name=\"run\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let retried =
        owner.post_form(&format!("/errors/{error}/action"), &[("action", "retry"), ("run", run.as_str())]).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    let page = owner.get_ok(&format!("/errors/{error}")).await;
    assert!(page.contains("REVIEWED") && page.contains("action: retry"), "{page}");
    let resolved = owner
        .post_form(&format!("/errors/{error}/review"), &[("status", "RESOLVED"), ("note", "retried, fine now")])
        .await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER);
    let page = owner.get_ok(&format!("/errors/{error}")).await;
    assert!(page.contains("RESOLVED") && page.contains("retried, fine now"), "{page}");
    let filtered = owner.get_ok("/errors?status=NEW").await;
    assert!(!filtered.contains(&format!("href=\"/errors/{error}\"")), "filters by status");
    let bad = owner.post_form(&format!("/errors/{error}/action"), &[("action", "explode")]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

async fn admin_pages(app: &App) {
    let owner = app.client_for(&app.a, "owner").await;
    let created = owner.post_form("/admin/roles", &[("key", "reviewer"), ("title", "Reviewer")]).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let bad = owner.post_form("/admin/roles", &[("key", "Not A Slug"), ("title", "x")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("field-error"), "{}", bad.body);
    let roles = owner.get_ok("/admin/roles").await;
    assert!(roles.contains("reviewer"));
    let role_form = roles.split("action=\"/admin/roles/").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let renamed = owner.post_form(&format!("/admin/roles/{role_form}"), &[("title", "Renamed role")]).await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER);
    assert!(owner.get_ok("/admin/roles").await.contains("Renamed role"));

    let email = format!("newbie@{}.test", app.a.name.to_lowercase().replace(' ', "-"));
    let weak =
        owner.post_form("/admin/users", &[("email", email.as_str()), ("name", "New Bie"), ("password", "short")]).await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.body.contains("at least 10 characters") && weak.body.contains(email.as_str()), "{}", weak.body);
    let added = owner
        .post_form(
            "/admin/users",
            &[
                ("email", email.as_str()),
                ("name", "New Bie"),
                ("password", "a long passphrase"),
                ("role", "reviewer"),
                ("permission", "ticket_admin"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let users = owner.get_ok("/admin/users").await;
    assert!(users.contains("New Bie") && users.contains("reviewer"), "{users}");
    let duplicate =
        owner.post_form("/admin/users", &[("email", email.as_str()), ("password", "a long passphrase")]).await;
    assert_eq!(duplicate.status, StatusCode::UNPROCESSABLE_ENTITY);
    // Every problem at once: the taken email beside the short password and the unknown role.
    let owner_json = app.json_client_for(&app.a, "owner").await;
    let several = owner_json
        .post_form("/admin/users", &[("email", email.as_str()), ("password", "short"), ("role", "no-such-role")])
        .await;
    assert_eq!(several.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", several.body);
    assert_eq!(several.problem_pointers(), ["/email", "/password", "/roles"], "{}", several.body);
    assert!(several.body.contains("already exists"), "{}", several.body);

    // The new user logs in and changes the password; other sessions end.
    let newbie = Client::new(&app.base);
    newbie.login(&email, "a long passphrase").await;
    let other = Client::new(&app.base);
    other.login(&email, "a long passphrase").await;
    let wrong = newbie
        .post_form(
            "/account/password",
            &[("current", "not it"), ("new", "another passphrase"), ("confirm", "another passphrase")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("not your current password"));
    let changed = newbie
        .post_form(
            "/account/password",
            &[("current", "a long passphrase"), ("new", "another passphrase"), ("confirm", "another passphrase")],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(other.get("/inbox").await.status, StatusCode::SEE_OTHER, "the other session ended");
    assert_eq!(newbie.get("/inbox").await.status, StatusCode::OK, "this session goes on");
    Client::new(&app.base).login(&email, "another passphrase").await;

    // Access is edited on the user's page; the owner cannot demote themselves.
    let user_link = support::first_link(&users, "/admin/users/").unwrap();
    assert_eq!(owner.get(&user_link).await.status, StatusCode::OK);
    let owner_id = app
        .store
        .user_by_email(app.store.company_by_name(&app.a.name).await.unwrap().unwrap(), &app.a.login("owner").email)
        .await
        .unwrap()
        .unwrap();
    let demote = owner.post_form(&format!("/admin/users/{owner_id}"), &[("permission", "ticket_admin")]).await;
    assert_eq!(demote.status, StatusCode::CONFLICT);
    let editor = app.client_for(&app.a, "editor").await;
    assert_eq!(editor.get("/admin/roles").await.status, StatusCode::FORBIDDEN);
    assert_eq!(editor.get("/admin/secrets").await.status, StatusCode::FORBIDDEN);

    // Secrets: set, listed by name only, stored sealed, deleted.
    let set = owner.post_form("/admin/secrets", &[("name", "PAYMENTS_KEY"), ("value", "sk_live_123")]).await;
    assert_eq!(set.status, StatusCode::SEE_OTHER, "{}", set.body);
    let page = owner.get_ok("/admin/secrets").await;
    assert!(page.contains("<code>PAYMENTS_KEY</code>") && !page.contains("sk_live_123"), "write-only: {page}");
    let bad = owner.post_form("/admin/secrets", &[("name", "not a name"), ("value", "")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("a secret name is") && bad.body.contains("the value is empty"), "{}", bad.body);
    let company = app.store.company_by_name(&app.a.name).await.unwrap().unwrap();
    let value = app.store.secret_value(&app.secret_key, company, "PAYMENTS_KEY").await.unwrap();
    assert_eq!(value.as_deref(), Some("sk_live_123"));
    let deleted = owner.post_form("/admin/secrets/PAYMENTS_KEY/delete", &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(!owner.get_ok("/admin/secrets").await.contains("<code>PAYMENTS_KEY</code>"));
}

async fn live_updates(app: &App) {
    let author = app.client_for(&app.a, "author").await;
    let created = author
        .post_form("/tickets/new/document-edit/edit-request", &[("title", "Live one"), ("submitted_doc", "text")])
        .await;
    let page = author.get_ok(created.location.split('?').next().unwrap()).await;
    let instance = support::link_starting(&page, "/instances/");
    let mut stream = author.http.get(format!("{}{instance}/events", app.base)).send().await.unwrap();
    assert_eq!(stream.headers().get("content-type").unwrap(), "text/event-stream");
    let first = support::next_event(&mut stream).await;
    assert!(first.contains("event: state") && first.contains("\"status\":\"IN_PROGRESS\""), "{first}");
    let revision = |event: &str| -> i64 {
        let data = event.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
        serde_json::from_str::<serde_json::Value>(data).unwrap()["revision"].as_i64().unwrap()
    };
    let editor = app.client_for(&app.a, "editor").await;
    let inbox = editor.get_ok("/inbox").await;
    let task = support::first_task_link(&inbox);
    let done = editor.post_form(&format!("{task}/complete"), &[("updated_doc", "done")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let next = support::next_event(&mut stream).await;
    assert!(revision(&next) > revision(&first), "{first} then {next}");
    assert!(next.contains("COMPLETED"), "{next}");
}

async fn junk_never_500s(app: &App) {
    let ids = app.a_objects().await;
    let owner = app.client_for(&app.a, "owner").await;
    let junk: &[(&str, &str)] = &[
        ("title", "\u{0}\u{7f}<script>alert(1)</script>"),
        ("data", "{\"a\":"),
        ("outputs", "[[[["),
        ("status", "DROP TABLE"),
        ("action", "pick"),
        ("target", "task:nope"),
        ("run", "-1"),
        ("decision", "maybe"),
        ("priority", "99999999999999999999"),
        ("t_from", "start"),
        ("t_to", ""),
        ("t_when", "{$bad: 1}"),
        ("task", "key: x\ntype: form"),
        ("ticket", "- not an object"),
        ("document", "format: ticketflower/v1\nkey: '../etc'"),
        ("email", "@"),
        ("password", ""),
        ("permission", "root"),
        ("role", "nope"),
        ("key", "x/y"),
        ("body", ""),
        ("visibility", "secret"),
        ("ticket_type", "nope"),
    ];
    let own = isolation_paths(&ids);
    let mut posts: Vec<String> = own
        .iter()
        .filter(|(m, _, _)| *m == "POST")
        .map(|(_, p, _)| p.replace(support::PRIVATE_KEY, "document-edit"))
        .collect();
    posts.extend(
        [
            "/definitions/upload",
            "/definitions/create",
            "/admin/users",
            "/admin/roles",
            "/account/password",
            "/tickets/new/document-edit/edit-request",
            "/tickets/new/nope/nope",
            "/assistant/conversations",
            "/admin/assistant",
            "/admin/assistant/delete",
        ]
        .map(str::to_owned),
    );
    // The junk once with a NUL, refused as the form is read, and once without,
    // so each handler's own checks run; each time from a browser and from a
    // client that asks for JSON, to which every refusal is JSON.
    let readable = [&[("title", "<script>alert(1)</script>")], &junk[1..]].concat();
    let json = app.json_client_for(&app.a, "owner").await;
    for fields in [junk, readable.as_slice()] {
        for path in &posts {
            for (client, asks_json) in [(&owner, false), (&json, true)] {
                let response = client.post_form(path, fields).await;
                assert!(response.status.as_u16() < 500, "POST {path} answered {}: {}", response.status, response.body);
                if asks_json && response.status.is_client_error() {
                    response.json_error();
                }
            }
        }
    }
    for path in [
        "/tickets?before=abc&from=yesterday&assignee=-5&q=%22%28%2A",
        "/definitions/document-edit/diff?from=-3&to=99",
        "/errors?status=%00",
        "/tasks/abc",
        "/tickets/99999999999999999999",
    ] {
        for (client, asks_json) in [(&owner, false), (&json, true)] {
            let response = client.get(path).await;
            assert!(response.status.as_u16() < 500, "GET {path} answered {}: {}", response.status, response.body);
            if asks_json && response.status.is_client_error() {
                response.json_error();
            }
        }
    }
}

async fn ticket_files(app: &App) {
    let company = app.store.company_by_name(&app.a.name).await.unwrap().unwrap();
    let yaml = support::private_workflow("claims", "Claims").replace(
        "properties: {title: {type: string, title: Title}}}",
        "properties: {title: {type: string, title: Title, minLength: 3}, receipt: {title: Receipt, contentMediaType: application/pdf}}}",
    );
    let document = ticketflower_core::document::parse(&yaml, ticketflower_core::document::Syntax::Yaml).unwrap();
    let imported = app.store.import_definition(company, &document, None).await.unwrap();
    app.store.activate_version(company, "claims", imported.version).await.unwrap();
    let owner = app.client_for(&app.a, "owner").await;
    let form = owner.get_ok("/tickets/new/claims/request").await;
    assert!(form.contains("enctype=\"multipart/form-data\"") && form.contains("type=\"file\""), "{form}");
    let owner = &owner;
    let send = |title: &'static str| async move {
        let token = owner.csrf_token().await;
        let form = reqwest::multipart::Form::new().text("_csrf", token).text("title", title).part(
            "receipt",
            reqwest::multipart::Part::bytes(b"%PDF-1.4 receipt".to_vec())
                .file_name("receipt.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
        let response =
            owner.http.post(format!("{}/tickets/new/claims/request", app.base)).multipart(form).send().await.unwrap();
        (response.status(), response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()))
    };
    let files_before = app.store.count_rows(company, "files").await.unwrap();
    let (status, _) = send("no").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a too-short title is refused");
    assert_eq!(app.store.count_rows(company, "files").await.unwrap(), files_before, "and no file was kept");
    let (status, location) = send("Taxi to the airport").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let page = owner.get_ok(location.unwrap().split('?').next().unwrap()).await;
    let file = support::link_starting(&page, "/files/");
    let download = owner.http.get(format!("{}{file}", app.base)).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert!(download.headers().get("content-disposition").unwrap().to_str().unwrap().contains("receipt.pdf"));
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"%PDF-1.4 receipt");
}

async fn task_files(app: &App) {
    let company = app.store.company_by_name(&app.a.name).await.unwrap().unwrap();
    let yaml = support::private_workflow("inspections", "Inspections").replace(
        "  - key: review\n    title: Review\n    type: approval\n    assign: {role: staff}\n",
        "  - key: inspect\n    title: Inspect\n    type: form\n    assign: {initiator: true}\n    output_schema:\n      type: object\n      required: [photo]\n      properties:\n        photo: {title: Photo, contentMediaType: image/png}\n        note: {type: string, title: Note, minLength: 3}\n",
    ).replace("{from: review, status: COMPLETED}", "{from: inspect, status: COMPLETED}").replace("to: review", "to: inspect");
    let document = ticketflower_core::document::parse(&yaml, ticketflower_core::document::Syntax::Yaml).unwrap();
    let imported = app.store.import_definition(company, &document, None).await.unwrap();
    app.store.activate_version(company, "inspections", imported.version).await.unwrap();
    let owner = app.client_for(&app.a, "owner").await;
    let created = owner.post_form("/tickets/new/inspections/request", &[("title", "Boiler room")]).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let ticket_path = created.location.split('?').next().unwrap().to_owned();
    let task = support::first_task_link(&owner.get_ok(&ticket_path).await);
    let form = owner.get_ok(&task).await;
    assert!(form.contains("enctype=\"multipart/form-data\"") && form.contains("type=\"file\""), "{form}");
    let owner = &owner;
    let task = task.as_str();
    let send = |note: &'static str| async move {
        let token = owner.csrf_token().await;
        let form = reqwest::multipart::Form::new().text("_csrf", token).text("note", note).part(
            "photo",
            reqwest::multipart::Part::bytes(b"\x89PNG boiler".to_vec())
                .file_name("boiler.png")
                .mime_str("image/png")
                .unwrap(),
        );
        let response = owner.http.post(format!("{}{task}/complete", app.base)).multipart(form).send().await.unwrap();
        (response.status(), response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()))
    };
    let files_before = app.store.count_rows(company, "files").await.unwrap();
    let (status, _) = send("no").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "a too-short note is refused");
    assert_eq!(app.store.count_rows(company, "files").await.unwrap(), files_before, "and no file was kept");
    let (status, location) = send("Pressure fine").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some(ticket_path.as_str()));
    // The file joined the ticket and the run's output refers to it.
    let page = owner.get_ok(&ticket_path).await;
    assert!(page.contains("COMPLETED"), "{page}");
    let file = support::link_starting(&page, "/files/");
    let download = owner.http.get(format!("{}{file}", app.base)).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert!(download.headers().get("content-disposition").unwrap().to_str().unwrap().contains("boiler.png"));
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"\x89PNG boiler");
    let file_id: i64 = file.trim_start_matches("/files/").parse().unwrap();
    let ticket_id: i64 = ticket_path.trim_start_matches("/tickets/").parse().unwrap();
    let ticket = app.store.ticket(company, ticketflower_store::TicketId(ticket_id)).await.unwrap();
    let view = app.store.instance(company, ticket.instance.unwrap()).await.unwrap();
    let run = view.runs.iter().find(|r| r.task == "inspect").unwrap();
    assert_eq!(run.output.as_ref().unwrap()["photo"]["file_id"], file_id, "{:?}", run.output);
}
