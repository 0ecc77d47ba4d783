//! Language-model providers behind one small interface.
//!
//! [`Provider`] is the one thing the rest of TicketFlower holds: built from a
//! [`ProviderConfig`] (the deployment's environment, or a company's own key), cheap to
//! clone, `Send + Sync`. It answers a [`ChatRequest`] whole ([`Provider::complete`]),
//! streamed ([`Provider::stream`]), or as JSON checked against a schema
//! ([`Provider::complete_json`], for `type: ai` workflow steps). Each protocol lives in
//! its own submodule; what they share (HTTP, retries, server-sent events, errors)
//! lives beside them.

mod anthropic;
mod chat;
mod config;
mod error;
mod http;
mod openai;
mod retry;
mod sse;
mod structured;

pub use chat::{ChatRequest, ChatResponse, Message, StopReason, StreamEvent, ToolCall, ToolResult, ToolSpec, Usage};
pub use config::{ANTHROPIC_BASE_URL, ApiKey, OPENAI_BASE_URL, ProviderConfig, ProviderKind, Timeouts};
pub use error::{HOW_TO_CONFIGURE, ProviderError};
pub use retry::RetryPolicy;
pub use structured::extract_json;

use anthropic::Anthropic;
use http::Http;
use openai::OpenAi;

/// A configured language-model provider.
#[derive(Debug, Clone)]
pub struct Provider {
    protocol: Protocol,
}

#[derive(Debug, Clone)]
enum Protocol {
    Anthropic(Anthropic),
    OpenAi(OpenAi),
}

impl Provider {
    pub fn new(config: ProviderConfig) -> Result<Self, ProviderError> {
        let protocol = match config.kind {
            ProviderKind::Anthropic => Protocol::Anthropic(Anthropic::new(config)?),
            ProviderKind::OpenAi => Protocol::OpenAi(OpenAi::new(config)?),
        };
        Ok(Self { protocol })
    }

    /// The deployment's provider, from `TICKETFLOWER_LLM_*`; `Ok(None)` when none is set.
    pub fn from_env() -> Result<Option<Self>, ProviderError> {
        ProviderConfig::from_env()?.map(Self::new).transpose()
    }

    pub fn config(&self) -> &ProviderConfig {
        self.http().config()
    }

    pub fn kind(&self) -> ProviderKind {
        self.config().kind
    }

    pub fn model(&self) -> &str {
        &self.config().model
    }

    /// How messages name this provider ("Anthropic", "The OpenAI-compatible server at …").
    pub fn label(&self) -> &str {
        self.http().label()
    }

    fn http(&self) -> &Http {
        match &self.protocol {
            Protocol::Anthropic(provider) => provider.http(),
            Protocol::OpenAi(provider) => provider.http(),
        }
    }

    /// The model's whole answer.
    pub async fn complete(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        let response = match &self.protocol {
            Protocol::Anthropic(provider) => provider.complete(request).await,
            Protocol::OpenAi(provider) => provider.complete(request).await,
        };
        self.finish(response)
    }

    /// The model's answer, reported piece by piece to `on_event` as it arrives, then
    /// whole (tool-call arguments assembled from their fragments). A failure before
    /// the answer starts is retried like [`Provider::complete`]; one in the middle is not.
    pub async fn stream(
        &self,
        request: &ChatRequest,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<ChatResponse, ProviderError> {
        let response = match &self.protocol {
            Protocol::Anthropic(provider) => provider.stream(request, on_event).await,
            Protocol::OpenAi(provider) => provider.stream(request, on_event).await,
        };
        self.finish(response)
    }

    fn finish(&self, response: Result<ChatResponse, ProviderError>) -> Result<ChatResponse, ProviderError> {
        match response {
            Ok(mut response) => {
                // Some local servers say "stop" even when the model called tools.
                if !response.tool_calls.is_empty() && response.stop == StopReason::EndTurn {
                    response.stop = StopReason::ToolUse;
                }
                tracing::debug!(
                    provider = %self.label(),
                    model = %response.model,
                    input_tokens = response.usage.input_tokens,
                    output_tokens = response.usage.output_tokens,
                    "model answered"
                );
                Ok(response)
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_clone<T: Send + Sync + Clone>() {}

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn providers_and_their_futures_can_cross_threads() {
        assert_send_sync_clone::<Provider>();
        let provider = Provider::new(ProviderConfig::new(ProviderKind::OpenAi, "m", None)).unwrap();
        let request =
            ChatRequest { system: String::new(), messages: vec![], tools: vec![], max_tokens: 1, temperature: None };
        let mut on_event = |_: StreamEvent| {};
        assert_send(&provider.complete(&request));
        assert_send(&provider.stream(&request, &mut on_event));
        let schema = ticketflower_core::schema::Schema::compile(&serde_json::json!({"type": "object"})).unwrap();
        assert_send(&provider.complete_json("", "", &schema));
    }
}
