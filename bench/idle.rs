//! Benchmark server: the bench router served by `#[idle_server]`, exactly as
//! a user writes it. `PORT` and `IDLE_TIMEOUT` override the attribute's
//! values, as for any `idle` server.
//!
//! Built and run by `bench/run.sh` (the `bench-idle` binary of the
//! `idle-bench` package).

mod router;

#[idle_runtime::idle_server(timeout = "1s", addr = "127.0.0.1:0")]
async fn main() -> axum::Router {
    router::router()
}
