// The same inside `Result`: the error is on `Router<AppState>`.
#[derive(Clone)]
struct AppState;

#[idle_runtime::idle_server]
async fn main() -> Result<axum::Router<AppState>, std::io::Error> {
    Ok(axum::Router::new())
}
