#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `ticketflower bench` on a few instances: every example runs to COMPLETED
//! through the store (the bench refuses to report otherwise), on SQLite and,
//! when `TICKETFLOWER_TEST_POSTGRES_URL` is set, on PostgreSQL. Rates are not
//! asserted: the machine is shared and noisy.

use serde_json::Value;
use std::process::Command;

#[test]
fn every_example_is_run_to_completion_through_the_store_on_each_database() {
    let scratch = tempfile::tempdir().unwrap();
    let sqlite = scratch.path().join("bench.db");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ticketflower"));
    command.args(["bench", "--seconds", "0.2", "--instances", "8", "--concurrency", "2", "--json", "--sqlite-path"]);
    command.arg(&sqlite).current_dir(scratch.path()).env_remove("TICKETFLOWER_BENCH_POSTGRES_URL");
    let postgres = std::env::var("TICKETFLOWER_TEST_POSTGRES_URL").ok();
    match &postgres {
        Some(url) => command.args(["--only", "sqlite,postgres,examples", "--postgres", url]),
        None => command.args(["--only", "sqlite,examples"]),
    };
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!(report["in_memory"], serde_json::json!([]), "`--only` leaves the in-memory figures out");
    let persisted = report["persisted"].as_array().unwrap();
    let databases: Vec<&str> = persisted.iter().map(|p| p["database"].as_str().unwrap()).collect();
    assert_eq!(databases, if postgres.is_some() { vec!["sqlite", "postgres"] } else { vec!["sqlite"] });
    for figure in persisted {
        assert_eq!(figure["instances"], 8, "Document Edit: {figure}");
        assert!(figure["completions_per_second"].as_f64().unwrap() > 0.0);
        assert!(figure["raw_transactions_per_second"].as_f64().unwrap() > 0.0);
        // The steps of each path through the example's scripted outputs
        // (examples/data/*.outputs.json), as `simulate` walks them.
        let examples: Vec<(&str, u64, u64)> = figure["examples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["example"].as_str().unwrap(),
                    e["instances"].as_u64().unwrap(),
                    e["completions_per_instance"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(examples, [("venue-map", 8, 9), ("customer-support", 8, 6), ("order-fulfilment", 8, 5)]);
    }
}

#[test]
fn the_other_examples_are_left_out_when_only_a_database_is_named() {
    let scratch = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ticketflower"))
        .args(["bench", "--seconds", "0.2", "--instances", "2", "--concurrency", "2", "--json", "--only", "sqlite"])
        .arg("--sqlite-path")
        .arg(scratch.path().join("bench.db"))
        .env_remove("TICKETFLOWER_BENCH_POSTGRES_URL")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["persisted"][0]["examples"], serde_json::json!([]));
}
