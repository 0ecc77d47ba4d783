//! Who is asking: login and logout, server-side sessions, password change and
//! login throttling.
//!
//! The session cookie holds 32 random bytes; the database keeps only their
//! SHA-256, the user and company, and the session's CSRF token. Logging in
//! always makes a new session (rotation), so a token planted before login is
//! worthless after it.

use crate::AppState;
use crate::error::{WebError, WebResult, failed, form_back};
use crate::layout::{self, Page};
use crate::posted::Posted;
use axum::Form;
use axum::extract::{ConnectInfo, FromRequestParts, Query, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use ticketflower_store::{Permission, SessionUser, passwords};

pub const COOKIE_NAME: &str = "tf_session";
/// Sessions last this long after login.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// `bytes` random bytes as lowercase hex.
pub fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    if getrandom::fill(&mut buffer).is_err() {
        // The OS random source failing is not recoverable in a safe way.
        tracing::error!("the operating system's random source failed");
        std::process::abort();
    }
    hex(&buffer)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a session token, as stored.
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The logged-in user of this request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub session: SessionUser,
    pub token_hash: String,
}

impl CurrentUser {
    pub fn has(&self, permission: Permission) -> bool {
        self.session.permissions.iter().any(|p| p == permission.as_str())
    }

    /// Fails with 403 unless the user holds `permission`.
    pub fn require(&self, permission: Permission) -> WebResult<()> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(WebError::Forbidden(format!("this needs the {} permission", permission.as_str())))
        }
    }

    /// Fails with 403 unless the user holds one of `permissions`.
    pub fn require_any(&self, permissions: &[Permission]) -> WebResult<()> {
        if permissions.iter().any(|p| self.has(*p)) {
            Ok(())
        } else {
            let names: Vec<_> = permissions.iter().map(|p| p.as_str()).collect();
            Err(WebError::Forbidden(format!("this needs one of the permissions {}", names.join(", "))))
        }
    }

    pub fn company(&self) -> ticketflower_store::CompanyId {
        self.session.company
    }

    pub fn id(&self) -> ticketflower_store::UserId {
        self.session.user
    }

    pub fn worker(&self) -> ticketflower_store::Worker<'_> {
        ticketflower_store::Worker { user: self.session.user, email: &self.session.email, roles: &self.session.roles }
    }
}

/// The session token from the request's cookies.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
        .filter(|value| value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<CurrentUser>() {
            return Ok(user.clone());
        }
        let login_required = || WebError::LoginRequired {
            next: parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into()),
        };
        let Some(token) = session_token(&parts.headers) else { return Err(login_required()) };
        let token_hash = hash_token(token);
        let session = match state.sessions.get(&token_hash) {
            Some(session) => session,
            None => {
                let Some(session) = state.store.session_user(&token_hash).await? else { return Err(login_required()) };
                state.sessions.put(&token_hash, &session);
                session
            }
        };
        let user = CurrentUser { session, token_hash };
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

/// Recently read sessions, so a request does not read its session, its
/// permissions and its roles from the database every time. An entry is used
/// for at most [`SESSION_CACHE_TTL`]; logout, password changes and access
/// changes drop the entries they affect on this node at once (another node
/// sees them within the TTL).
#[derive(Default)]
pub struct SessionCache {
    entries: Mutex<HashMap<String, (SessionUser, Instant)>>,
}

pub const SESSION_CACHE_TTL: Duration = Duration::from_secs(5);

impl SessionCache {
    fn get(&self, token_hash: &str) -> Option<SessionUser> {
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (session, read_at) = entries.get(token_hash)?;
        let expired = session.expires_at <= ticketflower_store::now_millis();
        (read_at.elapsed() < SESSION_CACHE_TTL && !expired).then(|| session.clone())
    }

    fn put(&self, token_hash: &str, session: &SessionUser) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= 10_000 {
            entries.retain(|_, (_, read_at)| read_at.elapsed() < SESSION_CACHE_TTL);
        }
        entries.insert(token_hash.to_owned(), (session.clone(), Instant::now()));
    }

    /// Forgets every cached session of a user (after logout, a password or access change).
    pub fn forget_user(&self, user: ticketflower_store::UserId) {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.retain(|_, (session, _)| session.user != user);
    }
}

