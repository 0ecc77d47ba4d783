//! A fake language-model server for tests and the evaluation harness.
//!
//! [`FakeProvider::start`] binds `127.0.0.1:0` and serves both real wire protocols —
//! Anthropic's `POST /v1/messages` and OpenAI's `POST /v1/chat/completions`, whole and
//! streamed — playing a script of [`Reply`]s in order, whichever protocol asks: text,
//! tool calls (arguments as JSON or as raw, possibly malformed text), an HTTP error
//! with an optional `Retry-After`, a delay before answering, or a garbage body. It
//! records every request it receives, so a test can check what was sent.
//!
//! Point a provider at it with [`FakeProvider::config`]. Nothing here reaches the network.

use crate::provider::{ApiKey, ProviderConfig, ProviderKind, RetryPolicy, Usage};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// The model name [`FakeProvider::config`] uses.
pub const FAKE_MODEL: &str = "fake-model";
/// The API key [`FakeProvider::config`] uses.
pub const FAKE_API_KEY: &str = "fake-key";

/// Text deltas carry this many characters; tool-call argument deltas a third as many,
/// so arguments always arrive in many pieces.
const TEXT_PIECE: usize = 12;
const ARGUMENTS_PIECE: usize = 4;
/// Streamed bodies are written in pieces of this many bytes, splitting lines (and
/// sometimes characters) the way a network may.
const BYTES_PIECE: usize = 37;

/// A running fake server. Dropping it stops the server.
#[derive(Debug)]
pub struct FakeProvider {
    /// `http://127.0.0.1:PORT`, a base URL for either protocol.
    pub base_url: String,
    shared: Shared,
    server: tokio::task::JoinHandle<()>,
}

type Shared = Arc<Mutex<Script>>;

#[derive(Debug, Default)]
struct Script {
    replies: VecDeque<Reply>,
    requests: Vec<ReceivedRequest>,
}

impl FakeProvider {
    /// Starts the server with the replies it will give, in order.
    pub async fn start(script: impl IntoIterator<Item = Reply>) -> std::io::Result<Self> {
        let shared: Shared =
            Arc::new(Mutex::new(Script { replies: script.into_iter().collect(), requests: Vec::new() }));
        let router = Router::new()
            .route("/v1/messages", post(anthropic))
            .route("/v1/chat/completions", post(openai))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "the fake provider server stopped");
            }
        });
        Ok(Self { base_url, shared, server })
    }

    /// A configuration for a provider speaking `kind` to this server: model
    /// [`FAKE_MODEL`], key [`FAKE_API_KEY`], and retries without real waiting.
    pub fn config(&self, kind: ProviderKind) -> ProviderConfig {
        ProviderConfig::new(kind, FAKE_MODEL, Some(ApiKey::new(FAKE_API_KEY))).with_base_url(&self.base_url).with_retry(
            RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(5),
                max_retry_after: Duration::from_secs(5),
            },
        )
    }

    /// Adds a reply at the end of the script.
    pub fn push(&self, reply: Reply) {
        self.lock().replies.push_back(reply);
    }

    /// How many replies have not been played yet.
    pub fn remaining(&self) -> usize {
        self.lock().replies.len()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Script> {
        lock(&self.shared)
    }
}

impl Drop for FakeProvider {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Script> {
    // A test that panicked while holding the lock leaves nothing half-written here.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    kind: ReplyKind,
    delay: Option<Duration>,
    usage: Option<Usage>,
}

#[derive(Debug, Clone)]
enum ReplyKind {
    Answer { text: String, tool_calls: Vec<ScriptedToolCall> },
    Error { status: u16, message: String, retry_after: Option<u64> },
    Garbage { body: String },
}

#[derive(Debug, Clone)]
struct ScriptedToolCall {
    name: String,
    /// Exactly the text the model "wrote" as arguments.
    arguments: String,
}

impl Reply {
    fn new(kind: ReplyKind) -> Self {
        Self { kind, delay: None, usage: None }
    }

    /// A plain text answer.
    pub fn text(text: impl Into<String>) -> Self {
        Self::new(ReplyKind::Answer { text: text.into(), tool_calls: Vec::new() })
    }

    /// A call of tool `name` with these arguments.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::text("").and_tool_call(name, arguments)
    }

    /// A call whose arguments are this raw text (say, JSON cut off in the middle).
    pub fn malformed_tool_call(name: impl Into<String>, raw_arguments: impl Into<String>) -> Self {
        Self::text("").and_raw_tool_call(name, raw_arguments)
    }

    /// One more tool call in the same answer.
    pub fn and_tool_call(self, name: impl Into<String>, arguments: Value) -> Self {
        self.and_raw_tool_call(name, arguments.to_string())
    }

