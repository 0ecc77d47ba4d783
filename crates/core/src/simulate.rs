//! Simulation (SPEC §4): running a definition without side effects.
//!
//! A ticket's data and a script of task outputs drive the real engine rules
//! ([`crate::engine`]) in memory. Each step completes the earliest open run that
//! has an output: the next scripted one for its task, or — for `http`,
//! `http_async` and `ai` tasks without a script — a sample generated from its
//! `output_schema`. The run stops when nothing can progress.

use crate::definition::{Definition, TaskKind, approval_output_schema};
use crate::engine::{self, EngineError, Event, Instance, InstanceStatus, NewInstance, RunSeq, Timestamp};
use crate::sample::sample;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Outputs per task key, consumed in activation order.
#[derive(Debug, Clone, Default)]
pub struct Script {
    outputs: BTreeMap<String, VecDeque<Value>>,
}

impl Script {
    /// Reads `{"task": [output, ...]}` (a single output may stand without a list).
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let Some(map) = value.as_object() else {
            return Err("the outputs file must be an object of task key → list of outputs".into());
        };
        let outputs = map
            .iter()
            .map(|(key, outputs)| {
                let list = match outputs {
                    Value::Array(items) => items.iter().cloned().collect(),
                    single => VecDeque::from([single.clone()]),
                };
                (key.clone(), list)
            })
            .collect();
        Ok(Self { outputs })
    }

    pub fn push(&mut self, task: &str, output: Value) {
        self.outputs.entry(task.to_owned()).or_default().push_back(output);
    }

    /// Task keys the script names that the definition does not have.
    pub fn unknown_tasks<'a>(&'a self, definition: &Definition) -> Vec<&'a str> {
        self.outputs.keys().filter(|key| definition.task(key).is_none()).map(String::as_str).collect()
    }
}

/// Sample inputs for a definition: for its first ticket type (or none), data
/// generated from that type's form, and a script giving each person's task
/// one output generated from its `output_schema` (approvals decide with their
/// fixed schema's first values). Automated steps need no script: the
/// simulation samples them itself.
pub fn sample_inputs(definition: &Definition) -> (Option<String>, Value, Script) {
    let ticket = definition.tickets.first();
    let data = ticket.map(|t| sample(t.fields.source())).unwrap_or_else(|| json!({}));
    let mut script = Script::default();
    for task in definition.tasks.iter().filter(|t| !t.kind.is_automated()) {
        let schema = match task.kind {
            TaskKind::Approval => approval_output_schema(),
            _ => task.output_schema.as_ref().map(|s| s.source().clone()).unwrap_or(json!({"type": "object"})),
        };
        script.push(&task.key, sample(&schema));
    }
    (ticket.map(|t| t.key.clone()), data, script)
}

/// The script as `{task: [outputs]}`, the shape [`Script::from_value`] reads.
impl Script {
    pub fn to_value(&self) -> Value {
        Value::Object(
            self.outputs
                .iter()
                .map(|(key, outputs)| (key.clone(), Value::Array(outputs.iter().cloned().collect())))
                .collect(),
        )
    }
}

/// An error the simulation met: a workflow fault or a rejected scripted output.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct SimulationError {
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
}

/// One completed task in the simulation.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub task: String,
    pub output: Value,
    pub generated: bool,
    /// Workflow data after the step.
    pub data: Value,
    /// Tasks this step activated.
    pub activated: Vec<String>,
}

/// What a simulation produced.
#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    pub status: InstanceStatus,
    /// Task keys in activation order.
    pub path: Vec<String>,
    pub data: Value,
    pub errors: Vec<SimulationError>,
    /// Task keys still open at the end.
    pub open: Vec<String>,
    #[serde(skip)]
    pub steps: Vec<Step>,
    #[serde(skip)]
    pub initial_data: Value,
}

/// Upper bound on steps; `max_runs` normally stops loops long before.
const MAX_STEPS: usize = 100_000;

/// Runs `definition` on a ticket of `ticket_type` (or, with `None`, on `data` as the initial workflow data).
pub fn simulate(
    definition: &Definition,
    ticket_type: Option<&str>,
    data: Value,
    mut script: Script,
) -> Result<Simulation, EngineError> {
    let now: Timestamp = 0;
    let ticket_type = ticket_type.or_else(|| definition.tickets.first().map(|t| t.key.as_str()));
    let new = NewInstance {
        ticket_type,
        submitted: data,
        ticket_id: json!(1),
        creator: Some("requester@example.com".into()),
        meta: json!({"id": 1, "definition": definition.key, "simulation": true}),
    };
    let (mut instance, first) = engine::start(definition, new, now)?;
    let mut errors: Vec<SimulationError> = Vec::new();
    record_faults(&first, &mut errors);
    let initial_data = instance.data.clone();
    let mut steps = Vec::new();
    let mut blocked: BTreeSet<RunSeq> = BTreeSet::new();
    while steps.len() < MAX_STEPS && instance.status == InstanceStatus::InProgress {
        let Some((seq, output, generated)) = next_output(definition, &instance, &mut script, &blocked) else {
            break;
        };
        let task_key = definition.tasks[instance.runs[seq as usize].task].key.clone();
        match engine::decide(definition, &instance, &Event::Complete { seq, output: output.clone() }, now) {
            Ok(decision) => {
                record_faults(&decision, &mut errors);
                let activated = decision.new_runs.iter().map(|r| definition.tasks[r.task].key.clone()).collect();
                instance.apply_owned(decision);
                steps.push(Step { task: task_key, output, generated, data: instance.data.clone(), activated });
            }
            Err(EngineError::InvalidOutput(problems)) => {
                let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                errors.push(SimulationError {
                    kind: "INVALID_OUTPUT".into(),
                    message: format!(
                        "the output for task \"{task_key}\" does not match its output_schema: {}",
                        list.join("; ")
                    ),
                });
                blocked.insert(seq);
            }
            Err(other) => {
                errors.push(SimulationError { kind: "ENGINE".into(), message: other.to_string() });
                blocked.insert(seq);
            }
        }
    }
    if steps.len() >= MAX_STEPS {
        errors.push(SimulationError { kind: "SIMULATION".into(), message: format!("stopped after {MAX_STEPS} steps") });
    }
    Ok(Simulation {
        status: instance.status,
        path: instance.runs.iter().map(|r| definition.tasks[r.task].key.clone()).collect(),
        data: instance.data.clone(),
        errors,
        open: instance.open_runs().map(|r| definition.tasks[r.task].key.clone()).collect(),
        steps,
        initial_data,
    })
}

fn record_faults(decision: &engine::Decision, errors: &mut Vec<SimulationError>) {
    errors.extend(
        decision
            .faults
            .iter()
            .map(|fault| SimulationError { kind: fault.kind.as_str().to_owned(), message: fault.message.clone() }),
    );
}

/// The earliest open run with an output available.
fn next_output(
    definition: &Definition,
    instance: &Instance,
    script: &mut Script,
    blocked: &BTreeSet<RunSeq>,
) -> Option<(RunSeq, Value, bool)> {
    for run in instance.open_runs() {
        if blocked.contains(&run.seq) {
            continue;
        }
        let task = &definition.tasks[run.task];
        if let Some(output) = script.outputs.get_mut(&task.key).and_then(VecDeque::pop_front) {
            return Some((run.seq, output, false));
        }
        if task.kind.is_automated() {
            let schema = task.output_schema.as_ref().map(|s| s.source().clone()).unwrap_or(json!({"type": "object"}));
            return Some((run.seq, sample(&schema), true));
        }
    }
    None
}
