//! The server as users run it: a real process, real HTTP on 127.0.0.1, its
//! exit code and the moment it exits, observed from outside.
//!
//! Timing bounds are generous for a loaded 2-core machine (an exit may be up
//! to `LATE` after its deadline) but far tighter than a once-a-second poller,
//! which would exit up to a whole second late.

mod support;

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use support::{
    assert_between, assert_idle_exit_after, connect, env_timeout, get_keep_alive, run_to_exit,
    try_get, Server, EARLY, LATE, PATIENCE, TIMEOUT,
};

#[test]
fn a_server_that_gets_no_request_exits_timeout_after_it_started() {
    let server = Server::start(&env_timeout());
    assert_idle_exit_after(&server, server.listening_at);
    assert!(
        server.stderr().contains("0 requests served"),
        "{}",
        server.stderr()
    );
}

#[test]
fn the_exit_follows_the_last_request_by_the_timeout_not_a_poll_interval() {
    let server = Server::start(&env_timeout());
    // Requests 0.4 s apart: the deadline ends up 2.2 s after start, where a
    // poller ticking every second from start would exit at 3 s.
    let mut last = server.listening_at;
    for _ in 0..3 {
        thread::sleep(Duration::from_millis(400));
        let response = server.get("/");
        assert_eq!((response.status, response.body.as_str()), (200, "hello"));
        last = response.finished_at;
    }
    assert_idle_exit_after(&server, last);
    assert!(
        server.stderr().contains("3 requests served"),
        "{}",
        server.stderr()
    );
}

#[test]
fn a_request_longer_than_the_timeout_completes() {
    let server = Server::start(&env_timeout());
    let response = server.get("/slow/2500");
    assert_eq!((response.status, response.body.as_str()), (200, "done"));
    assert_idle_exit_after(&server, response.finished_at);
}

#[test]
fn a_streaming_body_keeps_the_server_awake_until_it_ends() {
    let server = Server::start(&env_timeout());
    // 6 chunks, 400 ms apart: 2 s of streaming, twice the timeout.
    let response = server.get("/stream/6/400");
    assert_eq!(response.status, 200);
    assert!(response.body.contains("chunk 5"), "{:?}", response.body);
    assert_idle_exit_after(&server, response.finished_at);
}

#[test]
fn a_panicking_handler_does_not_leak_activity() {
    let server = Server::start(&env_timeout());
    // The connection is closed without a response; that is the handler's
    // bug, not ours. What matters: the server stays up and later goes idle.
    assert!(try_get(server.addr, "/panic").is_err());
    let response = server.get("/");
    assert_eq!(response.status, 200, "the server survives the panic");
    assert_idle_exit_after(&server, response.finished_at);
}

