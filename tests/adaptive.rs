//! The adaptive timeout in real server processes: the first start, a state
//! file carried across restarts, state files that cannot be used or must not
//! be touched, traffic that never counts, the systemd default and the
//! replay of a user's traffic. The server is
//! `tests/servers/adaptive_server.rs`: `timeout = "auto"` with a cold-start
//! cost of 1 s, so that break-even is a 1 s timeout.
//!
//! Each test has its own directory for the state file under the system's
//! temporary directory, removed at the end.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// Polls the status until its timeout source satisfies `done` (the state
/// file is read off the serving threads, just after the start); returns the
/// timeout in force and its source.
fn wait_for_source(server: &Server, done: impl Fn(&str) -> bool) -> (Duration, String) {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let (timeout, source) = timeout_in_force(server);
        if done(&source) {
            return (timeout, source);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the timeout source stayed {source}; stderr:\n{}",
            server.stderr()
        );
        std::thread::yield_now();
    }
}

/// A state file of this version, as a server would have saved it: `gaps`
/// gaps of `gap` seconds, one of 15 minutes, and the server went idle now.
fn history(gap: f64, gaps: u32) -> String {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    // Bin i holds gaps in [3600^(i/192), 3600^((i+1)/192)) s.
    let bin = (gap.ln() / 3600f64.ln() * 192.0).floor() as u32;
    let sum = gap * f64::from(gaps);
    format!(
        "idle-state 1\ncold_start_cost_ms 1000\nwent_idle_unix_ms {now_ms}\ntimeout_ms 1000\n\
         gaps {}\ntotals 0 0\nbin {bin} {gaps} {sum}\nbin 159 1 900\n",
        gaps + 1
    )
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
    let (_, source) = wait_for_source(&second, |source| source != "\"auto: break-even\"");
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
    let (timeout, source) = wait_for_source(&server, |source| source.contains("learned"));
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

/// The warning lines, after checking that the run was a normal one: a start,
/// one request, an idle exit break-even's 1 s after it.
fn one_normal_run(state: &std::path::Path) -> String {
    let server = start(state);
    assert_eq!(
        timeout_in_force(&server),
        (COLD_START_COST, "\"auto: break-even\"".to_owned())
    );
    serve_one_request_and_exit(&server, COLD_START_COST);
    let stderr = server.stderr();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let warnings = warnings(&stderr);
    assert_eq!(warnings.len(), 1, "one warning:\n{stderr}");
    warnings[0].to_owned()
}

#[test]
fn a_status_poll_and_a_tcp_connect_while_idle_leave_the_exit_where_it_was() {
    // A history of gaps of 1.9 s: staying up through them (1.9 s) is
    // cheaper than a cold start (1 s of timeout + 1 s), so the timeout is
    // just under 2 s, long enough to poll and connect while idle.
    let dir = StateDir::new("not-counted");
    std::fs::write(dir.file(), history(1.9, 100)).unwrap();
    let server = start(&dir.file());
    wait_for_source(&server, |source| source.contains("learned"));
    let response = server.get("/");
    assert_eq!(response.status, 200);
    let before = timeout_in_force(&server);
    assert!(before.0 > Duration::from_millis(1900), "{before:?}");

    // A status poll and a TCP health check more than a second into the
    // idle period: neither is activity, so neither ends the idle period,
    // records a gap or moves the exit.
    let wait_until = |at: Duration| {
        if let Some(left) = (response.finished_at + at).checked_duration_since(Instant::now()) {
            std::thread::sleep(left);
        }
    };
    wait_until(Duration::from_millis(1100));
    assert_eq!(timeout_in_force(&server), before, "{}", server.stderr());
    wait_until(Duration::from_millis(1300));
    drop(support::connect(server.addr).unwrap());

    let (status, exited_at) = server.wait_exit(PATIENCE);
    assert_eq!(status.code(), Some(0), "stderr:\n{}", server.stderr());
    assert_between(
        "idle exit after the last request",
        response.finished_at,
        exited_at,
        before.0.saturating_sub(EARLY),
        before.0 + LATE,
    );
    // Saved: the gaps it had, no more.
    let saved = std::fs::read_to_string(dir.file()).unwrap();
    let (_, source) = before;
    let gaps = source
        .trim_matches('"')
        .split(' ')
        .nth(3)
        .unwrap()
        .to_owned();
    assert!(
        saved.contains(&format!("\ngaps {gaps}\n")),
        "{source}\n{saved}"
    );
}

#[test]
fn without_a_state_file_auto_keeps_break_even_and_says_how_to_learn() {
    let server = Server::start_command(Command::new(SERVER), &[("IDLE_TIMEOUT", "auto")]);
    let stderr = server.stderr();
    assert!(
        stderr.contains("idle timeout 1s (auto: break-even without a state file: what auto learns would last one run"),
        "{stderr}"
    );
    assert!(stderr.contains("StateDirectory="), "{stderr}");
    assert_eq!(
        timeout_in_force(&server),
        (
            COLD_START_COST,
            "\"auto: break-even without a state file\"".to_owned()
        )
    );
    serve_one_request_and_exit(&server, COLD_START_COST);
    assert!(warnings(&server.stderr()).is_empty(), "{}", server.stderr());
}

#[test]
fn systemd_state_directory_is_used_without_a_state_key() {
    let dir = StateDir::new("systemd");
    let server = Server::start_command(
        Command::new(SERVER),
        &[
            ("IDLE_TIMEOUT", "auto"),
            ("STATE_DIRECTORY", dir.0.to_str().unwrap()),
        ],
    );
    serve_one_request_and_exit(&server, COLD_START_COST);
    let stderr = server.stderr();
    let expected = dir.0.join("idle.state");
    assert!(
        stderr.contains(&format!("no state file at {} yet", expected.display())),
        "{stderr}"
    );
    let saved = std::fs::read_to_string(&expected).unwrap();
    assert!(saved.starts_with("idle-state 1\n"), "{saved}");
}

#[cfg(unix)]
#[test]
fn a_fifo_is_one_warning_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    let dir = StateDir::new("fifo");
    let made = Command::new("mkfifo").arg(dir.file()).status().unwrap();
    assert!(made.success());
    let warning = one_normal_run(&dir.file());
    assert!(warning.contains("is not a regular file"), "{warning}");
    let kind = std::fs::symlink_metadata(dir.file()).unwrap().file_type();
    assert!(kind.is_fifo(), "still a FIFO");
    assert_eq!(
        std::fs::read_dir(&dir.0).unwrap().count(),
        1,
        "nothing else"
    );
}

