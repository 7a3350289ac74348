// A zero timeout would shut the server down at once.
#[idle_runtime::idle_server(timeout = "0s")]
async fn main() -> axum::Router {
    axum::Router::new()
}
