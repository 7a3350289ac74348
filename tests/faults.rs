//! Faults against real server processes: panics, disconnects, cancellations,
//! HTTP/2, bursts, signals during a drain, connection pools, load and
//! malformed input. After each the server must exit 0 on time, and every
//! request the client saw complete must have completed.
//!
//! The load test saturates both cores for several seconds, which would skew
//! the timing of the other tests; it takes [`LOAD`] exclusively, the others
//! share it.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;
use std::time::{Duration, Instant};

use support::{
    assert_between, assert_idle_exit_after, assert_requests_served, assert_requests_served_and_cut,
    connect, env_timeout, h2, rss_kib, try_get, KeepAlive, Server, EARLY, LATE, PATIENCE, TIMEOUT,
};

static LOAD: RwLock<()> = RwLock::new(());

/// Taken by every test but the load test: they may run side by side.
fn shared() -> RwLockReadGuard<'static, ()> {
    LOAD.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Taken by the load test: it runs alone.
fn exclusive() -> RwLockWriteGuard<'static, ()> {
    LOAD.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Exit 0 for idleness, `TIMEOUT` after the last activity ended, when all
/// the client knows is that it ended between `earliest` and `latest` (for
/// example: no earlier than its request was sent plus the handler's sleep,
/// no later than the client read the response, which on a loaded machine
/// can be well after the server finished).
#[track_caller]
fn assert_idle_exit_between(server: &Server, earliest: Instant, latest: Instant) {
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
    assert_between(
        "idle exit after the earliest end of the last activity",
        earliest,
        exited_at,
        TIMEOUT - EARLY,
        latest.saturating_duration_since(earliest) + TIMEOUT + LATE,
    );
    server.assert_stderr_contains("idle: exiting: idle for 1s");
}

/// `GET path` with `Connection: close`; returns the status, the body, when
/// the request had been written and when the response had been read.
fn get_timed(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String, Instant, Instant)> {
    let mut stream = connect(addr)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )?;
    let written = Instant::now();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let finished = Instant::now();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no complete response: {text:?}")))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head:?}")))?;
    Ok((status, body.to_owned(), written, finished))
}

/// Sends `GET path` with `Connection: close` and reads until the server
/// closes, returning everything received (a truncated response included).
fn get_raw(addr: SocketAddr, path: &str) -> std::io::Result<(String, Instant)> {
    let mut stream = connect(addr)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    // A reset after part of the response still leaves that part in `raw`.
    let _ = stream.read_to_end(&mut raw);
    Ok((String::from_utf8_lossy(&raw).into_owned(), Instant::now()))
}

// ---------------------------------------------------------------------------
// Panics, disconnects, cancellations
// ---------------------------------------------------------------------------

#[test]
fn a_panic_inside_a_streaming_body_ends_the_request_and_spares_the_others() {
    let _shared = shared();
    let server = Server::start(&env_timeout());
    let addr = server.addr;
    // A healthy stream on another connection runs across the panic.
    let healthy = thread::spawn(move || try_get(addr, "/stream/6/100"));
    let (broken, _) = get_raw(server.addr, "/stream-panic/3/100").unwrap();
    assert!(broken.starts_with("HTTP/1.1 200"), "{broken:?}");
    assert!(
        broken.contains("chunk 2"),
        "chunks before the panic: {broken:?}"
    );
    assert!(
        !broken.ends_with("0\r\n\r\n"),
        "a body that panicked must not look complete: {broken:?}"
    );
    let healthy = healthy.join().unwrap().expect("the other stream completes");
    assert_eq!(healthy.status, 200);
    assert!(healthy.body.contains("chunk 5"), "{:?}", healthy.body);
    assert!(healthy.body.ends_with("0\r\n\r\n"), "{:?}", healthy.body);
    let response = server.get("/");
    assert_eq!(response.status, 200, "the server survives the panic");
    assert_idle_exit_after(&server, response.finished_at);
    // The body that panicked never reached its end: cut, not served.
    assert_requests_served_and_cut(&server, 2, 1);
    server.assert_stderr_contains("body stream panicked on purpose");
}

