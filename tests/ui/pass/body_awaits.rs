// A body that awaits before returning the router: it runs on the runtime the
// generated `main` starts.
use std::time::Duration;

use axum::{routing::get, Router};

async fn greeting() -> &'static str {
    tokio::time::sleep(Duration::from_millis(1)).await;
    "hello"
}

#[idle_runtime::idle_server(timeout = "1ms", grace = "1ms", addr = "127.0.0.1:0")]
async fn main() -> Router {
    let greeting = greeting().await;
    tokio::task::yield_now().await;
    Router::new().route("/", get(move || async move { greeting }))
}
