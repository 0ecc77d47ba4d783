//! The one place where errors become responses. Pages get a plain HTML page
//! with the status; a 500 shows only a request id, and the detail goes to the
//! log once, here.
//!
//! Every error response also carries what it says as a [`Failure`] (forms sent
//! back with problems attach theirs through [`form_back`]); [`negotiate`]
//! answers a client that prefers JSON with that instead of the page.

use crate::layout;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde_json::{Value, json};
use ticketflower_core::Problem;
use ticketflower_core::engine::EngineError;
use ticketflower_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Missing, or another company's (indistinguishable on purpose).
    #[error("not found")]
    NotFound,
    /// Logged in, but without the permission or eligibility the action needs.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// No valid session: the browser goes to the login page and comes back.
    #[error("login required")]
    LoginRequired { next: String },
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request lost a race or a uniqueness rule; the message says which.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Input problems that no form could show beside a field.
    #[error("invalid input")]
    Invalid(Vec<Problem>),
    #[error("too many attempts: {0}")]
    TooManyRequests(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type WebResult<T> = Result<T, WebError>;

impl From<StoreError> for WebError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(_) => WebError::NotFound,
            StoreError::Invalid(problems) => WebError::Invalid(problems),
            StoreError::Engine(EngineError::InvalidOutput(problems) | EngineError::InvalidTicket(problems)) => {
                WebError::Invalid(problems)
            }
            StoreError::Engine(error) => WebError::Conflict(error.to_string()),
            StoreError::Conflict(message) => WebError::Conflict(message),
            StoreError::Forbidden(message) => WebError::Forbidden(message.to_owned()),
            other => WebError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, body, error) = match self {
            WebError::LoginRequired { next } => {
                let target = format!("/login?next={}", crate::layout::url_encode(&next));
                let failure = Failure::new(StatusCode::UNAUTHORIZED, "login required", Vec::new());
                return failure.attach(Redirect::to(&target).into_response());
            }
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                html! { p { "There is nothing here. It may have been removed, or the link is wrong." } },
                "not found".to_owned(),
            ),
            WebError::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                html! { p { "You are not allowed to do this: " (message) "." } p { "Ask your company administrator if you need access." } },
                format!("not allowed: {message}"),
            ),
            WebError::BadRequest(message) => {
                (StatusCode::BAD_REQUEST, "Bad request", html! { p { (message) } }, message)
            }
            WebError::Conflict(message) => (
                StatusCode::CONFLICT,
                "Could not do that",
                html! { p { (message) } p { a href="javascript:history.back()" { "Go back" } " and reload the page to see the current state." } },
                message,
            ),
            WebError::Invalid(problems) => {
                let body = html! { ul.problems { @for problem in &problems { li { code { (problem.pointer) } " " (problem.message) } } } };
                return form_back(layout::bare_page("Please correct the input", body), &problems);
            }
            WebError::TooManyRequests(message) => {
                (StatusCode::TOO_MANY_REQUESTS, "Too many attempts", html! { p { (message) } }, message)
            }
            WebError::Internal(detail) => {
                let request_id = crate::auth::random_token(6);
                tracing::error!(%request_id, %detail, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    html! { p { "The request could not be completed. Nothing was changed. Please try again." } p.muted { "Request id: " code { (request_id) } } },
                    format!("something went wrong (request id {request_id})"),
                )
            }
        };
        failed(status, error, layout::bare_page(title, body))
    }
}

/// What an error response says, kept on it beside the page so [`negotiate`]
/// can give a client that asked for JSON the same facts.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The status a JSON client gets: the response's own, except 401 where a
    /// browser is sent to the sign-in page.
    status: StatusCode,
    /// A short sentence, as the page says it.
    error: String,
    /// For 422: every problem the page shows beside its field.
    problems: Vec<Problem>,
}

impl Failure {
    fn new(status: StatusCode, error: impl Into<String>, problems: Vec<Problem>) -> Self {
        Self { status, error: error.into(), problems }
    }

    fn attach(self, mut response: Response) -> Response {
        response.extensions_mut().insert(self);
        response
    }

