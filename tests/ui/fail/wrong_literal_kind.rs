// An integer where a duration string is expected.
#[idle_runtime::idle_server(timeout = 30)]
async fn main() -> axum::Router {
    axum::Router::new()
}
