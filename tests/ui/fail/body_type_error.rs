// A type error in the body lands on the user's expression, not in
// generated code.
#[idle_runtime::idle_server]
async fn main() -> axum::Router {
    String::from("hello")
}
