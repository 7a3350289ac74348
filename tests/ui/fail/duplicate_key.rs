// The error points at the second `timeout`.
#[idle_runtime::idle_server(timeout = "30s", grace = "5s", timeout = "1m")]
async fn main() -> axum::Router {
    axum::Router::new()
}
