//! `/admin/assistant`: a company's own language-model settings, overriding the
//! deployment's (`TICKETFLOWER_LLM_*`). They live in the company secrets store
//! under reserved names, sealed like every secret; the API key is write-only
//! (never shown, never logged), the provider, model and address are shown back.

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::{WebResult, form_back};
use crate::layout::{Page, csrf_field};
use crate::posted::Posted;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use ticketflower_assistant::provider::ProviderConfig;
use ticketflower_assistant::{ApiKey, Provider, ProviderError, ProviderKind};
use ticketflower_core::Problem;
use ticketflower_store::{CompanyId, Permission};

const PROVIDER: &str = "ASSISTANT_PROVIDER";
const MODEL: &str = "ASSISTANT_MODEL";
const BASE_URL: &str = "ASSISTANT_BASE_URL";
const API_KEY: &str = "ASSISTANT_API_KEY";
const NAMES: [&str; 4] = [PROVIDER, MODEL, BASE_URL, API_KEY];

/// Secret names that hold the assistant's settings, not an HTTP capability.
pub fn is_assistant_setting(name: &str) -> bool {
    NAMES.contains(&name)
}

/// The company's own settings as stored (the key only as "set or not").
#[derive(Debug, Default)]
struct Stored {
    provider: Option<String>,
    model: Option<String>,
    base_url: Option<String>,
    key: Option<String>,
}

async fn stored(state: &AppState, company: CompanyId) -> WebResult<Option<Stored>> {
    let names = state.store.secret_names(company).await?;
    if !names.iter().any(|s| is_assistant_setting(&s.name)) {
        return Ok(None);
    }
    let key = &state.settings.secret_key;
    let read = |name: &'static str| state.store.secret_value(key, company, name);
    Ok(Some(Stored {
        provider: read(PROVIDER).await?,
        model: read(MODEL).await?,
        base_url: read(BASE_URL).await?,
        key: read(API_KEY).await?,
    }))
}

/// The company's own provider: `None` when it has no settings, an error when
/// they do not make a working configuration.
pub async fn company_provider(
    state: &AppState,
    company: CompanyId,
) -> WebResult<Option<Result<Provider, ProviderError>>> {
    let Some(stored) = stored(state, company).await? else { return Ok(None) };
    let deployment = state.settings.assistant.as_ref().map(Provider::config);
    let kind = stored.provider.as_deref().and_then(ProviderKind::parse).or(deployment.map(|c| c.kind));
    let Some(kind) = kind else {
        return Ok(Some(Err(ProviderError::NotConfigured {
            reason: "the company's assistant settings name no provider".to_owned(),
        })));
    };
    let same_kind = deployment.filter(|c| c.kind == kind);
    let Some(model) = stored.model.clone().or(same_kind.map(|c| c.model.clone())) else {
        return Ok(Some(Err(ProviderError::NotConfigured {
            reason: "the company's assistant settings name no model".to_owned(),
        })));
    };
    let mut config = ProviderConfig::new(kind, model, stored.key.map(ApiKey::new));
    if let Some(base_url) = stored.base_url.or(same_kind.map(|c| c.base_url.clone())) {
        config = config.with_base_url(base_url);
    }
    if let Some(deployment) = deployment {
        config = config.with_timeouts(deployment.timeouts);
    }
    Ok(Some(Provider::new(config)))
}

pub async fn page(State(state): State<AppState>, user: CurrentUser) -> WebResult<Page> {
    user.require(Permission::CompanyAdmin)?;
    let stored = stored(&state, user.company()).await?;
    let usage = state.store.assistant_usage(user.company()).await?;
    let mut body = settings_page(&state, &user, stored.as_ref(), None, &[]);
    body.0.push_str(&usage_note(usage).0);
    Ok(Page::new("Assistant settings", &user, body))
}

/// The tokens the company's conversations used (no prices: they differ per
/// provider, model and contract, so the provider's bill says what they cost).
fn usage_note((input, output): (i64, i64)) -> Markup {
    html! {
        h2 { "Usage" }
        p { "Your company's assistant conversations have used " strong { (input) } " input and " strong { (output) } " output tokens." }
    }
}

struct Typed<'a> {
    provider: &'a str,
    model: &'a str,
    base_url: &'a str,
}

fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    stored: Option<&Stored>,
    typed: Option<&Typed>,
    problems: &[Problem],
) -> Markup {
    let deployment = state.settings.assistant.as_ref();
    let provider = typed.map(|t| t.provider.to_owned()).or(stored.and_then(|s| s.provider.clone())).unwrap_or_default();
    let model = typed.map(|t| t.model.to_owned()).or(stored.and_then(|s| s.model.clone())).unwrap_or_default();
    let base_url = typed.map(|t| t.base_url.to_owned()).or(stored.and_then(|s| s.base_url.clone())).unwrap_or_default();
    let errors_at = |pointer: &str| super::super::admin::errors_at(problems, pointer);
    html! {
        h1 { "Company administration" }
        (super::super::admin::tabs("assistant"))
        p.muted {
            "The AI assistant uses the server's language model"
            @if let Some(provider) = deployment { " (" (provider.label()) ", model " code { (provider.model()) } ")" }
            @else { " — none is configured on this server" }
            ". Here your company can use its own provider and key instead; the key is stored encrypted and never shown again."
        }
        @if let Some(stored) = stored {
            p.alert.alert-ok {
                "Your company's own settings are in use"
                @if stored.key.is_some() { ", with your API key" }
                "."
            }
        }
        form.card method="post" action="/admin/assistant" autocomplete="off" {
            (csrf_field(user))
            div.field {
                label.field-label for="provider" { "Provider" }
                select #provider name="provider" {
                    option value="anthropic" selected[provider == "anthropic"] { "Anthropic (Messages API)" }
                    option value="openai" selected[provider == "openai"] { "OpenAI-compatible (OpenAI, Ollama, llama.cpp, vLLM)" }
                }
                (errors_at("/provider"))
            }
            div.field {
                label.field-label for="model" { "Model" }
                input.input #model type="text" name="model" value=(model) required placeholder="claude-sonnet-4-5";
                (errors_at("/model"))
            }
            div.field {
                label.field-label for="base_url" { "Server address (optional)" }
                input.input #base_url type="url" name="base_url" value=(base_url) placeholder="https://api.anthropic.com";
                (errors_at("/base_url"))
            }
            div.field {
                label.field-label for="api_key" { "API key" }
                input.input #api_key type="password" name="api_key" value="" placeholder=(if stored.is_some_and(|s| s.key.is_some()) { "set — leave empty to keep it" } else { "" });
                (errors_at("/api_key"))
            }
            button.button.primary type="submit" { "Save" }
        }
        @if stored.is_some() {
            form method="post" action="/admin/assistant/delete" {
                (csrf_field(user))
                button.button.danger type="submit" { "Remove our own settings (use the server's model)" }
            }
        }
    }
}

pub async fn post(State(state): State<AppState>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    user.require(Permission::CompanyAdmin)?;
    let company = user.company();
    let typed = Typed {
        provider: posted.text("provider").trim(),
        model: posted.text("model").trim(),
        base_url: posted.text("base_url").trim(),
    };
    let api_key = posted.text("api_key").trim();
    let existing = stored(&state, company).await?;
    let mut problems = Vec::new();
    let kind = ProviderKind::parse(typed.provider);
    if kind.is_none() {
        problems.push(Problem::error("/provider", "choose Anthropic or an OpenAI-compatible server"));
    }
    if typed.model.is_empty() {
        problems.push(Problem::error("/model", "name the model, e.g. claude-sonnet-4-5 or llama3.1"));
    } else if typed.model.chars().count() > 200 {
        problems.push(Problem::error("/model", "a model name has at most 200 characters"));
    }
    let web_address = typed.base_url.starts_with("https://") || typed.base_url.starts_with("http://");
    if !typed.base_url.is_empty() && !web_address {
        problems.push(Problem::error(
            "/base_url",
            "the address must start with https:// (or http:// for a server on your network)",
        ));
    }
    let has_key = !api_key.is_empty() || existing.as_ref().is_some_and(|s| s.key.is_some());
    if kind == Some(ProviderKind::Anthropic) && !has_key {
        problems.push(Problem::error("/api_key", "Anthropic needs an API key"));
    }
    if !problems.is_empty() {
        let page = Page::new(
            "Assistant settings",
            user,
            settings_page(&state, user, existing.as_ref(), Some(&typed), &problems),
        );
        return Ok(form_back(page, &problems));
    }
    let base_url = (!typed.base_url.is_empty()).then_some(typed.base_url);
    let mut changes = vec![(PROVIDER, Some(typed.provider)), (MODEL, Some(typed.model)), (BASE_URL, base_url)];
    if !api_key.is_empty() {
        changes.push((API_KEY, Some(api_key)));
    }
    state.store.change_secrets(&state.settings.secret_key, company, &changes).await?;
    Ok(Redirect::to("/admin/assistant").into_response())
}

pub async fn delete_post(State(state): State<AppState>, posted: Posted) -> WebResult<Response> {
    let user = &posted.user;
    user.require(Permission::CompanyAdmin)?;
    let changes = NAMES.map(|name| (name, None));
    state.store.change_secrets(&state.settings.secret_key, user.company(), &changes).await?;
    Ok(Redirect::to("/admin/assistant").into_response())
}
