//! Configuration: the attribute's values, overridden by the environment.
//!
//! | setting   | default          | environment override                     |
//! |-----------|------------------|------------------------------------------|
//! | `timeout` | 30 s             | `IDLE_TIMEOUT` (duration or `auto`)      |
//! | `auto_timeout` | off         | `IDLE_TIMEOUT=auto`                      |
//! | `state`   | none; `$STATE_DIRECTORY/idle.state` under systemd | `IDLE_STATE` (absolute path) |
//! | `grace`   | 10 s             | `IDLE_GRACE` (duration)                  |
//! | `addr`    | `0.0.0.0:8080`   | `PORT` replaces the port (0 to 65535); ignored, with a warning, for a Unix socket |
//! | `ignore`  | none             | none                                     |
//! | `ignore_headers` | none      | none                                     |
//! | `mode`    | detected         | `IDLE_MODE` (`exit` or `drain-only`)     |
//! | `socket_mode` | as the umask leaves it | `IDLE_SOCKET_MODE` (octal, such as `660`) |
//!
//! Durations use the grammar of [`idle_duration`]: `"500ms"`, `"30s"`,
//! `"1m30s"`, `"2h"`, greater than zero. A variable that is set but empty,
//! not UTF-8, or not of that form is an error ([`ConfigError`]); the
//! `#[idle_server]` main prints it as one line and exits with code 2 before
//! anything is bound.
//!
//! A folder like tower-http's `timeout/`, except that `mod.rs` holds
//! [`Config`] itself besides the `mod` lines and the `pub use` list: it is
//! what the folder is named after and what a reader looks for first.
//!
//! | file | what lives there |
//! |------|------------------|
//! | `mod.rs` | [`Config`], its defaults and `with_*` setters, [`AutoTimeout`] |
//! | `env.rs` | [`Config::apply_env`], the variables' names, [`ConfigError`] |
//! | `mode.rs` | [`IdleMode`] and the platform detection |
//! | `addr.rs` | [`ListenAddr`] and [`AddrParseError`] |

use std::borrow::Cow;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

mod addr;
mod env;
mod mode;

pub use addr::{AddrParseError, ListenAddr};
pub(crate) use env::passed_sockets;
pub use env::{
    ConfigError, ENV_GRACE, ENV_MODE, ENV_PORT, ENV_SOCKET_MODE, ENV_STATE, ENV_TIMEOUT,
};
pub use mode::IdleMode;

/// The adaptive timeout's settings (`timeout = "auto"`): see
/// [`adaptive`](crate::adaptive).
///
/// ```
/// use std::time::Duration;
/// use idle_runtime::{AutoTimeout, Config};
///
/// let config = Config::default().with_auto_timeout(Duration::from_secs(2));
/// assert_eq!(config.auto_timeout, Some(AutoTimeout::new(Duration::from_secs(2))));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AutoTimeout {
    /// How many idle seconds one cold start is worth to you: the latency
    /// your users wait, priced in the idle time you would pay to avoid it.
    /// With no history the timeout is this (break-even). The policy works
    /// within 1 s to 1 h and clamps values outside. Default 30 s.
    pub cold_start_cost: Duration,
}

impl AutoTimeout {
    /// The default [`cold_start_cost`](AutoTimeout::cold_start_cost).
    pub const DEFAULT_COLD_START_COST: Duration = Duration::from_secs(30);

    /// The adaptive timeout with this cold-start cost.
    pub fn new(cold_start_cost: Duration) -> Self {
        AutoTimeout { cold_start_cost }
    }
}

impl Default for AutoTimeout {
    fn default() -> Self {
        AutoTimeout::new(Self::DEFAULT_COLD_START_COST)
    }
}

