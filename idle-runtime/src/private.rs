//! Support for the code `#[idle_server]` generates. Not a public API: names
//! here may change in any release.

use std::fmt::Display;
use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::Duration;

pub use ::axum;
pub use ::tokio;

use crate::shutdown::Signals;
pub use crate::ListenAddr;
use crate::{log, ActivatedListener, Config};

/// The attribute's values, checked at compile time.
#[allow(missing_debug_implementations)]
pub struct MacroConfig {
    pub timeout_ms: u64,
    /// `timeout = "auto"`: the cold-start cost, checked to lie in 1 s to 1 h.
    pub auto_cold_start_cost_ms: Option<u64>,
    /// The adaptive timeout's state file, an absolute path.
    pub state: Option<&'static str>,
    pub grace_ms: u64,
    pub addr: ListenAddr,
    pub ignore: &'static [&'static str],
    /// Lowercase header names, checked at compile time.
    pub ignore_headers: &'static [&'static str],
    pub max_lifetime_ms: Option<u64>,
    /// Path of the status route, starting with `/`.
    pub status: Option<&'static str>,
    pub on_shutdown: Option<crate::serve::Hook>,
}

/// Boxes the `on_shutdown` function; the bound is the check of its
/// signature, reported on the user's path.
pub fn shutdown_hook<H: ShutdownHook>(hook: H) -> crate::serve::Hook {
    hook.boxed()
}

/// What `on_shutdown` may name: an `async fn(ShutdownReason)`.
#[diagnostic::on_unimplemented(
    message = "`on_shutdown` must name an `async fn(idle_runtime::ShutdownReason)` whose future is `Send`, not `{Self}`",
    label = "expected `async fn(ShutdownReason)`"
)]
pub trait ShutdownHook {
    fn boxed(self) -> crate::serve::Hook;
}

impl<H, F> ShutdownHook for H
where
    H: FnOnce(crate::ShutdownReason) -> F + Send + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    fn boxed(self) -> crate::serve::Hook {
        Box::new(move |reason| Box::pin(self(reason)))
    }
}

/// Exit code after a shutdown on purpose (idle or signal).
const EXIT_STOPPED: u8 = 0;
/// Exit code when setup fails: the user's function returned `Err`, the
/// address cannot be bound, the runtime cannot start.
const EXIT_SETUP: u8 = 1;
/// Exit code when the configuration (an environment override) is invalid.
const EXIT_CONFIG: u8 = 2;

/// The body of the generated `main`: configuration, runtime, setup, bind,
/// serve, drain, exit code. `setup` is the user's function, its error already
/// turned into a message.
pub fn run<F>(macro_config: MacroConfig, setup: F) -> ExitCode
where
    F: Future<Output = Result<axum::Router, String>>,
{
    let (config, options) = macro_config.into_parts();
    // Environment first, before anything runs or is bound.
    let config = match config.apply_env() {
        Ok(config) => config,
        Err(error) => return fail(EXIT_CONFIG, &error),
    };
    // Before the runtime starts threads: this edits the environment.
    let activated = match crate::take_activated_listener() {
        Ok(activated) => activated,
        Err(error) => return fail(EXIT_SETUP, &error),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            return fail(
                EXIT_SETUP,
                &format_args!("cannot start the tokio runtime: {error}"),
            )
        }
    };
    let code = runtime.block_on(setup_and_serve(config, options, activated, setup));
    // Abandoned requests and tasks are dropped, not waited for.
    runtime.shutdown_background();
    code
}

/// What the attribute sets beyond [`Config`]: options of the serve builder.
struct ServeOptions {
    status: Option<&'static str>,
    on_shutdown: Option<crate::serve::Hook>,
}

impl MacroConfig {
    /// The [`Config`] the attribute describes, before the environment, and
    /// the serve builder's options.
    fn into_parts(self) -> (Config, ServeOptions) {
        let MacroConfig {
            timeout_ms,
            auto_cold_start_cost_ms,
            state,
            grace_ms,
            addr,
            ignore,
            ignore_headers,
            max_lifetime_ms,
            status,
            on_shutdown,
        } = self;
        let mut config = Config::default()
            .with_timeout(Duration::from_millis(timeout_ms))
            .with_grace(Duration::from_millis(grace_ms))
            .with_addr(addr)
            .with_ignore(ignore.iter().copied())
            .with_ignore_headers(
                ignore_headers
                    .iter()
                    .filter_map(|name| http::HeaderName::from_bytes(name.as_bytes()).ok()),
            );
        if let Some(millis) = max_lifetime_ms {
            config = config.with_max_lifetime(Duration::from_millis(millis));
        }
        if let Some(millis) = auto_cold_start_cost_ms {
            config = config.with_auto_timeout(Duration::from_millis(millis));
        }
        if let Some(path) = state {
            config = config.with_state(path);
        }
        (
            config,
            ServeOptions {
                status,
                on_shutdown,
            },
        )
    }
}