    fn and_raw_tool_call(mut self, name: impl Into<String>, arguments: impl Into<String>) -> Self {
        if let ReplyKind::Answer { tool_calls, .. } = &mut self.kind {
            tool_calls.push(ScriptedToolCall { name: name.into(), arguments: arguments.into() });
        }
        self
    }

    /// Text said before the tool calls of the same answer.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        if let ReplyKind::Answer { text: current, .. } = &mut self.kind {
            *current = text.into();
        }
        self
    }

    /// An HTTP error, with a body in the asking protocol's error format.
    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self::new(ReplyKind::Error { status, message: message.into(), retry_after: None })
    }

    /// Adds `Retry-After: seconds` to an error.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        if let ReplyKind::Error { retry_after, .. } = &mut self.kind {
            *retry_after = Some(seconds);
        }
        self
    }

    /// `200 OK` with a body that is not the protocol at all.
    pub fn garbage(body: impl Into<String>) -> Self {
        Self::new(ReplyKind::Garbage { body: body.into() })
    }

    /// Waits this long before answering (make it longer than the client's timeout).
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// The token counts to report; by default about one token per four bytes.
    pub fn with_usage(mut self, input_tokens: u64, output_tokens: u64) -> Self {
        self.usage = Some(Usage { input_tokens, output_tokens });
        self
    }
}

/// A request the fake received.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedRequest {
    pub protocol: ProviderKind,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body (a string when it was not JSON).
    pub body: Value,
}

impl ReceivedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    pub fn is_streaming(&self) -> bool {
        self.body["stream"] == json!(true)
    }

    /// The `messages` array as sent (OpenAI's includes the system message).
    pub fn messages(&self) -> &[Value] {
        self.body["messages"].as_array().map(Vec::as_slice).unwrap_or_default()
    }

    /// The system prompt, wherever the protocol puts it.
    pub fn system_prompt(&self) -> Option<&str> {
        match self.protocol {
            ProviderKind::Anthropic => self.body["system"].as_str(),
            ProviderKind::OpenAi => self
                .messages()
                .iter()
                .find(|message| message["role"] == "system")
                .and_then(|message| message["content"].as_str()),
        }
    }

    /// The names of the tools offered to the model.
    pub fn tool_names(&self) -> Vec<&str> {
        let tools = self.body["tools"].as_array().map(Vec::as_slice).unwrap_or_default();
        tools
            .iter()
            .filter_map(|tool| match self.protocol {
                ProviderKind::Anthropic => tool["name"].as_str(),
                ProviderKind::OpenAi => tool["function"]["name"].as_str(),
            })
            .collect()
    }
}

async fn anthropic(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    serve(shared, ProviderKind::Anthropic, "/v1/messages", headers, body).await
}

async fn openai(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    serve(shared, ProviderKind::OpenAi, "/v1/chat/completions", headers, body).await
}

async fn serve(shared: Shared, protocol: ProviderKind, path: &str, headers: HeaderMap, raw: Bytes) -> Response {
    let body =
        serde_json::from_slice(&raw).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw).into_owned()));
    let headers = headers
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let request = ReceivedRequest { protocol, path: path.to_owned(), headers, body };
    let (reply, number) = {
        let mut script = lock(&shared);
        script.requests.push(request.clone());
        (script.replies.pop_front(), script.requests.len())
    };
    let Some(reply) = reply else {
        return error(protocol, 400, "the fake provider's script has no reply left for this request", None);
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    match reply.kind {
        ReplyKind::Error { status, message, retry_after } => error(protocol, status, &message, retry_after),
        ReplyKind::Garbage { body } => ([(header::CONTENT_TYPE, "text/html")], body).into_response(),
        ReplyKind::Answer { text, tool_calls } => {
            let answer = Answer::new(&request, number, text, tool_calls, reply.usage);
            match (protocol, request.is_streaming()) {
                (ProviderKind::Anthropic, false) => axum::Json(answer.anthropic_message()).into_response(),
                (ProviderKind::Anthropic, true) => event_stream(answer.anthropic_events()),
                (ProviderKind::OpenAi, false) => axum::Json(answer.openai_completion()).into_response(),
                (ProviderKind::OpenAi, true) => {
                    let usage = request.body["stream_options"]["include_usage"] == json!(true);
                    event_stream(answer.openai_chunks(usage))
                }
            }
        }
    }
}

