//! What the server using a tracker serves with: its settings, for the
//! [`Status`](crate::Status), and the idle timeout in force (fixed, or
//! adaptive with its state file), for the watchdog.
//!
//! Read by status queries, the watchdog and the exit, never on the request
//! path. What the request path does for the adaptive timeout, noting an
//! idle gap when the count leaves zero and committing it when an activity
//! counts, is in `Tracker::begin` and its neighbours.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

#[cfg(test)]
use crate::adaptive::TimeoutInForce;
use crate::adaptive::TimeoutSource;
use crate::{Config, IdleMode};

use super::Tracker;

/// The settings of the server that uses a tracker, for
/// [`Status`](crate::Status).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Serving {
    pub(crate) started: Instant,
    pub(crate) mode: IdleMode,
}

impl Tracker {
    /// Records what a server serves with, and sets the timeout in force:
    /// fixed, or adaptive (reading the state file, if any).
    pub(crate) fn set_serving(&self, serving: Serving, config: &Config) {
        match &config.auto_timeout {
            Some(auto) => {
                let cost = auto.cold_start_cost;
                self.inner.timeout.set_auto(cost, config.state.clone());
                if let Some(path) = &config.state {
                    self.read_state(path.clone(), cost);
                }
            }
            None => self.inner.timeout.set_fixed(config.timeout),
        }
        *self.inner.serving.lock().unwrap_or_else(|e| e.into_inner()) = Some(serving);
    }

    /// Reads the state file on a thread of its own, so that no start waits
    /// on it and no serving thread blocks on the file system; the timeout
    /// is break-even until it has been read. The thread is detached: an
    /// exit never waits for it either.
    fn read_state(&self, path: PathBuf, cold_start_cost: Duration) {
        let started = SystemTime::now();
        let tracker = self.clone();
        let spawned = std::thread::Builder::new()
            .name("idle-state".to_owned())
            .spawn(move || {
                let read = crate::adaptive::read_state(&path, cold_start_cost);
                tracker.inner.timeout.state_read(read, started);
            });
        if let Err(error) = spawned {
            self.inner.timeout.state_read(
                Err(crate::adaptive::Unusable {
                    warning: format!(
                        "cannot start a thread to read the state file: {error}; \
                         starting with no history"
                    ),
                    leave_alone: true,
                }),
                started,
            );
        }
    }

    /// Waits (blocking, bounded) until the state file has been read.
    #[cfg(test)]
    pub(crate) fn wait_state_read(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.inner.timeout.is_reading_state() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
    }

    /// What the server using this tracker serves with, or `None` before it
    /// serves; for [`Status`](crate::Status).
    pub(crate) fn serving(&self) -> Option<Serving> {
        *self.inner.serving.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The idle timeout in force for the server using this tracker: the
    /// fixed one, or the one the adaptive timeout chose last.
    pub(crate) fn timeout_in_force(&self) -> Duration {
        self.inner.timeout.get()
    }

    #[cfg(test)]
    pub(crate) fn inner_timeout(&self) -> &TimeoutInForce {
        &self.inner.timeout
    }

    /// Where the timeout in force comes from.
    pub(crate) fn timeout_source(&self) -> TimeoutSource {
        self.inner.timeout.source()
    }

    /// Resolves when the timeout in force changes; see
    /// `TimeoutInForce::changed`.
    pub(crate) fn timeout_changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.timeout.changed()
    }

    /// At exit, with the adaptive timeout and a state file: saves what was
    /// learned and when the server went idle. A failure is one warning line.
    pub(crate) fn save_state(&self) {
        let state = self.state();
        let idle_since = (state.active == 0).then_some(state.last_end_ms);
        self.inner.timeout.save(
            idle_since,
            self.now_ms_floor(),
            std::time::SystemTime::now(),
        );
    }
}
