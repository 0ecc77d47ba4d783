//! `/definitions`: the workflow definitions with their versions, the detail
//! page (fields, ticket types, tasks, transitions and the diagram) and the
//! diagram as an SVG file. Viewing needs `ticket_admin` or `workflow_creator`.

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{WebError, WebResult, form_back};
use crate::forms;
use crate::layout::{Page, status_pill, time};
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};
use serde_json::Value;
use ticketflower_core::Definition;
use ticketflower_core::definition::{Assign, AssignPolicy, AssignTarget, Source, Target};
use ticketflower_core::diagram::{self, DiagramOptions};
use ticketflower_store::{Permission, VersionSummary};

fn require_view(user: &CurrentUser) -> WebResult<()> {
    user.require_any(&[Permission::WorkflowCreator, Permission::TicketAdmin])
}

pub async fn index(State(state): State<AppState>, user: CurrentUser) -> WebResult<Page> {
    require_view(&user)?;
    let versions = state.store.list_versions(user.company()).await?;
    let mut keys: Vec<&str> = versions.iter().map(|v| v.key.as_str()).collect();
    keys.dedup();
    let body = html! {
        div.page-head {
            h1 { "Workflows" }
            @if user.has(Permission::WorkflowCreator) {
                div.actions { a.button href="/definitions/create" { "New workflow" } a.button href="/definitions/new" { "Upload a document" } }
            }
        }
        @if versions.is_empty() { div.empty { "No workflows yet." } }
        @else {
            table.list {
                thead { tr { th { "Workflow" } th { "Key" } th { "Active" } th { "Latest" } th { "Versions" } } }
                tbody {
                    @for key in &keys {
                        @let of_key: Vec<&VersionSummary> = versions.iter().filter(|v| v.key == *key).collect();
                        @let active = of_key.iter().find(|v| v.status == ticketflower_store::DefinitionStatus::Active);
                        @let latest = of_key[0];
                        tr {
                            td { a href={ "/definitions/" (key) } { (latest.title) } }
                            td { code { (key) } }
                            td { @if let Some(active) = active { "v" (active.version) } @else { span.muted { "none" } } }
                            td { "v" (latest.version) " " (status_pill(latest.status.as_str())) }
                            td { (of_key.len()) }
                        }
                    }
                }
            }
        }
    };
    Ok(Page::new("Workflows", &user, body))
}

/// The versions of one key, newest first (404 when there are none).
async fn versions_of(state: &AppState, user: &CurrentUser, key: &str) -> WebResult<Vec<VersionSummary>> {
    let versions: Vec<_> =
        state.store.list_versions(user.company()).await?.into_iter().filter(|v| v.key == key).collect();
    if versions.is_empty() { Err(WebError::NotFound) } else { Ok(versions) }
}

pub async fn show(State(state): State<AppState>, user: CurrentUser, Path(key): Path<String>) -> WebResult<Response> {
    require_view(&user)?;
    let versions = versions_of(&state, &user, &key).await?;
    let shown =
        versions.iter().find(|v| v.status == ticketflower_store::DefinitionStatus::Active).unwrap_or(&versions[0]);
    version_page(&state, &user, &versions, shown).await.map(IntoResponse::into_response)
}

pub async fn version(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((key, number)): Path<(String, i64)>,
) -> WebResult<Page> {
    require_view(&user)?;
    let versions = versions_of(&state, &user, &key).await?;
    let shown = versions.iter().find(|v| v.version == number).ok_or(WebError::NotFound)?;
    version_page(&state, &user, &versions, shown).await
}

pub async fn diagram(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((key, number)): Path<(String, i64)>,
) -> WebResult<Response> {
    require_view(&user)?;
    let versions = versions_of(&state, &user, &key).await?;
    let shown = versions.iter().find(|v| v.version == number).ok_or(WebError::NotFound)?;
    let definition = state.store.definition(user.company(), shown.version_id).await?;
    let svg = diagram::render_svg(&definition, &DiagramOptions::default());
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response())
}

fn source_name(definition: &Definition, source: Source) -> String {
    definition.source_name(source).to_owned()
}

