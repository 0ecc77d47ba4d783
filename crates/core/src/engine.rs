//! The engine rules (SPEC §2.3–§2.4) as pure functions.
//!
//! [`decide`] takes a definition, an instance's state and an event and returns a
//! [`Decision`]: the task runs to create, the runs that change, the data writes
//! (each a history entry), the status change, the errors raised and the effects
//! to queue (automated steps, notifications). [`Instance::apply`] folds a
//! decision into the state; the store persists the same decision in one
//! transaction. Nothing here reads a clock: `now` is a parameter.
//!
//! A caller mistake (completing a closed task, an output that violates its
//! schema) is an [`EngineError`] and changes nothing. A problem of the workflow
//! itself (a conflict, a stall, a loop past `max_runs`) is a [`Fault`] recorded in
//! the decision: errors never vanish, they become ticket errors.

use crate::condition::Document;
use crate::definition::{AssignPolicy, AssignTarget, Definition, EndStatus, Next, Source, Target, Task};
use crate::path::FieldPath;
use crate::problem::Problem;
use crate::transform::DataWrite;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Milliseconds since the Unix epoch.
pub type Timestamp = i64;

/// A task run's number within its instance (0, 1, 2, … in activation order).
pub type RunSeq = u32;

macro_rules! status_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

status_enum!(
    /// The status of a workflow instance.
    InstanceStatus {
        NotStarted = "NOT_STARTED",
        InProgress = "IN_PROGRESS",
        Completed = "COMPLETED",
        Cancelled = "CANCELLED",
        OnHold = "ON_HOLD",
    }
);

status_enum!(
    /// The status of one task run.
    TaskStatus {
        Open = "OPEN",
        InProgress = "IN_PROGRESS",
        Pending = "PENDING",
        Completed = "COMPLETED",
        Cancelled = "CANCELLED",
        Error = "ERROR",
    }
);

status_enum!(
    /// The kind of a ticket error (SPEC §2.3 rule 8).
    ErrorKind {
        WorkflowCreation = "WORKFLOW_CREATION",
        TaskCreation = "TASK_CREATION",
        TaskUpdate = "TASK_UPDATE",
        WorkflowTransition = "WORKFLOW_TRANSITION",
    }
);

impl InstanceStatus {
    pub fn is_final(self) -> bool {
        matches!(self, InstanceStatus::Completed | InstanceStatus::Cancelled)
    }
}

impl TaskStatus {
    /// Open, claimed or waiting for a callback: someone or something still has to finish it.
    pub fn is_open(self) -> bool {
        matches!(self, TaskStatus::Open | TaskStatus::InProgress | TaskStatus::Pending)
    }
}

impl From<EndStatus> for InstanceStatus {
    fn from(status: EndStatus) -> Self {
        match status {
            EndStatus::Completed => InstanceStatus::Completed,
            EndStatus::Cancelled => InstanceStatus::Cancelled,
            EndStatus::OnHold => InstanceStatus::OnHold,
        }
    }
}

/// Who may work a task run, resolved when it is activated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Eligible {
    Role(String),
    /// Emails of the users who may work it (`users`, `initiator` and `field` resolve to this).
    Users(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub eligible: Eligible,
    pub policy: AssignPolicy,
}

impl Serialize for AssignPolicy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AssignPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "pool" => Ok(AssignPolicy::Pool),
            "round_robin" => Ok(AssignPolicy::RoundRobin),
            "least_loaded" => Ok(AssignPolicy::LeastLoaded),
            other => Err(serde::de::Error::custom(format!("unknown policy {other}"))),
        }
    }
}

/// One activation of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRun {
    pub seq: RunSeq,
    /// Index of the task in the definition.
    pub task: usize,
    pub status: TaskStatus,
    /// 1 for the first activation of this task in the instance, 2 for the second, …
    pub run: u32,
    pub input: Value,
    pub output: Option<Value>,
    pub assignment: Option<Assignment>,
    pub due_at: Option<Timestamp>,
    pub overdue: bool,
}

/// The state of one workflow instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub status: InstanceStatus,
    pub data: Value,
    /// The ticket as submitted plus `id`, `type` and `creator` (the context's `ticket`).
    pub ticket: Value,
    /// The context's `instance` (id, definition key and version as the store sets them).
    pub meta: Value,
    /// Email of the ticket's creator (`assign: {initiator: true}`).
    pub initiator: Option<String>,
    pub runs: Vec<TaskRun>,
    /// Per task with a join set: the sources that have fired into it since it was last activated.
    pub arrivals: Vec<Vec<Source>>,
}

