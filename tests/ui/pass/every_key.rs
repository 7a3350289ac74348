// Every key at once, `addr` as IPv4. Runs: serves on a free loopback port,
// is idle after 1 ms and exits 0.
use axum::{routing::get, Router};

#[idle_runtime::idle_server(
    timeout = "1ms",
    grace = "1ms",
    addr = "127.0.0.1:0",
    ignore = ["/healthz", "/ready"],
    ignore_header = ["fly-healthcheck", "X-Probe"],
    crate = "::idle_runtime",
)]
async fn main() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/healthz", get(|| async { "ok" }))
}
