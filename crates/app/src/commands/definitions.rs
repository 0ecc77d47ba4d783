//! `ticketflower import` and `ticketflower export` against the configured database.

use crate::settings::Settings;
use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;
use ticketflower_core::Problem;
use ticketflower_core::definition::Definition;
use ticketflower_store::StoreError;

pub async fn import(settings: &Settings, file: &Path, company: &str, activate: bool) -> anyhow::Result<ExitCode> {
    let name = file.display();
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {name}"))?;
    let syntax = ticketflower_core::document::Syntax::detect(file.file_name().and_then(|n| n.to_str()), &text);
    let document = match ticketflower_core::document::parse(&text, syntax) {
        Ok(document) => document,
        Err(problem) => {
            println!("{name}: {problem}");
            return Ok(ExitCode::FAILURE);
        }
    };
    // Checked before connecting, so a refused file needs no database; a
    // missing company is created in the import's own transaction, so a file
    // refused there leaves nothing behind either.
    let loaded = Definition::load(&document);
    if loaded.definition.is_none() {
        return Ok(not_imported(&name, &loaded.problems));
    }
    let store = settings.connect().await?;
    match store.import_into_company(company, &document, None).await {
        Ok((company_id, created, imported)) => {
            if created {
                println!("created company \"{company}\"");
            }
            for warning in &imported.warnings {
                println!("{name}: {warning}");
            }
            let what = if imported.created_definition { "new workflow" } else { "new version of" };
            println!("imported {name}: {what} {} version {} (DRAFT)", imported.key, imported.version);
            if activate {
                store.activate_version(company_id, &imported.key, imported.version).await?;
                println!("activated {} version {}", imported.key, imported.version);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(StoreError::Invalid(problems)) => Ok(not_imported(&name, &problems)),
        Err(error) => Err(error.into()),
    }
}

/// Prints every problem of a refused file, then says it was not imported.
fn not_imported(name: &impl std::fmt::Display, problems: &[Problem]) -> ExitCode {
    for problem in problems {
        println!("{name}: {problem}");
    }
    println!("{name}: not imported");
    ExitCode::FAILURE
}

pub async fn export(
    settings: &Settings,
    key: &str,
    company: &str,
    version: Option<i64>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let store = settings.connect().await?;
    let Some(company_id) = store.company_by_name(company).await? else {
        eprintln!("error: there is no company named \"{company}\"");
        return Ok(ExitCode::FAILURE);
    };
    match store.export_definition(company_id, key, version).await {
        Ok(document) => {
            if json {
                println!("{}", serde_json::to_string_pretty(&document)?);
            } else {
                print!("{}", serde_norway::to_string(&document)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(StoreError::NotFound(_)) => {
            let which = version.map(|v| format!(" version {v}")).unwrap_or_default();
            eprintln!("error: company \"{company}\" has no workflow \"{key}\"{which}");
            Ok(ExitCode::FAILURE)
        }
        Err(error) => Err(error.into()),
    }
}
