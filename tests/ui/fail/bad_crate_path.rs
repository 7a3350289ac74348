// `crate` must be a Rust path.
#[idle_runtime::idle_server(crate = "idle runtime")]
async fn main() -> axum::Router {
    axum::Router::new()
}
