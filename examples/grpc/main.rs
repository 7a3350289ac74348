//! A gRPC service (tonic) under the attribute: unary and server-streaming
//! calls keep the server awake, Kubernetes' gRPC probes do not, and a stream
//! running when the server stops ends with a status the client can act on.
//!
//! Run with
//!
//! ```text
//! cargo run -p idle-grpc --example grpc                   # listens on 127.0.0.1:50051
//! cargo run -p idle-grpc --example grpc-client -- hello   # in another terminal
//! cargo run -p idle-grpc --example grpc-client -- ticks 10
//! cargo run -p idle-grpc --example grpc-client -- probe
//! ```
//!
//! What to watch, with an idle timeout of 5 s:
//!
//! - `hello` is a unary call: the server exits 5 s after it.
//! - `ticks 10` streams one tick a second for 10 s: the server stays up for
//!   as long as the stream runs, and exits 5 s after its last tick.
//! - Press Ctrl-C in the server's terminal while `ticks` runs: the client
//!   prints `stream ended: Unavailable: server shutting down; retry` and the
//!   server exits at once, instead of holding the stream until the 10 s grace
//!   period runs out and then cutting the connection.
//! - `probe` is a health check made as Kubernetes' gRPC probe makes it
//!   (`grpc.health.v1.Health/Check`, user agent `kube-probe/...`): answered
//!   `Serving`, but it never counts, so a server that gets only probes exits
//!   5 s after it started.
//!
//! The service (`ticker.Ticker`) has no `.proto` file and needs no `protoc`:
//! its messages are written by hand in `ticker.rs` and `build.rs` generates
//! the server and client code with tonic-build's manual builder. The service
//! itself is in `service.rs`.

mod service;
mod ticker;

use service::Service;
use ticker::ticker_server::TickerServer;

#[idle_runtime::idle_server(timeout = "5s", addr = "127.0.0.1:50051")]
async fn main() -> axum::Router {
    // The standard health service, reporting the whole server as serving.
    let (_reporter, health) = tonic_health::server::health_reporter();
    tonic::service::Routes::new(TickerServer::new(Service))
        .add_service(health)
        .into_axum_router()
}
