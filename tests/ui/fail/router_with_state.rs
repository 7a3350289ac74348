// A router that still needs its state: the error is on the return type and
// names the fix, `.with_state(state)`.
use axum::extract::State;
use axum::routing::get;
use axum::Router;

#[derive(Clone)]
struct AppState {
    greeting: &'static str,
}

#[idle_runtime::idle_server]
async fn main() -> Router<AppState> {
    Router::new().route("/", get(|State(state): State<AppState>| async move { state.greeting }))
}
