// The adaptive timeout's keys. The smallest cold-start cost still serves for
// a second, so the body ends the process with success once the generated
// `main` has reached it.
use axum::Router;

#[idle_runtime::idle_server(
    timeout = "auto",
    cold_start_cost = "1s",
    state = "/nonexistent/idle.state",
    addr = "127.0.0.1:0",
)]
async fn main() -> Router {
    std::process::exit(0)
}