fn target_name(definition: &Definition, target: &Target) -> Markup {
    match target {
        Target::Task(index) => html! { code { (definition.tasks[*index].key) } },
        Target::Status(status) => status_pill(status.as_str()),
    }
}

/// Who works a task, in words.
fn who(assign: Option<&Assign>) -> String {
    let Some(assign) = assign else { return "—".into() };
    let target = match &assign.target {
        AssignTarget::Role(role) => format!("role {role}"),
        AssignTarget::Users(users) => users.join(", "),
        AssignTarget::Initiator => "the ticket's creator".into(),
        AssignTarget::Field(path) => format!("the user in {path}"),
    };
    match assign.policy {
        AssignPolicy::Pool => target,
        AssignPolicy::RoundRobin => format!("{target}, round robin"),
        AssignPolicy::LeastLoaded => format!("{target}, least loaded"),
    }
}

/// A transition's condition in words and as written (compact JSON), or
/// `None` when it has none (it always fires).
fn condition_text(definition: &Definition, index: usize) -> Option<(String, String)> {
    definition
        .source()
        .get("transitions")
        .and_then(|t| t.get(index))
        .and_then(|t| t.get("when"))
        .map(|when| (ticketflower_core::condition::in_words(when), when.to_string()))
}

async fn version_page(
    state: &AppState,
    user: &CurrentUser,
    versions: &[VersionSummary],
    shown: &VersionSummary,
) -> WebResult<Page> {
    let definition = state.store.definition(user.company(), shown.version_id).await?;
    let prefix = format!("/definitions/{}/versions/{}/tasks/", shown.key, shown.version);
    let svg = diagram::render_svg(&definition, &DiagramOptions { states: None, link_prefix: Some(&prefix) });
    let fields = definition.fields.as_ref().map(|s| s.source().clone()).unwrap_or(Value::Null);
    let body = html! {
        div.page-head {
            h1 { (definition.title) }
            (status_pill(shown.status.as_str()))
            span.muted { "v" (shown.version) " · " code { (shown.key) } }
            (version_actions(user, shown, versions[0].version))
        }
        @if let Some(description) = &definition.description { p { (description) } }
        div.tabs {
            @for version in versions {
                a class=[(version.version == shown.version).then_some("current")]
                    href={ "/definitions/" (version.key) "/versions/" (version.version) } {
                    "v" (version.version) " " (version.status.as_str().to_lowercase())
                }
            }
        }
        section { h2 { "Diagram" } div.diagram { (PreEscaped(svg)) } }
        div.grid {
            div {
                section.card {
                    h2 { "Tasks" }
                    table.list {
                        thead { tr { th { "Task" } th { "Type" } th { "Who" } th { "Due" } } }
                        tbody {
                            @for task in &definition.tasks {
                                tr {
                                    td { a href={ (prefix) (task.key) } { strong { (task.title) } } br; code { (task.key) } }
                                    td { (task.kind.as_str()) }
                                    td { (who(task.assign.as_ref())) }
                                    td { (task.due_seconds.map(|s| format!("{} h", s / 3600)).unwrap_or_else(|| "—".into())) }
                                }
                            }
                        }
                    }
                }
                section.card {
                    h2 { "Transitions" }
                    table.list {
                        thead { tr { th { "From" } th { "To" } th { "When" } th { "Priority" } } }
                        tbody {
                            @for (index, transition) in definition.transitions.iter().enumerate() {
                                tr {
                                    td { a href={ "/definitions/" (shown.key) "/versions/" (shown.version) "/transitions/" (index) } { code { (source_name(&definition, transition.from)) } } }
                                    td { (target_name(&definition, &transition.target)) }
                                    td {
                                        @match condition_text(&definition, index) {
                                            Some((words, json)) => span title=(json) { (words) },
                                            None => span.muted { "always" },
                                        }
                                    }
                                    td { (transition.priority) }
                                }
                            }
                        }
                    }
                }
            }
            aside {
                section.card {
                    h2 { "Ticket types" }
                    @for ticket_type in &definition.tickets {
                        h3 { a href={ "/definitions/" (shown.key) "/versions/" (shown.version) "/ticket-types/" (ticket_type.key) } { (ticket_type.title) } " " code { (ticket_type.key) } }
                        @if !ticket_type.role_access.is_empty() { p.muted { "Roles: " (ticket_type.role_access.join(", ")) } }
                    }
                }
                section.card {
                    h2 { "Fields" }
                    (forms::render_value(&Value::Null, &fields.get("properties").cloned().unwrap_or(Value::Null)))
                }
                section.card {
                    h2 { "Version" }
                    p { "Created " (time(shown.created_at)) }
                }
            }
        }
    };
    Ok(Page::new(definition.title.clone(), user, body))
}

