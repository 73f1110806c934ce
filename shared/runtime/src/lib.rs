//! One runtime for every twincloud function and every platform: the same binary is a Lambda
//! when `AWS_LAMBDA_RUNTIME_API` is set, a CloudEvents HTTP server when `PORT` is set, and a
//! one-shot run from the command line otherwise.

pub mod access;
pub mod audit;
pub mod clouds;
pub mod effects;
pub mod error;
pub mod executor;
pub mod function;
pub mod http;
mod interrupt;
pub mod invocation;
pub mod invoke;
pub mod lambda;
pub mod lease;
pub mod logging;
pub mod outcome;
pub mod overview;
pub mod push_auth;
pub mod registry;
pub mod rehearsal;
pub mod report;
pub mod services;
pub mod stdout;
pub mod stores;

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

pub use access::Access;
pub use effects::{Acted, Effect, Effects};
pub use error::RunError;
pub use function::{Function, Invocation};
pub use invoke::{Invoker, Report};
pub use outcome::{ActionReport, Execution, Outcome};
pub use registry::{FunctionSpec, Trigger};
pub use services::{Clouds, Services, Wiring, load_config};

/// Builds the invoker for `function` from `TWINCLOUD_CONFIG` (or the local default), with
/// every adapter group ([`Wiring::ALL`]).
pub async fn invoker_from_env(
    function: Box<dyn Function>,
    config: Option<&str>,
    dry_run: bool,
) -> Result<Invoker, RunError> {
    invoker_wired::<{ Wiring::ALL.bits() }>(function, config, dry_run).await
}

/// An invoker of `spec`'s function on `config`, with the adapters its own binary builds (chosen
/// while running: tests and the CLI).
pub async fn invoker_for(
    spec: &FunctionSpec,
    config: twincloud_core::Config,
    clouds: &Clouds,
    dry_run: bool,
) -> Result<Invoker, RunError> {
    let services = Services::build_for(spec.wiring, config, clouds).await?;
    Ok(Invoker::new(spec.build(), services, dry_run))
}

/// [`invoker_from_env`] with only the adapter groups in `WIRING`.
async fn invoker_wired<const WIRING: u8>(
    function: Box<dyn Function>,
    config: Option<&str>,
    dry_run: bool,
) -> Result<Invoker, RunError> {
    let clouds = Clouds::default();
    let cfg = load_config(config, &clouds).await?;
    let services = Services::build_wired::<WIRING>(cfg, &clouds).await?;
    Ok(Invoker::new(function, services, dry_run))
}

/// The `main` of a function binary: `twincloud_runtime::function_main!(twincloud_notifier::SPEC);`
/// defines `main` for that [`FunctionSpec`], built with only its [`Wiring`].
#[macro_export]
macro_rules! function_main {
    ($spec:path) => {
        fn main() -> std::process::ExitCode {
            $crate::main_for::<{ $spec.wiring.bits() }>(&$spec)
        }
    };
}

#[derive(Parser)]
#[command(
    about = "Runs a twincloud function once on an event (the same binary serves Lambda when AWS_LAMBDA_RUNTIME_API is set, and CloudEvents over HTTP when PORT is set)"
)]
struct OneShot {
    /// Event file (JSON, or an HTTP request fixture); `-` reads standard input.
    #[arg(long, default_value = "-")]
    event: String,
    /// Print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Configuration (overrides TWINCLOUD_CONFIG).
    #[arg(long)]
    config: Option<String>,
    /// Output format.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    output: String,
}

/// The `main` of a function binary (see [`function_main!`]): `WIRING` must be the bits of
/// `spec.wiring`.
pub fn main_for<const WIRING: u8>(spec: &FunctionSpec) -> ExitCode {
    debug_assert_eq!(WIRING, spec.wiring.bits(), "main_for wired unlike its spec");
    let function = spec.build();
    // Lambda and one-shot runs handle one event at a time: one thread starts faster and uses
    // less memory. The HTTP server takes concurrent requests and gets a worker per core.
    let serving =
        std::env::var_os("PORT").is_some() && std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_none();
    let built = if serving {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let rt = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
            return as_lambda::<WIRING>(function).await;
        }
        if let Some(port) = std::env::var("PORT").ok().filter(|p| !p.is_empty()) {
            return as_server::<WIRING>(function, port).await;
        }
        logging::init(false, "warn");
        let args = OneShot::parse();
        let code = run_once_wired::<WIRING>(
            function,
            &args.event,
            args.config.as_deref(),
            args.dry_run,
            args.output == "json",
        )
        .await;
        ExitCode::from(u8::try_from(code).unwrap_or(1))
    })
}

