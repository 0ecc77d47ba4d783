//! The one-page editor for a workflow: its heading fields, its ticket types,
//! tasks (each as a small YAML block) and transitions (one row each). Saving
//! assembles the document, validates it like an upload and stores a new
//! `DRAFT` version — refused when someone saved meanwhile (optimistic
//! concurrency). Problems are shown beside the block or row they are about.

use super::definition_documents::{problem_list, to_yaml};
use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{WebError, WebResult, form_back};
use crate::layout::{Page, csrf_field};
use crate::posted::Posted;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::{Map, Value, json};
use ticketflower_core::Problem;
use ticketflower_core::document::{Syntax, parse};
use ticketflower_store::{Permission, StoreError};

/// Empty rows offered for new tasks, ticket types and transitions.
const BLANK_BLOCKS: usize = 1;
const BLANK_ROWS: usize = 3;

/// What the editor shows: the form's text, split like the page.
#[derive(Debug, Clone, Default)]
struct Draft {
    base: Option<i64>,
    key: String,
    title: String,
    description: String,
    roles: String,
    fields: String,
    tickets: Vec<String>,
    tasks: Vec<String>,
    /// (from, to, when, priority, on)
    transitions: Vec<[String; 5]>,
    /// Anything else the document holds (ext_ref, triggers…), kept as YAML.
    rest: String,
}

fn yaml_block(value: &Value) -> String {
    to_yaml(value).trim_end().to_owned()
}

