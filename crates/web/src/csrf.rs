//! Cross-site request forgery defence, in two layers.
//!
//! 1. Every unsafe request (POST and friends) from a browser that says it
//!    comes from another site (`Sec-Fetch-Site`) or another origin (`Origin`
//!    whose host differs from `Host`) is refused, before any handler runs.
//! 2. Every form carries the session's CSRF token in `_csrf`; [`crate::posted::Posted`]
//!    refuses a form without the right one. This covers browsers that send
//!    neither header.

use crate::error::failed;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

pub const FIELD: &str = "_csrf";

/// Refuses cross-site unsafe requests.
pub async fn check_origin(request: Request, next: Next) -> Response {
    if is_safe(request.method()) || same_origin(request.headers()) {
        return next.run(request).await;
    }
    let page = crate::layout::bare_page(
        "Not allowed",
        maud::html! {
            p { "This form was sent from another site, so it was refused. Open TicketFlower directly and try again." }
        },
    );
    failed(StatusCode::FORBIDDEN, "not allowed: this form was sent from another site", page)
}

/// Refuses URLs carrying an encoded NUL (`%00`): PostgreSQL cannot compare
/// text holding one, and no page has a use for it.
pub async fn refuse_nul(request: Request, next: Next) -> Response {
    let uri = request.uri().to_string();
    if uri.to_ascii_lowercase().contains("%00") {
        let page =
            crate::layout::bare_page("Bad request", maud::html! { p { "The address contains a NUL character." } });
        return failed(StatusCode::BAD_REQUEST, "the address contains a NUL character", page);
    }
    next.run(request).await
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(origin) => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
            let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
            !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
        }
    }
}

/// Compares two tokens in time independent of where they differ.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && !expected.is_empty()
        && expected.bytes().zip(given.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn same_origin_rules() {
        assert!(same_origin(&headers(&[("host", "a.test")])));
        assert!(same_origin(&headers(&[("host", "a.test"), ("origin", "http://a.test")])));
        assert!(!same_origin(&headers(&[("host", "a.test"), ("origin", "http://evil.test")])));
        assert!(!same_origin(&headers(&[("host", "a.test"), ("sec-fetch-site", "cross-site")])));
        assert!(!same_origin(&headers(&[("host", "a.test"), ("sec-fetch-site", "same-site")])));
        assert!(same_origin(&headers(&[("host", "a.test"), ("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("origin", "null")])));
    }

    #[test]
    fn tokens_compare_exactly() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("abc", "ab"));
        assert!(!tokens_match("", ""));
    }
}
