//! Runs the benchmark: per system, start its server process, measure every
//! cell against it, stop it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};

use crate::cli::RpcArgs;
use crate::load::{self, Phase};
use crate::proc::ServerProcess;
use crate::report::{Cell, Report, Settings, SystemRun};
use crate::systems::{Client, StreamCall, System, UnaryCall};
use crate::workload::Workload;

/// Longest wait for a server process to print its address.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs every selected cell and returns the report. Progress goes to stderr.
pub async fn run(args: &RpcArgs) -> Report {
    let phase = Phase {
        warmup: args.warmup(),
        duration: args.duration(),
        grace: args.grace,
    };
    let mut report = Report {
        settings: Settings {
            duration_s: phase.duration.as_secs_f64(),
            warmup_s: phase.warmup.as_secs_f64(),
            stream_chunk: args.stream_chunk,
            peak_reset_per_cell: true,
        },
        systems: Vec::new(),
        cells: Vec::new(),
    };
    for system in args.systems() {
        let mut run = SystemRun {
            system,
            idle_rss_kib: None,
            idle_anon_kib: None,
            error: None,
            skipped: None,
        };
        if let Some(why) = system.unavailable() {
            eprintln!("== {system}: skipped: {why}");
            run.skipped = Some(why);
            report.systems.push(run);
            continue;
        }
        if let Err(err) = run_system(system, args, phase, &mut run, &mut report).await {
            eprintln!("{system}: {err:#}");
            run.error = Some(format!("{err:#}"));
        }
        report.systems.push(run);
    }
    report
}

async fn run_system(
    system: System,
    args: &RpcArgs,
    phase: Phase,
    run: &mut SystemRun,
    report: &mut Report,
) -> anyhow::Result<()> {
    eprintln!("== {system}: starting its server process");
    let server =
        tokio::task::spawn_blocking(move || ServerProcess::start(system, SERVER_START_TIMEOUT))
            .await??;
    eprintln!("== {system}: pid {} on {}", server.pid(), server.address());

    let first = Client::connect(system, server.address(), 1)
        .await
        .with_context(|| format!("connecting to the {system} server"))?;
    first
        .hello(0, &Workload::Small.payload())
        .await
        .map_err(|e| anyhow!("first call to the {system} server failed: {e}"))?;
    drop(first);
    let idle = server.memory();
    run.idle_rss_kib = idle.map(|m| m.rss_kib);
    run.idle_anon_kib = idle.and_then(|m| m.anon_kib);
    report.settings.peak_reset_per_cell &= server.reset_peak();

    for workload in args.workloads() {
        if system.is_crossing() && workload != Workload::Small {
            continue;
        }
        let concurrencies = if system.is_crossing() {
            crossing_concurrencies(&args.concurrency())
        } else if workload.is_stream() {
            if !system.supports(workload) {
                eprintln!("   {system} {}: n/a (cannot run it)", workload.label());
                continue;
            }
            vec![1]
        } else {
            args.concurrency()
        };
        for concurrency in concurrencies {
            let cell = measure(&server, system, workload, concurrency, args, phase).await?;
            if !server_alive(&server) {
                report.cells.push(cell);
                return Err(anyhow!("the {system} server process died during the run"));
            }
            report.cells.push(cell);
        }
    }
    Ok(())
}

/// A crossing is measured at c=64 when that is asked for, else at every
/// concurrency asked for.
fn crossing_concurrencies(asked: &[usize]) -> Vec<usize> {
    if asked.contains(&64) {
        vec![64]
    } else {
        asked.to_vec()
    }
}

fn server_alive(server: &ServerProcess) -> bool {
    server.memory().is_some()
}

async fn measure(
    server: &ServerProcess,
    system: System,
    workload: Workload,
    concurrency: usize,
    args: &RpcArgs,
    phase: Phase,
) -> anyhow::Result<Cell> {
    let client = Client::connect(system, server.address(), concurrency)
        .await
        .with_context(|| format!("connecting to the {system} server"))?;
    server.reset_peak();
    let payload = workload.payload();
    let outcome = if workload.is_stream() {
        let call = StreamCall {
            client: client.clone(),
            workload,
            payload,
        };
        load::run_stream(Arc::new(call), args.stream_chunk, phase).await
    } else {
        let call = UnaryCall {
            client: client.clone(),
            payload,
            connections: crate::systems::pool_connections(concurrency),
        };
        load::run_unary(Arc::new(call), concurrency, phase).await
    };
    let cell = Cell {
        system,
        workload,
        concurrency,
        connections: client.connections(concurrency),
        ok: outcome.ok,
        failed: outcome.failed,
        errors: outcome.errors.clone(),
        elapsed_s: outcome.elapsed.as_secs_f64(),
        rate: outcome.rate(),
        p50_us: outcome.quantile_us(0.5),
        p99_us: outcome.quantile_us(0.99),
        p999_us: outcome.quantile_us(0.999),
        max_us: outcome.quantile_us(1.0),
        server_peak_rss_kib: server.memory().map(|m| m.peak_kib),
    };
    eprintln!(
        "   {system:<10} {:<10} c={concurrency:<4} {:>12} p50 {:>8} p99 {:>8} p99.9 {:>8} failed {}",
        workload.label(),
        crate::report::format_rate(cell.rate, workload.is_stream()),
        crate::report::format_us(cell.p50_us),
        crate::report::format_us(cell.p99_us),
        crate::report::format_us(cell.p999_us),
        cell.failed,
    );
    Ok(cell)
}
