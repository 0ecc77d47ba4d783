//! `ticketflower validate FILE...`

use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for file in files {
        let name = file.display();
        let loaded = match super::load_file(file) {
            Ok(loaded) => loaded,
            Err(error) => {
                println!("{name}: {error:#}");
                failed = true;
                continue;
            }
        };
        if loaded.definition.is_some() {
            println!("{name}: valid");
        } else {
            failed = true;
        }
        for problem in &loaded.problems {
            println!("{name}: {problem}");
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
