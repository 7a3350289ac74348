// A setup error must be `Display` or `Debug` so it can be printed; the error
// is on the return type.
struct Opaque;

#[idle_runtime::idle_server]
async fn main() -> Result<axum::Router, Opaque> {
    Err(Opaque)
}
