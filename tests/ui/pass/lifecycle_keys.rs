// status, max_lifetime and on_shutdown. Runs: idle after 1 ms, the hook
// runs, exits 0.
use idle_runtime::ShutdownReason;

mod state {
    pub async fn flush(reason: idle_runtime::ShutdownReason) {
        let _ = reason;
    }
}

async fn unused(_: ShutdownReason) {}

#[idle_runtime::idle_server(
    timeout = "1ms",
    grace = "1ms",
    addr = "127.0.0.1:0",
    status = "/_idle",
    max_lifetime = "12h",
    on_shutdown = state::flush
)]
async fn main() -> axum::Router {
    let _ = unused;
    axum::Router::new()
}
