//! The checks: what a case's front matter asks of a definition, computed from the
//! loaded [`Definition`] alone — its tasks, assignments, transitions and ticket
//! types — never from anything the model wrote in words.
//!
//! One check per front-matter key that is present, in the order of [`CheckKind`],
//! and always `sample_run` last: the definition runs on generated sample data
//! without an engine error.

use super::case::{self, CaseSpec, START};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use ticketflower_core::definition::{AssignTarget, Definition, Next, Source, Target, TaskKind};
use ticketflower_core::simulate;

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// The front-matter key it comes from (or `sample_run`).
    pub name: String,
    pub passed: bool,
    /// What was found, in words; on failure, what is missing.
    pub detail: String,
}

/// The checks a case asks for, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckKind {
    Tasks,
    TaskTypes,
    Statuses,
    Transitions,
    Loops,
    Parallel,
    Roles,
    Fields,
    Approval,
    SampleRun,
}

impl CheckKind {
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Tasks => "tasks",
            CheckKind::TaskTypes => "task_types",
            CheckKind::Statuses => "statuses",
            CheckKind::Transitions => "transitions",
            CheckKind::Loops => "loops",
            CheckKind::Parallel => "parallel",
            CheckKind::Roles => "roles",
            CheckKind::Fields => "fields",
            CheckKind::Approval => "approval",
            CheckKind::SampleRun => "sample_run",
        }
    }

    /// The checks `spec` asks for.
    pub fn of(spec: &CaseSpec) -> Vec<CheckKind> {
        let asked = [
            (CheckKind::Tasks, spec.tasks.is_some()),
            (CheckKind::TaskTypes, !spec.task_types.is_empty()),
            (CheckKind::Statuses, !spec.statuses.is_empty()),
            (CheckKind::Transitions, !spec.transitions.is_empty()),
            (CheckKind::Loops, spec.loops.is_some()),
            (CheckKind::Parallel, spec.parallel.is_some()),
            (CheckKind::Roles, !spec.roles.is_empty()),
            (CheckKind::Fields, !spec.fields.is_empty()),
            (CheckKind::Approval, spec.approval.is_some()),
            (CheckKind::SampleRun, true),
        ];
        asked.into_iter().filter(|(_, asked)| *asked).map(|(kind, _)| kind).collect()
    }
}

/// Every check `spec` asks for, on `definition`.
pub fn check(spec: &CaseSpec, definition: &Definition) -> Vec<Check> {
    CheckKind::of(spec)
        .into_iter()
        .map(|kind| {
            let (passed, detail) = run(kind, spec, definition);
            Check { name: kind.name().to_owned(), passed, detail }
        })
        .collect()
}

/// Every check `spec` asks for, failed for `reason` (there is no definition to check).
pub fn unchecked(spec: &CaseSpec, reason: &str) -> Vec<Check> {
    CheckKind::of(spec)
        .into_iter()
        .map(|kind| Check { name: kind.name().to_owned(), passed: false, detail: reason.to_owned() })
        .collect()
}

fn run(kind: CheckKind, spec: &CaseSpec, definition: &Definition) -> (bool, String) {
    match kind {
        CheckKind::Tasks => {
            let range = spec.tasks.unwrap_or_default();
            let count = definition.tasks.len();
            (range.contains(count), format!("{count} tasks; expected {range}"))
        }
        CheckKind::TaskTypes => task_types(&spec.task_types, definition),
        CheckKind::Statuses => statuses(&spec.statuses, definition),
        CheckKind::Transitions => transitions(&spec.transitions, definition),
        CheckKind::Loops => expect(spec.loops, "a loop back to an earlier task", cycle(definition)),
        CheckKind::Parallel => expect(spec.parallel, "tasks that run at the same time", parallel(definition)),
        CheckKind::Roles => words(&spec.roles, "assigned roles", &assigned_roles(definition)),
        CheckKind::Fields => words(&spec.fields, "ticket fields", &ticket_fields(definition)),
        CheckKind::Approval => {
            let approvals: Vec<&str> =
                definition.tasks.iter().filter(|t| t.kind == TaskKind::Approval).map(|t| t.key.as_str()).collect();
            let found = (!approvals.is_empty()).then(|| format!("approval tasks: {}", approvals.join(", ")));
            expect(spec.approval, "an approval task", found)
        }
        CheckKind::SampleRun => sample_run(definition),
    }
}

