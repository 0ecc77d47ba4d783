//! Which provider to talk to and how: read from the environment once at startup, or
//! built from explicit values (a company's own key).
//!
//! The API key is an [`ApiKey`], which never prints: `Debug` shows `[redacted]` and
//! there is no `Display`.

use super::error::ProviderError;
use super::retry::RetryPolicy;
use std::fmt;
use std::time::Duration;

pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
pub const OPENAI_BASE_URL: &str = "https://api.openai.com";

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// The Anthropic Messages API.
    Anthropic,
    /// The OpenAI chat-completions API, as OpenAI, Ollama, llama.cpp and vLLM serve it.
    OpenAi,
}

impl ProviderKind {
    /// Parses the value of `TICKETFLOWER_LLM_PROVIDER`.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "anthropic" | "claude" => Some(Self::Anthropic),
            "openai" | "openai-compatible" | "ollama" | "llama.cpp" | "llamacpp" | "vllm" => Some(Self::OpenAi),
            _ => None,
        }
    }

    pub fn default_base_url(self) -> &'static str {
        match self {
            Self::Anthropic => ANTHROPIC_BASE_URL,
            Self::OpenAi => OPENAI_BASE_URL,
        }
    }
}

/// A secret API key. It is sent in a header and nowhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the request header (and for removing it from server text).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// How long to wait for a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the connection (including TLS).
    pub connect: Duration,
    /// A whole non-streaming answer; for a streaming answer, the wait for the first
    /// byte and then for each next piece, so a long answer that keeps coming is not cut.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(10), request: Duration::from_secs(120) }
    }
}

/// Everything needed to talk to one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    pub model: String,
    /// Where the server is; see [`ProviderConfig::with_base_url`].
    pub base_url: String,
    pub api_key: Option<ApiKey>,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
}

impl ProviderConfig {
    /// A provider at its default address, with default timeouts and retries.
    pub fn new(kind: ProviderKind, model: impl Into<String>, api_key: Option<ApiKey>) -> Self {
        Self {
            kind,
            model: model.into(),
            base_url: kind.default_base_url().to_owned(),
            api_key,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
        }
    }

