//! The one place where errors become responses. Pages get a plain HTML page
//! with the status; a 500 shows only a request id, and the detail goes to the
//! log once, here.

use crate::layout;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
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
        let (status, title, body) = match self {
            WebError::LoginRequired { next } => {
                let target = format!("/login?next={}", crate::layout::url_encode(&next));
                return Redirect::to(&target).into_response();
            }
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                html! { p { "There is nothing here. It may have been removed, or the link is wrong." } },
            ),
            WebError::Forbidden(message) => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                html! { p { "You are not allowed to do this: " (message) "." } p { "Ask your company administrator if you need access." } },
            ),
            WebError::BadRequest(message) => (StatusCode::BAD_REQUEST, "Bad request", html! { p { (message) } }),
            WebError::Conflict(message) => (
                StatusCode::CONFLICT,
                "Could not do that",
                html! { p { (message) } p { a href="javascript:history.back()" { "Go back" } " and reload the page to see the current state." } },
            ),
            WebError::Invalid(problems) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Please correct the input",
                html! { ul.problems { @for problem in &problems { li { code { (problem.pointer) } " " (problem.message) } } } },
            ),
            WebError::TooManyRequests(message) => {
                (StatusCode::TOO_MANY_REQUESTS, "Too many attempts", html! { p { (message) } })
            }
            WebError::Internal(detail) => {
                let request_id = crate::auth::random_token(6);
                tracing::error!(%request_id, %detail, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    html! { p { "The request could not be completed. Nothing was changed. Please try again." } p.muted { "Request id: " code { (request_id) } } },
                )
            }
        };
        (status, layout::bare_page(title, body)).into_response()
    }
}
