//! The designer: one turn of the assistant's conversation (SPEC §6).
//!
//! A turn starts with the user's message and ends when the model has something
//! for the user: a reply, a clarifying question, a plan to approve, or a checked
//! proposal. In between the model may call its tools ([`tools`]) as often as the
//! step limit allows. Every `propose_workflow` is validated by the same validator
//! as an upload and simulated on sample data ([`proposal`]); a proposal with
//! problems goes back to the model as the tool's error result, for up to
//! [`DesignerOptions::max_repairs`] rounds, before the user sees anything, and
//! whatever is still wrong then stays on the proposal as placeholders that block
//! saving.
//!
//! The designer never writes anything: it returns the turn's messages and its
//! outcome, and the caller stores them. Saving a draft and activating are the
//! user's buttons; the model has no tool for either.

pub mod prompt;
pub mod proposal;
pub mod tools;

pub use prompt::{CompanyContext, RoleHolders, WorkflowSummary, system_prompt};
pub use proposal::{BaseVersion, Proposal, SampleRun, TaskNote};

use crate::provider::{
    ChatRequest, ChatResponse, Message, Provider, ProviderError, StopReason, StreamEvent, ToolCall, ToolResult, Usage,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use ticketflower_core::definition::Definition;
use ticketflower_core::simulate::{self, Script};

/// Limits of one turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DesignerOptions {
    /// Proposals with problems sent back to the model before the user sees one.
    pub max_repairs: u32,
    /// Model calls in one turn.
    pub max_steps: u32,
    pub max_tokens: u32,
    /// Stream the model's text as it arrives.
    pub stream: bool,
}

impl Default for DesignerOptions {
    fn default() -> Self {
        Self { max_repairs: 3, max_steps: 12, max_tokens: 8192, stream: true }
    }
}

/// Something the user may see while a turn is under way.
#[derive(Debug, Clone, PartialEq)]
pub enum DesignEvent {
    /// A piece of the model's text.
    Text(String),
    /// What the assistant is doing ("Checking the proposal").
    Working(String),
}

/// What a turn ended with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// The model answered in words only.
    Reply,
    Question {
        question: String,
        options: Vec<String>,
    },
    Plan {
        summary: String,
        steps: Vec<PlanStep>,
    },
    Proposal(Box<Proposal>),
    /// The model went on calling tools past the step limit.
    GaveUp {
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStep {
    pub title: String,
    pub detail: Option<String>,
}

/// One finished turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// The turn's messages, starting with the user's, for the caller to store.
    pub messages: Vec<Message>,
    pub outcome: Outcome,
    /// Everything the model said in words during the turn.
    pub text: String,
    pub usage: Usage,
    /// Model calls made.
    pub steps: u32,
    /// Proposals sent back to the model for repair.
    pub repairs: u32,
}

/// The assistant's designer over one provider.
#[derive(Debug, Clone)]
pub struct Designer {
    provider: Provider,
    options: DesignerOptions,
}

