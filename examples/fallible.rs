//! Setup that can fail: return `Result<Router, E>` and an `Err` becomes one
//! line on stderr and exit code 1, before anything is bound.
//!
//! Run with
//!
//! ```text
//! cargo run --example fallible                                  # serves the default greeting
//! GREETING_FILE=/etc/hostname cargo run --example fallible      # serves the file's text
//! GREETING_FILE=/nonexistent cargo run --example fallible; echo $?
//! ```
//!
//! The last one prints
//! `idle: error: setup failed: cannot read greeting from /nonexistent: No such file or directory (os error 2)`
//! and exits 1: a platform with an on-failure restart policy retries it,
//! which is what you want when a dependency is not ready yet.

use std::fmt;
use std::sync::Arc;

use axum::{routing::get, Router};

/// Why setup failed. Any `E: Display` (or `Debug`) works, `anyhow::Error`
/// included.
#[derive(Debug)]
struct SetupError {
    path: String,
    source: std::io::Error,
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot read greeting from {}: {}",
            self.path, self.source
        )
    }
}

#[idle_runtime::idle_server(timeout = "10s", addr = "127.0.0.1:8080")]
async fn main() -> Result<Router, SetupError> {
    let greeting = match std::env::var("GREETING_FILE") {
        Ok(path) => tokio::fs::read_to_string(&path)
            .await
            .map_err(|source| SetupError { path, source })?,
        Err(_) => "hello from a fallible setup\n".to_owned(),
    };
    let greeting: Arc<str> = greeting.into();
    Ok(Router::new().route("/", get(move || async move { greeting.to_string() })))
}