fn require_edit(user: &CurrentUser) -> WebResult<()> {
    user.require(Permission::WorkflowCreator)
}

/// The buttons of a version page (for workflow creators).
pub fn version_actions(user: &CurrentUser, shown: &VersionSummary, latest: i64) -> Markup {
    let base = format!("/definitions/{}/versions/{}", shown.key, shown.version);
    html! {
        div.actions {
            a.button href={ (base) "/download" } { "Download YAML" }
            a.button href={ (base) "/download?format=json" } { "JSON" }
            @if shown.version > 1 { a.button href={ "/definitions/" (shown.key) "/diff?from=" (shown.version - 1) "&to=" (shown.version) } { "Changes" } }
            a.button href={ (base) "/simulate" } { "Simulate" }
            @if user.has(Permission::WorkflowCreator) {
                @if shown.version == latest { a.button href={ "/definitions/" (shown.key) "/edit" } { "Edit" } }
                @if shown.status != ticketflower_store::DefinitionStatus::Active {
                    form.inline method="post" action={ (base) "/activate" } {
                        (crate::layout::csrf_field(user))
                        button.button.primary type="submit" { "Activate" }
                    }
                }
                @if shown.status != ticketflower_store::DefinitionStatus::Archived {
                    form.inline method="post" action={ (base) "/archive" } {
                        (crate::layout::csrf_field(user))
                        button.button.danger type="submit" { "Archive" }
                    }
                }
            }
        }
    }
}

/// `GET /definitions/new`: upload a whole document.
pub async fn new_get(user: CurrentUser) -> WebResult<Page> {
    require_edit(&user)?;
    Ok(Page::new("Upload a workflow", &user, upload_form(&user, "", None)))
}

pub(crate) fn upload_form(user: &CurrentUser, text: &str, problems: Option<Markup>) -> Markup {
    html! {
        div.page-head {
            h1 { "Upload a workflow" }
            div.actions { a.button href="/definitions/create" { "Start from a blank form instead" } }
        }
        p.muted { "Paste a definition document (YAML or JSON, format: ticketflower/v1) or choose a file. It is saved as a new draft version; nothing runs until you activate it." }
        @if let Some(problems) = problems {
            div.alert.alert-error role="alert" { "The document has problems; nothing was saved. Each one is shown under the part it is about." }
            (problems)
        }
        form.card method="post" action="/definitions/upload" enctype="multipart/form-data" {
            (crate::layout::csrf_field(user))
            div.field {
                label.field-label for="document" { "Document" }
                textarea #document name="document" rows="18" spellcheck="false" { (text) }
            }
            div.field {
                label.field-label for="file" { "…or a file" }
                input #file type="file" name="file" accept=".yaml,.yml,.json";
            }
            button.button.primary type="submit" { "Check and save as draft" }
        }
    }
}

