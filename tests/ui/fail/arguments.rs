// Nothing calls the function with arguments.
#[idle_runtime::idle_server]
async fn main(port: u16) -> axum::Router {
    let _ = port;
    axum::Router::new()
}
