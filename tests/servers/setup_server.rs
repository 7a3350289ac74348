//! The server that `tests/process.rs` spawns for what happens in the setup
//! function, chosen by `IDLE_TEST_SETUP`:
//!
//! - `tracing`: installs a global `tracing` subscriber, as a user's setup
//!   does, which prints every event on stdout as
//!   `event LEVEL TARGET: MESSAGE`;
//! - `panic`: the setup function panics;
//! - unset: nothing special.
//!
//! It serves `GET /` → `hello`.

use std::fmt::Write as _;
use std::io::Write as _;

use axum::routing::get;
use axum::Router;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[idle_runtime::idle_server(timeout = "1s", grace = "1s", addr = "127.0.0.1:0")]
async fn main() -> Router {
    match std::env::var("IDLE_TEST_SETUP").as_deref() {
        Ok("tracing") => {
            tracing::subscriber::set_global_default(Lines).expect("no subscriber is installed yet")
        }
        Ok("panic") => panic!("setup panicked on purpose"),
        _ => {}
    }
    Router::new().route("/", get(|| async { "hello" }))
}

/// A subscriber that prints each event on one line of stdout: the smallest
/// one that shows what the runtime sends to a user's subscriber.
struct Lines;

impl Subscriber for Lines {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let metadata = event.metadata();
        let line = format!(
            "event {} {}: {}\n",
            metadata.level(),
            metadata.target(),
            message.0
        );
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The event's `message` field.
struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}
