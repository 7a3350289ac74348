//! The server that `tests/grpc.rs` spawns: a tonic service under
//! `#[idle_server]`, served through `Routes::into_axum_router()` as a user
//! writes it. Timeouts come from `IDLE_TIMEOUT` / `IDLE_GRACE`.
//!
//! Services:
//! - `ticker.Ticker/Hello` (unary) → `hello, NAME`
//! - `ticker.Ticker/Ticks` (server streaming) → `count` ticks, `interval_ms`
//!   apart; when the server starts shutting down, the stream ends at once
//!   with the status `UNAVAILABLE`
//! - `grpc.health.v1.Health` (tonic-health) → `SERVING`
//!
//! The service is the example's (`examples/grpc/service.rs`).

#[path = "../../service.rs"]
mod service;
#[path = "../../ticker.rs"]
mod ticker;

use service::Service;
use ticker::ticker_server::TickerServer;

#[idle_runtime::idle_server(timeout = "1s", grace = "5s", addr = "127.0.0.1:0")]
async fn main() -> axum::Router {
    let (_reporter, health) = tonic_health::server::health_reporter();
    tonic::service::Routes::new(TickerServer::new(Service))
        .add_service(health)
        .into_axum_router()
}
