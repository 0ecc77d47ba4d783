//! `/assistant`: where a workflow creator designs workflows with the AI
//! assistant (SPEC §6).
//!
//! A conversation is a list of stored messages: the person's words, the model's
//! answers with their tool calls, tool results, and *events* — what each turn
//! ended with (a reply, a question, a plan, a checked proposal) and what the
//! person did with a proposal (saved it as a draft, took the save back). Events
//! are stored as JSON text, so a proposed document keeps its key order on
//! PostgreSQL's JSONB too.
//!
//! The model never saves anything. "Save as draft" is the person's button: a new
//! `DRAFT` version made against the version the proposal was based on (a stale
//! base is refused), with Undo while it is still the latest draft. Activation
//! happens on the definition page only. Without a configured language model the
//! page says exactly how to configure one; everything else works.
//!
//! Every page works without JavaScript (a turn is one form post and a redirect);
//! with it, the turn streams: the form posts with `Accept: text/event-stream` and
//! the answer's text arrives piece by piece.

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{WebError, WebResult, failed, form_back};
use crate::layout::{Page, csrf_field, status_pill, time};
use crate::posted::Posted;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, PreEscaped, html};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::convert::Infallible;
use ticketflower_assistant::designer::{
    CompanyContext, DesignEvent, Designer, DesignerOptions, Outcome, Proposal, RoleHolders, WorkflowSummary,
};
use ticketflower_assistant::{Message, ProviderError};
use ticketflower_core::diagram::{self, DiagramOptions};
use ticketflower_core::{Definition, Problem};
use ticketflower_store::{ConversationId, NewMessage, Permission, StoreError, StoredMessage};

pub mod settings;

/// What the person did, or what a turn ended with; stored as a message with role `event`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Outcome { outcome: Outcome, input_tokens: u64, output_tokens: u64 },
    Saved { proposal: i64, key: String, version: i64 },
    Undone { proposal: i64, key: String, version: i64 },
}

impl Event {
    fn stored(&self) -> NewMessage {
        let (input_tokens, output_tokens) = match self {
            Event::Outcome { input_tokens, output_tokens, .. } => (*input_tokens, *output_tokens),
            _ => (0, 0),
        };
        NewMessage {
            role: "event".to_owned(),
            content: Value::String(serde_json::to_string(self).unwrap_or_default()),
            input_tokens: i64::try_from(input_tokens).unwrap_or(i64::MAX),
            output_tokens: i64::try_from(output_tokens).unwrap_or(i64::MAX),
        }
    }

    fn read(stored: &StoredMessage) -> Option<Self> {
        stored.content.as_str().and_then(|text| serde_json::from_str(text).ok())
    }
}

/// The conversation's model messages, for the next turn.
fn history(messages: &[StoredMessage]) -> Vec<Message> {
    messages
        .iter()
        .filter(|m| matches!(m.role.as_str(), "user" | "assistant" | "tool"))
        .filter_map(|m| serde_json::from_value::<Message>(m.content.clone()).ok())
        .collect()
}

fn stored(message: &Message) -> NewMessage {
    let role = match message {
        Message::User { .. } => "user",
        Message::Assistant { .. } => "assistant",
        Message::ToolResults { .. } => "tool",
    };
    NewMessage {
        role: role.to_owned(),
        content: serde_json::to_value(message).unwrap_or(Value::Null),
        input_tokens: 0,
        output_tokens: 0,
    }
}

fn require(user: &CurrentUser) -> WebResult<()> {
    user.require(Permission::WorkflowCreator)
}

/// The designer for the user's company: the company's own model settings when
/// an admin set them, else the deployment's; `None` when neither is configured.
async fn designer(state: &AppState, user: &CurrentUser) -> WebResult<Result<Designer, ProviderError>> {
    let provider = match settings::company_provider(state, user.company()).await? {
        Some(provider) => provider,
        None => match &state.settings.assistant {
            Some(provider) => Ok(provider.clone()),
            None => Err(ProviderError::no_provider()),
        },
    };
    Ok(provider.map(|provider| Designer::new(provider, DesignerOptions::default())))
}

