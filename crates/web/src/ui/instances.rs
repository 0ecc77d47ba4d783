//! `/instances/{id}`: a workflow instance live — the definition's diagram with
//! each task's state and run count, the data, every data change, the runs and
//! the errors. Also the pieces the ticket page reuses (summary, timeline).

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{WebError, WebResult};
use crate::forms;
use crate::layout::{Page, status_pill, time};
use axum::extract::{Path, State};
use maud::{Markup, html};
use serde_json::Value;
use std::collections::HashMap;
use ticketflower_core::Definition;
use ticketflower_core::diagram::{self, DiagramOptions, TaskBadge, TaskState};
use ticketflower_store::{InstanceId, InstanceView, Permission, UserId};

/// The instance, if the user may see it: ticket and workflow admins, or
/// whoever may see its ticket.
pub async fn check_access(state: &AppState, user: &CurrentUser, id: InstanceId) -> WebResult<InstanceView> {
    let view = state.store.instance(user.company(), id).await?;
    if user.has(Permission::TicketAdmin) || user.has(Permission::WorkflowCreator) {
        return Ok(view);
    }
    match view.ticket {
        Some(ticket) => {
            let ticket = state.store.ticket(user.company(), ticket).await?;
            crate::ui::tickets::check_ticket_access(state, user, &ticket).await?;
            Ok(view)
        }
        None => Err(WebError::NotFound),
    }
}

/// Each task's live badge and run count.
pub fn task_states(view: &InstanceView) -> HashMap<String, TaskState> {
    let mut states: HashMap<String, TaskState> = HashMap::new();
    for run in &view.runs {
        let entry = states.entry(run.task.clone()).or_insert(TaskState { status: TaskBadge::Idle, runs: 0 });
        entry.runs += 1;
        // The latest run decides the badge.
        entry.status = match run.status.as_str() {
            "OPEN" | "IN_PROGRESS" | "PENDING" => TaskBadge::Open,
            "COMPLETED" => TaskBadge::Done,
            "ERROR" => TaskBadge::Error,
            _ => TaskBadge::Cancelled,
        };
    }
    states
}

fn live_diagram(definition: &Definition, view: &InstanceView) -> Markup {
    let states = task_states(view);
    let svg = diagram::render_svg(definition, &DiagramOptions { states: Some(&states), link_prefix: None });
    html! { div.diagram { (maud::PreEscaped(svg)) } }
}

async fn names(
    state: &AppState,
    user: &CurrentUser,
    ids: impl Iterator<Item = UserId>,
) -> WebResult<HashMap<UserId, String>> {
    let mut ids: Vec<UserId> = ids.collect();
    ids.sort();
    ids.dedup();
    Ok(state.store.user_names(user.company(), &ids).await?)
}

/// A value in a data change: text as it is, a file reference as a link to the file.
fn short(value: &Option<Value>) -> Markup {
    match value {
        None => html! { "—" },
        Some(Value::String(text)) => html! { (text) },
        Some(reference) if forms::is_file_reference(reference) => forms::file_link(reference),
        Some(other) => html! { (other.to_string()) },
    }
}

