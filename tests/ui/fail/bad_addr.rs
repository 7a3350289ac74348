// Host names are not resolved: `addr` is an IP address and a port.
#[idle_runtime::idle_server(addr = "localhost:8080")]
async fn main() -> axum::Router {
    axum::Router::new()
}
