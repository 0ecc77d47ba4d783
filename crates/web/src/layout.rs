//! The page shell (header, navigation, notices), the static assets that ship
//! inside the binary, and the security headers every response carries.

use crate::auth::CurrentUser;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use ticketflower_store::Permission;

pub const CSS: &str = include_str!("../assets/app.css");
pub const JS: &str = include_str!("../assets/app.js");

/// A full page for a logged-in user (an error status comes from
/// [`crate::error::failed`] or [`crate::error::form_back`]).
pub struct Page {
    title: String,
    body: Markup,
    nav: Markup,
}

impl Page {
    pub fn new(title: impl Into<String>, user: &CurrentUser, body: Markup) -> Self {
        Self { title: title.into(), body, nav: navigation(user) }
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        shell(&self.title, Some(self.nav), self.body).into_response()
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    shell(title, None, html! { main.bare { (body) } })
}

fn shell(title: &str, nav: Option<Markup>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · TicketFlower" }
                link rel="stylesheet" href="/assets/app.css";
                script src="/assets/app.js" defer {}
            }
            body {
                @if let Some(nav) = nav {
                    (nav)
                    main.content { (body) }
                } @else {
                    (body)
                }
            }
        }
    }
}

fn navigation(user: &CurrentUser) -> Markup {
    let can_see_workflows = user.has(Permission::WorkflowCreator) || user.has(Permission::TicketAdmin);
    html! {
        header.topbar {
            a.brand href="/" { span.logo aria-hidden="true" { "✿" } " TicketFlower" }
            nav aria-label="Main" {
                a href="/inbox" { "Inbox" }
                a href="/tickets" { "Tickets" }
                a href="/tickets/new" { "New ticket" }
                @if can_see_workflows { a href="/definitions" { "Workflows" } }
                @if user.has(Permission::WorkflowCreator) { a href="/assistant" { "Assistant" } }
                @if user.has(Permission::TicketAdmin) { a href="/errors" { "Errors" } }
                @if user.has(Permission::CompanyAdmin) { a href="/admin/users" { "Admin" } }
            }
            div.account {
                span.who title=(user.session.email) { (user.session.display_name) " · " (user.session.company_name) }
                a href="/account/password" { "Password" }
                form.inline method="post" action="/logout" {
                    (csrf_field(user))
                    button.link type="submit" { "Sign out" }
                }
            }
        }
    }
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(user: &CurrentUser) -> Markup {
    html! { input type="hidden" name=(crate::csrf::FIELD) value=(user.session.csrf_token); }
}

/// Percent-encodes a query value.
pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A timestamp (ms since the epoch) as UTC text, `2026-12-03 14:05 UTC`.
/// Written field by field: chrono's `format` parses its pattern at every
/// call, and a page of the inbox formats a hundred times (about 5 % of an
/// inbox request's CPU in a profile, BENCHMARKS.md session 13).
pub fn time(ms: i64) -> String {
    use chrono::{Datelike, Timelike};
    let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else { return String::new() };
    if !(0..=9999).contains(&t.year()) {
        // Years of other widths as strftime writes them (sign, padding).
        return t.format("%Y-%m-%d %H:%M UTC").to_string();
    }
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", t.year(), t.month(), t.day(), t.hour(), t.minute())
}

/// A status as a coloured pill.
pub fn status_pill(status: &str) -> Markup {
    html! { span class={ "pill status-" (status.to_ascii_lowercase()) } { (status.replace('_', " ")) } }
}

/// Adds the security headers to every response.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "x-content-type-options", "nosniff");
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

pub async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], CSS)
        .into_response()
}

pub async fn js() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], JS)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::time;

    #[test]
    fn times_read_as_strftime_writes_them() {
        let strftime = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .unwrap_or_default()
        };
        let cases = [
            (0, "1970-01-01 00:00 UTC"),
            (1_796_306_700_000, "2026-12-03 14:05 UTC"),
            (-1, "1969-12-31 23:59 UTC"),
            (253_402_300_799_999, "9999-12-31 23:59 UTC"),
            (253_402_300_800_000, "+10000-01-01 00:00 UTC"),
            (-62_167_219_200_001, "-0001-12-31 23:59 UTC"),
            (i64::MAX, ""),
        ];
        for (ms, expected) in cases {
            assert_eq!(time(ms), expected, "{ms}");
            assert_eq!(time(ms), strftime(ms), "{ms}");
        }
    }
}
