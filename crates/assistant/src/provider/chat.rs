//! The provider-neutral conversation: what we send to a model and what comes back.
//!
//! These types are the same for every provider; `anthropic` and `openai` translate
//! them to and from their wire formats. They serialize, so a conversation can be
//! stored and replayed.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One request to a model. The model name comes from the provider's configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// Instructions for the model; empty means none.
    pub system: String,
    pub messages: Vec<Message>,
    /// The tools the model may call; empty means none.
    pub tools: Vec<ToolSpec>,
    pub max_tokens: u32,
    /// `None` leaves the provider's default (some reasoning models accept no other).
    pub temperature: Option<f32>,
}

/// A tool the model may call, described by a JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    User {
        text: String,
    },
    /// What the model said earlier: its text and the tools it called.
    Assistant {
        text: String,
        tool_calls: Vec<ToolCall>,
    },
    /// The answers to the model's tool calls, all of one turn together.
    ToolResults {
        results: Vec<ToolResult>,
    },
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Self::User { text: text.into() }
    }

    /// The model's answer, as the next turn of the conversation.
    pub fn assistant(response: &ChatResponse) -> Self {
        Self::Assistant { text: response.text.clone(), tool_calls: response.tool_calls.clone() }
    }

    pub fn tool_results(results: Vec<ToolResult>) -> Self {
        Self::ToolResults { results }
    }
}

/// A tool call made by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id, which the matching [`ToolResult`] must quote.
    pub id: String,
    pub name: String,
    /// The arguments, or the raw text when the model sent JSON that does not parse
    /// (answer with an error result so the model can try again).
    pub arguments: Result<Value, String>,
}

/// The answer to one tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    pub tool_call_id: String,
    pub content: String,
    /// The call failed; `content` says why.
    pub is_error: bool,
}

impl ToolResult {
    pub fn ok(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self { tool_call_id: tool_call_id.into(), content: content.into(), is_error: false }
    }

    pub fn error(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Self { tool_call_id: tool_call_id.into(), content: content.into(), is_error: true }
    }
}

/// The model's complete answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub usage: Usage,
    pub stop: StopReason,
    /// The model that answered, as the provider reports it.
    pub model: String,
}

/// Tokens counted by the provider, for cost records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl std::ops::Add for Usage {
    type Output = Usage;

    fn add(self, other: Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens + other.input_tokens,
            output_tokens: self.output_tokens + other.output_tokens,
        }
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// It finished its answer.
    EndTurn,
    /// It wants the results of its tool calls.
    ToolUse,
    /// It hit `max_tokens`; the answer is cut off.
    MaxTokens,
    StopSequence,
    /// The provider's safety system refused or filtered the answer.
    Refused,
    /// Anything else the provider said, verbatim.
    Other(String),
}

/// Something that happened while an answer streams in.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    TextDelta(String),
    ToolCallStarted {
        id: String,
        name: String,
    },
    /// A piece of a tool call's JSON arguments; the pieces of one call concatenate.
    ToolCallArgumentsDelta {
        id: String,
        fragment: String,
    },
}

/// Parses the arguments of a tool call assembled from text; an empty text means no
/// arguments, and text that does not parse is kept as it is.
pub(crate) fn parse_arguments(raw: &str) -> Result<Value, String> {
    if raw.trim().is_empty() {
        return Ok(Value::Object(serde_json::Map::new()));
    }
    serde_json::from_str(raw).map_err(|_| raw.to_owned())
}

/// A temperature as JSON: `0.2`, not the `0.20000000298023224` an `f32` widens to.
pub(crate) fn temperature_json(temperature: f32) -> Value {
    temperature.to_string().parse::<f64>().map(Value::from).unwrap_or_else(|_| Value::from(f64::from(temperature)))
}

/// The arguments to send back with an earlier tool call: malformed ones become `{}`
/// (servers refuse to replay invalid JSON; the tool result explains the error).
pub(crate) fn arguments_for_replay(arguments: &Result<Value, String>) -> Value {
    match arguments {
        Ok(value) => value.clone(),
        Err(_) => Value::Object(serde_json::Map::new()),
    }
}