#[test]
fn a_large_download_dropped_half_way_by_the_client_ends_the_request() {
    let _shared = shared();
    let server = Server::start(&env_timeout());
    let mut stream = connect(server.addr).unwrap();
    // 64 MiB in 64 KiB chunks, produced as fast as the socket takes them:
    // the server is blocked writing when the client goes.
    write!(stream, "GET /chunks/1024/65536 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    read_at_least(&mut stream, 4 << 20);
    thread::sleep(Duration::from_millis(1200));
    assert!(
        server.is_running(),
        "a download in progress holds the server"
    );
    drop(stream);
    let gone = Instant::now();
    assert_idle_exit_after(&server, gone);
    // The client left before the end: cut, not served.
    assert_requests_served_and_cut(&server, 0, 1);
}

#[test]
fn a_large_buffered_body_keeps_the_server_awake_until_it_is_written() {
    let _shared = shared();
    let server = Server::start(&[("IDLE_TIMEOUT", "1s"), ("IDLE_GRACE", "500ms")]);
    let mut stream = connect(server.addr).unwrap();
    // 64 MiB as one buffer, read at about 25 MiB/s: 2.5 s of transfer,
    // longer than timeout + grace.
    write!(stream, "GET /bytes/67108864 HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let mut received = 0;
    let mut buffer = vec![0; 256 * 1024];
    let complete = loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break false,
            Ok(read) => received += read,
        }
        // Headers are about 100 bytes.
        if received >= 64 << 20 {
            break true;
        }
        thread::sleep(Duration::from_millis(10));
    };
    let finished = Instant::now();
    assert!(
        complete,
        "download cut off after {} of 64 MiB; server stderr:\n{}",
        received >> 20,
        server.stderr()
    );
    // The server's last write completes when the tail of the body fits in
    // the kernel's socket buffers (a few MiB on loopback, read by this
    // client in well under a second), so its idle clock starts up to that
    // much before the client has read everything.
    assert_idle_exit_between(&server, finished - Duration::from_millis(800), finished);
    server.assert_stderr_lacks("abandoned");
}

/// Reads at least `bytes` bytes of the response (headers included).
fn read_at_least(stream: &mut std::net::TcpStream, bytes: usize) {
    let mut received = 0;
    let mut buffer = [0; 64 * 1024];
    while received < bytes {
        let read = stream.read(&mut buffer).unwrap();
        assert!(read > 0, "closed after {received} bytes");
        received += read;
    }
}

#[test]
fn a_tower_timeout_cancelling_a_slow_handler_ends_its_activity() {
    let _shared = shared();
    let server = Server::start(&env_timeout());
    // Within the 300 ms limit: served.
    let quick = server.get("/timeout/50");
    assert_eq!((quick.status, quick.body.as_str()), (200, "done"));
    // Beyond it: the layer drops the handler's future (and the keep-awake
    // guard the handler holds) and answers 408.
    let sent = Instant::now();
    let cancelled = server.get("/timeout/10000");
    assert_eq!(cancelled.status, 408, "{cancelled:?}");
    assert_between(
        "408 from the timeout layer",
        sent,
        cancelled.finished_at,
        Duration::from_millis(300),
        Duration::from_millis(300) + LATE,
    );
    // Idle one timeout after the 408 (sent 300 ms after the request), not
    // when the 10 s handler would have finished.
    assert_idle_exit_between(
        &server,
        sent + Duration::from_millis(300),
        cancelled.finished_at,
    );
    assert_requests_served(&server, 2);
}

// ---------------------------------------------------------------------------
// HTTP/2
// ---------------------------------------------------------------------------

