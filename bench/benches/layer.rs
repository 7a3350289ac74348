//! The per-request cost of the activity layer, in process, and the cost of a
//! keep-awake guard.
//!
//! ```text
//! cargo bench -p idle-bench --bench layer
//! ```
//!
//! Each request (`GET /` with the three headers curl sends) goes through
//! `tower::ServiceExt::oneshot` on a trivial axum handler and its body is
//! collected, with and without the
//! [`ActivityLayer`], on a current-thread tokio runtime (no network). Two ways
//! of adding the layer are measured, as a user of `axum::serve` may write
//! them: around the whole router, and with `Router::layer` (axum then boxes
//! the wrapped body). Every router is finalized with `with_state(())`, as
//! `axum::serve` does, so that routing costs the same in each.
//!
//! `idle_runtime::serve` and `#[idle_server]` do not go through this layer:
//! they call the router from a per-connection service that does the same
//! accounting and the connection's (`serve/connection/service.rs`). That
//! path is measured end to end, against bare `axum::serve`, by the
//! instructions per request of `bash bench/run.sh`.
//!
//! After criterion's own report a summary prints ns/request for each variant
//! and the ratio to the router without the layer, from interleaved rounds so
//! that drift hits every variant alike.

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response};
use axum::routing::get;
use axum::Router;
use criterion::{criterion_group, Criterion};
use http_body_util::BodyExt;
use idle_runtime::{ActivityLayer, Tracker};
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};

fn router() -> Router {
    Router::new().route("/", get(|| async { "hello" }))
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Sends `iterations` requests through clones of `service`, one at a time,
/// collecting each body, and returns the time taken.
fn requests<S, B>(runtime: &Runtime, service: &S, iterations: u64) -> Duration
where
    S: Service<Request<Body>, Response = Response<B>, Error = Infallible> + Clone,
    B: axum::body::HttpBody,
    B::Error: std::fmt::Debug,
{
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iterations {
            let request = Request::get("/")
                .header("host", "127.0.0.1:8080")
                .header("user-agent", "curl/8.14.1")
                .header("accept", "*/*")
                .body(Body::empty())
                .unwrap();
            let response = service.clone().oneshot(black_box(request)).await.unwrap();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            black_box(body);
        }
        start.elapsed()
    })
}

/// The variants measured, as (name, function that times N requests).
type Variant = (&'static str, Box<dyn Fn(u64) -> Duration>);

fn variants() -> Vec<Variant> {
    let bare = router().with_state::<()>(());
    let wrapped = ActivityLayer::new(Tracker::new()).layer(router().with_state::<()>(()));
    let routed = router()
        .layer(ActivityLayer::new(Tracker::new()))
        .with_state::<()>(());
    let guards = Tracker::new();
    let runtime = std::rc::Rc::new(runtime());
    let (r1, r2, r3) = (runtime.clone(), runtime.clone(), runtime);
    vec![
        (
            "request/bare router",
            Box::new(move |n| requests(&r1, &bare, n)),
        ),
        (
            "request/ActivityLayer around the router",
            Box::new(move |n| requests(&r2, &wrapped, n)),
        ),
        (
            "request/Router::layer(ActivityLayer)",
            Box::new(move |n| requests(&r3, &routed, n)),
        ),
        (
            "guard/keep_awake + drop",
            Box::new(move |n| {
                let start = Instant::now();
                for _ in 0..n {
                    drop(black_box(guards.keep_awake()));
                }
                start.elapsed()
            }),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    for (name, run) in variants() {
        c.bench_function(name, |b| b.iter_custom(&run));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}

/// Interleaved rounds of every variant; prints the median ns per operation
/// and the ratio of each request variant to the bare router.
fn summary() {
    const ROUNDS: usize = 15;
    const BATCH: u64 = 20_000;
    let variants = variants();
    let mut samples = vec![Vec::with_capacity(ROUNDS); variants.len()];
    for (_, run) in &variants {
        run(BATCH / 4); // warm up
    }
    for _ in 0..ROUNDS {
        for ((_, run), samples) in variants.iter().zip(&mut samples) {
            samples.push(run(BATCH).as_nanos() as f64 / BATCH as f64);
        }
    }
    let medians: Vec<f64> = samples
        .iter_mut()
        .map(|samples| {
            samples.sort_by(f64::total_cmp);
            samples[samples.len() / 2]
        })
        .collect();
    let bare = medians[0];
    println!();
    println!("summary: median of {ROUNDS} interleaved rounds of {BATCH} operations");
    for ((name, _), median) in variants.iter().zip(&medians) {
        if name.starts_with("request/") {
            println!(
                "  {name:<68} {median:>8.1} ns/request  ratio {:.3}  (+{:.1} ns)",
                median / bare,
                median - bare
            );
        } else {
            println!("  {name:<68} {median:>8.1} ns/guard");
        }
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo test --benches` and `cargo bench -- --list` run the binary in
    // test or list mode: skip the timed summary there.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|arg| arg == "--test" || arg == "--list") {
        summary();
    }
}
