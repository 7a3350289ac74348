// Days are not a unit: `ms`, `s`, `m`, `h` are.
#[idle_runtime::idle_server(grace = "1d")]
async fn main() -> axum::Router {
    axum::Router::new()
}
