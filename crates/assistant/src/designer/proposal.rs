//! A proposed definition, checked the way an upload is: the same validator, then
//! a simulation on sample data. What the check finds goes back to the model to
//! repair; what is still wrong after the last round stays on the proposal as
//! placeholders the user sees beside the parts they concern, and a proposal with
//! placeholders cannot be saved (so it can never be activated).

use super::prompt::CompanyContext;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use ticketflower_core::definition::Definition;
use ticketflower_core::simulate::{self, SimulationError};
use ticketflower_core::{Problem, Severity};

/// A proposal as the user reviews it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub document: Value,
    pub key: String,
    pub title: String,
    pub summary: String,
    pub tasks: Vec<TaskNote>,
    /// The validator's findings: errors (placeholders, blocking the save) and warnings.
    pub problems: Vec<Problem>,
    /// The run on sample data; `None` when the document did not load.
    pub simulation: Option<SampleRun>,
    /// The existing workflow this changes, at the version the proposal was made against.
    pub base: Option<BaseVersion>,
    /// How many times the model had to repair it before the user saw it.
    pub repairs: u32,
}

/// One task of the proposal, with the user's words that asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskNote {
    pub key: String,
    pub title: String,
    pub kind: String,
    /// The words the model quoted, when they really are in the user's messages.
    pub request_words: Option<String>,
    /// The model quoted words the user never wrote.
    pub misquoted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseVersion {
    pub key: String,
    pub version: i64,
    pub document: Value,
}

/// The simulation on sample data, as the card shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRun {
    pub ticket_type: Option<String>,
    pub status: String,
    pub path: Vec<String>,
    pub open: Vec<String>,
    pub errors: Vec<SimulationError>,
}

impl Proposal {
    /// Validates and simulates `document`. `user_words` are all the user's messages
    /// so far, for checking the model's quotes.
    pub fn check(
        document: Value,
        summary: &str,
        request_words: &serde_json::Map<String, Value>,
        user_words: &str,
        context: &CompanyContext,
    ) -> Self {
        let loaded = Definition::load(&document);
        let mut problems = loaded.problems;
        let key = document.get("key").and_then(Value::as_str).unwrap_or_default().to_owned();
        let title = document.get("title").and_then(Value::as_str).unwrap_or_default().to_owned();
        let (tasks, simulation) = match &loaded.definition {
            Some(definition) => {
                let tasks = definition
                    .tasks
                    .iter()
                    .map(|task| note(&task.key, &task.title, task.kind.as_str(), request_words, user_words))
                    .collect();
                (tasks, Some(sample_run(definition)))
            }
            None => (tasks_of_unloadable(&document, request_words, user_words), None),
        };
        for unknown in request_words.keys().filter(|key| !tasks.iter().any(|t: &TaskNote| &t.key == *key)) {
            problems.push(Problem::warning(
                "/tasks",
                format!("request_words names task \"{unknown}\", which the document does not have"),
            ));
        }
        let base = context.workflow(&key).map(|existing| BaseVersion {
            key: existing.key.clone(),
            version: existing.version,
            document: existing.document.clone(),
        });
        Proposal {
            document,
            key,
            title,
            summary: summary.trim().to_owned(),
            tasks,
            problems,
            simulation,
            base,
            repairs: 0,
        }
    }

    /// Validation errors: what blocks saving.
    pub fn placeholders(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Warning)
    }

    /// Valid: the user may save it as a draft.
    pub fn is_valid(&self) -> bool {
        self.placeholders().next().is_none()
    }

    /// Nothing for the model to repair: valid, and the sample run met no error.
    pub fn is_clean(&self) -> bool {
        self.is_valid() && self.simulation.as_ref().is_none_or(|run| run.errors.is_empty())
    }

    /// Tasks the user did not ask for in so many words.
    pub fn added_tasks(&self) -> impl Iterator<Item = &TaskNote> {
        self.tasks.iter().filter(|t| t.request_words.is_none())
    }

    /// What to tell the model about this proposal.
    pub fn report(&self) -> String {
        let mut lines = Vec::new();
        if self.is_clean() {
            lines.push(
                "The proposal is valid and ran on sample data without errors; the user now reviews it.".to_owned(),
            );
        } else {
            lines.push(
                "The proposal has problems. Fix every one of them and call propose_workflow again with the complete document."
                    .to_owned(),
            );
        }
        for problem in &self.problems {
            lines.push(format!("- {problem}"));
        }
        if let Some(run) = &self.simulation {
            lines.push(format!(
                "Simulation on sample data (ticket type {}): status {}, path [{}], still open [{}].",
                run.ticket_type.as_deref().unwrap_or("none"),
                run.status,
                run.path.join(", "),
                run.open.join(", ")
            ));
            for error in &run.errors {
                lines.push(format!("- simulation error {}: {}", error.kind, error.message));
            }
        }
        let misquoted: Vec<&str> = self.tasks.iter().filter(|t| t.misquoted).map(|t| t.key.as_str()).collect();
        if !misquoted.is_empty() {
            lines.push(format!(
                "request_words for [{}] are not the user's words; quote their messages exactly or leave the task out of request_words.",
                misquoted.join(", ")
            ));
        }
        lines.join("\n")
    }
}

