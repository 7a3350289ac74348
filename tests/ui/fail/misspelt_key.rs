// A key one edit away from a known one: "did you mean".
#[idle_runtime::idle_server(timout = "30s")]
async fn main() -> axum::Router {
    axum::Router::new()
}