    /// What an error response the application did not describe says (axum's
    /// own refusals: an id that is no number, an unknown route or method, a
    /// body over the limit): its plain-text message, or the status's name. A
    /// 500's body is never shown.
    async fn undescribed(status: StatusCode, headers: &HeaderMap, body: Body) -> Self {
        let plain =
            headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| t.starts_with("text/plain"));
        let text = if plain && status.is_client_error() {
            axum::body::to_bytes(body, 4096).await.ok().map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        } else {
            None
        };
        let error = text
            .filter(|text| !text.is_empty())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("error").to_lowercase());
        let problems = if status == StatusCode::UNPROCESSABLE_ENTITY {
            vec![Problem::error("", error.clone())]
        } else {
            Vec::new()
        };
        Self::new(status, error, problems)
    }

    fn to_json(&self) -> Value {
        let mut body = json!({ "status": self.status.as_u16(), "error": self.error });
        if self.status == StatusCode::UNPROCESSABLE_ENTITY {
            let problems = self.problems.iter().map(|problem| {
                let (pointer, field) = crate::forms::field_of(problem);
                json!({ "pointer": pointer, "field": field, "message": problem.message, "severity": problem.severity })
            });
            body["problems"] = problems.collect();
        }
        body
    }
}

/// An error page with its status and what it says (`error`, a short sentence).
pub fn failed(status: StatusCode, error: impl Into<String>, page: impl IntoResponse) -> Response {
    Failure::new(status, error, Vec::new()).attach((status, page).into_response())
}

/// A form sent back with its problems beside its fields: 422, and the
/// problems themselves for a JSON client.
pub fn form_back(page: impl IntoResponse, problems: &[Problem]) -> Response {
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    Failure::new(status, "invalid input", problems.to_vec()).attach((status, page).into_response())
}

/// For a request that prefers JSON, replaces the page of an error response
/// with its [`Failure`] as JSON; everything else passes unchanged.
pub async fn negotiate(request: Request, next: Next) -> Response {
    let json = prefers_json(request.headers());
    let response = next.run(request).await;
    if !json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let failure = match parts.extensions.remove::<Failure>() {
        Some(failure) => failure,
        None if parts.status.is_client_error() || parts.status.is_server_error() => {
            Failure::undescribed(parts.status, &parts.headers, body).await
        }
        None => return Response::from_parts(parts, body),
    };
    parts.status = failure.status;
    parts.headers.remove(LOCATION);
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(parts, Body::from(failure.to_json().to_string()))
}

/// True when `Accept` ranks `application/json` above `text/html`, each by
/// its most specific matching range. A browser's default ranks HTML first;
/// no header, or `*/*` alone, is a tie, and ties get the page.
fn prefers_json(headers: &HeaderMap) -> bool {
    let ranges: Vec<(String, f32)> = headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|range| {
            let mut parameters = range.split(';');
            let media = parameters.next().unwrap_or_default().trim().to_ascii_lowercase();
            let quality = parameters
                .filter_map(|p| p.trim().split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, q)| q.trim().parse().ok())
                .unwrap_or(1.0);
            (media, quality)
        })
        .collect();
    let quality = |media: &str| {
        let any_subtype = media.split('/').next().map(|kind| format!("{kind}/*")).unwrap_or_default();
        ranges
            .iter()
            .filter_map(|(range, quality)| match range.as_str() {
                range if range == media => Some((2, *quality)),
                range if range == any_subtype => Some((1, *quality)),
                "*/*" => Some((0, *quality)),
                _ => None,
            })
            .max_by_key(|(specificity, _)| *specificity)
            .map_or(0.0, |(_, quality)| quality)
    };
    quality("application/json") > quality("text/html")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &'static str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(value));
        prefers_json(&headers)
    }

    #[test]
    fn json_only_when_accept_ranks_it_above_html() {
        assert!(accept("application/json"));
        assert!(accept("application/json, text/html;q=0.9"));
        assert!(accept("text/html;q=0.5, application/*"));
        assert!(accept("Application/JSON; charset=utf-8"));
        assert!(!accept("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
        assert!(!accept("*/*"));
        assert!(!accept("application/json, text/html"));
        assert!(!accept("application/json;q=0, */*"));
        assert!(!accept("text/plain"));
        assert!(!prefers_json(&HeaderMap::new()));
    }
}
