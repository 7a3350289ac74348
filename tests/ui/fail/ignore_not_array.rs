// A single path must still be in brackets.
#[idle_runtime::idle_server(ignore = "/healthz")]
async fn main() -> axum::Router {
    axum::Router::new()
}
