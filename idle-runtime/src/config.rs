//! Configuration: the attribute's values, overridden by the environment.
//!
//! | setting   | default          | environment override                     |
//! |-----------|------------------|------------------------------------------|
//! | `timeout` | 30 s             | `IDLE_TIMEOUT` (duration or `auto`)      |
//! | `auto_timeout` | off         | `IDLE_TIMEOUT=auto`                      |
//! | `state`   | none             | `IDLE_STATE` (absolute path)             |
//! | `grace`   | 10 s             | `IDLE_GRACE` (duration)                  |
//! | `addr`    | `0.0.0.0:8080`   | `PORT` replaces the port (0 to 65535); ignored, with a warning, for a Unix socket |
//! | `ignore`  | none             | none                                     |
//! | `ignore_headers` | none      | none                                     |
//! | `mode`    | detected         | `IDLE_MODE` (`exit` or `drain-only`)     |
//!
//! # Idle mode
//!
//! Where the platform itself scales to zero and treats an exit as a crash,
//! exiting when idle is wrong; only the signal drain is wanted. The mode is
//! chosen by [`Config::apply_env`], first match wins:
//!
//! | environment                | platform                  | mode         |
//! |----------------------------|---------------------------|--------------|
//! | `IDLE_MODE=exit`/`drain-only` | (explicit override)    | as given     |
//! | `K_SERVICE` set            | Cloud Run, Knative        | `drain-only` |
//! | `AWS_LAMBDA_RUNTIME_API` set | AWS Lambda              | `drain-only` |
//! | `LISTEN_FDS` set           | systemd socket activation | `exit`       |
//! | `FLY_MACHINE_ID` set       | Fly.io Machines           | `exit`       |
//! | otherwise                  |                           | `exit`       |
//!
//! The startup line says which mode was chosen and why.
//!
//! Durations use the grammar of [`idle_duration`]: `"500ms"`, `"30s"`,
//! `"1m30s"`, `"2h"`, greater than zero. A variable that is set but empty,
//! not UTF-8, or not of that form is an error ([`ConfigError`]); the
//! `#[idle_server]` main prints it as one line and exits with code 2 before
//! anything is bound.

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;

use http::HeaderName;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// The environment variable that overrides [`Config::timeout`], or with
/// the value `auto` turns on [`Config::auto_timeout`].
pub const ENV_TIMEOUT: &str = "IDLE_TIMEOUT";
/// The environment variable that overrides [`Config::state`].
pub const ENV_STATE: &str = "IDLE_STATE";
/// The environment variable that overrides [`Config::grace`].
pub const ENV_GRACE: &str = "IDLE_GRACE";
/// The environment variable that replaces the port of [`Config::addr`].
pub const ENV_PORT: &str = "PORT";
/// The environment variable that overrides the detected [`IdleMode`].
pub const ENV_MODE: &str = "IDLE_MODE";

/// Whether the server exits when idle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum IdleMode {
    /// Shut down after `timeout` without activity, and on SIGTERM/SIGINT.
    #[default]
    Exit,
    /// Never shut down for idleness; only SIGTERM/SIGINT start the drain.
    /// For platforms that scale to zero themselves (Cloud Run, Knative,
    /// AWS Lambda).
    DrainOnly,
}

