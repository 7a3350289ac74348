#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod config;
mod layer;
mod listener;
mod log;
mod serve;
mod shutdown;
mod tracker;
pub mod watchdog;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use config::{Config, ConfigError, ENV_GRACE, ENV_PORT, ENV_TIMEOUT};
pub use idle_macros::idle_server;
pub use layer::{ActivityLayer, ActivityService, ResponseFuture, TrackedBody};
pub use listener::{bind, take_activated_listener};
pub use serve::{serve, Serve, ServeFuture};
pub use shutdown::{Drain, ShutdownReason, ShutdownReport};
pub use tracker::{tracker, ActivityGuard, Tracker};

/// Keeps the server awake until the returned guard is dropped: a shortcut
/// for [`tracker()`]`.`[`keep_awake()`](Tracker::keep_awake).
///
/// Use it for work outside a request, such as a WebSocket task or a
/// background job; move the guard into the task so that it is dropped however
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
