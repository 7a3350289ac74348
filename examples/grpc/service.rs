//! The `ticker.Ticker` service itself, shared by the example and the server
//! that `tests/grpc.rs` spawns, so that the test checks the code the example
//! shows.

use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use tonic::{Request, Response, Status};

use crate::ticker::ticker_server::Ticker;
use crate::ticker::{HelloReply, HelloRequest, Tick, TicksRequest};

/// `Hello` answers `hello, NAME`; `Ticks` streams `count` ticks,
/// `interval_ms` apart.
pub struct Service;

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
        Ok(Response::new(Box::pin(ticks(
            count,
            Duration::from_millis(interval_ms),
        ))))
    }
}

/// `count` ticks, `interval` apart. Once the server starts shutting down the
/// stream ends with `UNAVAILABLE` instead of its next tick, so the client gets
/// a status it can act on (retry elsewhere) rather than a connection cut when
/// `grace` runs out.
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
