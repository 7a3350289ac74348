//! A client program nobody here wrote (curl, nghttp, a Python script), run
//! as a child process: its output lines are timestamped as they arrive, a
//! test waits for the line it expects, and the process is killed when the
//! test is done with it. Its stdin is a pipe that the test holds and never
//! writes to, so a client that reads its request body from stdin waits on
//! it for ever, and one that waits for stdin to close exits with the test.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A running client process.
pub struct External {
    name: String,
    child: Child,
    /// Held, never written: the silent pipe.
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<(Instant, String)>,
    output: Arc<Mutex<String>>,
}

impl External {
    /// Starts `command`, with stdin, stdout and stderr piped; `name` is how
    /// failure messages call it.
    pub fn spawn(name: &str, mut command: Command) -> External {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run {name} ({command:?}): {error}"));
        let (sender, lines) = mpsc::channel();
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for pipe in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
            let (sender, output) = (sender.clone(), output.clone());
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    {
                        let mut all = output.lock().unwrap();
                        all.push_str(&line);
                        all.push('\n');
                    }
                    let _ = sender.send((Instant::now(), line));
                }
            });
        }
        External {
            name: name.to_owned(),
            stdin: child.stdin.take(),
            child,
            lines,
            output,
        }
    }

    /// Waits up to `limit` for a line (stdout or stderr) for which `wanted`
    /// holds; returns when it arrived and the line. Panics with everything
    /// the client said if none comes.
    #[track_caller]
    pub fn wait_line(
        &self,
        what: &str,
        limit: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> (Instant, String) {
        let until = Instant::now() + limit;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) if wanted(&line) => return (at, line),
                Ok(_) => {}
                Err(_) => panic!(
                    "{}: no line with {what} within {limit:?}; it said:\n{}",
                    self.name,
                    self.output()
                ),
            }
        }
    }

    /// Everything the client has written so far, stdout and stderr.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits up to `limit` for the client to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for External {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
