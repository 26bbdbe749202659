//! `micro-bench rpc`, `pubsub`, `gateway`: the benchmarks; `micro-bench
//! serve <system>`: one system's server (what `rpc` and `gateway` start as
//! their server process).

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser as _;
use micro_bench::cli::{Cli, Command, RpcArgs, ServeArgs};
use micro_bench::{runner, systems};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("micro-bench: cannot start tokio: {err}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Rpc(args) => runtime.block_on(rpc(args)),
        Command::Serve(args) => runtime.block_on(serve(args)),
        #[cfg(feature = "nats")]
        Command::Pubsub(args) => runtime.block_on(pubsub(args)),
        Command::Gateway(args) => runtime.block_on(gateway(args)),
        Command::Soak(args) => runtime.block_on(soak(args)),
    }
}

async fn rpc(args: RpcArgs) -> ExitCode {
    let systems = args.systems();
    let report = runner::run(&args).await;
    systems::tls::remove();
    println!();
    print!("{}", report.table(&systems));
    if systems.iter().any(|s| s.is_crossing()) {
        println!(
            "(tonic-micro: tonic's client -> micro's server over gRPC; \
             micro-tonic: micro's client, gRPC transport -> tonic's server)"
        );
    }
    println!();
    print!("{}", report.idle_memory());
    let skipped = report.skipped();
    if !skipped.is_empty() {
        println!();
        print!("{skipped}");
    }
    let failures = report.failures();
    if !failures.is_empty() {
        println!();
        print!("failures:\n{failures}");
    }
    let mut code = ExitCode::SUCCESS;
    // A crossing's failure is reported, not fatal: its server may not
    // speak the other side's protocol in every build.
    if report
        .systems
        .iter()
        .any(|s| s.error.is_some() && !s.system.is_crossing())
    {
        code = ExitCode::FAILURE;
    }
    if let Some(path) = &args.json {
        let written = serde_json::to_vec_pretty(&report)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(path, json));
        match written {
            Ok(()) => println!("raw numbers written to {}", path.display()),
            Err(err) => {
                eprintln!("micro-bench: writing {}: {err}", path.display());
                code = ExitCode::FAILURE;
            }
        }
    }
    println!("{}", report.summary());
    let _ = std::io::stdout().flush();
    code
}

#[cfg(feature = "nats")]
async fn pubsub(args: micro_bench::pubsub::PubsubArgs) -> ExitCode {
    match micro_bench::pubsub::run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("micro-bench pubsub: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn gateway(args: micro_bench::gateway::GatewayArgs) -> ExitCode {
    match micro_bench::gateway::run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("micro-bench gateway: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn soak(args: micro_bench::soak::SoakArgs) -> ExitCode {
    match micro_bench::soak::run(&args).await {
        Ok(()) => {
            println!("soak passed");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("micro-bench soak: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    micro_bench::server::run("micro-bench serve", args, |system, port, ready| {
        systems::serve(system, port, ready)
    })
    .await
}