#[test]
fn a_client_that_disconnects_mid_body_does_not_leak_activity() {
    let server = Server::start(&env_timeout());
    let mut stream = connect(server.addr).unwrap();
    // 100 chunks, 100 ms apart: 10 s if read to the end.
    write!(stream, "GET /stream/100/100 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut first = [0; 64];
    let read = stream.read(&mut first).unwrap();
    assert!(String::from_utf8_lossy(&first[..read]).starts_with("HTTP/1.1 200"));
    thread::sleep(Duration::from_millis(300));
    drop(stream);
    let gone = Instant::now();
    // The server notices at its next write, at most one interval later.
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert_between(
        "idle exit after the disconnect",
        gone,
        exited_at,
        TIMEOUT - EARLY,
        TIMEOUT + LATE + Duration::from_millis(100),
    );
}

#[test]
fn a_client_that_disconnects_while_the_handler_runs_does_not_leak_activity() {
    let server = Server::start(&env_timeout());
    let mut stream = connect(server.addr).unwrap();
    write!(stream, "GET /slow/10000 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    thread::sleep(Duration::from_millis(300));
    drop(stream);
    let gone = Instant::now();
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert_between(
        "idle exit after the disconnect",
        gone,
        exited_at,
        TIMEOUT - EARLY,
        TIMEOUT + LATE,
    );
}

#[test]
fn an_idle_keep_alive_connection_does_not_keep_the_server_awake() {
    let server = Server::start(&env_timeout());
    let mut stream = connect(server.addr).unwrap();
    let response = get_keep_alive(&mut stream, "/");
    assert_eq!((response.status, response.body.as_str()), (200, "hello"));
    // The connection stays open and idle; the server exits anyway, and
    // closes it.
    assert_idle_exit_after(&server, response.finished_at);
    let mut rest = Vec::new();
    assert_eq!(
        stream.read_to_end(&mut rest).unwrap_or(0),
        0,
        "closed cleanly"
    );
}

#[test]
fn ignored_paths_never_count_as_activity() {
    let server = Server::start(&env_timeout());
    // Health checks every 200 ms for longer than the timeout.
    let deadline = server.listening_at + TIMEOUT;
    while Instant::now() + Duration::from_millis(200) < deadline + LATE && server.is_running() {
        if let Ok(response) = try_get(server.addr, "/healthz") {
            assert_eq!((response.status, response.body.as_str()), (200, "ok"));
        }
        thread::sleep(Duration::from_millis(200));
    }
    assert_idle_exit_after(&server, server.listening_at);
}

#[test]
fn tcp_health_checks_that_connect_and_close_do_not_count() {
    let server = Server::start(&env_timeout());
    let deadline = server.listening_at + TIMEOUT;
    while Instant::now() + Duration::from_millis(200) < deadline + LATE && server.is_running() {
        drop(connect(server.addr));
        thread::sleep(Duration::from_millis(200));
    }
    assert_idle_exit_after(&server, server.listening_at);
}

#[test]
fn a_connected_client_is_served_even_if_its_request_comes_after_the_deadline() {
    let server = Server::start(&env_timeout());
    // Connect just before the deadline, send the request well after it: the
    // connection itself holds the server awake until its request arrives.
    thread::sleep(TIMEOUT - Duration::from_millis(200));
    let mut stream = connect(server.addr).unwrap();
    thread::sleep(Duration::from_millis(700));
    assert!(
        server.is_running(),
        "exited with a connection waiting for its request"
    );
    let response = get_keep_alive(&mut stream, "/");
    assert_eq!((response.status, response.body.as_str()), (200, "hello"));
    assert_idle_exit_after(&server, response.finished_at);
}

#[test]
fn a_keep_awake_guard_holds_the_server_until_dropped() {
    let server = Server::start(&env_timeout());
    // The response comes at once; the guard lives 2 s more.
    let response = server.get("/guard/2000");
    assert_eq!(response.status, 200);
    let guard_dropped = response.finished_at + Duration::from_millis(2000);
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert_between(
        "idle exit after the guard",
        guard_dropped,
        exited_at,
        TIMEOUT - EARLY,
        TIMEOUT + LATE,
    );
}

#[test]
fn sigterm_drains_the_running_request_then_exits_0() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1m")]);
    let addr = server.addr;
    let request = thread::spawn(move || try_get(addr, "/slow/1500"));
    thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    thread::sleep(Duration::from_millis(100));
    // New connections are refused once the drain has started.
    assert!(try_get(server.addr, "/").is_err(), "accepted after SIGTERM");
    let response = request
        .join()
        .unwrap()
        .expect("the running request completes");
    assert_eq!((response.status, response.body.as_str()), (200, "done"));
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
    assert_between(
        "exit after the drain",
        response.finished_at,
        exited_at,
        Duration::ZERO,
        LATE,
    );
    assert!(
        server.stderr().contains("idle: exiting: SIGTERM"),
        "{}",
        server.stderr()
    );
}

#[test]
fn sigint_is_a_shutdown_too() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1m")]);
    server.signal("INT");
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert!(
        server.stderr().contains("idle: exiting: SIGINT"),
        "{}",
        server.stderr()
    );
}