/// What happens to an instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Start the instance with its initial workflow data.
    Start {
        data: Value,
    },
    /// A person or an action completes a task run with an output.
    Complete {
        seq: RunSeq,
        output: Value,
    },
    /// An automated run failed for good (retries exhausted).
    Fail {
        seq: RunSeq,
        message: String,
    },
    /// The run's `due` passed.
    Timeout {
        seq: RunSeq,
    },
    /// Fields changed outside a task (a ticket edit, a callback, a rollback).
    UpdateData {
        values: Vec<(FieldPath, Option<Value>)>,
    },
    /// Activate a task by hand (an admin picking a transition, or "retry from here").
    Activate {
        task: usize,
    },
    /// End or hold the instance by hand.
    SetStatus {
        status: EndStatus,
    },
    Cancel,
    Hold,
    Resume,
}

/// Who wrote a data field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "seq")]
pub enum WriteSource {
    Ticket,
    Task(RunSeq),
    /// A person or system outside a task (ticket edit, rollback, callback).
    External,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub write: DataWrite,
    pub source: WriteSource,
}

/// A change to an existing run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunUpdate {
    pub seq: RunSeq,
    pub status: TaskStatus,
    pub output: Option<Value>,
    pub overdue: bool,
}

/// A problem of the workflow, recorded as a ticket error.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub kind: ErrorKind,
    pub message: String,
    pub details: Value,
    pub seq: Option<RunSeq>,
}

/// Work for the world outside the core, queued in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Run an automated task (http, http_async, ai).
    Automate { seq: RunSeq },
    /// A person's task was created (assignment notification).
    Assigned { seq: RunSeq },
    /// The instance reached a final status.
    Ended { status: InstanceStatus },
}

/// Everything one event changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub status: Option<InstanceStatus>,
    pub writes: Vec<Write>,
    pub updates: Vec<RunUpdate>,
    pub new_runs: Vec<TaskRun>,
    /// Tasks whose arrival set changed, with the new set.
    pub arrivals: Vec<(usize, Vec<Source>)>,
    /// Indexes of the transitions that fired.
    pub fired: Vec<usize>,
    pub faults: Vec<Fault>,
    pub effects: Vec<Effect>,
}

/// A request the engine refuses; nothing changes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("the workflow is {0}, so this cannot be done")]
    WrongStatus(InstanceStatus),
    #[error("there is no task run {0} in this instance")]
    UnknownRun(RunSeq),
    #[error("the task is {status} and can no longer be changed")]
    RunClosed { seq: RunSeq, status: TaskStatus },
    #[error("the output does not match the task's output_schema")]
    InvalidOutput(Vec<Problem>),
    #[error("the ticket data does not match the ticket type's fields")]
    InvalidTicket(Vec<Problem>),
    #[error("there is no ticket type \"{0}\" in this workflow")]
    UnknownTicketType(String),
    #[error("the definition has no task {0}")]
    UnknownTask(usize),
}

impl Instance {
    /// A new instance, not started. `ticket` is the context's ticket (submitted fields plus id, type, creator).
    pub fn new(definition: &Definition, ticket: Value, meta: Value, initiator: Option<String>) -> Self {
        Self {
            status: InstanceStatus::NotStarted,
            data: Value::Object(Map::new()),
            ticket,
            meta,
            initiator,
            runs: Vec::new(),
            arrivals: vec![Vec::new(); definition.tasks.len()],
        }
    }

    /// Runs that are still to be worked.
    pub fn open_runs(&self) -> impl Iterator<Item = &TaskRun> {
        self.runs.iter().filter(|run| run.status.is_open())
    }

    pub fn run(&self, seq: RunSeq) -> Option<&TaskRun> {
        self.runs.get(seq as usize)
    }

    /// Folds a decision into the state.
    pub fn apply(&mut self, decision: &Decision) {
        self.apply_owned(decision.clone());
    }

