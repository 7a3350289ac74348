// The status route is a path.
#[idle_runtime::idle_server(status = "_idle")]
async fn main() -> axum::Router {
    axum::Router::new()
}
