//! Benchmark server: the bench router served by plain `axum::serve`, with no
//! idle tracking, as a user would write it without `idle`. It never exits by
//! itself. `PORT` chooses the port on 127.0.0.1 (default 0: any free port).
//!
//! Built and run by `bench/run.sh`, twice: as the `bench-bare` example of the
//! root package (axum with `http2`, like `bench-idle`), and as
//! `bench/bare-h1/` (axum without `http2`, for the cold-start comparison).

use std::net::{Ipv4Addr, SocketAddr};

mod router;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = match std::env::var("PORT") {
        Ok(port) => port.parse().map_err(std::io::Error::other)?,
        Err(_) => 0,
    };
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    eprintln!("bare: listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router::router()).await
}
