//! A socket unit in miniature, as `tests/zero_loss.rs` plays it: the test
//! holds a listening socket (TCP or Unix), and whenever a connection waits
//! and no server runs, it starts the test server with that socket as fd 3
//! (`LISTEN_FDS=1`, `LISTEN_PID` = the server's pid), like systemd with
//! `Accept=no`. The server exits when idle; the next waiting connection
//! starts it again. Every run's exit code and stderr are kept.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::{PATIENCE, SERVER};

/// One run of the server, from its start by the activator to its exit.
#[derive(Debug, Clone)]
pub struct Run {
    /// The exit code (`None` if a signal ended it).
    pub code: Option<i32>,
    /// Everything it wrote on stderr.
    pub stderr: String,
}

/// The socket unit: starts the test server on demand until finished.
pub struct Activator {
    stop: Arc<AtomicBool>,
    runs: Arc<Mutex<Vec<Run>>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Activator {
    /// Holds `listener` and starts the test server with `env` whenever a
    /// connection waits on it.
    pub fn start(listener: OwnedFd, env: &[(&str, &str)]) -> Activator {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let runs = Arc::new(Mutex::new(Vec::new()));
        let thread = thread::spawn({
            let (stop, runs) = (stop.clone(), runs.clone());
            move || activate(listener, env, stop, runs)
        });
        Activator {
            stop,
            runs,
            thread: Some(thread),
        }
    }

    /// Starts no more servers, waits for the running one to exit (killing
    /// it after [`PATIENCE`]), and returns every run.
    pub fn finish(mut self) -> Vec<Run> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("the activator thread");
        }
        self.runs.lock().unwrap().clone()
    }
}

impl Drop for Activator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn activate(
    listener: OwnedFd,
    env: Vec<(String, String)>,
    stop: Arc<AtomicBool>,
    runs: Arc<Mutex<Vec<Run>>>,
) {
    while !stop.load(Ordering::SeqCst) {
        // Like systemd: wait for the socket to become readable (a
        // connection is queued) without accepting it.
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(20u16)) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(error) => panic!("poll: {error}"),
        }
        let socket = listener.try_clone().expect("dup the listening socket");
        let mut command = Command::new("sh");
        command
            // `$$` is the shell's pid, which `exec` hands to the server.
            .args(["-c", "export LISTEN_PID=$$; exec \"$0\"", SERVER])
            .env("LISTEN_FDS", "1")
            .env_remove("RUST_LOG")
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .fd_mappings(vec![FdMapping {
                parent_fd: socket,
                child_fd: 3,
            }])
            .expect("one mapping");
        let mut child = command.spawn().expect("start the server");
        let mut pipe = child.stderr.take().unwrap();
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        });
        let mut stopping_since = None;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for the server") {
                break status;
            }
            if stop.load(Ordering::SeqCst) {
                let since = *stopping_since.get_or_insert_with(Instant::now);
                if since.elapsed() > PATIENCE {
                    let _ = child.kill();
                }
            }
            thread::sleep(Duration::from_millis(1));
        };
        let stderr = stderr.join().unwrap_or_default();
        runs.lock().unwrap().push(Run {
            code: status.code(),
            stderr,
        });
    }
}
