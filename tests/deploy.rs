//! The deploy recipes in `deploy/`, checked as far as this machine allows.
//!
//! No Docker engine, Fly.io account, Cloud Run project or Kubernetes cluster
//! is available here, so for those the recipes are read, not run: each must
//! parse, name the `hello` example's port (8080), and agree with the example
//! on the numbers that matter for an idle exit (kill timeout longer than the
//! drain grace, restart only on failure, drain-only mode where the platform
//! scales to zero itself). Every probe or health check they configure is
//! sent to the real `hello` binary, which must answer it with 200.
//!
//! The systemd units are also exercised: `hello` runs through
//! `systemd-socket-activate` (Debian's `systemd` package) as the units
//! describe it, with a `NOTIFY_SOCKET` that must receive `READY=1` and
//! `STOPPING=1`, and must serve a request and then exit 0 when idle.
//!
//! `hello` is an example, and Cargo gives tests the path only of `[[bin]]`
//! targets, so the root package also builds `examples/hello.rs` as the
//! binary `idle-test-hello`. Everything is bounded in time and uses
//! 127.0.0.1 only.

use std::fs;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use yaml_rust2::{Yaml, YamlLoader};

const DEPLOY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
/// The port every recipe must use: `hello`'s default.
const PORT: i64 = 8080;
/// Longest wait for anything that should happen at once (start, answer,
/// exit after a 1 s idle timeout).
const PATIENCE: Duration = Duration::from_secs(30);
/// Cloud Run sends SIGKILL this long after SIGTERM; it cannot be changed.
const CLOUD_RUN_KILL_AFTER: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------
// fly.toml

#[test]
fn fly_toml_stops_by_itself_and_restarts_only_on_failure() {
    let fly: toml::Table = read("fly.toml")
        .parse()
        .expect("deploy/fly.toml is not valid TOML");

    let service = fly["http_service"].as_table().expect("[http_service]");
    assert_eq!(
        service["internal_port"].as_integer(),
        Some(PORT),
        "internal_port"
    );
    assert_eq!(
        service["auto_stop_machines"].as_str(),
        Some("off"),
        "auto_stop_machines must be \"off\": the server stops itself"
    );
    assert_eq!(
        service["auto_start_machines"].as_bool(),
        Some(true),
        "auto_start_machines"
    );
    assert_eq!(
        service["min_machines_running"].as_integer(),
        Some(0),
        "min_machines_running"
    );

    let restarts = fly["restart"].as_array().expect("[[restart]]");
    assert!(!restarts.is_empty(), "[[restart]] is empty");
    for restart in restarts {
        assert_eq!(
            restart["policy"].as_str(),
            Some("on-failure"),
            "a cleanly exited (idle) Machine must stay stopped"
        );
    }

    let signal = fly["kill_signal"].as_str().expect("kill_signal");
    assert!(
        matches!(signal, "SIGINT" | "SIGTERM"),
        "kill_signal {signal} does not start the drain"
    );
    let kill_timeout = match &fly["kill_timeout"] {
        toml::Value::Integer(seconds) => Duration::from_secs(u64::try_from(*seconds).unwrap()),
        toml::Value::String(text) => duration(text),
        other => panic!("kill_timeout: expected seconds or a duration, found {other}"),
    };
    let env = fly.get("env").and_then(|env| env.as_table());
    let env_value = |name: &str| {
        env.and_then(|env| env.get(name))
            .and_then(|value| value.as_str())
    };
    for name in ["IDLE_TIMEOUT", "IDLE_GRACE"] {
        if let Some(value) = env_value(name) {
            duration(value); // the server would exit 2 on a value that does not parse
        }
    }
    let grace = env_value("IDLE_GRACE").map_or_else(hello_grace, duration);
    assert!(
        kill_timeout > grace,
        "kill_timeout {kill_timeout:?} must exceed the drain grace {grace:?}"
    );
    assert!(
        kill_timeout <= Duration::from_secs(300),
        "Fly's maximum kill_timeout is 300 s"
    );

    let build = fly["build"].as_table().expect("[build]");
    for key in ["dockerfile", "ignorefile"] {
        let file = Path::new(DEPLOY).join(build[key].as_str().expect(key));
        assert!(
            file.is_file(),
            "build.{key}: {} does not exist",
            file.display()
        );
    }
}

// ---------------------------------------------------------------------------
// Cloud Run and Knative

