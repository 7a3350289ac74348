//! Spawning the test server (`tests/servers/test_server.rs`) as a real
//! process and talking to it over real HTTP on 127.0.0.1.
//!
//! Everything here is bounded in time: a server that does not start, answer
//! or exit within a generous limit fails the test instead of hanging it.

#![allow(dead_code)] // each test file uses a different part

pub mod activator;
pub mod external;
pub mod h2;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Longest wait for anything that should happen at once (start, answer).
pub const PATIENCE: Duration = Duration::from_secs(30);

pub const SERVER: &str = env!("CARGO_BIN_EXE_idle-test-server");

/// A running server process.
pub struct Server {
    /// The TCP address from the startup line (`0.0.0.0:0` for a Unix
    /// socket).
    pub addr: SocketAddr,
    /// The Unix socket from the startup line, if it names one.
    pub unix: Option<std::path::PathBuf>,
    pub pid: u32,
    /// When the startup line was read: the idle clock starts about then.
    pub listening_at: Instant,
    exited: mpsc::Receiver<(ExitStatus, Instant)>,
    stderr: Arc<Mutex<String>>,
    /// Set when the stderr pipe reaches its end (the process has exited and
    /// every line has been read).
    stderr_closed: Arc<AtomicBool>,
    child: Arc<Mutex<Option<Child>>>,
}

impl Server {
    /// Starts the test server with these environment variables.
    pub fn start(env: &[(&str, &str)]) -> Server {
        Self::start_command(Command::new(SERVER), env)
    }

    /// Starts `command` (the test server, perhaps behind a wrapper such as
    /// systemd-socket-activate) and waits for its startup line.
    pub fn start_command(mut command: Command, env: &[(&str, &str)]) -> Server {
        command
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn the test server");
        let pid = child.id();
        let stderr = Arc::new(Mutex::new(String::new()));
        let (listening_tx, listening_rx) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        let stderr_closed = Arc::new(AtomicBool::new(false));
        thread::spawn({
            let stderr = stderr.clone();
            let stderr_closed = stderr_closed.clone();
            move || {
                let _closed = SetOnDrop(stderr_closed);
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    // Record the line before announcing it, so that a test
                    // that has seen "listening" also finds it in stderr().
                    {
                        let mut all = stderr.lock().unwrap();
                        all.push_str(&line);
                        all.push('\n');
                    }
                    if let Some(rest) = line.strip_prefix("idle: listening on ") {
                        let addr = rest.split([' ', ';']).next().unwrap().to_owned();
                        let _ = listening_tx.send((addr, Instant::now()));
                    }
                }
            }
        });
        let child = Arc::new(Mutex::new(Some(child)));
        let (exit_tx, exited) = mpsc::channel();
        thread::spawn({
            let child = child.clone();
            move || loop {
                // try_wait in a short loop rather than a blocking wait, so the
                // Child stays reachable for the kill in Drop.
                let status = child.lock().unwrap().as_mut().map(|c| c.try_wait());
                match status {
                    Some(Ok(Some(status))) => {
                        let _ = exit_tx.send((status, Instant::now()));
                        return;
                    }
                    Some(Ok(None)) => thread::sleep(Duration::from_millis(1)),
                    _ => return,
                }
            }
        });
        let (addr, listening_at) = match listening_rx.recv_timeout(PATIENCE) {
            Ok(found) => found,
            Err(_) => {
                let status = exited.recv_timeout(Duration::from_secs(1)).ok();
                panic!(
                    "the server did not start (exit: {status:?}); stderr:\n{}",
                    stderr.lock().unwrap()
                )
            }
        };
        let (addr, unix) = match addr.strip_prefix("unix:") {
            Some(path) => ("0.0.0.0:0".parse().unwrap(), Some(path.into())),
            None => (
                addr.strip_prefix("http://")
                    .and_then(|addr| addr.parse().ok())
                    .expect("an address in the startup line"),
                None,
            ),
        };
        Server {
            addr,
            unix,
            pid,
            listening_at,
            exited,
            stderr,
            stderr_closed,
            child,
        }
    }

    /// Waits up to `limit` for the process to exit; returns its status and
    /// when it exited.
    ///
    /// Once it returns, [`stderr`](Server::stderr) holds every line the
    /// process wrote (the exit line included), or as many as arrived within
    /// a few more seconds.
    pub fn wait_exit(&self, limit: Duration) -> (ExitStatus, Instant) {
        let exit = match self.exited.recv_timeout(limit) {
            Ok(exit) => exit,
            Err(_) => panic!(
                "the server did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            ),
        };
        let waiting = Instant::now();
        while !self.stderr_closed.load(Ordering::Acquire)
            && waiting.elapsed() < Duration::from_secs(5)
        {
            thread::sleep(Duration::from_millis(1));
        }
        exit
    }

    /// True if the process has not exited yet.
    pub fn is_running(&self) -> bool {
        self.child
            .lock()
            .unwrap()
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Asserts that what the server wrote on stderr so far contains `text`;
    /// shows all of it if not.
    #[track_caller]
    pub fn assert_stderr_contains(&self, text: &str) {
        let stderr = self.stderr();
        assert!(stderr.contains(text), "stderr lacks {text:?}:\n{stderr}");
    }

    /// Asserts that what the server wrote on stderr so far lacks `text`.
    #[track_caller]
    pub fn assert_stderr_lacks(&self, text: &str) {
        let stderr = self.stderr();
        assert!(!stderr.contains(text), "stderr has {text:?}:\n{stderr}");
    }

    /// Sends signal `name` (`TERM`, `INT`) with kill(1); returns the moment
    /// just before, the earliest the server can have seen it (a reference
    /// taken after `kill` returns may come after the server has already
    /// exited).
    pub fn signal(&self, name: &str) -> Instant {
        let sent = Instant::now();
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed");
        sent
    }

    pub fn get(&self, path: &str) -> Response {
        get(self.addr, path)
    }
}

/// Sets its flag when dropped: however the stderr reader ends.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.lock().unwrap().as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs a process to completion with these environment variables; returns
/// its status and stderr.
pub fn run_to_exit(env: &[(&str, &str)]) -> (ExitStatus, String) {
    let env: Vec<(&str, &std::ffi::OsStr)> = env
        .iter()
        .map(|(name, value)| (*name, std::ffi::OsStr::new(*value)))
        .collect();
    run_to_exit_os(&env)
}

/// [`run_to_exit`] with values that need not be UTF-8.
pub fn run_to_exit_os(env: &[(&str, &std::ffi::OsStr)]) -> (ExitStatus, String) {
    let mut child = Command::new(SERVER)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the test server");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status, stderr);
        }
        if started.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("the server did not exit within {PATIENCE:?}");
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Everything after the header block, undecoded (chunked bodies keep
    /// their chunk sizes).
    pub body: String,
    /// When the last byte arrived.
    pub finished_at: Instant,
}

/// `GET path` on a new connection with `Connection: close`, read to the end.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    try_get(addr, path).unwrap_or_else(|error| panic!("GET {path}: {error}"))
}

