// `cold_start_cost` prices the adaptive timeout's cold starts; with a fixed
// timeout it would be ignored, so it is an error, on the key.
#[idle_runtime::idle_server(timeout = "30s", cold_start_cost = "2s")]
async fn main() -> axum::Router {
    axum::Router::new()
}
