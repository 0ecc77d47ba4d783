//! The OpenAI-compatible chat-completions API (`POST …/chat/completions`), whole and
//! streamed, as OpenAI, Ollama, llama.cpp's server and vLLM serve it.
//!
//! Owns the translation to and from that wire format: `Authorization: Bearer` when a
//! key is set, the system prompt as the first message, tools as
//! `{type: function, function: {name, description, parameters}}`, `tool_calls` whose
//! arguments are a JSON *string*, tool results as `role: tool` messages; and streamed
//! `data:` chunks with `choices[0].delta` fragments, usage in the last chunk
//! (`stream_options.include_usage`) and `data: [DONE]`. Local servers differ in small
//! ways (arguments as an object, tool-call deltas without `index`), which are tolerated.

use super::chat::{
    ChatRequest, ChatResponse, Message, StopReason, StreamEvent, ToolCall, Usage, arguments_for_replay,
    parse_arguments, temperature_json,
};
use super::config::{OPENAI_BASE_URL, ProviderConfig};
use super::error::ProviderError;
use super::http::{Delivery, Flow, Http, ServerError};
use super::sse::SseEvent;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub(crate) struct OpenAi {
    http: Http,
}

impl OpenAi {
    pub(crate) fn new(config: ProviderConfig) -> Result<Self, ProviderError> {
        Ok(Self { http: Http::new(config)? })
    }

    pub(crate) fn http(&self) -> &Http {
        &self.http
    }

    pub(crate) async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let body = request_body(self.http.config(), request, Delivery::Whole);
        let response = self.http.post(self.headers()?, &body, Delivery::Whole).await?;
        let text = self.http.read_body(response).await?;
        let wire: WireResponse = serde_json::from_str(&text)
            .map_err(|error| self.http.bad_response(format!("not a chat-completions answer: {error}"), &text))?;
        wire.into_response().ok_or_else(|| self.http.bad_response("the answer has no choices", &text))
    }

    pub(crate) async fn stream(
        &self,
        request: &ChatRequest,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<ChatResponse, ProviderError> {
        let body = request_body(self.http.config(), request, Delivery::Streamed);
        let response = self.http.post(self.headers()?, &body, Delivery::Streamed).await?;
        let mut state = StreamState::default();
        let beginning = self.http.read_stream(response, |event| state.apply(&self.http, &event, on_event)).await?;
        state.finish(&self.http, &beginning)
    }

    fn headers(&self) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some((name, value)) = self.http.secret_header("authorization", "Bearer ")? {
            headers.insert(name, value);
        }
        Ok(headers)
    }
}

pub(crate) fn request_body(config: &ProviderConfig, request: &ChatRequest, delivery: Delivery) -> Value {
    let system = (!request.system.is_empty()).then(|| json!({"role": "system", "content": request.system}));
    let messages: Vec<Value> = system.into_iter().chain(request.messages.iter().flat_map(message)).collect();
    let mut body = json!({"model": config.model, "messages": messages});
    // OpenAI's own reasoning models refuse the older `max_tokens`; most local servers
    // know only `max_tokens`.
    let max_tokens_field =
        if config.endpoint().starts_with(OPENAI_BASE_URL) { "max_completion_tokens" } else { "max_tokens" };
    body[max_tokens_field] = json!(request.max_tokens);
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {"name": tool.name, "description": tool.description, "parameters": tool.input_schema},
                })
            })
            .collect();
    }
    if let Some(temperature) = request.temperature {
        body["temperature"] = temperature_json(temperature);
    }
    if delivery == Delivery::Streamed {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

fn message(message: &Message) -> Vec<Value> {
    match message {
        Message::User { text } => vec![json!({"role": "user", "content": text})],
        Message::Assistant { text, tool_calls } => {
            let content = if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(text) };
            let mut value = json!({"role": "assistant", "content": content});
            if !tool_calls.is_empty() {
                value["tool_calls"] = tool_calls
                    .iter()
                    .map(|call| {
                        json!({
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": arguments_for_replay(&call.arguments).to_string()},
                        })
                    })
                    .collect();
            }
            vec![value]
        }
        // The protocol has no error flag, so an error says so in its content.
        Message::ToolResults { results } => results
            .iter()
            .map(|result| {
                let content =
                    if result.is_error { format!("Error: {}", result.content) } else { result.content.clone() };
                json!({"role": "tool", "tool_call_id": result.tool_call_id, "content": content})
            })
            .collect(),
    }
}

fn stop_reason(reason: Option<&str>) -> StopReason {
    match reason {
        None | Some("stop") => StopReason::EndTurn,
        Some("tool_calls") | Some("function_call") => StopReason::ToolUse,
        Some("length") => StopReason::MaxTokens,
        Some("content_filter") => StopReason::Refused,
        Some(other) => StopReason::Other(other.to_owned()),
    }
}

