//! The workflow definition document (`format: ticketflower/v1`, SPEC §2) as types.
//!
//! [`Definition::load`] reads a parsed document into a [`Definition`], reporting
//! every structural problem (unknown or misspelt keys, wrong types, bad
//! schemas, queries and conditions, unknown task names) with a JSON Pointer, and
//! then runs the semantic checks of [`crate::validate`]. Warnings never stop a
//! load; errors do. The loaded definition is compiled: schemas, JSONPath queries
//! and conditions are ready to run, and task references are indexes.

use crate::condition::Condition;
use crate::path::FieldPath;
use crate::problem::{Problem, has_errors, pointer_push};
use crate::schema::Schema;
use crate::transform::Transform;
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};

/// The one format this version reads.
pub const FORMAT: &str = "ticketflower/v1";
/// Default for a task's `max_runs`.
pub const DEFAULT_MAX_RUNS: u32 = 50;
/// Default for an action's `method`.
pub const DEFAULT_METHOD: &str = "POST";
/// Default for an action's `timeout_seconds`.
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 30;

/// A loaded, compiled workflow definition.
#[derive(Debug, Clone)]
pub struct Definition {
    pub key: String,
    pub title: String,
    pub description: Option<String>,
    pub ext_ref: Vec<ExtRef>,
    pub roles: Vec<String>,
    pub fields: Option<Schema>,
    pub tickets: Vec<TicketType>,
    pub tasks: Vec<Task>,
    /// Written transitions first, then those implied by `depends_on`.
    pub transitions: Vec<Transition>,
    pub triggers: Vec<Trigger>,
    source: Value,
    task_index: HashMap<String, usize>,
    /// Per source (index 0 = `start`, i + 1 = task i): transitions with `on: complete`,
    /// highest priority first, ties in document order.
    outgoing: Vec<Vec<usize>>,
    /// Per source: transitions with `on: timeout`, highest priority first.
    outgoing_timeout: Vec<Vec<usize>>,
    /// Per task with `join: all`: its join set.
    join_sets: Vec<Option<BTreeSet<Source>>>,
    /// Tasks that have a `watch`.
    watchers: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtRef {
    pub label: String,
    pub desc: Option<String>,
    pub uri: String,
}

/// A ticket type that starts the workflow.
#[derive(Debug, Clone)]
pub struct TicketType {
    pub key: String,
    pub title: String,
    pub description: Option<String>,
    pub fields: Schema,
    /// Ticket fields → workflow data; `None` copies every field.
    pub data: Option<Transform>,
    pub role_access: Vec<String>,
    pub pointer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskKind {
    Form,
    Approval,
    Http,
    HttpAsync,
    Ai,
}

impl TaskKind {
    pub const ALL: [(&'static str, TaskKind); 5] = [
        ("form", TaskKind::Form),
        ("approval", TaskKind::Approval),
        ("http", TaskKind::Http),
        ("http_async", TaskKind::HttpAsync),
        ("ai", TaskKind::Ai),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Form => "form",
            TaskKind::Approval => "approval",
            TaskKind::Http => "http",
            TaskKind::HttpAsync => "http_async",
            TaskKind::Ai => "ai",
        }
    }