#[test]
fn cloud_run_yaml_is_drain_only_and_drains_before_the_kill() {
    let doc = yaml("cloudrun.yaml");
    let container = knative_container(&doc);
    assert_eq!(
        doc["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/minScale"]
            .as_str(),
        Some("0"),
        "scale to zero"
    );
    // Cloud Run's SIGKILL comes 10 s after SIGTERM, whatever is configured.
    let grace = env_var(container, "IDLE_GRACE").map_or_else(hello_grace, duration);
    assert!(
        grace < CLOUD_RUN_KILL_AFTER,
        "IDLE_GRACE {grace:?} must end before Cloud Run's SIGKILL, {CLOUD_RUN_KILL_AFTER:?} after SIGTERM"
    );
}

#[test]
fn knative_yaml_is_drain_only_and_drains_before_the_kill() {
    let doc = yaml("knative.yaml");
    let container = knative_container(&doc);
    assert_eq!(
        doc["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"]
            .as_str(),
        Some("0"),
        "scale to zero"
    );
    // Knative makes the revision's timeoutSeconds the pod's
    // terminationGracePeriodSeconds.
    let seconds = doc["spec"]["template"]["spec"]["timeoutSeconds"]
        .as_i64()
        .expect("timeoutSeconds");
    let termination = Duration::from_secs(u64::try_from(seconds).unwrap());
    let grace = env_var(container, "IDLE_GRACE").map_or_else(hello_grace, duration);
    assert!(
        termination > grace,
        "timeoutSeconds {termination:?} (the termination grace period) must exceed the drain grace {grace:?}"
    );
}

/// The checks both Knative-style files share; returns the container.
fn knative_container(doc: &Yaml) -> &Yaml {
    assert_eq!(doc["apiVersion"].as_str(), Some("serving.knative.dev/v1"));
    assert_eq!(doc["kind"].as_str(), Some("Service"));
    let containers = doc["spec"]["template"]["spec"]["containers"]
        .as_vec()
        .expect("containers");
    assert_eq!(containers.len(), 1, "one container");
    let container = &containers[0];
    let ports = container["ports"].as_vec().expect("ports");
    assert_eq!(ports.len(), 1, "one port");
    assert_eq!(
        ports[0]["containerPort"].as_i64(),
        Some(PORT),
        "containerPort"
    );
    assert_eq!(
        env_var(container, "IDLE_MODE"),
        Some("drain-only"),
        "IDLE_MODE"
    );
    assert_eq!(
        env_var(container, "PORT"),
        None,
        "PORT is set by the platform and reserved"
    );
    for name in ["IDLE_TIMEOUT", "IDLE_GRACE"] {
        if let Some(value) = env_var(container, name) {
            duration(value);
        }
    }
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        for action in ["httpGet", "tcpSocket"] {
            let port = &container[probe][action]["port"];
            assert!(
                port.is_badvalue() || port.as_i64() == Some(PORT),
                "{probe}.{action}.port must be the container port"
            );
        }
    }
    container
}

fn env_var<'a>(container: &'a Yaml, name: &str) -> Option<&'a str> {
    let env = container["env"].as_vec()?;
    let var = env.iter().find(|var| var["name"].as_str() == Some(name))?;
    Some(
        var["value"]
            .as_str()
            .unwrap_or_else(|| panic!("env {name}: the value must be a string")),
    )
}

// ---------------------------------------------------------------------------
// Probes and health checks, against the real `hello`

/// One HTTP probe or check from a recipe: where it comes from, the path and
/// the headers it sends.
struct Probe {
    source: String,
    path: String,
    headers: Vec<(String, String)>,
}

fn fly_checks() -> Vec<Probe> {
    let fly: toml::Table = read("fly.toml").parse().unwrap();
    let checks = fly["http_service"]
        .get("checks")
        .and_then(|checks| checks.as_array());
    let checks = checks.expect("fly.toml: [[http_service.checks]]");
    checks
        .iter()
        .map(|check| {
            let method = check
                .get("method")
                .and_then(|method| method.as_str())
                .unwrap_or("GET");
            assert!(
                method.eq_ignore_ascii_case("get"),
                "fly.toml check method {method}"
            );
            let headers = check.get("headers").and_then(|headers| headers.as_table());
            let headers = headers.into_iter().flatten();
            Probe {
                source: "fly.toml [[http_service.checks]]".into(),
                path: check["path"].as_str().expect("check path").into(),
                headers: headers
                    .map(|(name, value)| (name.clone(), value.as_str().unwrap().into()))
                    .collect(),
            }
        })
        .collect()
}