    /// Folds a decision into the state, moving its values instead of copying them.
    pub fn apply_owned(&mut self, decision: Decision) {
        for write in decision.writes {
            match write.write.new {
                Some(value) => {
                    write.write.path.set(&mut self.data, value);
                }
                None => {
                    write.write.path.remove(&mut self.data);
                }
            }
        }
        for update in decision.updates {
            if let Some(run) = self.runs.get_mut(update.seq as usize) {
                run.status = update.status;
                run.overdue = update.overdue;
                if update.output.is_some() {
                    run.output = update.output;
                }
            }
        }
        self.runs.extend(decision.new_runs);
        for (task, sources) in decision.arrivals {
            if let Some(slot) = self.arrivals.get_mut(task) {
                *slot = sources;
            }
        }
        if let Some(status) = decision.status {
            self.status = status;
        }
    }

    /// Arrival sets keyed by task key (for storage).
    pub fn arrivals_by_key(&self, definition: &Definition) -> BTreeMap<String, Vec<String>> {
        self.arrivals
            .iter()
            .enumerate()
            .filter(|(_, sources)| !sources.is_empty())
            .map(|(task, sources)| {
                let names = sources.iter().map(|s| definition.source_name(*s).to_owned()).collect();
                (definition.tasks[task].key.clone(), names)
            })
            .collect()
    }

    /// Restores arrival sets stored by [`Instance::arrivals_by_key`].
    pub fn set_arrivals_by_key(&mut self, definition: &Definition, stored: &BTreeMap<String, Vec<String>>) {
        self.arrivals = vec![Vec::new(); definition.tasks.len()];
        for (key, names) in stored {
            let Some(task) = definition.task_index(key) else { continue };
            self.arrivals[task] = names
                .iter()
                .filter_map(|name| match name.as_str() {
                    "start" => Some(Source::Start),
                    other => definition.task_index(other).map(Source::Task),
                })
                .collect();
        }
    }
}

/// A ticket (or manual start) that creates an instance.
#[derive(Debug, Clone)]
pub struct NewInstance<'a> {
    /// The ticket type; `None` for a start without a ticket (manual or trigger), where
    /// `submitted` is the initial workflow data itself.
    pub ticket_type: Option<&'a str>,
    pub submitted: Value,
    /// Added to the ticket in the context: id, creator.
    pub ticket_id: Value,
    pub creator: Option<String>,
    pub meta: Value,
}

/// Validates a ticket, builds the instance and starts it (SPEC §2.3 rule 1).
pub fn start(definition: &Definition, new: NewInstance, now: Timestamp) -> Result<(Instance, Decision), EngineError> {
    let (data, ticket) = match new.ticket_type {
        Some(key) => {
            let ticket_type =
                definition.ticket_type(key).ok_or_else(|| EngineError::UnknownTicketType(key.to_owned()))?;
            ticket_type.fields.validate(&new.submitted).map_err(EngineError::InvalidTicket)?;
            let data = match &ticket_type.data {
                Some(transform) => transform.build_from(&new.submitted),
                None => new.submitted.clone(),
            };
            let mut ticket = match new.submitted {
                Value::Object(map) => map,
                _ => Map::new(),
            };
            ticket.insert("id".into(), new.ticket_id);
            ticket.insert("type".into(), Value::String(key.to_owned()));
            ticket.insert("creator".into(), new.creator.clone().map_or(Value::Null, Value::String));
            (data, Value::Object(ticket))
        }
        None => {
            if let Some(fields) = &definition.fields {
                fields.validate(&new.submitted).map_err(EngineError::InvalidTicket)?;
            }
            (new.submitted, json!({"id": new.ticket_id, "creator": new.creator}))
        }
    };
    let mut instance = Instance::new(definition, ticket, new.meta, new.creator);
    let decision = decide(definition, &instance, &Event::Start { data }, now)?;
    instance.apply(&decision);
    Ok((instance, decision))
}

