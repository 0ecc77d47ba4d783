//! TicketFlower's web application: server-rendered pages over the store.
//!
//! `ui/` holds the HTML pages, one module per area (route files mirror URLs);
//! [`auth`] owns sessions and who is asking, [`csrf`] the cross-site checks,
//! [`error`] the one mapping from errors to responses (a page, or JSON for a
//! client whose `Accept` prefers it), [`layout`] the page shell. Handlers ask
//! the store, which asks the core engine to decide; no handler holds workflow
//! rules of its own.

pub mod auth;
pub mod csrf;
pub mod demo;
pub mod error;
pub mod forms;
pub mod layout;
pub mod live;
pub mod posted;
pub mod ui;

use axum::Router;
use std::path::PathBuf;
use std::sync::Arc;
use ticketflower_store::Store;

/// Settings the web layer needs.
#[derive(Debug, Clone)]
pub struct WebSettings {
    /// Where uploaded files are stored (a folder under the data directory).
    pub files_dir: PathBuf,
    /// Mark cookies `Secure` (set when the site is served over https).
    pub secure_cookies: bool,
    /// The key company secrets are sealed with.
    pub secret_key: ticketflower_store::SecretKey,
    /// The deployment's language model, if one is configured.
    pub assistant: Option<ticketflower_assistant::Provider>,
}

/// Everything a handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<WebSettings>,
    pub throttle: Arc<auth::Throttle>,
    pub sessions: Arc<auth::SessionCache>,
    pub live: live::Hub,
}

impl AppState {
    pub fn new(store: Store, settings: WebSettings) -> Self {
        Self {
            store,
            settings: Arc::new(settings),
            throttle: Arc::default(),
            sessions: Arc::default(),
            live: live::Hub::default(),
        }
    }
}

/// The whole application's routes with its middleware.
pub fn router(state: AppState) -> Router {
    ui::routes(state.clone())
        .layer(axum::middleware::from_fn(csrf::check_origin))
        .layer(axum::middleware::from_fn(csrf::refuse_nul))
        .layer(axum::middleware::from_fn(layout::security_headers))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(25 * 1024 * 1024))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(error::negotiate))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}
