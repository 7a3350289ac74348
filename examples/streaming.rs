//! A streaming body keeps the server awake for as long as it streams.
//!
//! Run with
//!
//! ```text
//! cargo run --example streaming
//! curl -N http://127.0.0.1:8080/ticks
//! ```
//!
//! The idle timeout is 3 s, but `/ticks` sends one line a second for 10 s:
//! the server stays up until the stream ends (or curl is stopped), then exits
//! 3 s later. Stopping curl early ends the request at once.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::{routing::get, Router};
use bytes::Bytes;

#[idle_runtime::idle_server(timeout = "3s", addr = "127.0.0.1:8080")]
async fn main() -> Router {
    Router::new().route("/ticks", get(ticks))
}

async fn ticks() -> Body {
    let lines = futures_util::stream::unfold(1, |tick| async move {
        if tick > 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let line = Bytes::from(format!("tick {tick} of 10\n"));
        Some((Ok::<_, Infallible>(line), tick + 1))
    });
    Body::from_stream(lines)
}
