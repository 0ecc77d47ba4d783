#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `docs/workflow-guide.md` against the code, so the guide cannot drift.
//!
//! The guide follows three conventions (its opening comment repeats them):
//!
//! - **Reference tables.** A line `<!-- reference: NAME -->` is followed by a
//!   table whose first column holds one backticked name per row. The names must
//!   be exactly the code's list for NAME ([`references`]): a name the code
//!   accepts but the table lacks is undocumented, a name the table has but the
//!   code refuses is invented. Some rows must also name every value their key
//!   takes ([`choices`]) and show the code's default ([`defaults`]).
//! - **Code blocks.** ```` ```yaml ```` blocks are complete documents (they start
//!   with `format: ticketflower/v1`) and must load without errors or warnings;
//!   ```` ```yaml fragment ```` blocks must be valid YAML; a ```` ```yaml mistake ````
//!   block replaces top-level keys of the ```` ```yaml base ```` document, and the
//!   ```` ```text ```` block after it lists exactly the problems that change
//!   gives, as `ticketflower validate` prints them. ```` ```json ```` blocks must
//!   parse.
//! - **Inline code.** Every `$word` is a condition operator (or `$literal`),
//!   except on a line marked `<!-- not-operators -->`, whose `$word`s must not
//!   be operators. A `policy: x`, `status: X`, `type: x`… in inline code or a
//!   fragment must use a value the code accepts.

use crate::condition::OPERATORS;
use crate::definition::{
    ACTION_KEYS, ASSIGN_KEYS, AssignPolicy, BACKOFFS, DEFAULT_MAX_RUNS, DEFAULT_METHOD, DEFAULT_TIMEOUT_SECONDS,
    Definition, EXT_REF_KEYS, EndStatus, FORMAT, HTTP_METHODS, Join, Next, On, OnError, RETRY_KEYS, Retry, TASK_KEYS,
    TICKET_KEYS, TOP_KEYS, TRANSITION_KEYS, TRIGGER_KEYS, TaskKind, TriggerKind,
};
use crate::document::{Syntax, parse};
use crate::engine::{ErrorKind, InstanceStatus, TaskStatus};
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;

const GUIDE: &str = include_str!("../../../docs/workflow-guide.md");
const GUIDE_PATH: &str = "docs/workflow-guide.md";