#[test]
fn http2_prior_knowledge_requests_and_streams_then_an_idle_connection() {
    use http_body_util::BodyExt;

    let _shared = shared();
    let server = Server::start(&env_timeout());
    let addr = server.addr;
    let runtime = h2::runtime();
    let (last_activity, connection) = runtime.block_on(async {
        let (sender, connection) = h2::connect(addr, h2::Windows::default()).await;
        // 20 concurrent streams on the one connection.
        let requests: Vec<_> = (0..20)
            .map(|_| {
                let mut sender = sender.clone();
                tokio::spawn(async move { h2::get(&mut sender, "/").await })
            })
            .collect();
        for request in requests {
            assert_eq!(request.await.unwrap(), (200, "hello".to_owned()));
        }
        // A streaming body, longer than the timeout, read to its end.
        let (status, body) = h2::get(&mut sender.clone(), "/stream/6/250").await;
        assert_eq!(status, 200);
        let expected: String = (0..6).map(|i| format!("chunk {i}\n")).collect();
        assert_eq!(body, expected);
        // A streaming body abandoned after its first frame: the stream is
        // reset (RST_STREAM) while the connection stays open.
        let mut abandoning = sender.clone();
        abandoning.ready().await.unwrap();
        let response = abandoning
            .send_request(h2::request("/stream/100/100"))
            .await
            .unwrap();
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), "chunk 0\n");
        drop(body);
        let reset = Instant::now();
        // The connection stays open and idle, as a client's pool keeps it.
        (reset, (connection, sender))
    });
    assert!(server.is_running());
    // The reset stream is noticed at once; allow one chunk interval.
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert_between(
        "idle exit after the reset stream",
        last_activity,
        exited_at,
        TIMEOUT - EARLY,
        TIMEOUT + LATE + Duration::from_millis(100),
    );
    // The reset stream is cut, not served.
    assert_requests_served_and_cut(&server, 21, 1);
    // The server closed the idle connection (GOAWAY) on its way out.
    let (task, _sender) = connection;
    let closed = runtime.block_on(async { tokio::time::timeout(PATIENCE, task).await });
    assert!(matches!(closed, Ok(Ok(_))), "connection task: {closed:?}");
}

#[test]
fn http2_sigterm_drains_open_streams_then_exits() {
    let _shared = shared();
    let server = Server::start(&[("IDLE_TIMEOUT", "1m")]);
    let addr = server.addr;
    let runtime = h2::runtime();
    let (sender, _connection) = runtime.block_on(h2::connect(addr, h2::Windows::default()));
    // Each stream sends 4 chunks 200 ms apart: it cannot end sooner than
    // 600 ms after it was sent.
    let earliest_end = Instant::now() + Duration::from_millis(600);
    let streams: Vec<_> = (0..5)
        .map(|_| {
            let mut sender = sender.clone();
            runtime.spawn(async move {
                let got = h2::get(&mut sender, "/stream/4/200").await;
                (got, Instant::now())
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(250));
    server.signal("TERM");
    let mut last = Instant::now();
    for stream in streams {
        let ((status, body), finished) = runtime.block_on(stream).unwrap();
        assert_eq!(status, 200);
        assert!(body.ends_with("chunk 3\n"), "{body:?}");
        last = last.max(finished);
    }
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert_between(
        "exit after the drain",
        earliest_end,
        exited_at,
        Duration::ZERO,
        last.saturating_duration_since(earliest_end) + LATE,
    );
    server.assert_stderr_contains("idle: exiting: SIGTERM");
    assert_requests_served(&server, 5);
}

// ---------------------------------------------------------------------------
// Bursts, signals, guards, pools
// ---------------------------------------------------------------------------

#[test]
fn many_concurrent_slow_requests_ending_at_once() {
    let _shared = shared();
    let server = Server::start(&env_timeout());
    const CLIENTS: usize = 200;
    let addr = server.addr;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                get_timed(addr, "/slow/1200")
            })
        })
        .collect();
    // Each handler ends no earlier than its request was written plus its
    // 1.2 s sleep, and no later than its client read the response.
    let mut earliest = server.listening_at;
    let mut latest = server.listening_at;
    for client in clients {
        let (status, body, written, finished) = client
            .join()
            .unwrap()
            .expect("every slow request completes");
        assert_eq!((status, body.as_str()), (200, "done"));
        earliest = earliest.max(written + Duration::from_millis(1200));
        latest = latest.max(finished);
    }
    assert_idle_exit_between(&server, earliest, latest);
    assert_requests_served(&server, CLIENTS as u64);
}