pub async fn show(State(state): State<AppState>, user: CurrentUser, Path(id): Path<i64>) -> WebResult<Page> {
    let view = check_access(&state, &user, InstanceId(id)).await?;
    let version = match view.ticket {
        Some(ticket) => state.store.ticket(user.company(), ticket).await?.version_id,
        None => return Err(WebError::NotFound),
    };
    let definition = state.store.definition(user.company(), version).await?;
    let history = state.store.field_history(user.company(), view.id, None).await?;
    let errors = state.store.instance_errors(user.company(), view.id).await?;
    let people = names(
        &state,
        &user,
        history.iter().filter_map(|h| h.actor).chain(view.runs.iter().filter_map(|r| r.assignee.or(r.completed_by))),
    )
    .await?;
    let fields = definition.fields.as_ref().map(|s| s.source().clone()).unwrap_or(Value::Null);
    let body = html! {
        div data-live-url={ "/instances/" (view.id) "/events" } data-revision=(view.revision) {}
        div.page-head {
            h1 { span.live-dot {} (definition.title) " — instance " (view.id) }
            (status_pill(&view.status))
            div.actions {
                @if let Some(ticket) = view.ticket { a.button href={ "/tickets/" (ticket) } { "Ticket #" (ticket) } }
            }
        }
        div data-live-region="instance" {
            (live_diagram(&definition, &view))
            div.grid {
                div {
                    section.card {
                        h2 { "Task runs" }
                        table.list {
                            thead { tr { th { "#" } th { "Task" } th { "Status" } th { "Run" } th { "Who" } } }
                            tbody {
                                @for run in &view.runs {
                                    tr {
                                        td { (run.seq) }
                                        td { a href={ "/tasks/" (run.id) } { (definition.task(&run.task).map(|t| t.title.as_str()).unwrap_or(&run.task)) } }
                                        td { (status_pill(&run.status)) }
                                        td { (run.run) }
                                        td { (run.completed_by.or(run.assignee).and_then(|u| people.get(&u)).map(String::as_str).unwrap_or("—")) }
                                    }
                                }
                            }
                        }
                    }
                    section.card {
                        h2 { "Data changes" }
                        @if history.is_empty() { p.muted { "No data written yet." } }
                        @else {
                            table.list {
                                thead { tr { th { "Field" } th { "Change" } th { "By" } th { "When" } } }
                                tbody {
                                    @for entry in &history {
                                        tr {
                                            td { code { (entry.path) } }
                                            td.change { del { (short(&entry.old)) } " → " ins { (short(&entry.new)) } }
                                            td {
                                                (entry.actor.and_then(|u| people.get(&u)).map(String::as_str).unwrap_or(&entry.source))
                                                @if let Some(seq) = entry.run_seq { span.muted { " (run #" (seq) ")" } }
                                            }
                                            td { (time(entry.at)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                aside {
                    section.card {
                        h2 { "Data" }
                        (forms::render_value(&fields, &view.data))
                    }
                    @if !errors.is_empty() {
                        section.card {
                            h2 { "Errors" }
                            ul {
                                @for error in &errors {
                                    li { a href={ "/errors/" (error.id) } { (error.kind) } ": " (error.message) " " (status_pill(&error.status)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Page::new(format!("{} — instance {}", definition.title, view.id), &user, body))
}

/// The ticket page's sidebar: status, open tasks and the live diagram.
pub async fn summary(
    state: &AppState,
    user: &CurrentUser,
    instance: InstanceId,
    definition: &Definition,
) -> WebResult<Markup> {
    let view = state.store.instance(user.company(), instance).await?;
    let open: Vec<_> =
        view.runs.iter().filter(|r| matches!(r.status.as_str(), "OPEN" | "IN_PROGRESS" | "PENDING")).collect();
    let people = names(state, user, open.iter().filter_map(|r| r.assignee)).await?;
    Ok(html! {
        div data-live-region="summary" {
            p { "Status: " (status_pill(&view.status)) }
            @if open.is_empty() { p.muted { "No open tasks." } }
            @else {
                h3 { "Open tasks" }
                ul {
                    @for run in &open {
                        li {
                            a href={ "/tasks/" (run.id) } { (definition.task(&run.task).map(|t| t.title.as_str()).unwrap_or(&run.task)) }
                            span.muted { " — " (run.assignee.and_then(|u| people.get(&u)).map(String::as_str).unwrap_or("unclaimed")) }
                        }
                    }
                }
            }
            (live_diagram(definition, &view))
        }
    })
}

/// The workflow's side of a ticket's timeline: one entry per audit event
/// (tasks opened and completed, status changes, errors) and per data change.
pub async fn timeline(
    state: &AppState,
    user: &CurrentUser,
    instance: InstanceId,
    definition: &Definition,
) -> WebResult<Vec<(i64, Markup)>> {
    let audit = state.store.instance_audit(user.company(), instance).await?;
    let history = state.store.field_history(user.company(), instance, None).await?;
    let people =
        names(state, user, audit.iter().filter_map(|a| a.actor).chain(history.iter().filter_map(|h| h.actor))).await?;
    let title = |key: &str| definition.task(key).map(|t| t.title.clone()).unwrap_or_else(|| key.to_owned());
    let mut entries = Vec::new();
    // Comments are shown as themselves on the ticket page.
    for event in audit.iter().filter(|event| event.kind != "comment_added") {
        let who = event.actor.and_then(|u| people.get(&u)).map(String::as_str).unwrap_or("the workflow");
        let changes = event.detail.get("changes").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut lines = Vec::new();
        let mut is_error = false;
        for change in &changes {
            let text = |k: &str| change.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            match text("change").as_str() {
                "task_activated" => lines.push(format!("“{}” opened", title(&text("task")))),
                "task_status" => lines.push(format!("“{}” {}", title(&text("task")), text("status").to_lowercase())),
                "instance_status" => {
                    lines.push(format!("workflow {}", text("status").replace('_', " ").to_lowercase()))
                }
                "error_raised" => {
                    is_error = true;
                    lines.push(format!("error {}: {}", text("kind"), text("message")));
                }
                _ => {}
            }
        }
        let heading = match event.kind.as_str() {
            "ticket_created" => format!("{who} created the ticket"),
            "instance_started" => "Workflow started".to_owned(),
            "task_completed" => format!("{who} completed a task"),
            "task_failed" => "An automated task failed".to_owned(),
            "task_timed_out" => "A task became overdue".to_owned(),
            "task_claimed" => format!("{who} claimed a task"),
            "task_released" => format!("{who} gave a task back"),
            "task_activated_by_hand" => format!("{who} opened a task by hand"),
            "status_set_by_hand" => format!("{who} set the workflow's status"),
            "instance_cancelled" => format!("{who} cancelled the workflow"),
            "instance_held" => format!("{who} put the workflow on hold"),
            "instance_resumed" => format!("{who} resumed the workflow"),
            "data_updated" => format!("{who} changed data"),
            "error_reviewed" => format!("{who} reviewed an error"),
            "error_resolved" => format!("{who} resolved an error"),
            other => format!("{} ({who})", other.replace(['_', '.'], " ")),
        };
        entries.push((
            event.at,
            html! {
                li class={ "event" @if is_error { " error" } @else { " task" } } {
                    div.meta { strong { (heading) } " · " (time(event.at)) }
                    @if !lines.is_empty() { div { (lines.join("; ")) } }
                }
            },
        ));
    }
    for entry in &history {
        let who = entry.actor.and_then(|u| people.get(&u)).map(String::as_str).unwrap_or(&entry.source);
        entries.push((
            entry.at,
            html! {
                li.data {
                    div.meta { "Data " code { (entry.path) } " changed by " (who) " · " (time(entry.at)) }
                    div.change { del { (short(&entry.old)) } " → " ins { (short(&entry.new)) } }
                }
            },
        ));
    }
    Ok(entries)
}
