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

#[path = "../../examples/grpc/ticker.rs"]
mod ticker;

use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use tonic::{Request, Response, Status};

use ticker::ticker_server::{Ticker, TickerServer};
use ticker::{HelloReply, HelloRequest, Tick, TicksRequest};

#[idle_runtime::idle_server(timeout = "1s", grace = "5s", addr = "127.0.0.1:0")]
async fn main() -> axum::Router {
    let (_reporter, health) = tonic_health::server::health_reporter();
    tonic::service::Routes::new(TickerServer::new(Service))
        .add_service(health)
        .into_axum_router()
}

struct Service;

#[tonic::async_trait]
impl Ticker for Service {
    async fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let name = request.into_inner().name;
        Ok(Response::new(HelloReply {
            message: format!("hello, {name}"),
        }))
    }

    type TicksStream = Pin<Box<dyn Stream<Item = Result<Tick, Status>> + Send>>;

    async fn ticks(
        &self,
        request: Request<TicksRequest>,
    ) -> Result<Response<Self::TicksStream>, Status> {
        let TicksRequest { count, interval_ms } = request.into_inner();
        let interval = Duration::from_millis(interval_ms);
        Ok(Response::new(Box::pin(ticks(count, interval))))
    }
}

/// `count` ticks, `interval` apart. Once the server starts shutting down the
/// stream ends with `UNAVAILABLE` instead of its next tick, so the client gets
/// a status it can act on (retry) rather than a connection cut when `grace`
/// runs out.
fn ticks(count: u32, interval: Duration) -> impl Stream<Item = Result<Tick, Status>> {
    futures_util::stream::unfold(0, move |n| async move {
        if n >= count {
            return None;
        }
        if n > 0 {
            tokio::select! {
                biased;
                () = idle_runtime::tracker().shutdown_started() => {
                    let status = Status::unavailable("server shutting down; retry");
                    return Some((Err(status), count));
                }
                () = tokio::time::sleep(interval) => {}
            }
        }
        Some((Ok(Tick { n }), n + 1))
    })
}
