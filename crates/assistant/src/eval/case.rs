//! Case files: one Markdown file per case, a small YAML front matter saying what
//! any correct definition must have, and the request in plain words as the body.
//!
//! Parsing happens here, once: a case that loads is well formed (known task types
//! and end statuses, a sensible task range, a non-empty request), so the checks never
//! meet a malformed expectation. A bad file is a [`CaseError`] naming the file, the
//! line when the YAML parser knows it, and what is wrong.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use ticketflower_core::definition::{EndStatus, TaskKind};

/// The pseudo-source of a workflow's first transitions, as case files write it.
pub const START: &str = "start";

/// One evaluation case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The file's name without `.md`, used as the case's name in reports.
    pub name: String,
    pub path: PathBuf,
    pub spec: CaseSpec,
    /// The body: what the owner writes as the first message.
    pub request: String,
}

/// The front matter: the case's title and what the definition must satisfy.
/// Every key but `title` is optional; a key that is absent is not checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseSpec {
    pub title: String,
    /// How many tasks the definition may have.
    #[serde(default)]
    pub tasks: Option<TaskRange>,
    /// Task types (`form`, `approval`, `http`, `http_async`, `ai`), each used at least once.
    #[serde(default)]
    pub task_types: Vec<String>,
    /// End statuses (`COMPLETED`, `CANCELLED`, `ON_HOLD`) some transition reaches.
    #[serde(default)]
    pub statuses: Vec<String>,
    /// `[from, to]`: a transition from task `from` (or `start`) to task `to` (or an end
    /// status). Only for cases that fix task keys; prefer the shape checks.
    #[serde(default)]
    pub transitions: Vec<(String, String)>,
    /// `true`: some transition leads back to an earlier task (a cycle); `false`: none does.
    #[serde(default)]
    pub loops: Option<bool>,
    /// `true`: some tasks run at the same time (a task waits for two or more others, or
    /// one step opens two or more tasks under the same condition); `false`: never.
    #[serde(default)]
    pub parallel: Option<bool>,
    /// Roles some task is assigned to (`assign.role`). Matched ignoring case and
    /// punctuation, as a part of the role's key; `a|b` accepts either.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Property names some ticket type's `fields` schema declares, matched like roles.
    #[serde(default)]
    pub fields: Vec<String>,
    /// `true`: at least one `approval` task; `false`: none.
    #[serde(default)]
    pub approval: Option<bool>,
}

/// `{min, max}`, either bound optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRange {
    #[serde(default)]
    pub min: Option<usize>,
    #[serde(default)]
    pub max: Option<usize>,
}

impl TaskRange {
    pub fn contains(self, count: usize) -> bool {
        self.min.is_none_or(|min| count >= min) && self.max.is_none_or(|max| count <= max)
    }
}

impl fmt::Display for TaskRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(min), Some(max)) if min == max => write!(f, "exactly {min}"),
            (Some(min), Some(max)) => write!(f, "{min} to {max}"),
            (Some(min), None) => write!(f, "at least {min}"),
            (None, Some(max)) => write!(f, "at most {max}"),
            (None, None) => f.write_str("any number"),
        }
    }
}

/// A case file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseError {
    pub path: PathBuf,
    /// The line in the file, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for CaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl std::error::Error for CaseError {}

impl CaseError {
    fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self { path: path.to_owned(), line, message: message.into() }
    }
}

