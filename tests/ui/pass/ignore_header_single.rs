// `ignore_header` also takes a single name. Runs: idle after 1 ms, exits 0.
#[idle_runtime::idle_server(ignore_header = "Fly-Healthcheck", timeout = "1ms", grace = "1ms", addr = "127.0.0.1:0")]
async fn main() -> axum::Router {
    axum::Router::new()
}
