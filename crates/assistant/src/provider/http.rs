//! The HTTP exchange both protocols share: send a JSON request with timeouts and
//! retries, turn failures into [`ProviderError`]s, and read a streamed body.
//!
//! Retried: 429 (unless the quota is used up), 408, 5xx (Anthropic's 529 included)
//! and failures to connect. Never retried: other 4xx, and timeouts (someone is waiting;
//! a second full timeout would only double the wait).

use super::config::ProviderConfig;
use super::error::{ProviderError, excerpt};
use super::retry;
use super::sse::{SseEvent, SseParser};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use std::time::Duration;

/// A client for one configured provider. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    config: ProviderConfig,
    label: String,
    endpoint: String,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http").field("endpoint", &self.endpoint).field("config", &self.config).finish_non_exhaustive()
    }
}

/// Whether the answer is read whole or as a stream, which changes how the request
/// timeout applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Whole,
    Streamed,
}

impl Http {
    pub(crate) fn new(config: ProviderConfig) -> Result<Self, ProviderError> {
        crate::install_crypto_provider();
        let client = reqwest::Client::builder().connect_timeout(config.timeouts.connect).build().map_err(|error| {
            ProviderError::NotConfigured { reason: format!("the HTTP client cannot be set up: {error}") }
        })?;
        Ok(Self { client, label: config.label(), endpoint: config.endpoint(), config })
    }

    pub(crate) fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// How errors name this provider.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    fn secret(&self) -> Option<&str> {
        self.config.api_key.as_ref().map(|key| key.expose())
    }

    /// A short excerpt of server text, safe to show.
    pub(crate) fn excerpt(&self, text: &str) -> String {
        excerpt(text, self.secret())
    }

    pub(crate) fn bad_response(&self, problem: impl Into<String>, body: &str) -> ProviderError {
        ProviderError::BadResponse {
            provider: self.label.clone(),
            problem: problem.into(),
            excerpt: self.excerpt(body),
        }
    }

    fn timeout(&self) -> ProviderError {
        ProviderError::Timeout { provider: self.label.clone(), after: self.config.timeouts.request }
    }

    /// A header holding the API key, marked sensitive so it is never logged.
    pub(crate) fn secret_header(
        &self,
        name: &'static str,
        prefix: &str,
    ) -> Result<Option<(HeaderName, HeaderValue)>, ProviderError> {
        let Some(key) = self.secret() else { return Ok(None) };
        let mut value = HeaderValue::from_str(&format!("{prefix}{key}")).map_err(|_| ProviderError::NotConfigured {
            reason: "the API key contains characters that cannot be sent in an HTTP header".to_owned(),
        })?;
        value.set_sensitive(true);
        Ok(Some((HeaderName::from_static(name), value)))
    }

    /// POSTs `body`, retrying what is worth retrying; returns the successful response.
    pub(crate) async fn post(
        &self,
        headers: HeaderMap,
        body: &Value,
        delivery: Delivery,
    ) -> Result<Response, ProviderError> {
        let policy = self.config.retry;
        let mut attempt = 1;
        loop {
            let failure = match self.send_once(headers.clone(), body, delivery).await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => self.failure_from_status(response).await?,
                Err(failure) => failure,
            };
            let Failure { error, retryable, retry_after } = failure;
            if !retryable {
                return Err(error);
            }
            let Some(wait) = retry::wait_before_retry(&policy, attempt, retry_after, retry::random()) else {
                return Err(error);
            };
            tracing::warn!(
                provider = %self.label,
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %error,
                "retrying the model request"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn send_once(&self, headers: HeaderMap, body: &Value, delivery: Delivery) -> Result<Response, Failure> {
        let request = self.client.post(&self.endpoint).headers(headers).json(body);
        let result = match delivery {
            // The timeout covers the whole exchange, body included.
            Delivery::Whole => request.timeout(self.config.timeouts.request).send().await,
            // Only the wait for the response head; `read_stream` times each piece after.
            Delivery::Streamed => match tokio::time::timeout(self.config.timeouts.request, request.send()).await {
                Ok(result) => result,
                Err(_) => return Err(Failure::fatal(self.timeout())),
            },
        };
        result.map_err(|error| self.failure_from_transport(&error))
    }

    fn failure_from_transport(&self, error: &reqwest::Error) -> Failure {
        if error.is_timeout() {
            return Failure::fatal(self.timeout());
        }
        let detail = if error.is_connect() {
            format!("cannot connect to {}: {}", self.endpoint, root_cause(error))
        } else {
            format!("the connection failed: {}", root_cause(error))
        };
        let unavailable = ProviderError::Unavailable { provider: self.label.clone(), detail };
        // Connection problems (refused, reset, closed before the answer) are often
        // momentary; a request that cannot even be built (an invalid URL) is not.
        Failure { error: unavailable, retryable: !error.is_builder(), retry_after: None }
    }

    async fn failure_from_status(&self, response: Response) -> Result<Failure, ProviderError> {
        let status = response.status();
        let retry_after = retry::retry_after(response.headers());
        let body = match tokio::time::timeout(self.config.timeouts.request, response.text()).await {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => String::new(),
            Err(_) => return Err(self.timeout()),
        };
        Ok(self.classify(status, &body, retry_after))
    }

    fn classify(&self, status: StatusCode, body: &str, retry_after: Option<Duration>) -> Failure {
        let provider = self.label.clone();
        let server = ServerError::parse(body);
        let message = if !server.message.is_empty() {
            self.excerpt(&server.message)
        } else if !server.kind.is_empty() {
            server.kind.clone()
        } else if !body.trim().is_empty() {
            self.excerpt(body)
        } else {
            "no details given".to_owned()
        };
        // The message sits inside a sentence of ours.
        let message = message.trim_end_matches('.').to_owned();
        match status.as_u16() {
            401 | 403 => Failure::fatal(ProviderError::Unauthorized { provider, message }),
            402 => Failure::fatal(ProviderError::QuotaExceeded { provider, message }),
            429 if server.is_quota() => Failure::fatal(ProviderError::QuotaExceeded { provider, message }),
            400 if server.is_quota() => Failure::fatal(ProviderError::QuotaExceeded { provider, message }),
            429 => {
                Failure { error: ProviderError::RateLimited { provider, retry_after }, retryable: true, retry_after }
            }
            408 | 500..=599 => Failure {
                error: ProviderError::Unavailable { provider, detail: format!("HTTP {}: {message}", status.as_u16()) },
                retryable: true,
                retry_after,
            },
            code => Failure::fatal(ProviderError::Rejected { provider, status: code, message }),
        }
    }

    /// Reads a whole (non-streamed) body; the request timeout still applies.
    pub(crate) async fn read_body(&self, response: Response) -> Result<String, ProviderError> {
        response.text().await.map_err(|error| {
            if error.is_timeout() {
                self.timeout()
            } else {
                ProviderError::Unavailable {
                    provider: self.label.clone(),
                    detail: format!("the connection broke during the answer: {}", root_cause(&error)),
                }
            }
        })
    }

    /// Reads a streamed body, handing each server-sent event to `on_event`; stops when
    /// `on_event` says [`Flow::Stop`]. Each piece must arrive within the request timeout.
    /// Returns the beginning of what was received, for error messages.
    pub(crate) async fn read_stream(
        &self,
        mut response: Response,
        mut on_event: impl FnMut(SseEvent) -> Result<Flow, ProviderError>,
    ) -> Result<String, ProviderError> {
        let mut parser = SseParser::new();
        let mut beginning = Vec::new();
        loop {
            let chunk = match tokio::time::timeout(self.config.timeouts.request, response.chunk()).await {
                Err(_) => return Err(self.timeout()),
                Ok(Err(error)) if error.is_timeout() => return Err(self.timeout()),
                Ok(Err(error)) => {
                    return Err(ProviderError::Unavailable {
                        provider: self.label.clone(),
                        detail: format!("the connection broke during the answer: {}", root_cause(&error)),
                    });
                }
                Ok(Ok(chunk)) => chunk,
            };
            let Some(chunk) = chunk else { break };
            if beginning.len() < 512 {
                beginning.extend_from_slice(&chunk[..chunk.len().min(512 - beginning.len())]);
            }
            for event in parser.push(&chunk) {
                if on_event(event)? == Flow::Stop {
                    return Ok(String::from_utf8_lossy(&beginning).into_owned());
                }
            }
        }
        if let Some(event) = parser.finish() {
            on_event(event)?;
        }
        Ok(String::from_utf8_lossy(&beginning).into_owned())
    }
}

/// Whether to keep reading a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Stop,
}

