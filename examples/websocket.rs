//! A WebSocket keeps the server awake while it is open, and is closed with a
//! close frame when the server shuts down.
//!
//! Run with
//!
//! ```text
//! cargo run --example websocket --features ws
//! ```
//!
//! (`ws` turns on axum's WebSocket support, which only this example needs.)
//!
//! then connect any WebSocket client to `ws://127.0.0.1:8080/ws` (for
//! example `websocat ws://127.0.0.1:8080/ws`) and type lines: they come back
//! upper-cased. The idle timeout is 5 s, but the server stays up as long as
//! the socket is open; close it and the server exits 5 s later. Press Ctrl-C
//! in the server's terminal while a client is connected: the client receives
//! a close frame before the server exits.
//!
//! Nothing in the handler keeps the server up: an upgraded connection is
//! activity until it closes, over HTTP/1.1 and over HTTP/2 (extended
//! CONNECT, which is why the route takes `any` method). The one thing the
//! handler does for the shutdown is to send a close frame when it starts.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::any;
use axum::Router;

#[idle_runtime::idle_server(timeout = "5s", addr = "127.0.0.1:8080")]
async fn main() -> Router {
    Router::new().route("/ws", any(ws))
}

async fn ws(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(shout)
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