fn names<T>(list: &[(&'static str, T)]) -> Vec<&'static str> {
    list.iter().map(|(name, _)| *name).collect()
}

/// Every reference table the guide must have: its name, the code's list, and where that list lives.
fn references() -> Vec<(&'static str, Vec<&'static str>, &'static str)> {
    vec![
        ("top-keys", TOP_KEYS.to_vec(), "definition::TOP_KEYS"),
        ("ext-ref-keys", EXT_REF_KEYS.to_vec(), "definition::EXT_REF_KEYS"),
        ("ticket-keys", TICKET_KEYS.to_vec(), "definition::TICKET_KEYS"),
        ("task-types", names(&TaskKind::ALL), "definition::TaskKind::ALL"),
        ("task-keys", TASK_KEYS.to_vec(), "definition::TASK_KEYS"),
        ("action-keys", ACTION_KEYS.to_vec(), "definition::ACTION_KEYS"),
        ("retry-keys", RETRY_KEYS.to_vec(), "definition::RETRY_KEYS"),
        ("assign-keys", ASSIGN_KEYS.to_vec(), "definition::ASSIGN_KEYS"),
        ("assign-policies", names(&AssignPolicy::ALL), "definition::AssignPolicy::ALL"),
        ("operators", OPERATORS.to_vec(), "condition::OPERATORS"),
        ("transition-keys", TRANSITION_KEYS.to_vec(), "definition::TRANSITION_KEYS"),
        ("end-statuses", names(&EndStatus::ALL), "definition::EndStatus::ALL"),
        ("error-kinds", ErrorKind::ALL.iter().map(|kind| kind.as_str()).collect(), "engine::ErrorKind::ALL"),
        ("trigger-keys", TRIGGER_KEYS.to_vec(), "definition::TRIGGER_KEYS"),
        ("trigger-types", names(&TriggerKind::ALL), "definition::TriggerKind::ALL"),
    ]
}

/// Rows that must name (in backticks) every value their key accepts: (table, key, values, where).
fn choices() -> Vec<(&'static str, &'static str, Vec<&'static str>, &'static str)> {
    vec![
        ("task-keys", "type", names(&TaskKind::ALL), "definition::TaskKind::ALL"),
        ("task-keys", "join", names(&Join::ALL), "definition::Join::ALL"),
        ("task-keys", "next", names(&Next::ALL), "definition::Next::ALL"),
        ("assign-keys", "policy", names(&AssignPolicy::ALL), "definition::AssignPolicy::ALL"),
        ("action-keys", "method", HTTP_METHODS.to_vec(), "definition::HTTP_METHODS"),
        ("action-keys", "on_error", names(&OnError::ALL), "definition::OnError::ALL"),
        ("retry-keys", "backoff", BACKOFFS.to_vec(), "definition::BACKOFFS"),
        ("transition-keys", "status", names(&EndStatus::ALL), "definition::EndStatus::ALL"),
        ("transition-keys", "on", names(&On::ALL), "definition::On::ALL"),
        ("trigger-keys", "type", names(&TriggerKind::ALL), "definition::TriggerKind::ALL"),
    ]
}

/// Rows whose second column ("default") must be the code's default, in backticks.
fn defaults() -> Vec<(&'static str, &'static str, String, &'static str)> {
    let retry = Retry::default();
    vec![
        ("task-keys", "max_runs", DEFAULT_MAX_RUNS.to_string(), "definition::DEFAULT_MAX_RUNS"),
        ("task-keys", "join", names(&Join::ALL)[0].to_owned(), "Join::default()"),
        ("task-keys", "next", names(&Next::ALL)[0].to_owned(), "Next::default()"),
        ("action-keys", "method", DEFAULT_METHOD.to_owned(), "definition::DEFAULT_METHOD"),
        ("action-keys", "timeout_seconds", DEFAULT_TIMEOUT_SECONDS.to_string(), "definition::DEFAULT_TIMEOUT_SECONDS"),
        ("action-keys", "on_error", names(&OnError::ALL)[0].to_owned(), "OnError::default()"),
        ("retry-keys", "max_attempts", retry.max_attempts.to_string(), "Retry::default()"),
        ("retry-keys", "backoff", BACKOFFS[0].to_owned(), "definition::BACKOFFS"),
        ("retry-keys", "initial_seconds", retry.initial_seconds.to_string(), "Retry::default()"),
        ("retry-keys", "max_seconds", retry.max_seconds.to_string(), "Retry::default()"),
        ("transition-keys", "on", names(&On::ALL)[0].to_owned(), "On::default()"),
    ]
}

#[test]
fn the_code_lists_put_their_defaults_first() {
    // `defaults()` reads the default of these enums as the first entry of their list.
    assert_eq!(Join::ALL[0].1, Join::default());
    assert_eq!(Next::ALL[0].1, Next::default());
    assert_eq!(OnError::ALL[0].1, OnError::default());
    assert_eq!(On::ALL[0].1, On::default());
}

// ---- reading the guide ----

/// One fenced code block.
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// The info string: `yaml`, `yaml fragment`, `text`…
    info: String,
    text: String,
}

/// One row of a reference table.
struct Row {
    line: usize,
    name: String,
    cells: Vec<String>,
}

struct Guide {
    blocks: Vec<Block>,
    /// Reference tables by name, with the line of their marker.
    tables: BTreeMap<String, (usize, Vec<Row>)>,
    /// Lines outside code blocks, with their 1-based numbers.
    prose: Vec<(usize, &'static str)>,
    /// Problems with the guide's own structure.
    problems: Vec<String>,
}

fn read_guide() -> Guide {
    let lines: Vec<&'static str> = GUIDE.lines().collect();
    let mut guide = Guide { blocks: Vec::new(), tables: BTreeMap::new(), prose: Vec::new(), problems: Vec::new() };
    let marker = Regex::new(r"^<!--\s*reference:\s*([a-z-]+)\s*-->\s*$").unwrap();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        if let Some(info) = line.strip_prefix("```") {
            let start = index;
            let mut text = String::new();
            index += 1;
            while index < lines.len() && lines[index].trim_end() != "```" {
                text.push_str(lines[index]);
                text.push('\n');
                index += 1;
            }
            if index == lines.len() {
                guide.problems.push(format!("{GUIDE_PATH}:{}: this code block is never closed", start + 1));
            }
            guide.blocks.push(Block { line: start + 1, info: info.trim().to_owned(), text });
            index += 1;
            continue;
        }
        guide.prose.push((index + 1, line));
        if let Some(captures) = marker.captures(line) {
            let name = captures[1].to_owned();
            let (rows, next) = read_table(&lines, index + 1, &mut guide.problems);
            if guide.tables.insert(name.clone(), (index + 1, rows)).is_some() {
                guide.problems.push(format!("{GUIDE_PATH}:{}: a second reference table \"{name}\"", index + 1));
            }
            for (offset, line) in lines[index + 1..next].iter().enumerate() {
                guide.prose.push((index + 2 + offset, line));
            }
            index = next;
            continue;
        }
        index += 1;
    }
    guide
}

/// Reads the table that starts at or after `from` (blank lines skipped); returns its rows and the line after it.
fn read_table(lines: &[&str], from: usize, problems: &mut Vec<String>) -> (Vec<Row>, usize) {
    let mut index = from;
    while index < lines.len() && lines[index].trim().is_empty() {
        index += 1;
    }
    let header = index;
    if lines.get(header).is_none_or(|line| !line.starts_with('|'))
        || lines.get(header + 1).is_none_or(|line| !line.starts_with("|-") && !line.starts_with("| -"))
    {
        problems.push(format!(
            "{GUIDE_PATH}:{}: a `<!-- reference: ... -->` marker must be followed by a table (header and |---| line)",
            from
        ));
        return (Vec::new(), index);
    }
    index = header + 2;
    let mut rows = Vec::new();
    while index < lines.len() && lines[index].starts_with('|') {
        let cells = split_row(lines[index]);
        let first = cells.first().map(String::as_str).unwrap_or_default();
        let name = first.strip_prefix('`').and_then(|rest| rest.strip_suffix('`')).filter(|name| !name.contains('`'));
        match name {
            Some(name) => rows.push(Row { line: index + 1, name: name.to_owned(), cells }),
            None => problems.push(format!(
                "{GUIDE_PATH}:{}: the first column of a reference table must be one `backticked` name, not \"{first}\"",
                index + 1
            )),
        }
        index += 1;
    }
    (rows, index)
}

/// The cells of a table row, split at `|` that are not escaped as `\|`.
fn split_row(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut cells = vec![String::new()];
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                cells.last_mut().unwrap().push('|');
            }
            '|' => cells.push(String::new()),
            _ => cells.last_mut().unwrap().push(c),
        }
    }
    cells.iter().map(|cell| cell.trim().to_owned()).collect()
}

