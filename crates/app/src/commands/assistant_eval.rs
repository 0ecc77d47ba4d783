//! `ticketflower assistant-eval CASES_DIR [--json] [--max-turns K]`
//!
//! Plays every case of CASES_DIR against the configured provider
//! (`TICKETFLOWER_LLM_*`) and reports each case and the total (see
//! `ticketflower_assistant::eval` and `examples/assistant-eval/README.md`).
//! Exit code 0 when every case passed, 1 when any failed, 2 when the run could
//! not start (no provider, a bad case file).

use std::path::PathBuf;
use std::process::ExitCode;
use ticketflower_assistant::designer::{Designer, DesignerOptions};
use ticketflower_assistant::{Provider, ProviderError, eval};

pub struct Args {
    pub cases_dir: PathBuf,
    pub json: bool,
    pub max_turns: u32,
}

pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let provider = Provider::from_env()?.ok_or_else(ProviderError::no_provider)?;
    let cases = eval::case::load_dir(&args.cases_dir)?;
    let designer = Designer::new(provider, DesignerOptions::default());
    let count = cases.len();
    let mut done = 0;
    // Progress goes to stderr, so `--json` output stays one object on stdout.
    let mut progress = |result: &eval::CaseResult| {
        done += 1;
        let verdict = if result.passed { "passed" } else { "failed" };
        eprintln!("[{done}/{count}] {}: {verdict} ({:.1} s)", result.name, result.seconds);
    };
    let report = eval::run(&designer, &cases, args.max_turns, &mut progress).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(if report.all_passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
