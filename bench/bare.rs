//! Benchmark server: the bench router served by plain `axum::serve`, with no
//! idle tracking, as a user would write it without `idle`. It never exits by
//! itself. `PORT` chooses the port on 127.0.0.1 (default 0: any free port).
//!
//! Configured as `#[idle_server]` serves, so that the comparison measures
//! the tracking and nothing else: TCP_NODELAY on every accepted socket (with
//! axum's `ListenerExt::tap_io`), and `ConnectInfo<SocketAddr>` for the
//! handlers (`into_make_service_with_connect_info`). `BENCH_NODELAY=0`
//! leaves TCP_NODELAY off, as `axum::serve` does by itself: run.sh measures
//! that too, for the socket-options decision.
//!
//! Built and run by `bench/run.sh`, twice: as the `bench-bare` binary of the
//! `idle-bench` package (axum with `http2`, like `bench-idle`), and as
//! `bench/bare-h1/` (axum without `http2`, for the cold-start comparison).

use std::net::{Ipv4Addr, SocketAddr};

use axum::serve::ListenerExt;

mod router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = match std::env::var("PORT") {
        Ok(port) => port.parse().map_err(std::io::Error::other)?,
        Err(_) => 0,
    };
    let nodelay = std::env::var("BENCH_NODELAY").map_or(true, |value| value != "0");
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    eprintln!(
        "bare: listening on http://{} (TCP_NODELAY {})",
        listener.local_addr()?,
        if nodelay { "on" } else { "off" }
    );
    let listener = listener.tap_io(move |tcp| {
        if nodelay {
            let _ = tcp.set_nodelay(true);
        }
    });
    let app = router::router().into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await
}