    /// True for tasks the engine completes itself (actions and AI).
    pub fn is_automated(self) -> bool {
        matches!(self, TaskKind::Http | TaskKind::HttpAsync | TaskKind::Ai)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Join {
    #[default]
    Any,
    All,
}

impl Join {
    pub const ALL: [(&'static str, Join); 2] = [("any", Join::Any), ("all", Join::All)];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Next {
    #[default]
    All,
    First,
}

impl Next {
    pub const ALL: [(&'static str, Next); 2] = [("all", Next::All), ("first", Next::First)];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignTarget {
    Role(String),
    Users(Vec<String>),
    Initiator,
    /// A field of the workflow data holding an email.
    Field(FieldPath),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AssignPolicy {
    #[default]
    Pool,
    RoundRobin,
    LeastLoaded,
}

impl AssignPolicy {
    pub const ALL: [(&'static str, AssignPolicy); 3] = [
        ("pool", AssignPolicy::Pool),
        ("round_robin", AssignPolicy::RoundRobin),
        ("least_loaded", AssignPolicy::LeastLoaded),
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssignPolicy::Pool => "pool",
            AssignPolicy::RoundRobin => "round_robin",
            AssignPolicy::LeastLoaded => "least_loaded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assign {
    pub target: AssignTarget,
    pub policy: AssignPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    #[default]
    Fail,
    Continue,
}

impl OnError {
    pub const ALL: [(&'static str, OnError); 2] = [("fail", OnError::Fail), ("continue", OnError::Continue)];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    pub max_attempts: u32,
    pub initial_seconds: u32,
    pub max_seconds: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Self { max_attempts: 3, initial_seconds: 2, max_seconds: 300 }
    }
}

/// The HTTP request of an `http` or `http_async` task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout_seconds: u32,
    pub retry: Retry,
    pub on_error: OnError,
}

/// A task of the workflow.
#[derive(Debug, Clone)]
pub struct Task {
    pub key: String,
    pub title: String,
    pub description: Option<String>,
    pub ext_ref: Vec<ExtRef>,
    pub kind: TaskKind,
    /// `None`: the task sees the whole workflow data.
    pub input: Option<Transform>,
    pub input_schema: Option<Schema>,
    /// For approvals, the fixed `{decision, comment}` schema.
    pub output_schema: Option<Schema>,
    /// Output → workflow data. Without `output` in the document this is the default
    /// (each property of `output_schema` to the data field of the same name;
    /// nothing for approvals).
    pub output: Transform,
    pub assign: Option<Assign>,
    /// `due` in seconds.
    pub due_seconds: Option<u64>,
    pub join: Join,
    pub depends_on: Option<Vec<usize>>,
    /// Watched paths in the workflow data (`data.` stripped).
    pub watch: Vec<FieldPath>,
    pub when: Option<Condition>,
    pub next: Next,
    pub max_runs: u32,
    pub review: bool,
    pub prompt: Option<String>,
    pub action: Option<Action>,
    pub pointer: String,
}

/// Where a transition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Start,
    Task(usize),
}

/// How an instance ends or pauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndStatus {
    Completed,
    Cancelled,
    OnHold,
}

impl EndStatus {
    pub const ALL: [(&'static str, EndStatus); 3] =
        [("COMPLETED", EndStatus::Completed), ("CANCELLED", EndStatus::Cancelled), ("ON_HOLD", EndStatus::OnHold)];

    pub fn as_str(self) -> &'static str {
        match self {
            EndStatus::Completed => "COMPLETED",
            EndStatus::Cancelled => "CANCELLED",
            EndStatus::OnHold => "ON_HOLD",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Task(usize),
    Status(EndStatus),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum On {
    #[default]
    Complete,
    Timeout,
}

impl On {
    pub const ALL: [(&'static str, On); 2] = [("complete", On::Complete), ("timeout", On::Timeout)];
}

#[derive(Debug, Clone)]
pub struct Transition {
    pub from: Source,
    pub target: Target,
    pub when: Option<Condition>,
    pub priority: i64,
    pub on: On,
    /// Where it is written (`/transitions/3`, or `/tasks/2/depends_on/0` for an implied one).
    pub pointer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    Webhook,
    Schedule,
    Manual,
}

impl TriggerKind {
    pub const ALL: [(&'static str, TriggerKind); 3] =
        [("webhook", TriggerKind::Webhook), ("schedule", TriggerKind::Schedule), ("manual", TriggerKind::Manual)];
}

#[derive(Debug, Clone)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub key: String,
    pub filter: Option<Condition>,
    pub data: Option<Transform>,
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub pointer: String,
}

/// The result of loading a document: the definition when it has no errors,
/// and every problem found (errors and warnings).
#[derive(Debug)]
pub struct Loaded {
    pub definition: Option<Definition>,
    pub problems: Vec<Problem>,
}

impl Loaded {
    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.is_error())
    }
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_error())
    }
    /// The definition, or every problem when it has errors.
    pub fn into_result(self) -> Result<Definition, Vec<Problem>> {
        self.definition.ok_or(self.problems)
    }
}

impl Definition {
    /// Parses and loads a document from text.
    pub fn load_str(text: &str, syntax: crate::document::Syntax) -> Loaded {
        match crate::document::parse(text, syntax) {
            Ok(value) => Self::load(&value),
            Err(problem) => Loaded { definition: None, problems: vec![problem] },
        }
    }

    /// Loads a parsed document, collecting every problem.
    pub fn load(document: &Value) -> Loaded {
        let mut problems = Vec::new();
        let mut reader = Reader { problems: &mut problems, graph_complete: true, tasks_listed: true };
        let definition = reader.definition(document);
        let graph_complete = reader.graph_complete;
        if let Some(definition) = &definition {
            // A transition the reader had to drop would make the graph checks report
            // follow-on problems (a task "never runs" because its way in was misspelt).
            if graph_complete {
                problems.extend(crate::validate::check(definition));
            } else {
                problems.extend(crate::validate::check_references(definition));
            }
        }
        // Problems stay in discovery order (the reader walks the document top to bottom).
        let definition = if has_errors(&problems) { None } else { definition };
        Loaded { definition, problems }
    }

    /// The document as written (for export and diffs).
    pub fn source(&self) -> &Value {
        &self.source
    }

    pub fn task_index(&self, key: &str) -> Option<usize> {
        self.task_index.get(key).copied()
    }

    pub fn task(&self, key: &str) -> Option<&Task> {
        self.task_index(key).map(|index| &self.tasks[index])
    }

    pub fn ticket_type(&self, key: &str) -> Option<&TicketType> {
        self.tickets.iter().find(|ticket| ticket.key == key)
    }

    /// Transitions taken on completion from `source`, highest priority first.
    pub fn outgoing(&self, source: Source) -> &[usize] {
        &self.outgoing[source_slot(source)]
    }

    /// Transitions with `on: timeout` from `source`, highest priority first.
    pub fn outgoing_on_timeout(&self, source: Source) -> &[usize] {
        &self.outgoing_timeout[source_slot(source)]
    }

    /// The join set of a task with `join: all`.
    pub fn join_set(&self, task: usize) -> Option<&BTreeSet<Source>> {
        self.join_sets[task].as_ref()
    }

    pub fn watchers(&self) -> &[usize] {
        &self.watchers
    }

    /// A name for a transition's source, for messages.
    pub fn source_name(&self, source: Source) -> &str {
        match source {
            Source::Start => "start",
            Source::Task(index) => &self.tasks[index].key,
        }
    }
}

fn source_slot(source: Source) -> usize {
    match source {
        Source::Start => 0,
        Source::Task(index) => index + 1,
    }
}

/// The fixed output schema of approval tasks.
pub fn approval_output_schema() -> Value {
    json!({
        "type": "object",
        "required": ["decision"],
        "properties": {
            "decision": {"type": "string", "enum": ["approved", "rejected"], "title": "Decision"},
            "comment": {"type": "string", "title": "Comment"}
        },
        "additionalProperties": false
    })
}

// ---- reading ----

// Each `*_KEYS` list is every key one kind of object may have; any other key is
// an error. `docs/workflow-guide.md` documents every list, and its tests
// (`guide_tests.rs`) compare the guide with them.

/// The keys of the document's top level.
pub const TOP_KEYS: &[&str] = &[
    "format",
    "key",
    "title",
    "description",
    "ext_ref",
    "roles",
    "fields",
    "tickets",
    "tasks",
    "transitions",
    "triggers",
];
pub const TICKET_KEYS: &[&str] = &["key", "title", "description", "fields", "data", "role_access"];
pub const TASK_KEYS: &[&str] = &[
    "key",
    "title",
    "description",
    "ext_ref",
    "type",
    "input",
    "input_schema",
    "output_schema",
    "output",
    "assign",
    "due",
    "join",
    "depends_on",
    "watch",
    "when",
    "next",
    "max_runs",
    "review",
    "prompt",
    "action",
];
pub const ASSIGN_KEYS: &[&str] = &["role", "users", "initiator", "field", "policy"];
pub const ACTION_KEYS: &[&str] = &["method", "url", "headers", "timeout_seconds", "retry", "on_error"];
pub const RETRY_KEYS: &[&str] = &["max_attempts", "backoff", "initial_seconds", "max_seconds"];
pub const TRANSITION_KEYS: &[&str] = &["from", "to", "status", "when", "priority", "on"];
pub const TRIGGER_KEYS: &[&str] = &["type", "key", "title", "filter", "data", "cron", "timezone"];
pub const EXT_REF_KEYS: &[&str] = &["label", "desc", "uri"];
/// The methods an action may use.
pub const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];
/// The backoff strategies of an action's `retry`.
pub const BACKOFFS: &[&str] = &["exponential"];

/// One object of the document, with its pointer.
struct Node<'a> {
    map: &'a Map<String, Value>,
    pointer: String,
}

impl<'a> Node<'a> {
    fn at(&self, key: &str) -> String {
        pointer_push(&self.pointer, key)
    }
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|value| !value.is_null())
    }
}

struct Reader<'p> {
    problems: &'p mut Vec<Problem>,
    /// False once a transition or a `depends_on` entry could not be read: the graph
    /// is then missing edges and the graph checks would report follow-on problems.
    graph_complete: bool,
    /// False when the document has no readable task list; every task name is then
    /// unknown, and saying so for each reference would only repeat that one problem.
    tasks_listed: bool,
}

impl Reader<'_> {
    fn error(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::error(pointer, message));
    }

    /// Opens an object, reporting keys not in `allowed` (with a suggestion).
    fn node<'a>(&mut self, value: &'a Value, pointer: &str, what: &str, allowed: &[&str]) -> Option<Node<'a>> {
        let Some(map) = value.as_object() else {
            self.error(
                pointer,
                format!(
                    "{what} must be an object with keys like {}",
                    allowed.iter().take(3).map(|k| format!("\"{k}\"")).collect::<Vec<_>>().join(", ")
                ),
            );
            return None;
        };
        for key in map.keys() {
            if !allowed.contains(&key.as_str()) {
                let hint = closest(key, allowed.iter().copied())
                    .map(|best| format!("; did you mean \"{best}\"?"))
                    .unwrap_or_else(|| format!("; {what} may have {}", allowed.join(", ")));
                self.error(pointer_push(pointer, key), format!("unknown key \"{key}\" in {what}{hint}"));
            }
        }
        Some(Node { map, pointer: pointer.to_owned() })
    }

    fn string(&mut self, node: &Node, key: &str, required: bool) -> Option<String> {
        match node.get(key) {
            Some(Value::String(text)) if required && text.trim().is_empty() => {
                self.error(node.at(key), format!("\"{key}\" must not be empty"));
                None
            }
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => {
                self.error(node.at(key), format!("\"{key}\" must be a string"));
                None
            }
            None if required => {
                self.error(node.at(key), format!("\"{key}\" is required"));
                None
            }
            None => None,
        }
    }

    fn slug(&mut self, node: &Node, key: &str, what: &str) -> Option<String> {
        let text = self.string(node, key, true)?;
        if is_slug(&text) {
            Some(text)
        } else {
            self.error(
                node.at(key),
                format!("{what} \"{text}\" must be lowercase letters, digits, '-' or '_', starting with a letter or digit (at most 64), like \"document-edit\""),
            );
            None
        }
    }

    fn array<'a>(&mut self, node: &Node<'a>, key: &str) -> &'a [Value] {
        match node.get(key) {
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.error(node.at(key), format!("\"{key}\" must be a list"));
                &[]
            }
            None => &[],
        }
    }