pub fn try_get(addr: SocketAddr, path: &str) -> std::io::Result<Response> {
    get_over(connect(addr)?, &addr.to_string(), path)
}

/// `GET path` over the Unix socket at `socket`, with `Connection: close`,
/// read to the end.
pub fn unix_get(socket: &std::path::Path, path: &str) -> std::io::Result<Response> {
    let stream = std::os::unix::net::UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    get_over(stream, "localhost", path)
}

/// `GET path` with `Connection: close` on a connected `stream`, read to the
/// end.
fn get_over(mut stream: impl Read + Write, host: &str, path: &str) -> std::io::Result<Response> {
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let finished_at = Instant::now();
    parse_response(&raw, finished_at)
}

pub fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, PATIENCE)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    Ok(stream)
}

fn parse_response(raw: &[u8], finished_at: Instant) -> std::io::Result<Response> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("no complete response: {text:?}"),
        )
    })?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head:?}")))?;
    Ok(Response {
        status,
        body: body.to_owned(),
        finished_at,
    })
}

/// Reads one response with a `Content-Length` from a keep-alive connection
/// and leaves the connection open.
pub fn get_keep_alive(stream: &mut TcpStream, path: &str) -> Response {
    write!(stream, "GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    Response {
        status: status_line.split(' ').nth(1).unwrap().parse().unwrap(),
        body: String::from_utf8(body).unwrap(),
        finished_at: Instant::now(),
    }
}

/// Asserts that `at` lies in `[from + low, from + high]`, with a readable
/// message in milliseconds.
#[track_caller]
pub fn assert_between(what: &str, from: Instant, at: Instant, low: Duration, high: Duration) {
    let offset = at.saturating_duration_since(from);
    let early = from.saturating_duration_since(at);
    assert!(
        early.is_zero() && offset >= low && offset <= high,
        "{what}: {} ms after the reference (early by {} ms), expected {}..={} ms",
        offset.as_millis(),
        early.as_millis(),
        low.as_millis(),
        high.as_millis()
    );
}

/// The resident set size of process `pid` in KiB (`VmRSS` in
/// `/proc/PID/status`), or `None` if it cannot be read (not Linux, or the
/// process is gone).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// The `N` of `N requests served` in the server's exit line, once it exited.
pub fn requests_served(stderr: &str) -> Option<u64> {
    let line = stderr
        .lines()
        .find(|line| line.starts_with("idle: exiting:"))?;
    let (before, _) = line
        .split_once(" requests served")
        .or_else(|| line.split_once(" request served"))?;
    before.rsplit(' ').next()?.parse().ok()
}

