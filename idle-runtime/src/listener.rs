//! Where the server listens: a socket inherited by socket activation, or a
//! fresh one bound to [`Config::addr`](crate::Config::addr), over TCP or a
//! Unix domain socket.
//!
//! Under socket activation (systemd, `systemd-socket-activate`: the variables
//! `LISTEN_FDS` and `LISTEN_PID`, read as `sd_listen_fds(3)` reads them) the
//! first passed descriptor is served, a TCP or a Unix stream socket. The
//! socket belongs to the activator and outlives the process, so connections
//! that arrive while the server is stopped wait in the kernel's queue and
//! are served by the next start: a stop/start cycle loses nothing.
//!
//! A passed socket must be listening (systemd `Accept=no`, the default).
//! With `Accept=yes` systemd passes one connected socket per instance; the
//! server refuses it at once (exit 1, one line saying to use `Accept=no`)
//! rather than serve a socket that cannot accept: an idle-exiting server
//! is what makes per-connection instances unnecessary.
//!
//! A Unix socket bound from `addr = "unix:/path"` replaces a stale socket
//! file left by a previous run (one nobody listens on), never a file of
//! another kind nor a socket another server is listening on. It gets
//! [`Config::socket_mode`](crate::Config::socket_mode) if one is set, and is
//! removed when the server stops if the path still names the socket this
//! process bound (same device and inode): a server that has bound the path
//! since keeps its socket. An inherited socket's file belongs to the
//! activator and is left alone.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
#[cfg(unix)]
use tokio::net::{UnixListener, UnixStream};

use crate::config::passed_sockets;
use crate::{Config, ListenAddr};

/// A listening socket passed by socket activation, not yet registered with
/// the runtime: see [`take_activated_listener`] and [`bind`].
///
/// # Examples
///
/// ```no_run
/// use idle_runtime::ActivatedListener;
///
/// match idle_runtime::take_activated_listener()? {
///     Some(ActivatedListener::Tcp(socket)) => eprintln!("TCP {:?}", socket.local_addr()?),
///     Some(ActivatedListener::Unix(socket)) => eprintln!("Unix {:?}", socket.local_addr()?),
///     Some(_) => eprintln!("another kind of socket"),
///     None => eprintln!("no socket activation: bind the configured address"),
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ActivatedListener {
    /// A TCP listener (systemd `ListenStream=127.0.0.1:8080`).
    Tcp(std::net::TcpListener),
    /// A Unix stream listener (systemd `ListenStream=/run/app.sock`).
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener),
}

/// A listening socket that [`serve`](crate::serve()) accepts connections
/// from: TCP or a Unix domain socket. Made by [`bind`], or from a tokio
/// listener with `into()`.
///
/// # Examples
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use idle_runtime::Listener;
///
/// let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let listener = Listener::from(tcp);
/// println!("listening on {}", listener.local_addr()?);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Listener {
    kind: Kind,
    /// The socket file to remove when the listener is dropped: set for a
    /// Unix socket this process bound itself.
    #[cfg(unix)]
    unlink: Option<SocketFile>,
}

/// A Unix socket file this process bound: its path, and its device and
/// inode, so that it is removed only if the path still names it.
#[cfg(unix)]
#[derive(Debug)]
struct SocketFile {
    path: std::path::PathBuf,
    id: (u64, u64),
}

#[cfg(unix)]
impl SocketFile {
    /// The socket just bound at `path`.
    fn bound(path: &std::path::Path) -> io::Result<SocketFile> {
        Ok(SocketFile {
            path: path.to_owned(),
            id: file_id(path)?,
        })
    }

    /// Removes the file if the path still names the socket this process
    /// bound. Between the check and the removal another server would have
    /// to remove this socket and bind its own: a window of two system calls.
    fn remove(&self) {
        if file_id(&self.path).ok() == Some(self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The device and inode of the file at `path`, not following a symlink.
#[cfg(unix)]
fn file_id(path: &std::path::Path) -> io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::symlink_metadata(path)?;
    Ok((metadata.dev(), metadata.ino()))
}

#[derive(Debug)]
enum Kind {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(UnixListener),
}

impl From<TcpListener> for Listener {
    fn from(listener: TcpListener) -> Self {
        Listener {
            kind: Kind::Tcp(listener),
            #[cfg(unix)]
            unlink: None,
        }
    }
}

#[cfg(unix)]
impl From<UnixListener> for Listener {
    fn from(listener: UnixListener) -> Self {
        Listener {
            kind: Kind::Unix(listener),
            unlink: None,
        }
    }
}

impl Listener {
    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// As [`TcpListener::local_addr`], or a Unix socket without a path.
    pub fn local_addr(&self) -> io::Result<ListenAddr> {
        match &self.kind {
            Kind::Tcp(listener) => listener.local_addr().map(ListenAddr::Tcp),
            #[cfg(unix)]
            Kind::Unix(listener) => {
                let addr = listener.local_addr()?;
                let path = addr.as_pathname().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "the Unix socket has no path")
                })?;
                Ok(ListenAddr::Unix(path.to_owned()))
            }
        }
    }

    /// Accepts a connection, with TCP_NODELAY set on a TCP socket.
    pub(crate) fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Stream, Peer)>> {
        match &self.kind {
            Kind::Tcp(listener) => listener.poll_accept(cx).map_ok(|(stream, peer)| {
                // Responses go out as soon as they are written.
                let _ = stream.set_nodelay(true);
                (Stream::Tcp(stream), Peer::Tcp(peer))
            }),
            #[cfg(unix)]
            Kind::Unix(listener) => listener
                .poll_accept(cx)
                .map_ok(|(stream, peer)| (Stream::Unix(stream), Peer::Unix(peer))),
        }
    }
}

