//! The environment overrides: [`Config::apply_env`], the variables it
//! reads, and the [`ConfigError`] it returns for a value it cannot use.

use std::borrow::Cow;
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::mode::{self, MODE_EXPECTED};
use super::{Config, IdleMode, ListenAddr};

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
/// The environment variable that sets [`Config::socket_mode`]: octal
/// permission bits such as `660`.
pub const ENV_SOCKET_MODE: &str = "IDLE_SOCKET_MODE";
/// Socket activation: the process the sockets are passed to.
const LISTEN_PID: &str = "LISTEN_PID";
/// Socket activation: how many sockets are passed, from descriptor 3 on.
const LISTEN_FDS: &str = "LISTEN_FDS";

impl Config {
    /// Applies the environment overrides `IDLE_TIMEOUT` (a duration, or
    /// `auto`), `IDLE_STATE`, `IDLE_GRACE`, `PORT`, `IDLE_SOCKET_MODE` and
    /// `IDLE_MODE` of this process; takes `$STATE_DIRECTORY/idle.state` as
    /// the state file when systemd sets `STATE_DIRECTORY` (a unit with
    /// `StateDirectory=`) and no state file is given; and detects the
    /// platform when
    /// `IDLE_MODE` is unset (see [`IdleMode`] and the crate docs, "Platforms").
    ///
    /// It also checks socket activation's variables as `sd_listen_fds(3)`
    /// reads them: `LISTEN_PID` unset or naming another process means no
    /// socket was passed to this one; `LISTEN_PID` naming this process with
    /// a `LISTEN_FDS` that is not a count of 1 or more is an error.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first variable that is set but invalid.
    ///
    /// # Examples
    ///
    /// ```
    /// use idle_runtime::Config;
    ///
    /// match Config::default().apply_env() {
    ///     Ok(config) => println!("idle timeout {:?}", config.timeout),
    ///     Err(error) => {
    ///         // invalid IDLE_TIMEOUT="30 seconds": expected a duration ...
    ///         eprintln!("{error}");
    ///         std::process::exit(2);
    ///     }
    /// }
    /// ```
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
        // In this order, so that the error names the first invalid variable.
        if let Some(value) = lookup(ENV_TIMEOUT) {
            self = self.apply_timeout(value)?;
        }
        if let Some(value) = lookup(ENV_STATE) {
            self.state = Some(parse_state(value)?);
        } else if self.state.is_none() {
            self.state = state_directory(&lookup);
        }
        if let Some(value) = lookup(ENV_GRACE) {
            self.grace = parse_duration(ENV_GRACE, value)?;
        }
        if let Some(value) = lookup(ENV_PORT) {
            self.set_port(parse_port(value)?);
        }
        if let Some(value) = lookup(ENV_SOCKET_MODE) {
            self.set_socket_mode(parse_socket_mode(value)?);
        }
        let activated = passed_sockets(&lookup)?.is_some();
        if let Some(value) = lookup(ENV_MODE) {
            self.mode = parse_mode(value)?;
            self.mode_reason = Cow::Borrowed("IDLE_MODE is set");
        } else if let Some((mode, reason)) = mode::detect(&lookup, activated) {
            self.mode = mode;
            self.mode_reason = Cow::Borrowed(reason);
        }
        Ok(self)
    }

    /// `IDLE_TIMEOUT`: a fixed timeout, or `auto`.
    fn apply_timeout(mut self, value: OsString) -> Result<Self, ConfigError> {
        let text = utf8(ENV_TIMEOUT, value, idle_duration::TIMEOUT_EXPECTED)?;
        match idle_duration::parse_timeout(&text) {
            Ok(idle_duration::Timeout::Fixed(timeout)) => Ok(self.with_timeout(timeout)),
            // Keep a cold-start cost given in code; else the default.
            Ok(idle_duration::Timeout::Auto) => {
                self.auto_timeout = Some(self.auto_timeout.unwrap_or_default());
                Ok(self)
            }
            Err(error) => Err(ConfigError {
                variable: ENV_TIMEOUT,
                value: text,
                expected: idle_duration::TIMEOUT_EXPECTED,
                reason: Some(error.to_string()),
            }),
        }
    }

    /// `PORT`: replaces the port of a TCP address.
    fn set_port(&mut self, port: u16) {
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
}

impl Config {
    /// `IDLE_SOCKET_MODE`: the mode of a Unix socket the server binds.
    fn set_socket_mode(&mut self, mode: u32) {
        match &self.addr {
            ListenAddr::Unix(_) => self.socket_mode = Some(mode),
            ListenAddr::Tcp(addr) => crate::log::warning(&format!(
                "IDLE_SOCKET_MODE={mode:o} is ignored: the server listens on TCP ({addr}), not a Unix socket"
            )),
        }
    }
}

