//! The server that `tests/process.rs` spawns: the `#[idle_server]` attribute
//! exactly as a user writes it, with routes for each behaviour under test.
//! Timeouts come from `IDLE_TIMEOUT` / `IDLE_GRACE` set by each test.
//!
//! Routes:
//! - `GET /` → `hello`
//! - `GET /slow/{ms}` → waits `ms` milliseconds, then `done`
//! - `GET /stream/{chunks}/{interval_ms}` → a chunked body of `chunks`
//!   lines, one every `interval_ms`
//! - `GET /panic` → the handler panics
//! - `GET /healthz` → `ok`, ignored by the idle tracker
//! - `GET /guard/{ms}` → answers at once, holds a keep-awake guard for `ms`
//!
//! Routes for `tests/faults.rs`:
//! - `GET /stream-panic/{chunks}/{interval_ms}` → a chunked body that sends
//!   `chunks` lines, one every `interval_ms`, then panics inside the body
//! - `GET /bytes/{n}` → a body of `n` bytes (`x`) with a `Content-Length`,
//!   written as one buffer
//! - `GET /chunks/{n}/{size}` → a chunked body of `n` chunks of `size` bytes
//!   (`x`), each produced as soon as hyper asks for it
//! - `GET /timeout/{ms}` → holds a keep-awake guard and sleeps `ms`, behind a
//!   `tower::timeout::TimeoutLayer` of 300 ms that cancels it: `408` after
//!   300 ms if `ms` is longer, else `done`
//!
//! Routes for `tests/edges.rs`:
//! - `POST /echo` → the request body
//! - `ANY /ws-echo` → a WebSocket (over HTTP/1.1, or HTTP/2 extended
//!   CONNECT) that echoes every message, with no activity code at all
//!
//! - `GET /slow-counted/{ms}` → as `/slow/{ms}`, and counts the handlers
//!   that have started; `GET /slow-started` → that count, so a test can
//!   see that a request reached its handler before it acts on it
//!
//! Routes for `tests/clients.rs`:
//! - `POST /upload`, `PUT /upload` → reads the whole request body (any
//!   content type, gRPC's included), then answers its length in bytes
//!
//! With `IDLE_TEST_FAIL_SETUP` set, setup returns an error instead.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{any, get, post, put};
use axum::{BoxError, Router};
use bytes::Bytes;
use tower::timeout::TimeoutLayer;
use tower::ServiceBuilder;

/// How long `/timeout/{ms}` may run before the timeout layer cancels it.
const HANDLER_TIMEOUT: Duration = Duration::from_millis(300);

#[idle_runtime::idle_server(timeout = "1s", grace = "5s", addr = "127.0.0.1:0", ignore = ["/healthz"])]
async fn main() -> Result<Router, String> {
    if let Ok(reason) = std::env::var("IDLE_TEST_FAIL_SETUP") {
        return Err(format!("database unreachable: {reason}"));
    }
    Ok(Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/slow/{ms}", get(slow))
        .route("/slow-counted/{ms}", get(slow_counted))
        .route(
            "/slow-started",
            get(|| async { SLOW_STARTED.load(Ordering::SeqCst).to_string() }),
        )
        .route("/stream/{chunks}/{interval_ms}", get(stream))
        .route("/panic", get(panics))
        .route("/guard/{ms}", get(guard))
        .route("/stream-panic/{chunks}/{interval_ms}", get(stream_panic))
        .route("/bytes/{n}", get(bytes))
        .route("/chunks/{n}/{size}", get(chunks))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route("/ws-echo", any(ws_echo))
        .route("/upload", put(upload).post(upload))
        .route(
            "/timeout/{ms}",
            get(guarded_slow).layer(
                ServiceBuilder::new()
                    .layer(HandleErrorLayer::new(|_: BoxError| async {
                        StatusCode::REQUEST_TIMEOUT
                    }))
                    .layer(TimeoutLayer::new(HANDLER_TIMEOUT)),
            ),
        ))
}

async fn slow(Path(ms): Path<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "done"
}

/// How many `/slow-counted/{ms}` handlers have started.
static SLOW_STARTED: AtomicU64 = AtomicU64::new(0);

async fn slow_counted(path: Path<u64>) -> &'static str {
    SLOW_STARTED.fetch_add(1, Ordering::SeqCst);
    slow(path).await
}

async fn stream(Path((chunks, interval_ms)): Path<(u32, u64)>) -> Body {
    let interval = Duration::from_millis(interval_ms);
    let lines = futures_util::stream::unfold(0, move |sent| async move {
        if sent == chunks {
            return None;
        }
        if sent > 0 {
            tokio::time::sleep(interval).await;
        }
        Some((
            Ok::<_, Infallible>(Bytes::from(format!("chunk {sent}\n"))),
            sent + 1,
        ))
    });
    Body::from_stream(lines)
}

async fn panics() -> &'static str {
    panic!("handler panicked on purpose");
}

async fn guard(Path(ms): Path<u64>) -> &'static str {
    let guard = idle_runtime::keep_awake();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        drop(guard);
    });
    "guarded"
}

async fn stream_panic(Path((chunks, interval_ms)): Path<(u32, u64)>) -> Body {
    let interval = Duration::from_millis(interval_ms);
    let lines = futures_util::stream::unfold(0, move |sent| async move {
        if sent > 0 {
            tokio::time::sleep(interval).await;
        }
        if sent == chunks {
            panic!("body stream panicked on purpose after {chunks} chunks");
        }
        Some((
            Ok::<_, Infallible>(Bytes::from(format!("chunk {sent}\n"))),
            sent + 1,
        ))
    });
    Body::from_stream(lines)
}

async fn bytes(Path(n): Path<usize>) -> Vec<u8> {
    vec![b'x'; n]
}

async fn chunks(Path((n, size)): Path<(usize, usize)>) -> Body {
    let chunk = Bytes::from(vec![b'x'; size]);
    let chunks =
        futures_util::stream::iter((0..n).map(move |_| Ok::<_, Infallible>(chunk.clone())));
    Body::from_stream(chunks)
}

/// A slow handler whose work also holds a keep-awake guard: when the timeout
/// layer cancels the future, both the request and the guard must end.
async fn guarded_slow(Path(ms): Path<u64>) -> &'static str {
    let _guard = idle_runtime::keep_awake();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "done"
}

/// Echoes every message until the client closes: nothing here knows about
/// idleness, the upgraded connection itself is the activity.
async fn ws_echo(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if socket.send(message).await.is_err() {
                break;
            }
        }
    })
}

/// Reads the whole body before answering: a client that never sends it
/// leaves this handler waiting on the client, not working.
async fn upload(body: Bytes) -> String {
    body.len().to_string()
}
