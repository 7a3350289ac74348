// The attribute with no keys. Its defaults serve 0.0.0.0:8080 until idle
// for 30 s, which a test run must not do, so the body ends the process with
// success once the generated `main` has reached it.
use axum::{routing::get, Router};

#[idle_runtime::idle_server]
async fn main() -> Router {
    let _router: Router = Router::new().route("/", get(|| async { "hello" }));
    std::process::exit(0)
}
