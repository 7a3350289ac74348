//! The server that `tests/lifecycle.rs` spawns: the lifecycle keys of
//! `#[idle_server]` (status route, shutdown hook, maximum lifetime) and a
//! WebSocket that holds the server awake.
//!
//! Routes:
//! - `GET /_idle` → the status as JSON (never counts as activity)
//! - `GET /slow/{ms}` → waits `ms` milliseconds, then `done`
//! - `GET /ws` → a WebSocket echo that keeps the server awake while open
//!   and sends a close frame when the shutdown starts
//!
//! The hook prints `hook: <reason>` on stderr after waiting
//! `IDLE_TEST_HOOK_MS` milliseconds (default 0), or panics instead if
//! `IDLE_TEST_HOOK_PANIC` is set.

use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::Path;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use idle_runtime::{ActivityGuard, ShutdownReason};

#[idle_runtime::idle_server(
    timeout = "1s",
    grace = "2s",
    addr = "127.0.0.1:0",
    status = "/_idle",
    max_lifetime = "6s",
    on_shutdown = hook
)]
async fn main() -> Router {
    Router::new()
        .route("/slow/{ms}", get(slow))
        .route("/ws", get(ws))
}

async fn hook(reason: ShutdownReason) {
    let ms = std::env::var("IDLE_TEST_HOOK_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    if std::env::var_os("IDLE_TEST_HOOK_PANIC").is_some() {
        panic!("hook panicked on purpose ({reason})");
    }
    eprintln!("hook: {reason}");
}

async fn slow(Path(ms): Path<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "done"
}

async fn ws(upgrade: WebSocketUpgrade, awake: ActivityGuard) -> Response {
    upgrade.on_upgrade(move |socket| async move {
        let _awake = awake;
        echo(socket).await;
    })
}

async fn echo(mut socket: WebSocket) {
    let tracker = idle_runtime::tracker();
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            () = tracker.shutdown_started() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
    }
}