#[cfg(unix)]
impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(file) = &self.unlink {
            file.remove();
        }
    }
}

/// An accepted connection.
pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
}

macro_rules! each {
    ($stream:expr, $inner:ident => $body:expr) => {
        match $stream {
            Stream::Tcp($inner) => $body,
            #[cfg(unix)]
            Stream::Unix($inner) => $body,
        }
    };
}

impl AsyncRead for Stream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    #[inline]
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        each!(self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        each!(self, s => s.is_write_vectored())
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }

    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}

/// Takes the listening socket passed by socket activation, if any.
///
/// The variables are read as `sd_listen_fds(3)` reads them: returns
/// `Ok(None)` when `LISTEN_PID` is unset or names another process, or when
/// `LISTEN_FDS` is unset. It removes `LISTEN_FDS`, `LISTEN_PID` and
/// `LISTEN_FDNAMES` from the environment so that child processes do not
/// inherit them, so call it before starting threads that read the
/// environment (the `#[idle_server]` main calls it before building the
/// tokio runtime).
///
/// # Errors
///
/// `LISTEN_PID` names this process but `LISTEN_FDS` is not a count of 1 or
/// more (or `LISTEN_PID` is not a process id); the passed descriptor is
/// neither a TCP nor a Unix stream socket, is not listening (systemd
/// `Accept=yes`), or cannot be used.
///
/// # Examples
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// let config = idle_runtime::Config::default();
/// // Before the runtime's threads start: it edits the environment.
/// let activated = idle_runtime::take_activated_listener()?;
/// if activated.is_some() {
///     eprintln!("serving the socket passed by socket activation");
/// }
/// let listener = idle_runtime::bind(&config, activated).await?;
/// # Ok(())
/// # }
/// ```
pub fn take_activated_listener() -> io::Result<Option<ActivatedListener>> {
    let passed = passed_sockets(&|name| std::env::var_os(name))
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error.to_string()));
    if !matches!(passed, Ok(Some(_))) {
        for variable in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
            std::env::remove_var(variable);
        }
        return passed.map(|_| None);
    }
    // The same variables, read by listenfd (which also removes them): it
    // agrees when LISTEN_PID names this process.
    let mut fds = listenfd::ListenFd::from_env();
    std::env::remove_var("LISTEN_FDNAMES");
    if fds.len() == 0 {
        return Ok(None);
    }
    // listenfd leaves the descriptor in place when it is not of the kind
    // asked for, so the second attempt sees it.
    let listener = match fds.take_tcp_listener(0) {
        Ok(tcp) => tcp.map(ActivatedListener::Tcp),
        #[cfg(unix)]
        Err(tcp_error) => fds
            .take_unix_listener(0)
            .map_err(|_| not_a_stream_socket(&tcp_error))?
            .map(ActivatedListener::Unix),
        #[cfg(not(unix))]
        Err(tcp_error) => return Err(not_a_stream_socket(&tcp_error)),
    };
    let Some(listener) = listener else {
        return Ok(None);
    };
    let listening = match &listener {
        ActivatedListener::Tcp(socket) => is_listening(socket),
        #[cfg(unix)]
        ActivatedListener::Unix(socket) => is_listening(socket),
    }
    .map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("cannot inspect the socket passed by socket activation (LISTEN_FDS): {error}"),
        )
    })?;
    if !listening {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the socket passed by socket activation (LISTEN_FDS) is a connection, not a listening socket: the systemd socket unit must use Accept=no (the default)",
        ));
    }
    Ok(Some(listener))
}

fn not_a_stream_socket(error: &io::Error) -> io::Error {
    io::Error::new(
        error.kind(),
        format!("the socket passed by socket activation (LISTEN_FDS) is neither a TCP nor a Unix stream socket: {error}"),
    )
}

/// Whether `listen(2)` was called on the socket (`SO_ACCEPTCONN`).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn is_listening<S: std::os::fd::AsFd>(socket: &S) -> io::Result<bool> {
    socket2::SockRef::from(socket).is_listener()
}

