// `crate` naming a module that re-exports the runtime, as a framework built
// on idle-runtime would.
mod rt {
    pub use ::idle_runtime::*;
}

#[rt::idle_server(
    crate = "crate::rt",
    timeout = "1ms",
    grace = "1ms",
    addr = "127.0.0.1:0"
)]
async fn main() -> axum::Router {
    axum::Router::new()
}