/// The HTTP probes of a Knative-style file, with the `User-Agent` kubelet
/// sends (Knative's queue-proxy sends the same when it runs them).
fn knative_probes(file: &str) -> Vec<Probe> {
    let doc = yaml(file);
    let container = &doc["spec"]["template"]["spec"]["containers"][0];
    let mut probes = Vec::new();
    for kind in ["startupProbe", "readinessProbe", "livenessProbe"] {
        let get = &container[kind]["httpGet"];
        if get.is_badvalue() {
            continue;
        }
        let mut headers = vec![("User-Agent".to_owned(), "kube-probe/1.31".to_owned())];
        for header in get["httpHeaders"].as_vec().into_iter().flatten() {
            headers.push((
                header["name"].as_str().unwrap().into(),
                header["value"].as_str().unwrap().into(),
            ));
        }
        probes.push(Probe {
            source: format!("{file} {kind}"),
            path: get["path"].as_str().unwrap_or("/").into(),
            headers,
        });
    }
    probes
}

#[test]
fn every_probe_and_check_gets_200_from_hello() {
    let probes: Vec<Probe> = fly_checks()
        .into_iter()
        .chain(knative_probes("cloudrun.yaml"))
        .chain(knative_probes("knative.yaml"))
        .collect();
    assert!(
        probes.len() >= 3,
        "expected a Fly check and Cloud Run and Knative probes"
    );
    let mut hello = Activated::start(&[("IDLE_TIMEOUT", "1s")]);
    for probe in &probes {
        assert!(
            probe.path.starts_with('/'),
            "{}: path {:?}",
            probe.source,
            probe.path
        );
        let (status, _) = http_get(hello.addr, &probe.path, &probe.headers);
        assert_eq!(
            status,
            200,
            "{} (GET {})\n{}",
            probe.source,
            probe.path,
            hello.stderr()
        );
    }
    let status = hello.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", hello.stderr());
}

#[test]
fn knative_probes_do_not_keep_hello_awake() {
    for file in ["knative.yaml", "cloudrun.yaml"] {
        let probes = knative_probes(file);
        assert!(!probes.is_empty(), "{file}: no HTTP probe");
        // Exit mode, as if the server were not told it runs on Knative: a
        // probe that counted would keep it awake.
        assert_probes_do_not_count(&probes);
    }
}

/// Fly's checks do not send a header of their own: the one fly.toml sets
/// (`fly-healthcheck`) is ignored only if the server says so with
/// `ignore_header = "fly-healthcheck"`, as `examples/hello.rs` does.
#[test]
fn fly_checks_do_not_keep_hello_awake() {
    assert_probes_do_not_count(&fly_checks());
}

/// Starts `hello` with a 1 s idle timeout and sends `probes` round-robin
/// every 100 ms: each must be answered with 200, and the server must exit 0
/// anyway, while they are still being sent.
fn assert_probes_do_not_count(probes: &[Probe]) {
    let mut hello = Activated::start(&[("IDLE_TIMEOUT", "1s"), ("IDLE_MODE", "exit")]);
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut answered = 0;
    for probe in probes.iter().cycle() {
        if let Some(status) = hello.try_exit() {
            assert_eq!(status.code(), Some(0), "{}", hello.stderr());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "hello kept running for 6 s under probes such as {} (GET {} with {:?}): they count as activity\n{}",
            probe.source,
            probe.path,
            probe.headers,
            hello.stderr()
        );
        match try_http_get(hello.addr, &probe.path, &probe.headers) {
            Ok((status, _)) => {
                assert_eq!(status, 200, "{} (GET {})", probe.source, probe.path);
                answered += 1;
            }
            // The server may exit between the check above and this request:
            // then it must be gone, and have exited 0.
            Err(error) => {
                let status = hello.wait_exit();
                assert_eq!(
                    status.code(),
                    Some(0),
                    "GET {} failed ({error}) and the server did not exit 0\n{}",
                    probe.path,
                    hello.stderr()
                );
                break;
            }
        }
        thread::sleep(Duration::from_millis(100));
    }
    // A server that answered nothing would pass the loop above.
    assert!(
        answered >= 3,
        "only {answered} probes were answered before the exit\n{}",
        hello.stderr()
    );
}