/// What the model may know of the company: its own roles, workflows and capabilities only.
async fn company_context(state: &AppState, user: &CurrentUser) -> WebResult<CompanyContext> {
    let company = user.company();
    let roles = state
        .store
        .list_roles(company)
        .await?
        .into_iter()
        .map(|role| RoleHolders { role: role.key, users: usize::try_from(role.members).unwrap_or(0) })
        .collect();
    let workflows = state
        .store
        .latest_versions(company)
        .await?
        .into_iter()
        .map(|(latest, document)| WorkflowSummary {
            key: latest.key,
            title: latest.title,
            version: latest.version,
            status: latest.status.as_str().to_owned(),
            document,
        })
        .collect();
    let http_capabilities = state
        .store
        .secret_names(company)
        .await?
        .into_iter()
        .map(|s| s.name)
        .filter(|name| !settings::is_assistant_setting(name))
        .collect();
    Ok(CompanyContext { company_name: user.session.company_name.clone(), roles, workflows, http_capabilities })
}

/// Plays one turn and stores it (into a new conversation when `conversation` is
/// `None`). A provider failure stores nothing and comes back as the error to show.
async fn play(
    state: &AppState,
    user: &CurrentUser,
    conversation: Option<(ConversationId, Vec<Message>)>,
    text: &str,
    on_event: &mut (dyn FnMut(DesignEvent) + Send),
) -> WebResult<Result<ConversationId, ProviderError>> {
    let designer = match designer(state, user).await? {
        Ok(designer) => designer,
        Err(error) => return Ok(Err(error)),
    };
    let context = company_context(state, user).await?;
    let history = conversation.as_ref().map(|(_, history)| history.as_slice()).unwrap_or_default();
    let turn = match designer.turn(&context, history, text, on_event).await {
        Ok(turn) => turn,
        Err(error) => {
            tracing::warn!(company = user.company().0, %error, "assistant turn failed");
            return Ok(Err(error));
        }
    };
    let mut messages: Vec<NewMessage> = turn.messages.iter().map(stored).collect();
    messages.push(
        Event::Outcome {
            outcome: turn.outcome,
            input_tokens: turn.usage.input_tokens,
            output_tokens: turn.usage.output_tokens,
        }
        .stored(),
    );
    let id = match conversation {
        Some((id, _)) => {
            state.store.append_messages(user.company(), user.id(), id, &messages).await?;
            id
        }
        None => state.store.start_conversation(user.company(), user.id(), &title_of(text), &messages).await?,
    };
    Ok(Ok(id))
}

fn title_of(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("New conversation");
    let mut title: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        title.push('…');
    }
    title
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/event-stream"))
}

/// The person's message, or the problem with it.
fn message_text(posted: &Posted) -> Result<String, &'static str> {
    let text = posted.text("text").trim();
    if text.is_empty() {
        Err("Write a message first.")
    } else if text.chars().count() > 20_000 {
        Err("The message is too long (at most 20,000 characters).")
    } else {
        Ok(text.to_owned())
    }
}

pub async fn index(State(state): State<AppState>, user: CurrentUser) -> WebResult<Page> {
    require(&user)?;
    let designer = designer(&state, &user).await?;
    index_page(&state, &user, &designer, "", None).await
}

async fn index_page(
    state: &AppState,
    user: &CurrentUser,
    designer: &Result<Designer, ProviderError>,
    text: &str,
    error: Option<&str>,
) -> WebResult<Page> {
    let Ok(designer) = designer else {
        return Ok(Page::new("AI assistant", user, not_configured(user)));
    };
    let conversations = state.store.conversations(user.company(), user.id()).await?;
    let provider = designer.provider();
    let body = html! {
        div.page-head {
            h1 { "AI assistant" }
            span.muted { (provider.label()) " · model " code { (provider.model()) } }
        }
        section.card {
            h2 { "Describe a process" }
            p.muted { "Say in your own words what happens, who does it and when it is done. The assistant proposes a plan, then a workflow you can review as a diagram, try on sample data and save as a draft. It never saves or activates anything itself." }
            (composer(user, "/assistant/conversations", text, error, "For example: We get document edit requests. An editor edits the document and may send questions back to the author…"))
        }
        h2 { "Your conversations" }
        @if conversations.is_empty() { div.empty { "No conversations yet." } }
        @else {
            table.list {
                thead { tr { th { "Conversation" } th { "Last message" } } }
                tbody {
                    @for c in &conversations {
                        tr { td { a href={ "/assistant/conversations/" (c.id) } { (c.title) } } td { (time(c.updated_at)) } }
                    }
                }
            }
        }
    };
    Ok(Page::new("AI assistant", user, body))
}