/// How many sockets socket activation passed to this process, as
/// `sd_listen_fds(3)` decides: `None` unless `LISTEN_PID` is set to this
/// process's id and `LISTEN_FDS` is set; then `LISTEN_FDS` must be a count
/// of 1 or more. `LISTEN_PID` set but not a process id is an error too.
pub(crate) fn passed_sockets(
    lookup: &impl Fn(&str) -> Option<OsString>,
) -> Result<Option<u32>, ConfigError> {
    let Some(pid) = lookup(LISTEN_PID) else {
        return Ok(None);
    };
    let pid = utf8(LISTEN_PID, pid, PID_EXPECTED)?;
    match parse_decimal::<u32>(&pid) {
        Some(pid) if pid == std::process::id() => {}
        Some(pid) if pid > 0 => return Ok(None),
        _ => {
            return Err(ConfigError {
                variable: LISTEN_PID,
                value: pid,
                expected: PID_EXPECTED,
                reason: None,
            })
        }
    }
    let Some(count) = lookup(LISTEN_FDS) else {
        return Ok(None);
    };
    let count = utf8(LISTEN_FDS, count, FDS_EXPECTED)?;
    match parse_decimal::<u32>(&count) {
        Some(n) if n > 0 && n < i32::MAX as u32 - 3 => Ok(Some(n)),
        _ => Err(ConfigError {
            variable: LISTEN_FDS,
            value: count,
            expected: FDS_EXPECTED,
            reason: Some("LISTEN_PID names this process".to_owned()),
        }),
    }
}

/// A number written plainly: digits only, no sign, no spaces.
fn parse_decimal<T: std::str::FromStr>(text: &str) -> Option<T> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

const PID_EXPECTED: &str = "a process id (socket activation)";

const FDS_EXPECTED: &str = "the number of sockets passed by socket activation, 1 or more";

/// `IDLE_SOCKET_MODE`: octal permission bits, as chmod takes them.
fn parse_socket_mode(value: OsString) -> Result<u32, ConfigError> {
    let text = utf8(ENV_SOCKET_MODE, value, SOCKET_MODE_EXPECTED)?;
    let octal = (3..=4).contains(&text.len()) && text.bytes().all(|b| (b'0'..=b'7').contains(&b));
    match octal.then(|| u32::from_str_radix(&text, 8)) {
        Some(Ok(mode)) if mode <= 0o777 => Ok(mode),
        _ => Err(ConfigError {
            variable: ENV_SOCKET_MODE,
            value: text,
            expected: SOCKET_MODE_EXPECTED,
            reason: None,
        }),
    }
}

const SOCKET_MODE_EXPECTED: &str =
    "octal permission bits such as \"660\" or \"0666\" (at most 777)";

/// `IDLE_STATE`: an absolute path.
fn parse_state(value: OsString) -> Result<PathBuf, ConfigError> {
    let path = PathBuf::from(value);
    if !path.is_absolute() {
        return Err(ConfigError {
            variable: ENV_STATE,
            value: path.to_string_lossy().into_owned(),
            expected: STATE_EXPECTED,
            reason: None,
        });
    }
    Ok(path)
}

/// The environment variable systemd sets for a unit with `StateDirectory=`:
/// the default place of the adaptive timeout's state file.
const ENV_STATE_DIRECTORY: &str = "STATE_DIRECTORY";

/// The state file's name in `$STATE_DIRECTORY`.
const STATE_FILE_NAME: &str = "idle.state";

/// `$STATE_DIRECTORY/idle.state`, under systemd with `StateDirectory=`
/// (the first directory, if it lists several); `None` without it, or if it
/// is not an absolute path.
fn state_directory(lookup: &impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let value = lookup(ENV_STATE_DIRECTORY)?;
    let first = std::env::split_paths(&value).next()?;
    first.is_absolute().then(|| first.join(STATE_FILE_NAME))
}

/// `PORT`: a port number, written plainly.
fn parse_port(value: OsString) -> Result<u16, ConfigError> {
    let text = utf8(ENV_PORT, value, PORT_EXPECTED)?;
    // Digits only, without a sign or leading zeros: `+8080` and
    // `08080` are more likely mistakes than ports.
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical
        .then(|| text.parse::<u16>().ok())
        .flatten()
        .ok_or_else(|| ConfigError {
            variable: ENV_PORT,
            value: text.clone(),
            expected: PORT_EXPECTED,
            reason: None,
        })
}

/// `IDLE_MODE`: `exit` or `drain-only`.
fn parse_mode(value: OsString) -> Result<IdleMode, ConfigError> {
    let text = utf8(ENV_MODE, value, MODE_EXPECTED)?;
    match mode::from_name(&text) {
        Some(mode) => Ok(mode),
        None => Err(ConfigError {
            variable: ENV_MODE,
            value: text,
            expected: MODE_EXPECTED,
            reason: None,
        }),
    }
}

