// The shutdown hook must take the reason; the error points at the path.
async fn flush() {}

#[idle_runtime::idle_server(on_shutdown = flush)]
async fn main() -> axum::Router {
    axum::Router::new()
}