fn not_configured(user: &CurrentUser) -> Markup {
    html! {
        h1 { "AI assistant" }
        div.card {
            h2 { "The assistant is not set up on this server" }
            p { (ticketflower_assistant::provider::HOW_TO_CONFIGURE) }
            table.list {
                thead { tr { th { "Environment variable" } th { "Value" } } }
                tbody {
                    tr { td { code { "TICKETFLOWER_LLM_PROVIDER" } } td { code { "anthropic" } " or " code { "openai" } " (any OpenAI-compatible server: OpenAI, Ollama, llama.cpp, vLLM)" } }
                    tr { td { code { "TICKETFLOWER_LLM_MODEL" } } td { "the model name, e.g. " code { "claude-sonnet-4-5" } " or " code { "llama3.1" } } }
                    tr { td { code { "TICKETFLOWER_LLM_API_KEY" } } td { "the provider's key (not needed for a local server)" } }
                    tr { td { code { "TICKETFLOWER_LLM_BASE_URL" } } td { "optional, e.g. " code { "http://localhost:11434/v1" } " for Ollama" } }
                }
            }
            p.muted { "Restart TicketFlower after setting them. Everything else — workflows, tickets, the inbox — works without the assistant." }
            @if user.has(Permission::CompanyAdmin) {
                p { "Or use your company's own key: " a href="/admin/assistant" { "Admin → Assistant" } "." }
            }
        }
    }
}

/// The message box; `data-stream` lets the script stream the answer.
fn composer(user: &CurrentUser, action: &str, text: &str, error: Option<&str>, placeholder: &str) -> Markup {
    html! {
        form.composer method="post" action=(action) data-stream {
            (csrf_field(user))
            @if let Some(error) = error { div.alert.alert-error role="alert" { (error) } }
            label.field-label for="text" { "Your message" }
            textarea #text name="text" rows="4" placeholder=(placeholder) required { (text) }
            div.actions { button.button.primary type="submit" { "Send" } span.muted.stream-status aria-live="polite" {} }
        }
    }
}

pub async fn create_post(State(state): State<AppState>, headers: HeaderMap, posted: Posted) -> WebResult<Response> {
    let user = posted.user.clone();
    require(&user)?;
    let text = match message_text(&posted) {
        Ok(text) => text,
        Err(problem) => {
            let designer = designer(&state, &user).await?;
            let page = index_page(&state, &user, &designer, posted.text("text"), Some(problem)).await?;
            return Ok(form_back(page, &[Problem::error("/text", problem)]));
        }
    };
    if wants_stream(&headers) {
        return Ok(stream(state, user, None, text).into_response());
    }
    match play(&state, &user, None, &text, &mut |_| {}).await? {
        Ok(id) => Ok(Redirect::to(&format!("/assistant/conversations/{id}#latest")).into_response()),
        Err(error) => {
            let designer = designer(&state, &user).await?;
            let error = error.to_string();
            let page = index_page(&state, &user, &designer, &text, Some(&error)).await?;
            Ok(failed(StatusCode::BAD_GATEWAY, error, page))
        }
    }
}

/// Streams a turn as server-sent events: `text` pieces, `working` notes, then
/// `done` with the conversation's URL, or `failed` with the message to show.
/// The turn runs to its end (and is stored) even if the browser goes away.
fn stream(
    state: AppState,
    user: CurrentUser,
    conversation: Option<(ConversationId, Vec<Message>)>,
    text: String,
) -> impl IntoResponse {
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<SseEvent>();
    tokio::spawn(async move {
        let events = sender.clone();
        let mut forward = move |event: DesignEvent| {
            let sse = match event {
                DesignEvent::Text(text) => SseEvent::default().event("text").json_data(text),
                DesignEvent::Working(note) => SseEvent::default().event("working").json_data(note),
            };
            if let Ok(sse) = sse {
                let _ = events.send(sse);
            }
        };
        let last = match play(&state, &user, conversation, &text, &mut forward).await {
            Ok(Ok(id)) => SseEvent::default().event("done").data(format!("/assistant/conversations/{id}#latest")),
            Ok(Err(error)) => SseEvent::default().event("failed").data(error.to_string().replace('\n', " ")),
            Err(error) => {
                tracing::error!(%error, "storing the assistant turn failed");
                SseEvent::default().event("failed").data("The answer could not be stored. Try again.")
            }
        };
        let _ = sender.send(last);
    });
    let stream =
        futures_util::StreamExt::map(tokio_stream::wrappers::UnboundedReceiverStream::new(receiver), |event| {
            Ok::<_, Infallible>(event)
        });
    Sse::new(stream)
}

