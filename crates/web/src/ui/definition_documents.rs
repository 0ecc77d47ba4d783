//! Definition documents on pages: a document shown as YAML-like lines with
//! each validation problem under the line its JSON Pointer names, YAML/JSON
//! text for download and editing, and a readable line diff between versions.

use maud::{Markup, html};
use serde_json::Value;
use ticketflower_core::Problem;

/// One rendered line and the JSON Pointer of the node it shows.
struct Line {
    pointer: String,
    text: String,
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) if text.contains('\n') => format!("|\n{text}"),
        Value::String(text) => serde_json::to_string(text).unwrap_or_default(),
        other => other.to_string(),
    }
}

fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn lines_of(value: &Value, pointer: &str, indent: usize, lines: &mut Vec<Line>) {
    let pad = "  ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_pointer = format!("{pointer}/{}", escape_token(key));
                match child {
                    Value::Object(inner) if !inner.is_empty() => {
                        lines.push(Line { pointer: child_pointer.clone(), text: format!("{pad}{key}:") });
                        lines_of(child, &child_pointer, indent + 1, lines);
                    }
                    Value::Array(items) if !items.is_empty() => {
                        lines.push(Line { pointer: child_pointer.clone(), text: format!("{pad}{key}:") });
                        lines_of(child, &child_pointer, indent + 1, lines);
                    }
                    other => {
                        lines.push(Line { pointer: child_pointer, text: format!("{pad}{key}: {}", scalar(other)) })
                    }
                }
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let child_pointer = format!("{pointer}/{index}");
                match item {
                    Value::Object(_) | Value::Array(_) => {
                        lines.push(Line { pointer: child_pointer.clone(), text: format!("{pad}- # {index}") });
                        lines_of(item, &child_pointer, indent + 1, lines);
                    }
                    other => lines.push(Line { pointer: child_pointer, text: format!("{pad}- {}", scalar(other)) }),
                }
            }
        }
        other => lines.push(Line { pointer: pointer.to_owned(), text: format!("{pad}{}", scalar(other)) }),
    }
}

/// The line a problem belongs to: the deepest line whose pointer is a prefix of the problem's.
fn line_for(lines: &[Line], pointer: &str) -> Option<usize> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, line)| pointer == line.pointer || pointer.starts_with(&format!("{}/", line.pointer)))
        .max_by_key(|(_, line)| line.pointer.len())
        .map(|(index, _)| index)
}

/// The document with every problem beside the part it is about.
pub fn annotated(document: &Value, problems: &[Problem]) -> Markup {
    let mut lines = Vec::new();
    lines_of(document, "", 0, &mut lines);
    let mut at_line: Vec<Vec<&Problem>> = vec![Vec::new(); lines.len()];
    let mut top = Vec::new();
    for problem in problems {
        match line_for(&lines, &problem.pointer) {
            Some(index) => at_line[index].push(problem),
            None => top.push(problem),
        }
    }
    html! {
        @if !top.is_empty() {
            ul.problems { @for problem in &top { li { (problem_text(problem)) } } }
        }
        div.diff.annotated {
            @for (index, line) in lines.iter().enumerate() {
                @let marked = !at_line[index].is_empty();
                div class=[marked.then_some("del")] id={ "line-" (index + 1) } title=(line.pointer) { (line.text) }
                @for problem in &at_line[index] {
                    div class=(if problem.is_error() { "problem-line error" } else { "problem-line warning" }) {
                        "    ↑ " (problem_text(problem))
                    }
                }
            }
        }
    }
}

fn problem_text(problem: &Problem) -> String {
    let kind = if problem.is_error() { "error" } else { "warning" };
    let at = if problem.pointer.is_empty() { "(document)" } else { problem.pointer.as_str() };
    format!("{kind} at {at}: {}", problem.message)
}

/// A list of problems, each with its pointer.
pub fn problem_list(problems: &[Problem]) -> Markup {
    html! { ul.problems { @for problem in problems { li { (problem_text(problem)) } } } }
}

/// The document as YAML text (key order kept).
pub fn to_yaml(document: &Value) -> String {
    serde_norway::to_string(document).unwrap_or_else(|_| serde_json::to_string_pretty(document).unwrap_or_default())
}

/// A unified line diff of two documents' YAML, with 3 lines of context.
pub fn diff(old: &Value, new: &Value) -> Markup {
    let (old, new) = (to_yaml(old), to_yaml(new));
    let diff = similar::TextDiff::from_lines(&old, &new);
    let groups = diff.grouped_ops(3);
    html! {
        @if groups.is_empty() { p.muted { "The two versions are identical." } }
        @else {
            div.diff {
                @for group in &groups {
                    @let first = group.first();
                    div.hunk { "@@ line " (first.map(|op| op.old_range().start + 1).unwrap_or(1)) " @@" }
                    @for op in group {
                        @for change in diff.iter_changes(op) {
                            @let (class, sign) = match change.tag() {
                                similar::ChangeTag::Delete => ("del", "-"),
                                similar::ChangeTag::Insert => ("add", "+"),
                                similar::ChangeTag::Equal => ("", " "),
                            };
                            div class=(class) { (sign) " " (change.value().trim_end_matches('\n')) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn problems_sit_under_the_line_their_pointer_names() {
        let document = json!({"key": "x", "tasks": [{"key": "edit", "type": "frm"}]});
        let problems =
            vec![Problem::error("/tasks/0/type", "unknown task type \"frm\""), Problem::error("/nowhere/else", "odd")];
        let html = annotated(&document, &problems).into_string();
        let type_line = html.find("type: &quot;frm&quot;").expect("the type line");
        let problem = html.find("unknown task type").expect("the problem");
        assert!(problem > type_line, "the problem follows its line");
        assert!(html.find("odd").expect("listed") < type_line, "a pointer with no line is listed on top");
    }

    #[test]
    fn the_diff_shows_changed_lines() {
        let html = diff(&json!({"title": "A", "key": "k"}), &json!({"title": "B", "key": "k"})).into_string();
        assert!(html.contains("- title: A") && html.contains("+ title: B"), "{html}");
        assert!(diff(&json!({"a": 1}), &json!({"a": 1})).into_string().contains("identical"));
    }
}
