//! The tools the model may call, and how their arguments are read.
//!
//! Six tools, no more: the model can ask, plan, propose, simulate and read the
//! company's workflows. Saving, activating and deleting are not tools — they are
//! the user's buttons — so a model that "tries" to activate calls a tool that does
//! not exist and is told so.

use crate::provider::ToolSpec;
use serde_json::{Map, Value, json};
use ticketflower_core::document::{self, Syntax};
use ticketflower_core::problem::describe;

pub const ASK_CLARIFYING_QUESTION: &str = "ask_clarifying_question";
pub const PROPOSE_PLAN: &str = "propose_plan";
pub const PROPOSE_WORKFLOW: &str = "propose_workflow";
pub const SIMULATE_WORKFLOW: &str = "simulate_workflow";
pub const GET_WORKFLOW: &str = "get_workflow";
pub const LIST_WORKFLOWS: &str = "list_workflows";

/// Every tool's name, in the order they are offered.
pub const NAMES: [&str; 6] =
    [ASK_CLARIFYING_QUESTION, PROPOSE_PLAN, PROPOSE_WORKFLOW, SIMULATE_WORKFLOW, GET_WORKFLOW, LIST_WORKFLOWS];

/// The tools as offered to the model.
pub fn specs() -> Vec<ToolSpec> {
    let document = json!({
        "description": "The complete definition document (format: ticketflower/v1), as a JSON object or as YAML/JSON text.",
        "type": ["object", "string"]
    });
    vec![
        ToolSpec {
            name: ASK_CLARIFYING_QUESTION.into(),
            description: "Ask the user one question when something essential is unknown (who does a step, what happens on a rejection). \
                          The user's answer comes back as their next message. Do not ask what you can reasonably assume."
                .into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "question": {"type": "string", "description": "One question, in plain words."},
                    "options": {"type": "array", "items": {"type": "string"}, "description": "Optional short answers the user can pick."}
                },
                "required": ["question"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: PROPOSE_PLAN.into(),
            description: "Before building a new workflow, propose its steps in words. The user approves, changes or rejects the plan; \
                          build the full definition only after approval."
                .into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "summary": {"type": "string", "description": "One or two sentences: what the workflow does."},
                    "steps": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "properties": {
                                "title": {"type": "string"},
                                "detail": {"type": "string", "description": "Who does it, what happens next."}
                            },
                            "required": ["title"]
                        }
                    }
                },
                "required": ["steps"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: PROPOSE_WORKFLOW.into(),
            description: "Propose a complete workflow definition. TicketFlower validates it and simulates it on sample data; \
                          if there are problems you get them back (each with a JSON Pointer) to fix and propose again. \
                          To change an existing workflow, keep its key: the user sees a diff against its current version."
                .into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "document": document,
                    "summary": {"type": "string", "description": "A plain-English summary of the workflow for the owner, a few sentences."},
                    "request_words": {
                        "type": "object",
                        "description": "For each task key, the user's own words (quoted exactly from their messages) that asked for the task. Leave a task out when the user did not ask for it, and say in the summary why you added it.",
                        "additionalProperties": {"type": "string"}
                    }
                },
                "required": ["document", "summary"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: SIMULATE_WORKFLOW.into(),
            description: "Run a definition without side effects on ticket data and scripted task outputs, and see the path taken, \
                          the data and any errors. Without a document, simulates your latest proposal; without data or outputs, uses samples."
                .into(),
            input_schema: json!({
                "type": "object",
                "properties": {
                    "document": document,
                    "key": {"type": "string", "description": "Simulate the company's existing workflow with this key instead."},
                    "ticket_type": {"type": "string"},
                    "data": {"type": "object", "description": "The ticket's form data."},
                    "outputs": {"type": "object", "description": "Task key → list of outputs, consumed in activation order; approvals take {decision, comment}."}
                },
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: GET_WORKFLOW.into(),
            description: "Read one of the company's workflows: its latest version's definition document.".into(),
            input_schema: json!({
                "type": "object",
                "properties": {"key": {"type": "string"}},
                "required": ["key"],
                "additionalProperties": false
            }),
        },
        ToolSpec {
            name: LIST_WORKFLOWS.into(),
            description: "List the company's workflows: key, title, latest version and its status.".into(),
            input_schema: json!({"type": "object", "properties": {}, "additionalProperties": false}),
        },
    ]
}

/// A tool's arguments as an object; anything else is a problem to tell the model.
pub fn object(arguments: &Result<Value, String>) -> Result<&Map<String, Value>, String> {
    match arguments {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("the arguments must be a JSON object, not {}", describe(other))),
        Err(raw) => Err(format!(
            "the arguments are not valid JSON ({}); send the whole call again with valid JSON arguments",
            json_error(raw)
        )),
    }
}

fn json_error(raw: &str) -> String {
    match serde_json::from_str::<Value>(raw) {
        Err(error) => error.to_string(),
        Ok(_) => "unexpected value".to_owned(),
    }
}

/// A required string argument.
pub fn string<'a>(arguments: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match arguments.get(name) {
        Some(Value::String(text)) if !text.trim().is_empty() => Ok(text),
        Some(Value::String(_)) => Err(format!("\"{name}\" must not be empty")),
        Some(other) => Err(format!("\"{name}\" must be a string, not {}", describe(other))),
        None => Err(format!("\"{name}\" is required")),
    }
}

/// An optional string argument.
pub fn optional_string<'a>(arguments: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match arguments.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => string(arguments, name).map(Some),
    }
}

/// A definition document given as an object or as YAML/JSON text.
pub fn document(value: &Value) -> Result<Value, String> {
    match value {
        Value::Object(_) => Ok(value.clone()),
        Value::String(text) => {
            let parsed = document::parse(text, Syntax::detect(None, text))
                .map_err(|problem| format!("the document text does not parse: {}", problem.message))?;
            if parsed.is_object() {
                Ok(parsed)
            } else {
                Err(format!("the document must be an object (a mapping), not {}", describe(&parsed)))
            }
        }
        other => Err(format!("\"document\" must be an object or YAML text, not {}", describe(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_is_offered_once_with_an_object_schema() {
        let specs = specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, NAMES);
        for spec in &specs {
            assert_eq!(spec.input_schema["type"], "object", "{}", spec.name);
            ticketflower_core::schema::Schema::compile(&spec.input_schema).unwrap();
        }
    }

    #[test]
    fn malformed_arguments_say_what_is_wrong() {
        let error = object(&Err("{\"document\": {\"key\": ".into())).unwrap_err();
        assert!(error.contains("not valid JSON") && error.contains("EOF"), "{error}");
        assert_eq!(object(&Ok(json!([1]))).unwrap_err(), "the arguments must be a JSON object, not an array");
    }

    #[test]
    fn documents_come_as_objects_or_text() {
        assert_eq!(document(&json!({"key": "a"})).unwrap(), json!({"key": "a"}));
        assert_eq!(document(&json!("key: a\ntitle: A\n")).unwrap(), json!({"key": "a", "title": "A"}));
        assert!(document(&json!("- a\n- b\n")).unwrap_err().contains("not an array"));
        assert!(document(&json!("key: [")).unwrap_err().contains("does not parse"));
        assert!(document(&json!(3)).unwrap_err().contains("not a number"));
    }
}
