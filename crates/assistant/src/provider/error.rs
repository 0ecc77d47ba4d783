//! What can go wrong talking to a model, in words a person can act on.
//!
//! Every variant's `Display` is meant to be shown in the chat as it is: it names the
//! provider, says what happened and what to do. Messages quote the server only in
//! short excerpts, with the API key removed, and never carry the key itself.

use std::fmt;
use std::time::Duration;
use ticketflower_core::Problem;

/// How to configure a provider, for the assistant page and for errors.
pub const HOW_TO_CONFIGURE: &str = "Set TICKETFLOWER_LLM_PROVIDER to \"anthropic\" or \"openai\" (any OpenAI-compatible server: OpenAI, Ollama, llama.cpp, vLLM), \
TICKETFLOWER_LLM_MODEL to the model name, TICKETFLOWER_LLM_API_KEY to the API key (optional for a local server), \
and TICKETFLOWER_LLM_BASE_URL when the server is not the provider's own (for example http://localhost:11434/v1 for Ollama); \
TICKETFLOWER_LLM_TIMEOUT_SECONDS is optional. Then restart TicketFlower.";

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// No provider, or an incomplete or invalid configuration.
    #[error("The AI assistant is not configured: {reason}. {HOW_TO_CONFIGURE}")]
    NotConfigured { reason: String },

    #[error("{provider} refused the API key ({message}). Check TICKETFLOWER_LLM_API_KEY or the company's own key.")]
    Unauthorized { provider: String, message: String },

    #[error("{provider} is limiting how fast requests may be sent; {}", try_again(*.retry_after))]
    RateLimited { provider: String, retry_after: Option<Duration> },

    #[error(
        "{provider} says the account's quota or credit is used up ({message}). Add credit or raise the limit with the provider."
    )]
    QuotaExceeded { provider: String, message: String },

    #[error("{provider} did not answer within {}. Try again, or allow more time with TICKETFLOWER_LLM_TIMEOUT_SECONDS.", duration(*.after))]
    Timeout { provider: String, after: Duration },

    #[error("{provider} is unavailable ({detail}). Try again in a few minutes.")]
    Unavailable { provider: String, detail: String },

    /// Any other refusal (an unknown model, a request too long); the server's words say which.
    #[error("{provider} rejected the request (HTTP {status}): {message}")]
    Rejected { provider: String, status: u16, message: String },

    /// The server answered with something that is not the protocol.
    #[error("{provider} sent an answer TicketFlower cannot read ({problem}); it began: \"{excerpt}\"")]
    BadResponse { provider: String, problem: String, excerpt: String },

    /// Structured output still did not fit its schema after one repair attempt.
    #[error("{provider}'s model twice answered with JSON that does not fit the expected shape: {}", join(problems))]
    InvalidOutput { provider: String, problems: Vec<Problem> },
}

impl ProviderError {
    /// What to show when no provider is configured at all.
    pub fn no_provider() -> Self {
        Self::NotConfigured { reason: "no language-model provider is set".to_owned() }
    }

    /// The provider involved, if one was.
    pub fn provider(&self) -> Option<&str> {
        match self {
            Self::NotConfigured { .. } => None,
            Self::Unauthorized { provider, .. }
            | Self::RateLimited { provider, .. }
            | Self::QuotaExceeded { provider, .. }
            | Self::Timeout { provider, .. }
            | Self::Unavailable { provider, .. }
            | Self::Rejected { provider, .. }
            | Self::BadResponse { provider, .. }
            | Self::InvalidOutput { provider, .. } => Some(provider),
        }
    }
}

fn try_again(retry_after: Option<Duration>) -> String {
    match retry_after {
        Some(wait) => format!("try again in {}.", duration(wait)),
        None => "try again in a minute.".to_owned(),
    }
}

fn duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() == 0 || seconds >= 10 {
        if seconds == 1 { "1 second".to_owned() } else { format!("{seconds} seconds") }
    } else {
        format!("{} ms", duration.as_millis())
    }
}

fn join(problems: &[Problem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// A short, single-line excerpt of what a server sent, with `secret` removed.
pub(crate) fn excerpt(text: &str, secret: Option<&str>) -> String {
    const LIMIT: usize = 200;
    let mut cleaned = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(secret) = secret.filter(|secret| !secret.is_empty()) {
        cleaned = cleaned.replace(secret, "[redacted]");
    }
    match cleaned.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", &cleaned[..end]),
        None => cleaned,
    }
}

impl fmt::Display for super::ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_short_single_line_and_redacted() {
        let long = format!("bad key sk-123\n\n{}", "x".repeat(500));
        let text = excerpt(&long, Some("sk-123"));
        assert!(text.starts_with("bad key [redacted] xxx"));
        assert!(text.chars().count() <= 201);
        assert!(!text.contains('\n'));
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(Duration::from_secs(1)), "1 second");
        assert_eq!(duration(Duration::from_secs(30)), "30 seconds");
        assert_eq!(duration(Duration::from_millis(200)), "200 ms");
    }

    #[test]
    fn not_configured_names_every_variable() {
        let message = ProviderError::NotConfigured { reason: "no provider is set".into() }.to_string();
        for variable in [
            "TICKETFLOWER_LLM_PROVIDER",
            "TICKETFLOWER_LLM_MODEL",
            "TICKETFLOWER_LLM_API_KEY",
            "TICKETFLOWER_LLM_BASE_URL",
        ] {
            assert!(message.contains(variable), "{message}");
        }
    }
}