impl Draft {
    fn from_document(document: &Value, base: Option<i64>) -> Self {
        let text = |key: &str| document.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let list = |key: &str| document.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
        let mut rest = Map::new();
        if let Value::Object(map) = document {
            for (key, value) in map {
                if !["format", "key", "title", "description", "roles", "fields", "tickets", "tasks", "transitions"]
                    .contains(&key.as_str())
                {
                    rest.insert(key.clone(), value.clone());
                }
            }
        }
        let transitions = list("transitions")
            .iter()
            .map(|t| {
                let field = |key: &str| match t.get(key) {
                    Some(Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let target = if t.get("status").is_some() { field("status") } else { field("to") };
                let when = t.get("when").map(|w| serde_json::to_string(w).unwrap_or_default()).unwrap_or_default();
                [field("from"), target, when, field("priority"), field("on")]
            })
            .collect();
        Draft {
            base,
            key: text("key"),
            title: text("title"),
            description: text("description"),
            roles: list("roles").iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "),
            fields: document.get("fields").map(yaml_block).unwrap_or_default(),
            tickets: list("tickets").iter().map(yaml_block).collect(),
            tasks: list("tasks").iter().map(yaml_block).collect(),
            transitions,
            rest: if rest.is_empty() { String::new() } else { yaml_block(&Value::Object(rest)) },
        }
    }

    fn from_form(posted: &Posted) -> Self {
        let blocks = |name: &str| posted.all(name).map(str::to_owned).filter(|t| !t.trim().is_empty()).collect();
        let column = |name: &str| posted.all(name).map(str::to_owned).collect::<Vec<_>>();
        let (from, to, when, priority, on) =
            (column("t_from"), column("t_to"), column("t_when"), column("t_priority"), column("t_on"));
        let transitions = (0..from.len())
            .map(|i| {
                let cell = |values: &Vec<String>| values.get(i).cloned().unwrap_or_default();
                [cell(&from), cell(&to), cell(&when), cell(&priority), cell(&on)]
            })
            .filter(|row| row.iter().any(|cell| !cell.trim().is_empty()))
            .collect();
        Draft {
            base: posted.text("base").parse().ok(),
            key: posted.text("key").trim().to_owned(),
            title: posted.text("title").trim().to_owned(),
            description: posted.text("description").trim().to_owned(),
            roles: posted.text("roles").to_owned(),
            fields: posted.text("fields").to_owned(),
            tickets: blocks("ticket"),
            tasks: blocks("task"),
            transitions,
            rest: posted.text("rest").to_owned(),
        }
    }

    /// The document, plus problems for blocks that are not even YAML.
    fn to_document(&self) -> (Value, Vec<Problem>) {
        let mut problems = Vec::new();
        let mut block = |text: &str, pointer: String| -> Value {
            if text.trim().is_empty() {
                return Value::Null;
            }
            match parse(text, Syntax::Yaml) {
                Ok(value) => value,
                Err(problem) => {
                    problems.push(Problem::error(pointer, problem.message));
                    Value::Null
                }
            }
        };
        let mut document = Map::new();
        document.insert("format".into(), json!("ticketflower/v1"));
        document.insert("key".into(), json!(self.key));
        document.insert("title".into(), json!(self.title));
        if !self.description.is_empty() {
            document.insert("description".into(), json!(self.description));
        }
        let roles: Vec<&str> = self.roles.split(',').map(str::trim).filter(|r| !r.is_empty()).collect();
        if !roles.is_empty() {
            document.insert("roles".into(), json!(roles));
        }
        let fields = block(&self.fields, "/fields".into());
        if !fields.is_null() {
            document.insert("fields".into(), fields);
        }
        let tickets: Vec<Value> =
            self.tickets.iter().enumerate().map(|(i, t)| block(t, format!("/tickets/{i}"))).collect();
        document.insert("tickets".into(), Value::Array(tickets));
        let tasks: Vec<Value> = self.tasks.iter().enumerate().map(|(i, t)| block(t, format!("/tasks/{i}"))).collect();
        document.insert("tasks".into(), Value::Array(tasks));
        let mut transitions = Vec::new();
        let mut bad_priorities = Vec::new();
        for (index, [from, to, when, priority, on]) in self.transitions.iter().enumerate() {
            let mut transition = Map::new();
            transition.insert("from".into(), json!(from.trim()));
            let target = to.trim();
            if ["COMPLETED", "CANCELLED", "ON_HOLD"].contains(&target) {
                transition.insert("status".into(), json!(target));
            } else {
                transition.insert("to".into(), json!(target));
            }
            if !when.trim().is_empty() {
                let parsed = block(when, format!("/transitions/{index}/when"));
                transition.insert("when".into(), parsed);
            }
            if !priority.trim().is_empty() {
                match priority.trim().parse::<i64>() {
                    Ok(number) => {
                        transition.insert("priority".into(), json!(number));
                    }
                    Err(_) => bad_priorities.push(index),
                }
            }
            if !on.trim().is_empty() {
                transition.insert("on".into(), json!(on.trim()));
            }
            transitions.push(Value::Object(transition));
        }
        document.insert("transitions".into(), Value::Array(transitions));
        if let Value::Object(rest) = block(&self.rest, "".into()) {
            for (key, value) in rest {
                document.entry(key).or_insert(value);
            }
        }
        problems.extend(bad_priorities.into_iter().map(|index| {
            Problem::error(format!("/transitions/{index}/priority"), "the priority must be a whole number")
        }));
        (Value::Object(document), problems)
    }
}

/// Problems whose pointer is `prefix` or lies under it.
fn under<'a>(problems: &'a [Problem], prefix: &str) -> Vec<&'a Problem> {
    problems.iter().filter(|p| p.pointer == prefix || p.pointer.starts_with(&format!("{prefix}/"))).collect()
}

fn problems_here(problems: &[&Problem]) -> Markup {
    html! { @for problem in problems { p.field-error { code { (problem.pointer) } " " (problem.message) } } }
}

