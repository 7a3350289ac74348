// Each element of `ignore` is a string literal.
#[idle_runtime::idle_server(ignore = ["/healthz", 404])]
async fn main() -> axum::Router {
    axum::Router::new()
}
