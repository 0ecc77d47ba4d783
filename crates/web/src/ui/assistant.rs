//! `/assistant`: where a workflow creator talks to the AI assistant. Without
//! a configured language model the page says exactly how to configure one;
//! everything else in TicketFlower works without it.

use crate::AppState;
use crate::auth::CurrentUser;
use crate::error::WebResult;
use crate::layout::{Page, time};
use axum::extract::State;
use maud::html;
use ticketflower_store::Permission;

pub async fn index(State(state): State<AppState>, user: CurrentUser) -> WebResult<Page> {
    user.require(Permission::WorkflowCreator)?;
    let Some(provider) = &state.settings.assistant else {
        let body = html! {
            h1 { "AI assistant" }
            div.card {
                h2 { "The assistant is not set up on this server" }
                p { (ticketflower_assistant::provider::HOW_TO_CONFIGURE) }
                table.list {
                    thead { tr { th { "Environment variable" } th { "Value" } } }
                    tbody {
                        tr { td { code { "TICKETFLOWER_LLM_PROVIDER" } } td { code { "anthropic" } " or " code { "openai" } " (any OpenAI-compatible server: OpenAI, Ollama, llama.cpp, vLLM)" } }
                        tr { td { code { "TICKETFLOWER_LLM_MODEL" } } td { "the model name, e.g. " code { "claude-sonnet-4-5" } " or " code { "llama3.1" } } }
                        tr { td { code { "TICKETFLOWER_LLM_API_KEY" } } td { "the provider's key (not needed for a local server)" } }
                        tr { td { code { "TICKETFLOWER_LLM_BASE_URL" } } td { "optional, e.g. " code { "http://localhost:11434/v1" } " for Ollama" } }
                    }
                }
                p.muted { "Restart TicketFlower after setting them. Everything else — workflows, tickets, the inbox — works without the assistant." }
            }
        };
        return Ok(Page::new("AI assistant", &user, body));
    };
    let conversations = state.store.conversations(user.company(), user.id()).await?;
    let body = html! {
        h1 { "AI assistant" }
        p.muted { "Connected to " (provider.label()) ", model " code { (provider.model()) } "." }
        h2 { "Your conversations" }
        @if conversations.is_empty() { div.empty { "No conversations yet." } }
        @else {
            table.list {
                thead { tr { th { "Title" } th { "Last message" } } }
                tbody { @for c in &conversations { tr { td { (c.title) } td { (time(c.updated_at)) } } } }
            }
        }
    };
    Ok(Page::new("AI assistant", &user, body))
}
