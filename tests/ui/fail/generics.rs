// Nothing can choose `S`.
#[idle_runtime::idle_server]
async fn main<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new()
}
