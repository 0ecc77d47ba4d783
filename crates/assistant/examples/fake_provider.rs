//! Serves the fake model on `127.0.0.1:PORT` for a harness run without a real model:
//! it plays the Document Edit conversation (a plan, then the proposal) once per
//! case, whatever the case asks. A run against it measures the harness, not a model.
//!
//! `cargo run -p ticketflower-assistant --example fake_provider -- [CASES]` prints the
//! base URL for `TICKETFLOWER_LLM_BASE_URL` and serves until Ctrl-C.

use ticketflower_assistant::fake::{FakeProvider, scripts};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let cases: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(12);
    let script = (0..cases).flat_map(|_| scripts::document_edit());
    let fake = FakeProvider::start(script).await?;
    println!("{}", fake.base_url);
    tokio::signal::ctrl_c().await?;
    eprintln!("{} replies left unplayed", fake.remaining());
    Ok(())
}