/// Inside the runtime: signals, the user's setup, bind, serve and drain.
async fn setup_and_serve<F>(
    config: Config,
    options: ServeOptions,
    activated: Option<ActivatedListener>,
    setup: F,
) -> ExitCode
where
    F: Future<Output = Result<axum::Router, String>>,
{
    // Registered before setup so that a signal during setup is neither
    // lost nor fatal by default disposition halfway through.
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(error) => {
            return fail(
                EXIT_SETUP,
                &format_args!("cannot install signal handlers: {error}"),
            )
        }
    };
    let router = match setup_unless_stopped(&mut signals, setup).await {
        Ok(router) => router,
        Err(code) => return code,
    };
    serve_router(config, options, activated, signals, router).await
}

/// Bind, serve and drain: the part of the generated `main` that does not
/// depend on the user's setup future.
///
/// Not generic, and boxed, on purpose: the whole server (hyper's
/// connections, the tracked body and socket) is then compiled once, here in
/// idle-runtime, rather than in each user's binary. (`setup_and_serve` is
/// generic over the user's setup, so it is compiled in the user's crate, and
/// so would be every generic function it awaits and the body of any `async
/// fn` it awaits; a boxed future's body is compiled where it is boxed.) Its
/// cost then does not depend on the code around it: rustc cuts a crate's
/// codegen units by size, and what lands in one unit is what LLVM inlines.
fn serve_router(
    config: Config,
    options: ServeOptions,
    activated: Option<ActivatedListener>,
    signals: Signals,
    router: axum::Router,
) -> Pin<Box<dyn Future<Output = ExitCode> + Send>> {
    Box::pin(async move {
        let is_activated = activated.is_some();
        let listener = match crate::bind(&config, activated).await {
            Ok(listener) => listener,
            Err(error) => return fail(EXIT_SETUP, &error),
        };
        let mut serve = crate::serve(listener, router)
            .with_config(&config)
            .with_signals(signals, is_activated);
        if let Some(path) = options.status {
            serve = serve.with_status_route(path);
        }
        if let Some(hook) = options.on_shutdown {
            serve = serve.with_boxed_hook(hook);
        }
        match serve.await {
            Ok(_report) => ExitCode::from(EXIT_STOPPED),
            Err(error) => fail(EXIT_SETUP, &error),
        }
    })
}

/// The user's setup, unless SIGTERM or SIGINT comes first: then the server
/// stops on purpose before it has started, and the error is the exit code.
async fn setup_unless_stopped<F>(signals: &mut Signals, setup: F) -> Result<axum::Router, ExitCode>
where
    F: Future<Output = Result<axum::Router, String>>,
{
    tokio::select! {
        biased;
        reason = signals.recv() => {
            log::stopped_during_setup(reason);
            Err(ExitCode::from(EXIT_STOPPED))
        }
        result = setup => result.map_err(|message| {
            fail(EXIT_SETUP, &format_args!("setup failed: {message}"))
        }),
    }
}

fn fail(code: u8, error: &dyn Display) -> ExitCode {
    log::fatal(&error.to_string());
    ExitCode::from(code)
}

/// What an `#[idle_server]` function may return.
#[diagnostic::on_unimplemented(
    message = "`#[idle_server]` functions must return `axum::Router` or `Result<axum::Router, E>`, not `{Self}`",
    label = "expected `Router` or `Result<Router, E>`",
    note = "the router must come from the same axum version as idle-runtime's (0.8)"
)]
pub trait SetupOutput {
    type Error;
    fn into_setup_result(self) -> Result<axum::Router, Self::Error>;
}

impl SetupOutput for axum::Router {
    type Error = std::convert::Infallible;
    fn into_setup_result(self) -> Result<axum::Router, Self::Error> {
        Ok(self)
    }
}

impl<E> SetupOutput for Result<axum::Router, E> {
    type Error = E;
    fn into_setup_result(self) -> Result<axum::Router, E> {
        self
    }
}

/// Describes a setup error with `Display` if it has it, else `Debug`, by
/// autoref specialisation: `(&SetupError(&e)).via()` picks [`ViaDisplay`]
/// when `E: Display` and [`ViaDebug`] otherwise, and the tag it returns
/// describes the error. [`ViaDebug`] applies to every type, so that a type
/// with neither is reported when [`DebugTag::describe`] takes it as a
/// [`crate::SetupErrorDisplayOrDebug`]: that trait's message, on the user's
/// type.
pub struct SetupError<'a, E>(pub &'a E);

pub trait ViaDisplay {
    fn via(&self) -> DisplayTag {
        DisplayTag
    }
}

impl<E: Display> ViaDisplay for SetupError<'_, E> {}

pub trait ViaDebug {
    fn via(&self) -> DebugTag {
        DebugTag
    }
}

impl<E> ViaDebug for &SetupError<'_, E> {}

pub struct DisplayTag;

impl DisplayTag {
    pub fn describe(self, error: &dyn Display) -> String {
        // `{:#}` shows the whole cause chain of anyhow and eyre errors on
        // one line; other types ignore the flag.
        format!("{error:#}")
    }
}

pub struct DebugTag;

impl DebugTag {
    // A trait object rather than a bound, so that the compiler's message
    // names only the trait (a bound would add "required by a bound in" this
    // private function).
    pub fn describe(self, error: &dyn crate::SetupErrorDisplayOrDebug) -> String {
        format!("{error:?}")
    }
}