const STATE_EXPECTED: &str = "an absolute file path such as \"/var/lib/app/idle.state\"";

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
    use crate::AutoTimeout;

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
    fn systemd_state_directory_is_the_default_state_path() {
        let config = with_env(&[
            ("IDLE_TIMEOUT", "auto"),
            ("STATE_DIRECTORY", "/var/lib/app"),
        ])
        .unwrap();
        assert_eq!(config.state, Some(PathBuf::from("/var/lib/app/idle.state")));
        let first = with_env(&[("STATE_DIRECTORY", "/var/lib/a:/var/lib/b")]).unwrap();
        assert_eq!(first.state, Some(PathBuf::from("/var/lib/a/idle.state")));
        // IDLE_STATE, or a path given in code, wins; a relative one is no default.
        let explicit = with_env(&[
            ("IDLE_STATE", "/srv/idle.state"),
            ("STATE_DIRECTORY", "/var/lib/app"),
        ])
        .unwrap();
        assert_eq!(explicit.state, Some(PathBuf::from("/srv/idle.state")));
        let coded = Config::default()
            .with_state("/srv/coded.state")
            .apply_env_from(|name| (name == "STATE_DIRECTORY").then(|| "/var/lib/app".into()))
            .unwrap();
        assert_eq!(coded.state, Some(PathBuf::from("/srv/coded.state")));
        assert_eq!(with_env(&[("STATE_DIRECTORY", "app")]).unwrap().state, None);
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
                // No LISTEN_PID: not for this process, as sd_listen_fds says.
                &[("LISTEN_FDS", "1")],
                IdleMode::Exit,
                "default",
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
        assert_eq!(
            config.mode_reason(),
            "socket activation: LISTEN_PID and LISTEN_FDS are set"
        );
        let error = with_env(&[("IDLE_MODE", "off")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid IDLE_MODE=\"off\": expected `exit` or `drain-only`"
        );
    }

    /// `sd_listen_fds(3)`: sockets for another process, or for no process
    /// named, are not ours; a malformed count for this process is an error.
    #[test]
    fn socket_activation_follows_sd_listen_fds() {
        let ours = std::process::id().to_string();
        let other = (std::process::id() + 1).to_string();
        let passed = |vars: &[(&str, &str)]| {
            passed_sockets(&|name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| OsString::from(v))
            })
        };
        assert_eq!(passed(&[]), Ok(None));
        assert_eq!(passed(&[("LISTEN_FDS", "garbage")]), Ok(None));
        assert_eq!(
            passed(&[("LISTEN_FDS", "2"), ("LISTEN_PID", &other)]),
            Ok(None)
        );
        assert_eq!(
            passed(&[("LISTEN_FDS", "x"), ("LISTEN_PID", &other)]),
            Ok(None)
        );
        assert_eq!(passed(&[("LISTEN_PID", &ours)]), Ok(None));
        assert_eq!(
            passed(&[("LISTEN_FDS", "2"), ("LISTEN_PID", &ours)]),
            Ok(Some(2))
        );
        for bad in ["garbage", "", "0", "-1", "+1", " 1", "99999999999"] {
            let error = passed(&[("LISTEN_FDS", bad), ("LISTEN_PID", &ours)]).unwrap_err();
            assert_eq!(error.variable(), "LISTEN_FDS", "{bad:?}");
        }
        let error = passed(&[("LISTEN_FDS", "1"), ("LISTEN_PID", "me")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid LISTEN_PID=\"me\": expected a process id (socket activation)"
        );
        // And apply_env reports it, so the attribute's main exits 2.
        let error = with_env(&[("LISTEN_FDS", "garbage"), ("LISTEN_PID", &ours)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid LISTEN_FDS=\"garbage\": expected the number of sockets passed by socket activation, 1 or more; LISTEN_PID names this process"
        );
    }

    #[test]
    fn socket_mode_is_octal_and_for_unix_sockets_only() {
        let unix = |value: &str| {
            Config::default()
                .with_addr("unix:/run/app.sock".parse::<ListenAddr>().unwrap())
                .apply_env_from(|name| (name == "IDLE_SOCKET_MODE").then(|| OsString::from(value)))
        };
        assert_eq!(unix("660").unwrap().socket_mode, Some(0o660));
        assert_eq!(unix("0666").unwrap().socket_mode, Some(0o666));
        for bad in ["", "66", "rw-rw----", "0o660", "888", "1777", "u+rw"] {
            let error = unix(bad).unwrap_err();
            assert_eq!(error.variable(), "IDLE_SOCKET_MODE", "{bad:?}");
        }
        // TCP: a warning line, not an error.
        let tcp = with_env(&[("IDLE_SOCKET_MODE", "660")]).unwrap();
        assert_eq!(tcp.socket_mode, None);
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
