//! The HTML pages. Each module owns the routes under one URL prefix; handler
//! names say the method (`create_post`).

pub mod admin;
pub mod assistant;
pub mod definition_documents;
pub mod definition_editor;
pub mod definitions;
pub mod errors;
pub mod inbox;
pub mod instances;
pub mod tickets;

use crate::{AppState, auth, layout, live};
use axum::Router;
use axum::response::Redirect;
use axum::routing::{get, post};

pub fn routes(_state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/inbox") }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/assets/app.css", get(layout::css))
        .route("/assets/app.js", get(layout::js))
        .route("/login", get(auth::login_get).post(auth::login_post))
        .route("/logout", post(auth::logout_post))
        .route("/account/password", get(auth::password_get).post(auth::password_post))
        .route("/inbox", get(inbox::index))
        .route("/assistant", get(assistant::index))
        .route("/assistant/conversations", post(assistant::create_post))
        .route("/assistant/conversations/{id}", get(assistant::show))
        .route("/assistant/conversations/{id}/messages", post(assistant::message_post))
        .route("/assistant/conversations/{id}/proposals/{message}/save", post(assistant::save_post))
        .route("/assistant/conversations/{id}/proposals/{message}/undo", post(assistant::undo_post))
        .route("/assistant/conversations/{id}/proposals/{message}/document", get(assistant::document_get))
        .route(
            "/assistant/conversations/{id}/proposals/{message}/simulate",
            get(assistant::simulate_get).post(assistant::simulate_post),
        )
        .route("/tasks/{run}", get(inbox::show))
        .route("/tasks/{run}/claim", post(inbox::claim_post))
        .route("/tasks/{run}/release", post(inbox::release_post))
        .route("/tasks/{run}/complete", post(inbox::complete_post))
        .route("/tickets", get(tickets::index))
        .route("/tickets/new", get(tickets::choose))
        .route("/tickets/new/{definition}/{ticket_type}", get(tickets::new_get).post(tickets::new_post))
        .route("/tickets/{id}", get(tickets::show))
        .route("/tickets/{id}/comments", post(tickets::comment_post))
        .route("/files/{id}", get(tickets::file))
        .route("/instances/{id}", get(instances::show))
        .route("/instances/{id}/events", get(live::instance_events))
        .route("/definitions", get(definitions::index))
        .route("/definitions/new", get(definitions::new_get))
        .route("/definitions/upload", post(definitions::upload_post))
        .route("/definitions/create", get(definition_editor::create_get).post(definition_editor::create_post))
        .route("/definitions/{key}", get(definitions::show))
        .route("/definitions/{key}/edit", get(definition_editor::edit_get).post(definition_editor::edit_post))
        .route("/definitions/{key}/diff", get(definitions::diff))
        .route("/definitions/{key}/versions/{version}", get(definitions::version))
        .route("/definitions/{key}/versions/{version}/diagram.svg", get(definitions::diagram))
        .route("/definitions/{key}/versions/{version}/download", get(definitions::download))
        .route("/definitions/{key}/versions/{version}/activate", post(definitions::activate_post))
        .route("/definitions/{key}/versions/{version}/archive", post(definitions::archive_post))
        .route(
            "/definitions/{key}/versions/{version}/simulate",
            get(definitions::simulate_get).post(definitions::simulate_post),
        )
        .route("/definitions/{key}/versions/{version}/tasks/{task}", get(definitions::task))
        .route("/definitions/{key}/versions/{version}/ticket-types/{ticket_type}", get(definitions::ticket_type))
        .route("/definitions/{key}/versions/{version}/transitions/{index}", get(definitions::transition))
        .route("/errors", get(errors::index))
        .route("/errors/{id}", get(errors::show))
        .route("/errors/{id}/review", post(errors::review_post))
        .route("/errors/{id}/action", post(errors::action_post))
        .route("/admin/users", get(admin::users).post(admin::users_post))
        .route("/admin/users/{id}", get(admin::user_get).post(admin::user_post))
        .route("/admin/roles", get(admin::roles).post(admin::roles_post))
        .route("/admin/roles/{id}", post(admin::role_post))
        .route("/admin/secrets", get(admin::secrets).post(admin::secrets_post))
        .route("/admin/secrets/{name}/delete", post(admin::secret_delete_post))
        .route("/admin/assistant", get(assistant::settings::page).post(assistant::settings::post))
        .route("/admin/assistant/delete", post(assistant::settings::delete_post))
}
