// Neither `Router` nor `Result<Router, E>`: the error is on `String`.
#[idle_runtime::idle_server]
async fn main() -> String {
    String::from("hello")
}