impl std::fmt::Display for IdleMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdleMode::Exit => "exit",
            IdleMode::DrainOnly => "drain-only",
        })
    }
}

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
    /// Default none (history lives in memory).
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

    /// Applies the environment overrides `IDLE_TIMEOUT` (a duration, or
    /// `auto`), `IDLE_STATE`, `IDLE_GRACE`, `PORT` and `IDLE_MODE` of this
    /// process, and detects the platform when
    /// `IDLE_MODE` is unset (see [`IdleMode`] and the crate docs, "Platforms").
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first variable that is set but invalid.
    pub fn apply_env(self) -> Result<Self, ConfigError> {
        self.apply_env_from(|name| std::env::var_os(name))
    }

    /// [`apply_env`](Config::apply_env) with another source of variables.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first variable that is set but invalid.
    pub fn apply_env_from(
        mut self,
        lookup: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self, ConfigError> {
        if let Some(value) = lookup(ENV_TIMEOUT) {
            let text = utf8(ENV_TIMEOUT, value, idle_duration::TIMEOUT_EXPECTED)?;
            match idle_duration::parse_timeout(&text) {
                Ok(idle_duration::Timeout::Fixed(timeout)) => self = self.with_timeout(timeout),
                // Keep a cold-start cost given in code; else the default.
                Ok(idle_duration::Timeout::Auto) => {
                    self.auto_timeout = Some(self.auto_timeout.unwrap_or_default());
                }
                Err(error) => {
                    return Err(ConfigError {
                        variable: ENV_TIMEOUT,
                        value: text,
                        expected: idle_duration::TIMEOUT_EXPECTED,
                        reason: Some(error.to_string()),
                    })
                }
            }
        }
        if let Some(value) = lookup(ENV_STATE) {
            let path = PathBuf::from(value);
            if !path.is_absolute() {
                return Err(ConfigError {
                    variable: ENV_STATE,
                    value: path.to_string_lossy().into_owned(),
                    expected: STATE_EXPECTED,
                    reason: None,
                });
            }
            self.state = Some(path);
        }
        if let Some(value) = lookup(ENV_GRACE) {
            self.grace = parse_duration(ENV_GRACE, value)?;
        }
        if let Some(value) = lookup(ENV_PORT) {
            let text = utf8(ENV_PORT, value, PORT_EXPECTED)?;
            // Digits only, without a sign or leading zeros: `+8080` and
            // `08080` are more likely mistakes than ports.
            let canonical = !text.is_empty()
                && text.bytes().all(|b| b.is_ascii_digit())
                && (text == "0" || !text.starts_with('0'));
            let port = canonical
                .then(|| text.parse::<u16>().ok())
                .flatten()
                .ok_or_else(|| ConfigError {
                    variable: ENV_PORT,
                    value: text.clone(),
                    expected: PORT_EXPECTED,
                    reason: None,
                })?;
            match &mut self.addr {
                ListenAddr::Tcp(addr) => addr.set_port(port),
                // Platforms set PORT for everyone; failing on it would make a
                // Unix-socket server unusable there.
                ListenAddr::Unix(path) => crate::log::warning(&format!(
                    "PORT={port} is ignored: the server listens on the Unix socket {}",
                    path.display()
                )),
            }
        }
        if let Some(value) = lookup(ENV_MODE) {
            let text = utf8(ENV_MODE, value, MODE_EXPECTED)?;
            self.mode = match text.as_str() {
                "exit" => IdleMode::Exit,
                "drain-only" => IdleMode::DrainOnly,
                _ => {
                    return Err(ConfigError {
                        variable: ENV_MODE,
                        value: text,
                        expected: MODE_EXPECTED,
                        reason: None,
                    })
                }
            };
            self.mode_reason = Cow::Borrowed("IDLE_MODE is set");
        } else if let Some((mode, reason)) = PLATFORMS
            .iter()
            .find(|(variable, _, _)| match *variable {
                // Socket activation addressed to this process only (as
                // `take_activated_listener` decides): with another process's
                // LISTEN_PID the server binds `addr`.
                "LISTEN_FDS" => {
                    lookup(variable).is_some()
                        && lookup("LISTEN_PID")
                            .is_none_or(|pid| pid.to_str() == Some(&std::process::id().to_string()))
                }
                _ => lookup(variable).is_some(),
            })
            .map(|(_, mode, reason)| (*mode, *reason))
        {
            self.mode = mode;
            self.mode_reason = Cow::Borrowed(reason);
        }
        Ok(self)
    }
}

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

const MODE_EXPECTED: &str = "`exit` or `drain-only`";

const STATE_EXPECTED: &str = "an absolute file path such as \"/var/lib/app/idle.state\"";

/// Platform detection, first match wins: the variable, the mode, the reason.
const PLATFORMS: [(&str, IdleMode, &str); 4] = [
    (
        "K_SERVICE",
        IdleMode::DrainOnly,
        "Cloud Run/Knative: K_SERVICE is set",
    ),
    (
        "AWS_LAMBDA_RUNTIME_API",
        IdleMode::DrainOnly,
        "AWS Lambda: AWS_LAMBDA_RUNTIME_API is set",
    ),
    (
        "LISTEN_FDS",
        IdleMode::Exit,
        "socket activation: LISTEN_FDS is set",
    ),
    (
        "FLY_MACHINE_ID",
        IdleMode::Exit,
        "Fly.io: FLY_MACHINE_ID is set",
    ),
];