/// The exit line's count of requests cut ("..., 3 requests served, 1 cut"):
/// `Some(0)` when it names none.
pub fn requests_cut(stderr: &str) -> Option<u64> {
    let line = stderr
        .lines()
        .find(|line| line.starts_with("idle: exiting:"))?;
    let Some((_, rest)) = line.split_once(" served, ") else {
        return Some(0);
    };
    let (count, rest) = rest.split_once(' ')?;
    rest.starts_with("cut").then(|| count.parse().ok())?
}

/// Asserts the exit line's counts: `served` requests served, `cut` cut.
#[track_caller]
pub fn assert_requests_served_and_cut(server: &Server, served: u64, cut: u64) {
    let stderr = server.stderr();
    assert_eq!(
        (requests_served(&stderr), requests_cut(&stderr)),
        (Some(served), Some(cut)),
        "stderr:\n{stderr}"
    );
}

/// The exit line says `expected` requests were served.
#[track_caller]
pub fn assert_requests_served(server: &Server, expected: u64) {
    assert_eq!(
        requests_served(&server.stderr()),
        Some(expected),
        "stderr:\n{}",
        server.stderr()
    );
}

/// A keep-alive HTTP/1.1 connection for many requests in a row: the request
/// bytes and the read buffer are reused, so a load loop measures the server
/// more than the client. Responses must carry a `Content-Length`.
pub struct KeepAlive {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    line: String,
    request: Vec<u8>,
}

impl KeepAlive {
    pub fn connect(addr: SocketAddr) -> std::io::Result<KeepAlive> {
        let writer = connect(addr)?;
        // One write per request and no Nagle: otherwise delayed ACKs cap
        // each connection at ~25 requests per second.
        writer.set_nodelay(true)?;
        let reader = BufReader::with_capacity(16 * 1024, writer.try_clone()?);
        Ok(KeepAlive {
            reader,
            writer,
            line: String::new(),
            request: Vec::with_capacity(128),
        })
    }

    /// Sends `GET path` and reads its response; returns the status and the
    /// body length.
    pub fn get(&mut self, path: &str) -> std::io::Result<(u16, usize)> {
        self.request.clear();
        write!(self.request, "GET {path} HTTP/1.1\r\nHost: load\r\n\r\n")?;
        self.writer.write_all(&self.request)?;
        self.read_response()
    }

    fn read_response(&mut self) -> std::io::Result<(u16, usize)> {
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        self.line.clear();
        if self.reader.read_line(&mut self.line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status = self
            .line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut length = None;
        loop {
            self.line.clear();
            if self.reader.read_line(&mut self.line)? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if self.line == "\r\n" {
                break;
            }
            if let Some((name, value)) = self.line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().ok();
                }
            }
        }
        let length = length.ok_or_else(|| bad("no Content-Length"))?;
        let mut left = length;
        while left > 0 {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let take = available.len().min(left);
            self.reader.consume(take);
            left -= take;
        }
        Ok((status, length))
    }

    /// A second handle on the connection, to write raw bytes to it.
    pub fn try_clone_stream(&self) -> std::io::Result<TcpStream> {
        self.writer.try_clone()
    }

    /// Reads whatever the server sends until it closes the connection (at
    /// most `limit` of waiting); returns the bytes, which should be none for
    /// an idle connection closed by a shutdown.
    pub fn read_rest(&mut self, limit: Duration) -> std::io::Result<Vec<u8>> {
        self.writer.set_read_timeout(Some(limit))?;
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest)?;
        Ok(rest)
    }
}

/// The idle timeout the process tests give the server (`IDLE_TIMEOUT=1s`).
pub const TIMEOUT: Duration = Duration::from_secs(1);
/// How late an exit may be after its deadline: generous for a loaded 2-core
/// machine, far tighter than a once-a-second poller.
pub const LATE: Duration = Duration::from_millis(400);
/// How much earlier than the deadline as seen by the client the exit may be:
/// the server's clock starts a little before the client sees the response.
pub const EARLY: Duration = Duration::from_millis(50);

/// The environment for a 1 s idle timeout.
pub fn env_timeout() -> [(&'static str, &'static str); 1] {
    [("IDLE_TIMEOUT", "1s")]
}

/// Exit 0 for idleness, [`TIMEOUT`] after `last_activity`, with the exit line.
#[track_caller]
pub fn assert_idle_exit_after(server: &Server, last_activity: Instant) {
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
    assert_between(
        "idle exit after the last activity",
        last_activity,
        exited_at,
        TIMEOUT - EARLY,
        TIMEOUT + LATE,
    );
    server.assert_stderr_contains("idle: exiting: idle for 1s");
}

/// A small deterministic generator, so a failure can be replayed.
pub struct XorShift(pub u64);

impl XorShift {
    pub fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}