/// The inline code spans of a prose line (HTML comments removed first).
fn inline_code(line: &str) -> Vec<String> {
    let comments = Regex::new(r"<!--.*?-->").unwrap();
    let line = comments.replace_all(line, "");
    line.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

fn dollar_words(text: &str) -> Vec<String> {
    let word = Regex::new(r"\$[A-Za-z][A-Za-z0-9]*").unwrap();
    word.find_iter(text).map(|m| m.as_str().to_owned()).collect()
}

/// `key: value` pairs for keys whose values the code restricts, as written in inline code or YAML text.
fn choice_values(text: &str) -> Vec<(String, String)> {
    let pair = Regex::new(
        r"(?:^|[\s{,\[])(type|policy|join|next|on|status|on_error|backoff|method):[ \t]*([A-Za-z_][A-Za-z0-9_-]*)",
    )
    .unwrap();
    pair.captures_iter(text).map(|c| (c[1].to_owned(), c[2].to_owned())).collect()
}

/// The values the code accepts after `key:` anywhere in a document.
fn accepted_values(key: &str) -> Vec<&'static str> {
    const JSON_SCHEMA_TYPES: &[&str] = &["string", "number", "integer", "boolean", "object", "array", "null"];
    match key {
        "type" => {
            let mut all = names(&TaskKind::ALL);
            all.extend(names(&TriggerKind::ALL));
            all.extend(JSON_SCHEMA_TYPES);
            all
        }
        "policy" => names(&AssignPolicy::ALL),
        "join" => names(&Join::ALL),
        "next" => names(&Next::ALL),
        "on" => names(&On::ALL),
        "status" => names(&EndStatus::ALL),
        "on_error" => names(&OnError::ALL),
        "backoff" => BACKOFFS.to_vec(),
        "method" => HTTP_METHODS.to_vec(),
        _ => Vec::new(),
    }
}

