// A duration without a unit: the error is on the string literal.
#[idle_runtime::idle_server(timeout = "30")]
async fn main() -> axum::Router {
    axum::Router::new()
}
