//! The smallest idle server: answers `hello`, exits 10 seconds after the last
//! request.
//!
//! Run with
//!
//! ```text
//! cargo run --example hello
//! ```
//!
//! then, in another terminal, `curl http://127.0.0.1:8080/` a few times and
//! watch the server print its exit line 10 s after the last one (exit code 0).
//! `IDLE_TIMEOUT=3s cargo run --example hello` shortens the wait; Ctrl-C
//! (SIGINT) or SIGTERM stops it at once, after finishing running requests.
//!
//! It listens on the default address, 0.0.0.0:8080 (`PORT` replaces the
//! port), so the same binary serves in a container: see `deploy/`.

use axum::{routing::get, Router};

#[idle_runtime::idle_server(timeout = "10s", ignore_header = "fly-healthcheck")]
async fn main() -> Router {
    Router::new().route("/", get(|| async { "hello\n" }))
}
