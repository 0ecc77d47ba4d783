//! `/admin`: the company's users (add, permissions, roles) and company roles
//! (create, rename). Company admins only.

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{WebError, WebResult, form_back};
use crate::layout::{Page, csrf_field};
use crate::posted::Posted;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ticketflower_core::Problem;
use ticketflower_store::{NewUser, Permission, RoleId, RoleView, StoreError, UserId, UserSummary, passwords};

pub(crate) fn tabs(current: &str) -> Markup {
    html! {
        div.tabs {
            a class=[(current == "users").then_some("current")] href="/admin/users" { "Users" }
            a class=[(current == "roles").then_some("current")] href="/admin/roles" { "Roles" }
            a class=[(current == "secrets").then_some("current")] href="/admin/secrets" { "Secrets" }
            a class=[(current == "assistant").then_some("current")] href="/admin/assistant" { "Assistant" }
        }
    }
}

pub async fn users(State(state): State<AppState>, user: CurrentUser) -> WebResult<Page> {
    user.require(Permission::CompanyAdmin)?;
    let users = state.store.list_users(user.company()).await?;
    let roles = state.store.list_roles(user.company()).await?;
    let body = html! {
        h1 { "Company administration" }
        (tabs("users"))
        table.list {
            thead { tr { th { "Name" } th { "Email" } th { "Permissions" } th { "Roles" } } }
            tbody {
                @for person in &users {
                    tr {
                        td { a href={ "/admin/users/" (person.id) } { (person.display_name) } }
                        td { (person.email) }
                        td { (person.permissions.join(", ")) }
                        td { (person.roles.join(", ")) }
                    }
                }
            }
        }
        h2 { "Add a user" }
        (new_user_form(&user, &roles, &NewUserInput::default(), &[]))
    };
    Ok(Page::new("Users", &user, body))
}

#[derive(Default)]
struct NewUserInput {
    email: String,
    name: String,
    permissions: Vec<String>,
    roles: Vec<String>,
}

pub(crate) fn errors_at(problems: &[Problem], pointer: &str) -> Markup {
    html! { @for problem in problems.iter().filter(|p| p.pointer == pointer || p.pointer.starts_with(&format!("{pointer}/"))) { p.field-error { (problem.message) } } }
}

fn access_fields(roles: &[RoleView], permissions: &[String], held: &[String]) -> Markup {
    html! {
        fieldset {
            legend { "Permissions" }
            div.checkbox {
                @for permission in Permission::ALL {
                    label { input type="checkbox" name="permission" value=(permission.as_str()) checked[permissions.iter().any(|p| p == permission.as_str())]; (permission.as_str().replace('_', " ")) }
                }
            }
        }
        fieldset {
            legend { "Roles" }
            div.checkbox {
                @for role in roles {
                    label { input type="checkbox" name="role" value=(role.key) checked[held.contains(&role.key)]; (role.title) }
                }
                @if roles.is_empty() { span.muted { "No roles yet; create them under Roles." } }
            }
        }
    }
}

fn new_user_form(user: &CurrentUser, roles: &[RoleView], input: &NewUserInput, problems: &[Problem]) -> Markup {
    html! {
        form.card method="post" action="/admin/users" {
            (csrf_field(user))
            div.field {
                label.field-label for="email" { "Email" }
                input.input #email type="email" name="email" value=(input.email) required;
                (errors_at(problems, "/email"))
            }
            div.field {
                label.field-label for="name" { "Name" }
                input.input #name type="text" name="name" value=(input.name);
            }
            div.field {
                label.field-label for="password" { "Initial password (at least 10 characters)" }
                input.input #password type="password" name="password" required autocomplete="new-password";
                (errors_at(problems, "/password"))
            }
            (access_fields(roles, &input.permissions, &input.roles))
            (errors_at(problems, "/permissions"))
            (errors_at(problems, "/roles"))
            button.button.primary type="submit" { "Add user" }
        }
    }
}

