//! The server that `tests/adaptive.rs` spawns: the adaptive timeout with the
//! smallest cold-start cost (1 s), so that break-even is a 1 s timeout, and
//! the status route to read the timeout in force. The state file comes from
//! `IDLE_STATE`, set by each test.
//!
//! Routes:
//! - `GET /` → `hello`
//! - `GET /_idle` → the status as JSON (never counts as activity)

use axum::routing::get;
use axum::Router;

#[idle_runtime::idle_server(
    timeout = "auto",
    cold_start_cost = "1s",
    grace = "1s",
    addr = "127.0.0.1:0",
    status = "/_idle"
)]
async fn main() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}