#[test]
fn grace_bounds_the_drain_and_reports_what_was_abandoned() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1m"), ("IDLE_GRACE", "500ms")]);
    let addr = server.addr;
    let request = thread::spawn(move || try_get(addr, "/slow/20000"));
    thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    let signalled = Instant::now();
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert_between(
        "exit after grace",
        signalled,
        exited_at,
        Duration::from_millis(500) - EARLY,
        Duration::from_millis(500) + LATE,
    );
    assert!(
        server
            .stderr()
            .contains("grace expired, 1 activity abandoned"),
        "{}",
        server.stderr()
    );
    assert!(
        request.join().unwrap().is_err(),
        "the abandoned request got no response"
    );
}

#[test]
fn a_second_signal_during_the_drain_exits_at_once() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1m"), ("IDLE_GRACE", "30s")]);
    let addr = server.addr;
    let request = thread::spawn(move || try_get(addr, "/slow/20000"));
    thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    thread::sleep(Duration::from_millis(300));
    assert!(server.is_running(), "still draining");
    server.signal("INT");
    let second = Instant::now();
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert_between(
        "exit after the second signal",
        second,
        exited_at,
        Duration::ZERO,
        LATE,
    );
    assert!(
        server.stderr().contains("cut short by a second signal"),
        "{}",
        server.stderr()
    );
    let _ = request.join();
}

#[test]
fn a_bad_environment_value_exits_2_naming_the_variable() {
    for (variable, value) in [
        ("IDLE_TIMEOUT", "soon"),
        ("IDLE_GRACE", "1.5s"),
        ("PORT", "http"),
    ] {
        let (status, stderr) = run_to_exit(&[(variable, value)]);
        assert_eq!(status.code(), Some(2), "{variable}={value}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(
            stderr.contains(&format!("{variable}={value:?}")),
            "{stderr}"
        );
        assert!(!stderr.contains("listening"), "nothing is bound: {stderr}");
    }
}

#[test]
fn a_busy_port_exits_1_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let (status, stderr) = run_to_exit(&[("PORT", &port)]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[test]
fn a_failing_setup_exits_1_with_the_error_text() {
    let (status, stderr) = run_to_exit(&[("IDLE_TEST_FAIL_SETUP", "connection refused")]);
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.trim(),
        "idle: error: setup failed: database unreachable: connection refused"
    );
}

#[test]
fn socket_activation_serves_the_inherited_socket() {
    // systemd-socket-activate (Debian's `systemd` package) holds the socket,
    // waits for a connection, then execs the server with it as fd 3.
    let Ok(activator) = which("systemd-socket-activate") else {
        panic!("systemd-socket-activate is not installed (apt-get install systemd)");
    };
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut command = std::process::Command::new(activator);
    command
        .arg(format!("--listen=127.0.0.1:{port}"))
        .arg("--setenv=IDLE_TIMEOUT=1s")
        .arg(support::SERVER);
    let client = thread::spawn(move || {
        // The activator needs a moment to listen; retry until it does.
        let started = Instant::now();
        loop {
            match try_get(addr, "/") {
                Ok(response) => return response,
                Err(_) if started.elapsed() < PATIENCE => thread::sleep(Duration::from_millis(20)),
                Err(error) => panic!("no answer through socket activation: {error}"),
            }
        }
    });
    let server = Server::start_command(command, &[]);
    let response = client.join().unwrap();
    assert_eq!((response.status, response.body.as_str()), (200, "hello"));
    assert_eq!(
        server.addr, addr,
        "served the inherited socket, not a new one"
    );
    assert!(
        server.stderr().contains("(socket activation)"),
        "{}",
        server.stderr()
    );
    assert_idle_exit_after(&server, response.finished_at);
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}
