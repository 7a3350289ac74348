// The attribute goes on a function.
#[idle_runtime::idle_server]
struct Server;

fn main() {}