impl Designer {
    pub fn new(provider: Provider, options: DesignerOptions) -> Self {
        Self { provider, options }
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    /// Plays one turn: `history` is the conversation so far (as earlier turns
    /// returned it), `user_text` the user's new message. A provider failure ends the
    /// turn with that error and nothing for the caller to store.
    pub async fn turn(
        &self,
        context: &CompanyContext,
        history: &[Message],
        user_text: &str,
        on_event: &mut (dyn FnMut(DesignEvent) + Send),
    ) -> Result<Turn, ProviderError> {
        let mut messages = history.to_vec();
        messages.push(Message::user(user_text));
        let first_new = history.len();
        let mut state = TurnState {
            context,
            user_words: user_words(&messages),
            latest_document: latest_document(history),
            repairs: 0,
            rejected: None,
            max_repairs: self.options.max_repairs,
        };
        let system = system_prompt(context);
        let mut usage = Usage::default();
        let mut text = String::new();
        for step in 1..=self.options.max_steps {
            let request = ChatRequest {
                system: system.clone(),
                messages: messages.clone(),
                tools: tools::specs(),
                max_tokens: self.options.max_tokens,
                temperature: Some(0.2),
            };
            let response = self.ask(&request, on_event).await?;
            usage = usage + response.usage;
            if !response.text.is_empty() {
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(&response.text);
            }
            messages.push(Message::assistant(&response));
            let finish = |messages: Vec<Message>, outcome: Outcome, repairs: u32| Turn {
                messages: messages[first_new..].to_vec(),
                outcome,
                text: text.clone(),
                usage,
                steps: step,
                repairs,
            };
            if response.tool_calls.is_empty() {
                // A proposal that never got repaired is shown as it is, with its placeholders.
                let outcome = match state.rejected.take() {
                    Some(proposal) => Outcome::Proposal(proposal),
                    None if response.stop == StopReason::MaxTokens => {
                        Outcome::GaveUp { reason: "The model's answer was cut off at its length limit.".to_owned() }
                    }
                    None => Outcome::Reply,
                };
                return Ok(finish(messages, outcome, state.repairs));
            }
            let mut results = Vec::with_capacity(response.tool_calls.len());
            let mut stop: Option<Outcome> = None;
            for call in &response.tool_calls {
                if let Some(outcome) = &stop {
                    results.push(ToolResult::error(
                        &call.id,
                        format!(
                            "Not run: the user is already shown your {} from this answer. One question, plan or proposal at a time.",
                            outcome_name(outcome)
                        ),
                    ));
                    continue;
                }
                if call.name == tools::PROPOSE_WORKFLOW {
                    on_event(DesignEvent::Working("Checking the proposal: validating and simulating it".to_owned()));
                }
                let (result, outcome) = state.call(call);
                results.push(result);
                stop = outcome;
            }
            messages.push(Message::tool_results(results));
            if let Some(outcome) = stop {
                return Ok(finish(messages, outcome, state.repairs));
            }
        }
        let outcome = match state.rejected.take() {
            Some(proposal) => Outcome::Proposal(proposal),
            None => Outcome::GaveUp {
                reason: format!(
                    "The assistant did not finish within {} steps. Try again, or say more precisely what you need.",
                    self.options.max_steps
                ),
            },
        };
        Ok(Turn {
            messages: messages[first_new..].to_vec(),
            outcome,
            text,
            usage,
            steps: self.options.max_steps,
            repairs: state.repairs,
        })
    }

    async fn ask(
        &self,
        request: &ChatRequest,
        on_event: &mut (dyn FnMut(DesignEvent) + Send),
    ) -> Result<ChatResponse, ProviderError> {
        if !self.options.stream {
            return self.provider.complete(request).await;
        }
        let mut forward = |event: StreamEvent| {
            if let StreamEvent::TextDelta(text) = event {
                on_event(DesignEvent::Text(text));
            }
        };
        self.provider.stream(request, &mut forward).await
    }
}

fn outcome_name(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Question { .. } => "question",
        Outcome::Plan { .. } => "plan",
        Outcome::Proposal(_) => "proposal",
        Outcome::Reply | Outcome::GaveUp { .. } => "answer",
    }
}

/// What one turn keeps between tool calls.
struct TurnState<'a> {
    context: &'a CompanyContext,
    user_words: String,
    latest_document: Option<Value>,
    repairs: u32,
    /// The latest proposal sent back for repair, shown if the model gives up on it.
    rejected: Option<Box<Proposal>>,
    max_repairs: u32,
}

