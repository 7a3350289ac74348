//! Unix domain sockets, as a small VPS deploys a rarely used app behind
//! nginx or Caddy: `addr = "unix:/path"` bound by the server itself, and a
//! Unix socket passed by socket activation. Clients are curl
//! (`--unix-socket`) and raw sockets; activity, the idle exit and the drain
//! are the same as over TCP.
//!
//! The server bound with `addr` (`tests/servers/unix_server.rs`) has a fixed
//! path, so those tests take [`FIXED_PATH`] in turn.

mod support;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use support::{assert_idle_exit_after, unix_get, Server, PATIENCE, SERVER};

const UNIX_SERVER: &str = env!("CARGO_BIN_EXE_idle-test-unix");
/// The `addr` of `tests/servers/unix_server.rs`.
const SOCKET: &str = "/tmp/idle-test-unix-server.sock";
static FIXED_PATH: Mutex<()> = Mutex::new(());

fn fixed_path() -> std::sync::MutexGuard<'static, ()> {
    FIXED_PATH
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `curl --unix-socket socket http://localhost{path}`: status and body.
fn curl(socket: &Path, path: &str) -> (u16, String) {
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30"])
        .args(["--write-out", "\n%{http_code}", "--unix-socket"])
        .arg(socket)
        .arg(format!("http://localhost{path}"))
        .output()
        .expect("curl (Debian's curl package)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

#[test]
fn a_server_on_a_unix_socket_serves_curl_then_exits_when_idle_and_removes_it() {
    let _fixed = fixed_path();
    let server = Server::start_command(Command::new(UNIX_SERVER), &[("IDLE_TIMEOUT", "1s")]);
    assert_eq!(server.unix.as_deref(), Some(Path::new(SOCKET)));
    assert_eq!(curl(Path::new(SOCKET), "/"), (200, "hello".to_owned()));
    // A slow request keeps it awake past the timeout, as over TCP.
    assert_eq!(
        curl(Path::new(SOCKET), "/slow/1500"),
        (200, "done".to_owned())
    );
    assert_idle_exit_after(&server, Instant::now());
    assert!(
        !Path::new(SOCKET).exists(),
        "the socket file is removed at exit"
    );
}

#[test]
fn a_stale_socket_is_replaced_but_nothing_else_is_touched() {
    let _fixed = fixed_path();
    // A socket left by a crashed run: nobody listens on it.
    let _ = std::fs::remove_file(SOCKET);
    drop(UnixListener::bind(SOCKET).unwrap());
    assert!(is_socket(SOCKET));
    let server = Server::start_command(Command::new(UNIX_SERVER), &[("IDLE_TIMEOUT", "5s")]);
    assert_eq!(curl(Path::new(SOCKET), "/"), (200, "hello".to_owned()));

    // A second server must not steal the live one's socket.
    let (status, stderr) = run(UNIX_SERVER);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(
        stderr.contains("another server is listening on this socket"),
        "{stderr}"
    );
    assert_eq!(curl(Path::new(SOCKET), "/"), (200, "hello".to_owned()));
    server.signal("TERM");
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));

    // A regular file in the way is an error, and is left as it was.
    std::fs::write(SOCKET, "not a socket").unwrap();
    let (status, stderr) = run(UNIX_SERVER);
    assert_eq!(status, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!("idle: error: cannot listen on unix:{SOCKET}: a file that is not a socket is in the way (it is left alone)\n")
    );
    assert_eq!(std::fs::read_to_string(SOCKET).unwrap(), "not a socket");
    std::fs::remove_file(SOCKET).unwrap();
}