const PORT_EXPECTED: &str = "a port number from 0 to 65535";

fn utf8(
    variable: &'static str,
    value: OsString,
    expected: &'static str,
) -> Result<String, ConfigError> {
    value.into_string().map_err(|value| ConfigError {
        variable,
        value: value.to_string_lossy().into_owned(),
        expected,
        reason: Some("it is not valid UTF-8".to_owned()),
    })
}

fn parse_duration(variable: &'static str, value: OsString) -> Result<Duration, ConfigError> {
    let text = utf8(variable, value, idle_duration::EXPECTED)?;
    idle_duration::parse(&text).map_err(|error| ConfigError {
        variable,
        value: text,
        expected: idle_duration::EXPECTED,
        reason: Some(error.to_string()),
    })
}

/// An environment variable that is set to a value the runtime cannot use.
///
/// Its `Display` is one line naming the variable, the value and what was
/// expected, for example:
///
/// ```text
/// invalid IDLE_TIMEOUT="30 seconds": expected a duration such as "500ms", "30s", "1m30s" or "2h", or "auto"; expected a number at byte 2
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    variable: &'static str,
    value: String,
    expected: &'static str,
    reason: Option<String>,
}

impl ConfigError {
    /// The variable at fault, such as `IDLE_TIMEOUT`.
    pub fn variable(&self) -> &str {
        self.variable
    }