pub async fn users_post(State(state): State<AppState>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    user.require(Permission::CompanyAdmin)?;
    let roles = state.store.list_roles(user.company()).await?;
    let input = NewUserInput {
        email: posted.text("email").trim().to_owned(),
        name: posted.text("name").trim().to_owned(),
        permissions: posted.all("permission").map(str::to_owned).collect(),
        roles: posted.all("role").map(str::to_owned).collect(),
    };
    let mut problems = Vec::new();
    let permissions: Vec<Permission> = input
        .permissions
        .iter()
        .filter_map(|p| {
            Permission::parse(p).or_else(|| {
                problems.push(Problem::error("/permissions", format!("\"{p}\" is not a permission")));
                None
            })
        })
        .collect();
    for role in &input.roles {
        if !roles.iter().any(|r| &r.key == role) {
            problems.push(Problem::error("/roles", format!("there is no role \"{role}\"")));
        }
    }
    // The email and role checks that need the database come first, so the
    // form lists every problem at once.
    problems.extend(state.store.new_user_problems(&input.email, &input.roles).await?);
    let password = posted.text("password").to_owned();
    let hash = match tokio::task::spawn_blocking(move || passwords::hash(&password)).await {
        Ok(Ok(hash)) => Some(hash),
        Ok(Err(StoreError::Invalid(found))) => {
            problems.extend(found);
            None
        }
        Ok(Err(other)) => return Err(other.into()),
        Err(error) => return Err(WebError::Internal(error.to_string())),
    };
    if let (Some(hash), true) = (hash, problems.is_empty()) {
        let new = NewUser {
            email: input.email.clone(),
            display_name: input.name.clone(),
            password_hash: hash,
            permissions,
            roles: input.roles.clone(),
        };
        match state.store.add_user(user.company(), new).await {
            Ok(_) => return Ok(Redirect::to("/admin/users").into_response()),
            Err(StoreError::Invalid(found)) => problems.extend(found),
            Err(StoreError::Conflict(message)) => problems.push(Problem::error("/email", message)),
            Err(other) => return Err(other.into()),
        }
    }
    let body = html! {
        h1 { "Add a user" }
        (tabs("users"))
        div.alert.alert-error role="alert" { "The user was not added; please correct the marked fields." }
        (new_user_form(user, &roles, &input, &problems))
    };
    Ok(form_back(Page::new("Add a user", user, body), &problems))
}

fn user_page(user: &CurrentUser, person: &UserSummary, roles: &[RoleView]) -> Markup {
    html! {
        h1 { (person.display_name) }
        (tabs("users"))
        p.muted { (person.email) }
        form.card method="post" action={ "/admin/users/" (person.id) } {
            (csrf_field(user))
            (access_fields(roles, &person.permissions, &person.roles))
            button.button.primary type="submit" { "Save access" }
        }
    }
}

pub async fn user_get(State(state): State<AppState>, user: CurrentUser, Path(id): Path<i64>) -> WebResult<Page> {
    user.require(Permission::CompanyAdmin)?;
    let person = state.store.user(user.company(), UserId(id)).await?;
    let roles = state.store.list_roles(user.company()).await?;
    Ok(Page::new(person.display_name.clone(), &user, user_page(&user, &person, &roles)))
}

pub async fn user_post(State(state): State<AppState>, Path(id): Path<i64>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    user.require(Permission::CompanyAdmin)?;
    let person = state.store.user(user.company(), UserId(id)).await?;
    let roles = state.store.list_roles(user.company()).await?;
    let mut permissions = Vec::new();
    for name in posted.all("permission") {
        permissions.push(
            Permission::parse(name).ok_or_else(|| WebError::BadRequest(format!("\"{name}\" is not a permission")))?,
        );
    }
    let mut role_ids: Vec<RoleId> = Vec::new();
    for key in posted.all("role") {
        role_ids.push(roles.iter().find(|r| r.key == key).map(|r| r.id).ok_or(WebError::NotFound)?);
    }
    if person.id == user.id() && !permissions.contains(&Permission::CompanyAdmin) {
        return Err(WebError::Conflict("you cannot take company_admin away from yourself".into()));
    }
    state.store.set_user_access(user.company(), person.id, &permissions, &role_ids).await?;
    state.sessions.forget_user(person.id);
    Ok(Redirect::to(&format!("/admin/users/{id}")).into_response())
}

pub async fn roles(State(state): State<AppState>, user: CurrentUser) -> WebResult<Page> {
    user.require(Permission::CompanyAdmin)?;
    let roles = state.store.list_roles(user.company()).await?;
    Ok(Page::new("Roles", &user, roles_page(&user, &roles, &[], "", "")))
}

fn roles_page(user: &CurrentUser, roles: &[RoleView], problems: &[Problem], key: &str, title: &str) -> Markup {
    html! {
        h1 { "Company administration" }
        (tabs("roles"))
        p.muted { "Roles say who works which tasks (assign: {role: …}) and who may create and see which ticket types (role_access)." }
        table.list {
            thead { tr { th { "Key" } th { "Title" } th { "Members" } } }
            tbody {
                @for role in roles {
                    tr {
                        td { code { (role.key) } }
                        td {
                            form.inline method="post" action={ "/admin/roles/" (role.id) } {
                                (csrf_field(user))
                                input.input type="text" name="title" value=(role.title) aria-label={ "Title of " (role.key) } required;
                                " " button.button.small type="submit" { "Rename" }
                            }
                        }
                        td { (role.members) }
                    }
                }
            }
        }
        h2 { "Create a role" }
        form.card method="post" action="/admin/roles" {
            (csrf_field(user))
            div.field {
                label.field-label for="key" { "Key (as workflows name it, e.g. warehouse)" }
                input.input #key type="text" name="key" value=(key) required;
                (errors_at(problems, "/key"))
            }
            div.field {
                label.field-label for="title" { "Title" }
                input.input #title type="text" name="title" value=(title);
                (errors_at(problems, "/title"))
            }
            button.button.primary type="submit" { "Create role" }
        }
    }
}

