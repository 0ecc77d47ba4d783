//! What an evaluation run reports: one [`CaseResult`] per case and a [`Total`],
//! as a table for people ([`Report::table`]) or one JSON object
//! (`{provider, model, cases, total}`, the serialized [`Report`]).

use super::case::Case;
use super::checks::Check;
use serde::{Deserialize, Serialize};
use std::fmt::Write;

/// How a case's conversation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// The assistant showed a proposal (valid or with placeholders).
    Proposal,
    /// The assistant gave up (step limit, answer cut off).
    GaveUp,
    /// No proposal within the turn limit.
    OutOfTurns,
    /// The provider failed; `problem` has its message.
    ProviderError,
}

impl Ending {
    pub fn as_str(self) -> &'static str {
        match self {
            Ending::Proposal => "proposal",
            Ending::GaveUp => "gave up",
            Ending::OutOfTurns => "out of turns",
            Ending::ProviderError => "provider error",
        }
    }
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    pub name: String,
    pub title: String,
    /// A valid proposal that passed every check.
    pub passed: bool,
    /// A proposal without validation errors within the turn limit.
    pub valid: bool,
    pub ending: Ending,
    /// Why the case did not get a checkable proposal, or the provider's error.
    pub problem: Option<String>,
    pub checks: Vec<Check>,
    pub checks_passed: usize,
    pub checks_total: usize,
    /// Designer turns played (the owner's messages).
    pub turns: u32,
    /// Requests to the model (the turns' steps).
    pub model_calls: u32,
    /// Proposals sent back to the model for repair.
    pub repairs: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Wall-clock time of the case.
    pub seconds: f64,
}

impl CaseResult {
    pub(crate) fn new(case: &Case) -> Self {
        Self {
            name: case.name.clone(),
            title: case.spec.title.clone(),
            passed: false,
            valid: false,
            ending: Ending::OutOfTurns,
            problem: None,
            checks: Vec::new(),
            checks_passed: 0,
            checks_total: 0,
            turns: 0,
            model_calls: 0,
            repairs: 0,
            input_tokens: 0,
            output_tokens: 0,
            seconds: 0.0,
        }
    }

    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|check| !check.passed)
    }
}

/// The whole run's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Total {
    pub cases: usize,
    pub passed: usize,
    /// Cases with a valid proposal within `max_turns`.
    pub valid: usize,
    /// `valid / cases` (0 when there are no cases).
    pub valid_rate: f64,
    pub max_turns: u32,
    pub model_calls: u32,
    pub repairs: u32,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub seconds: f64,
}

/// An evaluation run: `{provider, model, cases, total}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// `anthropic` or `openai`.
    pub provider: String,
    pub model: String,
    pub cases: Vec<CaseResult>,
    pub total: Total,
}

impl Report {
    pub fn new(provider: String, model: String, max_turns: u32, mut cases: Vec<CaseResult>) -> Self {
        for case in &mut cases {
            case.checks_total = case.checks.len();
            case.checks_passed = case.checks.iter().filter(|check| check.passed).count();
        }
        let count = cases.len();
        let valid = cases.iter().filter(|c| c.valid).count();
        let total = Total {
            cases: count,
            passed: cases.iter().filter(|c| c.passed).count(),
            valid,
            valid_rate: if count == 0 { 0.0 } else { valid as f64 / count as f64 },
            max_turns,
            model_calls: cases.iter().map(|c| c.model_calls).sum(),
            repairs: cases.iter().map(|c| c.repairs).sum(),
            input_tokens: cases.iter().map(|c| c.input_tokens).sum(),
            output_tokens: cases.iter().map(|c| c.output_tokens).sum(),
            seconds: cases.iter().map(|c| c.seconds).sum(),
        };
        Self { provider, model, cases, total }
    }

    /// Every case passed.
    pub fn all_passed(&self) -> bool {
        self.total.passed == self.total.cases
    }

    /// The human-readable report: a heading, one line per case (failed checks and
    /// problems indented below it) and a total line.
    pub fn table(&self) -> String {
        let total = &self.total;
        let width = self.cases.iter().map(|c| c.name.chars().count()).max().unwrap_or(4).max(4);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Assistant evaluation: {} cases, provider {} model {}, at most {} turns per case\n",
            total.cases, self.provider, self.model, total.max_turns
        );
        let _ = writeln!(
            out,
            "{:<width$}  {:<4}  {:<5}  {:>6}  {:>5}  {:>5}  {:>7}  {:>15}  {:>7}",
            "CASE", "PASS", "VALID", "CHECKS", "TURNS", "CALLS", "REPAIRS", "TOKENS IN/OUT", "SECONDS"
        );
        for case in &self.cases {
            let _ = writeln!(
                out,
                "{:<width$}  {:<4}  {:<5}  {:>6}  {:>5}  {:>5}  {:>7}  {:>15}  {:>7.1}",
                case.name,
                yes_no(case.passed),
                yes_no(case.valid),
                format!("{}/{}", case.checks_passed, case.checks_total),
                case.turns,
                case.model_calls,
                case.repairs,
                format!("{}/{}", case.input_tokens, case.output_tokens),
                case.seconds
            );
            if let Some(problem) = &case.problem {
                let _ = writeln!(out, "{:width$}  {}: {problem}", "", case.ending.as_str());
            } else {
                for check in case.failed_checks() {
                    let _ = writeln!(out, "{:width$}  failed {}: {}", "", check.name, check.detail);
                }
            }
        }
        let _ = writeln!(
            out,
            "\nTotal: {}/{} cases passed; valid within {} turns {}/{} ({:.0} %); {} model calls, {} repairs; \
             tokens {} in / {} out; {:.1} s",
            total.passed,
            total.cases,
            total.max_turns,
            total.valid,
            total.cases,
            total.valid_rate * 100.0,
            total.model_calls,
            total.repairs,
            total.input_tokens,
            total.output_tokens,
            total.seconds
        );
        out
    }
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}
