//! `/tickets`: the list with filters, search and pagination; creating a
//! ticket through the form generated from its type's schema; the ticket page
//! with its conversation and workflow timeline interleaved; file downloads.

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{WebError, WebResult, form_back};
use crate::forms;
use crate::layout::{self, Page, csrf_field, status_pill, time};
use crate::posted::Posted;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use ticketflower_core::Definition;
use ticketflower_core::definition::{Assign, AssignTarget, TicketType};
use ticketflower_core::engine::EngineError;
use ticketflower_store::{
    CommentView, DefinitionStatus, FileId, NewComment, NewFile, NewTicket, Permission, StoreError, TicketFilter,
    TicketId, TicketScope, Visibility,
};

/// An active definition with its compiled form.
pub struct ActiveDefinition {
    pub key: String,
    pub title: String,
    pub definition: Arc<Definition>,
}

/// Every active definition of the user's company.
pub async fn active_definitions(state: &AppState, user: &CurrentUser) -> WebResult<Vec<ActiveDefinition>> {
    let mut found = Vec::new();
    for version in state.store.list_versions(user.company()).await? {
        if version.status == DefinitionStatus::Active {
            let definition = state.store.definition(user.company(), version.version_id).await?;
            found.push(ActiveDefinition { key: version.key, title: version.title, definition });
        }
    }
    Ok(found)
}

/// Whether the user may create and see tickets of this type: an unrestricted
/// type (no `role_access`), a role listed, or a ticket admin.
pub fn may_use_type(user: &CurrentUser, ticket_type: &TicketType) -> bool {
    ticket_type.role_access.is_empty()
        || user.has(Permission::TicketAdmin)
        || ticket_type.role_access.iter().any(|role| user.session.roles.contains(role))
}

#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default, rename = "type")]
    ticket_type: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    before: Option<i64>,
}