// ---------------------------------------------------------------------------
// systemd units

/// The Unix-socket pair: an absolute socket path the proxy's group may use,
/// one process for all connections, the same service settings as the TCP
/// pair, and `systemd-analyze verify` clean. (tests/unix.rs serves a Unix
/// socket through systemd-socket-activate.)
#[test]
fn systemd_unix_socket_units_are_valid_for_a_reverse_proxy() {
    let socket = unit("idle-hello-unix.socket");
    assert_eq!(
        socket.get("Socket", "ListenStream"),
        Some("/run/idle-hello.sock")
    );
    assert_eq!(socket.get("Socket", "SocketMode"), Some("0660"));
    assert!(matches!(
        socket.get("Socket", "Accept"),
        None | Some("no" | "false")
    ));
    let service = unit("idle-hello-unix.service");
    let tcp = unit("idle-hello.service");
    for key in [
        "Type",
        "Restart",
        "RestartPreventExitStatus",
        "KillSignal",
        "TimeoutStopSec",
    ] {
        assert_eq!(
            service.get("Service", key),
            tcp.get("Service", key),
            "{key}"
        );
    }
    assert_eq!(
        service.get("Unit", "Requires"),
        Some("idle-hello-unix.socket")
    );
    systemd_analyze_verify("idle-hello-unix.socket", "idle-hello-unix.service");
}

