//! A WebSocket keeps the server awake while it is open, and is closed with a
//! close frame when the server shuts down.
//!
//! Run with
//!
//! ```text
//! cargo run --example websocket
//! ```
//!
//! then connect any WebSocket client to `ws://127.0.0.1:8080/ws` (for
//! example `websocat ws://127.0.0.1:8080/ws`) and type lines: they come back
//! upper-cased. The idle timeout is 5 s, but the server stays up as long as
//! the socket is open; close it and the server exits 5 s later. Press Ctrl-C
//! in the server's terminal while a client is connected: the client receives
//! a close frame before the server exits.
//!
//! The extractor `ActivityGuard` takes a keep-awake guard for the handler;
//! moving it into the socket task is the one line that keeps the server up.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use idle_runtime::ActivityGuard;

#[idle_runtime::idle_server(timeout = "5s", addr = "127.0.0.1:8080")]
async fn main() -> Router {
    Router::new().route("/ws", get(ws))
}

async fn ws(upgrade: WebSocketUpgrade, awake: ActivityGuard) -> Response {
    upgrade.on_upgrade(move |socket| async move {
        let _awake = awake; // dropped when the socket task ends
        shout(socket).await;
    })
}

async fn shout(mut socket: WebSocket) {
    let shutdown = idle_runtime::tracker();
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(text))) => {
                    let reply = Message::Text(text.to_uppercase().into());
                    if socket.send(reply).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            // The server is shutting down: say goodbye properly.
            () = shutdown.shutdown_started() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
        }
    }
}
