//! The `ticker.Ticker` gRPC service: hand-written protobuf messages, and the
//! server and client code that `build.rs` generates for them.
//!
//! In `.proto` terms:
//!
//! ```text
//! package ticker;
//! service Ticker {
//!   rpc Hello(HelloRequest) returns (HelloReply);
//!   rpc Ticks(TicksRequest) returns (stream Tick);
//! }
//! message HelloRequest { string name = 1; }
//! message HelloReply { string message = 1; }
//! message TicksRequest { uint32 count = 1; uint64 interval_ms = 2; }
//! message Tick { uint32 n = 1; }
//! ```

// Shared by the example, its client, the test server and the test: each uses
// a different part.
#![allow(dead_code)]

/// `Hello`'s request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloRequest {
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `Hello`'s reply.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HelloReply {
    #[prost(string, tag = "1")]
    pub message: String,
}

/// `Ticks`' request: how many ticks, and how far apart.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TicksRequest {
    #[prost(uint32, tag = "1")]
    pub count: u32,
    #[prost(uint64, tag = "2")]
    pub interval_ms: u64,
}

/// One message of the `Ticks` stream, numbered from 0.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Tick {
    #[prost(uint32, tag = "1")]
    pub n: u32,
}

// `ticker_server` (the `Ticker` trait and `TickerServer`) and
// `ticker_client` (`TickerClient`).
include!(concat!(env!("OUT_DIR"), "/ticker.Ticker.rs"));