#[test]
fn systemd_units_activate_notify_serve_and_exit_when_idle() {
    let socket = unit("idle-hello.socket");
    assert_eq!(
        socket.get("Socket", "ListenStream"),
        Some("8080"),
        "ListenStream"
    );
    assert!(
        matches!(socket.get("Socket", "Accept"), None | Some("no" | "false")),
        "Accept=yes would start a process per connection"
    );

    let service = unit("idle-hello.service");
    assert_eq!(service.get("Service", "Type"), Some("notify"), "Type");
    assert_eq!(
        service.get("Service", "Restart"),
        Some("on-failure"),
        "exit 0 means idle: the service must not be restarted then"
    );
    assert_eq!(
        service.get("Service", "KillSignal"),
        Some("SIGTERM"),
        "KillSignal"
    );
    let prevent = service
        .get("Service", "RestartPreventExitStatus")
        .unwrap_or("");
    assert!(
        prevent.split_whitespace().any(|code| code == "2"),
        "exit 2 (bad configuration) is not retried"
    );
    let exec = service.get("Service", "ExecStart").expect("ExecStart");
    assert!(
        exec.starts_with('/'),
        "ExecStart must be an absolute path: {exec}"
    );
    let environment: Vec<(String, String)> = service
        .all("Service", "Environment")
        .into_iter()
        .flat_map(str::split_whitespace)
        .map(|pair| {
            let (name, value) = pair.split_once('=').expect("Environment=NAME=VALUE");
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let grace = environment
        .iter()
        .find(|(name, _)| name == "IDLE_GRACE")
        .map(|(_, value)| duration(value));
    let grace = grace.unwrap_or_else(hello_grace);
    let stop = systemd_seconds(
        service
            .get("Service", "TimeoutStopSec")
            .expect("TimeoutStopSec"),
    );
    assert!(
        stop > grace,
        "TimeoutStopSec {stop:?} must exceed the drain grace {grace:?}"
    );

    systemd_analyze_verify("idle-hello.socket", "idle-hello.service");

    // Run hello as the units describe it: socket activation on a port of
    // 127.0.0.1 (8080 may be taken here), the unit's Environment=, a
    // NOTIFY_SOCKET, and a 1 s idle timeout so that the test is short.
    let notify = NotifySocket::new();
    let mut env: Vec<(&str, &str)> = environment
        .iter()
        .filter(|(name, _)| name != "IDLE_TIMEOUT")
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    env.extend([("IDLE_TIMEOUT", "1s"), ("NOTIFY_SOCKET", notify.path())]);
    let mut hello = Activated::start(&env);

    let (status, body) = http_get(hello.addr, "/", &[]);
    assert_eq!(
        (status, body.as_str()),
        (200, "hello\n"),
        "{}",
        hello.stderr()
    );
    let exit = hello.wait_exit();
    assert_eq!(
        exit.code(),
        Some(0),
        "an idle exit must be a success\n{}",
        hello.stderr()
    );

    let states = notify.received();
    let ready = states.iter().position(|state| state == "READY=1");
    let stopping = states.iter().position(|state| state == "STOPPING=1");
    assert!(
        matches!((ready, stopping), (Some(ready), Some(stopping)) if ready < stopping),
        "expected READY=1 then STOPPING=1 on NOTIFY_SOCKET, got {states:?}\n{}",
        hello.stderr()
    );
}

/// `systemd-analyze verify` on copies of both units whose ExecStart names
/// the built `hello`: unknown keys, bad values and a missing executable are
/// reported.
fn systemd_analyze_verify(socket: &str, service_name: &str) {
    let dir = TempDir::new("units");
    fs::copy(Path::new(DEPLOY).join(socket), dir.0.join(socket)).unwrap();
    let service = read(service_name);
    let service: String = service
        .lines()
        .map(|line| {
            if line.starts_with("ExecStart=") {
                format!("ExecStart={}\n", hello().display())
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    fs::write(dir.0.join(service_name), service).unwrap();
    let output = run_bounded(
        Command::new("systemd-analyze")
            .args([
                "verify",
                "--man=no",
                &format!("./{socket}"),
                &format!("./{service_name}"),
            ])
            .current_dir(&dir.0),
        PATIENCE,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Whatever it says about our units (but not notes about the host's
    // syscall table, which vary with the kernel headers systemd was built
    // with).
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("idle-hello") && !line.contains("Failed to parse system call"))
        .collect();
    assert!(
        output.status.success() && complaints.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        output.status
    );
}

/// A systemd unit file: `(section, key, value)` in file order.
struct Unit(Vec<(String, String, String)>);

impl Unit {
    /// The last value of `key` in `section` (later assignments override).
    fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.all(section, key).pop()
    }

    /// Every value of `key` in `section`, in file order.
    fn all(&self, section: &str, key: &str) -> Vec<&str> {
        let entries = self.0.iter().filter(|(s, k, _)| s == section && k == key);
        entries.map(|(_, _, value)| value.as_str()).collect()
    }
}

/// Parses the INI-like unit syntax: `[Section]`, `Key=Value`, comments
/// starting with `#` or `;`, lines continued with a trailing backslash.
fn unit(name: &str) -> Unit {
    let text = read(name);
    let mut entries = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with(';'))
        {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        if let Some(name) = line
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            section = name.to_owned();
        } else if let Some((key, value)) = line.split_once('=') {
            assert!(
                !section.is_empty(),
                "{name}:{}: assignment outside a section",
                number + 1
            );
            entries.push((
                section.clone(),
                key.trim().to_owned(),
                value.trim().to_owned(),
            ));
        } else {
            panic!(
                "{name}:{}: neither a section nor an assignment: {line:?}",
                number + 1
            );
        }
    }
    Unit(entries)
}

/// A systemd time span as these units write it: plain seconds or a duration
/// such as `15s`.
fn systemd_seconds(text: &str) -> Duration {
    match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => duration(text),
    }
}

/// A `NOTIFY_SOCKET` that collects what the server sends.
struct NotifySocket {
    socket: UnixDatagram,
    path: String,
    /// Holds the socket file; removed on drop.
    _dir: TempDir,
}

impl NotifySocket {
    fn new() -> NotifySocket {
        let dir = TempDir::new("notify");
        let path = dir.0.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("bind the notify socket");
        socket.set_nonblocking(true).unwrap();
        let path = path.to_str().unwrap().to_owned();
        NotifySocket {
            socket,
            path,
            _dir: dir,
        }
    }

    fn path(&self) -> &str {
        &self.path
    }

    /// Every `KEY=VALUE` line received so far, in order.
    fn received(&self) -> Vec<String> {
        let mut states = Vec::new();
        let mut buffer = [0; 4096];
        loop {
            match self.socket.recv(&mut buffer) {
                Ok(n) => {
                    let message = String::from_utf8_lossy(&buffer[..n]);
                    states.extend(
                        message
                            .lines()
                            .filter(|line| !line.is_empty())
                            .map(str::to_owned),
                    );
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return states,
                Err(error) => panic!("notify socket: {error}"),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Dockerfile

#[test]
fn dockerfile_is_multi_stage_non_root_and_runs_hello() {
    let instructions = dockerfile(&read("Dockerfile"));
    let stages: Vec<usize> = (0..instructions.len())
        .filter(|&i| instructions[i].0 == "FROM")
        .collect();
    assert!(
        stages.len() >= 2,
        "a multi-stage build: a builder and a small runtime image"
    );
    let (build, runtime) = instructions.split_at(*stages.last().unwrap());
    assert!(
        build
            .iter()
            .any(|(op, args)| op == "FROM" && args.contains("rust:")),
        "the builder is the official rust image"
    );
    assert!(
        build.iter().any(|(op, args)| op == "RUN"
            && args.contains("cargo build")
            && args.contains("--release")
            && args.contains("--example hello")),
        "the builder runs cargo build --release --example hello"
    );
    assert!(
        !runtime[0].1.contains("rust:"),
        "the runtime image is not the Rust toolchain"
    );

    let last = |op: &str| {
        runtime
            .iter()
            .rev()
            .find(|(o, _)| o == op)
            .map(|(_, args)| args.as_str())
    };
    let user = last("USER").expect("USER in the runtime stage");
    let name = user.split(':').next().unwrap();
    assert!(!matches!(name, "root" | "0"), "USER {user} is root");
    let exposed = last("EXPOSE").expect("EXPOSE");
    assert!(
        exposed
            .split_whitespace()
            .any(|port| port == "8080" || port == "8080/tcp"),
        "EXPOSE {exposed}"
    );
    let signal = last("STOPSIGNAL").expect("STOPSIGNAL");
    assert!(
        matches!(signal, "SIGTERM" | "SIGINT"),
        "STOPSIGNAL {signal} does not start the drain"
    );
    // Exec form, so that the server is PID 1 and receives the signal.
    let cmd = last("CMD").expect("CMD");
    let program = cmd
        .strip_prefix("[\"")
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("CMD must be in exec form: {cmd}"));
    assert!(
        runtime.iter().any(|(op, args)| op == "COPY"
            && args.starts_with("--from=")
            && args.ends_with(program)),
        "CMD {program} is not the binary copied from the builder"
    );

    let ignore = read("Dockerfile.dockerignore");
    assert!(
        ignore.lines().any(|line| line.trim() == "target/"),
        "the build context leaves out target/"
    );
}

/// The instructions of a Dockerfile as `(KEYWORD, arguments)`, with
/// continuation lines joined and comments dropped.
fn dockerfile(text: &str) -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (pending.is_empty() && trimmed.is_empty()) {
            continue;
        }
        if let Some(continued) = trimmed.strip_suffix('\\') {
            pending.push_str(continued);
            pending.push(' ');
            continue;
        }
        let whole = std::mem::take(&mut pending) + trimmed;
        let (op, args) = whole
            .split_once(char::is_whitespace)
            .unwrap_or((&whole, ""));
        instructions.push((op.to_ascii_uppercase(), args.trim().to_owned()));
    }
    instructions
}

// ---------------------------------------------------------------------------
// Helpers: files, durations

fn read(name: &str) -> String {
    let path = Path::new(DEPLOY).join(name);
    fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn yaml(name: &str) -> Yaml {
    let docs = YamlLoader::load_from_str(&read(name))
        .unwrap_or_else(|error| panic!("deploy/{name}: {error}"));
    assert_eq!(docs.len(), 1, "deploy/{name}: one YAML document");
    docs.into_iter().next().unwrap()
}

/// A duration in the server's grammar (`"10s"`, `"1m30s"`): values the
/// recipes pass to it must parse, or it would exit 2.
fn duration(text: &str) -> Duration {
    idle_duration::parse(text).unwrap_or_else(|error| panic!("{text:?} is not a duration: {error}"))
}

/// The drain grace `hello` runs with when no `IDLE_GRACE` is set, as its
/// startup line reports it.
fn hello_grace() -> Duration {
    static GRACE: OnceLock<Duration> = OnceLock::new();
    *GRACE.get_or_init(|| {
        let mut hello = Activated::start(&[("IDLE_TIMEOUT", "1ms")]);
        let line = hello.startup_line();
        let grace = line
            .split("grace ")
            .nth(1)
            .and_then(|rest| rest.split([',', ';', ' ']).next())
            .unwrap_or_else(|| panic!("no grace in hello's startup line: {line}"));
        let grace = duration(grace);
        assert_eq!(hello.wait_exit().code(), Some(0), "{}", hello.stderr());
        grace
    })
}

/// A directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(purpose: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("idle-deploy-{}-{purpose}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

// ---------------------------------------------------------------------------
// Helpers: the hello binary, socket activation, HTTP

/// The `hello` example, built by Cargo with the tests as the root package's
/// `idle-test-hello` binary (the same source file, `examples/hello.rs`).
fn hello() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_idle-test-hello"))
}

/// Runs `command` to completion, killing it after `patience`.
fn run_bounded(command: &mut Command, patience: Duration) -> std::process::Output {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    let pid = child.id();
    let (done, finished) = mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    match finished.recv_timeout(patience) {
        Ok(output) => output.expect("wait for the command"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{command:?} did not finish within {patience:?}");
        }
    }
}

/// `hello` started by `systemd-socket-activate` on a free port of 127.0.0.1.
/// It execs `hello` when the first connection arrives, with only `-E`
/// variables and `LISTEN_FDS`/`LISTEN_PID` in its environment.
struct Activated {
    child: Child,
    addr: SocketAddr,
    lines: Receiver<String>,
    all: Arc<Mutex<String>>,
    exited: Option<ExitStatus>,
}

impl Activated {
    fn start(env: &[(&str, &str)]) -> Activated {
        let hello = hello();
        let mut failures = String::new();
        // The port is free when chosen but another process may take it
        // before systemd-socket-activate binds it: try a few.
        for _ in 0..5 {
            let addr = free_addr();
            let mut command = Command::new("systemd-socket-activate");
            command.arg(format!("--listen={addr}"));
            for (name, value) in env {
                command.arg(format!("--setenv={name}={value}"));
            }
            command
                .arg(hello)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = command.spawn().unwrap_or_else(|error| {
                panic!("cannot run systemd-socket-activate ({error}): install Debian's systemd package")
            });
            let (sender, lines) = mpsc::channel();
            let all = Arc::new(Mutex::new(String::new()));
            let pipe = child.stderr.take().unwrap();
            thread::spawn({
                let all = all.clone();
                move || {
                    for line in BufReader::new(pipe).lines() {
                        let Ok(line) = line else { break };
                        all.lock().unwrap().push_str(&format!("{line}\n"));
                        let _ = sender.send(line);
                    }
                }
            });
            let mut activated = Activated {
                child,
                addr,
                lines,
                all,
                exited: None,
            };
            if activated
                .wait_line(|line| line.starts_with("Listening on"))
                .is_some()
            {
                return activated;
            }
            failures.push_str(&activated.stderr());
        }
        panic!("systemd-socket-activate did not start listening:\n{failures}");
    }

    /// Waits for a stderr line matching `wanted`; `None` if the process
    /// ended first.
    fn wait_line(&mut self, wanted: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self
                .lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(line) if wanted(&line) => return Some(line),
                Ok(_) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("timed out waiting for output\n{}", self.stderr())
                }
            }
        }
    }

    /// Starts `hello` with a connection that sends nothing (which does not
    /// count as activity) and returns its startup line.
    fn startup_line(&mut self) -> String {
        drop(TcpStream::connect_timeout(&self.addr, PATIENCE).expect("connect"));
        self.wait_line(|line| line.starts_with("idle: listening on"))
            .unwrap_or_else(|| panic!("hello printed no startup line\n{}", self.stderr()))
    }

    fn try_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().expect("try_wait");
        }
        self.exited
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.try_exit() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "hello did not exit within {PATIENCE:?}\n{}",
                self.stderr()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything printed on stderr so far, by the activator and by hello.
    fn stderr(&self) -> String {
        self.all.lock().unwrap().clone()
    }
}

impl Drop for Activated {
    fn drop(&mut self) {
        if self.try_exit().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
}

/// GET `path` on a new connection; the status and the body.
fn http_get(addr: SocketAddr, path: &str, headers: &[(String, String)]) -> (u16, String) {
    try_http_get(addr, path, headers)
        .unwrap_or_else(|error| panic!("GET {path} on {addr}: {error}"))
}

fn try_http_get(
    addr: SocketAddr,
    path: &str,
    headers: &[(String, String)],
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, PATIENCE)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.set_write_timeout(Some(PATIENCE))?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok());
    let status =
        status.ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {head:?}")))?;
    Ok((status, body.to_owned()))
}
