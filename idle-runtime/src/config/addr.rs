//! Where a server listens: [`ListenAddr`], parsed from the attribute's
//! `addr` (`"ip:port"` or `"unix:/path"`).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// Where a server listens: a TCP address, or a Unix domain socket.
///
/// Parsed from `"ip:port"`, `"[ipv6]:port"` or `"unix:/absolute/path"`
/// (the attribute's `addr`), and displayed the same way.
///
/// ```
/// use idle_runtime::ListenAddr;
///
/// let tcp: ListenAddr = "127.0.0.1:8080".parse()?;
/// let unix: ListenAddr = "unix:/run/app.sock".parse()?;
/// assert_eq!(unix.to_string(), "unix:/run/app.sock");
/// # Ok::<(), idle_runtime::AddrParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// The path of a Unix domain stream socket.
    Unix(PathBuf),
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr::Tcp(addr)
    }
}

/// `([127, 0, 0, 1], 8080)`, as `SocketAddr` has it.
impl<I: Into<std::net::IpAddr>> From<(I, u16)> for ListenAddr {
    fn from((ip, port): (I, u16)) -> Self {
        ListenAddr::Tcp(SocketAddr::new(ip.into(), port))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => addr.fmt(f),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

impl FromStr for ListenAddr {
    type Err = AddrParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.strip_prefix("unix:") {
            Some(path) if path.starts_with('/') => Ok(ListenAddr::Unix(PathBuf::from(path))),
            Some(_) => Err(AddrParseError(
                "a Unix socket path must be absolute, as in \"unix:/run/app.sock\"",
            )),
            None => text.parse().map(ListenAddr::Tcp).map_err(|_| {
                AddrParseError(
                    "expected an IP address and port such as \"0.0.0.0:8080\" or \"[::]:8080\" (host names are not resolved), or \"unix:\" and an absolute path",
                )
            }),
        }
    }
}

/// Why a string is not a [`ListenAddr`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrParseError(&'static str);

impl fmt::Display for AddrParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for AddrParseError {}