#[test]
fn a_second_signal_of_the_other_kind_during_a_drain_exits_at_once() {
    let _shared = shared();
    for (first, second) in [("TERM", "INT"), ("INT", "TERM")] {
        let server = Server::start(&[("IDLE_TIMEOUT", "1m"), ("IDLE_GRACE", "30s")]);
        let addr = server.addr;
        let short = thread::spawn(move || try_get(addr, "/slow/500"));
        let long = thread::spawn(move || try_get(addr, "/slow/20000"));
        let streaming = thread::spawn(move || get_raw(addr, "/stream/200/100"));
        thread::sleep(Duration::from_millis(200));
        server.signal(first);
        // The short request completes during the drain.
        let response = short.join().unwrap().expect("the short request completes");
        assert_eq!((response.status, response.body.as_str()), (200, "done"));
        thread::sleep(Duration::from_millis(300));
        assert!(server.is_running(), "{first}: still draining");
        let signalled = Instant::now();
        server.signal(second);
        let (status, exited_at) = server.wait_exit(PATIENCE);
        assert_eq!(
            status.code(),
            Some(0),
            "{first}+{second}: {}",
            server.stderr()
        );
        assert_between(
            "exit after the second signal",
            signalled,
            exited_at,
            Duration::ZERO,
            LATE,
        );
        let reason = if first == "TERM" { "SIGTERM" } else { "SIGINT" };
        let stderr = server.stderr();
        assert!(
            stderr.contains(&format!("idle: exiting: {reason};"))
                && stderr.contains("1 request served")
                && stderr.contains("cut short by a second signal, 2 activities abandoned"),
            "{first}+{second}:\n{stderr}"
        );
        // The abandoned ones got no complete response.
        assert!(long.join().unwrap().is_err());
        let (partial, _) = streaming.join().unwrap().unwrap();
        assert!(!partial.ends_with("0\r\n\r\n"), "{partial:?}");
    }
}

#[test]
fn sigterm_waits_for_a_keep_awake_guard() {
    let _shared = shared();
    let server = Server::start(&[("IDLE_TIMEOUT", "1m"), ("IDLE_GRACE", "5s")]);
    let (status, body, written, finished) = get_timed(server.addr, "/guard/1500").unwrap();
    assert_eq!((status, body.as_str()), (200, "guarded"));
    thread::sleep(Duration::from_millis(200));
    server.signal("TERM");
    // The guard is taken after the request arrived and before the response
    // was read, and lives 1.5 s.
    let earliest = written + Duration::from_millis(1500);
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert_between(
        "exit after the guard",
        earliest,
        exited_at,
        Duration::ZERO,
        finished.saturating_duration_since(written) + LATE,
    );
    let stderr = server.stderr();
    assert!(stderr.contains("idle: exiting: SIGTERM"), "{stderr}");
    assert!(!stderr.contains("abandoned"), "{stderr}");
}

#[test]
fn sigterm_waits_for_a_keep_awake_guard_at_most_grace() {
    let _shared = shared();
    let server = Server::start(&[("IDLE_TIMEOUT", "1m"), ("IDLE_GRACE", "700ms")]);
    let response = server.get("/guard/20000");
    assert_eq!(response.status, 200);
    let signalled = Instant::now();
    server.signal("TERM");
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert_between(
        "exit at grace",
        signalled,
        exited_at,
        Duration::from_millis(700) - EARLY,
        Duration::from_millis(700) + LATE,
    );
    assert!(
        server
            .stderr()
            .contains("grace expired, 1 activity abandoned"),
        "{}",
        server.stderr()
    );
}