fn check_choice_values(text: &str, place: &str, out: &mut Vec<String>) {
    for (key, value) in choice_values(text) {
        let accepted = accepted_values(&key);
        if !accepted.contains(&value.as_str()) {
            out.push(format!(
                "{place}: `{key}: {value}` uses a value the code does not accept; {key} is one of {}",
                accepted.join(", ")
            ));
        }
    }
}

fn report(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{GUIDE_PATH} has drifted from the code ({} problems):\n  - {}",
        failures.len(),
        failures.join("\n  - ")
    );
}

// ---- the checks ----

#[test]
fn the_guide_is_well_formed() {
    let guide = read_guide();
    report(&guide.problems);
}

#[test]
fn reference_tables_list_exactly_what_the_code_accepts() {
    let guide = read_guide();
    let mut failures = Vec::new();
    let known = references();
    for name in guide.tables.keys() {
        if !known.iter().any(|(known, _, _)| known == name) {
            failures.push(format!(
                "{GUIDE_PATH}:{}: there is no code list for the reference table \"{name}\"; known: {}",
                guide.tables[name].0,
                known.iter().map(|(n, _, _)| *n).collect::<Vec<_>>().join(", ")
            ));
        }
    }
    for (name, code, source) in &known {
        let Some((marker, rows)) = guide.tables.get(*name) else {
            failures.push(format!(
                "{GUIDE_PATH} has no table after `<!-- reference: {name} -->`; it must list every name in {source}"
            ));
            continue;
        };
        for wanted in code {
            if !rows.iter().any(|row| row.name == *wanted) {
                failures.push(format!(
                    "{GUIDE_PATH}:{marker}: the \"{name}\" table does not list `{wanted}`, which the code accepts ({source}); document it"
                ));
            }
        }
        for (position, row) in rows.iter().enumerate() {
            if !code.contains(&row.name.as_str()) {
                failures.push(format!(
                    "{GUIDE_PATH}:{}: the \"{name}\" table lists `{}`, which the code does not accept ({source} is {})",
                    row.line,
                    row.name,
                    code.join(", ")
                ));
            }
            if rows[..position].iter().any(|earlier| earlier.name == row.name) {
                failures.push(format!("{GUIDE_PATH}:{}: `{}` is listed twice in \"{name}\"", row.line, row.name));
            }
        }
    }
    report(&failures);
}

