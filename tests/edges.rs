//! Activity at the connection level, against real server processes and real
//! clients: what a proxy in front of the server would count as busy must
//! keep it awake, and nothing a client does may keep it awake for ever.
//!
//! - upgraded connections (WebSockets over HTTP/1.1 and HTTP/2) with no
//!   activity code in the handler;
//! - a slow HTTP/2 download of a buffered body;
//! - a request head split across the idle deadline on a kept-alive
//!   connection;
//! - a client that stops reading;
//! - failing accepts (file descriptors exhausted);
//! - a connected socket passed by `systemd-socket-activate -a`;
//! - what the exit line reports after a drain that cut work short.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::{
    assert_between, assert_idle_exit_after, connect, get_keep_alive, h2, Server, LATE, PATIENCE,
    SERVER, TIMEOUT,
};

// ---------------------------------------------------------------------------
// Upgrades
// ---------------------------------------------------------------------------

/// A WebSocket that exchanges a message every 400 ms for 3 s (three
/// timeouts) keeps the server up, though its handler holds no guard; the
/// server exits one timeout after it closes.
#[test]
fn a_websocket_over_http1_keeps_the_server_awake_until_it_closes() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1s")]);
    let url = format!("ws://{}/ws-echo", server.addr);
    let (mut socket, _) = tungstenite::connect(url).expect("WebSocket handshake");
    let opened = Instant::now();
    let mut sent = 0;
    while opened.elapsed() < Duration::from_secs(3) {
        thread::sleep(Duration::from_millis(400));
        sent += 1;
        socket
            .send(tungstenite::Message::text(format!("ping {sent}")))
            .unwrap_or_else(|error| panic!("send {sent}: {error}\n{}", server.stderr()));
        let echo = socket
            .read()
            .unwrap_or_else(|error| panic!("echo {sent}: {error}\n{}", server.stderr()));
        assert_eq!(echo.into_text().unwrap().as_str(), format!("ping {sent}"));
    }
    assert!(server.is_running());
    socket.close(None).unwrap();
    // Read until the server's close frame and the end of the stream.
    while socket.read().is_ok() {}
    let closed = Instant::now();
    assert_idle_exit_after(&server, closed);
}

/// The same over HTTP/2: an extended CONNECT stream (RFC 8441), beside
/// nothing else on its connection.
#[test]
fn a_websocket_over_http2_keeps_the_server_awake_until_it_closes() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{protocol::Role, Message};

    let server = Server::start(&[("IDLE_TIMEOUT", "1s")]);
    let runtime = h2::runtime();
    let closed = runtime.block_on(async {
        let (mut sender, _connection) = h2::connect(server.addr, h2::Windows::default()).await;
        let request = hyper::Request::connect(format!("http://{}/ws-echo", server.addr))
            .extension(hyper::ext::Protocol::from_static("websocket"))
            .header("sec-websocket-version", "13")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .unwrap();
        sender.ready().await.unwrap();
        let response = sender
            .send_request(request)
            .await
            .expect("CONNECT answered");
        assert_eq!(response.status(), 200, "{}", server.stderr());
        let upgraded = hyper::upgrade::on(response).await.expect("upgraded stream");
        let mut socket = tokio_tungstenite::WebSocketStream::from_raw_socket(
            hyper_util::rt::TokioIo::new(upgraded),
            Role::Client,
            None,
        )
        .await;
        let opened = Instant::now();
        let mut sent = 0;
        while opened.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(400)).await;
            sent += 1;
            socket
                .send(Message::text(format!("ping {sent}")))
                .await
                .unwrap();
            let echo = socket.next().await.expect("an echo").expect("an echo");
            assert_eq!(echo.into_text().unwrap().as_str(), format!("ping {sent}"));
        }
        assert!(server.is_running(), "{}", server.stderr());
        // The server echoes the close frame and ends the stream; HTTP/2 may
        // reset our half (NO_ERROR) while the close is still being flushed.
        let _ = socket.close(None).await;
        while let Some(Ok(_)) = socket.next().await {}
        Instant::now()
    });
    assert_idle_exit_after(&server, closed);
}

