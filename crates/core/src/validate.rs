//! Semantic checks of a definition whose structure has been read.
//!
//! [`crate::definition::Definition::load`] runs these after reading: the graph
//! (a way in from `start`, every task reachable, a way to an end status, joins
//! that can fire, timeouts that can happen) and the references (roles the
//! document lists, fields the schemas declare). Graph problems that make a
//! workflow unable to run are errors; the rest are warnings.
//!
//! When the reader had to drop a transition it reported, only
//! [`check_references`] runs: graph checks on a graph with a missing edge
//! would blame tasks for the typo elsewhere.

use crate::definition::{AssignTarget, Definition, On, Source, Target};
use crate::problem::{Problem, pointer_push};
use crate::schema::{Declared, Schema};
use crate::transform::Transform;
use serde_json::Value;
use std::collections::{BTreeSet, VecDeque};

/// Every semantic problem of the definition.
pub fn check(definition: &Definition) -> Vec<Problem> {
    let mut problems = Vec::new();
    check_graph(definition, &mut problems);
    problems.extend(check_references(definition));
    problems
}

/// The checks that do not depend on the graph being whole: roles and declared fields.
pub fn check_references(definition: &Definition) -> Vec<Problem> {
    let mut problems = Vec::new();
    check_roles(definition, &mut problems);
    check_fields(definition, &mut problems);
    problems
}

fn check_graph(definition: &Definition, problems: &mut Vec<Problem>) {
    if definition.outgoing(Source::Start).is_empty() {
        problems.push(Problem::error(
            "/transitions",
            "nothing starts the workflow: add a transition {from: start, to: <first task>} (or give the first task depends_on: [])",
        ));
        return;
    }
    let reachable = reachable_from_start(definition, None);
    for (index, task) in definition.tasks.iter().enumerate() {
        if !reachable.contains(&index) {
            problems.push(Problem::error(
                &task.pointer,
                format!("task \"{}\" can never run: no chain of transitions from start leads to it; add a transition to it or remove it", task.key),
            ));
        }
    }
    // Tasks with no way to an end status.
    let ending = can_reach_end(definition);
    let has_end = definition
        .transitions
        .iter()
        .any(|t| matches!(t.target, Target::Status(s) if s != crate::definition::EndStatus::OnHold));
    if !has_end {
        problems.push(Problem::warning(
            "/transitions",
            "no transition ends the workflow; add one with status: COMPLETED (or CANCELLED) so tickets can finish",
        ));
    } else {
        for (index, task) in definition.tasks.iter().enumerate() {
            if reachable.contains(&index) && !ending.contains(&index) {
                problems.push(Problem::warning(
                    &task.pointer,
                    format!("from task \"{}\" there is no way to COMPLETED or CANCELLED; instances that get here will stall", task.key),
                ));
            }
        }
    }
    // Joins that can never fire.
    for (index, task) in definition.tasks.iter().enumerate() {
        let Some(join_set) = definition.join_set(index) else { continue };
        if !reachable.contains(&index) {
            continue;
        }
        let without = reachable_from_start(definition, Some(index));
        for member in join_set {
            let Source::Task(member) = *member else { continue };
            // The task itself is in `without` (reached, not passed through), yet a
            // transition from it only fires after it ran: it can never come first.
            if member == index || !without.contains(&member) {
                let explicit = task.depends_on.as_ref().is_some_and(|m| !m.is_empty());
                let advice = if explicit {
                    "remove it from depends_on"
                } else {
                    "list the tasks to wait for in depends_on, so a transition back from a later task counts as a loop instead"
                };
                problems.push(Problem::error(
                    pointer_push(&task.pointer, if explicit { "depends_on" } else { "join" }),
                    format!(
                        "join: all on \"{}\" can never fire: it waits for \"{}\", which can only run after \"{}\" itself; {advice}",
                        task.key, definition.tasks[member].key, task.key
                    ),
                ));
            }
        }
    }
    for transition in &definition.transitions {
        if transition.on == On::Timeout
            && let Source::Task(index) = transition.from
            && definition.tasks[index].due_seconds.is_none()
        {
            problems.push(Problem::error(
                pointer_push(&transition.pointer, "on"),
                format!(
                    "task \"{}\" has no \"due\", so it never times out; give it due: (e.g. P2D) or remove on: timeout",
                    definition.tasks[index].key
                ),
            ));
        }
    }
}

