// A setup error must be `Display` or `Debug` so it can be printed; the error
// is on the error type, and names no private item of the runtime.
struct Opaque;

#[idle_runtime::idle_server]
async fn main() -> Result<axum::Router, Opaque> {
    Err(Opaque)
}
