//! The evaluation harness: how well the designer turns plain-language requests
//! into valid workflows with whatever model is configured
//! (`ticketflower assistant-eval CASES_DIR [--json]`).
//!
//! A case ([`case`]) is a Markdown file: YAML front matter saying what any correct
//! definition must have, and the request as the owner would write it. The runner
//! ([`run_case`]) plays a conversation with a fresh history: the request, then up
//! to `max_turns` turns in all, answering for the owner — a plan is approved
//! ([`PLAN_APPROVED`]), a question is left to the assistant ([`DECIDE_YOURSELF`]),
//! a reply in words is asked for the workflow ([`PROPOSE_NOW`]) — until the
//! assistant shows a proposal or gives up. A provider error ends that case, not
//! the run.
//!
//! A case passes when the proposal is valid (the validator finds no error) and
//! every check passes. The checks ([`checks`]), one per front-matter key present,
//! are computed from the loaded definition only:
//!
//! | key | passes when |
//! |---|---|
//! | `tasks: {min, max}` | the number of tasks is within the range (either bound optional) |
//! | `task_types: [form, …]` | each type is used by at least one task |
//! | `statuses: [COMPLETED, …]` | some transition reaches each end status |
//! | `transitions: [[a, b], …]` | a transition from task `a` (or `start`) to task `b` (or an end status) exists — only for cases that fix task keys |
//! | `loops: true` / `false` | some transition leads back to an earlier task (the task graph has a cycle) / none does |
//! | `parallel: true` / `false` | some task waits for two or more others (`depends_on`, `join: all`), or one step opens two or more tasks under the same written condition / neither |
//! | `roles: [editor, …]` | each is part of the role of some task's `assign.role` |
//! | `fields: [amount, …]` | each is part of a property name of some ticket type's `fields` |
//! | `approval: true` / `false` | at least one / no task has type `approval` |
//! | (always) `sample_run` | the definition runs on generated sample data without an engine error |
//!
//! Roles and fields match ignoring case and everything but letters and digits, as a
//! part of the name (`doc` matches `submitted_doc`); `amount|total` accepts either.
//!
//! Each case records: passed, valid, the checks, turns, model calls (the turns'
//! steps), repairs, tokens and wall-clock seconds ([`report`] prints them).

pub mod case;
pub mod checks;
pub mod report;

pub use case::{Case, CaseError, CaseSpec, TaskRange};
pub use checks::{Check, CheckKind};
pub use report::{CaseResult, Ending, Report, Total};

use crate::designer::{CompanyContext, Designer, Outcome};
use crate::provider::{Message, Usage};
use std::time::Instant;
use ticketflower_core::definition::Definition;

/// What the owner answers to a plan.
pub const PLAN_APPROVED: &str = "The plan is approved. Build the complete workflow.";
/// What the owner answers to a clarifying question.
pub const DECIDE_YOURSELF: &str = "Please decide yourself with sensible assumptions for a small business.";
/// What the owner answers to a reply in words.
pub const PROPOSE_NOW: &str = "Please propose the complete workflow now.";
/// Turns per case unless told otherwise.
pub const DEFAULT_MAX_TURNS: u32 = 4;

/// The company every case runs in: no roles, no workflows, no HTTP capabilities.
pub fn context() -> CompanyContext {
    CompanyContext { company_name: "Evaluation".to_owned(), ..CompanyContext::default() }
}

/// Plays one case with a fresh history and checks what it ends with.
pub async fn run_case(designer: &Designer, case: &Case, max_turns: u32) -> CaseResult {
    let started = Instant::now();
    let context = context();
    let mut history: Vec<Message> = Vec::new();
    let mut message = case.request.clone();
    let mut result = CaseResult::new(case);
    let mut usage = Usage::default();
    let mut ending = Ending::OutOfTurns;
    let mut problem = Some(format!("no proposal within {max_turns} turns"));
    let mut proposal = None;
    for _ in 0..max_turns {
        let turn = match designer.turn(&context, &history, &message, &mut |_| {}).await {
            Ok(turn) => turn,
            Err(error) => {
                ending = Ending::ProviderError;
                problem = Some(error.to_string());
                break;
            }
        };
        result.turns += 1;
        result.model_calls += turn.steps;
        result.repairs += turn.repairs;
        usage = usage + turn.usage;
        history.extend(turn.messages);
        message = match turn.outcome {
            Outcome::Plan { .. } => PLAN_APPROVED.to_owned(),
            Outcome::Question { .. } => DECIDE_YOURSELF.to_owned(),
            Outcome::Reply => PROPOSE_NOW.to_owned(),
            Outcome::Proposal(found) => {
                ending = Ending::Proposal;
                problem = None;
                proposal = Some(found);
                break;
            }
            Outcome::GaveUp { reason } => {
                ending = Ending::GaveUp;
                problem = Some(reason);
                break;
            }
        };
    }
    match proposal {
        Some(proposal) => {
            result.valid = proposal.is_valid();
            match Definition::load(&proposal.document).definition {
                Some(definition) => result.checks = checks::check(&case.spec, &definition),
                None => {
                    let errors = proposal.placeholders().count();
                    let reason = format!("the proposal is not a valid definition ({errors} errors)");
                    result.checks = checks::unchecked(&case.spec, &reason);
                    problem = Some(reason);
                }
            }
        }
        None => {
            let reason = problem.clone().unwrap_or_default();
            result.checks = checks::unchecked(&case.spec, &format!("no definition to check: {reason}"));
        }
    }
    result.ending = ending;
    result.problem = problem;
    result.input_tokens = usage.input_tokens;
    result.output_tokens = usage.output_tokens;
    result.passed = result.valid && result.checks.iter().all(|check| check.passed);
    result.seconds = started.elapsed().as_secs_f64();
    result
}

/// Plays every case in turn; `on_case` hears each result as it is ready.
pub async fn run(
    designer: &Designer,
    cases: &[Case],
    max_turns: u32,
    on_case: &mut (dyn FnMut(&CaseResult) + Send),
) -> Report {
    let mut results = Vec::with_capacity(cases.len());
    for case in cases {
        let result = run_case(designer, case, max_turns).await;
        on_case(&result);
        results.push(result);
    }
    let provider = designer.provider();
    Report::new(provider.kind().to_string(), provider.model().to_owned(), max_turns, results)
}