    /// Another server: a proxy, or a local OpenAI-compatible one. Pasted with or without
    /// the `/v1` suffix (or even the whole endpoint), it means the same server.
    pub fn with_base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Reads `TICKETFLOWER_LLM_PROVIDER`, `_MODEL`, `_BASE_URL`, `_API_KEY` and
    /// `_TIMEOUT_SECONDS`. `Ok(None)` when no provider is set; an error names what is
    /// missing or wrong when the configuration is incomplete.
    pub fn from_env() -> Result<Option<Self>, ProviderError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`ProviderConfig::from_env`] over any source of variables (tests, settings files).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, ProviderError> {
        let read = |name: &str| lookup(name).map(|value| value.trim().to_owned()).filter(|value| !value.is_empty());
        let not_configured = |reason: String| ProviderError::NotConfigured { reason };

        let Some(provider) = read("TICKETFLOWER_LLM_PROVIDER") else {
            return Ok(None);
        };
        let kind = ProviderKind::parse(&provider).ok_or_else(|| {
            not_configured(format!(
                "TICKETFLOWER_LLM_PROVIDER is \"{provider}\", which is neither \"anthropic\" nor \"openai\""
            ))
        })?;
        let model = read("TICKETFLOWER_LLM_MODEL").ok_or_else(|| {
            not_configured(format!("TICKETFLOWER_LLM_PROVIDER is {kind} but TICKETFLOWER_LLM_MODEL is not set"))
        })?;
        let api_key = read("TICKETFLOWER_LLM_API_KEY").map(ApiKey::new);
        if kind == ProviderKind::Anthropic && api_key.is_none() {
            return Err(not_configured("Anthropic needs an API key in TICKETFLOWER_LLM_API_KEY".to_owned()));
        }
        let mut config = Self::new(kind, model, api_key);
        if let Some(base_url) = read("TICKETFLOWER_LLM_BASE_URL") {
            if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                return Err(not_configured(format!(
                    "TICKETFLOWER_LLM_BASE_URL is \"{base_url}\", which does not start with http:// or https://"
                )));
            }
            config = config.with_base_url(base_url);
        }
        if let Some(seconds) = read("TICKETFLOWER_LLM_TIMEOUT_SECONDS") {
            let seconds: u64 = seconds.parse().ok().filter(|seconds| *seconds > 0).ok_or_else(|| {
                not_configured(format!(
                    "TICKETFLOWER_LLM_TIMEOUT_SECONDS is \"{seconds}\", which is not a whole number of seconds above 0"
                ))
            })?;
            config.timeouts.request = Duration::from_secs(seconds);
        }
        Ok(Some(config))
    }

    /// Where requests go. OpenAI-style base URLs usually end in `/v1` (the SDKs append
    /// `/chat/completions`), but a bare `http://host:port` is common for local servers,
    /// so a base without a path gets `/v1`; other paths (`/api/v1`, `/v1beta/openai`)
    /// are kept. Anthropic-style bases are the bare host, to which `/v1/messages` is
    /// appended; a pasted `/v1` is tolerated. A pasted whole endpoint works for both.
    pub(crate) fn endpoint(&self) -> String {
        let base = self.base_url.trim().trim_end_matches('/');
        match self.kind {
            ProviderKind::Anthropic => {
                let base = base.strip_suffix("/messages").unwrap_or(base).trim_end_matches('/');
                let base = base.strip_suffix("/v1").unwrap_or(base);
                format!("{base}/v1/messages")
            }
            ProviderKind::OpenAi => {
                let base = base.strip_suffix("/chat/completions").unwrap_or(base).trim_end_matches('/');
                let has_path = base.split_once("://").is_some_and(|(_, rest)| rest.contains('/'));
                if has_path { format!("{base}/chat/completions") } else { format!("{base}/v1/chat/completions") }
            }
        }
    }

    /// How errors name this provider: the product for its own server, the address otherwise.
    pub(crate) fn label(&self) -> String {
        let root = self.base_url.trim().trim_end_matches('/');
        let root = root.strip_suffix("/v1").unwrap_or(root);
        match self.kind {
            ProviderKind::Anthropic if root == ANTHROPIC_BASE_URL => "Anthropic".to_owned(),
            ProviderKind::OpenAi if root == OPENAI_BASE_URL => "OpenAI".to_owned(),
            ProviderKind::Anthropic => format!("The Anthropic-compatible server at {root}"),
            ProviderKind::OpenAi => format!("The OpenAI-compatible server at {root}"),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn nothing_set_means_no_provider() {
        assert_eq!(ProviderConfig::from_lookup(lookup(&[])), Ok(None));
        assert_eq!(ProviderConfig::from_lookup(lookup(&[("TICKETFLOWER_LLM_PROVIDER", " ")])), Ok(None));
    }

    #[test]
    fn a_complete_anthropic_configuration_uses_the_default_address() {
        let config = ProviderConfig::from_lookup(lookup(&[
            ("TICKETFLOWER_LLM_PROVIDER", "anthropic"),
            ("TICKETFLOWER_LLM_MODEL", "claude-x"),
            ("TICKETFLOWER_LLM_API_KEY", "sk-ant-secret"),
            ("TICKETFLOWER_LLM_TIMEOUT_SECONDS", "30"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.kind, ProviderKind::Anthropic);
        assert_eq!(config.base_url, ANTHROPIC_BASE_URL);
        assert_eq!(config.timeouts.request, Duration::from_secs(30));
        assert_eq!(config.label(), "Anthropic");
    }

    #[test]
    fn a_local_openai_compatible_server_needs_no_key() {
        let config = ProviderConfig::from_lookup(lookup(&[
            ("TICKETFLOWER_LLM_PROVIDER", "openai"),
            ("TICKETFLOWER_LLM_MODEL", "qwen3"),
            ("TICKETFLOWER_LLM_BASE_URL", "http://localhost:11434/v1/"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(config.api_key, None);
        assert_eq!(config.endpoint(), "http://localhost:11434/v1/chat/completions");
        assert_eq!(config.label(), "The OpenAI-compatible server at http://localhost:11434");
    }

    #[test]
    fn incomplete_configurations_say_what_is_missing() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("TICKETFLOWER_LLM_PROVIDER", "gemini")], "neither"),
            (&[("TICKETFLOWER_LLM_PROVIDER", "openai")], "TICKETFLOWER_LLM_MODEL is not set"),
            (&[("TICKETFLOWER_LLM_PROVIDER", "anthropic"), ("TICKETFLOWER_LLM_MODEL", "m")], "needs an API key"),
            (
                &[
                    ("TICKETFLOWER_LLM_PROVIDER", "openai"),
                    ("TICKETFLOWER_LLM_MODEL", "m"),
                    ("TICKETFLOWER_LLM_BASE_URL", "localhost:8080"),
                ],
                "does not start with http",
            ),
            (
                &[
                    ("TICKETFLOWER_LLM_PROVIDER", "openai"),
                    ("TICKETFLOWER_LLM_MODEL", "m"),
                    ("TICKETFLOWER_LLM_TIMEOUT_SECONDS", "soon"),
                ],
                "not a whole number",
            ),
        ];
        for (pairs, expected) in cases {
            let error = ProviderConfig::from_lookup(lookup(pairs)).unwrap_err();
            assert!(matches!(error, ProviderError::NotConfigured { .. }));
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn openai_base_urls_work_with_or_without_v1() {
        let cases = [
            ("http://host:8080", "http://host:8080/v1/chat/completions"),
            ("http://host:8080/", "http://host:8080/v1/chat/completions"),
            ("http://host:8080/v1", "http://host:8080/v1/chat/completions"),
            ("http://host:8080/v1/", "http://host:8080/v1/chat/completions"),
            ("http://host:8080/v1/chat/completions", "http://host:8080/v1/chat/completions"),
            ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1/chat/completions"),
            ("https://example.com/v1beta/openai/", "https://example.com/v1beta/openai/chat/completions"),
        ];
        for (pasted, expected) in cases {
            let config = ProviderConfig::new(ProviderKind::OpenAi, "m", None).with_base_url(pasted);
            assert_eq!(config.endpoint(), expected, "{pasted}");
        }
    }

    #[test]
    fn anthropic_base_urls_work_with_or_without_v1() {
        for pasted in ["https://proxy", "https://proxy/", "https://proxy/v1", "https://proxy/v1/messages"] {
            let config = ProviderConfig::new(ProviderKind::Anthropic, "m", None).with_base_url(pasted);
            assert_eq!(config.endpoint(), "https://proxy/v1/messages", "{pasted}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let config = ProviderConfig::new(ProviderKind::OpenAi, "m", Some(ApiKey::new("sk-very-secret")));
        let debug = format!("{config:?} {:?}", config.api_key);
        assert!(!debug.contains("sk-very-secret"), "{debug}");
        assert!(debug.contains("[redacted]"));
    }
}