fn sample_run(definition: &Definition) -> SampleRun {
    let (ticket_type, data, script) = simulate::sample_inputs(definition);
    match simulate::simulate(definition, ticket_type.as_deref(), data, script) {
        Ok(run) => SampleRun {
            ticket_type,
            status: run.status.as_str().to_owned(),
            path: run.path,
            open: run.open,
            errors: run.errors,
        },
        Err(error) => SampleRun {
            ticket_type,
            status: "NOT_STARTED".to_owned(),
            path: Vec::new(),
            open: Vec::new(),
            errors: vec![SimulationError { kind: "START".to_owned(), message: error.to_string() }],
        },
    }
}

/// Task notes read straight from the document when it does not load.
fn tasks_of_unloadable(
    document: &Value,
    request_words: &serde_json::Map<String, Value>,
    user_words: &str,
) -> Vec<TaskNote> {
    let tasks = document.get("tasks").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    tasks
        .iter()
        .filter_map(|task| {
            let key = task.get("key")?.as_str()?;
            let title = task.get("title").and_then(Value::as_str).unwrap_or(key);
            let kind = task.get("type").and_then(Value::as_str).unwrap_or("?");
            Some(note(key, title, kind, request_words, user_words))
        })
        .collect()
}

fn note(
    key: &str,
    title: &str,
    kind: &str,
    request_words: &serde_json::Map<String, Value>,
    user_words: &str,
) -> TaskNote {
    let quoted = request_words.get(key).and_then(Value::as_str).map(str::trim).filter(|q| !q.is_empty());
    let found = quoted.filter(|quote| contains_words(user_words, quote));
    TaskNote {
        key: key.to_owned(),
        title: title.to_owned(),
        kind: kind.to_owned(),
        request_words: found.map(str::to_owned),
        misquoted: quoted.is_some() && found.is_none(),
    }
}

/// Whether `quote` appears in `text`, ignoring case, punctuation at its ends and
/// how words are spaced (a quote may cross a line break).
pub fn contains_words(text: &str, quote: &str) -> bool {
    let normalize = |s: &str| -> String { s.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>().join(" ") };
    let quote = normalize(quote.trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace()));
    !quote.is_empty() && normalize(text).contains(&quote)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(pairs: &[(&str, &str)]) -> serde_json::Map<String, Value> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect()
    }

    fn document_edit() -> Value {
        let text = include_str!("../../../../examples/document-edit.yaml");
        ticketflower_core::document::parse(text, ticketflower_core::document::Syntax::Yaml).unwrap()
    }

    #[test]
    fn a_valid_proposal_is_clean_and_grounded_in_the_users_words() {
        let said = "We get document edit requests.\nAn editor edits the document and may ask the author questions.";
        let proposal = Proposal::check(
            document_edit(),
            "Editors edit; authors answer.",
            &words(&[("edit", "an editor edits the document"), ("answer", "ask the author questions")]),
            said,
            &CompanyContext::default(),
        );
        assert!(proposal.is_clean(), "{}", proposal.report());
        assert_eq!(proposal.key, "document-edit");
        assert_eq!(proposal.tasks.iter().map(|t| t.request_words.is_some()).collect::<Vec<_>>(), [true, true]);
        let run = proposal.simulation.as_ref().unwrap();
        assert_eq!(run.path, ["edit", "answer", "edit"]);
        assert!(proposal.report().starts_with("The proposal is valid"));
    }

    #[test]
    fn invented_quotes_and_unasked_tasks_are_flagged() {
        let proposal = Proposal::check(
            document_edit(),
            "",
            &words(&[("edit", "the manager signs it off")]),
            "We get document edit requests.",
            &CompanyContext::default(),
        );
        assert!(proposal.tasks[0].misquoted && proposal.tasks[0].request_words.is_none());
        assert_eq!(proposal.added_tasks().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["edit", "answer"]);
        assert!(proposal.report().contains("request_words for [edit] are not the user's words"));
    }

    #[test]
    fn validation_errors_are_placeholders_that_block_saving() {
        let mut document = document_edit();
        document["transitions"][1]["to"] = json!("anwser");
        let proposal = Proposal::check(document, "", &words(&[]), "", &CompanyContext::default());
        assert!(!proposal.is_valid());
        let placeholders: Vec<&Problem> = proposal.placeholders().collect();
        assert_eq!(placeholders.len(), 1, "{placeholders:?}");
        assert_eq!(placeholders[0].pointer, "/transitions/1/to");
        assert!(proposal.report().contains("/transitions/1/to"), "{}", proposal.report());
        // The document does not load, so its tasks are read as written.
        assert_eq!(proposal.tasks.len(), 2);
    }

    #[test]
    fn a_change_to_an_existing_workflow_names_its_base_version() {
        let context = CompanyContext {
            workflows: vec![super::super::prompt::WorkflowSummary {
                key: "document-edit".into(),
                title: "Document Edit".into(),
                version: 4,
                status: "ACTIVE".into(),
                document: json!({"key": "document-edit"}),
            }],
            ..CompanyContext::default()
        };
        let proposal = Proposal::check(document_edit(), "", &words(&[]), "", &context);
        assert_eq!(proposal.base.as_ref().map(|b| b.version), Some(4));
    }

    #[test]
    fn quotes_match_ignoring_case_spacing_and_end_punctuation() {
        assert!(contains_words("An editor\n  EDITS the doc.", "\"editor edits the doc.\""));
        assert!(!contains_words("An editor edits", "editor approves"));
        assert!(!contains_words("anything", "  ... "));
    }
}
