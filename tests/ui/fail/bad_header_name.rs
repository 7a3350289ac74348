// A header name with a space is not a header name.
#[idle_runtime::idle_server(ignore_header = "fly healthcheck")]
async fn main() -> axum::Router {
    axum::Router::new()
}
