//! The Anthropic Messages API (`POST /v1/messages`), whole and streamed.
//!
//! Owns the translation between our [`ChatRequest`]/[`ChatResponse`] and Anthropic's
//! wire format: `x-api-key` and `anthropic-version` headers, `system` beside the
//! messages, tools with `input_schema`, `tool_use` blocks from the model and
//! `tool_result` blocks in a user turn back; and the streamed events
//! (`message_start`, `content_block_start`/`_delta`/`_stop` with `text_delta` and
//! `input_json_delta`, `message_delta`, `message_stop`, `ping`, `error`).

use super::chat::{
    ChatRequest, ChatResponse, Message, StopReason, StreamEvent, ToolCall, Usage, arguments_for_replay,
    parse_arguments, temperature_json,
};
use super::config::ProviderConfig;
use super::error::ProviderError;
use super::http::{Delivery, Flow, Http, ServerError};
use super::sse::SseEvent;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(crate) const API_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone)]
pub(crate) struct Anthropic {
    http: Http,
}

impl Anthropic {
    pub(crate) fn new(config: ProviderConfig) -> Result<Self, ProviderError> {
        Ok(Self { http: Http::new(config)? })
    }

    pub(crate) fn http(&self) -> &Http {
        &self.http
    }

    pub(crate) async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let body = request_body(&self.http.config().model, request, Delivery::Whole);
        let response = self.http.post(self.headers()?, &body, Delivery::Whole).await?;
        let text = self.http.read_body(response).await?;
        let wire: WireResponse = serde_json::from_str(&text)
            .map_err(|error| self.http.bad_response(format!("not a Messages API answer: {error}"), &text))?;
        Ok(wire.into_response())
    }

    pub(crate) async fn stream(
        &self,
        request: &ChatRequest,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<ChatResponse, ProviderError> {
        let body = request_body(&self.http.config().model, request, Delivery::Streamed);
        let response = self.http.post(self.headers()?, &body, Delivery::Streamed).await?;
        let mut state = StreamState::default();
        let beginning = self.http.read_stream(response, |event| state.apply(&self.http, &event, on_event)).await?;
        state.finish(&self.http, &beginning)
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        if let Some((name, value)) = self.http.secret_header("x-api-key", "")? {
            headers.insert(name, value);
        }
        Ok(headers)
    }
}

pub(crate) fn request_body(model: &str, request: &ChatRequest, delivery: Delivery) -> Value {
    let mut body = json!({
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": merge_turns(request.messages.iter().filter_map(message)),
    });
    if !request.system.is_empty() {
        body["system"] = json!(request.system);
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}))
            .collect();
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = temperature_json(temperature);
    }
    if delivery == Delivery::Streamed {
        body["stream"] = json!(true);
    }
    body
}

/// Consecutive messages of one role as one turn: tool results followed by the
/// user's next words are one `user` turn, which is what the API expects.
fn merge_turns(messages: impl Iterator<Item = Value>) -> Vec<Value> {
    let mut merged: Vec<Value> = Vec::new();
    for message in messages {
        match merged.last_mut() {
            Some(last) if last["role"] == message["role"] => {
                let mut content = blocks(last["content"].take());
                content.extend(blocks(message["content"].clone()));
                last["content"] = Value::Array(content);
            }
            _ => merged.push(message),
        }
    }
    merged
}

fn blocks(content: Value) -> Vec<Value> {
    match content {
        Value::Array(blocks) => blocks,
        Value::String(text) => vec![json!({"type": "text", "text": text})],
        other => vec![other],
    }
}

fn message(message: &Message) -> Option<Value> {
    match message {
        Message::User { text } => Some(json!({"role": "user", "content": text})),
        Message::Assistant { text, tool_calls } => {
            // Anthropic refuses empty text blocks.
            let text_block = (!text.is_empty()).then(|| json!({"type": "text", "text": text}));
            let tool_blocks = tool_calls.iter().map(|call| {
                json!({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments_for_replay(&call.arguments)})
            });
            let content: Vec<Value> = text_block.into_iter().chain(tool_blocks).collect();
            (!content.is_empty()).then(|| json!({"role": "assistant", "content": content}))
        }
        Message::ToolResults { results } => {
            let content: Vec<Value> = results
                .iter()
                .map(|result| {
                    json!({
                        "type": "tool_result",
                        "tool_use_id": result.tool_call_id,
                        "content": result.content,
                        "is_error": result.is_error,
                    })
                })
                .collect();
            (!content.is_empty()).then(|| json!({"role": "user", "content": content}))
        }
    }
}