    fn strings(&mut self, node: &Node, key: &str) -> Vec<String> {
        let items = self.array(node, key);
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            match item.as_str() {
                Some(text) => out.push(text.to_owned()),
                None => {
                    self.error(pointer_push(&node.at(key), index), format!("each entry of \"{key}\" must be a string"))
                }
            }
        }
        out
    }

    fn unsigned(&mut self, node: &Node, key: &str, min: u64, max: u64) -> Option<u32> {
        let value = node.get(key)?;
        match value.as_u64().filter(|n| (min..=max).contains(n)) {
            Some(number) => u32::try_from(number).ok(),
            None => {
                self.error(node.at(key), format!("\"{key}\" must be a whole number from {min} to {max}"));
                None
            }
        }
    }

    fn boolean(&mut self, node: &Node, key: &str) -> bool {
        match node.get(key) {
            None => false,
            Some(Value::Bool(flag)) => *flag,
            Some(_) => {
                self.error(node.at(key), format!("\"{key}\" must be true or false"));
                false
            }
        }
    }

    fn choice<T: Copy>(&mut self, node: &Node, key: &str, options: &[(&str, T)]) -> Option<T> {
        let text = self.string(node, key, false)?;
        match options.iter().find(|(name, _)| *name == text) {
            Some((_, value)) => Some(*value),
            None => {
                let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
                let hint = closest(&text, names.iter().copied())
                    .map(|best| format!(" (did you mean \"{best}\"?)"))
                    .unwrap_or_default();
                self.error(
                    node.at(key),
                    format!("\"{text}\" is not a valid {key}{hint}; use one of {}", names.join(", ")),
                );
                None
            }
        }
    }

    fn schema(&mut self, node: &Node, key: &str, require_object: bool) -> Option<Schema> {
        let value = node.get(key)?;
        let at = node.at(key);
        match Schema::compile(value) {
            Ok(schema) => {
                if require_object && value.get("type").and_then(Value::as_str) != Some("object") {
                    self.error(
                        pointer_push(&at, "type"),
                        format!("\"{key}\" describes an object; give it \"type\": \"object\" and \"properties\""),
                    );
                }
                Some(schema)
            }
            Err(problems) => {
                self.problems.extend(problems.into_iter().map(|p| p.under(&at)));
                None
            }
        }
    }

    fn transform(&mut self, node: &Node, key: &str) -> Option<Transform> {
        let value = node.get(key)?;
        let at = node.at(key);
        match Transform::compile(value) {
            Ok(transform) => Some(transform),
            Err(problems) => {
                self.problems.extend(problems.into_iter().map(|p| p.under(&at)));
                None
            }
        }
    }

    fn condition(&mut self, node: &Node, key: &str) -> Option<Condition> {
        let value = node.get(key)?;
        let at = node.at(key);
        match Condition::compile(value) {
            Ok(condition) => Some(condition),
            Err(problems) => {
                self.problems.extend(problems.into_iter().map(|p| p.under(&at)));
                None
            }
        }
    }

    fn ext_refs(&mut self, node: &Node, key: &str) -> Vec<ExtRef> {
        let items = self.array(node, key);
        let mut out = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let pointer = pointer_push(&node.at(key), index);
            let Some(entry) = self.node(item, &pointer, "an ext_ref entry", EXT_REF_KEYS) else { continue };
            let label = self.string(&entry, "label", true);
            let desc = self.string(&entry, "desc", false);
            let uri = self.string(&entry, "uri", true);
            if let (Some(label), Some(uri)) = (label, uri) {
                out.push(ExtRef { label, desc, uri });
            }
        }
        out
    }

    fn definition(&mut self, document: &Value) -> Option<Definition> {
        let top = self.node(document, "", "a workflow definition", TOP_KEYS)?;
        match top.get("format") {
            Some(Value::String(format)) if format == FORMAT => {}
            Some(_) => self.error(top.at("format"), format!("\"format\" must be \"{FORMAT}\"")),
            None => self.error(top.at("format"), format!("\"format\" is required; write format: {FORMAT}")),
        }
        let key = self.slug(&top, "key", "the workflow key");
        let title = self.string(&top, "title", true);
        let description = self.string(&top, "description", false);
        let ext_ref = self.ext_refs(&top, "ext_ref");
        let roles = self.strings(&top, "roles");
        let fields = self.schema(&top, "fields", true);
        let tickets = self.tickets(&top);
        let (tasks_raw, task_index) = self.task_keys(&top);
        let tasks = self.tasks(&top, tasks_raw, &task_index, fields.as_ref());
        let mut transitions = self.transitions(&top, &task_index);
        let triggers = self.triggers(&top);
        // A bad key or title is already reported; the rest is still worth checking, and
        // the caller drops the definition because of that error.
        let (key, title) = (key.unwrap_or_default(), title.unwrap_or_default());
        let tasks = tasks?;
        // Transitions implied by depends_on.
        for (index, task) in tasks.iter().enumerate() {
            let Some(members) = &task.depends_on else { continue };
            if members.is_empty() {
                transitions.push(Transition {
                    from: Source::Start,
                    target: Target::Task(index),
                    when: None,
                    priority: 0,
                    on: On::Complete,
                    pointer: pointer_push(&task.pointer, "depends_on"),
                });
            }
            for (position, member) in members.iter().enumerate() {
                transitions.push(Transition {
                    from: Source::Task(*member),
                    target: Target::Task(index),
                    when: None,
                    priority: 0,
                    on: On::Complete,
                    pointer: pointer_push(&pointer_push(&task.pointer, "depends_on"), position),
                });
            }
        }
        let slots = tasks.len() + 1;
        let mut outgoing = vec![Vec::new(); slots];
        let mut outgoing_timeout = vec![Vec::new(); slots];
        for (index, transition) in transitions.iter().enumerate() {
            let slot = source_slot(transition.from);
            match transition.on {
                On::Complete => outgoing[slot].push(index),
                On::Timeout => outgoing_timeout[slot].push(index),
            }
        }
        for list in outgoing.iter_mut().chain(outgoing_timeout.iter_mut()) {
            list.sort_by_key(|&index| std::cmp::Reverse(transitions[index].priority));
        }
        let join_sets = tasks
            .iter()
            .enumerate()
            .map(|(index, task)| match (&task.depends_on, task.join) {
                (Some(members), _) if !members.is_empty() => Some(members.iter().map(|&m| Source::Task(m)).collect()),
                (_, Join::All) => Some(
                    transitions
                        .iter()
                        .filter(|t| t.target == Target::Task(index) && t.on == On::Complete)
                        .map(|t| t.from)
                        .collect(),
                ),
                _ => None,
            })
            .collect();
        let watchers = tasks.iter().enumerate().filter(|(_, t)| !t.watch.is_empty()).map(|(i, _)| i).collect();
        Some(Definition {
            key,
            title,
            description,
            ext_ref,
            roles,
            fields,
            tickets,
            tasks,
            transitions,
            triggers,
            source: document.clone(),
            task_index,
            outgoing,
            outgoing_timeout,
            join_sets,
            watchers,
        })
    }

    fn tickets(&mut self, top: &Node) -> Vec<TicketType> {
        let items = self.array(top, "tickets");
        let mut out: Vec<TicketType> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            let pointer = pointer_push(&top.at("tickets"), index);
            let Some(node) = self.node(item, &pointer, "a ticket type", TICKET_KEYS) else { continue };
            let key = self.slug(&node, "key", "the ticket type key");
            let title = self.string(&node, "title", true);
            let description = self.string(&node, "description", false);
            let fields = if node.get("fields").is_some() {
                self.schema(&node, "fields", true)
            } else {
                self.error(node.at("fields"), "\"fields\" is required: the JSON Schema of the ticket form, like {type: object, properties: {title: {type: string}}}");
                None
            };
            let data = self.transform(&node, "data");
            let role_access = self.strings(&node, "role_access");
            if let Some(key) = &key
                && let Some(first) = out.iter().find(|t| &t.key == key)
            {
                self.error(
                    node.at("key"),
                    format!(
                        "the ticket type key \"{key}\" is already used at {}; ticket type keys must be unique",
                        first.pointer
                    ),
                );
                continue;
            }
            if let (Some(key), Some(title), Some(fields)) = (key, title, fields) {
                out.push(TicketType { key, title, description, fields, data, role_access, pointer });
            }
        }
        out
    }

    /// First pass over tasks: their keys, so transitions and depends_on can refer to any of them.
    fn task_keys<'a>(&mut self, top: &Node<'a>) -> (&'a [Value], HashMap<String, usize>) {
        let items = self.array(top, "tasks");
        if top.get("tasks").is_none() {
            self.error(top.at("tasks"), "\"tasks\" is required: the list of tasks of the workflow");
        } else if items.is_empty() && top.get("tasks").is_some_and(Value::is_array) {
            self.error(top.at("tasks"), "a workflow needs at least one task");
        }
        self.tasks_listed = !items.is_empty();
        let mut index = HashMap::new();
        let mut first_pointer: HashMap<&str, String> = HashMap::new();
        for (position, item) in items.iter().enumerate() {
            let Some(key) = item.get("key").and_then(Value::as_str) else { continue };
            let pointer = pointer_push(&pointer_push(&top.at("tasks"), position), "key");
            if key == "start" {
                self.error(pointer, "\"start\" is reserved for where a workflow begins; name the task differently");
                continue;
            }
            if let Some(first) = first_pointer.get(key) {
                self.error(
                    pointer,
                    format!("the task key \"{key}\" is already used at {first}; task keys must be unique"),
                );
                continue;
            }
            first_pointer.insert(key, pointer);
            index.insert(key.to_owned(), index.len());
        }
        (items, index)
    }

    fn tasks(
        &mut self,
        top: &Node,
        items: &[Value],
        task_index: &HashMap<String, usize>,
        fields: Option<&Schema>,
    ) -> Option<Vec<Task>> {
        let mut out = Vec::with_capacity(items.len());
        let mut complete = true;
        for (position, item) in items.iter().enumerate() {
            let pointer = pointer_push(&top.at("tasks"), position);
            match self.task(item, &pointer, task_index, fields) {
                // Only tasks registered in the first pass keep their index.
                Some(task) if task_index.get(&task.key) == Some(&out.len()) => out.push(task),
                _ => complete = false,
            }
        }
        (complete && !out.is_empty()).then_some(out)
    }

    fn task(
        &mut self,
        item: &Value,
        pointer: &str,
        task_index: &HashMap<String, usize>,
        fields: Option<&Schema>,
    ) -> Option<Task> {
        let node = self.node(item, pointer, "a task", TASK_KEYS)?;
        let key = self.slug(&node, "key", "the task key");
        let title = self.string(&node, "title", true);
        let description = self.string(&node, "description", false);
        let ext_ref = self.ext_refs(&node, "ext_ref");
        let kind = if node.get("type").is_some() {
            self.choice(&node, "type", &TaskKind::ALL)
        } else {
            self.error(node.at("type"), "\"type\" is required: one of form, approval, http, http_async, ai");
            None
        };
        let input = self.transform(&node, "input");
        let input_schema = self.schema(&node, "input_schema", false);
        let output_schema = if kind == Some(TaskKind::Approval) {
            if node.get("output_schema").is_some() {
                self.error(
                    node.at("output_schema"),
                    "an approval task's output is always {decision: approved|rejected, comment}; remove output_schema",
                );
            }
            Schema::compile(&approval_output_schema()).ok()
        } else {
            self.schema(&node, "output_schema", true)
        };
        let output = match (self.transform(&node, "output"), kind) {
            (Some(output), _) => output,
            (None, Some(TaskKind::Approval)) | (None, None) => Transform::default(),
            (None, Some(_)) => {
                Transform::copy_fields(output_schema.as_ref().map(Schema::property_names).unwrap_or_default())
            }
        };
        let assign = node.get("assign").and_then(|value| self.assign(value, &node.at("assign"), fields));
        let due_seconds = match self.string(&node, "due", false) {
            Some(text) => match parse_duration(&text) {
                Ok(seconds) => Some(seconds),
                Err(message) => {
                    self.error(node.at("due"), message);
                    None
                }
            },
            None => None,
        };
        let depends_on = match node.get("depends_on") {
            None => None,
            Some(value) => {
                let names = self.strings(&node, "depends_on");
                if value.as_array().is_none_or(|items| items.len() != names.len()) {
                    self.graph_complete = false;
                }
                let mut members = Vec::with_capacity(names.len());
                for (position, name) in names.iter().enumerate() {
                    match task_index.get(name) {
                        Some(_) if Some(name) == key.as_ref() => {
                            self.graph_complete = false;
                            self.error(
                                pointer_push(&node.at("depends_on"), position),
                                "a task cannot depend on itself",
                            );
                        }
                        Some(&member) if members.contains(&member) => self.error(
                            pointer_push(&node.at("depends_on"), position),
                            format!("\"{name}\" is listed twice"),
                        ),
                        Some(&member) => members.push(member),
                        None => self.unknown_task(pointer_push(&node.at("depends_on"), position), name, task_index),
                    }
                }
                Some(members)
            }
        };
        let join = self.choice(&node, "join", &Join::ALL);
        if join == Some(Join::Any) && depends_on.as_ref().is_some_and(|m| !m.is_empty()) {
            self.error(node.at("join"), "depends_on always waits for all of its tasks; remove join: any");
        }
        let join =
            if depends_on.as_ref().is_some_and(|m| !m.is_empty()) { Join::All } else { join.unwrap_or_default() };
        let mut watch = Vec::new();
        for (position, entry) in self.strings(&node, "watch").iter().enumerate() {
            let at = pointer_push(&node.at("watch"), position);
            match entry.strip_prefix("data.").map(FieldPath::parse) {
                Some(Ok(path)) => watch.push(path),
                Some(Err(message)) => self.error(at, message),
                None => self.error(at, format!("watch entries name workflow data fields, like \"data.{entry}\"")),
            }
        }
        let when = self.condition(&node, "when");
        if when.is_some() && watch.is_empty() {
            self.error(node.at("when"), "a task's \"when\" decides whether a watched change re-activates it; add \"watch\" or move the condition to a transition");
        }
        let next = self.choice(&node, "next", &Next::ALL).unwrap_or_default();
        let max_runs = self.unsigned(&node, "max_runs", 1, 10_000).unwrap_or(DEFAULT_MAX_RUNS);
        let review = self.boolean(&node, "review");
        let prompt = self.string(&node, "prompt", false);
        let action = match node.get("action") {
            Some(value) => self.action(value, &node.at("action")),
            None => None,
        };
        if let Some(kind) = kind {
            match kind {
                TaskKind::Http | TaskKind::HttpAsync if node.get("action").is_none() => {
                    self.error(
                        node.at("action"),
                        format!("a {} task needs \"action\": {{method, url}}", kind.as_str()),
                    );
                }
                TaskKind::Form | TaskKind::Approval | TaskKind::Ai if node.get("action").is_some() => {
                    self.error(
                        node.at("action"),
                        format!("only http and http_async tasks have an \"action\"; this task is {}", kind.as_str()),
                    );
                }
                _ => {}
            }
            if kind == TaskKind::Ai && prompt.is_none() && node.get("prompt").is_none() {
                self.error(node.at("prompt"), "an ai task needs a \"prompt\" telling the model what to produce");
            }
            if kind != TaskKind::Ai && node.get("prompt").is_some() {
                self.error(node.at("prompt"), "only ai tasks have a \"prompt\"");
            }
            if kind.is_automated() && node.get("output_schema").is_none() {
                self.error(
                    node.at("output_schema"),
                    format!("a {} task needs an output_schema describing the result it produces", kind.as_str()),
                );
            }
            if review && !matches!(kind, TaskKind::Http | TaskKind::Ai) {
                self.error(node.at("review"), "review applies to http and ai tasks only");
            }
            if kind.is_automated() && node.get("assign").is_some() && !review {
                self.error(
                    node.at("assign"),
                    format!(
                        "a {} task is done by the engine; \"assign\" only makes sense with review: true",
                        kind.as_str()
                    ),
                );
            }
        }
        Some(Task {
            key: key?,
            title: title?,
            description,
            ext_ref,
            kind: kind?,
            input,
            input_schema,
            output_schema,
            output,
            assign,
            due_seconds,
            join,
            depends_on,
            watch,
            when,
            next,
            max_runs,
            review,
            prompt,
            action,
            pointer: pointer.to_owned(),
        })
    }

    fn unknown_task(&mut self, pointer: String, name: &str, task_index: &HashMap<String, usize>) {
        self.graph_complete = false;
        if !self.tasks_listed {
            return;
        }
        let hint = closest(name, task_index.keys().map(String::as_str))
            .map(|best| format!("; did you mean \"{best}\"?"))
            .unwrap_or_else(|| {
                let mut keys: Vec<&str> = task_index.keys().map(String::as_str).collect();
                keys.sort_unstable();
                format!("; the tasks are {}", keys.join(", "))
            });
        self.error(pointer, format!("there is no task \"{name}\"{hint}"));
    }

    fn assign(&mut self, value: &Value, pointer: &str, fields: Option<&Schema>) -> Option<Assign> {
        let node = self.node(value, pointer, "assign", ASSIGN_KEYS)?;
        let policy = self.choice(&node, "policy", &AssignPolicy::ALL).unwrap_or_default();
        let given: Vec<&str> =
            ["role", "users", "initiator", "field"].into_iter().filter(|k| node.get(k).is_some()).collect();
        if given.len() != 1 {
            self.error(pointer, "assign names exactly one of: role, users, initiator, field (e.g. {role: editor})");
            return None;
        }
        let target = match given[0] {
            "role" => AssignTarget::Role(self.string(&node, "role", true)?),
            "users" => {
                let users = self.strings(&node, "users");
                if users.is_empty() {
                    self.error(node.at("users"), "list at least one user email");
                    return None;
                }
                for (position, user) in users.iter().enumerate() {
                    if !user.contains('@') {
                        self.error(
                            pointer_push(&node.at("users"), position),
                            format!("\"{user}\" is not an email address"),
                        );
                    }
                }
                AssignTarget::Users(users)
            }
            "initiator" => {
                if !self.boolean(&node, "initiator") {
                    self.error(node.at("initiator"), "write initiator: true to assign the ticket's creator");
                    return None;
                }
                AssignTarget::Initiator
            }
            _ => {
                let text = self.string(&node, "field", true)?;
                match text.strip_prefix("data.").map(FieldPath::parse) {
                    Some(Ok(path)) => {
                        if fields.is_some_and(|schema| schema.declares(path.segments()) == crate::schema::Declared::No)
                        {
                            self.problems.push(Problem::warning(
                                node.at("field"),
                                format!("the workflow fields do not declare \"{path}\""),
                            ));
                        }
                        AssignTarget::Field(path)
                    }
                    Some(Err(message)) => {
                        self.error(node.at("field"), message);
                        return None;
                    }
                    None => {
                        self.error(
                            node.at("field"),
                            format!("field names a workflow data field holding an email, like \"data.{text}\""),
                        );
                        return None;
                    }
                }
            }
        };
        Some(Assign { target, policy })
    }

    fn action(&mut self, value: &Value, pointer: &str) -> Option<Action> {
        let node = self.node(value, pointer, "an action", ACTION_KEYS)?;
        let method = self.string(&node, "method", false).unwrap_or_else(|| DEFAULT_METHOD.to_owned()).to_uppercase();
        if !HTTP_METHODS.contains(&method.as_str()) {
            self.error(
                node.at("method"),
                format!("\"{method}\" is not a supported method; use GET, POST, PUT, PATCH or DELETE"),
            );
        }
        let url = self.string(&node, "url", true);
        if let Some(url) = &url
            && !(url.starts_with("https://") || url.starts_with("http://") || url.starts_with("{{"))
        {
            self.error(node.at("url"), format!("\"{url}\" must be an http:// or https:// URL"));
        }
        let mut headers = Vec::new();
        match node.get("headers") {
            None => {}
            Some(Value::Object(map)) => {
                for (name, value) in map {
                    match value.as_str() {
                        Some(text) => headers.push((name.clone(), text.to_owned())),
                        None => self.error(pointer_push(&node.at("headers"), name), "header values must be strings"),
                    }
                }
            }
            Some(_) => self.error(node.at("headers"), "headers must be an object of name: value"),
        }
        let timeout_seconds = self.unsigned(&node, "timeout_seconds", 1, 3600).unwrap_or(DEFAULT_TIMEOUT_SECONDS);
        let retry = match node.get("retry") {
            None => Retry::default(),
            Some(value) => {
                let at = node.at("retry");
                match self.node(value, &at, "retry", RETRY_KEYS) {
                    Some(retry_node) => {
                        if let Some(backoff) = self.string(&retry_node, "backoff", false)
                            && !BACKOFFS.contains(&backoff.as_str())
                        {
                            self.error(retry_node.at("backoff"), "backoff must be \"exponential\"");
                        }
                        let defaults = Retry::default();
                        Retry {
                            max_attempts: self
                                .unsigned(&retry_node, "max_attempts", 1, 100)
                                .unwrap_or(defaults.max_attempts),
                            initial_seconds: self
                                .unsigned(&retry_node, "initial_seconds", 0, 86_400)
                                .unwrap_or(defaults.initial_seconds),
                            max_seconds: self
                                .unsigned(&retry_node, "max_seconds", 1, 86_400)
                                .unwrap_or(defaults.max_seconds),
                        }
                    }
                    None => Retry::default(),
                }
            }
        };
        let on_error = self.choice(&node, "on_error", &OnError::ALL).unwrap_or_default();
        Some(Action { method, url: url?, headers, timeout_seconds, retry, on_error })
    }

    fn transitions(&mut self, top: &Node, task_index: &HashMap<String, usize>) -> Vec<Transition> {
        let items = self.array(top, "transitions");
        if top.get("transitions").is_some_and(|value| !value.is_array()) {
            self.graph_complete = false;
        }
        let mut out = Vec::with_capacity(items.len());
        for (position, item) in items.iter().enumerate() {
            let pointer = pointer_push(&top.at("transitions"), position);
            let Some(node) = self.node(item, &pointer, "a transition", TRANSITION_KEYS) else {
                self.graph_complete = false;
                continue;
            };
            let from = match self.string(&node, "from", true) {
                Some(name) if name == "start" => Some(Source::Start),
                Some(name) => match task_index.get(&name) {
                    Some(&index) => Some(Source::Task(index)),
                    None => {
                        self.unknown_task(node.at("from"), &name, task_index);
                        None
                    }
                },
                None => None,
            };
            let target = match (node.get("to"), node.get("status")) {
                (Some(_), Some(_)) => {
                    self.error(&pointer, "a transition has either \"to\" (a task) or \"status\" (COMPLETED, CANCELLED, ON_HOLD), not both");
                    None
                }
                (None, None) => {
                    self.error(
                        &pointer,
                        "a transition needs \"to\" (a task) or \"status\" (COMPLETED, CANCELLED, ON_HOLD)",
                    );
                    None
                }
                (Some(_), None) => match self.string(&node, "to", true) {
                    Some(name) if name == "start" => {
                        self.error(node.at("to"), "a transition cannot go to start; name a task");
                        None
                    }
                    Some(name) => match task_index.get(&name) {
                        Some(&index) => Some(Target::Task(index)),
                        None => {
                            self.unknown_task(node.at("to"), &name, task_index);
                            None
                        }
                    },
                    None => None,
                },
                (None, Some(_)) => self.choice(&node, "status", &EndStatus::ALL).map(Target::Status),
            };
            let when = self.condition(&node, "when");
            let priority = match node.get("priority") {
                None => 0,
                Some(value) => value.as_i64().unwrap_or_else(|| {
                    self.error(node.at("priority"), "priority must be a whole number (higher runs first)");
                    0
                }),
            };
            let on = self.choice(&node, "on", &On::ALL).unwrap_or_default();
            if on == On::Timeout && from == Some(Source::Start) {
                self.error(node.at("on"), "start has no due time; on: timeout needs a task with \"due\"");
            }
            match (from, target) {
                (Some(from), Some(target)) => out.push(Transition { from, target, when, priority, on, pointer }),
                _ => self.graph_complete = false,
            }
        }
        out
    }

    fn triggers(&mut self, top: &Node) -> Vec<Trigger> {
        let items = self.array(top, "triggers");
        let mut out: Vec<Trigger> = Vec::new();
        for (position, item) in items.iter().enumerate() {
            let pointer = pointer_push(&top.at("triggers"), position);
            let Some(node) = self.node(item, &pointer, "a trigger", TRIGGER_KEYS) else { continue };
            let kind = if node.get("type").is_some() {
                self.choice(&node, "type", &TriggerKind::ALL)
            } else {
                self.error(node.at("type"), "\"type\" is required: webhook, schedule or manual");
                None
            };
            let key = self.slug(&node, "key", "the trigger key");
            let filter = self.condition(&node, "filter");
            let data = self.transform(&node, "data");
            let cron = self.string(&node, "cron", false);
            let timezone = self.string(&node, "timezone", false);
            if kind == Some(TriggerKind::Schedule) && cron.is_none() {
                self.error(node.at("cron"), "a schedule trigger needs \"cron\", like \"0 9 * * MON-FRI\"");
            }
            if kind != Some(TriggerKind::Schedule) && (node.get("cron").is_some() || node.get("timezone").is_some()) {
                self.error(&pointer, "cron and timezone belong to schedule triggers");
            }
            if let Some(key) = &key
                && out.iter().any(|t| &t.key == key)
            {
                self.error(node.at("key"), format!("the trigger key \"{key}\" is used twice"));
                continue;
            }
            if let (Some(kind), Some(key)) = (kind, key) {
                out.push(Trigger { kind, key, filter, data, cron, timezone, pointer });
            }
        }
        out
    }
}

