// A known key with no `= value`.
#[idle_runtime::idle_server(timeout)]
async fn main() -> axum::Router {
    axum::Router::new()
}