/// Failed logins per email and per client address, in memory per node.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

const WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_PER_EMAIL: u32 = 5;
const MAX_PER_ADDRESS: u32 = 30;

impl Throttle {
    fn keys(email: &str, address: Option<SocketAddr>) -> [(String, u32); 2] {
        let address = address.map(|a| a.ip().to_string()).unwrap_or_default();
        [(format!("email:{}", email.trim().to_lowercase()), MAX_PER_EMAIL), (format!("ip:{address}"), MAX_PER_ADDRESS)]
    }

    /// How long until another attempt is allowed, if this one is refused.
    pub fn blocked(&self, email: &str, address: Option<SocketAddr>) -> Option<Duration> {
        let failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Self::keys(email, address).iter().find_map(|(key, limit)| {
            let (count, since) = failures.get(key)?;
            let elapsed = since.elapsed();
            (*count >= *limit && elapsed < WINDOW).then(|| WINDOW - elapsed)
        })
    }

    pub fn record_failure(&self, email: &str, address: Option<SocketAddr>) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if failures.len() > 100_000 {
            failures.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        for (key, _) in Self::keys(email, address) {
            let entry = failures.entry(key).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= WINDOW {
                *entry = (0, Instant::now());
            }
            entry.0 += 1;
        }
    }

    pub fn record_success(&self, email: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        failures.remove(&format!("email:{}", email.trim().to_lowercase()));
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Only same-site paths are followed after login (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(next) if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') => next.to_owned(),
        _ => "/".to_owned(),
    }
}

fn login_form(email: &str, next: &str, message: Option<&str>) -> Markup {
    html! {
        div.login-card {
            h1 { "Sign in to TicketFlower" }
            @if let Some(message) = message { p.alert.alert-error role="alert" { (message) } }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                div.field {
                    label.field-label for="email" { "Email" }
                    input.input #email type="email" name="email" value=(email) required autocomplete="username" autofocus;
                }
                div.field {
                    label.field-label for="password" { "Password" }
                    input.input #password type="password" name="password" required autocomplete="current-password";
                }
                button.button.primary type="submit" { "Sign in" }
            }
        }
    }
}

pub async fn login_get(Query(query): Query<LoginQuery>) -> Markup {
    layout::bare_page("Sign in", login_form("", &safe_next(query.next.as_deref()), None))
}

/// A missing field reads as empty, so it is a failed sign-in like any other.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

