//! Lifecycle features of a real server process: the status route, the
//! shutdown hook, the maximum lifetime, and WebSockets that hold the server
//! awake. The server is `tests/servers/lifecycle_server.rs` (timeout 1 s,
//! grace 2 s, max lifetime 6 s).

mod support;

use std::future::IntoFuture;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use support::{assert_between, try_get, Server, EARLY, LATE, PATIENCE, TIMEOUT};

const SERVER: &str = env!("CARGO_BIN_EXE_idle-test-lifecycle");

fn start(env: &[(&str, &str)]) -> Server {
    Server::start_command(Command::new(SERVER), env)
}

/// One field of the status JSON, as text.
fn field<'a>(json: &'a str, name: &str) -> &'a str {
    let start = json.find(&format!("\"{name}\":")).expect(name) + name.len() + 3;
    let rest = &json[start..];
    &rest[..rest.find([',', '}']).unwrap()]
}

#[test]
fn the_status_route_reports_activity_and_never_counts() {
    let server = start(&[]);
    let status = server.get("/_idle");
    assert_eq!(status.status, 200);
    assert_eq!(field(&status.body, "active"), "0", "{}", status.body);
    assert_eq!(field(&status.body, "requests"), "0");
    assert_eq!(field(&status.body, "mode"), "\"exit\"");
    let until: u64 = field(&status.body, "until_idle_ms").parse().unwrap();
    assert!(until <= 1000, "{}", status.body);

    let addr = server.addr;
    let slow = thread::spawn(move || try_get(addr, "/slow/800"));
    thread::sleep(Duration::from_millis(300));
    let busy = server.get("/_idle");
    assert_eq!(field(&busy.body, "active"), "1", "{}", busy.body);
    assert_eq!(field(&busy.body, "until_idle_ms"), "null");
    assert_eq!(field(&busy.body, "idle_for_ms"), "null");
    let done = slow.join().unwrap().unwrap();
    assert_eq!(done.body, "done");

    // Status reads every 200 ms do not hold the server up.
    let mut last = None;
    while server.is_running() && Instant::now() < done.finished_at + TIMEOUT * 3 {
        if let Ok(status) = try_get(server.addr, "/_idle") {
            last = Some(status.body);
        }
        thread::sleep(Duration::from_millis(200));
    }
    let last = last.expect("status read after the request");
    assert_eq!(field(&last, "requests"), "1", "{last}");
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert_between(
        "idle exit",
        done.finished_at,
        exited_at,
        TIMEOUT - EARLY,
        TIMEOUT + LATE,
    );
}

#[test]
fn the_shutdown_hook_runs_once_with_the_reason() {
    let server = start(&[]);
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        server.stderr().matches("hook: idle").count(),
        1,
        "{}",
        server.stderr()
    );

    let server = start(&[]);
    server.signal("TERM");
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    let stderr = server.stderr();
    assert_eq!(stderr.matches("hook: ").count(), 1, "{stderr}");
    assert!(stderr.contains("hook: SIGTERM"), "{stderr}");
    // The hook runs after the drain and before the exit line.
    assert!(
        stderr.find("hook: SIGTERM") < stderr.find("idle: exiting"),
        "{stderr}"
    );
}

#[test]
fn a_slow_hook_is_abandoned_after_grace() {
    let server = start(&[("IDLE_TEST_HOOK_MS", "30000")]);
    let signalled = server.signal("TERM");
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    // Nothing to drain; the hook gets the grace of 2 s.
    assert_between(
        "exit after the hook's grace",
        signalled,
        exited_at,
        Duration::from_secs(2) - EARLY,
        Duration::from_secs(2) + LATE,
    );
    let stderr = server.stderr();
    assert!(stderr.contains("shutdown hook timed out"), "{stderr}");
    assert!(!stderr.contains("hook: "), "{stderr}");
}

/// A panic in the hook is reported on the exit line; the exit is still the
/// shutdown's 0, at once.
#[test]
fn a_panicking_hook_is_reported_and_the_exit_is_still_0() {
    // No backtrace: printing one can take longer than the bound below.
    let server = start(&[("IDLE_TEST_HOOK_PANIC", "1"), ("RUST_BACKTRACE", "0")]);
    let signalled = server.signal("TERM");
    let (status, exited_at) = server.wait_exit(PATIENCE);
    let stderr = server.stderr();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert_between(
        "exit after the hook's panic",
        signalled,
        exited_at,
        Duration::ZERO,
        LATE,
    );
    assert!(
        stderr.contains("hook panicked on purpose (SIGTERM)"),
        "{stderr}"
    );
    let exit = stderr
        .lines()
        .find(|line| line.starts_with("idle: exiting: SIGTERM"))
        .unwrap_or_else(|| panic!("no exit line\n{stderr}"));
    assert!(exit.ends_with("; shutdown hook panicked"), "{exit}");
}