/// Keys and slugs: lowercase letters, digits, `-` and `_`, starting with a letter or digit.
pub fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Parses an ISO 8601 duration of weeks, days, hours, minutes and seconds (`P2D`, `PT4H30M`).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let invalid =
        || format!("\"{text}\" is not an ISO 8601 duration; write e.g. P2D (2 days), PT4H (4 hours) or P1DT12H");
    let rest = text.strip_prefix('P').ok_or_else(invalid)?;
    if rest.is_empty() || rest == "T" {
        return Err(invalid());
    }
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return Err(invalid()),
        None => (rest, None),
    };
    let mut total: u64 = 0;
    let mut add = |part: &str, units: &[(char, u64)]| -> Result<(), String> {
        let mut number = String::new();
        let mut allowed = units.iter();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            if c == 'M' && units[0].0 == 'W' || c == 'Y' {
                return Err(format!(
                    "\"{text}\": months and years have no fixed length; write days instead (e.g. P30D)"
                ));
            }
            let unit = allowed.by_ref().find(|(name, _)| *name == c).ok_or_else(invalid)?;
            let value: u64 = number.parse().map_err(|_| invalid())?;
            total = total.saturating_add(value.saturating_mul(unit.1));
            number.clear();
        }
        if number.is_empty() { Ok(()) } else { Err(invalid()) }
    };
    add(date, &[('W', 7 * 86_400), ('D', 86_400)])?;
    if let Some(time) = time {
        add(time, &[('H', 3_600), ('M', 60), ('S', 1)])?;
    }
    Ok(total)
}

/// The closest candidate by edit distance, if near enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|candidate| (edit_distance(word, candidate), candidate))
        .filter(|(distance, candidate)| *distance > 0 && *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edit distance over characters, counting a swap of two neighbours as one edit
/// (optimal string alignment), so "titel" is one typo away from "title".
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before: Vec<usize> = Vec::new();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            let mut best = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
            if i > 0 && j > 0 && *ca == b[j - 1] && a[i - 1] == *cb {
                best = best.min(before[j - 1] + 1);
            }
            current[j + 1] = best;
        }
        before = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests;
