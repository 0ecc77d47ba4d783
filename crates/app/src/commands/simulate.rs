//! `ticketflower simulate FILE --data DATA.json [--outputs OUTPUTS.json] [--json]`

use std::path::PathBuf;
use std::process::ExitCode;
use ticketflower_core::engine::EngineError;
use ticketflower_core::simulate::{Script, simulate};

pub struct Args {
    pub file: PathBuf,
    pub ticket: Option<String>,
    pub data: PathBuf,
    pub outputs: Option<PathBuf>,
    pub json: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let name = args.file.display();
    let loaded = super::load_file(&args.file)?;
    let Some(definition) = loaded.definition else {
        for problem in &loaded.problems {
            eprintln!("{name}: {problem}");
        }
        return Ok(ExitCode::FAILURE);
    };
    let data = super::read_json(&args.data)?;
    let script = match &args.outputs {
        Some(path) => Script::from_value(&super::read_json(path)?).map_err(anyhow::Error::msg)?,
        None => Script::default(),
    };
    let unknown = script.unknown_tasks(&definition);
    if !unknown.is_empty() {
        anyhow::bail!("the outputs name tasks the workflow does not have: {}", unknown.join(", "));
    }
    if let Some(ticket) = &args.ticket
        && definition.ticket_type(ticket).is_none()
    {
        let known: Vec<&str> = definition.tickets.iter().map(|t| t.key.as_str()).collect();
        anyhow::bail!("there is no ticket type \"{ticket}\"; the ticket types are {}", known.join(", "));
    }
    let simulation = match simulate(&definition, args.ticket.as_deref(), data, script) {
        Ok(simulation) => simulation,
        Err(EngineError::InvalidTicket(problems)) => {
            for problem in problems {
                eprintln!("{}: {problem}", args.data.display());
            }
            return Ok(ExitCode::FAILURE);
        }
        Err(error) => anyhow::bail!("{error}"),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&simulation)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("Simulating {} ({})", definition.title, definition.key);
    println!("  start with data {}", compact(&simulation.initial_data));
    for (number, step) in simulation.steps.iter().enumerate() {
        let origin = if step.generated { " (generated sample)" } else { "" };
        println!("{:>3}. {} completed with {}{origin}", number + 1, step.task, compact(&step.output));
        if !step.activated.is_empty() {
            println!("     → opened {}", step.activated.join(", "));
        }
        println!("     data: {}", compact(&step.data));
    }
    for error in &simulation.errors {
        println!("  error {}: {}", error.kind, error.message);
    }
    println!("Status: {}", simulation.status);
    println!("Path: {}", simulation.path.join(" → "));
    if !simulation.open.is_empty() {
        println!("Still open (no scripted output): {}", simulation.open.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

fn compact(value: &serde_json::Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 160 { format!("{}…", text.chars().take(160).collect::<String>()) } else { text }
}
