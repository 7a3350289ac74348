//! Introspection: a read-only snapshot of the tracker, and the opt-in route
//! that serves it as JSON.
//!
//! [`Tracker::status`] is defined here, not in `tracker/mod.rs`: the snapshot
//! reads the tracker, and the tracker knows nothing of [`Status`].

use std::time::Duration;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::adaptive::TimeoutSource;
use crate::tracker::Serving;
use crate::{IdleMode, Tracker};

/// A snapshot of a server's activity, from [`Tracker::status`] or
/// [`status()`](crate::status()).
///
/// Nothing in it can change the server: it is a copy.
///
/// # Examples
///
/// A handler that reports how long the server has left:
///
/// ```
/// use axum::{routing::get, Router};
///
/// async fn left() -> String {
///     let status = idle_runtime::status();
///     match status.until_idle {
///         Some(left) => format!("idle shutdown in {left:?}"),
///         None => format!("{} activities running", status.active),
///     }
/// }
///
/// let app: Router = Router::new().route("/left", get(left));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Activities running now (requests, unanswered connections, responses
    /// waiting for a slow client, upgraded connections, guards).
    pub active: u64,
    /// How long nothing has been running, or `None` while something runs.
    pub idle_for: Option<Duration>,
    /// Time left before the idle shutdown if nothing happens, or `None`
    /// while something runs, in drain-only mode, or before serving starts.
    pub until_idle: Option<Duration>,
    /// Requests that counted as activity and have ended.
    pub requests: u64,
    /// Time since the server started serving, or `None` before it has.
    pub uptime: Option<Duration>,
    /// The server's idle mode, or `None` before it has started serving.
    pub mode: Option<IdleMode>,
    /// Whether the shutdown has started.
    pub shutting_down: bool,
    /// The idle timeout in force, or `None` before serving starts. With
    /// `timeout = "auto"` it changes as idle gaps are learned.
    pub timeout: Option<Duration>,
    /// Where [`timeout`](Status::timeout) comes from (`fixed`,
    /// `auto: break-even`, `auto: learned from N gaps`), or `None` before
    /// serving starts.
    pub timeout_source: Option<TimeoutSource>,
}

impl Status {
    /// The snapshot as a JSON object, durations in milliseconds:
    /// `{"active":0,"idle_for_ms":1200,"until_idle_ms":28800,"requests":7,"uptime_ms":60000,"mode":"exit","shutting_down":false,"timeout_ms":30000,"timeout_source":"fixed"}`.
    pub fn to_json(&self) -> String {
        fn millis(duration: Option<Duration>) -> String {
            duration.map_or_else(|| "null".to_owned(), |d| d.as_millis().to_string())
        }
        fn string(value: Option<impl std::fmt::Display>) -> String {
            // Every value shown is plain ASCII without quotes or escapes.
            value.map_or_else(|| "null".to_owned(), |value| format!("\"{value}\""))
        }
        format!(
            "{{\"active\":{},\"idle_for_ms\":{},\"until_idle_ms\":{},\"requests\":{},\"uptime_ms\":{},\"mode\":{},\"shutting_down\":{},\"timeout_ms\":{},\"timeout_source\":{}}}",
            self.active,
            millis(self.idle_for),
            millis(self.until_idle),
            self.requests,
            millis(self.uptime),
            string(self.mode),
            self.shutting_down,
            millis(self.timeout),
            string(self.timeout_source),
        )
    }
}

impl Tracker {
    /// A snapshot of the activity and of the idle deadline; cheap (one
    /// atomic load and an uncontended lock on the server settings) and
    /// read-only.
    pub fn status(&self) -> Status {
        let state = self.state();
        let now = Instant::now();
        let serving = self.serving();
        let idle_for = (state.active == 0)
            .then(|| now.saturating_duration_since(self.instant_at(state.last_end_ms)));
        let timeout = serving.map(|_| self.timeout_in_force());
        let until_idle = match (serving, timeout, idle_for) {
            (
                Some(Serving {
                    mode: IdleMode::Exit,
                    ..
                }),
                Some(timeout),
                Some(idle_for),
            ) => Some(timeout.saturating_sub(idle_for)),
            _ => None,
        };
        Status {
            active: state.active,
            idle_for,
            until_idle,
            requests: self.requests(),
            uptime: serving.map(|s| now.saturating_duration_since(s.started)),
            mode: serving.map(|s| s.mode),
            shutting_down: self.is_shutting_down(),
            timeout,
            timeout_source: serving.map(|_| self.timeout_source()),
        }
    }
}

/// The handler of the status route: the tracker's [`Status`] as JSON.
pub(crate) fn route_handler(tracker: Tracker) -> impl Fn() -> std::future::Ready<Response> + Clone {
    move || {
        let body = tracker.status().to_json();
        std::future::ready(
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    #[test]
    fn json_has_every_field_and_nulls() {
        let status = Status {
            active: 2,
            idle_for: None,
            until_idle: None,
            requests: 9,
            uptime: Some(Duration::from_millis(1500)),
            mode: Some(IdleMode::DrainOnly),
            shutting_down: false,
            timeout: Some(Duration::from_millis(5218)),
            timeout_source: Some(TimeoutSource::Learned { gaps: 12 }),
        };
        assert_eq!(
            status.to_json(),
            r#"{"active":2,"idle_for_ms":null,"until_idle_ms":null,"requests":9,"uptime_ms":1500,"mode":"drain-only","shutting_down":false,"timeout_ms":5218,"timeout_source":"auto: learned from 12 gaps"}"#
        );
        let before = Status {
            mode: None,
            timeout: None,
            timeout_source: None,
            ..status
        };
        assert!(before
            .to_json()
            .ends_with(r#""timeout_ms":null,"timeout_source":null}"#));
    }

    #[tokio::test(start_paused = true)]
    async fn status_reports_activity_and_the_deadline() {
        let tracker = Tracker::new();
        let status = tracker.status();
        assert_eq!((status.active, status.mode, status.uptime), (0, None, None));
        tracker.set_serving(
            Serving {
                started: Instant::now(),
                mode: IdleMode::Exit,
            },
            &Config::default(),
        );
        tokio::time::advance(Duration::from_secs(10)).await;
        let status = tracker.status();
        assert_eq!(status.idle_for, Some(Duration::from_secs(10)));
        assert_eq!(status.until_idle, Some(Duration::from_secs(20)));
        assert_eq!(status.uptime, Some(Duration::from_secs(10)));
        let guard = tracker.begin_request();
        let status = tracker.status();
        assert_eq!(
            (
                status.active,
                status.requests,
                status.idle_for,
                status.until_idle
            ),
            (1, 0, None, None)
        );
        drop(guard);
        assert_eq!(tracker.status().until_idle, Some(Duration::from_secs(30)));
        assert!(!tracker.status().shutting_down);
        tracker.mark_shutdown();
        assert!(tracker.status().shutting_down);
        tracker.shutdown_started().await;
    }
}