/// How long to stay up without activity, how long to drain, where to listen,
/// and which paths never count as activity.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use idle_runtime::Config;
///
/// let config = Config::default()
///     .with_timeout(Duration::from_secs(300))
///     .with_ignore(["/healthz"])
///     .apply_env()?; // IDLE_TIMEOUT, IDLE_GRACE and PORT win
/// # Ok::<(), idle_runtime::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Shut down after this long without activity, unless
    /// [`auto_timeout`](Config::auto_timeout) is set. Default 30 s.
    pub timeout: Duration,
    /// Choose the timeout from the idle gaps seen, instead of `timeout`.
    /// Default off.
    pub auto_timeout: Option<AutoTimeout>,
    /// Where the adaptive timeout keeps what it has learned across
    /// restarts; used only with [`auto_timeout`](Config::auto_timeout).
    /// Default none, and then the adaptive timeout learns nothing and is
    /// break-even (see [`adaptive`](crate::adaptive)); under systemd with
    /// `StateDirectory=`, [`apply_env`](Config::apply_env) sets it to
    /// `$STATE_DIRECTORY/idle.state`.
    pub state: Option<PathBuf>,
    /// The longest drain once shutdown has started. Default 10 s.
    pub grace: Duration,
    /// Where to listen when the process was not given a socket by socket
    /// activation. Default `0.0.0.0:8080`.
    pub addr: ListenAddr,
    /// Request paths that are served but never count as activity. Default
    /// none.
    pub ignore: Vec<String>,
    /// Requests that carry any of these headers (whatever the value) are
    /// served but never count, in addition to Kubernetes and Knative probes
    /// (`User-Agent: kube-probe/...`, `K-Kubelet-Probe`, `K-Network-Probe`),
    /// which never count. Default none.
    pub ignore_headers: Vec<HeaderName>,
    /// Whether to exit when idle. Default [`IdleMode::Exit`];
    /// [`apply_env`](Config::apply_env) detects the platform.
    pub mode: IdleMode,
    /// Start a graceful shutdown this long after serving started, even if
    /// busy. Default: never.
    pub max_lifetime: Option<Duration>,
    /// The permissions of the socket file when [`addr`](Config::addr) is a
    /// Unix socket that the server binds, such as `0o660` so that a
    /// reverse proxy in the socket's group may connect. Default `None`: as
    /// the process's umask leaves it (0755 under the usual umask 022, which
    /// lets only the server's own user connect). A socket passed by socket
    /// activation belongs to the activator (systemd's `SocketMode=`).
    pub socket_mode: Option<u32>,
    /// Why `mode` was chosen, for the startup line.
    mode_reason: Cow<'static, str>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timeout: Duration::from_secs(30),
            auto_timeout: None,
            state: None,
            grace: Duration::from_secs(10),
            addr: ListenAddr::Tcp(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::UNSPECIFIED,
                8080,
            ))),
            ignore: Vec::new(),
            ignore_headers: Vec::new(),
            mode: IdleMode::Exit,
            max_lifetime: None,
            socket_mode: None,
            mode_reason: Cow::Borrowed("default"),
        }
    }
}

impl Config {
    /// Sets a fixed [`timeout`](Config::timeout), turning the adaptive
    /// timeout off.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self.auto_timeout = None;
        self
    }

    /// Turns on the adaptive timeout ([`auto_timeout`](Config::auto_timeout))
    /// with this cold-start cost.
    pub fn with_auto_timeout(mut self, cold_start_cost: Duration) -> Self {
        self.auto_timeout = Some(AutoTimeout::new(cold_start_cost));
        self
    }

    /// Sets [`state`](Config::state), the adaptive timeout's state file.
    pub fn with_state(mut self, path: impl Into<PathBuf>) -> Self {
        self.state = Some(path.into());
        self
    }

    /// Sets [`grace`](Config::grace).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets [`addr`](Config::addr): a [`SocketAddr`], or a [`ListenAddr`]
    /// (which may name a Unix socket).
    pub fn with_addr(mut self, addr: impl Into<ListenAddr>) -> Self {
        self.addr = addr.into();
        self
    }

    /// Sets [`ignore`](Config::ignore).
    pub fn with_ignore<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<String>,
    {
        self.ignore = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Sets [`ignore_headers`](Config::ignore_headers).
    pub fn with_ignore_headers<I>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = HeaderName>,
    {
        self.ignore_headers = names.into_iter().collect();
        self
    }

    /// Sets [`max_lifetime`](Config::max_lifetime).
    pub fn with_max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.max_lifetime = Some(max_lifetime);
        self
    }

    /// Sets [`socket_mode`](Config::socket_mode), the permission bits of a
    /// Unix socket file the server binds (`0o777` at most).
    ///
    /// ```
    /// use idle_runtime::{Config, ListenAddr};
    ///
    /// let addr: ListenAddr = "unix:/run/app/app.sock".parse()?;
    /// // nginx, in the socket's group, may connect; others may not.
    /// let config = Config::default().with_addr(addr).with_socket_mode(0o660);
    /// assert_eq!(config.socket_mode, Some(0o660));
    /// # Ok::<(), idle_runtime::AddrParseError>(())
    /// ```
    pub fn with_socket_mode(mut self, mode: u32) -> Self {
        self.socket_mode = Some(mode & 0o777);
        self
    }

    /// Sets [`mode`](Config::mode), overriding detection.
    pub fn with_mode(mut self, mode: IdleMode) -> Self {
        self.mode = mode;
        self.mode_reason = Cow::Borrowed("set by the program");
        self
    }

    /// Why [`mode`](Config::mode) was chosen, as the startup line says it:
    /// `"default"`, `"Cloud Run/Knative: K_SERVICE is set"`, ...
    pub fn mode_reason(&self) -> &str {
        &self.mode_reason
    }
}
