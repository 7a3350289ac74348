//! gRPC under the attribute, observed with a real tonic client: the test
//! server (`tests/servers/grpc_server.rs`) is a tonic service served through
//! `Routes::into_axum_router()`, in its own process, on 127.0.0.1 over
//! HTTP/2 without TLS, as gRPC clients and Kubernetes' probes reach it.

#[path = "../../../tests/support/mod.rs"]
mod support;
#[path = "../ticker.rs"]
mod ticker;

use std::net::SocketAddr;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use tonic::transport::{Channel, Endpoint};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use support::{
    assert_between, assert_idle_exit_after, assert_requests_served, env_timeout, Server, LATE,
    PATIENCE, TIMEOUT,
};
use ticker::ticker_client::TickerClient;
use ticker::{HelloRequest, TicksRequest};

const SERVER: &str = env!("CARGO_BIN_EXE_idle-test-grpc");

/// What the kubelet's gRPC prober sends as its user agent: grpc-go's
/// `WithUserAgent("kube-probe/<major>.<minor>")`, to which grpc-go appends
/// its own name and version (and tonic, here, its own after that).
const KUBE_PROBE: &str = "kube-probe/1.33 grpc-go/1.72.0";

fn start(env: &[(&str, &str)]) -> Server {
    Server::start_command(Command::new(SERVER), env)
}

/// A runtime with its own worker, so the client's connection task keeps
/// running (answering pings, reading the GOAWAY) between `block_on` calls.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

/// A new HTTP/2 connection to the server, with tonic's user agent or, if
/// given, `user_agent` followed by tonic's.
async fn connect(addr: SocketAddr, user_agent: Option<&str>) -> Channel {
    let mut endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(PATIENCE)
        .timeout(PATIENCE);
    if let Some(agent) = user_agent {
        endpoint = endpoint.user_agent(agent).unwrap();
    }
    endpoint
        .connect()
        .await
        .expect("connect to the gRPC server")
}

#[test]
fn a_unary_call_is_answered_and_the_server_exits_a_timeout_later() {
    let server = start(&env_timeout());
    let runtime = runtime();
    let (reply, answered, _channel) = runtime.block_on(async {
        let channel = connect(server.addr, None).await;
        let mut client = TickerClient::new(channel.clone());
        let reply = client
            .hello(HelloRequest {
                name: "grpc".into(),
            })
            .await
            .expect("Hello answered");
        (reply.into_inner().message, Instant::now(), channel)
    });
    assert_eq!(reply, "hello, grpc");
    // The channel stays open and idle, as a client keeps it: the server
    // exits anyway.
    assert_idle_exit_after(&server, answered);
    assert_requests_served(&server, 1);
}

#[test]
fn a_server_stream_longer_than_the_timeout_keeps_the_server_awake_until_it_ends() {
    let server = start(&env_timeout());
    let runtime = runtime();
    // 6 ticks 400 ms apart: 2 s of streaming, twice the timeout.
    let (ticks, ended) = runtime.block_on(async {
        let mut client = TickerClient::new(connect(server.addr, None).await);
        let mut stream = client
            .ticks(TicksRequest {
                count: 6,
                interval_ms: 400,
            })
            .await
            .expect("Ticks started")
            .into_inner();
        let mut ticks = Vec::new();
        while let Some(tick) = stream.message().await.expect("a tick, or the end") {
            ticks.push(tick.n);
        }
        (ticks, Instant::now())
    });
    assert_eq!(ticks, [0, 1, 2, 3, 4, 5], "every tick, in order, status OK");
    assert!(server.is_running(), "exited during the stream");
    assert_idle_exit_after(&server, ended);
    assert_requests_served(&server, 1);
}

#[test]
fn sigterm_during_a_stream_ends_it_with_unavailable_and_the_server_exits_at_once() {
    let grace = Duration::from_secs(4);
    let server = start(&[("IDLE_TIMEOUT", "1m"), ("IDLE_GRACE", "4s")]);
    let runtime = runtime();
    let (ticks, status, signalled, ended) = runtime.block_on(async {
        let mut client = TickerClient::new(connect(server.addr, None).await);
        // 100 ticks 100 ms apart: 10 s, far longer than the grace period.
        let mut stream = client
            .ticks(TicksRequest {
                count: 100,
                interval_ms: 100,
            })
            .await
            .expect("Ticks started")
            .into_inner();
        let mut ticks = Vec::new();
        let mut signalled = None;
        let status = loop {
            match stream.message().await {
                Ok(Some(tick)) => {
                    ticks.push(tick.n);
                    if ticks.len() == 3 {
                        signalled = Some(server.signal("TERM"));
                    }
                }
                Ok(None) => panic!("the stream ended with OK after {ticks:?}"),
                Err(status) => break status,
            }
        };
        (ticks, status, signalled.unwrap(), Instant::now())
    });
    // The ticks before the signal arrived whole and in order; then the
    // stream ended with a gRPC status in its trailers, not a broken
    // connection: UNAVAILABLE is the code gRPC clients retry on.
    assert!(ticks.len() >= 3, "{ticks:?}");
    assert!(ticks.iter().copied().eq(0..ticks.len() as u32), "{ticks:?}");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(status.message(), "server shutting down; retry");
    // At once, not when the grace period runs out.
    assert_between(
        "the status after SIGTERM",
        signalled,
        ended,
        Duration::ZERO,
        grace / 4,
    );
    let (exit, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(exit.code(), Some(0), "{}", server.stderr());
    assert_between(
        "exit after the stream ended",
        signalled,
        exited_at,
        Duration::ZERO,
        grace / 4 + LATE,
    );
    let stderr = server.stderr();
    assert!(stderr.contains("idle: exiting: SIGTERM"), "{stderr}");
    assert!(!stderr.contains("abandoned"), "nothing cut off: {stderr}");
}

/// One health check on a new connection, as the kubelet makes it.
async fn health_check(addr: SocketAddr, user_agent: Option<&str>) -> Result<i32, tonic::Status> {
    let mut client = HealthClient::new(connect(addr, user_agent).await);
    let request = HealthCheckRequest {
        service: String::new(),
    };
    Ok(client.check(request).await?.into_inner().status)
}

#[test]
fn kubernetes_grpc_probes_do_not_count_as_activity() {
    let server = start(&env_timeout());
    let runtime = runtime();
    // A probe every 200 ms, each on a new connection, for longer than the
    // timeout: the server still exits a timeout after it started.
    let deadline = server.listening_at + TIMEOUT;
    let mut probes = 0;
    while Instant::now() + Duration::from_millis(200) < deadline + LATE && server.is_running() {
        if let Ok(status) = runtime.block_on(health_check(server.addr, Some(KUBE_PROBE))) {
            assert_eq!(status, ServingStatus::Serving as i32);
            probes += 1;
        }
        thread::sleep(Duration::from_millis(200));
    }
    assert!(probes >= 2, "only {probes} probes were answered");
    assert_idle_exit_after(&server, server.listening_at);
    assert_requests_served(&server, 0);
}

#[test]
fn a_health_check_from_any_other_client_counts() {
    let server = start(&env_timeout());
    let runtime = runtime();
    let status = runtime
        .block_on(health_check(server.addr, None))
        .expect("health check answered");
    let answered = Instant::now();
    assert_eq!(status, ServingStatus::Serving as i32);
    assert_idle_exit_after(&server, answered);
    assert_requests_served(&server, 1);
}
