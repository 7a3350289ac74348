// The user's body keeps its spans, so lints report on the user's code.
#![deny(unused_variables)]

#[idle_runtime::idle_server]
async fn main() -> axum::Router {
    let port = 8080;
    axum::Router::new()
}
