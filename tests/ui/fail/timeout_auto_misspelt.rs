// `timeout` is a duration or exactly "auto".
#[idle_runtime::idle_server(timeout = "Auto")]
async fn main() -> axum::Router {
    axum::Router::new()
}
