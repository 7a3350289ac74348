// A key near none of the known ones: the error lists them all.
#[idle_runtime::idle_server(port = 8080)]
async fn main() -> axum::Router {
    axum::Router::new()
}
