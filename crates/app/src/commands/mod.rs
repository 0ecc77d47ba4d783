//! One module per subcommand; each returns the process exit code.

pub mod assistant_eval;
pub mod bench;
pub mod bench_web;
pub mod definitions;
mod http_load;
pub mod people;
pub mod serve;
pub mod simulate;
pub mod validate;

use anyhow::Context;
use std::path::Path;
use ticketflower_core::definition::{Definition, Loaded};
use ticketflower_core::document::Syntax;

/// Reads and loads a definition file.
pub fn load_file(path: &Path) -> anyhow::Result<Loaded> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.file_name().and_then(|n| n.to_str());
    Ok(Definition::load_str(&text, Syntax::detect(name, &text)))
}

/// Reads a JSON file into a value.
pub fn read_json(path: &Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}