type Conversation = (ticketflower_store::ConversationSummary, Vec<StoredMessage>);

/// One of the user's own conversations (another user's or company's is not found).
async fn load(state: &AppState, user: &CurrentUser, id: i64) -> WebResult<Conversation> {
    require(user)?;
    Ok(state.store.conversation(user.company(), user.id(), ConversationId(id)).await?)
}

/// The proposal a turn of one of the user's conversations ended with, with the conversation.
async fn load_proposal(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    message: i64,
) -> WebResult<(Conversation, Proposal)> {
    let (summary, messages) = load(state, user, id).await?;
    let proposal = proposal_of(&messages, message)?;
    Ok(((summary, messages), proposal))
}

pub async fn show(State(state): State<AppState>, user: CurrentUser, Path(id): Path<i64>) -> WebResult<Page> {
    let (summary, messages) = load(&state, &user, id).await?;
    let designer = designer(&state, &user).await?;
    Ok(conversation_page(&user, &summary, &messages, designer.is_ok(), "", None))
}

fn conversation_page(
    user: &CurrentUser,
    summary: &ticketflower_store::ConversationSummary,
    messages: &[StoredMessage],
    configured: bool,
    text: &str,
    error: Option<&str>,
) -> Page {
    let events: Vec<(i64, Event)> = messages
        .iter()
        .filter(|m| m.role == "event")
        .filter_map(|m| Event::read(m).map(|event| (m.id, event)))
        .collect();
    // The latest save or undo of each proposal.
    let mut saves: HashMap<i64, &Event> = HashMap::new();
    for (_, event) in &events {
        if let Event::Saved { proposal, .. } | Event::Undone { proposal, .. } = event {
            saves.insert(*proposal, event);
        }
    }
    let last_event = events.iter().rev().find(|(_, e)| matches!(e, Event::Outcome { .. })).map(|(id, _)| *id);
    let base = format!("/assistant/conversations/{}", summary.id);
    let body = html! {
        div.page-head {
            h1 { (summary.title) }
            div.actions { a.button href="/assistant" { "All conversations" } }
        }
        div.chat #chat {
            @for message in messages {
                @match message.role.as_str() {
                    "user" => {
                        @if let Ok(Message::User { text }) = serde_json::from_value::<Message>(message.content.clone()) {
                            div.bubble.from-user { div.who { "You" } div.said { (text) } }
                        }
                    }
                    "assistant" => {
                        @if let Ok(Message::Assistant { text, tool_calls }) = serde_json::from_value::<Message>(message.content.clone()) {
                            @if !text.trim().is_empty() { div.bubble.from-assistant { div.who { "Assistant" } div.said { (text) } } }
                            @for call in tool_calls.iter().filter(|c| matches!(c.name.as_str(), "get_workflow" | "list_workflows" | "simulate_workflow")) {
                                div.tool-note { "Assistant used " code { (call.name) } }
                            }
                        }
                    }
                    "event" => {
                        @if let Some(Event::Outcome { outcome, input_tokens, output_tokens }) = Event::read(message) {
                            @let latest = last_event == Some(message.id);
                            div.turn-end id=[latest.then_some("latest")] {
                                (outcome_card(user, &base, message.id, &outcome, saves.get(&message.id).copied(), configured && latest))
                                div.usage.muted { (input_tokens) " tokens in · " (output_tokens) " out" }
                            }
                        }
                        @if let Some(Event::Saved { key, version, .. }) = Event::read(message) {
                            div.tool-note { "You saved " code { (key) } " as draft version " (version) "." }
                        }
                        @if let Some(Event::Undone { key, version, .. }) = Event::read(message) {
                            div.tool-note { "You took back draft version " (version) " of " code { (key) } "." }
                        }
                    }
                    _ => {}
                }
            }
            div.bubble.from-assistant.streaming hidden { div.who { "Assistant" } div.said {} }
        }
        @if configured {
            (composer(user, &format!("{base}/messages"), text, error, "Answer, ask for a change, or say what to do next…"))
        } @else {
            div.alert.alert-warn { "The assistant is not configured any more, so this conversation cannot go on. " a href="/assistant" { "How to configure it" } }
        }
    };
    Page::new(summary.title.clone(), user, body)
}