impl TurnState<'_> {
    /// Answers one tool call; `Some` outcome ends the turn.
    fn call(&mut self, call: &ToolCall) -> (ToolResult, Option<Outcome>) {
        let arguments = match tools::object(&call.arguments) {
            Ok(arguments) => arguments,
            Err(problem) => return (ToolResult::error(&call.id, problem), None),
        };
        let answer = match call.name.as_str() {
            tools::ASK_CLARIFYING_QUESTION => self.ask(arguments),
            tools::PROPOSE_PLAN => plan(arguments),
            tools::PROPOSE_WORKFLOW => return self.propose(&call.id, arguments),
            tools::SIMULATE_WORKFLOW => self.simulate(arguments).map(|result| (result, None)),
            tools::GET_WORKFLOW => self.get(arguments).map(|result| (result, None)),
            tools::LIST_WORKFLOWS => Ok((self.list(), None)),
            other => Err(unknown_tool(other)),
        };
        match answer {
            Ok((content, outcome)) => (ToolResult::ok(&call.id, content), outcome),
            Err(problem) => (ToolResult::error(&call.id, problem), None),
        }
    }

    fn ask(&self, arguments: &Map<String, Value>) -> Result<(String, Option<Outcome>), String> {
        let question = tools::string(arguments, "question")?.trim().to_owned();
        let options = strings(arguments.get("options"), "options")?;
        Ok((
            "The question is shown to the user; their answer is their next message.".to_owned(),
            Some(Outcome::Question { question, options }),
        ))
    }

    fn propose(&mut self, id: &str, arguments: &Map<String, Value>) -> (ToolResult, Option<Outcome>) {
        let document = match arguments.get("document").map(tools::document) {
            Some(Ok(document)) => document,
            Some(Err(problem)) => return (ToolResult::error(id, problem), None),
            None => return (ToolResult::error(id, "\"document\" is required: the complete definition document"), None),
        };
        let summary = arguments.get("summary").and_then(Value::as_str).unwrap_or_default();
        let empty = Map::new();
        let request_words = match arguments.get("request_words") {
            Some(Value::Object(words)) => words,
            _ => &empty,
        };
        self.latest_document = Some(document.clone());
        let mut proposal = Proposal::check(document, summary, request_words, &self.user_words, self.context);
        proposal.repairs = self.repairs;
        let report = proposal.report();
        if !proposal.is_clean() && self.repairs < self.max_repairs {
            self.repairs += 1;
            self.rejected = Some(Box::new(proposal));
            return (ToolResult::error(id, report), None);
        }
        self.rejected = None;
        let content = if proposal.is_clean() {
            report
        } else {
            format!("{report}\nThe user now sees the proposal with these problems marked as placeholders to resolve.")
        };
        (ToolResult::ok(id, content), Some(Outcome::Proposal(Box::new(proposal))))
    }

    fn simulate(&self, arguments: &Map<String, Value>) -> Result<String, String> {
        let document = match (arguments.get("document"), tools::optional_string(arguments, "key")?) {
            (Some(document), _) => tools::document(document)?,
            (None, Some(key)) => self.workflow(key)?.document.clone(),
            (None, None) => self
                .latest_document
                .clone()
                .ok_or("there is no proposal to simulate yet; pass \"document\" or \"key\"")?,
        };
        let definition = Definition::load(&document).into_result().map_err(|problems| {
            let lines: Vec<String> = problems.iter().filter(|p| p.is_error()).map(|p| format!("- {p}")).collect();
            format!("The document is not valid, so it cannot run:\n{}", lines.join("\n"))
        })?;
        let (sample_type, sample_data, sample_script) = simulate::sample_inputs(&definition);
        let ticket_type = tools::optional_string(arguments, "ticket_type")?.map(str::to_owned).or(sample_type);
        if let Some(key) = &ticket_type
            && definition.ticket_type(key).is_none()
        {
            return Err(format!("the definition has no ticket type \"{key}\""));
        }
        let data = match arguments.get("data") {
            Some(Value::Object(data)) => Value::Object(data.clone()),
            Some(_) => return Err("\"data\" must be an object of the ticket's form fields".to_owned()),
            None => sample_data,
        };
        let script = match arguments.get("outputs") {
            Some(outputs) => Script::from_value(outputs)?,
            None => sample_script,
        };
        let unknown = script.unknown_tasks(&definition);
        if !unknown.is_empty() {
            return Err(format!("\"outputs\" names tasks the definition does not have: {}", unknown.join(", ")));
        }
        let run = simulate::simulate(&definition, ticket_type.as_deref(), data, script).map_err(|e| e.to_string())?;
        Ok(json!({"status": run.status.as_str(), "path": run.path, "data": run.data, "errors": run.errors, "open": run.open})
            .to_string())
    }

    fn workflow(&self, key: &str) -> Result<&WorkflowSummary, String> {
        self.context
            .workflow(key)
            .ok_or_else(|| format!("the company has no workflow \"{key}\"; list_workflows shows the ones it has"))
    }

    fn get(&self, arguments: &Map<String, Value>) -> Result<String, String> {
        let workflow = self.workflow(tools::string(arguments, "key")?)?;
        Ok(json!({"key": workflow.key, "version": workflow.version, "status": workflow.status, "document": workflow.document})
            .to_string())
    }

    fn list(&self) -> String {
        let list: Vec<Value> = self
            .context
            .workflows
            .iter()
            .map(|w| json!({"key": w.key, "title": w.title, "version": w.version, "status": w.status}))
            .collect();
        Value::Array(list).to_string()
    }
}