/// Every case in `directory`: each `*.md` file except `README.md`, by file name.
pub fn load_dir(directory: &Path) -> Result<Vec<Case>, CaseError> {
    let entries = std::fs::read_dir(directory)
        .map_err(|error| CaseError::new(directory, None, format!("cannot read the directory: {error}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|error| CaseError::new(directory, None, error.to_string()))?.path();
        let is_case = path.extension().is_some_and(|ext| ext.eq_ignore_ascii_case("md"))
            && !path.file_name().is_some_and(|name| name.eq_ignore_ascii_case("README.md"))
            && path.is_file();
        if is_case {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(CaseError::new(directory, None, "there are no case files (*.md besides README.md) here"));
    }
    paths.sort();
    paths.iter().map(|path| load(path)).collect()
}

/// Reads and parses one case file.
pub fn load(path: &Path) -> Result<Case, CaseError> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| CaseError::new(path, None, format!("cannot read the file: {error}")))?;
    parse(path, &text)
}

/// Parses a case from its text; `path` names it in errors and reports.
pub fn parse(path: &Path, text: &str) -> Result<Case, CaseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    if lines.first().map(|line| line.trim_end()) != Some("---") {
        return Err(CaseError::new(
            path,
            Some(1),
            "a case starts with front matter: a line `---`, the YAML, another `---`",
        ));
    }
    let Some(end) = lines.iter().skip(1).position(|line| line.trim_end() == "---").map(|p| p + 1) else {
        return Err(CaseError::new(path, None, "the front matter is not closed by a line `---`"));
    };
    // Blank lines in place of the opening `---` keep the parser's line numbers the file's.
    let yaml = format!("\n{}\n", lines[1..end].join("\n"));
    let spec: CaseSpec = serde_norway::from_str(&yaml).map_err(|error| yaml_error(path, &error))?;
    let request = lines[end + 1..].join("\n").trim().to_owned();
    let name = path.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
    let case = Case { name, path: path.to_owned(), spec, request };
    check_case(&case).map_err(|message| CaseError::new(path, None, message))?;
    Ok(case)
}

fn yaml_error(path: &Path, error: &serde_norway::Error) -> CaseError {
    let message = error.to_string();
    match error.location() {
        Some(location) => {
            let suffix = format!(" at line {} column {}", location.line(), location.column());
            let message = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
            CaseError::new(path, Some(location.line()), format!("front matter: {message}"))
        }
        None => CaseError::new(path, None, format!("front matter: {message}")),
    }
}

/// What the YAML types cannot say.
fn check_case(case: &Case) -> Result<(), String> {
    let spec = &case.spec;
    if spec.title.trim().is_empty() {
        return Err("`title` must not be empty".to_owned());
    }
    if case.request.is_empty() {
        return Err("the request (the text after the front matter) is empty".to_owned());
    }
    if let Some(TaskRange { min: Some(min), max: Some(max) }) = spec.tasks
        && min > max
    {
        return Err(format!("`tasks`: min {min} is more than max {max}"));
    }
    for kind in &spec.task_types {
        if !TaskKind::ALL.iter().any(|(name, _)| name == kind) {
            let known: Vec<&str> = TaskKind::ALL.iter().map(|(name, _)| *name).collect();
            return Err(format!("`task_types`: unknown task type \"{kind}\"; the types are {}", known.join(", ")));
        }
    }
    for status in &spec.statuses {
        if !is_end_status(status) {
            return Err(format!("`statuses`: \"{status}\" is not an end status; use {}", end_statuses().join(", ")));
        }
    }
    for (from, to) in &spec.transitions {
        if from.trim().is_empty() || to.trim().is_empty() {
            return Err("`transitions`: every entry is [from, to] with both named".to_owned());
        }
        if is_end_status(from) {
            return Err(format!("`transitions`: a transition cannot start at the end status \"{from}\""));
        }
        if to == START {
            return Err("`transitions`: no transition leads to `start`".to_owned());
        }
    }
    for (key, words) in [("roles", &spec.roles), ("fields", &spec.fields)] {
        if words.iter().any(|word| alternatives(word).next().is_none()) {
            return Err(format!("`{key}`: an entry has no letters or digits to match"));
        }
    }
    Ok(())
}

pub(crate) fn is_end_status(name: &str) -> bool {
    EndStatus::ALL.iter().any(|(status, _)| *status == name)
}

fn end_statuses() -> Vec<&'static str> {
    EndStatus::ALL.iter().map(|(name, _)| *name).collect()
}

/// A word of `roles` or `fields` as it is matched: its `|`-separated alternatives,
/// each lower case with everything but letters and digits removed.
pub(crate) fn alternatives(word: &str) -> impl Iterator<Item = String> + '_ {
    word.split('|').map(normalize).filter(|alternative| !alternative.is_empty())
}

/// Lower case, letters and digits only: `Submitted_Doc` and `submittedDoc` read alike.
pub(crate) fn normalize(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}