/// The engine: what `event` does to `state` under `definition`.
pub fn decide(
    definition: &Definition,
    state: &Instance,
    event: &Event,
    now: Timestamp,
) -> Result<Decision, EngineError> {
    let mut work = Work::new(definition, state, now);
    match event {
        Event::Start { data } => {
            work.require(state.status == InstanceStatus::NotStarted)?;
            work.set_status(InstanceStatus::InProgress);
            if let Value::Object(fields) = data {
                for (name, value) in fields {
                    if let Ok(path) = FieldPath::parse(name) {
                        work.write(path, Some(value.clone()), WriteSource::Ticket);
                    }
                }
            }
            let fired = work.fire(Source::Start, definition.outgoing(Source::Start), Next::All, None);
            if fired == 0 && work.decision.faults.is_empty() {
                work.fault(
                    ErrorKind::WorkflowCreation,
                    "no transition from start holds for this ticket, so no task was created",
                    json!({}),
                    None,
                );
            }
        }
        Event::Complete { seq, output } => {
            work.require(state.status == InstanceStatus::InProgress)?;
            let run = work.open_run(*seq)?;
            let task = &definition.tasks[run.task];
            if let Some(schema) = &task.output_schema {
                schema.validate(output).map_err(EngineError::InvalidOutput)?;
            }
            work.update(*seq, TaskStatus::Completed, Some(output.clone()), run.overdue);
            let mut data = work.data().clone();
            let writes = task.output.apply(output, &mut data);
            work.data = Some(data);
            let changed: Vec<FieldPath> = writes.iter().map(|w| w.path.clone()).collect();
            work.decision
                .writes
                .extend(writes.into_iter().map(|write| Write { write, source: WriteSource::Task(*seq) }));
            work.completing = Some(run.task);
            work.fire(Source::Task(run.task), definition.outgoing(Source::Task(run.task)), task.next, Some(output));
            work.watch(&changed);
        }
        Event::Fail { seq, message } => {
            work.require(matches!(state.status, InstanceStatus::InProgress | InstanceStatus::OnHold))?;
            let run = work.open_run(*seq)?;
            work.update(*seq, TaskStatus::Error, None, run.overdue);
            let key = &definition.tasks[run.task].key;
            work.fault(
                ErrorKind::TaskUpdate,
                format!("task \"{key}\" failed: {message}"),
                json!({"task": key}),
                Some(*seq),
            );
        }
        Event::Timeout { seq } => {
            work.require(state.status == InstanceStatus::InProgress)?;
            let run = work.open_run(*seq)?;
            let task = &definition.tasks[run.task];
            work.update(*seq, run.status, None, true);
            let candidates = definition.outgoing_on_timeout(Source::Task(run.task));
            if !candidates.is_empty() {
                let output = json!({"timed_out": true});
                work.completing = Some(run.task);
                if work.fire(Source::Task(run.task), candidates, task.next, Some(&output)) > 0 {
                    // The escalation takes over: the overdue run is interrupted.
                    work.update(*seq, TaskStatus::Cancelled, None, true);
                }
            }
        }
        Event::UpdateData { values } => {
            work.require(!state.status.is_final() && state.status != InstanceStatus::NotStarted)?;
            let mut changed = Vec::new();
            for (path, value) in values {
                if work.write(path.clone(), value.clone(), WriteSource::External) {
                    changed.push(path.clone());
                }
            }
            if state.status == InstanceStatus::InProgress {
                work.watch(&changed);
            }
        }
        Event::Activate { task } => {
            work.require(state.status == InstanceStatus::InProgress)?;
            if *task >= definition.tasks.len() {
                return Err(EngineError::UnknownTask(*task));
            }
            work.activate(*task);
        }
        Event::SetStatus { status } => {
            work.require(matches!(state.status, InstanceStatus::InProgress | InstanceStatus::OnHold))?;
            work.set_status((*status).into());
        }
        Event::Cancel => {
            work.require(!state.status.is_final())?;
            work.set_status(InstanceStatus::Cancelled);
        }
        Event::Hold => {
            work.require(state.status == InstanceStatus::InProgress)?;
            work.set_status(InstanceStatus::OnHold);
        }
        Event::Resume => {
            work.require(state.status == InstanceStatus::OnHold)?;
            work.set_status(InstanceStatus::InProgress);
        }
    }
    Ok(work.finish())
}

/// The context conditions see: `{data, ticket, output, instance}`, borrowed.
struct Scope<'a> {
    data: &'a Value,
    ticket: &'a Value,
    output: Option<&'a Value>,
    instance: &'a Value,
}

impl Document for Scope<'_> {
    fn field(&self, name: &str) -> Option<&Value> {
        match name {
            "data" => Some(self.data),
            "ticket" => Some(self.ticket),
            "output" => self.output,
            "instance" => Some(self.instance),
            _ => None,
        }
    }
}

/// One decision being built, with overlays over the unchanged state.
struct Work<'a> {
    definition: &'a Definition,
    state: &'a Instance,
    now: Timestamp,
    data: Option<Value>,
    decision: Decision,
    /// Tasks activated by this event (each at most once).
    activated: Vec<usize>,
    /// The task whose completion is being processed (not re-activated by its own writes).
    completing: Option<usize>,
}

