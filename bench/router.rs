//! The router that every benchmark server serves (included by `bare.rs` and
//! `idle.rs`; `seed_app.py` has the same two routes):
//!
//! - `GET /` → `hello`
//! - `GET /slow/{ms}` → waits `ms` milliseconds, then `done`

use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;

pub fn router() -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route("/slow/{ms}", get(slow))
}

async fn slow(Path(ms): Path<u64>) -> &'static str {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    "done"
}