pub async fn upload_post(State(state): State<AppState>, posted: crate::posted::Posted) -> WebResult<Response> {
    let user = &posted.user;
    require_edit(user)?;
    let (text, file_name) = match posted.uploads.first() {
        Some(upload) => (String::from_utf8_lossy(&upload.bytes).into_owned(), Some(upload.file_name.clone())),
        None => (posted.text("document").to_owned(), None),
    };
    let syntax = ticketflower_core::document::Syntax::detect(file_name.as_deref(), &text);
    let document = match ticketflower_core::document::parse(&text, syntax) {
        Ok(document) => document,
        Err(problem) => {
            let shown = super::definition_documents::problem_list(std::slice::from_ref(&problem));
            let page = Page::new("Upload a workflow", user, upload_form(user, &text, Some(shown)));
            return Ok(form_back(page, &[problem]));
        }
    };
    match state.store.import_definition(user.company(), &document, Some(user.id())).await {
        Ok(imported) => Ok(axum::response::Redirect::to(&format!(
            "/definitions/{}/versions/{}?saved=1",
            imported.key, imported.version
        ))
        .into_response()),
        Err(ticketflower_store::StoreError::Invalid(problems)) => {
            let annotated = super::definition_documents::annotated(&document, &problems);
            let page = Page::new("Upload a workflow", user, upload_form(user, &text, Some(annotated)));
            Ok(form_back(page, &problems))
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Debug, serde::Deserialize, Default)]
pub struct DownloadQuery {
    format: Option<String>,
}

pub async fn download(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((key, number)): Path<(String, i64)>,
    axum::extract::Query(query): axum::extract::Query<DownloadQuery>,
) -> WebResult<Response> {
    require_view(&user)?;
    let document = state.store.export_definition(user.company(), &key, Some(number)).await?;
    let (body, content_type, extension) = match query.format.as_deref() {
        Some("json") => (serde_json::to_string_pretty(&document).unwrap_or_default(), "application/json", "json"),
        _ => (super::definition_documents::to_yaml(&document), "application/yaml", "yaml"),
    };
    let disposition = format!("attachment; filename=\"{key}-v{number}.{extension}\"");
    Ok(([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response())
}

pub async fn activate_post(
    State(state): State<AppState>,
    Path((key, number)): Path<(String, i64)>,
    posted: crate::posted::Posted,
) -> WebResult<Response> {
    require_edit(&posted.user)?;
    state.store.activate_version(posted.user.company(), &key, number).await?;
    Ok(axum::response::Redirect::to(&format!("/definitions/{key}/versions/{number}")).into_response())
}

pub async fn archive_post(
    State(state): State<AppState>,
    Path((key, number)): Path<(String, i64)>,
    posted: crate::posted::Posted,
) -> WebResult<Response> {
    require_edit(&posted.user)?;
    state.store.archive_version(posted.user.company(), &key, number).await?;
    Ok(axum::response::Redirect::to(&format!("/definitions/{key}/versions/{number}")).into_response())
}

#[derive(Debug, serde::Deserialize, Default)]
pub struct DiffQuery {
    from: Option<i64>,
    to: Option<i64>,
}

pub async fn diff(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(key): Path<String>,
    axum::extract::Query(query): axum::extract::Query<DiffQuery>,
) -> WebResult<Page> {
    require_view(&user)?;
    let versions = versions_of(&state, &user, &key).await?;
    let latest = versions[0].version;
    let to = query.to.unwrap_or(latest);
    let from = query.from.unwrap_or(to - 1).max(1);
    let old = state.store.export_definition(user.company(), &key, Some(from)).await?;
    let new = state.store.export_definition(user.company(), &key, Some(to)).await?;
    let body = html! {
        div.page-head {
            h1 { "Changes in " code { (key) } }
            div.actions { a.button href={ "/definitions/" (key) } { "Back to the workflow" } }
        }
        form.filters method="get" {
            div.field {
                label.field-label for="from" { "From version" }
                select #from name="from" { @for v in &versions { option value=(v.version) selected[v.version == from] { "v" (v.version) } } }
            }
            div.field {
                label.field-label for="to" { "To version" }
                select #to name="to" { @for v in &versions { option value=(v.version) selected[v.version == to] { "v" (v.version) } } }
            }
            div { button.button type="submit" { "Compare" } }
        }
        (super::definition_documents::diff(&old, &new))
    };
    Ok(Page::new(format!("Changes in {key}"), &user, body))
}

/// A task's, ticket type's or transition's own page.
pub async fn task(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((key, number, task)): Path<(String, i64, String)>,
) -> WebResult<Page> {
    require_view(&user)?;
    let (shown, definition) = shown_version(&state, &user, &key, number).await?;
    let source = definition
        .source()
        .get("tasks")
        .and_then(Value::as_array)
        .and_then(|tasks| tasks.iter().find(|t| t.get("key").and_then(Value::as_str) == Some(task.as_str())))
        .cloned()
        .ok_or(WebError::NotFound)?;
    let index = definition.task_index(&task).ok_or(WebError::NotFound)?;
    let incoming: Vec<usize> = definition
        .transitions
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.target, Target::Task(i) if i == index))
        .map(|(i, _)| i)
        .collect();
    let outgoing: Vec<usize> = definition
        .transitions
        .iter()
        .enumerate()
        .filter(|(_, t)| t.from == Source::Task(index))
        .map(|(i, _)| i)
        .collect();
    let body = html! {
        div.page-head {
            h1 { (definition.tasks[index].title) }
            span.muted { "task " code { (task) } " of " a href={ "/definitions/" (key) "/versions/" (number) } { (definition.title) " v" (shown.version) } }
        }
        div.grid {
            section.card { h2 { "Definition" } pre { (super::definition_documents::to_yaml(&source)) } }
            aside {
                section.card {
                    h2 { "Comes from" }
                    ul { @for i in &incoming { li { a href={ "/definitions/" (key) "/versions/" (number) "/transitions/" (i) } { (source_name(&definition, definition.transitions[*i].from)) } } } }
                    @if incoming.is_empty() { p.muted { "Nothing leads here (it starts by depends_on or watch)." } }
                    h2 { "Goes to" }
                    ul { @for i in &outgoing { li { a href={ "/definitions/" (key) "/versions/" (number) "/transitions/" (i) } { (target_name(&definition, &definition.transitions[*i].target)) } } } }
                }
            }
        }
    };
    Ok(Page::new(definition.tasks[index].title.clone(), &user, body))
}

pub async fn ticket_type(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((key, number, ticket_type)): Path<(String, i64, String)>,
) -> WebResult<Page> {
    require_view(&user)?;
    let (_, definition) = shown_version(&state, &user, &key, number).await?;
    let found = definition.ticket_type(&ticket_type).ok_or(WebError::NotFound)?;
    let source = definition
        .source()
        .get("tickets")
        .and_then(Value::as_array)
        .and_then(|types| types.iter().find(|t| t.get("key").and_then(Value::as_str) == Some(ticket_type.as_str())))
        .cloned()
        .unwrap_or(Value::Null);
    let body = html! {
        div.page-head { h1 { (found.title) } span.muted { "ticket type " code { (found.key) } } }
        div.grid {
            section.card { h2 { "Definition" } pre { (super::definition_documents::to_yaml(&source)) } }
            aside { section.card { h2 { "The form people fill in" } (forms::render_fields(found.fields.source(), &Value::Null, &[], "preview")) } }
        }
    };
    Ok(Page::new(found.title.clone(), &user, body))
}

pub async fn transition(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((key, number, index)): Path<(String, i64, usize)>,
) -> WebResult<Page> {
    require_view(&user)?;
    let (_, definition) = shown_version(&state, &user, &key, number).await?;
    let found = definition.transitions.get(index).ok_or(WebError::NotFound)?;
    let source = definition.source().get("transitions").and_then(|t| t.get(index)).cloned().unwrap_or(Value::Null);
    let body = html! {
        div.page-head { h1 { "Transition " (index + 1) } span.muted { "of " a href={ "/definitions/" (key) "/versions/" (number) } { (definition.title) } } }
        section.card {
            p { "From " code { (source_name(&definition, found.from)) } " to " (target_name(&definition, &found.target)) }
            @match condition_text(&definition, index) {
                Some((words, json)) => {
                    p { "When " strong { (words) } }
                    p.muted { "As written: " code { (json) } }
                }
                None => p { "Always (no condition)" },
            }
            p { "Priority " (found.priority) }
            pre { (super::definition_documents::to_yaml(&source)) }
        }
    };
    Ok(Page::new(format!("Transition {}", index + 1), &user, body))
}

async fn shown_version(
    state: &AppState,
    user: &CurrentUser,
    key: &str,
    number: i64,
) -> WebResult<(VersionSummary, std::sync::Arc<Definition>)> {
    let versions = versions_of(state, user, key).await?;
    let shown = versions.into_iter().find(|v| v.version == number).ok_or(WebError::NotFound)?;
    let definition = state.store.definition(user.company(), shown.version_id).await?;
    Ok((shown, definition))
}

/// `GET|POST /definitions/{key}/versions/{n}/simulate`: run the version on
/// sample data without side effects (SPEC §4).
pub async fn simulate_get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((key, number)): Path<(String, i64)>,
) -> WebResult<Page> {
    require_view(&user)?;
    let (shown, definition) = shown_version(&state, &user, &key, number).await?;
    let form = SimulateForm::sample(&definition);
    let target = SimulateTarget::version(&shown, &definition);
    Ok(Page::new("Simulate", &user, simulate_page(&user, &target, &definition, &form, None)))
}

