// One build reports every mistake, in the keys and in the signature, and
// nothing else (no "`main` function not found").
#[idle_runtime::idle_server(timeout = "30", grace = 10, colour = "red", addr = "localhost:80", ignore = ["/a"], ignore = ["/b"])]
fn main(_port: u16) {}