#[test]
fn rows_name_every_value_and_the_default_the_code_has() {
    let guide = read_guide();
    let row = |table: &str, key: &str| -> Option<&Row> {
        guide.tables.get(table).and_then(|(_, rows)| rows.iter().find(|row| row.name == key))
    };
    let mut failures = Vec::new();
    for (table, key, values, source) in choices() {
        let Some(row) = row(table, key) else { continue }; // reported by the table check
        let text = row.cells[1..].join(" | ");
        for value in values {
            if !text.contains(&format!("`{value}`")) {
                failures.push(format!(
                    "{GUIDE_PATH}:{}: the row for `{key}` in \"{table}\" does not name `{value}`, which the code accepts ({source})",
                    row.line
                ));
            }
        }
    }
    for (table, key, default, source) in defaults() {
        let Some(row) = row(table, key) else { continue };
        let cell = row.cells.get(1).map(String::as_str).unwrap_or_default();
        if cell != format!("`{default}`") {
            failures.push(format!(
                "{GUIDE_PATH}:{}: the default of `{key}` in \"{table}\" is written \"{cell}\", but the code's default is `{default}` ({source})",
                row.line
            ));
        }
    }
    report(&failures);
}

#[test]
fn every_status_the_engine_knows_is_mentioned() {
    let guide = read_guide();
    let spans: Vec<String> = guide.prose.iter().flat_map(|(_, line)| inline_code(line)).collect();
    let mut failures = Vec::new();
    let statuses = InstanceStatus::ALL
        .iter()
        .map(|s| (s.as_str(), "engine::InstanceStatus"))
        .chain(TaskStatus::ALL.iter().map(|s| (s.as_str(), "engine::TaskStatus")))
        .chain([(FORMAT, "definition::FORMAT")]);
    for (status, source) in statuses {
        if !spans.iter().any(|span| span == status) {
            failures.push(format!("{GUIDE_PATH} never mentions `{status}` ({source}) in inline code"));
        }
    }
    report(&failures);
}

#[test]
fn inline_code_uses_only_operators_and_values_that_exist() {
    let guide = read_guide();
    let mut failures = Vec::new();
    let mut refused = 0;
    for (number, line) in &guide.prose {
        let not_operators = line.contains("<!-- not-operators -->");
        for span in inline_code(line) {
            for word in dollar_words(&span) {
                let exists = OPERATORS.contains(&word.as_str());
                if not_operators && (exists || word == "$literal") {
                    failures.push(format!(
                        "{GUIDE_PATH}:{number}: `{word}` is named as refused, but condition::OPERATORS has it now; move it to the operators table"
                    ));
                } else if not_operators {
                    refused += 1;
                } else if !exists && word != "$literal" {
                    failures.push(format!(
                        "{GUIDE_PATH}:{number}: `{word}` in `{span}` is not a condition operator (condition::OPERATORS) nor `$literal`"
                    ));
                }
            }
            check_choice_values(&span, &format!("{GUIDE_PATH}:{number}"), &mut failures);
        }
    }
    if refused == 0 {
        failures.push(format!("{GUIDE_PATH} has no line marked `<!-- not-operators -->` naming refused operators"));
    }
    report(&failures);
}

