//! The server that `tests/unix.rs` spawns: `#[idle_server]` on a Unix
//! domain socket at a fixed path, as a user would configure it behind nginx
//! or Caddy. Routes: `GET /` → `hello`, `GET /slow/{ms}` → `done` after
//! `ms` milliseconds.

use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;

/// The socket's path; `tests/unix.rs` uses the same.
#[idle_runtime::idle_server(
    addr = "unix:/tmp/idle-test-unix-server.sock",
    timeout = "1s",
    grace = "5s"
)]
async fn main() -> Router {
    Router::new().route("/", get(|| async { "hello" })).route(
        "/slow/{ms}",
        get(|Path(ms): Path<u64>| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            "done"
        }),
    )
}
