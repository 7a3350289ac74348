// The adaptive timeout chooses within 1 s to 1 h; a cold-start cost outside
// that range is an error on the literal.
#[idle_runtime::idle_server(timeout = "auto", cold_start_cost = "500ms")]
async fn main() -> axum::Router {
    axum::Router::new()
}