#[test]
fn a_pool_of_50_idle_keep_alive_connections_does_not_hold_the_server_awake() {
    let _shared = shared();
    let server = Server::start(&env_timeout());
    let mut pool: Vec<KeepAlive> = (0..50)
        .map(|_| KeepAlive::connect(server.addr).unwrap())
        .collect();
    // Two rounds over the whole pool, as a proxy spreads requests.
    let mut last = Instant::now();
    for _ in 0..2 {
        for connection in &mut pool {
            assert_eq!(connection.get("/").unwrap(), (200, 5));
            last = Instant::now();
        }
    }
    assert_idle_exit_after(&server, last);
    assert_requests_served(&server, 100);
    for connection in &mut pool {
        let rest = connection.read_rest(Duration::from_secs(5));
        assert!(
            matches!(&rest, Ok(bytes) if bytes.is_empty()),
            "an idle pooled connection is closed cleanly: {rest:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------

/// Runs `per_thread` requests on each of `threads` threads, each opening a
/// new keep-alive connection every `per_connection` requests. Every tenth
/// request goes to the ignored `/healthz`. Returns the requests that count
/// and when the last request was sent.
fn load(
    addr: SocketAddr,
    threads: usize,
    per_thread: usize,
    per_connection: usize,
) -> (u64, Instant) {
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            thread::spawn(move || {
                let mut counted = 0;
                let mut done = 0;
                let mut last_sent = Instant::now();
                while done < per_thread {
                    let mut connection = KeepAlive::connect(addr).expect("connect");
                    for _ in 0..per_connection.min(per_thread - done) {
                        last_sent = Instant::now();
                        if done % 10 == 9 {
                            assert_eq!(connection.get("/healthz").unwrap(), (200, 2));
                        } else {
                            assert_eq!(connection.get("/").unwrap(), (200, 5));
                            counted += 1;
                        }
                        done += 1;
                    }
                }
                (counted, last_sent)
            })
        })
        .collect();
    workers
        .into_iter()
        .map(|worker| worker.join().unwrap())
        .fold(
            (0, Instant::now() - Duration::from_secs(3600)),
            |(n, t), (m, u)| (n + m, t.max(u)),
        )
}

#[test]
fn load_then_idleness_rss_stays_flat_and_the_exit_is_on_time() {
    const THREADS: usize = 8;
    const PER_CONNECTION: usize = 250;
    const TOTAL: usize = 120_000;
    /// RSS growth allowed across the measured run.
    const RSS_BOUND_KIB: u64 = 4 * 1024;

    let _exclusive = exclusive();
    let server = Server::start(&env_timeout());
    let addr = server.addr;
    let rss_start = rss_kib(server.pid).expect("VmRSS of the server");
    // Warm-up: the allocator's arenas, hyper's buffers, the connection
    // tasks' slabs reach their working size.
    let warm_started = Instant::now();
    let (warm_counted, _) = load(addr, THREADS, 1_000, PER_CONNECTION);
    let warm_up = warm_started.elapsed();
    let rss_before = rss_kib(server.pid).unwrap();

    let started = Instant::now();
    let (run_counted, last_sent) = load(addr, THREADS, TOTAL / THREADS, PER_CONNECTION);
    let elapsed = started.elapsed();
    let finished = Instant::now();
    thread::sleep(Duration::from_millis(100));
    let rss_after = rss_kib(server.pid).expect("still running, 100 ms after the load");

    eprintln!(
        "load: {TOTAL} requests ({} counted, the rest /healthz) over {} connections \
         from {THREADS} threads in {:.2} s: {:.0} req/s (debug build; warm-up {} requests in {:.2} s)",
        run_counted,
        TOTAL / PER_CONNECTION,
        elapsed.as_secs_f64(),
        TOTAL as f64 / elapsed.as_secs_f64(),
        THREADS * 1_000,
        warm_up.as_secs_f64(),
    );
    eprintln!(
        "load: RSS at start {rss_start} KiB, after warm-up {rss_before} KiB, after the run \
         {rss_after} KiB ({:+} KiB)",
        rss_after as i64 - rss_before as i64
    );
    assert!(
        rss_after <= rss_before + RSS_BOUND_KIB,
        "RSS grew by {} KiB across {TOTAL} requests",
        rss_after - rss_before
    );
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    eprintln!(
        "load: idle exit {} ms after the last response was read, {} ms after the last \
         request was sent",
        exited_at.saturating_duration_since(finished).as_millis(),
        exited_at.saturating_duration_since(last_sent).as_millis()
    );
    // The last request ended after it was sent and before the clients had
    // all read their responses.
    assert_between(
        "idle exit after the load",
        last_sent,
        exited_at,
        TIMEOUT - EARLY,
        finished.saturating_duration_since(last_sent) + TIMEOUT + LATE,
    );
    server.assert_stderr_contains("idle: exiting: idle for 1s");
    assert_requests_served(&server, warm_counted + run_counted);
}

// ---------------------------------------------------------------------------
// Malformed and hostile HTTP
// ---------------------------------------------------------------------------

/// Sends `bytes` on a new connection and reads until the server closes it
/// (which it must do within a few seconds); returns the first line received.
fn send_and_read_until_closed(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // The server may close while we are still writing: that is fine.
    let _ = stream.write_all(bytes);
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => received.extend_from_slice(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(error) => panic!(
                "the server kept a connection open after {:?}: {error}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
            ),
        }
    }
    if received.is_empty() {
        return "(closed without a response)".to_owned();
    }
    let line = received.split(|&b| b == b'\r').next().unwrap_or_default();
    let shown = line[..line.len().min(60)].escape_ascii().to_string();
    format!("{shown} ({} bytes)", received.len())
}