/// A yes/no expectation against what was found (`None`: nothing).
fn expect(wanted: Option<bool>, what: &str, found: Option<String>) -> (bool, String) {
    match (wanted.unwrap_or(true), found) {
        (true, Some(found)) => (true, found),
        (true, None) => (false, format!("expected {what}; there is none")),
        (false, None) => (true, format!("no {what}, as expected")),
        (false, Some(found)) => (false, format!("expected no {what}; found {found}")),
    }
}

fn task_types(wanted: &[String], definition: &Definition) -> (bool, String) {
    let used: BTreeSet<&str> = definition.tasks.iter().map(|t| t.kind.as_str()).collect();
    let missing: Vec<&str> = wanted.iter().map(String::as_str).filter(|kind| !used.contains(kind)).collect();
    let used = used.into_iter().collect::<Vec<_>>().join(", ");
    if missing.is_empty() {
        (true, format!("types used: {used}"))
    } else {
        (false, format!("no task of type {}; types used: {used}", missing.join(", ")))
    }
}

fn statuses(wanted: &[String], definition: &Definition) -> (bool, String) {
    let reached: BTreeSet<&str> = definition
        .transitions
        .iter()
        .filter_map(|t| match t.target {
            Target::Status(status) => Some(status.as_str()),
            Target::Task(_) => None,
        })
        .collect();
    let missing: Vec<&str> = wanted.iter().map(String::as_str).filter(|s| !reached.contains(s)).collect();
    let reached =
        if reached.is_empty() { "none".to_owned() } else { reached.into_iter().collect::<Vec<_>>().join(", ") };
    if missing.is_empty() {
        (true, format!("end statuses reached: {reached}"))
    } else {
        (false, format!("no transition to {}; end statuses reached: {reached}", missing.join(", ")))
    }
}

fn transitions(wanted: &[(String, String)], definition: &Definition) -> (bool, String) {
    let mut missing = Vec::new();
    for (from, to) in wanted {
        let source = if from == START { Some(Source::Start) } else { definition.task_index(from).map(Source::Task) };
        let target = if case::is_end_status(to) {
            definition
                .transitions
                .iter()
                .find_map(|t| matches!(t.target, Target::Status(s) if s.as_str() == to).then_some(t.target))
        } else {
            definition.task_index(to).map(Target::Task)
        };
        let found = match (source, target) {
            (Some(source), Some(target)) => {
                definition.transitions.iter().any(|t| t.from == source && t.target == target)
            }
            _ => false,
        };
        if !found {
            let mut reason = format!("{from} → {to}");
            for (name, known) in [(from, source.is_some()), (to, target.is_some() || case::is_end_status(to))] {
                if !known {
                    reason.push_str(&format!(" (there is no task \"{name}\")"));
                }
            }
            missing.push(reason);
        }
    }
    if missing.is_empty() {
        (true, format!("all {} transitions found", wanted.len()))
    } else {
        (false, format!("missing: {}", missing.join("; ")))
    }
}

/// A transition that closes a cycle between tasks, as `from → to`.
fn cycle(definition: &Definition) -> Option<String> {
    let count = definition.tasks.len();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); count];
    for transition in &definition.transitions {
        if let (Source::Task(from), Target::Task(to)) = (transition.from, transition.target) {
            next[from].push(to);
        }
    }
    // Depth-first search; an edge to a task still on the path closes a cycle.
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; count];
    for root in 0..count {
        if marks[root] != Mark::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::OnPath;
        while let Some((task, edge)) = stack.pop() {
            let Some(&to) = next[task].get(edge) else {
                marks[task] = Mark::Done;
                continue;
            };
            stack.push((task, edge + 1));
            match marks[to] {
                Mark::OnPath => {
                    return Some(format!("{} → {} loops back", definition.tasks[task].key, definition.tasks[to].key));
                }
                Mark::New => {
                    marks[to] = Mark::OnPath;
                    stack.push((to, 0));
                }
                Mark::Done => {}
            }
        }
    }
    None
}

