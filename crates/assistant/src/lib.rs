//! TicketFlower's AI assistant (SPEC §6).
//!
//! This crate owns the conversation with language models: [`provider`] speaks the
//! Anthropic Messages API and the OpenAI-compatible chat-completions API (OpenAI,
//! Ollama, llama.cpp, vLLM) with tool calling, streaming, timeouts and retries, and
//! [`fake`] is a scripted server speaking both protocols so that tests never reach the
//! network. [`designer`] plays one turn of the assistant's conversation: the system
//! prompt (the workflow guide and the company's context), the tools, and the
//! validate-simulate-repair loop around every proposal. [`eval`] measures the designer
//! against a set of plain-language cases (`ticketflower assistant-eval`). Storing conversations and
//! the web pages live elsewhere.

pub mod designer;
pub mod eval;
pub mod fake;
pub mod provider;

pub use provider::{
    ApiKey, ChatRequest, ChatResponse, Message, Provider, ProviderConfig, ProviderError, ProviderKind, RetryPolicy,
    StopReason, StreamEvent, Timeouts, ToolCall, ToolResult, ToolSpec, Usage,
};

/// Installs ring as the process-wide rustls crypto provider.
///
/// reqwest is built with `rustls-no-provider` (no aws-lc, no OpenSSL in the tree), so
/// building any `reqwest::Client` panics until a provider is installed. Call this once
/// at startup (and in tests that build a client); later calls do nothing.
/// [`Provider::new`] calls it itself.
pub fn install_crypto_provider() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        // An error only means another provider was installed first, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