struct Failure {
    error: ProviderError,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl Failure {
    fn fatal(error: ProviderError) -> Self {
        Self { error, retryable: false, retry_after: None }
    }
}

/// The innermost error's words ("Connection refused"), without reqwest's wrapping.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// The error both protocols put in a failed response's body: Anthropic's
/// `{"type":"error","error":{"type","message"}}`, OpenAI's `{"error":{"message","type","code"}}`,
/// or Ollama's `{"error":"..."}`.
#[derive(Debug, Default)]
pub(crate) struct ServerError {
    pub(crate) message: String,
    pub(crate) kind: String,
}

impl ServerError {
    pub(crate) fn parse(body: &str) -> Self {
        let Ok(value) = serde_json::from_str::<Value>(body) else { return Self::default() };
        Self::from_value(&value)
    }

    pub(crate) fn from_value(value: &Value) -> Self {
        let error = value.get("error").unwrap_or(value);
        if let Some(message) = error.as_str() {
            return Self { message: message.to_owned(), kind: String::new() };
        }
        let text = |key: &str| error.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let code = text("code");
        Self { message: text("message"), kind: if code.is_empty() { text("type") } else { code } }
    }

    /// The account is out of quota or credit: waiting will not help.
    fn is_quota(&self) -> bool {
        let message = self.message.to_ascii_lowercase();
        self.kind == "insufficient_quota"
            || ["quota", "credit balance", "billing"].iter().any(|word| message.contains(word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_are_read_in_every_dialect() {
        let anthropic =
            ServerError::parse(r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#);
        assert_eq!((anthropic.message.as_str(), anthropic.kind.as_str()), ("slow down", "rate_limit_error"));
        let openai = ServerError::parse(
            r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
        );
        assert!(openai.is_quota());
        let ollama = ServerError::parse(r#"{"error":"model \"x\" not found"}"#);
        assert_eq!(ollama.message, "model \"x\" not found");
        assert!(ServerError::parse("<html>").message.is_empty());
    }
}