fn plan(arguments: &Map<String, Value>) -> Result<(String, Option<Outcome>), String> {
    let Some(Value::Array(items)) = arguments.get("steps") else {
        return Err("\"steps\" is required: a list of {title, detail}".to_owned());
    };
    let mut steps = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let title = item.get("title").and_then(Value::as_str).map(str::trim).filter(|t| !t.is_empty());
        let Some(title) = title else {
            return Err(format!("steps[{index}] needs a \"title\""));
        };
        let detail = item.get("detail").and_then(Value::as_str).map(str::trim).filter(|d| !d.is_empty());
        steps.push(PlanStep { title: title.to_owned(), detail: detail.map(str::to_owned) });
    }
    if steps.is_empty() {
        return Err("a plan needs at least one step".to_owned());
    }
    let summary = arguments.get("summary").and_then(Value::as_str).unwrap_or_default().trim().to_owned();
    Ok((
        "The plan is shown to the user, who approves, changes or rejects it in their next message. Build the full workflow only after approval."
            .to_owned(),
        Some(Outcome::Plan { summary, steps }),
    ))
}

fn strings(value: Option<&Value>, name: &str) -> Result<Vec<String>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or_else(|| format!("\"{name}\" must be a list of strings")))
            .collect(),
        Some(_) => Err(format!("\"{name}\" must be a list of strings")),
    }
}

fn unknown_tool(name: &str) -> String {
    let lower = name.to_lowercase();
    let forbidden = ["activate", "save", "publish", "deploy", "archive", "delete", "create", "import"];
    if forbidden.iter().any(|word| lower.contains(word)) {
        format!(
            "There is no tool \"{name}\". You cannot save, activate, archive or delete workflows: the user does that with the buttons on your proposal. \
             Tell the user the proposal is ready for their review."
        )
    } else {
        format!("There is no tool \"{name}\". The tools are: {}.", tools::NAMES.join(", "))
    }
}

/// Everything the user has written in the conversation, for checking quotes.
fn user_words(messages: &[Message]) -> String {
    let texts: Vec<&str> = messages
        .iter()
        .filter_map(|m| match m {
            Message::User { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n")
}

/// The document of the conversation's latest `propose_workflow` call.
fn latest_document(history: &[Message]) -> Option<Value> {
    history.iter().rev().find_map(|message| match message {
        Message::Assistant { tool_calls, .. } => tool_calls.iter().rev().find_map(|call| {
            if call.name != tools::PROPOSE_WORKFLOW {
                return None;
            }
            let arguments = call.arguments.as_ref().ok()?;
            tools::document(arguments.get("document")?).ok()
        }),
        _ => None,
    })
}