/// `GET|POST /definitions/{key}/versions/{n}/simulate`: run the version on
/// sample data without side effects (SPEC §4).
#[derive(Debug, serde::Deserialize)]
pub struct SimulateForm {
    ticket_type: String,
    data: String,
    outputs: String,
}

impl SimulateForm {
    /// Sample ticket data and one sample output per person's task.
    pub fn sample(definition: &Definition) -> Self {
        let (ticket_type, data, script) = ticketflower_core::simulate::sample_inputs(definition);
        Self {
            ticket_type: ticket_type.unwrap_or_default(),
            data: serde_json::to_string_pretty(&data).unwrap_or_default(),
            outputs: serde_json::to_string_pretty(&script.to_value()).unwrap_or_default(),
        }
    }

    pub fn posted(posted: &crate::posted::Posted) -> Self {
        Self {
            ticket_type: posted.text("ticket_type").to_owned(),
            data: posted.text("data").to_owned(),
            outputs: posted.text("outputs").to_owned(),
        }
    }
}

/// What a simulate page is about: its heading, where Back goes, where the form posts.
pub struct SimulateTarget {
    pub heading: String,
    pub back: String,
    pub action: String,
}

impl SimulateTarget {
    fn version(shown: &VersionSummary, definition: &Definition) -> Self {
        let base = format!("/definitions/{}/versions/{}", shown.key, shown.version);
        Self {
            heading: format!("Simulate {} v{}", definition.title, shown.version),
            action: format!("{base}/simulate"),
            back: base,
        }
    }
}