#[cfg(unix)]
#[test]
fn an_endless_file_is_one_warning_and_left_alone() {
    use std::os::unix::fs::FileTypeExt;
    let dir = StateDir::new("endless");
    std::os::unix::fs::symlink("/dev/zero", dir.file()).unwrap();
    for (state, expected) in [
        (dir.file(), "is a symbolic link"),
        (PathBuf::from("/dev/zero"), "is not a regular file"),
    ] {
        let warning = one_normal_run(&state);
        assert!(warning.contains(expected), "{warning}");
    }
    assert!(std::fs::symlink_metadata(dir.file())
        .unwrap()
        .file_type()
        .is_symlink());
    let zero = std::fs::metadata("/dev/zero").unwrap().file_type();
    assert!(zero.is_char_device(), "/dev/zero untouched");
}

#[cfg(unix)]
#[test]
fn a_planted_link_is_not_followed() {
    // The temporary file's old, predictable name `<state>.tmp<pid>`, and a
    // guess in the new style, planted as links to a file of the user's.
    let dir = StateDir::new("planted");
    let precious = dir.0.join("precious");
    std::fs::write(&precious, "the user's data").unwrap();
    let server = start(&dir.file());
    for name in [
        format!("idle.state.tmp{}", server.pid),
        ".idle.state.0000000000000000.tmp".to_owned(),
    ] {
        std::os::unix::fs::symlink(&precious, dir.0.join(name)).unwrap();
    }
    serve_one_request_and_exit(&server, COLD_START_COST);
    let stderr = server.stderr();
    let warnings = warnings(&stderr);
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("no state file"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(&precious).unwrap(),
        "the user's data"
    );
    let state = std::fs::symlink_metadata(dir.file()).unwrap();
    assert!(
        state.file_type().is_file(),
        "the state is a file, not a link"
    );
    assert!(std::fs::read_to_string(dir.file())
        .unwrap()
        .starts_with("idle-state 1\n"));
}

#[test]
fn a_newer_version_is_one_warning_and_left_alone() {
    let dir = StateDir::new("newer");
    let newer = "idle-state 2\nsomething this version does not know\n";
    std::fs::write(dir.file(), newer).unwrap();
    let warning = one_normal_run(&dir.file());
    assert!(warning.contains("newer version"), "{warning}");
    assert_eq!(std::fs::read_to_string(dir.file()).unwrap(), newer);
}

#[test]
fn deploy_units_give_auto_a_state_directory() {
    for unit in ["idle-hello.service", "idle-hello-unix.service"] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(unit);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.lines().any(|line| line.starts_with("StateDirectory=")),
            "{unit}: StateDirectory="
        );
    }
}
