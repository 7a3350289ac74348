//! Zero lost requests across stop/start cycles under socket activation.
//!
//! The test plays systemd's socket unit: it holds a listening socket on
//! 127.0.0.1, and whenever a connection is waiting and no server runs, it
//! starts the server with that socket as fd 3 (`LISTEN_FDS=1`, `LISTEN_PID`
//! = the server's pid). The server exits when idle; the next waiting
//! connection starts it again. Clients send waves of requests separated by
//! pauses drawn around the idle timeout, so that many requests arrive just
//! before, at and just after the idle deadline. Every request must get its
//! 200, and every exit must be a clean 0.
//!
//! The same runs over a Unix domain socket, as a systemd `.socket` unit with
//! `ListenStream=/run/app.sock` behind a reverse proxy holds it.

mod support;

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use support::activator::Activator;
use support::{try_get, unix_get, Response, XorShift};

const TIMEOUT_MS: u64 = 200;
const CLIENTS: usize = 4;
const WAVES: usize = 150;

#[test]
fn no_request_is_lost_across_idle_stop_start_cycles() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    zero_loss("TCP", listener.into(), move || try_get(addr, "/"));
}

#[test]
fn no_request_is_lost_across_idle_stop_start_cycles_on_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("idle-zero-loss-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("app.sock");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    zero_loss("Unix socket", listener.into(), {
        let path = path.clone();
        move || unix_get(&path, "/")
    });
    let _ = std::fs::remove_dir_all(&dir);
}

fn zero_loss(
    what: &str,
    listener: OwnedFd,
    get: impl Fn() -> std::io::Result<Response> + Clone + Send + 'static,
) {
    let timeout = format!("{TIMEOUT_MS}ms");
    let activator = Activator::start(
        listener,
        &[("IDLE_TIMEOUT", timeout.as_str()), ("IDLE_GRACE", "5s")],
    );

    let started = Instant::now();
    let barrier = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let barrier = barrier.clone();
            let get = get.clone();
            thread::spawn(move || {
                // Same seed for the wave pauses in every client (so the
                // waves stay together); a per-client seed for the jitter.
                let mut pauses = XorShift(0x9E37_79B9_7F4A_7C15);
                let mut jitter = XorShift(0x2545_F491_4F6C_DD1D + client as u64);
                let (mut ok, mut lost) = (0, Vec::new());
                for wave in 0..WAVES {
                    barrier.wait();
                    thread::sleep(Duration::from_millis(jitter.below(20)));
                    match get() {
                        Ok(response) if response.status == 200 => ok += 1,
                        other => lost.push(format!("wave {wave}: {other:?}")),
                    }
                    // Pauses from timeout - 60 ms to timeout + 60 ms: the
                    // next wave lands before, at or after the deadline.
                    let pause = TIMEOUT_MS - 60 + pauses.below(121);
                    thread::sleep(Duration::from_millis(pause));
                }
                (ok, lost)
            })
        })
        .collect();
    let mut served = 0;
    let mut lost = Vec::new();
    for client in clients {
        let (ok, client_lost) = client.join().unwrap();
        served += ok;
        lost.extend(client_lost);
    }
    let runs = activator.finish();
    let cycles = runs.len();
    eprintln!(
        "zero loss ({what}): {served} of {} requests served, {} lost, {cycles} server starts, {:.1} s",
        CLIENTS * WAVES,
        lost.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(lost.is_empty(), "lost requests: {lost:#?}");
    assert_eq!(served, CLIENTS * WAVES);
    assert!(
        runs.iter().all(|run| run.code == Some(0)),
        "every exit is a clean 0: {runs:#?}"
    );
    assert!(
        cycles >= 20,
        "only {cycles} stop/start cycles: the pauses did not reach the deadline"
    );
}