/// `function.arguments`: a JSON string on the wire; some servers send the object itself.
fn arguments(value: Option<Value>) -> Result<Value, String> {
    match value {
        None | Some(Value::Null) => Ok(json!({})),
        Some(Value::String(raw)) => parse_arguments(&raw),
        Some(value) => Ok(value),
    }
}

/// Message content: a string, `null`, or (rarely) a list of text parts.
fn content_text(content: Option<Value>) -> String {
    match content {
        Some(Value::String(text)) => text,
        Some(Value::Array(parts)) => parts.iter().filter_map(|part| part.get("text").and_then(Value::as_str)).collect(),
        _ => String::new(),
    }
}

#[derive(Deserialize)]
struct WireResponse {
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
    #[serde(default)]
    model: String,
}

impl WireResponse {
    fn into_response(self) -> Option<ChatResponse> {
        let choice = self.choices.into_iter().next()?;
        let tool_calls = choice
            .message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(position, call)| ToolCall {
                id: call.id.filter(|id| !id.is_empty()).unwrap_or_else(|| format!("call_{position}")),
                name: call.function.name.unwrap_or_default(),
                arguments: arguments(call.function.arguments),
            })
            .collect();
        Some(ChatResponse {
            text: content_text(choice.message.content),
            tool_calls,
            usage: self.usage.map(WireUsage::usage).unwrap_or_default(),
            stop: stop_reason(choice.finish_reason.as_deref()),
            model: self.model,
        })
    }
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireMessage {
    content: Option<Value>,
    tool_calls: Option<Vec<WireToolCall>>,
}

#[derive(Deserialize)]
struct WireToolCall {
    /// Only in deltas; the position of the call this fragment belongs to.
    index: Option<u64>,
    id: Option<String>,
    #[serde(default)]
    function: WireFunction,
}

#[derive(Deserialize, Default)]
struct WireFunction {
    name: Option<String>,
    arguments: Option<Value>,
}

#[derive(Deserialize)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl WireUsage {
    fn usage(self) -> Usage {
        Usage { input_tokens: self.prompt_tokens, output_tokens: self.completion_tokens }
    }
}

#[derive(Deserialize)]
struct WireChunk {
    choices: Option<Vec<WireChunkChoice>>,
    usage: Option<WireUsage>,
    model: Option<String>,
    error: Option<Value>,
}

