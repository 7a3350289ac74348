// `crate` naming the runtime under another name.
extern crate idle_runtime as renamed;

#[renamed::idle_server(
    crate = "renamed",
    timeout = "1ms",
    grace = "1ms",
    addr = "127.0.0.1:0"
)]
async fn main() -> axum::Router {
    axum::Router::new()
}