/// Tasks that run at the same time: a task that waits for two or more others, or a
/// step that opens two or more tasks under the same condition (written the same way).
fn parallel(definition: &Definition) -> Option<String> {
    for (index, task) in definition.tasks.iter().enumerate() {
        if let Some(members) = definition.join_set(index)
            && members.len() >= 2
        {
            let names: Vec<&str> = members.iter().map(|source| definition.source_name(*source)).collect();
            return Some(format!("{} waits for {}", task.key, names.join(" and ")));
        }
    }
    let sources = std::iter::once(Source::Start).chain((0..definition.tasks.len()).map(Source::Task));
    for source in sources {
        if let Source::Task(index) = source
            && definition.tasks[index].next == Next::First
        {
            continue;
        }
        let outgoing: Vec<(usize, Option<&serde_json::Value>)> = definition
            .outgoing(source)
            .iter()
            .filter_map(|&position| {
                let transition = &definition.transitions[position];
                let Target::Task(to) = transition.target else { return None };
                let written = definition.source().pointer(&transition.pointer).and_then(|t| t.get("when"));
                Some((to, written))
            })
            .collect();
        for (position, (first, condition)) in outgoing.iter().enumerate() {
            if let Some((second, _)) =
                outgoing[position + 1..].iter().find(|(other, when)| other != first && when == condition)
            {
                return Some(format!(
                    "{} opens {} and {} together",
                    definition.source_name(source),
                    definition.tasks[*first].key,
                    definition.tasks[*second].key
                ));
            }
        }
    }
    None
}

fn assigned_roles(definition: &Definition) -> Vec<&str> {
    let roles: BTreeSet<&str> = definition
        .tasks
        .iter()
        .filter_map(|task| match task.assign.as_ref().map(|assign| &assign.target) {
            Some(AssignTarget::Role(role)) => Some(role.as_str()),
            _ => None,
        })
        .collect();
    roles.into_iter().collect()
}

fn ticket_fields(definition: &Definition) -> Vec<&str> {
    let fields: BTreeSet<&str> = definition.tickets.iter().flat_map(|ticket| ticket.fields.property_names()).collect();
    fields.into_iter().collect()
}

/// Each wanted word (with its `|` alternatives) must be a part of some name, ignoring
/// case and punctuation.
fn words(wanted: &[String], what: &str, names: &[&str]) -> (bool, String) {
    let normalized: Vec<String> = names.iter().map(|name| case::normalize(name)).collect();
    let missing: Vec<&str> = wanted
        .iter()
        .map(String::as_str)
        .filter(|word| !case::alternatives(word).any(|alt| normalized.iter().any(|name| name.contains(&alt))))
        .collect();
    let listed = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
    if missing.is_empty() {
        (true, format!("{what}: {listed}"))
    } else {
        (false, format!("nothing matches {}; {what}: {listed}", missing.join(", ")))
    }
}

fn sample_run(definition: &Definition) -> (bool, String) {
    let (ticket_type, data, script) = simulate::sample_inputs(definition);
    match simulate::simulate(definition, ticket_type.as_deref(), data, script) {
        Ok(run) if run.errors.is_empty() => {
            (true, format!("status {}, path [{}]", run.status.as_str(), run.path.join(", ")))
        }
        Ok(run) => {
            let errors: Vec<String> = run.errors.iter().map(|e| format!("{}: {}", e.kind, e.message)).collect();
            (false, format!("the sample run met errors: {}", errors.join("; ")))
        }
        Err(error) => (false, format!("the sample run could not start: {error}")),
    }
}
