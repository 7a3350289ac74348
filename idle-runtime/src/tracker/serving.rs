//! What the server using a tracker serves with: its settings, for the
//! [`Status`](crate::Status), and the idle timeout in force (fixed, or
//! adaptive with its state file), for the watchdog.
//!
//! Read by status queries, the watchdog and the exit, never on the request
//! path. The one thing the request path does for the adaptive timeout,
//! recording an idle gap when the count leaves zero, is in `Tracker::begin`.

use std::time::Duration;

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
            Some(auto) => self
                .inner
                .timeout
                .set_auto(auto.cold_start_cost, config.state.clone()),
            None => self.inner.timeout.set_fixed(config.timeout),
        }
        *self.inner.serving.lock().unwrap_or_else(|e| e.into_inner()) = Some(serving);
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