/// Tasks reachable from start, optionally never passing through `avoid`.
fn reachable_from_start(definition: &Definition, avoid: Option<usize>) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut queue = VecDeque::from([Source::Start]);
    while let Some(source) = queue.pop_front() {
        let all = definition.outgoing(source).iter().chain(definition.outgoing_on_timeout(source));
        for &transition in all {
            if let Target::Task(target) = definition.transitions[transition].target
                && seen.insert(target)
                && Some(target) != avoid
            {
                queue.push_back(Source::Task(target));
            }
        }
    }
    seen
}

/// Tasks from which some chain of transitions reaches COMPLETED or CANCELLED.
fn can_reach_end(definition: &Definition) -> BTreeSet<usize> {
    let mut ending = BTreeSet::new();
    loop {
        let before = ending.len();
        for transition in &definition.transitions {
            let Source::Task(from) = transition.from else { continue };
            let reaches = match transition.target {
                Target::Status(status) => status != crate::definition::EndStatus::OnHold,
                Target::Task(to) => ending.contains(&to),
            };
            if reaches {
                ending.insert(from);
            }
        }
        if ending.len() == before {
            return ending;
        }
    }
}

fn check_roles(definition: &Definition, problems: &mut Vec<Problem>) {
    let listed = |role: &str| definition.roles.iter().any(|r| r == role);
    let advice = if definition.roles.is_empty() {
        "list the roles the workflow uses under \"roles\" at the top"
    } else {
        "add it to \"roles\" at the top or fix the spelling"
    };
    for task in &definition.tasks {
        if let Some(AssignTarget::Role(role)) = task.assign.as_ref().map(|a| &a.target)
            && !listed(role)
        {
            problems.push(Problem::warning(
                pointer_push(&pointer_push(&task.pointer, "assign"), "role"),
                format!("the role \"{role}\" is not listed in the document; {advice}"),
            ));
        }
    }
    for ticket in &definition.tickets {
        for (position, role) in ticket.role_access.iter().enumerate() {
            if !listed(role) {
                problems.push(Problem::warning(
                    pointer_push(&pointer_push(&ticket.pointer, "role_access"), position),
                    format!("the role \"{role}\" is not listed in the document; {advice}"),
                ));
            }
        }
    }
}

/// The context members conditions and input transforms may read.
const CONTEXT: &[&str] = &["data", "ticket", "output", "instance", "secrets"];
/// Members the engine adds to the submitted ticket.
const TICKET_META: &[&str] = &["id", "type", "creator"];

fn check_fields(definition: &Definition, problems: &mut Vec<Problem>) {
    let fields = definition.fields.as_ref();
    let ticket_schemas: Vec<&Schema> = definition.tickets.iter().map(|t| &t.fields).collect();
    let checker = Checker { fields, ticket_schemas: &ticket_schemas };
    for transition in &definition.transitions {
        if transition.when.is_none() {
            continue;
        }
        let output = match transition.from {
            Source::Task(index) => OutputScope::Task(definition.tasks[index].output_schema.as_ref()),
            Source::Start => OutputScope::None,
        };
        checker.condition(definition, &pointer_push(&transition.pointer, "when"), output, problems);
    }
    for task in &definition.tasks {
        if task.when.is_some() {
            checker.condition(definition, &pointer_push(&task.pointer, "when"), OutputScope::None, problems);
        }
        for (position, path) in task.watch.iter().enumerate() {
            checker.data_path(
                path.segments(),
                &pointer_push(&pointer_push(&task.pointer, "watch"), position),
                "watches",
                problems,
            );
        }
        if let Some(input) = &task.input {
            for (target, query) in input.queries() {
                let names = query.leading_names();
                let at = pointer_push(&pointer_push(&task.pointer, "input"), target);
                checker.context_path(&names, &at, OutputScope::None, problems);
            }
        }
        let explicit_output = definition.source().pointer(&format!("{}/output", task.pointer)).is_some();
        if explicit_output {
            let at = pointer_push(&task.pointer, "output");
            checker.output_transform(&task.output, &at, task.output_schema.as_ref(), problems);
        }
    }
    for ticket in &definition.tickets {
        if let Some(data) = &ticket.data {
            checker.output_transform(data, &pointer_push(&ticket.pointer, "data"), Some(&ticket.fields), problems);
        }
    }
}

#[derive(Clone, Copy)]
enum OutputScope<'a> {
    None,
    Task(Option<&'a Schema>),
}