fn editor(user: &CurrentUser, action: &str, draft: &Draft, problems: &[Problem], creating: bool) -> Markup {
    let top: Vec<Problem> = problems
        .iter()
        .filter(|p| {
            !["/key", "/title", "/description", "/roles", "/fields", "/tickets", "/tasks", "/transitions"]
                .iter()
                .any(|prefix| p.pointer == *prefix || p.pointer.starts_with(&format!("{prefix}/")))
        })
        .cloned()
        .collect();
    let task_keys: Vec<String> = draft
        .tasks
        .iter()
        .filter_map(|t| parse(t, Syntax::Yaml).ok())
        .filter_map(|t| t.get("key").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let mut tasks = draft.tasks.clone();
    tasks.extend(std::iter::repeat_n(String::new(), BLANK_BLOCKS));
    let mut tickets = draft.tickets.clone();
    tickets.extend(std::iter::repeat_n(String::new(), BLANK_BLOCKS));
    let mut rows = draft.transitions.clone();
    rows.extend(std::iter::repeat_n(Default::default(), BLANK_ROWS));
    let text_field = |name: &str, label: &str, value: &str, readonly: bool| {
        let here = under(problems, &format!("/{name}"));
        html! {
            div.field {
                label.field-label for=(name) { (label) }
                input.input id=(name) type="text" name=(name) value=(value) readonly[readonly] aria-invalid=[(!here.is_empty()).then_some("true")];
                (problems_here(&here))
            }
        }
    };
    html! {
        div.page-head {
            h1 { @if creating { "New workflow" } @else { "Edit " (draft.title) } }
            div.actions { a.button href="/definitions/new" { "Upload a document instead" } }
        }
        @if !problems.is_empty() {
            div.alert.alert-error role="alert" { "Nothing was saved: " (problems.iter().filter(|p| p.is_error()).count()) " problem(s). Each is shown beside the part it is about." }
            @if !top.is_empty() { (problem_list(&top)) }
        }
        form method="post" action=(action) {
            (csrf_field(user))
            @if let Some(base) = draft.base { input type="hidden" name="base" value=(base); }
            section.card {
                h2 { "Workflow" }
                (text_field("key", "Key (lowercase letters, digits, - or _; shared by all versions)", &draft.key, !creating))
                (text_field("title", "Title", &draft.title, false))
                (text_field("description", "Description", &draft.description, false))
                (text_field("roles", "Roles (comma-separated)", &draft.roles, false))
                div.field {
                    label.field-label for="fields" { "Workflow data fields (JSON Schema, YAML)" }
                    textarea #fields name="fields" rows="8" spellcheck="false" { (draft.fields) }
                    (problems_here(&under(problems, "/fields")))
                }
            }
            section.card {
                h2 { "Ticket types" }
                p.muted { "One block per ticket type: key, title, fields (JSON Schema), data, role_access." }
                @for (index, text) in tickets.iter().enumerate() {
                    div.field {
                        label.field-label for={ "ticket-" (index) } { @if text.is_empty() { "New ticket type" } @else { "Ticket type " (index + 1) } }
                        textarea id={ "ticket-" (index) } name="ticket" rows=(text.lines().count().clamp(3, 14)) spellcheck="false" { (text) }
                        (problems_here(&under(problems, &format!("/tickets/{index}"))))
                    }
                }
                (problems_here(&problems.iter().filter(|p| p.pointer == "/tickets").collect::<Vec<_>>()))
            }
            section.card {
                h2 { "Tasks" }
                p.muted { "One block per task: key, title, type (form, approval, http, http_async, ai), assign, input, output_schema, output, due…" }
                @for (index, text) in tasks.iter().enumerate() {
                    div.field {
                        label.field-label for={ "task-" (index) } { @if text.is_empty() { "New task" } @else { "Task " (index + 1) } }
                        textarea id={ "task-" (index) } name="task" rows=(text.lines().count().clamp(3, 16)) spellcheck="false" { (text) }
                        (problems_here(&under(problems, &format!("/tasks/{index}"))))
                    }
                }
                (problems_here(&problems.iter().filter(|p| p.pointer == "/tasks").collect::<Vec<_>>()))
            }
            section.card {
                h2 { "Transitions" }
                p.muted { "From a task (or start) to a task or a status (COMPLETED, CANCELLED, ON_HOLD). When is a MongoDB-style condition in JSON or YAML, e.g. {\"data.questions\": {\"$exists\": true}}." }
                datalist #task-keys { option value="start"; @for key in &task_keys { option value=(key); } }
                datalist #targets { @for key in &task_keys { option value=(key); } option value="COMPLETED"; option value="CANCELLED"; option value="ON_HOLD"; }
                table.list {
                    thead { tr { th { "From" } th { "To" } th { "When" } th { "Priority" } th { "On" } } }
                    tbody {
                        @for (index, row) in rows.iter().enumerate() {
                            @let here = under(problems, &format!("/transitions/{index}"));
                            tr {
                                td { input.input type="text" name="t_from" value=(row[0]) list="task-keys" aria-label={ "Transition " (index + 1) " from" }; }
                                td { input.input type="text" name="t_to" value=(row[1]) list="targets" aria-label={ "Transition " (index + 1) " to" }; }
                                td { input.input type="text" name="t_when" value=(row[2]) aria-label={ "Transition " (index + 1) " when" }; }
                                td { input.input type="number" name="t_priority" value=(row[3]) aria-label={ "Transition " (index + 1) " priority" }; }
                                td {
                                    select name="t_on" aria-label={ "Transition " (index + 1) " on" } {
                                        option value="" selected[row[4].is_empty()] { "complete" }
                                        option value="timeout" selected[row[4] == "timeout"] { "timeout" }
                                    }
                                }
                            }
                            @if !here.is_empty() { tr { td colspan="5" { (problems_here(&here)) } } }
                        }
                    }
                }
                (problems_here(&problems.iter().filter(|p| p.pointer == "/transitions").collect::<Vec<_>>()))
            }
            section.card {
                h2 { "Other settings" }
                div.field {
                    label.field-label for="rest" { "ext_ref, triggers and other top-level keys (YAML)" }
                    textarea #rest name="rest" rows="4" spellcheck="false" { (draft.rest) }
                }
            }
            button.button.primary type="submit" { "Check and save as a new draft version" }
        }
    }
}

pub async fn create_get(user: CurrentUser) -> WebResult<Page> {
    user.require(Permission::WorkflowCreator)?;
    let draft = Draft {
        fields: "type: object\nproperties:\n  title: {type: string, title: Title}".into(),
        tickets: vec!["key: request\ntitle: Request\nfields:\n  type: object\n  required: [title]\n  properties:\n    title: {type: string, title: Title}".into()],
        tasks: vec!["key: review\ntitle: Review the request\ntype: approval\nassign: {role: staff}".into()],
        roles: "staff".into(),
        transitions: vec![
            ["start".into(), "review".into(), String::new(), String::new(), String::new()],
            ["review".into(), "COMPLETED".into(), String::new(), String::new(), String::new()],
        ],
        ..Draft::default()
    };
    Ok(Page::new("New workflow", &user, editor(&user, "/definitions/create", &draft, &[], true)))
}

pub async fn edit_get(State(state): State<AppState>, user: CurrentUser, Path(key): Path<String>) -> WebResult<Page> {
    user.require(Permission::WorkflowCreator)?;
    let versions: Vec<_> =
        state.store.list_versions(user.company()).await?.into_iter().filter(|v| v.key == key).collect();
    let latest = versions.first().ok_or(WebError::NotFound)?;
    let document = state.store.export_definition(user.company(), &key, Some(latest.version)).await?;
    let draft = Draft::from_document(&document, Some(latest.version));
    Ok(Page::new(
        format!("Edit {}", latest.title),
        &user,
        editor(&user, &format!("/definitions/{key}/edit"), &draft, &[], false),
    ))
}

pub async fn create_post(State(state): State<AppState>, posted: Posted) -> WebResult<Response> {
    save(&state, posted, None).await
}

pub async fn edit_post(State(state): State<AppState>, Path(key): Path<String>, posted: Posted) -> WebResult<Response> {
    // The key of an existing workflow is fixed; it must exist in this company.
    let versions = state.store.list_versions(posted.user.company()).await?;
    if !versions.iter().any(|v| v.key == key) {
        return Err(WebError::NotFound);
    }
    save(&state, posted, Some(key)).await
}

async fn save(state: &AppState, posted: Posted, key: Option<String>) -> WebResult<Response> {
    let user = &posted.user;
    user.require(Permission::WorkflowCreator)?;
    let mut draft = Draft::from_form(&posted);
    let creating = key.is_none();
    if let Some(key) = &key {
        draft.key = key.clone();
    }
    let action = match &key {
        Some(key) => format!("/definitions/{key}/edit"),
        None => "/definitions/create".to_owned(),
    };
    let (document, mut problems) = draft.to_document();
    if creating && state.store.list_versions(user.company()).await?.iter().any(|v| v.key == draft.key) {
        problems.push(Problem::error(
            "/key",
            "a workflow with this key exists already; edit it instead, or choose another key",
        ));
    }
    if problems.is_empty() {
        match state.store.save_version(user.company(), &document, draft.base, Some(user.id())).await {
            Ok(saved) => {
                return Ok(Redirect::to(&format!("/definitions/{}/versions/{}?saved=1", saved.key, saved.version))
                    .into_response());
            }
            Err(StoreError::Invalid(found)) => problems = found,
            Err(StoreError::Conflict(message)) => problems.push(Problem::error("", message)),
            Err(other) => return Err(other.into()),
        }
    }
    Ok(form_back(Page::new("Edit workflow", user, editor(user, &action, &draft, &problems, creating)), &problems))
}