/// A form that sends a fixed message (plan approval, picking an option).
fn quick_reply(user: &CurrentUser, action: &str, label: &str, text: &str, primary: bool) -> Markup {
    html! {
        form.inline method="post" action=(action) data-stream {
            (csrf_field(user))
            input type="hidden" name="text" value=(text);
            button.button.primary[primary] type="submit" { (label) }
        }
    }
}

fn outcome_card(
    user: &CurrentUser,
    base: &str,
    message: i64,
    outcome: &Outcome,
    save: Option<&Event>,
    actions: bool,
) -> Markup {
    let reply = format!("{base}/messages");
    match outcome {
        Outcome::Reply => html! {},
        Outcome::GaveUp { reason } => html! { div.alert.alert-warn { (reason) } },
        Outcome::Question { question, options } => html! {
            section.card.question {
                h3 { "Question" }
                p { (question) }
                @if actions && !options.is_empty() {
                    div.actions { @for option in options { (quick_reply(user, &reply, option, option, false)) } }
                }
            }
        },
        Outcome::Plan { summary, steps } => html! {
            section.card.plan {
                h3 { "Proposed plan" }
                @if !summary.is_empty() { p { (summary) } }
                ol {
                    @for step in steps {
                        li { strong { (step.title) } @if let Some(detail) = &step.detail { " — " (detail) } }
                    }
                }
                @if actions {
                    div.actions {
                        (quick_reply(user, &reply, "Approve the plan", "I approve this plan. Please build the complete workflow.", true))
                        (quick_reply(user, &reply, "Reject", "I reject this plan. Please ask me what is wrong with it.", false))
                    }
                    p.muted { "To change it, say what should be different below." }
                }
            }
        },
        Outcome::Proposal(proposal) => proposal_card(user, base, message, proposal, save),
    }
}

