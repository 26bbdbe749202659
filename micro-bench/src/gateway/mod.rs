//! `micro-bench gateway`: HTTP requests per second and latency through
//! micro-gateway against the limit of a bare axum handler, all driven by
//! `wrk` at 64 connections, in the same run:
//!
//! - **bare** (the limit): an axum handler in this process that decodes
//!   `{"name":"John"}` and answers `{"greeting":"Hello John"}` ([`bare`]);
//! - **gateway /api**: `micro_gateway::router` in this process, answering
//!   `POST /api/micro.bench.greeter/Greeter.Hello` by calling the bench
//!   greeter (`micro-bench serve micro`, a process of its own) over micro's
//!   native TCP transport;
//! - **gateway /rpc**: the same call through `POST /rpc`.
//!
//! Each target is first checked: one second of wrk whose every response
//! must be 200 with exactly the greeting. Then each round measures every
//! target once, in turn; the table shows each target's median round
//! (single runs move by tens of percent on a shared machine).

pub mod bare;
pub mod wrk;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use micro_gateway::GatewayOptions;
use micro_runtime::transport::tcp::TcpTransport;

use crate::payload::{self, SMALL_NAME};
use crate::proc::ServerProcess;
use crate::report::{format_rate, format_ratio, format_us, markdown};
use crate::systems::micro::{self, SERVICE};

/// Longest wait for the greeter process to print its address.
const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The goal: the gateway's req/s at least this share of the bare handler's.
pub const GOAL_RATE: f64 = 0.6;
/// The goal: the gateway's p99 at most this multiple of the bare handler's.
pub const GOAL_P99: f64 = 2.0;

/// Flags of `gateway`.
#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// wrk's connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// wrk's threads (one leaves the other core of a 2-core machine to
    /// the server).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Measured time per run, whole seconds [default: 10s, 2s with --quick].
    #[arg(long, value_parser = crate::cli::parse_duration)]
    pub duration: Option<Duration>,
    /// Rounds [default: 3, 1 with --quick]; each measures every target once.
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Short runs and one round, for CI.
    #[arg(long)]
    pub quick: bool,
}

impl GatewayArgs {
    fn duration(&self) -> Duration {
        self.duration.unwrap_or(if self.quick {
            Duration::from_secs(2)
        } else {
            Duration::from_secs(10)
        })
    }

    fn rounds(&self) -> usize {
        self.rounds.unwrap_or(if self.quick { 1 } else { 3 }).max(1)
    }
}

/// One thing wrk drives.
struct Target {
    label: &'static str,
    url: String,
    body: String,
}

/// A target's median round.
struct Row {
    label: &'static str,
    rate: f64,
    p50_us: f64,
    p99_us: f64,
}

