// `#[tokio::main]` below the attribute: the error is on `#[tokio::main]`,
// and tokio's own "the `async` keyword is missing" does not follow.
#[idle_runtime::idle_server]
#[tokio::main]
async fn main() -> axum::Router {
    axum::Router::new()
}