pub async fn roles_post(State(state): State<AppState>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    user.require(Permission::CompanyAdmin)?;
    let (key, title) = (posted.text("key").trim(), posted.text("title").trim());
    let title = if title.is_empty() { key } else { title };
    let problems = match state.store.create_role(user.company(), key, title).await {
        Ok(_) => return Ok(Redirect::to("/admin/roles").into_response()),
        Err(StoreError::Invalid(problems)) => problems,
        Err(StoreError::Conflict(message)) => vec![Problem::error("/key", message)],
        Err(other) => return Err(other.into()),
    };
    let roles = state.store.list_roles(user.company()).await?;
    Ok(form_back(Page::new("Roles", user, roles_page(user, &roles, &problems, key, title)), &problems))
}

pub async fn role_post(State(state): State<AppState>, Path(id): Path<i64>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    user.require(Permission::CompanyAdmin)?;
    let title = posted.text("title").trim();
    if title.is_empty() {
        return Err(WebError::Invalid(vec![Problem::error("/title", "a role needs a title")]));
    }
    state.store.rename_role(user.company(), RoleId(id), title).await?;
    Ok(Redirect::to("/admin/roles").into_response())
}

fn secrets_page(
    user: &CurrentUser,
    secrets: &[ticketflower_store::SecretInfo],
    problems: &[Problem],
    name: &str,
) -> Markup {
    html! {
        h1 { "Company administration" }
        (tabs("secrets"))
        p.muted {
            "API keys and passwords your workflows use as " code { "{{secrets.NAME}}" } " in HTTP steps. "
            "They are stored encrypted and never shown again; to change one, set it anew."
        }
        @if secrets.is_empty() { div.empty { "No secrets yet." } }
        @else {
            table.list {
                thead { tr { th { "Name" } th { "Last set" } th { "" } } }
                tbody {
                    @for secret in secrets {
                        tr {
                            td { code { (secret.name) } }
                            td { (crate::layout::time(secret.updated_at)) }
                            td {
                                form.inline method="post" action={ "/admin/secrets/" (secret.name) "/delete" } {
                                    (csrf_field(user))
                                    button.button.small.danger type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Set a secret" }
        form.card method="post" action="/admin/secrets" autocomplete="off" {
            (csrf_field(user))
            div.field {
                label.field-label for="name" { "Name" }
                input.input #name type="text" name="name" value=(name) required placeholder="PAYMENTS_KEY";
                (errors_at(problems, "/name"))
            }
            div.field {
                label.field-label for="value" { "Value" }
                input.input #value type="password" name="value" required autocomplete="new-password";
                (errors_at(problems, "/value"))
            }
            button.button.primary type="submit" { "Save secret" }
        }
    }
}

/// The secrets HTTP steps use; the assistant's own settings have their page.
async fn listed_secrets(state: &AppState, user: &CurrentUser) -> WebResult<Vec<ticketflower_store::SecretInfo>> {
    let mut secrets = state.store.secret_names(user.company()).await?;
    secrets.retain(|s| !super::assistant::settings::is_assistant_setting(&s.name));
    Ok(secrets)
}

pub async fn secrets(State(state): State<AppState>, user: CurrentUser) -> WebResult<Page> {
    user.require(Permission::CompanyAdmin)?;
    let secrets = listed_secrets(&state, &user).await?;
    Ok(Page::new("Secrets", &user, secrets_page(&user, &secrets, &[], "")))
}

pub async fn secrets_post(State(state): State<AppState>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    user.require(Permission::CompanyAdmin)?;
    let name = posted.text("name").trim();
    let problems =
        match state.store.set_secret(&state.settings.secret_key, user.company(), name, posted.text("value")).await {
            Ok(()) => return Ok(Redirect::to("/admin/secrets").into_response()),
            Err(StoreError::Invalid(problems)) => problems,
            Err(other) => return Err(other.into()),
        };
    let secrets = listed_secrets(&state, user).await?;
    Ok(form_back(Page::new("Secrets", user, secrets_page(user, &secrets, &problems, name)), &problems))
}

pub async fn secret_delete_post(
    State(state): State<AppState>,
    Path(name): Path<String>,
    posted: Posted,
) -> WebResult<Response> {
    let user = &posted.user;
    user.require(Permission::CompanyAdmin)?;
    state.store.delete_secret(user.company(), &name).await?;
    Ok(Redirect::to("/admin/secrets").into_response())
}
