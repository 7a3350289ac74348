//! The adaptive timeout in real server processes: the first start, a state
//! file carried across restarts, and state files that cannot be used. The
//! server is `tests/servers/adaptive_server.rs`: `timeout = "auto"` with a
//! cold-start cost of 1 s, so that break-even is a 1 s timeout.
//!
//! Each test has its own directory for the state file under the system's
//! temporary directory, removed at the end.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{assert_between, Server, EARLY, LATE, PATIENCE};

const SERVER: &str = env!("CARGO_BIN_EXE_idle-test-adaptive");

/// The cold-start cost of the test server, hence its break-even timeout.
const COLD_START_COST: Duration = Duration::from_secs(1);

/// A fresh directory for one test's state file; removed on drop.
struct StateDir(PathBuf);

impl StateDir {
    fn new(test: &str) -> StateDir {
        let dir = std::env::temp_dir().join(format!("idle-adaptive-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        StateDir(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("idle.state")
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(state: &std::path::Path) -> Server {
    let state = state.to_str().unwrap();
    Server::start_command(
        Command::new(SERVER),
        &[("IDLE_STATE", state), ("IDLE_TIMEOUT", "auto")],
    )
}

/// One field of the status JSON, as text.
fn field(json: &str, name: &str) -> String {
    let start = json.find(&format!("\"{name}\":")).expect(name) + name.len() + 3;
    let rest = &json[start..];
    rest[..rest.find([',', '}']).unwrap()].to_owned()
}

/// The timeout in force and its source, from the status route.
fn timeout_in_force(server: &Server) -> (Duration, String) {
    let status = server.get("/_idle");
    assert_eq!(status.status, 200);
    let millis = field(&status.body, "timeout_ms").parse().unwrap();
    (
        Duration::from_millis(millis),
        field(&status.body, "timeout_source"),
    )
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| line.starts_with("idle: warning:"))
        .collect()
}

/// One request, then an idle exit `timeout` after it, exit code 0.
#[track_caller]
fn serve_one_request_and_exit(server: &Server, timeout: Duration) {
    let response = server.get("/");
    assert_eq!((response.status, response.body.as_str()), (200, "hello"));
    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
    assert_between(
        "idle exit after the request",
        response.finished_at,
        exited_at,
        timeout.saturating_sub(EARLY),
        timeout + LATE,
    );
}

#[test]
fn a_first_start_with_no_state_exits_cold_start_cost_after_the_last_request() {
    let dir = StateDir::new("first");
    let server = start(&dir.file());
    assert_eq!(
        timeout_in_force(&server),
        (COLD_START_COST, "\"auto: break-even\"".to_owned())
    );
    assert!(
        server
            .stderr()
            .contains("idle timeout 1s (auto: break-even)"),
        "{}",
        server.stderr()
    );
    serve_one_request_and_exit(&server, COLD_START_COST);
    let stderr = server.stderr();
    let warnings = warnings(&stderr);
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("no state file"), "{stderr}");
    // What was learned (nothing yet) and when it went idle are saved.
    let saved = std::fs::read_to_string(dir.file()).unwrap();
    assert!(saved.starts_with("idle-state 1\n"), "{saved}");
    assert!(saved.contains("\ngaps 0\n"), "{saved}");
}

#[test]
fn a_state_file_carries_history_across_restarts() {
    let dir = StateDir::new("restarts");
    let first = start(&dir.file());
    serve_one_request_and_exit(&first, COLD_START_COST);
    drop(first);

    // The next start learns the gap from going idle to now: at least the
    // 1 s timeout, since the first run waited that long before exiting.
    let second = start(&dir.file());
    let (_, source) = timeout_in_force(&second);
    assert_eq!(
        source,
        "\"auto: learned from 1 gap\"",
        "{}",
        second.stderr()
    );
    assert!(warnings(&second.stderr()).is_empty(), "{}", second.stderr());
    let (timeout, _) = timeout_in_force(&second);
    serve_one_request_and_exit(&second, timeout);
    let saved = std::fs::read_to_string(dir.file()).unwrap();
    assert!(saved.contains("\ngaps 1\n"), "{saved}");
}

#[test]
fn a_learned_history_changes_the_timeout() {
    // A history of 20 gaps of 1.5 s, as a server that saw them would have
    // saved it: staying up through them (1.5 s each) is cheaper than a
    // cold start (1 s of timeout + 1 s of cold start), so the timeout covers
    // them instead of being break-even's 1 s.
    let dir = StateDir::new("history");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    // Bin i holds gaps in [3600^(i/192), 3600^((i+1)/192)) s; 1.5 s is in 9.
    let bin = (1.5f64.ln() / 3600f64.ln() * 192.0).floor() as u32;
    assert_eq!(bin, 9);
    std::fs::write(
        dir.file(),
        format!(
            "idle-state 1\ncold_start_cost_ms 1000\nwent_idle_unix_ms {now_ms}\ntimeout_ms 1532\n\
             gaps 20\ntotals 30 30\nbin {bin} 20 30\n"
        ),
    )
    .unwrap();
    let server = start(&dir.file());
    let (timeout, source) = timeout_in_force(&server);
    // Just above 1.5 s: the upper edge of the bin, 3600^(10/192) s.
    assert!(
        timeout > Duration::from_millis(1500) && timeout < Duration::from_millis(1600),
        "{timeout:?}"
    );
    assert!(source.starts_with("\"auto: learned from 2"), "{source}");
    serve_one_request_and_exit(&server, timeout);
}

#[test]
fn a_corrupt_state_file_gives_one_warning_and_a_normal_start() {
    let dir = StateDir::new("corrupt");
    std::fs::write(dir.file(), "idle-state 1\nthis is not a state file\n").unwrap();
    let server = start(&dir.file());
    assert_eq!(
        timeout_in_force(&server),
        (COLD_START_COST, "\"auto: break-even\"".to_owned())
    );
    serve_one_request_and_exit(&server, COLD_START_COST);
    let stderr = server.stderr();
    let warnings = warnings(&stderr);
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("is corrupt"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Replaced by a good one at exit.
    let saved = std::fs::read_to_string(dir.file()).unwrap();
    assert!(
        saved.starts_with("idle-state 1\ncold_start_cost_ms 1000\n"),
        "{saved}"
    );
}

#[test]
fn an_unwritable_state_file_is_one_warning_at_exit() {
    let dir = StateDir::new("unwritable");
    let inside_missing_dir = dir.0.join("missing").join("idle.state");
    let server = start(&inside_missing_dir);
    serve_one_request_and_exit(&server, COLD_START_COST);
    let stderr = server.stderr();
    let warnings = warnings(&stderr);
    assert_eq!(warnings.len(), 2, "one to read, one to write:\n{stderr}");
    assert!(
        warnings[1].contains("cannot write the state file"),
        "{stderr}"
    );
    assert!(stderr.contains("idle: exiting: idle for 1s"), "{stderr}");
}