fn stop_reason(reason: Option<&str>) -> StopReason {
    match reason {
        None | Some("end_turn") => StopReason::EndTurn,
        Some("tool_use") => StopReason::ToolUse,
        Some("max_tokens") | Some("model_context_window_exceeded") => StopReason::MaxTokens,
        Some("stop_sequence") => StopReason::StopSequence,
        Some("refusal") => StopReason::Refused,
        Some(other) => StopReason::Other(other.to_owned()),
    }
}

/// A tool call's `input`: an object on the wire, but tolerate a JSON string.
fn input_arguments(input: Value) -> Result<Value, String> {
    match input {
        Value::String(raw) => parse_arguments(&raw),
        Value::Null => Ok(json!({})),
        value => Ok(value),
    }
}

#[derive(Deserialize)]
struct WireResponse {
    content: Vec<WireBlock>,
    stop_reason: Option<String>,
    #[serde(default)]
    usage: WireUsage,
    #[serde(default)]
    model: String,
}

impl WireResponse {
    fn into_response(self) -> ChatResponse {
        let mut text = String::new();
        let mut tool_calls = Vec::new();
        for block in self.content {
            match block {
                WireBlock::Text { text: piece } => text.push_str(&piece),
                WireBlock::ToolUse { id, name, input } => {
                    tool_calls.push(ToolCall { id, name, arguments: input_arguments(input) })
                }
                WireBlock::Other => {}
            }
        }
        ChatResponse {
            text,
            tool_calls,
            usage: Usage {
                input_tokens: self.usage.input_tokens.unwrap_or_default(),
                output_tokens: self.usage.output_tokens.unwrap_or_default(),
            },
            stop: stop_reason(self.stop_reason.as_deref()),
            model: self.model,
        }
    }
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// Thinking, citations, server tools: not used here.
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireEvent {
    MessageStart {
        message: WireStart,
    },
    ContentBlockStart {
        index: u64,
        content_block: WireBlock,
    },
    ContentBlockDelta {
        index: u64,
        delta: WireDelta,
    },
    MessageDelta {
        delta: WireMessageDelta,
        #[serde(default)]
        usage: WireUsage,
    },
    MessageStop,
    Error {
        error: Value,
    },
    /// `ping`, `content_block_stop` and anything newer.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct WireStart {
    #[serde(default)]
    model: String,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct WireMessageDelta {
    stop_reason: Option<String>,
}

/// A streamed answer being assembled.
#[derive(Default)]
struct StreamState {
    started: bool,
    finished: bool,
    model: String,
    usage: Usage,
    stop: Option<String>,
    text: String,
    /// Tool calls by content-block index, in the order the model made them.
    tool_calls: BTreeMap<u64, StreamedToolCall>,
}

struct StreamedToolCall {
    id: String,
    name: String,
    /// The input given at the block's start (normally `{}`), used if no deltas follow.
    initial: Value,
    json: String,
}

impl StreamState {
    fn apply(
        &mut self,
        http: &Http,
        event: &SseEvent,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<Flow, ProviderError> {
        let wire: WireEvent = serde_json::from_str(&event.data).map_err(|error| {
            http.bad_response(format!("an unreadable `{}` event: {error}", event.event), &event.data)
        })?;
        match wire {
            WireEvent::MessageStart { message } => {
                self.started = true;
                self.model = message.model;
                self.usage.input_tokens = message.usage.input_tokens.unwrap_or_default();
                self.usage.output_tokens = message.usage.output_tokens.unwrap_or_default();
            }
            WireEvent::ContentBlockStart { index, content_block } => match content_block {
                WireBlock::Text { text } if !text.is_empty() => {
                    self.text.push_str(&text);
                    on_event(StreamEvent::TextDelta(text));
                }
                WireBlock::ToolUse { id, name, input } => {
                    on_event(StreamEvent::ToolCallStarted { id: id.clone(), name: name.clone() });
                    self.tool_calls.insert(index, StreamedToolCall { id, name, initial: input, json: String::new() });
                }
                WireBlock::Text { .. } | WireBlock::Other => {}
            },
            WireEvent::ContentBlockDelta { index, delta } => match delta {
                WireDelta::TextDelta { text } => {
                    self.text.push_str(&text);
                    on_event(StreamEvent::TextDelta(text));
                }
                WireDelta::InputJsonDelta { partial_json } => {
                    let Some(call) = self.tool_calls.get_mut(&index) else {
                        return Err(http.bad_response("arguments for a tool call that never started", &event.data));
                    };
                    call.json.push_str(&partial_json);
                    on_event(StreamEvent::ToolCallArgumentsDelta { id: call.id.clone(), fragment: partial_json });
                }
                WireDelta::Other => {}
            },
            WireEvent::MessageDelta { delta, usage } => {
                if delta.stop_reason.is_some() {
                    self.stop = delta.stop_reason;
                }
                // These counts are cumulative, not increments.
                if let Some(input) = usage.input_tokens {
                    self.usage.input_tokens = input;
                }
                if let Some(output) = usage.output_tokens {
                    self.usage.output_tokens = output;
                }
            }
            WireEvent::MessageStop => {
                self.finished = true;
                return Ok(Flow::Stop);
            }
            WireEvent::Error { error } => return Err(stream_error(http, &error)),
            WireEvent::Other => {}
        }
        Ok(Flow::Continue)
    }

    fn finish(self, http: &Http, beginning: &str) -> Result<ChatResponse, ProviderError> {
        if !self.started {
            return Err(http.bad_response("no Messages API events in the stream", beginning));
        }
        if !self.finished {
            return Err(http.bad_response("the stream ended before `message_stop`", beginning));
        }
        let tool_calls = self
            .tool_calls
            .into_values()
            .map(|call| {
                let arguments =
                    if call.json.is_empty() { input_arguments(call.initial) } else { parse_arguments(&call.json) };
                ToolCall { id: call.id, name: call.name, arguments }
            })
            .collect();
        Ok(ChatResponse {
            text: self.text,
            tool_calls,
            usage: self.usage,
            stop: stop_reason(self.stop.as_deref()),
            model: self.model,
        })
    }
}

/// An `error` event in the middle of a stream (typically `overloaded_error`).
fn stream_error(http: &Http, error: &Value) -> ProviderError {
    let server = ServerError::from_value(error);
    let provider = http.label().to_owned();
    if server.kind == "rate_limit_error" {
        return ProviderError::RateLimited { provider, retry_after: None };
    }
    let message = if server.message.is_empty() { server.kind } else { server.message };
    ProviderError::Unavailable { provider, detail: format!("the answer broke off: {}", http.excerpt(&message)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::config::ProviderKind;

    fn feed(events: &[Value]) -> (Result<ChatResponse, ProviderError>, Vec<StreamEvent>) {
        let http = Http::new(ProviderConfig::new(ProviderKind::Anthropic, "m", None)).unwrap();
        let mut state = StreamState::default();
        let mut seen = Vec::new();
        for data in events {
            let event = SseEvent { event: "message".into(), data: data.to_string() };
            match state.apply(&http, &event, &mut |event| seen.push(event)) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => break,
                Err(error) => return (Err(error), seen),
            }
        }
        (state.finish(&http, ""), seen)
    }

    fn start() -> Value {
        json!({"type": "message_start", "message": {"model": "m", "usage": {"input_tokens": 5, "output_tokens": 1}}})
    }

    #[test]
    fn an_error_event_mid_stream_ends_the_answer_with_the_servers_words() {
        let (result, _) =
            feed(&[start(), json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})]);
        let error = result.unwrap_err();
        assert!(matches!(error, ProviderError::Unavailable { .. }));
        assert!(error.to_string().contains("the answer broke off: Overloaded"), "{error}");
    }

    #[test]
    fn a_stream_without_message_stop_is_incomplete() {
        let (result, _) = feed(&[
            start(),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "Hi"}}),
        ]);
        assert!(result.unwrap_err().to_string().contains("before `message_stop`"));
    }

    #[test]
    fn thinking_blocks_and_unknown_events_are_ignored_and_usage_is_cumulative() {
        let (result, events) = feed(&[
            start(),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}}),
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hello"}}),
            json!({"type": "something_new"}),
            json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 3}}),
            json!({"type": "message_delta", "delta": {}, "usage": {"output_tokens": 9}}),
            json!({"type": "message_stop"}),
        ]);
        let response = result.unwrap();
        assert_eq!(response.text, "Hello");
        assert_eq!(events, [StreamEvent::TextDelta("Hello".into())]);
        assert_eq!(response.usage, Usage { input_tokens: 5, output_tokens: 9 });
        assert_eq!(response.stop, StopReason::MaxTokens);
    }
}
