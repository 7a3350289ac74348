// The function must be `async`.
#[idle_runtime::idle_server]
fn main() -> axum::Router {
    axum::Router::new()
}