/// Without `SO_ACCEPTCONN`, trust the activator.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn is_listening<S>(_socket: &S) -> io::Result<bool> {
    Ok(true)
}

/// The listener to serve: `activated` if socket activation passed one,
/// otherwise a new socket bound to `config.addr`.
///
/// A Unix socket it binds gets [`Config::socket_mode`] if one is set, and
/// is removed when the [`Listener`] is dropped (if the path still names it).
///
/// # Errors
///
/// The address cannot be bound (in use, not local, no permission, a file
/// that is not a socket in the way of a Unix socket), or the socket's mode
/// cannot be set; the message names the address.
///
/// # Examples
///
/// ```no_run
/// # async fn example() -> std::io::Result<()> {
/// use idle_runtime::{Config, ListenAddr};
///
/// let addr: ListenAddr = "unix:/run/app/app.sock".parse().map_err(std::io::Error::other)?;
/// let config = Config::default().with_addr(addr).with_socket_mode(0o660);
/// let listener = idle_runtime::bind(&config, None).await?;
/// # Ok(())
/// # }
/// ```
pub async fn bind(config: &Config, activated: Option<ActivatedListener>) -> io::Result<Listener> {
    if activated.is_some() && config.socket_mode.is_some() {
        crate::log::warning(
            "the socket mode (IDLE_SOCKET_MODE) is ignored: the socket passed by socket activation belongs to the activator (systemd: SocketMode= in the .socket unit)",
        );
    }
    match activated {
        Some(ActivatedListener::Tcp(listener)) => {
            listener.set_nonblocking(true)?;
            Ok(TcpListener::from_std(listener)?.into())
        }
        #[cfg(unix)]
        Some(ActivatedListener::Unix(listener)) => {
            listener.set_nonblocking(true)?;
            Ok(UnixListener::from_std(listener)?.into())
        }
        None => {
            let in_context = |error: io::Error| {
                io::Error::new(
                    error.kind(),
                    format!("cannot listen on {}: {error}", config.addr),
                )
            };
            match &config.addr {
                ListenAddr::Tcp(addr) => {
                    Ok(TcpListener::bind(addr).await.map_err(in_context)?.into())
                }
                #[cfg(unix)]
                ListenAddr::Unix(path) => {
                    remove_stale_socket(path).map_err(in_context)?;
                    let listener = UnixListener::bind(path).map_err(in_context)?;
                    // From here on, dropping the listener removes the file.
                    let listener = Listener {
                        kind: Kind::Unix(listener),
                        unlink: Some(SocketFile::bound(path).map_err(in_context)?),
                    };
                    if let Some(mode) = config.socket_mode {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                            .map_err(|error| {
                                in_context(io::Error::new(
                                    error.kind(),
                                    format!("cannot set its mode to {mode:o}: {error}"),
                                ))
                            })?;
                    }
                    Ok(listener)
                }
                #[cfg(not(unix))]
                ListenAddr::Unix(_) => Err(in_context(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "Unix sockets need a Unix platform",
                ))),
            }
        }
    }
}

/// Removes the socket file at `path` if it is a socket nobody listens on.
/// Anything else in the way is an error.
#[cfg(unix)]
fn remove_stale_socket(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if !metadata.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a file that is not a socket is in the way (it is left alone)",
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "another server is listening on this socket",
        )),
        // Nobody listens: a stale socket left by a previous run.
        Err(_) => std::fs::remove_file(path),
    }
}

/// The peer of an accepted connection, as `accept` returned it: what
/// handlers get as [`ConnectInfo`](axum::extract::ConnectInfo).
#[derive(Clone, Debug)]
pub(crate) enum Peer {
    Tcp(std::net::SocketAddr),
    #[cfg(unix)]
    Unix(tokio::net::unix::SocketAddr),
}

impl Stream {
    /// Closes the read side (Unix sockets only; `false` for TCP): the
    /// peer's later writes fail (EPIPE), while the bytes already queued can
    /// still be read, then reads return end of stream.
    ///
    /// Over TCP `shutdown(SHUT_RD)` neither tells the peer nor stops its
    /// bytes, so it would only hide them: it is not used there.
    pub(crate) fn shutdown_read(&self) -> bool {
        match self {
            Stream::Tcp(_) => false,
            #[cfg(unix)]
            Stream::Unix(stream) => socket2::SockRef::from(stream)
                .shutdown(std::net::Shutdown::Read)
                .is_ok(),
        }
    }

    /// Reads what the kernel holds for this socket now, with a system call
    /// whatever the runtime last learned of its readiness. `Ok(0)`: end of
    /// stream; `WouldBlock`: nothing queued.
    pub(crate) fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read;
        each!(self, s => (&*socket2::SockRef::from(s)).read(buf))
    }
}
