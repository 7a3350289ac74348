//! The router that every benchmark server serves (included by `bare.rs` and
//! `idle.rs`; `seed_app.py` has the first two routes):
//!
//! - `GET /` → `hello`
//! - `GET /slow/{ms}` → waits `ms` milliseconds, then `done`
//! - `GET /bytes/{n}` → a buffered body of `n` bytes (`Bytes`, at most
//!   20,000,000), sliced from one buffer made on first use, so that a
//!   response costs no copy and no allocation of its own
//! - `GET /stream/{chunks}/{size}` → a streamed body of `chunks` chunks of
//!   `size` bytes each (at most 1 MiB per chunk), each chunk a `Bytes` of
//!   the same buffer, ready at once
//! - `GET /events/{n}` → a streamed body of `n` small events, the handler
//!   yielding to the runtime between two, so that each goes out in a write
//!   of its own, as a server-sent event stream's do (for the socket-options
//!   decision: Nagle's algorithm holds such writes back)
//! - `GET /ws` → a WebSocket that echoes every text and binary message

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

/// The largest body `/bytes/{n}` serves.
const MAX_BODY: usize = 20_000_000;
/// The largest chunk `/stream/{chunks}/{size}` serves.
const MAX_CHUNK: usize = 1 << 20;

pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/slow/{ms}", get(slow))
        .route("/bytes/{n}", get(bytes))
        .route("/stream/{chunks}/{size}", get(stream))
        .route("/events/{n}", get(events))
        .route("/ws", get(ws))
}

async fn slow(Path(ms): Path<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "done"
}

/// One buffer of `x`, made on the first request that needs it.
fn buffer() -> &'static Bytes {
    static BUFFER: OnceLock<Bytes> = OnceLock::new();
    BUFFER.get_or_init(|| Bytes::from(vec![b'x'; MAX_BODY]))
}

async fn bytes(Path(n): Path<usize>) -> Response {
    if n > MAX_BODY {
        return (StatusCode::BAD_REQUEST, "at most 20000000 bytes").into_response();
    }
    buffer().slice(..n).into_response()
}

async fn stream(Path((chunks, size)): Path<(usize, usize)>) -> Response {
    if size > MAX_CHUNK {
        return (StatusCode::BAD_REQUEST, "chunks of at most 1048576 bytes").into_response();
    }
    let chunk = buffer().slice(..size);
    let chunks = (0..chunks).map(move |_| Ok::<_, Infallible>(chunk.clone()));
    Body::from_stream(futures_util::stream::iter(chunks)).into_response()
}

async fn events(Path(n): Path<usize>) -> Response {
    let events = futures_util::stream::unfold(0, move |sent| async move {
        if sent == n {
            return None;
        }
        if sent > 0 {
            tokio::task::yield_now().await;
        }
        Some((
            Ok::<_, Infallible>(Bytes::from_static(b"data: tick\n\n")),
            sent + 1,
        ))
    });
    Body::from_stream(events).into_response()
}

async fn ws(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    use axum::extract::ws::Message;
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            // axum answers pings itself.
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            break;
        }
    }
}