// ---------------------------------------------------------------------------
// Bytes not yet written
// ---------------------------------------------------------------------------

/// 20 MB in one buffer, over HTTP/2 to a client with 64 KiB windows that
/// reads a frame every 3 ms: the whole body arrives, though it takes several
/// idle timeouts and grace is short.
#[test]
fn a_slow_http2_download_of_a_buffered_body_completes() {
    const SIZE: usize = 20_000_000;
    let server = Server::start(&[("IDLE_TIMEOUT", "1s"), ("IDLE_GRACE", "1s")]);
    let runtime = h2::runtime();
    let (received, finished, took) = runtime.block_on(async {
        use http_body_util::BodyExt;
        let windows = h2::Windows {
            stream: 64 * 1024,
            connection: 64 * 1024,
        };
        let (mut sender, _connection) = h2::connect(server.addr, windows).await;
        sender.ready().await.unwrap();
        let started = Instant::now();
        let response = sender
            .send_request(h2::request(&format!("/bytes/{SIZE}")))
            .await
            .expect("response head");
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut received = 0;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { break };
            if let Ok(data) = frame.into_data() {
                received += data.len();
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        (received, Instant::now(), started.elapsed())
    });
    assert_eq!(
        received,
        SIZE,
        "cut off after {took:?}\n{}",
        server.stderr()
    );
    assert!(
        took > TIMEOUT * 2,
        "the download was too fast to test anything: {took:?}"
    );
    eprintln!("20 MB over HTTP/2 with 64 KiB windows, a frame every 3 ms: {took:?}");
    assert_idle_exit_after(&server, finished);
}

/// A client that asks for 20 MB and never reads holds the server for 30 s
/// (the connection bound), then is closed, and the server goes idle.
#[test]
fn a_client_that_stops_reading_is_closed_after_30s() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1s")]);
    let mut stream = connect(server.addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(stream, "GET /bytes/20000000 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let asked = Instant::now();
    thread::sleep(Duration::from_secs(3));
    assert!(server.is_running(), "busy writing: {}", server.stderr());
    let (status, exited_at) = server.wait_exit(Duration::from_secs(60));
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert_between(
        "exit after the stalled client is closed",
        asked,
        exited_at,
        Duration::from_secs(30),
        Duration::from_secs(30) + TIMEOUT + LATE + Duration::from_secs(1),
    );
    assert!(
        server
            .stderr()
            .contains("accepted no response bytes for 30s"),
        "{}",
        server.stderr()
    );
    drop(stream);
}

// ---------------------------------------------------------------------------
// Partial heads
// ---------------------------------------------------------------------------

/// On a kept-alive connection, the head of a POST begins 0.5 s after the
/// first response and ends 1.3 s after it (timeout 1 s): the POST is
/// answered, not dropped by an idle exit between its two halves.
#[test]
fn a_keep_alive_request_head_split_across_the_deadline_is_answered() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1s")]);
    let mut stream = connect(server.addr).unwrap();
    let first = get_keep_alive(&mut stream, "/");
    assert_eq!(first.status, 200);
    thread::sleep(Duration::from_millis(500));
    stream.write_all(b"POST /echo HTTP/1.1\r\nHo").unwrap();
    thread::sleep(Duration::from_millis(800));
    stream
        .write_all(b"st: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|error| panic!("{error}\n{}", server.stderr()));
    assert!(
        response.starts_with("HTTP/1.1 200") && response.ends_with("hello"),
        "{response:?}\n{}",
        server.stderr()
    );
    assert_idle_exit_after(&server, Instant::now());
}

// ---------------------------------------------------------------------------
// Failing accepts and socket activation
// ---------------------------------------------------------------------------

/// With 24 file descriptors, 14 idle keep-alive connections and 16 more
/// clients waiting in the accept queue, every accept fails at once (EMFILE):
/// the server still exits one timeout after its last request, and says why
/// accepts fail on stderr.
#[test]
fn failing_accepts_do_not_delay_the_idle_exit() {
    let mut command = Command::new("sh");
    command.args(["-c", "ulimit -n 24 && exec \"$0\"", SERVER]);
    let server = Server::start_command(command, &[("IDLE_TIMEOUT", "1s")]);
    let mut idle = Vec::new();
    let mut last = server.listening_at;
    for _ in 0..14 {
        let Ok(mut stream) = connect(server.addr) else {
            break;
        };
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        if write!(stream, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_err() {
            break;
        }
        let mut reply = [0; 512];
        if !matches!(stream.read(&mut reply), Ok(n) if n > 0) {
            // No descriptor left for it: it waits in the queue.
            idle.push(stream);
            break;
        }
        last = Instant::now();
        idle.push(stream);
    }
    assert!(
        idle.len() >= 5,
        "too few connections served: {}",
        idle.len()
    );
    let waiting: Vec<TcpStream> = (0..16).filter_map(|_| connect(server.addr).ok()).collect();
    assert_idle_exit_after(&server, last);
    server.assert_stderr_contains("idle: accept failed:");
    drop((idle, waiting));
}

/// `systemd-socket-activate -a` (systemd's `Accept=yes`) passes a connected
/// socket: the server refuses it at once with exit 1 and a line naming the
/// fix, and the client is not left hanging.
#[test]
fn a_connected_socket_from_socket_activation_is_refused_at_once() {
    // The activator binds an address that was free a moment ago; another
    // test may take it in between: then try another.
    let (addr, mut activator, wait_for) = (0..5)
        .find_map(|_| {
            let addr = free_addr();
            let mut activator = Command::new("systemd-socket-activate")
                .args(["-a", &format!("--listen={addr}"), SERVER])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("systemd-socket-activate (Debian's systemd package)");
            let (lines_tx, lines) = mpsc::channel();
            let pipe = activator.stderr.take().unwrap();
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let _ = lines_tx.send(line);
                }
            });
            let wait_for = move |wanted: &str| -> Vec<String> {
                let deadline = Instant::now() + PATIENCE;
                let mut seen = Vec::new();
                while let Ok(line) =
                    lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                {
                    let found = line.contains(wanted) || line.contains("Address already in use");
                    seen.push(line);
                    if found {
                        return seen;
                    }
                }
                panic!("no line containing {wanted:?}: {seen:#?}");
            };
            let seen = wait_for("Listening on");
            if seen
                .iter()
                .any(|line| line.contains("Address already in use"))
            {
                let _ = activator.kill();
                let _ = activator.wait();
                return None;
            }
            Some((addr, activator, wait_for))
        })
        .expect("a free address for systemd-socket-activate in 5 tries");
    let mut client = connect(addr).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(client, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let asked = Instant::now();
    let mut rest = Vec::new();
    let read = client.read_to_end(&mut rest);
    assert!(
        !matches!(&read, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "the client hangs: {read:?}"
    );
    assert!(asked.elapsed() < Duration::from_secs(5));
    let seen = wait_for("Accept=no");
    assert!(
        seen.iter().any(|line| line.starts_with("idle: error:")),
        "{seen:#?}"
    );
    let _ = activator.kill();
    let _ = activator.wait();
}

// ---------------------------------------------------------------------------
// Reports
// ---------------------------------------------------------------------------

/// A drain that gives up reports what it cut, ignored requests included, and
/// does not count cut requests as served.
#[test]
fn the_exit_line_counts_what_the_drain_cut() {
    let server = Server::start(&[("IDLE_TIMEOUT", "1m"), ("IDLE_GRACE", "500ms")]);
    let addr = server.addr;
    let mut probe = connect(addr).unwrap();
    write!(
        probe,
        "GET /slow/20000 HTTP/1.1\r\nHost: x\r\nK-Network-Probe: activator\r\n\r\n"
    )
    .unwrap();
    let counted = thread::spawn(move || support::try_get(addr, "/slow/20000"));
    assert_eq!(server.get("/").status, 200);
    thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    let stderr = server.stderr();
    assert!(
        stderr.contains("idle: exiting: SIGTERM;")
            && stderr.contains(", 1 request served; grace expired, 2 activities abandoned"),
        "{stderr}"
    );
    assert!(counted.join().unwrap().is_err());
    drop(probe);
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
