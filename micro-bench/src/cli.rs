//! The command line.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::systems::System;
use crate::workload::{DEFAULT_CONCURRENCY, Workload};

/// Benchmarks micro against a raw TCP limit, tonic, tarpc and volo-grpc.
#[derive(Debug, Parser)]
#[command(name = "micro-bench", version)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Measures RPC: each system's server in its own process, driven from this one.
    Rpc(RpcArgs),
    /// Serves one system on 127.0.0.1 (what `rpc` starts as its server process).
    Serve(ServeArgs),
    /// Measures pub/sub: publish-to-deliver messages/s through micro's NATS
    /// broker against raw async-nats (needs the `nats` feature).
    #[cfg(feature = "nats")]
    Pubsub(crate::pubsub::PubsubArgs),
    /// Measures micro-gateway with wrk: HTTP/JSON through the gateway to
    /// the greeter against a bare axum handler.
    Gateway(crate::gateway::GatewayArgs),
    /// A long run at a fixed rate with a node restarted every minute:
    /// samples memory, fds and p99, writes a CSV and a PNG plot, fails on a
    /// failed call or memory growth.
    Soak(crate::soak::SoakArgs),
}

/// Flags of `rpc`.
#[derive(Debug, Args)]
pub struct RpcArgs {
    /// Measured time per cell [default: 3s, 1s with --quick].
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Warm-up time per cell [default: 500ms, 200ms with --quick].
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Short cells, for CI.
    #[arg(long)]
    pub quick: bool,
    /// Systems to measure, e.g. `micro,tonic` [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub systems: Vec<System>,
    /// Concurrencies of the unary workloads, e.g. `64,256` [default: 1,16,64,256].
    #[arg(long, value_delimiter = ',')]
    pub concurrency: Vec<usize>,
    /// Workloads, e.g. `small,stream` [default: all].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub workloads: Vec<Workload>,
    /// Messages per streaming call.
    #[arg(long, default_value_t = 10_000)]
    pub stream_chunk: u32,
    /// How long calls still in flight at the end of a cell may take before
    /// they count as failed.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub grace: Duration,
    /// Also write the raw numbers to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl RpcArgs {
    /// The measured time per cell.
    pub fn duration(&self) -> Duration {
        self.duration.unwrap_or(if self.quick {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(3)
        })
    }

    /// The warm-up time per cell.
    pub fn warmup(&self) -> Duration {
        self.warmup.unwrap_or(if self.quick {
            Duration::from_millis(200)
        } else {
            Duration::from_millis(500)
        })
    }

    /// The systems, in table order.
    pub fn systems(&self) -> Vec<System> {
        pick(&System::ALL, &self.systems)
    }

    /// The workloads, in table order.
    pub fn workloads(&self) -> Vec<Workload> {
        pick(&Workload::ALL, &self.workloads)
    }

    /// The unary concurrencies.
    pub fn concurrency(&self) -> Vec<usize> {
        if self.concurrency.is_empty() {
            DEFAULT_CONCURRENCY.to_vec()
        } else {
            self.concurrency.iter().map(|&c| c.max(1)).collect()
        }
    }
}

/// `all` in its order, filtered by `chosen` unless that is empty.
fn pick<T: Copy + PartialEq>(all: &[T], chosen: &[T]) -> Vec<T> {
    all.iter()
        .copied()
        .filter(|x| chosen.is_empty() || chosen.contains(x))
        .collect()
}

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The system to serve.
    #[arg(value_enum)]
    pub system: System,
    /// Port on 127.0.0.1 (0: any free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Exit when stdin closes (the parent `rpc` process went away).
    #[arg(long)]
    pub exit_on_stdin_eof: bool,
}

/// A duration such as `2s` or `500ms`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    micro_runtime::parse_duration(text).ok_or_else(|| format!("not a duration: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_filters_and_defaults() {
        let cli = Cli::parse_from([
            "micro-bench",
            "rpc",
            "--quick",
            "--systems",
            "tonic,micro",
            "--concurrency",
            "64",
        ]);
        let Command::Rpc(args) = cli.command else {
            panic!("expected rpc")
        };
        assert_eq!(args.systems(), [System::Micro, System::Tonic]);
        assert_eq!(args.concurrency(), [64]);
        assert_eq!(args.workloads(), Workload::ALL);
        assert_eq!(args.duration(), Duration::from_secs(1));
        let cli = Cli::parse_from(["micro-bench", "rpc", "--duration", "250ms"]);
        let Command::Rpc(args) = cli.command else {
            panic!("expected rpc")
        };
        assert_eq!(args.duration(), Duration::from_millis(250));
        assert_eq!(args.systems(), System::ALL);
    }
}
