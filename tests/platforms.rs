//! Platform behaviour of a real server process: probes that never count,
//! the idle mode chosen from the environment, and systemd readiness.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::thread;
use std::time::{Duration, Instant};

use support::{assert_between, connect, Server, EARLY, LATE, PATIENCE, TIMEOUT};

/// `GET /` with extra header lines; returns the status.
fn get_with(server: &Server, headers: &str) -> u16 {
    let mut stream = connect(server.addr).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    raw.split(' ').nth(1).unwrap().parse().unwrap()
}

#[test]
fn kubernetes_and_knative_probes_never_count_as_activity() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1s")]);
    let probes = [
        "User-Agent: kube-probe/1.30\r\n",
        "K-Kubelet-Probe: queue\r\n",
        "K-Network-Probe: activator\r\n",
    ];
    // Probes every 150 ms for longer than the timeout, on the main route.
    let mut sent = 0;
    while Instant::now() < server.listening_at + TIMEOUT + LATE && server.is_running() {
        if let Ok(mut stream) = connect(server.addr) {
            let _ = write!(
                stream,
                "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{}\r\n",
                probes[sent % probes.len()]
            );
            let mut raw = String::new();
            if stream.read_to_string(&mut raw).is_ok() && raw.starts_with("HTTP/1.1 200") {
                sent += 1;
            }
        }
        thread::sleep(Duration::from_millis(150));
    }
    assert!(sent >= 3, "the probes were served ({sent})");
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert_between(
        "idle exit despite probes",
        server.listening_at,
        exited_at,
        TIMEOUT - EARLY,
        TIMEOUT + LATE,
    );
    server.assert_stderr_contains("0 requests served");
}

#[test]
fn an_ordinary_header_still_counts() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1s")]);
    assert_eq!(get_with(&server, "User-Agent: Mozilla/5.0\r\n"), 200);
    let (_, _) = server.wait_exit(PATIENCE);
    server.assert_stderr_contains("1 request served");
}

#[test]
fn on_cloud_run_the_server_does_not_exit_when_idle_but_drains_on_sigterm() {
    let server = Server::start(&[("IDLE_TIMEOUT", "300ms"), ("K_SERVICE", "hello")]);
    assert!(
        server
            .stderr()
            .contains("mode drain-only (Cloud Run/Knative: K_SERVICE is set)"),
        "{}",
        server.stderr()
    );
    thread::sleep(Duration::from_millis(1500));
    assert!(server.is_running(), "exited although drain-only");
    server.signal("TERM");
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    server.assert_stderr_contains("idle: exiting: SIGTERM");
}

#[test]
fn on_aws_lambda_the_server_does_not_exit_when_idle_but_drains_on_sigterm() {
    let server = Server::start(&[
        ("IDLE_TIMEOUT", "300ms"),
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
    ]);
    assert!(
        server
            .stderr()
            .contains("mode drain-only (AWS Lambda: AWS_LAMBDA_RUNTIME_API is set)"),
        "{}",
        server.stderr()
    );
    assert_eq!(get_with(&server, ""), 200);
    // Five idle timeouts after the request: an exit mode would have gone.
    thread::sleep(Duration::from_millis(1500));
    assert!(server.is_running(), "exited although drain-only");
    server.signal("TERM");
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    server.assert_stderr_contains("idle: exiting: SIGTERM; uptime ");
    server.assert_stderr_contains("1 request served");
}

#[test]
fn idle_mode_overrides_detection_and_bad_values_exit_2() {
    let server = Server::start(&[
        ("IDLE_TIMEOUT", "300ms"),
        ("K_SERVICE", "x"),
        ("IDLE_MODE", "exit"),
    ]);
    server.assert_stderr_contains("mode exit (IDLE_MODE is set)");
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));

    let (status, stderr) = support::run_to_exit(&[("IDLE_MODE", "sometimes")]);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("IDLE_MODE=\"sometimes\""), "{stderr}");
}

#[test]
fn fly_machines_keep_the_idle_exit() {
    let server = Server::start(&[
        ("IDLE_TIMEOUT", "300ms"),
        ("FLY_MACHINE_ID", "e2865013d1e786"),
    ]);
    assert!(
        server
            .stderr()
            .contains("mode exit (Fly.io: FLY_MACHINE_ID is set)"),
        "{}",
        server.stderr()
    );
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
}

#[test]
fn systemd_hears_ready_when_listening_and_stopping_when_the_drain_starts() {
    let dir = std::env::temp_dir().join(format!("idle-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let server = Server::start(&[
        ("IDLE_TIMEOUT", "1m"),
        ("NOTIFY_SOCKET", path.to_str().unwrap()),
    ]);
    let mut buffer = [0; 256];
    let read = socket.recv(&mut buffer).expect("READY=1 from the server");
    assert_eq!(
        std::str::from_utf8(&buffer[..read]).unwrap().trim(),
        "READY=1"
    );
    server.signal("TERM");
    let read = socket
        .recv(&mut buffer)
        .expect("STOPPING=1 from the server");
    assert_eq!(
        std::str::from_utf8(&buffer[..read]).unwrap().trim(),
        "STOPPING=1"
    );
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
