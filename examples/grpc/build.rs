//! Generates the gRPC server and client code for the `Ticker` service that
//! the `grpc` example and the gRPC process test use.
//!
//! The service is described in Rust with tonic-build's manual builder and
//! its messages are hand-written prost structs (`ticker.rs`),
//! so no `.proto` file and no `protoc` are needed: a Rust toolchain builds
//! everything.

fn main() {
    // Only this file decides what is generated: without this line Cargo would
    // rerun the script, and rebuild every target, whenever any file changes.
    println!("cargo:rerun-if-changed=build.rs");
    // tests/grpc.rs shares the root package's process-test helpers
    // (tests/support/), which name the root's test server by the variable
    // Cargo sets for the root's tests. This package has no such server and
    // the gRPC test never starts it: the name only has to exist.
    println!(
        "cargo:rustc-env=CARGO_BIN_EXE_idle-test-server=idle-test-server (not built by idle-grpc)"
    );

    let method = |name: &str, route: &str, input: &str, output: &str| {
        tonic_build::manual::Method::builder()
            .name(name)
            .route_name(route)
            .input_type(format!("super::{input}"))
            .output_type(format!("super::{output}"))
            .codec_path("tonic_prost::ProstCodec")
    };
    let ticker = tonic_build::manual::Service::builder()
        .name("Ticker")
        .package("ticker")
        .comment("Says hello, and counts out loud.")
        .method(
            method("hello", "Hello", "HelloRequest", "HelloReply")
                .comment("Unary: one request, one reply.")
                .build(),
        )
        .method(
            method("ticks", "Ticks", "TicksRequest", "Tick")
                .comment("Server streaming: `count` ticks, `interval_ms` apart.")
                .server_streaming()
                .build(),
        )
        .build();
    // Clients are built on any tonic channel (`TickerClient::new`), so the
    // generated code does not need tonic's transport feature.
    tonic_build::manual::Builder::new()
        .build_transport(false)
        .compile(&[ticker]);
}
