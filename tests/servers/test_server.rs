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
//! With `IDLE_TEST_FAIL_SETUP` set, setup returns an error instead.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

#[idle_runtime::idle_server(timeout = "1s", grace = "5s", addr = "127.0.0.1:0", ignore = ["/healthz"])]
async fn main() -> Result<Router, String> {
    if let Ok(reason) = std::env::var("IDLE_TEST_FAIL_SETUP") {
        return Err(format!("database unreachable: {reason}"));
    }
    Ok(Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/slow/{ms}", get(slow))
        .route("/stream/{chunks}/{interval_ms}", get(stream))
        .route("/panic", get(panics))
        .route("/guard/{ms}", get(guard)))
}

async fn slow(Path(ms): Path<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "done"
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
