// `#[tokio::main]` above the attribute has already turned `main` into a
// function that builds its own runtime: say so, on `main`, rather than
// "functions must be `async`".
#[tokio::main]
#[idle_runtime::idle_server]
async fn main() -> axum::Router {
    axum::Router::new()
}
