// The state file must be an absolute path: a relative one would depend on
// the directory the server happens to start in.
#[idle_runtime::idle_server(timeout = "auto", state = "idle.state")]
async fn main() -> axum::Router {
    axum::Router::new()
}
