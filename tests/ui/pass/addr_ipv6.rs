// `addr` as an IPv6 address in brackets.
#[idle_runtime::idle_server(timeout = "1ms", grace = "1ms", addr = "[::1]:0")]
async fn main() -> axum::Router {
    axum::Router::new()
}
