//! The system prompt: how the assistant works, the project's own workflow guide
//! (the document users read, `docs/workflow-guide.md`, compiled in), and what it
//! may know of the company — its roles, how many people hold each (never who),
//! its workflows' keys and titles, and the HTTP capabilities it has configured.

use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// The guide users read to write definitions; the tests keep it true to the code.
pub const WORKFLOW_GUIDE: &str = include_str!("../../../../docs/workflow-guide.md");

/// What the assistant may know of one company. Built by the caller from the
/// company's own data only; the model can read nothing else.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CompanyContext {
    pub company_name: String,
    /// The company's roles and how many users hold each.
    pub roles: Vec<RoleHolders>,
    pub workflows: Vec<WorkflowSummary>,
    /// Names of configured HTTP capabilities (the company's secrets an `http` task may use).
    pub http_capabilities: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleHolders {
    pub role: String,
    pub users: usize,
}

/// One of the company's workflows at its latest version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowSummary {
    pub key: String,
    pub title: String,
    pub version: i64,
    /// `DRAFT`, `ACTIVE` or `ARCHIVED`.
    pub status: String,
    /// The latest version's definition document.
    pub document: serde_json::Value,
}

impl CompanyContext {
    pub fn workflow(&self, key: &str) -> Option<&WorkflowSummary> {
        self.workflows.iter().find(|w| w.key == key)
    }
}

const INSTRUCTIONS: &str = "\
You are TicketFlower's workflow assistant. A small-business owner describes a process in plain words; \
you turn it into a TicketFlower workflow definition document (format: ticketflower/v1), explained simply.

How you work:
1. If something essential is unknown, call ask_clarifying_question (one question at a time). Assume what a sensible small business would.
2. For a new workflow, first call propose_plan with the steps in words, and wait for the user's approval.
3. After approval (or when the user asks for a change to an existing workflow), call propose_workflow with the complete document, \
a short plain-English summary, and for every task the user's exact words that asked for it (request_words).
4. TicketFlower validates and simulates every proposal. If it reports problems, fix exactly those and propose again.
5. Never invent steps the user did not ask for. If one is necessary, say why in the summary and leave it out of request_words.
6. To change an existing workflow, read it with get_workflow, keep its key, and change only what the user asked for.
7. You cannot save, activate, archive or delete anything, and there are no tools for it: the user does that with buttons. \
Never claim that you saved or activated something.
8. Use only the company's roles listed below for `assign: {role: ...}` where one fits, and add every role you use to `roles:`.
9. Answer in the user's language, briefly. Do not paste the document into your text; the user sees it as a diagram.

The workflow guide below is the complete reference for the definition format.";

/// The system prompt for one company.
pub fn system_prompt(context: &CompanyContext) -> String {
    let mut prompt = String::with_capacity(WORKFLOW_GUIDE.len() + 2048);
    prompt.push_str(INSTRUCTIONS);
    prompt.push_str("\n\n# The company\n\n");
    let _ = writeln!(prompt, "Company: {}", context.company_name);
    if context.roles.is_empty() {
        prompt.push_str("Roles: none yet (new roles in a definition are fine; an admin creates them).\n");
    } else {
        prompt.push_str("Roles (users holding each):\n");
        for role in &context.roles {
            let _ = writeln!(prompt, "- {} ({})", role.role, role.users);
        }
    }
    if context.workflows.is_empty() {
        prompt.push_str("Existing workflows: none.\n");
    } else {
        prompt.push_str("Existing workflows (key: title, latest version):\n");
        for workflow in &context.workflows {
            let _ = writeln!(
                prompt,
                "- {}: {} (version {}, {})",
                workflow.key, workflow.title, workflow.version, workflow.status
            );
        }
    }
    if context.http_capabilities.is_empty() {
        prompt.push_str("HTTP capabilities: none configured; an http task needs a URL the user gives you.\n");
    } else {
        prompt.push_str("HTTP capabilities (company secrets usable as {{secrets.NAME}} in http tasks):\n");
        for name in &context.http_capabilities {
            let _ = writeln!(prompt, "- {name}");
        }
    }
    prompt.push_str("\n# The workflow guide\n\n");
    prompt.push_str(WORKFLOW_GUIDE);
    prompt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_holds_the_guide_and_the_company() {
        let context = CompanyContext {
            company_name: "Acme".into(),
            roles: vec![RoleHolders { role: "editor".into(), users: 2 }],
            workflows: vec![WorkflowSummary {
                key: "document-edit".into(),
                title: "Document Edit".into(),
                version: 3,
                status: "ACTIVE".into(),
                document: serde_json::json!({}),
            }],
            http_capabilities: vec!["SHOP_API_KEY".into()],
        };
        let prompt = system_prompt(&context);
        assert!(prompt.contains(WORKFLOW_GUIDE));
        assert!(prompt.contains("- editor (2)"));
        assert!(prompt.contains("- document-edit: Document Edit (version 3, ACTIVE)"));
        assert!(prompt.contains("- SHOP_API_KEY"));
    }
}