pub async fn login_post(
    State(state): State<AppState>,
    ConnectInfo(address): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> WebResult<Response> {
    let next = safe_next(form.next.as_deref());
    let address = Some(address);
    if let Some(wait) = state.throttle.blocked(&form.email, address) {
        let minutes = wait.as_secs().div_ceil(60);
        let message = format!("Too many failed sign-ins. Try again in {minutes} minute(s).");
        let page = layout::bare_page("Sign in", login_form(&form.email, &next, Some(&message)));
        return Ok(failed(StatusCode::TOO_MANY_REQUESTS, message, page));
    }
    // PostgreSQL cannot compare text holding NUL; no account has one.
    let candidate = if form.email.contains('\0') { None } else { state.store.login_candidate(&form.email).await? };
    // Verify against a dummy hash when the email is unknown, so timing does not tell.
    let stored = candidate.as_ref().map(|c| c.password_hash.clone()).unwrap_or_else(|| DUMMY_HASH.clone());
    let password = form.password.clone();
    let matches = tokio::task::spawn_blocking(move || passwords::verify(&password, &stored))
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?;
    let Some(candidate) = candidate.filter(|_| matches) else {
        state.throttle.record_failure(&form.email, address);
        let message = "That email and password do not match an account.";
        let page = layout::bare_page("Sign in", login_form(&form.email, &next, Some(message)));
        return Ok(failed(StatusCode::UNAUTHORIZED, message, page));
    };
    state.throttle.record_success(&form.email);
    let token = random_token(32);
    let expires_at = ticketflower_store::now_millis() + SESSION_LIFETIME.as_millis() as i64;
    state.store.create_session(&hash_token(&token), &candidate, &random_token(32), expires_at).await?;
    let mut response = Redirect::to(&next).into_response();
    let cookie = session_cookie(&state, &headers, &token, SESSION_LIFETIME.as_secs());
    response.headers_mut().append(SET_COOKIE, cookie);
    Ok(response)
}

/// An Argon2id hash of a random password, verified against when the email is unknown.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| passwords::hash(&random_token(16)).unwrap_or_default());

/// The session cookie; `Secure` when configured or when a proxy says the
/// browser came over https (`X-Forwarded-Proto: https`).
fn session_cookie(state: &AppState, headers: &HeaderMap, token: &str, max_age: u64) -> HeaderValue {
    let forwarded_https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"));
    let secure = if state.settings.secure_cookies || forwarded_https { "; Secure" } else { "" };
    let cookie = format!("{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("tf_session=; Max-Age=0"))
}

pub async fn logout_post(State(state): State<AppState>, headers: HeaderMap, posted: Posted) -> WebResult<Response> {
    state.store.delete_session(&posted.user.token_hash).await?;
    state.sessions.forget_user(posted.user.id());
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(SET_COOKIE, session_cookie(&state, &headers, "", 0));
    Ok(response)
}

fn password_form(user: &CurrentUser, problems: &[ticketflower_core::Problem], done: bool) -> Markup {
    let error = |field: &str| {
        problems.iter().filter(|p| p.pointer == format!("/{field}")).map(|p| p.message.clone()).collect::<Vec<_>>()
    };
    html! {
        h1 { "Change password" }
        @if done { p.alert.alert-ok role="status" { "Your password was changed. Other sessions were signed out." } }
        form.card method="post" action="/account/password" {
            (layout::csrf_field(user))
            @for (name, label, autocomplete) in [("current", "Current password", "current-password"), ("new", "New password (at least 10 characters)", "new-password"), ("confirm", "Repeat the new password", "new-password")] {
                div.field {
                    label.field-label for=(name) { (label) }
                    input.input id=(name) type="password" name=(name) required autocomplete=(autocomplete) aria-invalid=[(!error(name).is_empty()).then_some("true")];
                    @for message in error(name) { p.field-error { (message) } }
                }
            }
            button.button.primary type="submit" { "Change password" }
        }
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

pub async fn password_get(user: CurrentUser, Query(query): Query<DoneQuery>) -> Page {
    let body = password_form(&user, &[], query.done.is_some());
    Page::new("Change password", &user, body)
}

pub async fn password_post(State(state): State<AppState>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    let (current, new, confirm) = (posted.text("current"), posted.text("new"), posted.text("confirm"));
    let stored = state.store.password_hash(user.company(), user.id()).await?;
    let current_ok = {
        let current = current.to_owned();
        tokio::task::spawn_blocking(move || passwords::verify(&current, &stored))
            .await
            .map_err(|e| WebError::Internal(e.to_string()))?
    };
    let mut problems = Vec::new();
    if !current_ok {
        problems.push(ticketflower_core::Problem::error("/current", "this is not your current password"));
    }
    if new != confirm {
        problems.push(ticketflower_core::Problem::error("/confirm", "the two new passwords differ"));
    }
    let hashed = if problems.is_empty() {
        let new = new.to_owned();
        match tokio::task::spawn_blocking(move || passwords::hash(&new)).await {
            Ok(Ok(hash)) => Some(hash),
            Ok(Err(ticketflower_store::StoreError::Invalid(found))) => {
                problems.extend(found.into_iter().map(|p| ticketflower_core::Problem::error("/new", p.message)));
                None
            }
            Ok(Err(other)) => return Err(other.into()),
            Err(e) => return Err(WebError::Internal(e.to_string())),
        }
    } else {
        None
    };
    let Some(hash) = hashed else {
        return Ok(form_back(Page::new("Change password", user, password_form(user, &problems, false)), &problems));
    };
    state.store.set_password_hash(user.company(), user.id(), &hash).await?;
    state.store.delete_other_sessions(user.company(), user.id(), &user.token_hash).await?;
    state.sessions.forget_user(user.id());
    Ok(Redirect::to("/account/password?done=1").into_response())
}