/// Bytes that look random, from a fixed seed.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 56) as u8
        })
        .collect()
}

#[test]
fn garbage_and_oversized_requests_are_refused_and_the_server_carries_on() {
    let _shared = shared();
    let server = Server::start(&env_timeout());
    let huge = "a".repeat(1 << 20);
    let mut h2_garbage = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    h2_garbage.extend(noise(2048, 7));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("4 KiB of noise", noise(4096, 1)),
        ("a TLS ClientHello", {
            let mut hello = vec![
                0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
            ];
            hello.extend(noise(508, 2));
            hello
        }),
        ("NUL bytes", vec![0; 1024]),
        (
            "blank lines, then a line of two words",
            b"\r\n\r\nGARBAGE GARBAGE\r\n\r\n".to_vec(),
        ),
        (
            "an unknown HTTP version",
            b"GET / HTTP/9.9\r\nHost: t\r\n\r\n".to_vec(),
        ),
        (
            "a negative Content-Length",
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n".to_vec(),
        ),
        (
            "a request line of 1 MiB",
            format!("GET /{huge} HTTP/1.1\r\nHost: t\r\n\r\n").into_bytes(),
        ),
        (
            "a request line of 1 MiB that never ends",
            format!("GET /{huge}").into_bytes(),
        ),
        (
            "a header of 1 MiB",
            format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {huge}\r\n\r\n").into_bytes(),
        ),
        ("the HTTP/2 preface, then noise", h2_garbage),
    ];
    for (what, bytes) in &cases {
        let first_line = send_and_read_until_closed(server.addr, bytes);
        eprintln!("malformed: {what}: {first_line}");
        assert!(
            server.is_running(),
            "crashed by {what}:\n{}",
            server.stderr()
        );
    }
    let response = server.get("/");
    assert_eq!((response.status, response.body.as_str()), (200, "hello"));
    assert_idle_exit_after(&server, response.finished_at);
    assert_requests_served(&server, 1);
}

/// Connects and sends `prefix`, then one byte of `x` every 50 ms until
/// `duration` has passed; closes and returns when it closed.
fn trickle(addr: SocketAddr, prefix: &'static str, duration: Duration) -> Instant {
    let mut stream = connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.write_all(prefix.as_bytes()).unwrap();
    let started = Instant::now();
    while started.elapsed() < duration {
        thread::sleep(Duration::from_millis(50));
        stream
            .write_all(b"x")
            .expect("the server closed a trickling connection");
    }
    drop(stream);
    Instant::now()
}