struct Checker<'a> {
    fields: Option<&'a Schema>,
    ticket_schemas: &'a [&'a Schema],
}

impl Checker<'_> {
    /// Checks the fields a condition reads; `pointer` is where it is written in the document.
    fn condition(&self, definition: &Definition, pointer: &str, output: OutputScope, problems: &mut Vec<Problem>) {
        let Some(query) = definition.source().pointer(pointer) else { return };
        let mut fields = Vec::new();
        condition_fields(query, pointer, &mut fields);
        for (path, at) in fields {
            let names: Vec<String> = path.split('.').map(str::to_owned).collect();
            self.context_path(&names, &at, output, problems);
        }
    }

    fn context_path(&self, names: &[String], pointer: &str, output: OutputScope, problems: &mut Vec<Problem>) {
        let Some((root, rest)) = names.split_first() else { return };
        let rest = rest.iter().map(String::as_str);
        match root.as_str() {
            "data" => self.data_path(rest, pointer, "reads", problems),
            "ticket" => {
                let mut rest = rest.peekable();
                let Some(first) = rest.peek().copied() else { return };
                if TICKET_META.contains(&first) || self.ticket_schemas.is_empty() {
                    return;
                }
                let rest: Vec<&str> = rest.collect();
                let declared = self.ticket_schemas.iter().any(|s| s.declares(rest.iter().copied()) != Declared::No);
                if !declared {
                    problems.push(Problem::warning(
                        pointer,
                        format!("no ticket type declares \"ticket.{}\"", rest.join(".")),
                    ));
                }
            }
            "output" => match output {
                OutputScope::None => problems.push(Problem::warning(
                    pointer,
                    "there is no task output here: \"output\" is only set for transitions from a task",
                )),
                OutputScope::Task(Some(schema)) => {
                    let rest: Vec<&str> = rest.collect();
                    if !rest.is_empty() && schema.declares(rest.iter().copied()) == Declared::No {
                        problems.push(Problem::warning(
                            pointer,
                            format!("the task's output_schema does not declare \"{}\"", rest.join(".")),
                        ));
                    }
                }
                OutputScope::Task(None) => {}
            },
            "instance" | "secrets" => {}
            other => problems.push(Problem::warning(
                pointer,
                format!("\"{other}\" is not part of the context; paths start with one of {}", CONTEXT.join(", ")),
            )),
        }
    }

    fn data_path<'p>(
        &self,
        path: impl Iterator<Item = &'p str>,
        pointer: &str,
        verb: &str,
        problems: &mut Vec<Problem>,
    ) {
        let Some(fields) = self.fields else { return };
        let path: Vec<&str> = path.collect();
        if !path.is_empty() && fields.declares(path.iter().copied()) == Declared::No {
            problems.push(Problem::warning(
                pointer,
                format!("this {verb} \"data.{}\", which the workflow's fields do not declare; declare it under fields.properties or fix the name", path.join(".")),
            ));
        }
    }

    /// A transform whose targets are workflow data and whose queries read `source_schema`.
    fn output_transform(
        &self,
        transform: &Transform,
        pointer: &str,
        source_schema: Option<&Schema>,
        problems: &mut Vec<Problem>,
    ) {
        for target in transform.targets() {
            self.data_path(target.segments(), &pointer_push(pointer, target), "writes", problems);
        }
        let Some(schema) = source_schema else { return };
        for (target, query) in transform.queries() {
            let names = query.leading_names();
            if !names.is_empty() && schema.declares(names.iter().map(String::as_str)) == Declared::No {
                problems.push(Problem::warning(
                    pointer_push(pointer, target),
                    format!("\"{}\" reads \"{}\", which its schema does not declare", query.as_str(), names.join(".")),
                ));
            }
        }
    }
}

/// The field paths a query document tests, each with the pointer to where it is
/// written (inside `$and`/`$or`/`$nor` too), walking the document as
/// [`crate::condition::Condition::compile`] does.
fn condition_fields(query: &Value, pointer: &str, out: &mut Vec<(String, String)>) {
    let Some(map) = query.as_object() else { return };
    for (key, operand) in map {
        let at = pointer_push(pointer, key);
        match key.as_str() {
            "$and" | "$or" | "$nor" => {
                for (index, item) in operand.as_array().into_iter().flatten().enumerate() {
                    condition_fields(item, &pointer_push(&at, index), out);
                }
            }
            _ if key.starts_with('$') => {}
            _ => out.push((key.clone(), at)),
        }
    }
}
