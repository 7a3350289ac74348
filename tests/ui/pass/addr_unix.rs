// A Unix domain socket; the server binds it, serves briefly and removes it.
#[idle_runtime::idle_server(addr = "unix:/tmp/idle-ui-pass-addr-unix.sock", timeout = "10ms")]
async fn main() -> axum::Router {
    axum::Router::new()
}
