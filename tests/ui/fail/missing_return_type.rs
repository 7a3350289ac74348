// The function must return the router to serve.
#[idle_runtime::idle_server]
async fn main() {
    let _router: axum::Router = axum::Router::new();
}