/// Serves Lambda invocations until the runtime API stops.
async fn as_lambda<const WIRING: u8>(function: Box<dyn Function>) -> ExitCode {
    logging::init(true, "info");
    let invoker = match invoker_wired::<WIRING>(function, None, false).await {
        Ok(i) => i,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match lambda::run(Arc::new(invoker)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("lambda runtime stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves CloudEvents over HTTP on `port` until stopped.
async fn as_server<const WIRING: u8>(function: Box<dyn Function>, port: String) -> ExitCode {
    logging::init(true, "info");
    let Ok(port) = port.parse::<u16>() else {
        tracing::error!("PORT={port} is not a port number");
        return ExitCode::from(2);
    };
    let verifier = match push_auth::PushVerifier::from_env() {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match &verifier {
        Some(v) => tracing::info!("{}", v.describe()),
        None => tracing::warn!(
            "push-token verification OFF: every caller Cloud Run lets through is served, and commands are refused"
        ),
    }
    let invoker = match invoker_wired::<WIRING>(function, None, false).await {
        Ok(i) => i,
        Err(e) => {
            tracing::error!("cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match http::serve(invoker, verifier, port).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("server stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `function` once on the event at `path` (`-` for stdin), printing the report; returns
/// the process exit code (0 ok, 1 failed, 2 bad input or configuration, 75 transient).
pub async fn run_once(
    function: Box<dyn Function>,
    path: &str,
    config: Option<&str>,
    dry_run: bool,
    json: bool,
) -> i32 {
    run_once_wired::<{ Wiring::ALL.bits() }>(function, path, config, dry_run, json).await
}

/// [`run_once`] with only the adapter groups in `WIRING`.
async fn run_once_wired<const WIRING: u8>(
    function: Box<dyn Function>,
    path: &str,
    config: Option<&str>,
    dry_run: bool,
    json: bool,
) -> i32 {
    let bytes = if path == "-" {
        let mut b = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut b) {
            eprintln!("error: reading standard input: {e}");
            return 2;
        }
        b
    } else {
        match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {path}: {e}");
                return 2;
            }
        }
    };
    run_bytes_wired::<WIRING>(function, &bytes, config, dry_run, json).await
}

/// Runs `function` once on an event given as bytes; see [`run_once`].
pub async fn run_bytes(
    function: Box<dyn Function>,
    bytes: &[u8],
    config: Option<&str>,
    dry_run: bool,
    json: bool,
) -> i32 {
    run_bytes_wired::<{ Wiring::ALL.bits() }>(function, bytes, config, dry_run, json).await
}

async fn run_bytes_wired<const WIRING: u8>(
    function: Box<dyn Function>,
    bytes: &[u8],
    config: Option<&str>,
    dry_run: bool,
    json: bool,
) -> i32 {
    let inv = match invoker_wired::<WIRING>(function, config, dry_run).await {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("error: {e}");
            return e.exit_code();
        }
    };
    // Ctrl-C stops the run where it is and gives back the leases it holds: a rollout or a
    // backup set is not blocked for the length of a lease by a run that is gone. What was
    // done is in the journal; the next run goes on from there.
    crate::interrupt::track();
    // (A Ctrl-C handler that cannot be installed disables the branch; it never ends the run.)
    let result = tokio::select! {
        r = inv.handle_json(bytes) => r,
        Ok(()) = tokio::signal::ctrl_c() => {
            let state = inv.services().state.clone();
            crate::effects::abandon_open(state.as_ref()).await;
            let released = crate::lease::release_held(state.as_ref()).await;
            eprintln!(
                "interrupted: {} lease(s) given back{}; what was done is journaled and the next run goes on from there",
                released.len(),
                if released.is_empty() { String::new() } else { format!(" ({})", released.join(", ")) }
            );
            return 130;
        }
    };
    match result {
        Ok(report) => {
            if json {
                crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                crate::out!("{}", report.to_text());
            }
            // A failure is said on standard error whatever channels exist (or none).
            for line in report.failures() {
                eprintln!("error: {line}");
            }
            report.exit_code()
        }
        Err(e) => {
            if json {
                crate::outln!(
                    "{}",
                    serde_json::json!({"ok": false, "error": e.to_string(), "transient": e.is_transient()})
                );
            }
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