/// An error in the protocol's own format.
fn error(protocol: ProviderKind, status: u16, message: &str, retry_after: Option<u64>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match protocol {
        ProviderKind::Anthropic => {
            let kind = match status.as_u16() {
                400 | 413 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": kind, "message": message}})
        }
        ProviderKind::OpenAi => {
            let kind = match status.as_u16() {
                401 => "invalid_api_key",
                429 => "rate_limit_exceeded",
                500..=599 => "server_error",
                _ => "invalid_request_error",
            };
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        }
    };
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(seconds) = retry_after
        && let Ok(value) = seconds.to_string().parse()
    {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// A `text/event-stream` body, written in small pieces.
fn event_stream(events: Vec<String>) -> Response {
    let bytes = events.concat().into_bytes();
    let pieces: Vec<Result<Bytes, Infallible>> =
        bytes.chunks(BYTES_PIECE).map(|piece| Ok(Bytes::copy_from_slice(piece))).collect();
    (
        [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-cache")],
        Body::from_stream(futures_util::stream::iter(pieces)),
    )
        .into_response()
}

fn sse(event: Option<&str>, data: &Value) -> String {
    match event {
        Some(event) => format!("event: {event}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// `text` in pieces of `size` characters.
fn pieces(text: &str, size: usize) -> Vec<String> {
    let characters: Vec<char> = text.chars().collect();
    characters.chunks(size).map(|piece| piece.iter().collect()).collect()
}

/// A scripted answer, ready to be written in either protocol.
struct Answer {
    number: usize,
    model: String,
    text: String,
    tool_calls: Vec<ScriptedToolCall>,
    usage: Usage,
}

impl Answer {
    fn new(
        request: &ReceivedRequest,
        number: usize,
        text: String,
        tool_calls: Vec<ScriptedToolCall>,
        usage: Option<Usage>,
    ) -> Self {
        let written: usize =
            text.len() + tool_calls.iter().map(|call| call.name.len() + call.arguments.len()).sum::<usize>();
        let usage = usage.unwrap_or(Usage {
            input_tokens: (request.body.to_string().len() / 4).max(1) as u64,
            output_tokens: (written / 4).max(1) as u64,
        });
        let model = request.body["model"].as_str().unwrap_or(crate::fake::FAKE_MODEL).to_owned();
        Self { number, model, text, tool_calls, usage }
    }

    fn tool_call_id(&self, prefix: &str, position: usize) -> String {
        format!("{prefix}_fake_{}_{position}", self.number)
    }

    fn anthropic_stop_reason(&self) -> &'static str {
        if self.tool_calls.is_empty() { "end_turn" } else { "tool_use" }
    }

    fn anthropic_message(&self) -> Value {
        let text = (!self.text.is_empty()).then(|| json!({"type": "text", "text": self.text}));
        let tool_uses = self.tool_calls.iter().enumerate().map(|(position, call)| {
            // The real API always sends an object; a malformed one can only be shown as text.
            let input = serde_json::from_str::<Value>(&call.arguments)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| Value::String(call.arguments.clone()));
            json!({"type": "tool_use", "id": self.tool_call_id("toolu", position), "name": call.name, "input": input})
        });
        json!({
            "id": format!("msg_fake_{}", self.number),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": text.into_iter().chain(tool_uses).collect::<Vec<_>>(),
            "stop_reason": self.anthropic_stop_reason(),
            "stop_sequence": null,
            "usage": {"input_tokens": self.usage.input_tokens, "output_tokens": self.usage.output_tokens},
        })
    }

    fn anthropic_events(&self) -> Vec<String> {
        let mut events = vec![sse(
            Some("message_start"),
            &json!({"type": "message_start", "message": {
                "id": format!("msg_fake_{}", self.number), "type": "message", "role": "assistant", "model": self.model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": self.usage.input_tokens, "output_tokens": 1},
            }}),
        )];
        events.push(sse(Some("ping"), &json!({"type": "ping"})));
        let mut index = 0;
        if !self.text.is_empty() {
            events.push(sse(
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
            ));
            for piece in pieces(&self.text, TEXT_PIECE) {
                events.push(sse(
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}),
                ));
            }
            events.push(sse(Some("content_block_stop"), &json!({"type": "content_block_stop", "index": index})));
            index += 1;
        }
        for (position, call) in self.tool_calls.iter().enumerate() {
            events.push(sse(
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": index, "content_block": {
                    "type": "tool_use", "id": self.tool_call_id("toolu", position), "name": call.name, "input": {},
                }}),
            ));
            for piece in pieces(&call.arguments, ARGUMENTS_PIECE) {
                events.push(sse(
                    Some("content_block_delta"),
                    &json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}),
                ));
            }
            events.push(sse(Some("content_block_stop"), &json!({"type": "content_block_stop", "index": index})));
            index += 1;
        }
        events.push(sse(
            Some("message_delta"),
            &json!({"type": "message_delta", "delta": {"stop_reason": self.anthropic_stop_reason(), "stop_sequence": null},
                    "usage": {"output_tokens": self.usage.output_tokens}}),
        ));
        events.push(sse(Some("message_stop"), &json!({"type": "message_stop"})));
        events
    }

    fn openai_finish_reason(&self) -> &'static str {
        if self.tool_calls.is_empty() { "stop" } else { "tool_calls" }
    }

    fn openai_usage(&self) -> Value {
        json!({
            "prompt_tokens": self.usage.input_tokens,
            "completion_tokens": self.usage.output_tokens,
            "total_tokens": self.usage.input_tokens + self.usage.output_tokens,
        })
    }

    fn openai_completion(&self) -> Value {
        let mut message = json!({
            "role": "assistant",
            "content": if self.text.is_empty() && !self.tool_calls.is_empty() { Value::Null } else { json!(self.text) },
        });
        if !self.tool_calls.is_empty() {
            message["tool_calls"] = self
                .tool_calls
                .iter()
                .enumerate()
                .map(|(position, call)| {
                    json!({"id": self.tool_call_id("call", position), "type": "function",
                           "function": {"name": call.name, "arguments": call.arguments}})
                })
                .collect();
        }
        json!({
            "id": format!("chatcmpl-fake-{}", self.number),
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": self.openai_finish_reason()}],
            "usage": self.openai_usage(),
        })
    }

    fn openai_chunk(&self, delta: Value, finish_reason: Option<&str>) -> String {
        sse(
            None,
            &json!({
                "id": format!("chatcmpl-fake-{}", self.number),
                "object": "chat.completion.chunk",
                "created": 1_700_000_000,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
            }),
        )
    }

    fn openai_chunks(&self, include_usage: bool) -> Vec<String> {
        // Some gateways send comments to keep the connection open.
        let mut chunks = vec![": fake provider\n\n".to_owned()];
        chunks.push(self.openai_chunk(json!({"role": "assistant", "content": ""}), None));
        for piece in pieces(&self.text, TEXT_PIECE) {
            chunks.push(self.openai_chunk(json!({"content": piece}), None));
        }
        for (position, call) in self.tool_calls.iter().enumerate() {
            chunks.push(self.openai_chunk(
                json!({"tool_calls": [{"index": position, "id": self.tool_call_id("call", position), "type": "function",
                                       "function": {"name": call.name, "arguments": ""}}]}),
                None,
            ));
            for piece in pieces(&call.arguments, ARGUMENTS_PIECE) {
                chunks.push(self.openai_chunk(
                    json!({"tool_calls": [{"index": position, "function": {"arguments": piece}}]}),
                    None,
                ));
            }
        }
        chunks.push(self.openai_chunk(json!({}), Some(self.openai_finish_reason())));
        if include_usage {
            chunks.push(sse(
                None,
                &json!({
                    "id": format!("chatcmpl-fake-{}", self.number),
                    "object": "chat.completion.chunk",
                    "created": 1_700_000_000,
                    "model": self.model,
                    "choices": [],
                    "usage": self.openai_usage(),
                }),
            ));
        }
        chunks.push("data: [DONE]\n\n".to_owned());
        chunks
    }
}

