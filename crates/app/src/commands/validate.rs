//! `ticketflower validate FILE...`
//!
//! Every file is checked, even after one fails: `FILE: valid` and any warnings
//! for a valid file, one `FILE: /json/pointer: message` line per problem
//! otherwise, and exit code 1 when any file has errors or cannot be read.

use std::path::PathBuf;
use std::process::ExitCode;

pub fn run(files: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for file in files {
        let name = file.display();
        let loaded = match super::load_file(file) {
            Ok(loaded) => loaded,
            Err(error) => {
                // The context of `error` repeats the file name; the cause is what helps.
                println!("{name}: cannot read the file: {}", error.root_cause());
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
