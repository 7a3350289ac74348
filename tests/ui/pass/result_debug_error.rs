// `Result<Router, E>` with an `E` that is `Debug` only.
use axum::Router;

#[derive(Debug)]
enum SetupError {
    TooManyArguments,
}

#[idle_runtime::idle_server(timeout = "1ms", grace = "1ms", addr = "127.0.0.1:0")]
async fn main() -> Result<Router, SetupError> {
    if std::env::args().count() > 100 {
        return Err(SetupError::TooManyArguments);
    }
    Ok(Router::new())
}