impl<'a> Work<'a> {
    fn new(definition: &'a Definition, state: &'a Instance, now: Timestamp) -> Self {
        Self {
            definition,
            state,
            now,
            data: None,
            decision: Decision::default(),
            activated: Vec::new(),
            completing: None,
        }
    }

    fn require(&self, allowed: bool) -> Result<(), EngineError> {
        if allowed { Ok(()) } else { Err(EngineError::WrongStatus(self.state.status)) }
    }

    fn status(&self) -> InstanceStatus {
        self.decision.status.unwrap_or(self.state.status)
    }

    fn set_status(&mut self, status: InstanceStatus) {
        self.decision.status = Some(status);
    }

    fn data(&self) -> &Value {
        self.data.as_ref().unwrap_or(&self.state.data)
    }

    /// The run, if it is still open (in the state as this decision has changed it so far).
    fn open_run(&self, seq: RunSeq) -> Result<&'a TaskRun, EngineError> {
        let run = self.state.run(seq).ok_or(EngineError::UnknownRun(seq))?;
        let status = self.run_status(seq);
        if !status.is_open() {
            return Err(EngineError::RunClosed { seq, status });
        }
        Ok(run)
    }

    fn run_status(&self, seq: RunSeq) -> TaskStatus {
        self.decision
            .updates
            .iter()
            .rev()
            .find(|u| u.seq == seq)
            .map(|u| u.status)
            .or_else(|| self.decision.new_runs.iter().find(|r| r.seq == seq).map(|r| r.status))
            .or_else(|| self.state.run(seq).map(|r| r.status))
            .unwrap_or(TaskStatus::Cancelled)
    }

    fn update(&mut self, seq: RunSeq, status: TaskStatus, output: Option<Value>, overdue: bool) {
        if let Some(existing) = self.decision.updates.iter_mut().find(|u| u.seq == seq) {
            existing.status = status;
            existing.overdue = overdue;
            if output.is_some() {
                existing.output = output;
            }
        } else if let Some(new_run) = self.decision.new_runs.iter_mut().find(|r| r.seq == seq) {
            new_run.status = status;
        } else {
            self.decision.updates.push(RunUpdate { seq, status, output, overdue });
        }
    }

    /// Writes one field; returns whether it changed.
    fn write(&mut self, path: FieldPath, value: Option<Value>, source: WriteSource) -> bool {
        let old = path.get(self.data()).cloned();
        if old == value {
            return false;
        }
        let data = self.data.get_or_insert_with(|| self.state.data.clone());
        match &value {
            Some(v) => {
                path.set(data, v.clone());
            }
            None => {
                path.remove(data);
            }
        }
        self.decision.writes.push(Write { write: DataWrite { path, old, new: value }, source });
        true
    }

    fn fault(&mut self, kind: ErrorKind, message: impl Into<String>, details: Value, seq: Option<RunSeq>) {
        self.decision.faults.push(Fault { kind, message: message.into(), details, seq });
    }

    fn arrivals(&self, task: usize) -> &[Source] {
        self.decision
            .arrivals
            .iter()
            .rev()
            .find(|(t, _)| *t == task)
            .map(|(_, sources)| sources.as_slice())
            .unwrap_or_else(|| self.state.arrivals.get(task).map(Vec::as_slice).unwrap_or_default())
    }

    fn set_arrivals(&mut self, task: usize, sources: Vec<Source>) {
        match self.decision.arrivals.iter_mut().find(|(t, _)| *t == task) {
            Some(slot) => slot.1 = sources,
            None => self.decision.arrivals.push((task, sources)),
        }
    }

    fn runs_of(&self, task: usize) -> u32 {
        let existing = self.state.runs.iter().filter(|r| r.task == task).count();
        let new = self.decision.new_runs.iter().filter(|r| r.task == task).count();
        u32::try_from(existing + new).unwrap_or(u32::MAX)
    }

    /// Evaluates `candidates` (highest priority first) and fires what holds. Returns how many fired.
    fn fire(&mut self, source: Source, candidates: &[usize], next: Next, output: Option<&Value>) -> usize {
        let definition = self.definition;
        let holding: Vec<usize> = {
            let scope = Scope { data: self.data(), ticket: &self.state.ticket, output, instance: &self.state.meta };
            let mut holding = candidates
                .iter()
                .copied()
                .filter(|&t| definition.transitions[t].when.as_ref().is_none_or(|when| when.matches(&scope)));
            match next {
                Next::All => holding.collect(),
                Next::First => holding.next().into_iter().collect(),
            }
        };
        if holding.is_empty() {
            return 0;
        }
        let mut statuses: Vec<EndStatus> = Vec::new();
        let mut tasks: Vec<usize> = Vec::new();
        for &t in &holding {
            match definition.transitions[t].target {
                Target::Status(status) if !statuses.contains(&status) => statuses.push(status),
                Target::Task(task) if !tasks.contains(&task) => tasks.push(task),
                _ => {}
            }
        }
        if statuses.len() > 1 || (!statuses.is_empty() && !tasks.is_empty()) {
            let pointers: Vec<&str> = holding.iter().map(|&t| definition.transitions[t].pointer.as_str()).collect();
            self.fault(
                ErrorKind::WorkflowTransition,
                format!(
                    "conflicting transitions from \"{}\": {} fired together; choose the next step by hand",
                    definition.source_name(source),
                    describe_targets(definition, &statuses, &tasks)
                ),
                json!({"from": definition.source_name(source), "transitions": pointers}),
                None,
            );
            return 0;
        }
        self.decision.fired.extend(&holding);
        if let Some(status) = statuses.first() {
            self.set_status((*status).into());
        }
        for task in tasks {
            self.arrive(source, task);
        }
        holding.len()
    }

    fn arrive(&mut self, source: Source, task: usize) {
        let Some(join_set) = self.definition.join_set(task) else {
            self.activate(task);
            return;
        };
        if !join_set.contains(&source) {
            self.activate(task); // a loop back from outside the join set
            return;
        }
        let mut arrived = self.arrivals(task).to_vec();
        if !arrived.contains(&source) {
            arrived.push(source);
        }
        if join_set.iter().all(|member| arrived.contains(member)) {
            self.activate(task);
        } else {
            self.set_arrivals(task, arrived);
        }
    }

    fn activate(&mut self, task_index: usize) {
        if self.activated.contains(&task_index) {
            return;
        }
        self.activated.push(task_index);
        let definition = self.definition;
        let task = &definition.tasks[task_index];
        if definition.join_set(task_index).is_some() && !self.arrivals(task_index).is_empty() {
            self.set_arrivals(task_index, Vec::new());
        }
        let runs = self.runs_of(task_index);
        let run = runs.saturating_add(1);
        if run > task.max_runs {
            self.fault(
                ErrorKind::WorkflowTransition,
                format!(
                    "task \"{}\" has already run {} times (max_runs {}); running it again looks like an endless loop",
                    task.key, runs, task.max_runs
                ),
                json!({"task": task.key, "max_runs": task.max_runs}),
                None,
            );
            return;
        }
        let seq = RunSeq::try_from(self.state.runs.len() + self.decision.new_runs.len()).unwrap_or(RunSeq::MAX);
        let input = self.input_for(task);
        let mut status = TaskStatus::Open;
        if let Some(schema) = &task.input_schema
            && let Err(problems) = schema.validate(&input)
        {
            status = TaskStatus::Error;
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            self.fault(
                ErrorKind::TaskCreation,
                format!("the input of task \"{}\" does not match its input_schema: {}", task.key, list.join("; ")),
                json!({"task": task.key, "problems": list}),
                Some(seq),
            );
        }
        let assignment = match self.assignment_for(task) {
            Ok(assignment) => assignment,
            Err(message) => {
                if status != TaskStatus::Error {
                    status = TaskStatus::Error;
                    self.fault(ErrorKind::TaskCreation, message, json!({"task": task.key}), Some(seq));
                }
                None
            }
        };
        let due_at = task
            .due_seconds
            .map(|seconds| self.now.saturating_add(i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX)));
        if status == TaskStatus::Open {
            if task.kind.is_automated() {
                self.decision.effects.push(Effect::Automate { seq });
            } else {
                self.decision.effects.push(Effect::Assigned { seq });
            }
        }
        self.decision.new_runs.push(TaskRun {
            seq,
            task: task_index,
            status,
            run,
            input,
            output: None,
            assignment,
            due_at,
            overdue: false,
        });
    }

    fn input_for(&self, task: &Task) -> Value {
        let data = self.data();
        match &task.input {
            None => data.clone(),
            Some(transform) => {
                let scope = Scope { data, ticket: &self.state.ticket, output: None, instance: &self.state.meta };
                transform.build(
                    &scope,
                    || json!({"data": data, "ticket": self.state.ticket, "instance": self.state.meta, "secrets": {}}),
                )
            }
        }
    }

    fn assignment_for(&self, task: &Task) -> Result<Option<Assignment>, String> {
        let Some(assign) = &task.assign else { return Ok(None) };
        let eligible = match &assign.target {
            AssignTarget::Role(role) => Eligible::Role(role.clone()),
            AssignTarget::Users(users) => Eligible::Users(users.clone()),
            AssignTarget::Initiator => match &self.state.initiator {
                Some(email) => Eligible::Users(vec![email.clone()]),
                None => {
                    return Err(format!(
                        "task \"{}\" goes to the ticket's creator, but this instance has none",
                        task.key
                    ));
                }
            },
            AssignTarget::Field(path) => match path.get(self.data()).and_then(Value::as_str) {
                Some(email) if email.contains('@') => Eligible::Users(vec![email.to_owned()]),
                _ => {
                    return Err(format!(
                        "task \"{}\" goes to the email in data.{path}, but that field holds no email",
                        task.key
                    ));
                }
            },
        };
        Ok(Some(Assignment { eligible, policy: assign.policy }))
    }

    /// Re-activates watching tasks whose fields changed (SPEC §2.4).
    fn watch(&mut self, changed: &[FieldPath]) {
        if changed.is_empty() || self.status() != InstanceStatus::InProgress {
            return;
        }
        let definition = self.definition;
        for &task_index in definition.watchers() {
            let task = &definition.tasks[task_index];
            if Some(task_index) == self.completing || !task.watch.iter().any(|w| changed.iter().any(|c| c.overlaps(w)))
            {
                continue;
            }
            let has_run = self.state.runs.iter().any(|r| r.task == task_index);
            let open = self.state.runs.iter().any(|r| r.task == task_index && self.run_status(r.seq).is_open())
                || self.decision.new_runs.iter().any(|r| r.task == task_index);
            if !has_run || open {
                continue;
            }
            let holds = task.when.as_ref().is_none_or(|when| {
                when.matches(&Scope {
                    data: self.data(),
                    ticket: &self.state.ticket,
                    output: None,
                    instance: &self.state.meta,
                })
            });
            if holds {
                self.activate(task_index);
            }
        }
    }

    fn finish(mut self) -> Decision {
        let status = self.status();
        let status_changed = self.decision.status.is_some_and(|s| s != self.state.status);
        if status.is_final() && status_changed {
            let open: Vec<(RunSeq, bool)> = self
                .state
                .runs
                .iter()
                .chain(&self.decision.new_runs)
                .filter(|r| self.run_status(r.seq).is_open())
                .map(|r| (r.seq, r.overdue))
                .collect();
            for (seq, overdue) in open {
                self.update(seq, TaskStatus::Cancelled, None, overdue);
            }
            self.decision.effects.retain(|e| !matches!(e, Effect::Automate { .. } | Effect::Assigned { .. }));
            self.decision.effects.push(Effect::Ended { status });
        }
        if status == InstanceStatus::InProgress && self.decision.faults.is_empty() {
            let any_open =
                self.state.runs.iter().chain(&self.decision.new_runs).any(|r| self.run_status(r.seq).is_open());
            if !any_open {
                let waiting: Vec<&str> = (0..self.definition.tasks.len())
                    .filter(|&t| !self.arrivals(t).is_empty())
                    .map(|t| self.definition.tasks[t].key.as_str())
                    .collect();
                let message = if waiting.is_empty() {
                    "the workflow is stalled: no task is open and no transition led on".to_owned()
                } else {
                    format!(
                        "the workflow is stalled: no task is open and {} still waits for its join",
                        waiting.join(", ")
                    )
                };
                self.fault(ErrorKind::WorkflowTransition, message, json!({"stalled": true, "waiting": waiting}), None);
            }
        }
        self.decision
    }
}

fn describe_targets(definition: &Definition, statuses: &[EndStatus], tasks: &[usize]) -> String {
    statuses
        .iter()
        .map(|s| format!("status {}", s.as_str()))
        .chain(tasks.iter().map(|&t| format!("task \"{}\"", definition.tasks[t].key)))
        .collect::<Vec<_>>()
        .join(" and ")
}

#[cfg(test)]
mod tests;
