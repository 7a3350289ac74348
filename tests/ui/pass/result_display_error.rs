// `Result<Router, E>` with `E: Display` (and `Debug`, as errors usually are).
use std::fmt;

use axum::Router;

#[derive(Debug)]
struct SetupError;

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("setup failed")
    }
}

#[idle_runtime::idle_server(timeout = "1ms", grace = "1ms", addr = "127.0.0.1:0")]
async fn main() -> Result<Router, SetupError> {
    if std::env::args().count() > 100 {
        return Err(SetupError);
    }
    Ok(Router::new())
}
