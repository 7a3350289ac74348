//! Work outside a request keeps the server awake by holding a guard.
//!
//! Run with
//!
//! ```text
//! cargo run --example background
//! curl -X POST http://127.0.0.1:8080/reindex
//! ```
//!
//! The request returns at once, but the job it starts runs for 8 s while
//! holding `idle_runtime::keep_awake()`. The idle timeout is 3 s: the server
//! exits 3 s after the job ends, not 3 s after the request. A SIGTERM during
//! the job waits for it (up to `grace`, 10 s) before exiting.

use std::time::Duration;

use axum::{routing::post, Router};

#[idle_runtime::idle_server(timeout = "3s", grace = "10s", addr = "127.0.0.1:8080")]
async fn main() -> Router {
    Router::new().route("/reindex", post(reindex))
}

async fn reindex() -> &'static str {
    // Take the guard before spawning and move it into the task: it is
    // dropped however the task ends (done, panicked, aborted).
    let guard = idle_runtime::keep_awake();
    tokio::spawn(async move {
        let _guard = guard;
        for step in 1..=8 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            eprintln!("reindex: step {step} of 8");
        }
        eprintln!("reindex: done; the idle clock starts now");
    });
    "reindex started\n"
}