pub fn simulate_page(
    user: &CurrentUser,
    target: &SimulateTarget,
    definition: &Definition,
    form: &SimulateForm,
    result: Option<Markup>,
) -> Markup {
    html! {
        div.page-head {
            h1 { (target.heading) }
            div.actions { a.button href=(target.back) { "Back" } }
        }
        p.muted { "Nothing is saved and nobody is notified. People's tasks complete with the outputs below, in the order they open (task key → list of outputs); automated steps get samples from their output schema." }
        @if let Some(result) = result { (result) }
        form.card method="post" action=(target.action) {
            (crate::layout::csrf_field(user))
            div.field {
                label.field-label for="ticket_type" { "Ticket type" }
                select #ticket_type name="ticket_type" {
                    @for t in &definition.tickets { option value=(t.key) selected[t.key == form.ticket_type] { (t.title) } }
                }
            }
            div.field { label.field-label for="data" { "Ticket data (JSON)" } textarea #data name="data" rows="8" spellcheck="false" { (form.data) } }
            div.field { label.field-label for="outputs" { "Task outputs (JSON)" } textarea #outputs name="outputs" rows="10" spellcheck="false" { (form.outputs) } }
            button.button.primary type="submit" { "Run simulation" }
        }
    }
}

pub async fn simulate_post(
    State(state): State<AppState>,
    Path((key, number)): Path<(String, i64)>,
    posted: crate::posted::Posted,
) -> WebResult<Response> {
    let user = &posted.user;
    require_view(user)?;
    let (shown, definition) = shown_version(&state, user, &key, number).await?;
    let form = SimulateForm::posted(&posted);
    let (result, problems) = run_simulation(&definition, &form);
    let target = SimulateTarget::version(&shown, &definition);
    let page = Page::new("Simulate", user, simulate_page(user, &target, &definition, &form, Some(result)));
    Ok(simulation_answer(page, &problems))
}

/// A simulation's page: 200 when it ran, the form back (422) when its input had problems.
pub fn simulation_answer(page: Page, problems: &[ticketflower_core::Problem]) -> Response {
    if problems.is_empty() { page.into_response() } else { crate::error::form_back(page, problems) }
}

/// Runs the form's simulation, or lists what is wrong with its input (the
/// problems are also returned: the form goes back with them).
pub fn run_simulation(definition: &Definition, form: &SimulateForm) -> (Markup, Vec<ticketflower_core::Problem>) {
    let mut problems = Vec::new();
    let data = serde_json::from_str::<Value>(&form.data)
        .map_err(|e| problems.push(ticketflower_core::Problem::error("/data", format!("not valid JSON: {e}"))))
        .ok();
    let script = match serde_json::from_str::<Value>(if form.outputs.trim().is_empty() { "{}" } else { &form.outputs })
    {
        Ok(value) => ticketflower_core::simulate::Script::from_value(&value)
            .map_err(|e| problems.push(ticketflower_core::Problem::error("/outputs", e)))
            .ok(),
        Err(e) => {
            problems.push(ticketflower_core::Problem::error("/outputs", format!("not valid JSON: {e}")));
            None
        }
    };
    let markup = match (data, script) {
        (Some(data), Some(script)) if problems.is_empty() => {
            match ticketflower_core::simulate::simulate(definition, Some(&form.ticket_type), data, script) {
                Ok(simulation) => simulation_result(definition, &simulation),
                Err(ticketflower_core::engine::EngineError::InvalidTicket(found)) => {
                    let markup = html! { div.alert.alert-error { "The ticket data does not fit the ticket type:" } (super::definition_documents::problem_list(&found)) };
                    // The ticket's pointers are into the data field.
                    problems.extend(
                        found
                            .into_iter()
                            .map(|p| ticketflower_core::Problem { pointer: format!("/data{}", p.pointer), ..p }),
                    );
                    markup
                }
                Err(error) => {
                    problems.push(ticketflower_core::Problem::error("/ticket_type", error.to_string()));
                    html! { div.alert.alert-error { (error.to_string()) } }
                }
            }
        }
        _ => {
            html! { div.alert.alert-error { "Please correct the input:" } (super::definition_documents::problem_list(&problems)) }
        }
    };
    (markup, problems)
}

fn simulation_result(definition: &Definition, simulation: &ticketflower_core::simulate::Simulation) -> Markup {
    let title = |key: &str| definition.task(key).map(|t| t.title.clone()).unwrap_or_else(|| key.to_owned());
    let titles = |keys: &[String]| keys.iter().map(|k| title(k)).collect::<Vec<_>>().join(", ");
    html! {
        section.card {
            h2 { "Result: " (status_pill(&simulation.status.to_string())) }
            p { "Path: " (simulation.path.iter().map(|k| title(k)).collect::<Vec<_>>().join(" → ")) }
            @if !simulation.errors.is_empty() {
                div.alert.alert-error { ul { @for error in &simulation.errors { li { code { (error.kind) } " " (error.message) } } } }
            }
            @if !simulation.open.is_empty() { p.alert.alert-warn { "Still open (no scripted output left): " (titles(&simulation.open)) } }
            ol {
                @for step in &simulation.steps {
                    li {
                        strong { (title(&step.task)) } " completed with " code { (step.output.to_string()) }
                        @if step.generated { span.muted { " (generated sample)" } }
                        @if !step.activated.is_empty() { br; "→ opened " (titles(&step.activated)) }
                    }
                }
            }
            h3 { "Final data" }
            pre { (serde_json::to_string_pretty(&simulation.data).unwrap_or_default()) }
        }
    }
}
