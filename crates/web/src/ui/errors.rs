//! `/errors`: the error queue for ticket admins — every ticket error with
//! filters, and review / resolve with notes.

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{WebError, WebResult};
use crate::layout::{Page, csrf_field, status_pill, time};
use crate::posted::Posted;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use ticketflower_core::definition::EndStatus;
use ticketflower_core::engine::Event;
use ticketflower_store::{Command, ErrorFilter, ErrorStatus, Permission, TicketErrorId};

#[derive(Debug, Deserialize, Default)]
pub struct ErrorQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    kind: String,
}

pub async fn index(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<ErrorQuery>,
) -> WebResult<Page> {
    user.require(Permission::TicketAdmin)?;
    let filter = ErrorFilter {
        status: Some(query.status.clone()).filter(|s| !s.is_empty()),
        kind: Some(query.kind.clone()).filter(|k| !k.is_empty()),
        ticket: None,
        limit: 200,
    };
    let errors = state.store.ticket_errors(user.company(), &filter).await?;
    let body = html! {
        h1 { "Errors" }
        form.filters method="get" action="/errors" {
            div.field {
                label.field-label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "Any" }
                    @for status in ["NEW", "REVIEWED", "RESOLVED"] { option value=(status) selected[query.status == status] { (status.to_lowercase()) } }
                }
            }
            div.field {
                label.field-label for="kind" { "Kind" }
                select #kind name="kind" {
                    option value="" { "Any" }
                    @for kind in ["WORKFLOW_CREATION", "TASK_CREATION", "TASK_UPDATE", "WORKFLOW_TRANSITION"] {
                        option value=(kind) selected[query.kind == kind] { (kind) }
                    }
                }
            }
            div { button.button type="submit" { "Filter" } }
        }
        @if errors.is_empty() { div.empty { "No errors. Everything is running." } }
        @else {
            table.list {
                thead { tr { th { "#" } th { "Kind" } th { "Message" } th { "Ticket" } th { "Status" } th { "When" } } }
                tbody {
                    @for error in &errors {
                        tr {
                            td { a href={ "/errors/" (error.id) } { (error.id) } }
                            td { code { (error.kind) } }
                            td { a href={ "/errors/" (error.id) } { (error.message) } }
                            td { @if let Some(ticket) = error.ticket { a href={ "/tickets/" (ticket) } { "#" (ticket) " " (error.ticket_title.as_deref().unwrap_or("")) } } }
                            td { (status_pill(&error.status)) }
                            td { (time(error.created_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(Page::new("Errors", &user, body))
}

pub async fn show(State(state): State<AppState>, user: CurrentUser, Path(id): Path<i64>) -> WebResult<Page> {
    user.require(Permission::TicketAdmin)?;
    let error = state.store.ticket_error(user.company(), TicketErrorId(id)).await?;
    let instance = state.store.instance(user.company(), error.instance).await?;
    let definition = match instance.ticket {
        Some(ticket) => Some(
            state
                .store
                .definition(user.company(), state.store.ticket(user.company(), ticket).await?.version_id)
                .await?,
        ),
        None => None,
    };
    let failed_run = error.run_seq.and_then(|seq| instance.runs.iter().find(|r| r.seq == seq));
    let active = matches!(instance.status.as_str(), "IN_PROGRESS" | "ON_HOLD");
    let body = html! {
        div.page-head {
            h1 { "Error #" (error.id) }
            (status_pill(&error.status))
            div.actions {
                @if let Some(ticket) = error.ticket { a.button href={ "/tickets/" (ticket) } { "Ticket #" (ticket) } }
                a.button href={ "/instances/" (error.instance) } { "Workflow view" }
            }
        }
        div.card {
            p { code { (error.kind) } " · " (time(error.created_at)) }
            p { strong { (error.message) } }
            pre { (serde_json::to_string_pretty(&error.details).unwrap_or_default()) }
            @if let Some(resolution) = &error.resolution { h3 { "Notes" } pre { (resolution) } }
        }
        @if active {
            section.card {
                h2 { "Fix it" }
                p.muted { "The workflow is " (status_pill(&instance.status)) ". Choose what should happen next; the error stays on record." }
                div.actions {
                    @if let Some(run) = failed_run {
                        form.inline method="post" action={ "/errors/" (error.id) "/action" } {
                            (csrf_field(&user))
                            input type="hidden" name="action" value="retry";
                            input type="hidden" name="run" value=(run.id);
                            button.button.primary type="submit" { "Retry “" (run.task) "”" }
                        }
                    }
                    @if instance.status == "ON_HOLD" {
                        form.inline method="post" action={ "/errors/" (error.id) "/action" } {
                            (csrf_field(&user))
                            input type="hidden" name="action" value="resume";
                            button.button.primary type="submit" { "Resume the workflow" }
                        }
                    }
                    form.inline method="post" action={ "/errors/" (error.id) "/action" } {
                        (csrf_field(&user))
                        input type="hidden" name="action" value="cancel";
                        button.button.danger type="submit" { "Cancel the workflow" }
                    }
                }
                @if let Some(definition) = &definition {
                    form method="post" action={ "/errors/" (error.id) "/action" } {
                        (csrf_field(&user))
                        input type="hidden" name="action" value="pick";
                        div.filters {
                            div.field.wide {
                                label.field-label for="target" { "Pick the next step by hand" }
                                select #target name="target" {
                                    @for task in &definition.tasks { option value={ "task:" (task.key) } { "Open “" (task.title) "”" } }
                                    @for status in ["COMPLETED", "CANCELLED", "ON_HOLD"] { option value={ "status:" (status) } { "Set the workflow " (status.to_lowercase().replace('_', " ")) } }
                                }
                            }
                            div { button.button type="submit" { "Do it" } }
                        }
                    }
                }
            }
        }
        form.card method="post" action={ "/errors/" (error.id) "/review" } {
            (csrf_field(&user))
            div.field {
                label.field-label for="note" { "Note" }
                textarea #note name="note" rows="3" placeholder="What you found or did" {}
            }
            button.button type="submit" name="status" value="REVIEWED" { "Mark reviewed" }
            " "
            button.button.primary type="submit" name="status" value="RESOLVED" { "Resolve" }
        }
    };
    Ok(Page::new(format!("Error #{}", error.id), &user, body))
}

pub async fn review_post(State(state): State<AppState>, Path(id): Path<i64>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    user.require(Permission::TicketAdmin)?;
    let status = match posted.text("status") {
        "REVIEWED" => ErrorStatus::Reviewed,
        "RESOLVED" => ErrorStatus::Resolved,
        other => return Err(WebError::BadRequest(format!("\"{other}\" is not a status to set"))),
    };
    state.store.review_error(user.company(), TicketErrorId(id), status, posted.text("note").trim(), user.id()).await?;
    Ok(Redirect::to(&format!("/errors/{id}")).into_response())
}

/// `POST /errors/{id}/action`: retry a task, pick a transition by hand,
/// cancel, or resume — each an engine event on the error's instance.
pub async fn action_post(State(state): State<AppState>, Path(id): Path<i64>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    user.require(Permission::TicketAdmin)?;
    let company = user.company();
    let error = state.store.ticket_error(company, TicketErrorId(id)).await?;
    let instance = state.store.instance(company, error.instance).await?;
    let event = match posted.text("action") {
        "retry" => {
            let run: i64 = posted.text("run").parse().map_err(|_| WebError::BadRequest("which task run?".into()))?;
            let run = instance.runs.iter().find(|r| r.id.0 == run).ok_or(WebError::NotFound)?;
            state.store.rerun_task(company, run.id, Some(user.id())).await?;
            None
        }
        "resume" => Some(Event::Resume),
        "cancel" => Some(Event::Cancel),
        "pick" => {
            let ticket = instance.ticket.ok_or(WebError::NotFound)?;
            let version = state.store.ticket(company, ticket).await?.version_id;
            let definition = state.store.definition(company, version).await?;
            match posted.text("target").split_once(':') {
                Some(("task", key)) => {
                    Some(Event::Activate { task: definition.task_index(key).ok_or(WebError::NotFound)? })
                }
                Some(("status", status)) => Some(Event::SetStatus {
                    status: match status {
                        "COMPLETED" => EndStatus::Completed,
                        "CANCELLED" => EndStatus::Cancelled,
                        "ON_HOLD" => EndStatus::OnHold,
                        other => return Err(WebError::BadRequest(format!("\"{other}\" is not a status"))),
                    },
                }),
                _ => return Err(WebError::BadRequest("choose a task or a status".into())),
            }
        }
        other => return Err(WebError::BadRequest(format!("\"{other}\" is not an action"))),
    };
    if let Some(event) = event {
        state.store.execute(Command::Apply { company, instance: instance.id, event, actor: Some(user.id()) }).await?;
    }
    state
        .store
        .review_error(
            company,
            error.id,
            ErrorStatus::Reviewed,
            &format!("action: {}", posted.text("action")),
            user.id(),
        )
        .await?;
    state.live.publish(company, instance.id);
    Ok(Redirect::to(&format!("/errors/{id}")).into_response())
}