/// Runs the benchmark and prints its table. Without wrk, a `--quick`
/// run (the CI smoke run) prints why and skips, unless
/// `MICRO_TEST_REQUIRE_BACKENDS=1`.
///
/// # Errors
///
/// When wrk is missing (but for the skip above), a server cannot start,
/// or a target answers anything but the greeting.
pub async fn run(args: &GatewayArgs) -> anyhow::Result<()> {
    if let Err(missing) = wrk::available().await {
        let required = std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() == Ok("1");
        if args.quick && !required {
            println!("skipped: {missing}");
            return Ok(());
        }
        bail!("{missing}");
    }
    eprintln!("== greeter: starting its server process (micro-bench-server-micro)");
    let greeter = tokio::task::spawn_blocking(|| {
        ServerProcess::start(crate::systems::System::Micro, SERVER_START_TIMEOUT)
    })
    .await??;
    eprintln!("== greeter: pid {} on {}", greeter.pid(), greeter.address());

    let registry = micro::registry(greeter.address()).await?;
    let client = micro_runtime::Client::builder()
        .registry(registry)
        .transport(Arc::new(TcpTransport::default()))
        .build()?;
    let gateway = serve(micro_gateway::router(client, GatewayOptions::new())).await?;
    let limit = serve(bare::router()).await?;

    let request = serde_json::json!({ "name": SMALL_NAME });
    let expected = serde_json::json!({ "greeting": payload::greeting(SMALL_NAME) }).to_string();
    let targets = [
        Target {
            label: "bare axum handler (b)",
            url: format!("http://{limit}{}", bare::PATH),
            body: request.to_string(),
        },
        Target {
            label: "gateway /api (a)",
            url: format!("http://{gateway}/api/{SERVICE}/Greeter.Hello"),
            body: request.to_string(),
        },
        Target {
            label: "gateway /rpc (c)",
            url: format!("http://{gateway}/rpc"),
            body: serde_json::json!({
                "service": SERVICE,
                "endpoint": "Greeter.Hello",
                "request": request,
            })
            .to_string(),
        },
    ];
    let load = |target: &Target, duration, expect: Option<&String>| wrk::Load {
        url: target.url.clone(),
        body: target.body.clone(),
        connections: args.connections,
        threads: args.threads,
        duration,
        expect: expect.cloned(),
    };

    for target in &targets {
        let checked = wrk::run(&load(target, Duration::from_secs(1), Some(&expected))).await?;
        if let Some(failure) = checked.failure() {
            bail!("{}: the check run failed: {failure}", target.label);
        }
        eprintln!(
            "   checked {:<22} {} answers, each the greeting",
            target.label, checked.requests
        );
    }

    let mut runs: Vec<Vec<wrk::Outcome>> = targets.iter().map(|_| Vec::new()).collect();
    for round in 1..=args.rounds() {
        for (target, runs) in targets.iter().zip(&mut runs) {
            let outcome = wrk::run(&load(target, args.duration(), None))
                .await
                .with_context(|| format!("{} in round {round}", target.label))?;
            if let Some(failure) = outcome.failure() {
                bail!("{} in round {round}: {failure}", target.label);
            }
            eprintln!(
                "   round {round} {:<22} {:>10} req/s p50 {:>8} p99 {:>8}",
                target.label,
                format_rate(outcome.rate(), false),
                format_us(outcome.p50_us),
                format_us(outcome.p99_us),
            );
            runs.push(outcome);
        }
    }
    if greeter.memory().is_none() {
        bail!("the greeter process died during the run");
    }

    let rows: Vec<Row> = targets
        .iter()
        .zip(&runs)
        .map(|(target, runs)| Row {
            label: target.label,
            rate: median(runs.iter().map(wrk::Outcome::rate)),
            p50_us: median(runs.iter().map(|r| r.p50_us)),
            p99_us: median(runs.iter().map(|r| r.p99_us)),
        })
        .collect();
    println!();
    println!(
        "wrk -t{} -c{} -d{}s, {} round(s), median shown; POST {} -> {}",
        args.threads,
        args.connections,
        args.duration().as_secs().max(1),
        args.rounds(),
        request,
        expected
    );
    println!();
    print!("{}", table(&rows));
    println!("{}", summary(&rows[0], &rows[1]));
    Ok(())
}

/// Serves `router` on 127.0.0.1:0 in a task of this runtime.
async fn serve(router: axum::Router) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(micro_gateway::serve(
        listener,
        router,
        std::future::pending(),
    ));
    Ok(address)
}

/// The median of `values` (the lower middle of an even count).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0.0)
}

/// The table, with ratios to the first row (the bare handler).
fn table(rows: &[Row]) -> String {
    let header = [
        "target",
        "req/s",
        "p50",
        "p99",
        "req/s vs (b)",
        "p99 vs (b)",
    ];
    let mut lines = vec![header.map(String::from).to_vec()];
    let base = &rows[0];
    for row in rows {
        lines.push(vec![
            row.label.to_owned(),
            format_rate(row.rate, false),
            format_us(row.p50_us),
            format_us(row.p99_us),
            format_ratio(ratio(row.rate, base.rate)),
            format_ratio(ratio(row.p99_us, base.p99_us)),
        ]);
    }
    markdown(&lines)
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

/// The last line: the gateway against the goal.
fn summary(bare: &Row, gateway: &Row) -> String {
    let rate = ratio(gateway.rate, bare.rate);
    let p99 = ratio(gateway.p99_us, bare.p99_us);
    let met = rate.is_some_and(|r| r >= GOAL_RATE) && p99.is_some_and(|p| p <= GOAL_P99);
    format!(
        "summary: gateway/bare req/s = {} (goal >= {GOAL_RATE}x), p99 = {} (goal <= {GOAL_P99}x): goal {}",
        format_ratio(rate),
        format_ratio(p99),
        if met { "met" } else { "missed" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(label: &'static str, rate: f64, p99_us: f64) -> Row {
        Row {
            label,
            rate,
            p50_us: p99_us / 4.0,
            p99_us,
        }
    }

    #[test]
    fn medians() {
        assert_eq!(median([3.0, 1.0, 2.0].into_iter()), 2.0);
        assert_eq!(median([4.0, 1.0].into_iter()), 1.0);
        assert_eq!(median(std::iter::empty()), 0.0);
    }

    #[test]
    fn table_and_summary_compare_with_the_bare_handler() {
        let rows = [row("bare", 1000.0, 100.0), row("api", 700.0, 250.0)];
        let table = table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[3].contains("| 0.70x ") && lines[3].contains("| 2.50x "));
        assert_eq!(
            summary(&rows[0], &rows[1]),
            "summary: gateway/bare req/s = 0.70x (goal >= 0.6x), p99 = 2.50x (goal <= 2x): goal missed"
        );
        assert!(summary(&rows[0], &row("api", 600.0, 200.0)).ends_with("goal met"));
    }
}