#[test]
fn slowloris_clients_neither_crash_the_server_nor_block_others_and_it_exits_after_they_go() {
    let _shared = shared();
    let server = Server::start(&env_timeout());
    let addr = server.addr;
    // A request line that never ends and a header that trickles, 3.5 s
    // each: over three timeouts, well under hyper's 30 s header-read
    // timeout, and out of step with the watchdog's once-per-timeout wake-ups.
    let trickling = Duration::from_millis(3500);
    let slow = [
        thread::spawn(move || trickle(addr, "GET /", trickling)),
        thread::spawn(move || trickle(addr, "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ", trickling)),
    ];
    let mut last_request = server.listening_at;
    for _ in 0..4 {
        thread::sleep(Duration::from_millis(250));
        let response = server.get("/");
        assert_eq!((response.status, response.body.as_str()), (200, "hello"));
        last_request = response.finished_at;
    }
    // By design a connection that has not finished its first request keeps
    // the server awake (it may be a real client about to be served).
    thread::sleep(TIMEOUT + LATE);
    assert!(
        server.is_running(),
        "exited while clients were sending their request"
    );
    let closed = slow.map(|client| client.join().unwrap());
    let closed = closed[0].max(closed[1]);
    assert!(closed > last_request + TIMEOUT + LATE);
    // The trickling connections end without a request, which does not move
    // the idle clock; last request + timeout has long passed, so the server
    // stops as soon as they are gone.
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    eprintln!(
        "slowloris: exit {} ms after the slow clients closed",
        exited_at.saturating_duration_since(closed).as_millis()
    );
    assert_between(
        "exit after the slow clients closed",
        closed,
        exited_at,
        Duration::ZERO,
        LATE,
    );
    assert_requests_served(&server, 4);
}

#[test]
fn sigterm_during_a_slowloris_header_exits_within_grace() {
    let _shared = shared();
    let server = Server::start(&[("IDLE_TIMEOUT", "1m"), ("IDLE_GRACE", "1s")]);
    let addr = server.addr;
    let slow = thread::spawn(move || {
        let mut stream = connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").unwrap();
        // Trickle until the server closes the connection (or 10 s).
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            thread::sleep(Duration::from_millis(50));
            if stream.write_all(b"x").is_err() {
                break;
            }
        }
    });
    thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    server.signal("TERM");
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    eprintln!(
        "slowloris + SIGTERM: exit {} ms after the signal; {}",
        exited_at.duration_since(signalled).as_millis(),
        server.stderr().lines().last().unwrap_or_default()
    );
    assert_between(
        "exit after SIGTERM",
        signalled,
        exited_at,
        Duration::ZERO,
        Duration::from_secs(1) + LATE,
    );
    slow.join().unwrap();
}

#[test]
fn a_slowloris_second_request_on_a_kept_alive_connection_does_not_hold_the_server() {
    let _shared = shared();
    let server = Server::start(&[("IDLE_TIMEOUT", "1s"), ("IDLE_GRACE", "1s")]);
    let mut connection = KeepAlive::connect(server.addr).unwrap();
    assert_eq!(connection.get("/").unwrap(), (200, 5));
    let answered = Instant::now();
    // The second request's header trickles in for 4 s. It has not reached
    // the service, so it is not activity: the shutdown gives the head a
    // half a second to complete (as a proxy's head split across packets
    // would), then closes the connection instead of waiting for it.
    let mut stream = connection.try_clone_stream().unwrap();
    let trickler = thread::spawn(move || {
        let _ = stream.write_all(b"GET / HTTP/1.1\r\nX-Slow: ");
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(4) {
            thread::sleep(Duration::from_millis(50));
            if stream.write_all(b"x").is_err() {
                break;
            }
        }
    });
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert_between(
        "idle exit after the answer, with a trickling head",
        answered,
        exited_at,
        TIMEOUT - EARLY,
        TIMEOUT + Duration::from_secs(1) + LATE,
    );
    server.assert_stderr_lacks("abandoned");
    assert_requests_served(&server, 1);
    trickler.join().unwrap();
}