fn proposal_card(user: &CurrentUser, base: &str, message: i64, proposal: &Proposal, save: Option<&Event>) -> Markup {
    let definition = Definition::load(&proposal.document).definition;
    let svg = definition.as_ref().map(|d| diagram::render_svg(d, &DiagramOptions::default()));
    let placeholders: Vec<_> = proposal.placeholders().cloned().collect();
    let warnings: Vec<_> = proposal.warnings().cloned().collect();
    let action = format!("{base}/proposals/{message}");
    html! {
        section.card.proposal id={ "proposal-" (message) } {
            div.page-head {
                h3 { "Proposal: " (proposal.title) " " code { (proposal.key) } }
                @if proposal.is_valid() { span.pill.status-completed { "valid" } }
                @else { span.pill.status-error { (placeholders.len()) " to resolve" } }
            }
            @if let Some(base_version) = &proposal.base {
                p.muted { "Changes the existing workflow " code { (base_version.key) } " (made from version " (base_version.version) ")." }
            }
            @if !proposal.summary.is_empty() { p { (proposal.summary) } }
            @if let Some(svg) = &svg { div.diagram { (PreEscaped(svg)) } }
            h4 { "Tasks, and the words that asked for them" }
            ul.task-notes {
                @for task in &proposal.tasks {
                    li {
                        strong { (task.title) } " " code { (task.key) } " " span.muted { (task.kind) }
                        br;
                        @match &task.request_words {
                            Some(words) => { span.request-words { "From your words: “" (words) "”" } }
                            None => { span.added { "Added by the assistant — you did not ask for this in so many words" @if task.misquoted { " (its quote is not in your messages)" } } }
                        }
                    }
                }
            }
            @if placeholders.is_empty() {
                p.alert.alert-ok { "Valid: it passes the same checks as an upload." }
            } @else {
                div.alert.alert-error {
                    "Placeholders to resolve before it can be saved (the assistant could not fix them in "
                    (proposal.repairs) " rounds). Ask it below, or "
                    a href={ (action) "/document" } { "fix them by hand" }
                    ":"
                }
                (super::definition_documents::problem_list(&placeholders))
                details {
                    summary { "The document, with each problem beside its line" }
                    (super::definition_documents::annotated(&proposal.document, &proposal.problems))
                }
            }
            @if !warnings.is_empty() {
                details { summary { (warnings.len()) " warnings" } (super::definition_documents::problem_list(&warnings)) }
            }
            @if let Some(run) = &proposal.simulation {
                p {
                    "On sample data: " (status_pill(&run.status)) " · path " (run.path.join(" → "))
                    @if !run.open.is_empty() { " · waiting at " (run.open.join(", ")) }
                }
                @if !run.errors.is_empty() {
                    div.alert.alert-warn { ul { @for error in &run.errors { li { code { (error.kind) } " " (error.message) } } } }
                }
            }
            @if let Some(base_version) = &proposal.base {
                details open {
                    summary { "Changes against version " (base_version.version) }
                    (super::definition_documents::diff(&base_version.document, &proposal.document))
                }
            }
            details {
                summary { "The document" }
                pre { (super::definition_documents::to_yaml(&proposal.document)) }
            }
            div.actions {
                @match save {
                    Some(Event::Saved { key, version, .. }) => {
                        span { "Saved as draft version " (version) ". " }
                        a.button.primary href={ "/definitions/" (key) "/versions/" (version) } { "Open it to activate" }
                        form.inline method="post" action={ (action) "/undo" } {
                            (csrf_field(user))
                            button.button type="submit" { "Undo the save" }
                        }
                    }
                    _ => {
                        @if proposal.is_valid() {
                            form.inline method="post" action={ (action) "/save" } {
                                (csrf_field(user))
                                button.button.primary type="submit" { "Save as draft" }
                            }
                        } @else {
                            button.button type="button" disabled title="Resolve the placeholders first" { "Save as draft" }
                        }
                    }
                }
                @if definition.is_some() { a.button href={ (action) "/simulate" } { "Simulate" } }
            }
            p.muted { "Activation is always your click, on the workflow's page after saving." }
        }
    }
}

pub async fn message_post(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    posted: Posted,
) -> WebResult<Response> {
    let user = posted.user.clone();
    let (summary, messages) = load(&state, &user, id).await?;
    let text = match message_text(&posted) {
        Ok(text) => text,
        Err(problem) => {
            let configured = designer(&state, &user).await?.is_ok();
            let page = conversation_page(&user, &summary, &messages, configured, posted.text("text"), Some(problem));
            return Ok(form_back(page, &[Problem::error("/text", problem)]));
        }
    };
    if wants_stream(&headers) {
        return Ok(stream(state, user, Some((summary.id, history(&messages))), text).into_response());
    }
    match play(&state, &user, Some((summary.id, history(&messages))), &text, &mut |_| {}).await? {
        Ok(id) => Ok(Redirect::to(&format!("/assistant/conversations/{id}#latest")).into_response()),
        Err(error) => {
            let configured = designer(&state, &user).await?.is_ok();
            let error = error.to_string();
            let page = conversation_page(&user, &summary, &messages, configured, &text, Some(&error));
            Ok(failed(StatusCode::BAD_GATEWAY, error, page))
        }
    }
}

/// The proposal a turn of this conversation ended with.
fn proposal_of(messages: &[StoredMessage], message: i64) -> WebResult<Proposal> {
    let stored = messages.iter().find(|m| m.id == message && m.role == "event").ok_or(WebError::NotFound)?;
    match Event::read(stored) {
        Some(Event::Outcome { outcome: Outcome::Proposal(proposal), .. }) => Ok(*proposal),
        _ => Err(WebError::NotFound),
    }
}

