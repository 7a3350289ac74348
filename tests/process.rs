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
    assert_between, assert_idle_exit_after, connect, env_timeout, get, get_keep_alive, run_to_exit,
    try_get, Server, EARLY, LATE, PATIENCE, TIMEOUT,
};

#[test]
fn a_server_that_gets_no_request_exits_timeout_after_it_started() {
    let server = Server::start(&env_timeout());
    assert_idle_exit_after(&server, server.listening_at);
    server.assert_stderr_contains("0 requests served");
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
    server.assert_stderr_contains("3 requests served");
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
    // The body has begun (the head came with its first chunk) and has 99
    // chunks to go: the client leaves in the middle of it.
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
    write!(
        stream,
        "GET /slow-counted/10000 HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    .unwrap();
    wait_until_slow_handlers_started(&server, 1);
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

/// Waits until `/slow-counted/{ms}` handlers have started `count` times:
/// the request reached its handler, and is running.
fn wait_until_slow_handlers_started(server: &Server, count: u64) {
    let started = Instant::now();
    loop {
        let response = get(server.addr, "/slow-started");
        if response.body.parse::<u64>().unwrap() >= count {
            return;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "the slow handler did not start"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn ignored_paths_never_count_as_activity() {
    let server = Server::start(&env_timeout());
    // Health checks every 200 ms for longer than the timeout: each is
    // answered until the server exits, at its deadline.
    let deadline = server.listening_at + TIMEOUT;
    let mut answered = 0;
    while Instant::now() + Duration::from_millis(200) < deadline + LATE && server.is_running() {
        let sent = Instant::now();
        match try_get(server.addr, "/healthz") {
            Ok(response) => {
                assert_eq!((response.status, response.body.as_str()), (200, "ok"));
                answered += 1;
            }
            Err(error) => assert!(
                sent + EARLY >= deadline,
                "GET /healthz failed {:?} before the idle deadline: {error}",
                deadline - sent
            ),
        }
        thread::sleep(Duration::from_millis(200));
    }
    assert!(answered >= 3, "only {answered} health checks were answered");
    assert_idle_exit_after(&server, server.listening_at);
}

#[test]
fn tcp_health_checks_that_connect_and_close_do_not_count() {
    let server = Server::start(&env_timeout());
    let deadline = server.listening_at + TIMEOUT;
    let mut connected = 0;
    while Instant::now() + Duration::from_millis(200) < deadline + LATE && server.is_running() {
        let sent = Instant::now();
        match connect(server.addr) {
            Ok(stream) => {
                drop(stream);
                connected += 1;
            }
            Err(error) => assert!(
                sent + EARLY >= deadline,
                "connect failed {:?} before the idle deadline: {error}",
                deadline - sent
            ),
        }
        thread::sleep(Duration::from_millis(200));
    }
    assert!(connected >= 3, "only {connected} checks connected");
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
    server.assert_stderr_contains("idle: exiting: SIGTERM");
}

#[test]
fn sigint_is_a_shutdown_too() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1m")]);
    server.signal("INT");
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    server.assert_stderr_contains("idle: exiting: SIGINT");
}

#[test]
fn grace_bounds_the_drain_and_reports_what_was_abandoned() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1m"), ("IDLE_GRACE", "500ms")]);
    let addr = server.addr;
    let request = thread::spawn(move || try_get(addr, "/slow/20000"));
    thread::sleep(Duration::from_millis(300));
    let signalled = server.signal("TERM");
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
    let second = server.signal("INT");
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert_between(
        "exit after the second signal",
        second,
        exited_at,
        Duration::ZERO,
        LATE,
    );
    server.assert_stderr_contains("cut short by a second signal");
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
    server.assert_stderr_contains("(socket activation)");
    assert_idle_exit_after(&server, response.finished_at);
}

/// `LISTEN_FDS` without `LISTEN_PID` is not for this process, as
/// `sd_listen_fds(3)` decides: the server binds its `addr`, and its startup
/// line says nothing of socket activation.
#[test]
fn listen_fds_without_listen_pid_is_ignored_and_the_startup_line_says_so() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1s"), ("LISTEN_FDS", "garbage")]);
    let response = get(server.addr, "/");
    assert_eq!((response.status, response.body.as_str()), (200, "hello"));
    let stderr = server.stderr();
    let startup = stderr.lines().next().unwrap();
    assert!(startup.ends_with("mode exit (default)"), "{startup}");
    assert!(!startup.contains("socket activation"), "{startup}");
    assert_idle_exit_after(&server, response.finished_at);
}

/// `LISTEN_PID` names this process but `LISTEN_FDS` is not a count: exit 2
/// with one line naming it, before anything is bound.
#[test]
fn a_malformed_listen_fds_for_this_process_exits_2_naming_it() {
    // The shell sets LISTEN_PID to its own pid, which exec gives the server.
    let output = run_bounded(
        std::process::Command::new("sh")
            .args(["-c", "export LISTEN_PID=$$; exec \"$0\"", support::SERVER])
            .env("LISTEN_FDS", "garbage"),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "idle: error: invalid LISTEN_FDS=\"garbage\": expected the number of sockets passed by socket activation, 1 or more; LISTEN_PID names this process\n"
    );
}

/// Runs `command` to its exit, within [`PATIENCE`]: its status, stdout and
/// stderr.
fn run_bounded(command: &mut std::process::Command) -> std::process::Output {
    let child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(PATIENCE) {
        Ok(output) => output.expect("wait for the process"),
        Err(_) => {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{command:?} did not exit within {PATIENCE:?}");
        }
    }
}

/// A log shipper that dies leaves stderr a pipe without a reader: the exit
/// line then fails with EPIPE, and the idle exit must still be 0 (not a
/// panic's 101, which platforms restart as a crash).
#[test]
fn a_stderr_pipe_whose_reader_has_gone_leaves_the_idle_exit_0() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(support::SERVER)
        .env("IDLE_TIMEOUT", "1s")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the test server");
    let mut reader = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut startup = String::new();
    reader.read_line(&mut startup).unwrap();
    assert!(startup.starts_with("idle: listening on"), "{startup}");
    let addr: std::net::SocketAddr = startup
        .trim_start_matches("idle: listening on http://")
        .split(';')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // The reader goes; then a request, so that there is a shutdown to log.
    drop(reader);
    let response = get(addr, "/");
    assert_eq!(response.status, 200);
    let (status, _) = wait_child(&mut child);
    assert_eq!(status.code(), Some(0), "exit status {status}");
}

/// A closed stderr (`2>&-`) likewise.
#[test]
fn a_closed_stderr_leaves_the_idle_exit_0() {
    let mut child = std::process::Command::new("sh")
        .args(["-c", "exec \"$0\" 2>&-", support::SERVER])
        .env("IDLE_TIMEOUT", "1s")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn the test server");
    let (status, elapsed) = wait_child(&mut child);
    assert_eq!(status.code(), Some(0), "exit status {status}");
    assert!(elapsed >= TIMEOUT - EARLY, "exited after {elapsed:?}");
}

/// Waits for `child` to exit, within [`PATIENCE`]: its status, and how long
/// that took.
fn wait_child(child: &mut std::process::Child) -> (std::process::ExitStatus, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, started.elapsed());
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("the server did not exit within {PATIENCE:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

const SETUP_SERVER: &str = env!("CARGO_BIN_EXE_idle-test-setup");

/// With a `tracing` subscriber installed in the setup function, each
/// lifecycle event reaches it exactly once, and nothing is printed on
/// stderr.
#[test]
fn a_tracing_subscriber_gets_each_event_once_and_stderr_stays_empty() {
    let output = run_bounded(
        std::process::Command::new(SETUP_SERVER)
            .env("IDLE_TEST_SETUP", "tracing")
            .env("IDLE_TIMEOUT", "300ms"),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(stderr, "", "stderr with a subscriber installed");
    for event in [
        "event INFO idle_runtime: listening on http://127.0.0.1:",
        "event INFO idle_runtime: shutting down: idle for 300ms",
        "event INFO idle_runtime: drain finished",
        "event INFO idle_runtime: exiting: idle for 300ms; uptime ",
    ] {
        assert_eq!(
            stdout.matches(event).count(),
            1,
            "{event}
{stdout}"
        );
    }
}

/// Fatal errors are printed on stderr even with a subscriber installed:
/// they are the last thing the process says.
#[test]
fn a_fatal_error_reaches_stderr_even_with_a_subscriber() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let output = run_bounded(
        std::process::Command::new(SETUP_SERVER)
            .env("IDLE_TEST_SETUP", "tracing")
            .env("PORT", &port),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "idle: error: cannot listen on 127.0.0.1:{port}: Address already in use"
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// A panic in the setup function is Rust's panic exit code, 101, with the
/// panic's message on stderr.
#[test]
fn a_panicking_setup_exits_101() {
    let output =
        run_bounded(std::process::Command::new(SETUP_SERVER).env("IDLE_TEST_SETUP", "panic"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(101), "{stderr}");
    assert!(stderr.contains("setup panicked on purpose"), "{stderr}");
    assert!(!stderr.contains("idle: listening"), "{stderr}");
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
        .ok_or(())
}
