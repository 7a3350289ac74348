#![doc = include_str!("../docs/crate.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod adaptive;
mod config;
mod layer;
mod listener;
mod log;
mod serve;
mod shutdown;
mod state;
mod status;
mod tracker;
mod watchdog;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use adaptive::TimeoutSource;
pub use config::{
    AddrParseError, AutoTimeout, Config, ConfigError, IdleMode, ListenAddr, ENV_GRACE, ENV_MODE,
    ENV_PORT, ENV_SOCKET_MODE, ENV_STATE, ENV_TIMEOUT,
};
/// Serves the router that the function returns until the server is idle,
/// then drains and exits.
///
/// Goes on `async fn main() -> axum::Router` or
/// `async fn main() -> Result<axum::Router, E>` (with `E: Display`, or
/// `Debug`), without `#[tokio::main]`: the attribute builds the runtime. See
/// [the attribute](crate#the-attribute) for the rules, and
/// [shutdown and exit codes](crate#shutdown-and-exit-codes) for what the
/// generated `main` returns.
///
/// Every key is optional and checked at compile time:
///
/// | key | value | default | see |
/// |---|---|---|---|
/// | `timeout` | a duration such as `"30s"`, or `"auto"` | `"30s"`; env `IDLE_TIMEOUT` | [what counts as activity](crate#what-counts-as-activity), [adaptive timeout](crate#adaptive-timeout) |
/// | `cold_start_cost` | with `"auto"` only: a duration from 1 s to 1 h | `"30s"` | [adaptive timeout](crate#adaptive-timeout) |
/// | `state` | with `"auto"`: an absolute path | none; env `IDLE_STATE` | [adaptive timeout](crate#adaptive-timeout) |
/// | `grace` | a duration: the longest drain | `"10s"`; env `IDLE_GRACE` | [shutdown and exit codes](crate#shutdown-and-exit-codes) |
/// | `addr` | `"ip:port"`, `"[ipv6]:port"` or `"unix:/absolute/path"` | `"0.0.0.0:8080"`; env `PORT` replaces the port | [socket activation](crate#socket-activation), [environment variables](crate#environment-variables) |
/// | `ignore` | an array of paths, each starting with `/` | `[]` | [what counts as activity](crate#what-counts-as-activity) |
/// | `ignore_header` | a header name, or an array of them | `[]` | [what counts as activity](crate#what-counts-as-activity) |
/// | `status` | a path such as `"/_idle"` | off | [lifecycle](crate#lifecycle-shutdown-hook-status-maximum-lifetime-websockets) |
/// | `max_lifetime` | a duration | never | [lifecycle](crate#lifecycle-shutdown-hook-status-maximum-lifetime-websockets) |
/// | `on_shutdown` | the path of an `async fn(ShutdownReason)` | none | [lifecycle](crate#lifecycle-shutdown-hook-status-maximum-lifetime-websockets) |
/// | `crate` | the path of the runtime crate, as a string | `"::idle_runtime"` | the last example below |
///
/// Durations are one or more `<integer><unit>` groups, units `h`, `m`, `s`,
/// `ms`, largest first, greater than zero: `"500ms"`, `"1m30s"`, `"2h"`.
///
/// # Examples
///
/// ```no_run
/// use axum::{routing::get, Router};
///
/// #[idle_runtime::idle_server(timeout = "5m", grace = "10s", ignore = ["/healthz"])]
/// async fn main() -> Router {
///     Router::new()
///         .route("/", get(|| async { "hello" }))
///         .route("/healthz", get(|| async { "ok" }))
/// }
/// ```
///
/// is, apart from error messages, the same program as
///
/// ```no_run
/// use std::process::ExitCode;
/// use std::time::Duration;
/// use axum::{routing::get, Router};
/// use idle_runtime::Config;
///
/// fn main() -> ExitCode {
///     let config = Config::default()
///         .with_timeout(Duration::from_secs(300))
///         .with_grace(Duration::from_secs(10))
///         .with_ignore(["/healthz"]);
///     let Ok(config) = config.apply_env() else { return ExitCode::from(2) };
///     let Ok(activated) = idle_runtime::take_activated_listener() else {
///         return ExitCode::from(1);
///     };
///     let runtime = tokio::runtime::Runtime::new().unwrap();
///     let code = runtime.block_on(async {
///         let app = Router::new()
///             .route("/", get(|| async { "hello" }))
///             .route("/healthz", get(|| async { "ok" }));
///         let Ok(listener) = idle_runtime::bind(&config, activated).await else {
///             return ExitCode::from(1);
///         };
///         match idle_runtime::serve(listener, app).with_config(&config).await {
///             Ok(_report) => ExitCode::SUCCESS,
///             Err(_) => ExitCode::from(1),
///         }
///     });
///     runtime.shutdown_background();
///     code
/// }
/// ```
///
/// A renamed or re-exported runtime crate is named with `crate`:
///
/// ```no_run
/// extern crate idle_runtime as idle;
///
/// #[idle::idle_server(crate = "idle", timeout = "1m")]
/// async fn main() -> axum::Router {
///     axum::Router::new()
/// }
/// ```
pub use idle_macros::idle_server;
pub use layer::{ActivityLayer, ActivityService, ResponseFuture, TrackedBody};
pub use listener::{bind, take_activated_listener, ActivatedListener, Listener};
pub use serve::{serve, Serve, ServeFuture};
pub use shutdown::{Drain, HookOutcome, ShutdownReason, ShutdownReport};
pub use status::Status;
pub use tracker::{tracker, ActivityGuard, Tracker};

/// What the error type of an `#[idle_server]` function must be: `Display`
/// (preferred) or `Debug`, so that a failed setup can be printed. Every
/// `Debug` type has it; the attribute's generated code asks for it only when
/// the error has no `Display`. Named here, at the crate root, because the
/// compiler names it when a type has neither.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the error type of an `#[idle_server]` function must implement `Display` or `Debug`; `{Self}` implements neither",
    label = "`{Self}` cannot be printed",
    note = "a failed setup prints its error (`Display`, else `Debug`) and exits 1: add `#[derive(Debug)]` to `{Self}`, or implement `std::fmt::Display` for it"
)]
pub trait SetupErrorDisplayOrDebug: std::fmt::Debug {}

impl<E: std::fmt::Debug + ?Sized> SetupErrorDisplayOrDebug for E {}

/// Keeps the server awake until the returned guard is dropped: a shortcut
/// for [`tracker()`]`.`[`keep_awake()`](Tracker::keep_awake).
///
/// Use it for work outside a request, such as a background job; move the guard into the task so that it is dropped however
/// the task ends.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let guard = idle_runtime::keep_awake();
/// tokio::spawn(async move {
///     let _guard = guard;
///     // ... work that must not be cut short by an idle shutdown ...
/// });
/// # }
/// ```
pub fn keep_awake() -> ActivityGuard {
    tracker().keep_awake()
}

/// A read-only snapshot of the process-wide [`tracker()`]: active count,
/// idle time, time until the idle deadline, requests served, uptime, mode.
///
/// Cheap enough to call from a handler or a background task.
///
/// ```
/// let status = idle_runtime::status();
/// assert_eq!(status.active, 0);
/// ```
pub fn status() -> Status {
    tracker().status()
}