pub async fn save_post(
    State(state): State<AppState>,
    Path((id, message)): Path<(i64, i64)>,
    posted: Posted,
) -> WebResult<Response> {
    let user = &posted.user;
    let ((summary, _), proposal) = load_proposal(&state, user, id, message).await?;
    if !proposal.is_valid() {
        return Err(WebError::Invalid(proposal.placeholders().cloned().collect()));
    }
    // A new workflow is made against "no version yet": if someone created the key meanwhile, that is a conflict too.
    let base = proposal.base.as_ref().map_or(0, |b| b.version);
    let saved = match state.store.save_version(user.company(), &proposal.document, Some(base), Some(user.id())).await {
        Ok(saved) => saved,
        Err(StoreError::Conflict(reason)) => {
            return Err(WebError::Conflict(format!(
                "{reason}. Ask the assistant to make the change again on the current version."
            )));
        }
        Err(other) => return Err(other.into()),
    };
    let event = Event::Saved { proposal: message, key: saved.key, version: saved.version };
    state.store.append_messages(user.company(), user.id(), summary.id, &[event.stored()]).await?;
    Ok(Redirect::to(&format!("/assistant/conversations/{id}#proposal-{message}")).into_response())
}

pub async fn undo_post(
    State(state): State<AppState>,
    Path((id, message)): Path<(i64, i64)>,
    posted: Posted,
) -> WebResult<Response> {
    let user = &posted.user;
    let ((summary, messages), _) = load_proposal(&state, user, id, message).await?;
    let saved =
        messages.iter().filter(|m| m.role == "event").filter_map(Event::read).fold(None, |last, event| match event {
            Event::Saved { proposal, key, version } if proposal == message => Some((key, version)),
            Event::Undone { proposal, .. } if proposal == message => None,
            _ => last,
        });
    let Some((key, version)) = saved else {
        return Err(WebError::Conflict("this proposal is not saved, so there is nothing to undo".to_owned()));
    };
    state.store.discard_draft(user.company(), &key, version).await?;
    let event = Event::Undone { proposal: message, key, version };
    state.store.append_messages(user.company(), user.id(), summary.id, &[event.stored()]).await?;
    Ok(Redirect::to(&format!("/assistant/conversations/{id}#proposal-{message}")).into_response())
}

/// The proposal's document in the upload form, its problems beside their lines,
/// to fix by hand and save as a draft from there.
pub async fn document_get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, message)): Path<(i64, i64)>,
) -> WebResult<Page> {
    let (_, proposal) = load_proposal(&state, &user, id, message).await?;
    let text = super::definition_documents::to_yaml(&proposal.document);
    let problems =
        (!proposal.is_valid()).then(|| super::definition_documents::annotated(&proposal.document, &proposal.problems));
    Ok(Page::new("Upload a workflow", &user, super::definitions::upload_form(&user, &text, problems)))
}

async fn proposal_definition(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    message: i64,
) -> WebResult<(Proposal, Definition)> {
    let (_, proposal) = load_proposal(state, user, id, message).await?;
    let definition = Definition::load(&proposal.document).into_result().map_err(WebError::Invalid)?;
    Ok((proposal, definition))
}

fn simulate_target(id: i64, message: i64, proposal: &Proposal) -> super::definitions::SimulateTarget {
    let base = format!("/assistant/conversations/{id}");
    super::definitions::SimulateTarget {
        heading: format!("Simulate the proposal {}", proposal.title),
        back: format!("{base}#proposal-{message}"),
        action: format!("{base}/proposals/{message}/simulate"),
    }
}

pub async fn simulate_get(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, message)): Path<(i64, i64)>,
) -> WebResult<Page> {
    let (proposal, definition) = proposal_definition(&state, &user, id, message).await?;
    let form = super::definitions::SimulateForm::sample(&definition);
    let target = simulate_target(id, message, &proposal);
    Ok(Page::new("Simulate", &user, super::definitions::simulate_page(&user, &target, &definition, &form, None)))
}

pub async fn simulate_post(
    State(state): State<AppState>,
    Path((id, message)): Path<(i64, i64)>,
    posted: Posted,
) -> WebResult<Response> {
    let user = &posted.user;
    let (proposal, definition) = proposal_definition(&state, user, id, message).await?;
    let form = super::definitions::SimulateForm::posted(&posted);
    let (result, problems) = super::definitions::run_simulation(&definition, &form);
    let target = simulate_target(id, message, &proposal);
    let page =
        Page::new("Simulate", user, super::definitions::simulate_page(user, &target, &definition, &form, Some(result)));
    Ok(super::definitions::simulation_answer(page, &problems))
}