#[test]
fn the_maximum_lifetime_stops_a_busy_server() {
    let server = start(&[("IDLE_TIMEOUT", "1m")]);
    // Keep it busy with overlapping requests well past the 6 s lifetime.
    let mut served = 0;
    while server.is_running() && server.listening_at.elapsed() < Duration::from_secs(10) {
        if let Ok(response) = try_get(server.addr, "/slow/300") {
            if response.status == 200 {
                served += 1;
            }
        }
    }
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert!(served > 5, "served {served}");
    assert_between(
        "exit at the maximum lifetime",
        server.listening_at,
        exited_at,
        Duration::from_secs(6) - EARLY,
        Duration::from_secs(6) + LATE + Duration::from_millis(300),
    );
    let stderr = server.stderr();
    assert!(
        stderr.contains("idle: exiting: maximum lifetime reached"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hook: maximum lifetime reached"),
        "{stderr}"
    );
}

fn open_socket(server: &Server) -> tungstenite::WebSocket<std::net::TcpStream> {
    let stream = support::connect(server.addr).unwrap();
    let url = format!("ws://{}/ws", server.addr);
    let (socket, response) =
        tungstenite::client(url.as_str(), stream).expect("WebSocket handshake");
    assert_eq!(response.status(), 101);
    socket
}

#[test]
fn an_open_websocket_keeps_the_server_awake_until_it_closes() {
    let server = start(&[]);
    let mut socket = open_socket(&server);
    for round in 0..3 {
        thread::sleep(Duration::from_millis(800));
        socket
            .send(tungstenite::Message::text(format!("ping {round}")))
            .unwrap();
        let echo = socket.read().unwrap();
        assert_eq!(echo.into_text().unwrap().as_str(), format!("ping {round}"));
    }
    // 2.4 s with a 1 s timeout and no HTTP request: the socket held it.
    assert!(server.is_running());
    socket.close(None).unwrap();
    // Read until the server's reply to the close.
    while socket.read().is_ok() {}
    let closed = Instant::now();
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert_between(
        "idle exit after the close",
        closed,
        exited_at,
        TIMEOUT - EARLY - EARLY,
        TIMEOUT + LATE,
    );
}

#[test]
fn on_shutdown_the_websocket_gets_a_close_frame() {
    let server = start(&[]);
    let mut socket = open_socket(&server);
    server.signal("TERM");
    let message = socket.read().expect("a message before the end");
    assert!(message.is_close(), "got {message:?}");
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    server.assert_stderr_lacks("abandoned");
}

/// Without the attribute, the builder's order does not matter: settings given
/// after the status route (`with_config` replaces them whole) still leave the
/// status route uncounted, so a monitor polling it cannot keep the server up.
#[test]
fn the_status_route_never_counts_whatever_the_order_of_the_builder() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    let config = idle_runtime::Config::default().with_timeout(TIMEOUT);
    let started = Instant::now();
    let server = runtime.spawn(
        idle_runtime::serve(listener, app)
            .with_tracker(idle_runtime::Tracker::new())
            .with_status_route("/_idle")
            .with_config(&config)
            .into_future(),
    );
    let mut polled = 0;
    while !server.is_finished() && started.elapsed() < TIMEOUT * 4 {
        if try_get(addr, "/_idle").is_ok_and(|status| status.status == 200) {
            polled += 1;
        }
        thread::sleep(Duration::from_millis(100));
    }
    let stopped_at = Instant::now();
    let report = runtime.block_on(server).unwrap().unwrap();
    assert!(polled >= 5, "the status route answered {polled} times");
    assert_eq!(report.reason, idle_runtime::ShutdownReason::Idle);
    assert_eq!(report.requests, 0, "status reads are not requests served");
    assert_between(
        "idle exit",
        started,
        stopped_at,
        TIMEOUT - EARLY,
        TIMEOUT + LATE,
    );
}