#[test]
fn every_example_loads_and_every_mistake_gives_the_messages_shown() {
    let guide = read_guide();
    let mut failures = Vec::new();
    let bases: Vec<&Block> = guide.blocks.iter().filter(|b| b.info == "yaml base").collect();
    if bases.len() != 1 {
        failures.push(format!(
            "{GUIDE_PATH} needs exactly one ```yaml base block (the document mistakes change); found {}",
            bases.len()
        ));
    }
    let base = bases.first().and_then(|block| parse(&block.text, Syntax::Yaml).ok());
    let mut complete = 0;
    let mut mistakes = 0;
    let mut blocks = guide.blocks.iter().peekable();
    while let Some(block) = blocks.next() {
        let at = format!("{GUIDE_PATH}:{}", block.line);
        match block.info.as_str() {
            "yaml" | "yaml base" => {
                let first = block.text.lines().find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
                if first.map(str::trim) != Some(&format!("format: {FORMAT}")) {
                    failures.push(format!(
                        "{at}: a ```yaml block must be a complete document starting with `format: {FORMAT}`; mark a part of one as ```yaml fragment"
                    ));
                    continue;
                }
                complete += 1;
                let loaded = Definition::load_str(&block.text, Syntax::Yaml);
                for problem in &loaded.problems {
                    failures.push(format!("{at}: this example does not validate cleanly: {problem}"));
                }
            }
            "yaml fragment" => match parse(&block.text, Syntax::Yaml) {
                Ok(_) => check_choice_values(&block.text, &at, &mut failures),
                Err(problem) => failures.push(format!("{at}: this fragment is not valid YAML: {problem}")),
            },
            "yaml mistake" => {
                mistakes += 1;
                let expected = match blocks.peek() {
                    Some(next) if next.info == "text" => blocks.next().map(|b| b.text.as_str()).unwrap_or_default(),
                    _ => {
                        failures.push(format!(
                            "{at}: a ```yaml mistake block must be followed by a ```text block with the validator's messages"
                        ));
                        continue;
                    }
                };
                let change = match parse(&block.text, Syntax::Yaml) {
                    Ok(Value::Object(change)) => change,
                    Ok(_) => {
                        failures.push(format!("{at}: a mistake must be top-level keys that replace the base's"));
                        continue;
                    }
                    Err(problem) => {
                        failures.push(format!("{at}: this mistake is not valid YAML: {problem}"));
                        continue;
                    }
                };
                let Some(Value::Object(mut document)) = base.clone() else { continue };
                document.extend(change);
                let loaded = Definition::load(&Value::Object(document));
                let actual: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
                let mut wanted: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
                let mut got: Vec<&str> = actual.iter().map(String::as_str).collect();
                wanted.sort_unstable();
                got.sort_unstable();
                if actual.is_empty() {
                    failures.push(format!("{at}: this mistake gives no problem at all; it is not a mistake any more"));
                } else if wanted != got {
                    failures.push(format!(
                        "{at}: the messages shown for this mistake are not what the validator says now; it says:\n{}",
                        actual.join("\n")
                    ));
                }
            }
            "json" => {
                if let Err(error) = serde_json::from_str::<Value>(&block.text) {
                    failures.push(format!("{at}: this JSON does not parse: {error}"));
                }
            }
            "sh" => {}
            "text" => failures.push(format!("{at}: a ```text block belongs right after a ```yaml mistake block")),
            other => failures.push(format!(
                "{at}: unknown code block kind \"{other}\"; use yaml, yaml base, yaml fragment, yaml mistake, text, json or sh"
            )),
        }
    }
    if complete < 4 {
        failures.push(format!("{GUIDE_PATH} should have complete examples; found {complete}"));
    }
    if mistakes == 0 {
        failures.push(format!("{GUIDE_PATH} has no ```yaml mistake blocks"));
    }
    report(&failures);
}

/// The checks themselves catch drift: a guide with an invented key, a missing
/// key, a wrong default, a made-up operator and a broken example fails them.
#[test]
fn the_checks_notice_drift() {
    let rows = |text: &'static str| {
        let lines: Vec<&str> = text.lines().collect();
        let mut problems = Vec::new();
        let (rows, _) = read_table(&lines, 0, &mut problems);
        (rows.into_iter().map(|r| r.name).collect::<Vec<_>>(), problems)
    };
    let (names, problems) = rows("| key | x |\n|---|---|\n| `from` | a |\n| `to` \\| `status` | b |\n| `prio` | c |\n");
    assert_eq!(names, ["from", "prio"]);
    assert_eq!(problems.len(), 1, "a first column with two names is refused: {problems:?}");
    assert!(!TRANSITION_KEYS.contains(&"prio"), "an invented key would be reported");
    assert_eq!(split_row("| `a` | x \\| y | z |"), ["`a`", "x | y", "z"]);
    assert_eq!(inline_code("use `$regex` or `{a: {$in: [1]}}` <!-- `$no` -->"), ["$regex", "{a: {$in: [1]}}"]);
    assert_eq!(dollar_words("{a: {$gt: 1, $literal: \"$5\"}} $.data"), ["$gt", "$literal"]);
    let mut out = Vec::new();
    check_choice_values("{from: a, status: DONE, on: timeout} policy: round-robin type: string", "x", &mut out);
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].contains("`status: DONE`") && out[1].contains("`policy: round-robin`"), "{out:?}");
}
