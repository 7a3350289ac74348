// A `Result` whose `Ok` is not the router: the error is on the return type.
#[idle_runtime::idle_server]
async fn main() -> Result<String, std::io::Error> {
    Ok(String::from("hello"))
}