#[derive(Deserialize)]
struct WireChunkChoice {
    delta: Option<WireDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireDelta {
    content: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
}

/// A streamed answer being assembled.
#[derive(Default)]
struct StreamState {
    chunks: usize,
    done: bool,
    model: String,
    usage: Usage,
    stop: Option<String>,
    text: String,
    tool_calls: Vec<StreamedToolCall>,
}

struct StreamedToolCall {
    index: Option<u64>,
    id: String,
    name: String,
    arguments: String,
}

impl StreamState {
    fn apply(
        &mut self,
        http: &Http,
        event: &SseEvent,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<Flow, ProviderError> {
        if event.data.trim() == "[DONE]" {
            self.done = true;
            return Ok(Flow::Stop);
        }
        let chunk: WireChunk = serde_json::from_str(&event.data)
            .map_err(|error| http.bad_response(format!("an unreadable chunk: {error}"), &event.data))?;
        if let Some(error) = chunk.error {
            return Err(stream_error(http, &error));
        }
        self.chunks += 1;
        if let Some(model) = chunk.model.filter(|model| !model.is_empty()) {
            self.model = model;
        }
        if let Some(usage) = chunk.usage {
            self.usage = usage.usage();
        }
        for choice in chunk.choices.unwrap_or_default().into_iter().take(1) {
            if let Some(reason) = choice.finish_reason {
                self.stop = Some(reason);
            }
            let Some(delta) = choice.delta else { continue };
            if let Some(text) = delta.content.filter(|text| !text.is_empty()) {
                self.text.push_str(&text);
                on_event(StreamEvent::TextDelta(text));
            }
            for fragment in delta.tool_calls.unwrap_or_default() {
                self.tool_call_fragment(fragment, on_event);
            }
        }
        Ok(Flow::Continue)
    }

    fn tool_call_fragment(&mut self, fragment: WireToolCall, on_event: &mut (dyn FnMut(StreamEvent) + Send)) {
        let id = fragment.id.filter(|id| !id.is_empty());
        // Which call it continues: by index; without one, by id; else the latest call.
        let position = match (fragment.index, &id) {
            (Some(index), _) => self.tool_calls.iter().position(|call| call.index == Some(index)),
            (None, Some(id)) => self.tool_calls.iter().position(|call| &call.id == id),
            (None, None) => self.tool_calls.len().checked_sub(1),
        };
        let position = position.unwrap_or_else(|| {
            let id = id.unwrap_or_else(|| format!("call_{}", self.tool_calls.len()));
            let name = fragment.function.name.clone().unwrap_or_default();
            on_event(StreamEvent::ToolCallStarted { id: id.clone(), name: name.clone() });
            self.tool_calls.push(StreamedToolCall { index: fragment.index, id, name, arguments: String::new() });
            self.tool_calls.len() - 1
        });
        let call = &mut self.tool_calls[position];
        if call.name.is_empty()
            && let Some(name) = fragment.function.name
        {
            call.name = name;
        }
        let piece = match fragment.function.arguments {
            Some(Value::String(piece)) => piece,
            Some(Value::Null) | None => String::new(),
            Some(value) => value.to_string(),
        };
        if !piece.is_empty() {
            call.arguments.push_str(&piece);
            on_event(StreamEvent::ToolCallArgumentsDelta { id: call.id.clone(), fragment: piece });
        }
    }

    fn finish(self, http: &Http, beginning: &str) -> Result<ChatResponse, ProviderError> {
        if self.chunks == 0 {
            return Err(http.bad_response("no chat-completion chunks in the stream", beginning));
        }
        if !self.done && self.stop.is_none() {
            return Err(http.bad_response("the stream ended before the answer was complete", beginning));
        }
        let tool_calls = self
            .tool_calls
            .into_iter()
            .map(|call| ToolCall { id: call.id, name: call.name, arguments: parse_arguments(&call.arguments) })
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

/// An `{"error": …}` chunk in the middle of a stream.
fn stream_error(http: &Http, error: &Value) -> ProviderError {
    let server = ServerError::from_value(&json!({ "error": error }));
    let provider = http.label().to_owned();
    let message = if server.message.is_empty() { server.kind } else { server.message };
    if message.to_ascii_lowercase().contains("rate limit") {
        return ProviderError::RateLimited { provider, retry_after: None };
    }
    ProviderError::Unavailable { provider, detail: format!("the answer broke off: {}", http.excerpt(&message)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::config::ProviderKind;

    fn feed(chunks: &[&str]) -> (Result<ChatResponse, ProviderError>, Vec<StreamEvent>) {
        let http =
            Http::new(ProviderConfig::new(ProviderKind::OpenAi, "m", None).with_base_url("http://localhost:11434"))
                .unwrap();
        let mut state = StreamState::default();
        let mut seen = Vec::new();
        for data in chunks {
            let event = SseEvent { event: "message".into(), data: (*data).to_owned() };
            match state.apply(&http, &event, &mut |event| seen.push(event)) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => break,
                Err(error) => return (Err(error), seen),
            }
        }
        (state.finish(&http, ""), seen)
    }

    #[test]
    fn tool_call_deltas_without_an_index_and_arguments_as_objects_are_tolerated() {
        let (result, events) = feed(&[
            r#"{"model":"qwen3","choices":[{"delta":{"tool_calls":[{"id":"a","function":{"name":"list_workflows","arguments":{}}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"id":"b","function":{"name":"get_workflow","arguments":"{\"key\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"\"x\"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
            "[DONE]",
        ]);
        let response = result.unwrap();
        let calls: Vec<_> = response
            .tool_calls
            .iter()
            .map(|call| (call.id.as_str(), call.name.as_str(), call.arguments.clone()))
            .collect();
        assert_eq!(calls, [("a", "list_workflows", Ok(json!({}))), ("b", "get_workflow", Ok(json!({"key": "x"})))]);
        assert_eq!(events[0], StreamEvent::ToolCallStarted { id: "a".into(), name: "list_workflows".into() });
        assert_eq!(response.model, "qwen3");
    }

    #[test]
    fn an_error_chunk_mid_stream_ends_the_answer() {
        let (result, _) =
            feed(&[r#"{"choices":[{"delta":{"content":"Hel"}}]}"#, r#"{"error":{"message":"model crashed"}}"#]);
        let error = result.unwrap_err();
        assert!(error.to_string().contains("the answer broke off: model crashed"), "{error}");
    }

    #[test]
    fn a_stream_cut_off_before_finishing_is_incomplete() {
        let (result, _) = feed(&[r#"{"choices":[{"delta":{"content":"Hel"}}]}"#]);
        assert!(result.unwrap_err().to_string().contains("before the answer was complete"));
    }

    #[test]
    fn openai_itself_gets_max_completion_tokens_and_others_max_tokens() {
        let request =
            ChatRequest { system: String::new(), messages: vec![], tools: vec![], max_tokens: 9, temperature: None };
        let openai = ProviderConfig::new(ProviderKind::OpenAi, "gpt", None);
        let body = request_body(&openai, &request, Delivery::Whole);
        assert_eq!((body.get("max_completion_tokens"), body.get("max_tokens")), (Some(&json!(9)), None));
        let local = openai.with_base_url("http://localhost:8080");
        let body = request_body(&local, &request, Delivery::Whole);
        assert_eq!((body.get("max_completion_tokens"), body.get("max_tokens")), (None, Some(&json!(9))));
    }
}
