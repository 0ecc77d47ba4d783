//! Problems: what is wrong with a document or an input, as data.
//!
//! Every problem names where it is (a JSON Pointer, RFC 6901) and says in plain
//! words how to fix it. Validation collects all of them at once; callers show
//! them beside the offending part (UI), list them (CLI) or return them (API 422).

use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether a problem blocks the document from being used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem at one place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// JSON Pointer into the document (`""` is the whole document).
    pub pointer: String,
    pub message: String,
    pub severity: Severity,
}

impl Problem {
    pub fn error(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), message: message.into(), severity: Severity::Error }
    }

    pub fn warning(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), message: message.into(), severity: Severity::Warning }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The same problem, placed under `prefix` (a pointer to where the checked part sits).
    pub fn under(mut self, prefix: &str) -> Self {
        self.pointer = format!("{prefix}{}", self.pointer);
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() { "/" } else { &self.pointer };
        match self.severity {
            Severity::Error => write!(f, "{pointer}: {}", self.message),
            Severity::Warning => write!(f, "{pointer}: warning: {}", self.message),
        }
    }
}

/// How messages name the kind of a JSON value ("a string", "an array", "null").
pub fn describe(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Appends one reference token to a JSON Pointer, escaping `~` and `/`.
pub fn pointer_push(pointer: &str, token: impl fmt::Display) -> String {
    let token = token.to_string().replace('~', "~0").replace('/', "~1");
    format!("{pointer}/{token}")
}

/// True when any problem in the list is an error.
pub fn has_errors(problems: &[Problem]) -> bool {
    problems.iter().any(Problem::is_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tokens_escape_tilde_and_slash() {
        assert_eq!(pointer_push("/when", "data.a/b~c"), "/when/data.a~1b~0c");
    }

    #[test]
    fn display_marks_warnings_and_names_the_root() {
        assert_eq!(Problem::error("", "bad").to_string(), "/: bad");
        assert_eq!(Problem::warning("/tasks/0", "odd").to_string(), "/tasks/0: warning: odd");
    }
}
