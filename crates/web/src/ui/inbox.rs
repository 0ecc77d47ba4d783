//! `/inbox` and `/tasks/{run}`: my tasks, my roles' unclaimed tasks (overdue
//! first), the task page with its inputs and the form generated from the
//! task's `output_schema`, and claim / release / complete.

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{WebError, WebResult, form_back};
use crate::forms;
use crate::layout::{Page, csrf_field, status_pill, time};
use crate::posted::Posted;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Value, json};
use ticketflower_core::Problem;
use ticketflower_core::definition::{Task, TaskKind};
use ticketflower_core::engine::EngineError;
use ticketflower_store::{Command, InboxItem, RunDetail, RunId, StoreError};

/// Tasks shown per section; the most urgent come first.
const INBOX_LIMIT: u32 = 50;

pub async fn index(State(state): State<AppState>, user: CurrentUser) -> WebResult<Page> {
    let inbox = state.store.inbox(user.company(), &user.worker(), INBOX_LIMIT).await?;
    let titles = task_titles(&state, &user, inbox.mine.iter().chain(&inbox.unclaimed)).await?;
    let now = ticketflower_store::now_millis();
    let table = |items: &[InboxItem], claim: bool| {
        html! {
            table.list {
                thead { tr { th { "Task" } th { "Ticket" } th { "Due" } th { "Since" } th { "" } } }
                tbody {
                    @for item in items {
                        @let overdue = item.overdue || item.due_at.is_some_and(|due| due < now);
                        tr class=[overdue.then_some("overdue")] {
                            td { a href={ "/tasks/" (item.run) } { (titles.get(&item.run).map(String::as_str).unwrap_or(&item.task_key)) } }
                            td {
                                @if let Some(ticket) = item.ticket { a href={ "/tickets/" (ticket) } { "#" (ticket) " " (item.ticket_title) } }
                                @else { (item.ticket_title) }
                            }
                            td {
                                @if overdue { span.pill.overdue { "overdue" } " " }
                                @if let Some(due) = item.due_at { (time(due)) } @else { span.muted { "—" } }
                            }
                            td { (time(item.created_at)) }
                            td {
                                @if claim {
                                    form.inline method="post" action={ "/tasks/" (item.run) "/claim" } {
                                        (csrf_field(&user))
                                        button.button.small type="submit" { "Claim" }
                                    }
                                } @else {
                                    a.button.small.primary href={ "/tasks/" (item.run) } { "Open" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    let body = html! {
        h1 { "Inbox" }
        h2 {
            "My tasks ("
            @if inbox.mine.len() as u32 >= INBOX_LIMIT { "the " (INBOX_LIMIT) " most urgent" } @else { (inbox.mine.len()) }
            ")"
        }
        @if inbox.mine.is_empty() { div.empty { "Nothing assigned to you. Claim a task below, or enjoy the quiet." } }
        @else { (table(&inbox.mine, false)) }
        h2 {
            "Unclaimed tasks for my roles ("
            @if inbox.unclaimed.len() as u32 >= INBOX_LIMIT { "the " (INBOX_LIMIT) " most urgent" } @else { (inbox.unclaimed.len()) }
            ")"
        }
        @if inbox.unclaimed.is_empty() { div.empty { "No unclaimed tasks." } }
        @else { (table(&inbox.unclaimed, true)) }
    };
    Ok(Page::new("Inbox", &user, body))
}

/// Task titles by run, from each run's definition version.
async fn task_titles<'a>(
    state: &AppState,
    user: &CurrentUser,
    items: impl Iterator<Item = &'a InboxItem>,
) -> WebResult<std::collections::HashMap<RunId, String>> {
    let mut titles = std::collections::HashMap::new();
    for item in items {
        let definition = state.store.definition(user.company(), item.version_id).await?;
        if let Some(task) = definition.task(&item.task_key) {
            titles.insert(item.run, task.title.clone());
        }
    }
    Ok(titles)
}

/// The run, if the user may see it: eligible, assigned, or a ticket admin.
async fn visible_run(state: &AppState, user: &CurrentUser, run: RunId) -> WebResult<RunDetail> {
    let detail = state.store.run_detail(user.company(), run).await?;
    let admin = user.has(ticketflower_store::Permission::TicketAdmin);
    let worked_it = detail.run.completed_by == Some(user.id());
    if detail.may_work(&user.worker()) || admin || worked_it { Ok(detail) } else { Err(WebError::NotFound) }
}

fn is_open(status: &str) -> bool {
    matches!(status, "OPEN" | "IN_PROGRESS" | "PENDING")
}

/// The schema the task's form is generated from.
fn output_schema(task: &Task) -> Value {
    match task.kind {
        TaskKind::Approval => ticketflower_core::definition::approval_output_schema(),
        _ => task.output_schema.as_ref().map(|s| s.source().clone()).unwrap_or_else(|| json!({"type": "object"})),
    }
}

async fn task_page(
    state: &AppState,
    user: &CurrentUser,
    detail: &RunDetail,
    values: &Value,
    problems: &[Problem],
) -> WebResult<Page> {
    let definition = state.store.definition(user.company(), detail.version_id).await?;
    let task = definition.task(&detail.run.task).ok_or(WebError::NotFound)?;
    let run = &detail.run;
    let open = is_open(&run.status);
    let mine = run.assignee == Some(user.id());
    let may_work = detail.may_work(&user.worker());
    let input_schema = task.input_schema.as_ref().map(|s| s.source().clone()).unwrap_or(Value::Null);
    let schema = output_schema(task);
    let assignee_name = match run.assignee {
        Some(id) => state.store.user_names(user.company(), &[id]).await?.remove(&id),
        None => None,
    };
    let body = html! {
        div.page-head {
            h1 { (task.title) }
            (status_pill(&run.status))
            div.actions {
                @if let Some(ticket) = detail.ticket { a.button href={ "/tickets/" (ticket) } { "Ticket #" (ticket) } }
                a.button href={ "/instances/" (detail.instance) } { "Workflow view" }
            }
        }
        div.kv {
            span { "Ticket: " strong { (detail.ticket_title) } }
            span { "Run " (run.run) " of task " code { (run.task) } }
            @if let Some(due) = run.due_at { span { "Due " (time(due)) } }
            span { "Assigned to: " (assignee_name.as_deref().unwrap_or("nobody yet")) }
        }
        @if let Some(description) = &task.description { p { (description) } }
        div.grid {
            div {
                @if open && may_work && !mine && run.assignee.is_none() {
                    div.card {
                        p { "This task is waiting for someone to take it." }
                        form.inline method="post" action={ "/tasks/" (run.id) "/claim" } {
                            (csrf_field(user))
                            button.button.primary type="submit" { "Claim" }
                        }
                    }
                }
                @if open && may_work {
                    @if !problems.is_empty() { p.alert.alert-error role="alert" { "Please correct the fields marked below." } }
                    form.card method="post" action={ "/tasks/" (run.id) "/complete" }
                        enctype=[forms::needs_multipart(&schema).then_some("multipart/form-data")] novalidate {
                        (csrf_field(user))
                        @if task.kind == TaskKind::Approval {
                            (approval_fields(values, problems))
                            div.actions {
                                button.button.ok type="submit" name="decision" value="approved" { "Approve" }
                                " "
                                button.button.danger type="submit" name="decision" value="rejected" { "Reject" }
                            }
                        } @else {
                            (forms::render_fields(&schema, values, problems, ""))
                            button.button.primary type="submit" { "Complete task" }
                        }
                    }
                    @if mine && run.assignee.is_some() {
                        form.inline method="post" action={ "/tasks/" (run.id) "/release" } {
                            (csrf_field(user))
                            button.link type="submit" { "Give this task back to the pool" }
                        }
                    }
                } @else if !open {
                    div.card {
                        h2 { "Result" }
                        @if let Some(output) = &run.output { (forms::render_value(&schema, output)) } @else { p.muted { "No output." } }
                    }
                } @else {
                    div.card { p.muted { "This task is assigned to someone else." } }
                }
            }
            aside {
                section.card {
                    h2 { "Inputs" }
                    (forms::render_value(&input_schema, &run.input))
                }
            }
        }
    };
    Ok(Page::new(task.title.clone(), user, body))
}

fn approval_fields(values: &Value, problems: &[Problem]) -> Markup {
    let comment = values.get("comment").and_then(Value::as_str).unwrap_or_default();
    html! {
        @for problem in problems.iter().filter(|p| p.pointer != "/comment") { p.field-error { (problem.message) } }
        div.field {
            label.field-label for="comment" { "Comment" }
            textarea #comment name="comment" rows="4" placeholder="Why? (shown in the ticket's history)" { (comment) }
            @for problem in problems.iter().filter(|p| p.pointer == "/comment") { p.field-error { (problem.message) } }
        }
    }
}

pub async fn show(State(state): State<AppState>, user: CurrentUser, Path(run): Path<i64>) -> WebResult<Page> {
    let detail = visible_run(&state, &user, RunId(run)).await?;
    let values = Value::Object(Default::default());
    task_page(&state, &user, &detail, &values, &[]).await
}

pub async fn claim_post(State(state): State<AppState>, Path(run): Path<i64>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    let detail = visible_run(&state, user, RunId(run)).await?;
    state.store.claim_run(user.company(), detail.run.id, &user.worker()).await?;
    state.live.publish(user.company(), detail.instance);
    Ok(Redirect::to(&format!("/tasks/{run}")).into_response())
}

pub async fn release_post(State(state): State<AppState>, Path(run): Path<i64>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    let detail = visible_run(&state, user, RunId(run)).await?;
    state.store.release_run(user.company(), detail.run.id, &user.worker()).await?;
    state.live.publish(user.company(), detail.instance);
    Ok(Redirect::to("/inbox").into_response())
}

pub async fn complete_post(State(state): State<AppState>, Path(run): Path<i64>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    let detail = visible_run(&state, user, RunId(run)).await?;
    if !detail.may_work(&user.worker()) {
        return Err(WebError::Forbidden("this task is not yours to complete".into()));
    }
    if !is_open(&detail.run.status) {
        return Err(WebError::Conflict("this task is already done".into()));
    }
    let definition = state.store.definition(user.company(), detail.version_id).await?;
    let task = definition.task(&detail.run.task).ok_or(WebError::NotFound)?;
    // The output is checked in full before the task is claimed, so an invalid
    // one changes nothing.
    let (output, raw, problems, files) = if task.kind == TaskKind::Approval {
        let decision = posted.text("decision");
        let comment = posted.text("comment").trim();
        let mut output = json!({ "decision": decision });
        if !comment.is_empty() {
            output["comment"] = json!(comment);
        }
        let problems =
            task.output_schema.as_ref().and_then(|schema| schema.validate(&output).err()).unwrap_or_default();
        (output.clone(), output, problems, Vec::new())
    } else {
        let parsed = forms::parse_fields(&output_schema(task), &posted.pairs, posted.uploads.clone(), "");
        // Checked as if every upload were stored, before any file is written.
        let problems = match &task.output_schema {
            Some(schema) => parsed.validate_before_storing(schema),
            None => parsed.problems.clone(),
        };
        (parsed.value, parsed.raw, problems, parsed.files)
    };
    if !problems.is_empty() {
        return Ok(form_back(task_page(&state, user, &detail, &raw, &problems).await?, &problems));
    }
    // Claim on completion when the task was still in the pool.
    if detail.run.assignee.is_none() {
        match state.store.claim_run(user.company(), detail.run.id, &user.worker()).await {
            Ok(()) => {}
            Err(StoreError::Conflict(message)) => return Err(WebError::Conflict(message)),
            Err(other) => return Err(other.into()),
        }
    }
    // Once the task is this user's, uploads for file fields are stored under
    // the data directory and the output holds a reference to each; they join
    // the ticket once the task is done.
    let mut output = output;
    let mut stored_files = Vec::new();
    for (pointer, upload) in &files {
        let id = super::tickets::store_upload(&state, user, None, upload).await?;
        stored_files.push(id);
        forms::set_pointer(&mut output, pointer, forms::file_reference(id.0, upload));
    }
    let outcome = state
        .store
        .execute(Command::Complete { company: user.company(), run: detail.run.id, output, actor: Some(user.id()) })
        .await;
    match outcome {
        Ok(outcome) => {
            if let (Some(ticket), false) = (detail.ticket, stored_files.is_empty()) {
                state.store.attach_files(user.company(), &stored_files, ticket).await?;
            }
            state.live.publish(user.company(), outcome.instance);
            let target = match detail.ticket {
                Some(ticket) => format!("/tickets/{ticket}"),
                None => "/inbox".into(),
            };
            Ok(Redirect::to(&target).into_response())
        }
        Err(StoreError::Engine(EngineError::InvalidOutput(problems))) => {
            Ok(form_back(task_page(&state, user, &detail, &raw, &problems).await?, &problems))
        }
        Err(other) => Err(other.into()),
    }
}