/// `IDLE_SOCKET_MODE=660`: the proxy's group may connect, others may not,
/// whatever the umask.
#[test]
fn idle_socket_mode_sets_the_socket_files_mode() {
    use std::os::unix::fs::PermissionsExt;
    let _fixed = fixed_path();
    for (value, mode) in [("660", 0o660), ("0666", 0o666)] {
        let server = Server::start_command(
            Command::new(UNIX_SERVER),
            &[("IDLE_TIMEOUT", "10s"), ("IDLE_SOCKET_MODE", value)],
        );
        let permissions = std::fs::metadata(SOCKET).unwrap().permissions();
        assert_eq!(permissions.mode() & 0o777, mode, "IDLE_SOCKET_MODE={value}");
        assert_eq!(curl(Path::new(SOCKET), "/"), (200, "hello".to_owned()));
        server.signal("TERM");
        assert_eq!(server.wait_exit(PATIENCE).0.code(), Some(0));
    }
    let (status, stderr) = run_with(UNIX_SERVER, &[("IDLE_SOCKET_MODE", "rw-rw----")]);
    assert_eq!(status, Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "idle: error: invalid IDLE_SOCKET_MODE=\"rw-rw----\": expected octal permission bits such as \"660\" or \"0666\" (at most 777)\n"
    );
}

/// At exit the server removes the socket file only if it is still its own:
/// here another server has bound the path since (after removing the file, as
/// a new deploy would), and must keep its socket.
#[test]
fn at_exit_a_socket_bound_since_by_another_server_is_left_alone() {
    let _fixed = fixed_path();
    let server = Server::start_command(Command::new(UNIX_SERVER), &[("IDLE_TIMEOUT", "1s")]);
    assert_eq!(curl(Path::new(SOCKET), "/"), (200, "hello".to_owned()));
    std::fs::remove_file(SOCKET).unwrap();
    let newer = UnixListener::bind(SOCKET).unwrap();
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert!(
        is_socket(SOCKET),
        "the newer server's socket was removed:\n{}",
        server.stderr()
    );
    // Still the newer server's: a client reaches it.
    let client = std::os::unix::net::UnixStream::connect(SOCKET).unwrap();
    newer.accept().unwrap();
    drop(client);
    drop(newer);
    std::fs::remove_file(SOCKET).unwrap();
}

#[test]
fn port_is_ignored_with_a_warning_for_a_unix_socket() {
    let _fixed = fixed_path();
    let server = Server::start_command(
        Command::new(UNIX_SERVER),
        &[("IDLE_TIMEOUT", "300ms"), ("PORT", "8080")],
    );
    let (status, _) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0));
    assert!(
        server.stderr().starts_with(&format!(
            "idle: warning: PORT=8080 is ignored: the server listens on the Unix socket {SOCKET}\n"
        )),
        "{}",
        server.stderr()
    );
}

/// `systemd-socket-activate -l /path` passes a Unix socket: the TCP test
/// server serves it, whatever its own `addr`.
#[test]
fn a_unix_socket_passed_by_socket_activation_is_served() {
    let dir = temp_dir("activated");
    let socket = dir.join("app.sock");
    let mut activator = Command::new("systemd-socket-activate")
        .arg(format!("--listen={}", socket.display()))
        .arg("--setenv=IDLE_TIMEOUT=1s")
        .arg(SERVER)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("systemd-socket-activate (Debian's systemd package)");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    let pipe = activator.stderr.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let wait_for = |wanted: &str| -> String {
        let deadline = Instant::now() + PATIENCE;
        while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.contains(wanted) {
                return line;
            }
        }
        panic!("no line containing {wanted:?}");
    };
    wait_for("Listening on");
    let response = unix_get(&socket, "/").expect("served through the activated socket");
    assert_eq!((response.status, response.body.as_str()), (200, "hello"));
    let listening = wait_for("idle: listening on");
    assert!(
        listening.starts_with(&format!(
            "idle: listening on unix:{} (socket activation)",
            socket.display()
        )),
        "{listening}"
    );
    let answered = Instant::now();
    let exit = wait_for("idle: exiting: idle for 1s");
    assert!(
        answered.elapsed() < Duration::from_secs(5),
        "{exit} after {:?}",
        answered.elapsed()
    );
    let status = activator.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        is_socket(&socket),
        "the activator's socket file is left alone"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `program` to its end with `IDLE_TIMEOUT=1s`; its exit code and
/// stderr.
fn run(program: &str) -> (Option<i32>, String) {
    run_with(program, &[])
}

/// [`run`] with more environment variables.
fn run_with(program: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let output = Command::new(program)
        .env("IDLE_TIMEOUT", "1s")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn is_socket(path: impl AsRef<Path>) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("idle-unix-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
