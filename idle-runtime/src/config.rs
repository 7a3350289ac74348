//! Configuration: the attribute's values, overridden by the environment.
//!
//! | setting   | default          | environment override                     |
//! |-----------|------------------|------------------------------------------|
//! | `timeout` | 30 s             | `IDLE_TIMEOUT` (duration)                |
//! | `grace`   | 10 s             | `IDLE_GRACE` (duration)                  |
//! | `addr`    | `0.0.0.0:8080`   | `PORT` replaces the port (0 to 65535)    |
//! | `ignore`  | none             | none                                     |
//!
//! Durations use the grammar of [`idle_duration`]: `"500ms"`, `"30s"`,
//! `"1m30s"`, `"2h"`, greater than zero. A variable that is set but empty,
//! not UTF-8, or not of that form is an error ([`ConfigError`]); the
//! `#[idle_server]` main prints it as one line and exits with code 2 before
//! anything is bound.

use std::ffi::OsString;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

/// The environment variable that overrides [`Config::timeout`].
pub const ENV_TIMEOUT: &str = "IDLE_TIMEOUT";
/// The environment variable that overrides [`Config::grace`].
pub const ENV_GRACE: &str = "IDLE_GRACE";
/// The environment variable that replaces the port of [`Config::addr`].
pub const ENV_PORT: &str = "PORT";

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
    /// Shut down after this long without activity. Default 30 s.
    pub timeout: Duration,
    /// The longest drain once shutdown has started. Default 10 s.
    pub grace: Duration,
    /// Where to listen when the process was not given a socket by socket
    /// activation. Default `0.0.0.0:8080`.
    pub addr: SocketAddr,
    /// Request paths that are served but never count as activity. Default
    /// none.
    pub ignore: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            timeout: Duration::from_secs(30),
            grace: Duration::from_secs(10),
            addr: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080)),
            ignore: Vec::new(),
        }
    }
}

impl Config {
    /// Sets [`timeout`](Config::timeout).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`grace`](Config::grace).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets [`addr`](Config::addr).
    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
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

    /// Applies the environment overrides `IDLE_TIMEOUT`, `IDLE_GRACE` and
    /// `PORT` of this process.
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
            self.timeout = parse_duration(ENV_TIMEOUT, value)?;
        }
        if let Some(value) = lookup(ENV_GRACE) {
            self.grace = parse_duration(ENV_GRACE, value)?;
        }
        if let Some(value) = lookup(ENV_PORT) {
            let text = utf8(ENV_PORT, value, PORT_EXPECTED)?;
            let port = text.parse::<u16>().map_err(|_| ConfigError {
                variable: ENV_PORT,
                value: text.clone(),
                expected: PORT_EXPECTED,
                reason: None,
            })?;
            self.addr.set_port(port);
        }
        Ok(self)
    }
}

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
/// invalid IDLE_TIMEOUT="30 seconds": expected a duration such as "500ms", "30s", "1m30s" or "2h" (units h, m, s, ms; greater than zero); expected a number at byte 2
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
        ];
        for (variable, value) in cases {
            let error = with_env(&[(variable, value)]).unwrap_err();
            assert_eq!((error.variable(), error.value()), (variable, value));
            let line = error.to_string();
            assert!(line.starts_with(&format!("invalid {variable}=")), "{line}");
            assert!(!line.contains('\n'), "{line:?}");
        }
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
