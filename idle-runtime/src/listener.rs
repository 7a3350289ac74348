//! Where the server listens: a socket inherited by socket activation, or a
//! fresh one bound to [`Config::addr`](crate::Config::addr).
//!
//! Under socket activation (systemd, `systemd-socket-activate`: the variables
//! `LISTEN_FDS` and `LISTEN_PID`) the first passed descriptor is served. The
//! socket belongs to the activator and outlives the process, so connections
//! that arrive while the server is stopped wait in the kernel's queue and are
//! served by the next start: a stop/start cycle loses nothing.
//!
//! A passed socket must be listening (systemd `Accept=no`, the default).
//! With `Accept=yes` systemd passes one connected socket per instance; the
//! server refuses it at once (exit 1, one line saying to use `Accept=no`)
//! rather than serve a socket that cannot accept: an idle-exiting server
//! is what makes per-connection instances unnecessary.

use std::io;

use tokio::net::TcpListener;

use crate::Config;

/// Takes the listening socket passed by socket activation, if any.
///
/// Returns `Ok(None)` when `LISTEN_FDS` is unset, or set for another process
/// (`LISTEN_PID` differs). It removes `LISTEN_FDS` and `LISTEN_PID` from the
/// environment so that child processes do not inherit them, so call it
/// before starting threads that read the environment (the `#[idle_server]`
/// main calls it before building the tokio runtime).
///
/// # Errors
///
/// The passed descriptor is not a TCP socket, is not listening (systemd
/// `Accept=yes`), or cannot be used.
pub fn take_activated_listener() -> io::Result<Option<std::net::TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    let listener = fds.take_tcp_listener(0).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("the socket passed by socket activation (LISTEN_FDS) is not a TCP listener: {error}"),
        )
    })?;
    if let Some(listener) = &listener {
        let listening = is_listening(listener).map_err(|error| {
            io::Error::new(
                error.kind(),
                format!(
                    "cannot inspect the socket passed by socket activation (LISTEN_FDS): {error}"
                ),
            )
        })?;
        if !listening {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the socket passed by socket activation (LISTEN_FDS) is a connection, not a listening socket: the systemd socket unit must use Accept=no (the default)",
            ));
        }
        listener.set_nonblocking(true)?;
    }
    Ok(listener)
}

/// The listener to serve: `activated` if socket activation passed one,
/// otherwise a new socket bound to `config.addr`.
///
/// # Errors
///
/// The address cannot be bound (in use, not local, no permission); the
/// message names the address.
pub async fn bind(
    config: &Config,
    activated: Option<std::net::TcpListener>,
) -> io::Result<TcpListener> {
    match activated {
        Some(listener) => {
            listener.set_nonblocking(true)?;
            TcpListener::from_std(listener)
        }
        None => TcpListener::bind(config.addr).await.map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("cannot listen on {}: {error}", config.addr),
            )
        }),
    }
}

/// Whether `listen(2)` was called on the socket (`SO_ACCEPTCONN`).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn is_listening(listener: &std::net::TcpListener) -> io::Result<bool> {
    socket2::SockRef::from(listener).is_listener()
}

/// Without `SO_ACCEPTCONN`, trust the activator.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn is_listening(_listener: &std::net::TcpListener) -> io::Result<bool> {
    Ok(true)
}
