//! The server process of one system: what `micro-bench serve <system>` and
//! the per-system binaries (`micro-bench-server-micro`, `-raw`, `-tonic`,
//! `-tarpc`, `-volo`) run. Each system's binary links only that system's
//! code, so the servers' RSS compares the systems, not the benchmark.

use std::future::Future;
use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::ServeArgs;
use crate::proc::LISTENING;
use crate::systems::System;

/// Called with the address once the server accepts calls.
pub type Ready = Box<dyn FnOnce(&str) + Send>;

/// The command line of a per-system server binary.
#[derive(Debug, clap::Parser)]
struct ServerCli {
    #[command(flatten)]
    args: ServeArgs,
}

/// The `main` of the server binary `binary`: parses `<system> --port N
/// [--exit-on-stdin-eof]`, refuses a system another binary serves, and
/// runs `serve`.
pub fn main<F, Fut>(binary: &str, serve: F) -> ExitCode
where
    F: FnOnce(System, u16, Ready) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let args = ServerCli::parse().args;
    if args.system.server_binary() != binary {
        eprintln!(
            "{binary}: {} is served by {}",
            args.system,
            args.system.server_binary()
        );
        return ExitCode::FAILURE;
    }
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run(binary, args, serve)),
        Err(err) => {
            eprintln!("{binary}: cannot start tokio: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Serves `args.system` with `serve`: prints `listening on <address>` once
/// it accepts calls, and exits when stdin closes if asked to; a failure is
/// printed as `<program> <system>: <error>`.
pub async fn run<F, Fut>(program: &str, args: ServeArgs, serve: F) -> ExitCode
where
    F: FnOnce(System, u16, Ready) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    if args.exit_on_stdin_eof {
        // The parent holds our stdin: when it goes away, so do we.
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    let ready: Ready = Box::new(|address: &str| {
        println!("{LISTENING}{address}");
        let _ = std::io::stdout().flush();
    });
    match serve(args.system, args.port, ready).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{program} {}: {err:#}", args.system);
            ExitCode::FAILURE
        }
    }
}
