// A Unix socket path is absolute: a relative one would depend on the
// working directory the platform starts the server in.
#[idle_runtime::idle_server(addr = "unix:run/app.sock")]
async fn main() -> axum::Router {
    axum::Router::new()
}
