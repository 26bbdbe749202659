//! The `micro` command as a library: [`main`] parses the command line, runs
//! one command and turns any failure into one line on stderr and an exit
//! code. The binary in `src/main.rs` only calls it.
#![doc = include_str!("../../docs/cli.md")]
#![forbid(unsafe_code)]

pub mod args;
mod commands;
pub mod failure;
pub mod output;
pub mod request_flags;
pub mod schema;
pub mod session;

use std::io::Write;
use std::process::ExitCode;

use crate::args::OutputFormat;
use crate::failure::{EXIT_USAGE, Failure};
use crate::session::Session;

/// Runs `micro` with the process's arguments and returns its exit code.
pub fn main() -> ExitCode {
    let cli = match args::parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version print on stdout and succeed; the rest is a
            // usage error: clap's message (one error line and a hint).
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { EXIT_USAGE } else { 0 });
        }
    };
    let json = cli.global.output == OutputFormat::Json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => return report(&Failure::local(format!("cannot start: {err}")), json),
    };
    if let Err(failure) = runtime.block_on(async { init_logging() }) {
        return report(&failure, json);
    }
    let session = Session::new(cli.global);
    let outcome = runtime.block_on(async {
        // A server (the gateway) stops itself on Ctrl-C and SIGTERM.
        if cli.command.stops_on_signal() {
            return commands::run(cli.command, &session).await;
        }
        let finished = tokio::select! {
            outcome = commands::run(cli.command, &session) => Some(outcome),
            _ = tokio::signal::ctrl_c() => None,
        };
        // The command was dropped: give its connections a moment to tell
        // the servers that its calls are cancelled.
        match finished {
            Some(outcome) => outcome,
            None => {
                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                Err(Failure::interrupted())
            }
        }
    });
    runtime.block_on(micro_runtime::trace::flush());
    // Background tasks (registry watches, connections) end with the runtime.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => report(&failure, json),
    }
}

/// Prints `failure` as one line on stderr (also as JSON on stdout with
/// `--output json`) and returns its exit code.
fn report(failure: &Failure, json: bool) -> ExitCode {
    if json {
        // Not `println!`: it panics when stdout is closed (`| head`); the
        // line on stderr still says what failed.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", failure.to_json()).and_then(|()| out.flush());
    }
    eprintln!("micro: {failure}");
    ExitCode::from(failure.exit_code())
}

/// Runtime logs on stderr, only when `RUST_LOG` asks for them: the
/// command's own output stays clean (`MICRO_LOG_FORMAT=json` for JSON
/// lines); spans exported when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
/// (feature `otel`). Inside the runtime: the OTLP exporter needs it.
fn init_logging() -> Result<(), Failure> {
    match micro_runtime::trace::init_with("off") {
        Err(err) if err.code() != 409 => Err(err.into()),
        _ => Ok(()),
    }
}