    /// Its value as found (lossily converted if it was not UTF-8).
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug-quote the value so that control characters and very long or
        // empty values stay on one visible line.
        let mut value = self.value.clone();
        if value.chars().count() > 80 {
            value = value.chars().take(80).collect::<String>() + "…";
        }
        write!(
            f,
            "invalid {}={:?}: expected {}",
            self.variable, value, self.expected
        )?;
        if let Some(reason) = &self.reason {
            write!(f, "; {reason}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_env(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        Config::default()
            .apply_env_from(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn overrides_apply() {
        let config = with_env(&[
            ("IDLE_TIMEOUT", "1m30s"),
            ("IDLE_GRACE", "500ms"),
            ("PORT", "9000"),
        ])
        .unwrap();
        assert_eq!(config.timeout, Duration::from_secs(90));
        assert_eq!(config.grace, Duration::from_millis(500));
        assert_eq!(config.addr, "0.0.0.0:9000".parse().unwrap());
        let unix = Config::default()
            .with_addr("unix:/run/app.sock".parse::<ListenAddr>().unwrap())
            .apply_env_from(|name| (name == "PORT").then(|| OsString::from("9000")))
            .unwrap();
        assert_eq!(
            unix.addr.to_string(),
            "unix:/run/app.sock",
            "PORT is ignored"
        );
        assert_eq!(with_env(&[]).unwrap(), Config::default());
    }

    #[test]
    fn bad_values_name_the_variable_and_the_value_on_one_line() {
        let cases = [
            ("IDLE_TIMEOUT", "abc"),
            ("IDLE_TIMEOUT", ""),
            ("IDLE_TIMEOUT", "-5s"),
            ("IDLE_TIMEOUT", "1.5s"),
            ("IDLE_TIMEOUT", "0s"),
            ("IDLE_TIMEOUT", "30s\nIDLE_GRACE=1s"),
            ("IDLE_GRACE", "ten seconds"),
            ("IDLE_GRACE", "99999999999999h"),
            ("PORT", "http"),
            ("PORT", "65536"),
            ("PORT", ""),
            ("PORT", "+18120"),
            ("PORT", "018120"),
            ("PORT", " 8080"),
        ];
        for (variable, value) in cases {
            let error = with_env(&[(variable, value)]).unwrap_err();
            assert_eq!((error.variable(), error.value()), (variable, value));
            let line = error.to_string();
            assert!(line.starts_with(&format!("invalid {variable}=")), "{line}");
            assert!(!line.contains('\n'), "{line:?}");
        }
        let error = with_env(&[("IDLE_TIMEOUT", "30 s")]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("unexpected whitespace at byte 2"),
            "{error}"
        );
        assert_eq!(
            with_env(&[("PORT", "0")]).unwrap().addr,
            "0.0.0.0:0".parse().unwrap()
        );
    }

    #[test]
    fn auto_and_the_state_file_come_from_the_environment() {
        let config =
            with_env(&[("IDLE_TIMEOUT", "auto"), ("IDLE_STATE", "/tmp/idle.state")]).unwrap();
        assert_eq!(config.auto_timeout, Some(AutoTimeout::default()));
        assert_eq!(config.state, Some(PathBuf::from("/tmp/idle.state")));
        // A cost given in code survives `auto`; a duration turns auto off.
        let lookup = |value: &'static str| {
            move |name: &str| (name == ENV_TIMEOUT).then(|| OsString::from(value))
        };
        let coded = Config::default().with_auto_timeout(Duration::from_secs(2));
        let auto = coded.clone().apply_env_from(lookup("auto")).unwrap();
        assert_eq!(
            auto.auto_timeout,
            Some(AutoTimeout::new(Duration::from_secs(2)))
        );
        let fixed = coded.apply_env_from(lookup("45s")).unwrap();
        assert_eq!(
            (fixed.auto_timeout, fixed.timeout),
            (None, Duration::from_secs(45))
        );

        for (variable, value, expected) in [
            ("IDLE_TIMEOUT", "Auto", "or \"auto\""),
            ("IDLE_TIMEOUT", "", "or \"auto\""),
            ("IDLE_STATE", "idle.state", "expected an absolute file path"),
            ("IDLE_STATE", "", "expected an absolute file path"),
        ] {
            let error = with_env(&[(variable, value)]).unwrap_err();
            assert_eq!((error.variable(), error.value()), (variable, value));
            assert!(error.to_string().contains(expected), "{error}");
        }
    }

    #[test]
    fn the_mode_follows_the_platform_unless_overridden() {
        type Case = (
            &'static [(&'static str, &'static str)],
            IdleMode,
            &'static str,
        );
        let cases: [Case; 7] = [
            (&[], IdleMode::Exit, "default"),
            (
                &[("K_SERVICE", "hello")],
                IdleMode::DrainOnly,
                "Cloud Run/Knative: K_SERVICE is set",
            ),
            (
                &[("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001")],
                IdleMode::DrainOnly,
                "AWS Lambda: AWS_LAMBDA_RUNTIME_API is set",
            ),
            (
                &[("FLY_MACHINE_ID", "e286")],
                IdleMode::Exit,
                "Fly.io: FLY_MACHINE_ID is set",
            ),
            (
                &[("LISTEN_FDS", "1")],
                IdleMode::Exit,
                "socket activation: LISTEN_FDS is set",
            ),
            (
                &[("K_SERVICE", "hello"), ("IDLE_MODE", "exit")],
                IdleMode::Exit,
                "IDLE_MODE is set",
            ),
            (
                &[("IDLE_MODE", "drain-only")],
                IdleMode::DrainOnly,
                "IDLE_MODE is set",
            ),
        ];
        for (env, mode, reason) in cases {
            let config = with_env(env).unwrap();
            assert_eq!(
                (config.mode, config.mode_reason()),
                (mode, reason),
                "{env:?}"
            );
        }
        let other = (std::process::id() + 1).to_string();
        let ours = std::process::id().to_string();
        let config = with_env(&[("LISTEN_FDS", "1"), ("LISTEN_PID", &other)]).unwrap();
        assert_eq!(
            config.mode_reason(),
            "default",
            "activation for another process"
        );
        let config = with_env(&[("LISTEN_FDS", "1"), ("LISTEN_PID", &ours)]).unwrap();
        assert_eq!(config.mode_reason(), "socket activation: LISTEN_FDS is set");
        let error = with_env(&[("IDLE_MODE", "off")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid IDLE_MODE=\"off\": expected `exit` or `drain-only`"
        );
    }

    #[test]
    fn long_values_are_shortened_in_the_message() {
        let long = "9".repeat(5000);
        let error = with_env(&[("IDLE_TIMEOUT", &long)]).unwrap_err();
        assert!(error.to_string().len() < 400);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_values_are_errors() {
        use std::os::unix::ffi::OsStringExt;
        let error = Config::default()
            .apply_env_from(|name| {
                (name == "IDLE_GRACE").then(|| OsString::from_vec(vec![0xff, b's']))
            })
            .unwrap_err();
        assert_eq!(error.variable(), "IDLE_GRACE");
        assert!(error.to_string().contains("UTF-8"));
    }
}
