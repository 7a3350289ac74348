//! The same server without the attribute: the pieces `#[idle_server]` uses
//! are public, for a `main` you write yourself.
//!
//! Run with
//!
//! ```text
//! cargo run --example manual
//! curl http://127.0.0.1:8080/
//! ```
//!
//! It exits 5 s after the last request, or on Ctrl-C / SIGTERM, and prints
//! what the [`ShutdownReport`](idle_runtime::ShutdownReport) says.

use std::process::ExitCode;
use std::time::Duration;

use axum::{routing::get, Router};
use idle_runtime::Config;

#[tokio::main]
async fn main() -> ExitCode {
    // The attribute's keys, then the environment (IDLE_TIMEOUT, IDLE_GRACE,
    // PORT) on top, as the attribute does.
    let config = Config::default()
        .with_timeout(Duration::from_secs(5))
        .with_addr(([127, 0, 0, 1], 8080))
        .with_ignore(["/healthz"]);
    let config = match config.apply_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("manual: {error}");
            return ExitCode::from(2);
        }
    };

    let app = Router::new()
        .route("/", get(|| async { "hello without the macro\n" }))
        .route("/healthz", get(|| async { "ok\n" }));

    // `bind` uses the socket passed by socket activation if there is one.
    // (The attribute takes it before starting the runtime; here the runtime
    // is already up, which is fine as long as nothing else reads the
    // environment concurrently.)
    let activated = match idle_runtime::take_activated_listener() {
        Ok(activated) => activated,
        Err(error) => {
            eprintln!("manual: {error}");
            return ExitCode::from(1);
        }
    };
    let listener = match idle_runtime::bind(&config, activated).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("manual: {error}");
            return ExitCode::from(1);
        }
    };

    match idle_runtime::serve(listener, app)
        .with_config(&config)
        .await
    {
        Ok(report) => {
            eprintln!(
                "manual: stopped ({}) after {:?}, {} requests, {} abandoned",
                report.reason,
                report.uptime,
                report.requests,
                report.abandoned()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("manual: {error}");
            ExitCode::from(1)
        }
    }
}
