// Request paths start with `/`; the error is on the bad element only.
#[idle_runtime::idle_server(ignore = ["/ready", "healthz"])]
async fn main() -> axum::Router {
    axum::Router::new()
}
