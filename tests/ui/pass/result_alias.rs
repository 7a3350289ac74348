// A `Result` alias, as with `anyhow::Result<Router>`: the return type is
// checked by the type checker, not by its spelling.
use axum::Router;

#[derive(Debug)]
struct MyError;

impl std::fmt::Display for MyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("my error")
    }
}

type Result<T> = std::result::Result<T, MyError>;

#[idle_runtime::idle_server(timeout = "1ms", grace = "1ms", addr = "127.0.0.1:0")]
async fn main() -> Result<Router> {
    if std::env::args().count() > 100 {
        return Err(MyError);
    }
    Ok(Router::new())
}