fn parse_day(text: &str) -> Option<i64> {
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

const PAGE_SIZE: u32 = 50;

/// The ticket types the user may create and see, as (key, title).
async fn visible_types(state: &AppState, user: &CurrentUser) -> WebResult<Vec<(String, String)>> {
    let mut types: Vec<(String, String)> = Vec::new();
    for active in active_definitions(state, user).await? {
        for ticket_type in &active.definition.tickets {
            if may_use_type(user, ticket_type) && !types.iter().any(|(key, _)| *key == ticket_type.key) {
                types.push((ticket_type.key.clone(), ticket_type.title.clone()));
            }
        }
    }
    Ok(types)
}

/// Which tickets the user sees: all for ticket admins; otherwise the types
/// their roles allow, their own, and those with tasks they may work.
fn scope_for(user: &CurrentUser, visible_types: &[(String, String)]) -> TicketScope {
    if user.has(Permission::TicketAdmin) {
        TicketScope::All
    } else {
        TicketScope::Restricted {
            user: user.id(),
            ticket_types: visible_types.iter().map(|(key, _)| key.clone()).collect(),
            roles: user.session.roles.clone(),
        }
    }
}

pub async fn index(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(query): Query<ListQuery>,
) -> WebResult<Page> {
    let visible_types = visible_types(&state, &user).await?;
    let scope = scope_for(&user, &visible_types);
    let users = state.store.list_users(user.company()).await?;
    let assignee = match query.assignee.as_str() {
        "" => None,
        "me" => Some(user.id()),
        other => other.parse::<i64>().ok().map(ticketflower_store::UserId),
    };
    let filter = TicketFilter {
        scope,
        ticket_type: Some(query.ticket_type.clone()).filter(|t| !t.is_empty()),
        status: Some(query.status.clone()).filter(|s| !s.is_empty()),
        assignee,
        created_from: parse_day(&query.from),
        created_to: parse_day(&query.to).map(|t| t + 86_400_000),
        search: Some(query.q.trim().to_owned()).filter(|q| !q.is_empty()),
        before: query.before.map(TicketId),
        limit: PAGE_SIZE,
    };
    let page = state.store.list_tickets(user.company(), &filter).await?;
    let next_link = page.next_before.map(|before| {
        format!(
            "/tickets?q={}&type={}&status={}&assignee={}&from={}&to={}&before={}",
            layout::url_encode(&query.q),
            layout::url_encode(&query.ticket_type),
            layout::url_encode(&query.status),
            layout::url_encode(&query.assignee),
            layout::url_encode(&query.from),
            layout::url_encode(&query.to),
            before
        )
    });
    let body = html! {
        div.page-head {
            h1 { "Tickets" }
            div.actions { a.button.primary href="/tickets/new" { "New ticket" } }
        }
        form.filters method="get" action="/tickets" role="search" {
            div.field.wide {
                label.field-label for="q" { "Search" }
                input #q type="search" name="q" value=(query.q) placeholder="Words in the title, fields or comments";
            }
            div.field {
                label.field-label for="type" { "Type" }
                select #type name="type" {
                    option value="" { "Any type" }
                    @for (key, title) in &visible_types { option value=(key) selected[*key == query.ticket_type] { (title) } }
                }
            }
            div.field {
                label.field-label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "Any status" }
                    @for status in ["IN_PROGRESS", "ON_HOLD", "COMPLETED", "CANCELLED"] {
                        option value=(status) selected[status == query.status] { (status.replace('_', " ").to_lowercase()) }
                    }
                }
            }
            div.field {
                label.field-label for="assignee" { "Assignee" }
                select #assignee name="assignee" {
                    option value="" { "Anyone" }
                    option value="me" selected[query.assignee == "me"] { "Me" }
                    @for person in &users {
                        option value=(person.id) selected[query.assignee == person.id.to_string()] { (person.display_name) }
                    }
                }
            }
            div.field { label.field-label for="from" { "Created from" } input #from type="date" name="from" value=(query.from); }
            div.field { label.field-label for="to" { "to" } input #to type="date" name="to" value=(query.to); }
            div { button.button type="submit" { "Filter" } }
        }
        @if page.tickets.is_empty() {
            div.empty { "No tickets match." }
        } @else {
            table.list {
                thead { tr { th { "#" } th { "Title" } th { "Type" } th { "Status" } th { "Created" } th { "By" } } }
                tbody {
                    @for ticket in &page.tickets {
                        tr {
                            td { (ticket.id) }
                            td { a href={ "/tickets/" (ticket.id) } { (ticket.title) } }
                            td { (type_title(&visible_types, &ticket.ticket_type)) }
                            td { (status_pill(&ticket.status)) }
                            td { (time(ticket.created_at)) }
                            td { (ticket.creator.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
        div.pager {
            @if query.before.is_some() { a.button href="/tickets" { "Newest" } }
            @if let Some(link) = next_link { a.button href=(link) { "Older →" } }
        }
    };
    Ok(Page::new("Tickets", &user, body))
}

fn type_title<'a>(types: &'a [(String, String)], key: &'a str) -> &'a str {
    types.iter().find(|(k, _)| k == key).map(|(_, title)| title.as_str()).unwrap_or(key)
}

/// `GET /tickets/new`: the ticket types the user may create.
pub async fn choose(State(state): State<AppState>, user: CurrentUser) -> WebResult<Page> {
    let definitions = active_definitions(&state, &user).await?;
    let body = html! {
        h1 { "New ticket" }
        p.muted { "Choose what you need. Each kind of ticket starts its own workflow." }
        div.choice-list {
            @for active in &definitions {
                @for ticket_type in active.definition.tickets.iter().filter(|t| may_use_type(&user, t)) {
                    a.card href={ "/tickets/new/" (active.key) "/" (ticket_type.key) } {
                        h3 { (ticket_type.title) }
                        @if let Some(description) = &ticket_type.description { p.muted { (description) } }
                        p.muted { "Workflow: " (active.title) }
                    }
                }
            }
        }
        @if definitions.is_empty() { div.empty { "No workflow is active yet. A workflow creator can activate one under Workflows." } }
    };
    Ok(Page::new("New ticket", &user, body))
}

async fn ticket_type_of(
    state: &AppState,
    user: &CurrentUser,
    definition_key: &str,
    type_key: &str,
) -> WebResult<(Arc<Definition>, usize)> {
    let version = state.store.active_version(user.company(), definition_key).await?;
    let definition = state.store.definition(user.company(), version).await?;
    let index = definition.tickets.iter().position(|t| t.key == type_key).ok_or(WebError::NotFound)?;
    if !may_use_type(user, &definition.tickets[index]) {
        return Err(WebError::Forbidden("your roles do not include this ticket type".into()));
    }
    Ok((definition, index))
}

fn ticket_form(
    user: &CurrentUser,
    definition_key: &str,
    ticket_type: &TicketType,
    values: &Value,
    problems: &[ticketflower_core::Problem],
) -> Markup {
    let schema = ticket_type.fields.source();
    html! {
        h1 { (ticket_type.title) }
        @if let Some(description) = &ticket_type.description { p.muted { (description) } }
        @if !problems.is_empty() {
            p.alert.alert-error role="alert" { "Please correct the fields marked below." }
        }
        form.card method="post" action={ "/tickets/new/" (definition_key) "/" (ticket_type.key) }
            enctype=[forms::needs_multipart(schema).then_some("multipart/form-data")] novalidate {
            (csrf_field(user))
            (forms::render_fields(schema, values, problems, ""))
            button.button.primary type="submit" { "Submit ticket" }
        }
    }
}

pub async fn new_get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((definition_key, type_key)): Path<(String, String)>,
) -> WebResult<Page> {
    let (definition, index) = ticket_type_of(&state, &user, &definition_key, &type_key).await?;
    let ticket_type = &definition.tickets[index];
    let body = ticket_form(&user, &definition_key, ticket_type, &Value::Object(Default::default()), &[]);
    Ok(Page::new(ticket_type.title.clone(), &user, body))
}

pub async fn new_post(
    State(state): State<AppState>,
    Path((definition_key, type_key)): Path<(String, String)>,
    posted: Posted,
) -> WebResult<Response> {
    let user = &posted.user;
    let (definition, index) = ticket_type_of(&state, user, &definition_key, &type_key).await?;
    let ticket_type = &definition.tickets[index];
    let schema = ticket_type.fields.source();
    let parsed = forms::parse_fields(schema, &posted.pairs, posted.uploads.clone(), "");
    let send_back = |problems: &[ticketflower_core::Problem]| {
        let body = ticket_form(user, &definition_key, ticket_type, &parsed.raw, problems);
        form_back(Page::new(ticket_type.title.clone(), user, body), problems)
    };
    // Check the whole form before any file is written, so an invalid ticket
    // leaves nothing behind.
    let problems = parsed.validate_before_storing(&ticket_type.fields);
    if !problems.is_empty() {
        return Ok(send_back(&problems));
    }
    let mut fields = parsed.value;
    let mut stored_files = Vec::new();
    for (pointer, upload) in &parsed.files {
        let id = store_upload(&state, user, None, upload).await?;
        stored_files.push(id);
        forms::set_pointer(&mut fields, pointer, forms::file_reference(id.0, upload));
    }
    let created = state
        .store
        .create_ticket(
            user.company(),
            NewTicket {
                definition: definition_key.clone(),
                ticket_type: type_key.clone(),
                fields,
                creator: Some(user.id()),
            },
        )
        .await;
    let created = match created {
        Ok(created) => created,
        Err(StoreError::Invalid(problems)) | Err(StoreError::Engine(EngineError::InvalidTicket(problems))) => {
            return Ok(send_back(&problems));
        }
        Err(other) => return Err(other.into()),
    };
    if !stored_files.is_empty() {
        state.store.attach_files(user.company(), &stored_files, created.ticket).await?;
    }
    state.live.publish(user.company(), created.instance);
    Ok(Redirect::to(&format!("/tickets/{}?created=1", created.ticket)).into_response())
}

/// Writes an upload under the data directory and records it.
pub(crate) async fn store_upload(
    state: &AppState,
    user: &CurrentUser,
    ticket: Option<TicketId>,
    upload: &forms::Upload,
) -> WebResult<FileId> {
    let file = write_upload(state, user, ticket, upload).await?;
    Ok(state.store.add_file(user.company(), file).await?)
}

async fn write_upload(
    state: &AppState,
    user: &CurrentUser,
    ticket: Option<TicketId>,
    upload: &forms::Upload,
) -> WebResult<NewFile> {
    let folder = state.settings.files_dir.join(user.company().to_string());
    tokio::fs::create_dir_all(&folder)
        .await
        .map_err(|e| WebError::Internal(format!("cannot create {folder:?}: {e}")))?;
    let name = crate::auth::random_token(16);
    let path = folder.join(&name);
    tokio::fs::write(&path, &upload.bytes)
        .await
        .map_err(|e| WebError::Internal(format!("cannot write {path:?}: {e}")))?;
    let file_name: String =
        upload.file_name.rsplit(['/', '\\']).next().unwrap_or("file").chars().filter(|c| !c.is_control()).collect();
    Ok(NewFile {
        ticket,
        file_name: if file_name.trim().is_empty() { "file".into() } else { file_name },
        content_type: upload.content_type.clone(),
        size_bytes: upload.bytes.len() as i64,
        storage_path: format!("{}/{name}", user.company()),
        created_by: Some(user.id()),
    })
}

/// Fails with 404 unless the user may see this ticket (the list's rule).
pub async fn check_ticket_access(
    state: &AppState,
    user: &CurrentUser,
    ticket: &ticketflower_store::TicketView,
) -> WebResult<()> {
    let scope = scope_for(user, &visible_types(state, user).await?);
    if state.store.ticket_visible(user.company(), ticket.id, &scope).await? { Ok(()) } else { Err(WebError::NotFound) }
}

#[derive(Debug, Deserialize, Default)]
pub struct ShowQuery {
    created: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(query): Query<ShowQuery>,
) -> WebResult<Page> {
    let ticket = state.store.ticket(user.company(), TicketId(id)).await?;
    check_ticket_access(&state, &user, &ticket).await?;
    let definition = state.store.definition(user.company(), ticket.version_id).await?;
    let ticket_type = definition.ticket_type(&ticket.ticket_type);
    let staff = is_staff(&user, &definition);
    let comments: Vec<CommentView> = state
        .store
        .comments(user.company(), ticket.id)
        .await?
        .into_iter()
        .filter(|c| staff || c.visibility == Visibility::Public)
        .collect();
    let timeline = match ticket.instance {
        Some(instance) => crate::ui::instances::timeline(&state, &user, instance, &definition).await?,
        None => Vec::new(),
    };
    let mut entries: Vec<(i64, Markup)> = timeline;
    for comment in &comments {
        entries.push((comment.created_at, comment_entry(comment)));
    }
    entries.sort_by_key(|(at, _)| *at);
    let schema = ticket_type.map(|t| t.fields.source().clone()).unwrap_or(Value::Null);
    let body = html! {
        @if query.created.is_some() { p.alert.alert-ok role="status" { "Ticket created. Its workflow has started." } }
        div.page-head {
            h1 { "#" (ticket.id) " " (ticket.title) }
            (status_pill(&ticket.status))
            div.actions {
                @if let Some(instance) = ticket.instance { a.button href={ "/instances/" (instance) } { "Workflow view" } }
            }
        }
        div.kv {
            span { "Type: " strong { (ticket_type.map(|t| t.title.as_str()).unwrap_or(&ticket.ticket_type)) } }
            span { "Workflow: " (definition.title) " v" (ticket.version) }
            span { "Created " (time(ticket.created_at)) " by " (ticket.creator_name.as_deref().unwrap_or("—")) }
        }
        div.grid {
            div {
                section.card {
                    h2 { "Request" }
                    (forms::render_value(&schema, &ticket.fields))
                }
                section.card data-live-region="timeline" {
                    h2 { "Conversation and history" }
                    @if entries.is_empty() { p.muted { "Nothing yet." } }
                    ol.timeline { @for (_, entry) in &entries { (entry) } }
                }
                section.card {
                    h2 { "Reply" }
                    form method="post" action={ "/tickets/" (ticket.id) "/comments" } enctype="multipart/form-data" {
                        (csrf_field(&user))
                        div.field {
                            label.field-label for="body" { "Message" }
                            textarea #body name="body" rows="4" required placeholder="Write a reply or a note…" {}
                        }
                        div.field {
                            label.field-label for="files" { "Attachments" }
                            input #files type="file" name="files" multiple;
                        }
                        @if staff {
                            div.field.radio-group {
                                label { input type="radio" name="visibility" value="internal" checked; "Internal note (staff only)" }
                                label { input type="radio" name="visibility" value="public"; "Public reply (the requester sees it)" }
                            }
                        }
                        button.button.primary type="submit" { "Add" }
                    }
                }
            }
            aside {
                @if let Some(instance) = ticket.instance {
                    section.card data-live-url={ "/instances/" (instance) "/events" } data-revision="" {
                        h2 { span.live-dot {} "Workflow" }
                        (crate::ui::instances::summary(&state, &user, instance, &definition).await?)
                    }
                }
            }
        }
    };
    Ok(Page::new(format!("#{} {}", ticket.id, ticket.title), &user, body))
}

/// Staff of a ticket see and write internal notes: ticket and workflow admins,
/// and holders of a role the ticket's workflow assigns tasks to. Everyone else
/// (the requester, people who may only create the ticket type) sees public
/// replies only.
fn is_staff(user: &CurrentUser, definition: &Definition) -> bool {
    user.has(Permission::TicketAdmin)
        || user.has(Permission::WorkflowCreator)
        || definition.tasks.iter().any(|task| {
            matches!(&task.assign, Some(Assign { target: AssignTarget::Role(role), .. }) if user.session.roles.contains(role))
        })
}

fn comment_entry(comment: &CommentView) -> Markup {
    let internal = comment.visibility == Visibility::Internal;
    html! {
        li class={ "comment" @if internal { " internal" } } {
            div.meta {
                strong { (comment.author_name) }
                " · " (if internal { "internal note" } else { "public reply" }) " · " (time(comment.created_at))
            }
            div.body { (comment.body) }
            @if !comment.files.is_empty() {
                ul { @for file in &comment.files { li { a href={ "/files/" (file.id) } { (file.file.file_name) } " (" (file.file.size_bytes) " bytes)" } } }
            }
        }
    }
}

pub async fn comment_post(State(state): State<AppState>, Path(id): Path<i64>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    let ticket = state.store.ticket(user.company(), TicketId(id)).await?;
    check_ticket_access(&state, user, &ticket).await?;
    let definition = state.store.definition(user.company(), ticket.version_id).await?;
    let visibility = match posted.text("visibility") {
        "public" => Visibility::Public,
        _ if is_staff(user, &definition) => Visibility::Internal,
        _ => Visibility::Public,
    };
    let body = posted.text("body").trim().to_owned();
    if body.is_empty() {
        return Err(WebError::Invalid(vec![ticketflower_core::Problem::error("/body", "write a message first")]));
    }
    let mut files = Vec::new();
    for upload in &posted.uploads {
        files.push(write_upload(&state, user, Some(ticket.id), upload).await?);
    }
    state
        .store
        .add_comment(user.company(), NewComment { ticket: ticket.id, author: user.id(), body, visibility, files })
        .await?;
    if let Some(instance) = ticket.instance {
        state.live.publish(user.company(), instance);
    }
    Ok(Redirect::to(&format!("/tickets/{}", ticket.id)).into_response())
}

/// `GET /files/{id}`: a download, for people who may see its ticket.
pub async fn file(State(state): State<AppState>, user: CurrentUser, Path(id): Path<i64>) -> WebResult<Response> {
    let meta = state.store.file(user.company(), FileId(id)).await?;
    if let Some(ticket) = meta.file.ticket {
        let ticket = state.store.ticket(user.company(), ticket).await?;
        check_ticket_access(&state, &user, &ticket).await?;
        // An internal note's attachment is as private as the note.
        if meta.internal {
            let definition = state.store.definition(user.company(), ticket.version_id).await?;
            if !is_staff(&user, &definition) {
                return Err(WebError::NotFound);
            }
        }
    } else if meta.file.created_by != Some(user.id()) {
        return Err(WebError::NotFound);
    }
    let path = state.settings.files_dir.join(&meta.file.storage_path);
    let bytes = tokio::fs::read(&path).await.map_err(|_| WebError::NotFound)?;
    let disposition = format!("attachment; filename=\"{}\"", meta.file.file_name.replace(['"', '\r', '\n'], "_"));
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        bytes,
    )
        .into_response())
}