/// Scripted conversations the tests of several crates (and the evaluation
/// harness's own test) play.
pub mod scripts {
    use super::Reply;
    use serde_json::{Value, json};

    /// What the user says first in [`document_edit`].
    pub const DOCUMENT_EDIT_REQUEST: &str = "We get document edit requests: an author submits a document, \
        an editor edits the document and sometimes asks the author questions, until it is done.";

    /// The Document Edit example as a JSON document.
    pub fn document_edit_document() -> Value {
        let text = include_str!("../../../examples/document-edit.yaml");
        ticketflower_core::document::parse(text, ticketflower_core::document::Syntax::Yaml)
            .unwrap_or_else(|problem| json!({"unreadable example": problem.message}))
    }

    /// A `propose_workflow` call with the Document Edit example.
    pub fn propose_document_edit() -> Reply {
        Reply::tool_call(
            "propose_workflow",
            json!({
                "document": document_edit_document(),
                "summary": "An author submits a document; an editor edits it and may send questions back to the author until it is done.",
                "request_words": {"edit": "an editor edits the document", "answer": "asks the author questions"}
            }),
        )
        .with_text("Here is the workflow.")
    }

    /// The model's side of: request → plan → (user approves) → proposal.
    pub fn document_edit() -> Vec<Reply> {
        vec![
            Reply::tool_call(
                "propose_plan",
                json!({
                    "summary": "Edit submitted documents, with questions back to the author.",
                    "steps": [
                        {"title": "Edit the document", "detail": "An editor edits it, or writes questions for the author."},
                        {"title": "Answer the questions", "detail": "The author answers; the document goes back to the editor."},
                        {"title": "Done", "detail": "When the editor saves the edited document without questions."}
                    ]
                }),
            )
            .with_text("Let me check the steps with you first."),
            propose_document_edit(),
        ]
    }
}
