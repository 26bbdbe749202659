//! `micro-bench soak`: a long run at a fixed rate that shows whether
//! anything grows. Two micro server processes serve the greeter; this
//! process calls them at `--rate` calls/s (unary, with every
//! `--stream-every`th call a server stream) through the discovering,
//! balancing client, and restarts one node every `--restart-every`
//! (deregister, SIGTERM and drain, start a new one, register it). Every
//! `--sample-every` it samples the long-lived server's and its own RSS and
//! open fds and the window's p99, printing a line per sample; at the end
//! it writes `soak.csv` and `soak.png` into `--out` and fails on any failed
//! call or on RSS growth beyond `--max-growth` after the warm-up.

mod fleet;
mod plot;
mod rate;
mod sample;
mod verdict;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;

use crate::cli::parse_duration;
use fleet::Fleet;
use rate::Load;
use sample::{Sample, Sampler};

/// Flags of `soak`.
#[derive(Debug, Args)]
pub struct SoakArgs {
    /// How long to run.
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub duration: Duration,
    /// Calls started per second.
    #[arg(long, default_value_t = 5_000)]
    pub rate: u32,
    /// Every Nth call is a server stream (0: unary only).
    #[arg(long, default_value_t = 10)]
    pub stream_every: u32,
    /// Messages per server stream.
    #[arg(long, default_value_t = 20)]
    pub stream_messages: u32,
    /// How often the second node is restarted (0s: never).
    #[arg(long, value_parser = parse_duration, default_value = "1m")]
    pub restart_every: Duration,
    /// How often to sample memory, fds and latency.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub sample_every: Duration,
    /// The sample growth is measured from [default: 1m, or a third of
    /// --duration when that is shorter].
    #[arg(long, value_parser = parse_duration)]
    pub warmup: Option<Duration>,
    /// Allowed RSS growth after the warm-up, in percent.
    #[arg(long, default_value_t = 10.0)]
    pub max_growth: f64,
    /// Where `soak.csv` and `soak.png` go.
    #[arg(long, default_value = "soak-out")]
    pub out: PathBuf,
}

impl SoakArgs {
    fn warmup(&self) -> Duration {
        self.warmup
            .unwrap_or_else(|| Duration::from_secs(60).min(self.duration / 3))
    }
}

/// Runs the soak; `Err` when it could not run or did not pass.
///
/// # Errors
///
/// A server that does not start, a failed call, growth beyond the bound,
/// or the output that cannot be written.
pub async fn run(args: &SoakArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let fleet = Fleet::start().await?;
    let load = Arc::new(Load::new(fleet.client().clone(), args));
    let sampler = Sampler::new(fleet.steady_pid());
    println!(
        "soak: {} calls/s for {:?} (a stream of {} every {} calls), node restarted every {:?}, sample every {:?}",
        args.rate,
        args.duration,
        args.stream_messages,
        args.stream_every,
        args.restart_every,
        args.sample_every
    );
    println!("{}", Sample::HEADER);

    let start = Instant::now();
    let end = start + args.duration;
    let driver = tokio::spawn(load.clone().drive(end));
    let restarter = tokio::spawn(restart_every(fleet, args.restart_every, start, end));
    let mut samples = Vec::new();
    let mut next_sample = start + args.sample_every;
    loop {
        tokio::time::sleep_until(next_sample.min(end).into()).await;
        let now = Instant::now();
        let sample = sampler.take(now - start, load.take_window());
        println!("{}", sample.row());
        samples.push(sample);
        if now >= end {
            break;
        }
        next_sample += args.sample_every;
    }
    let totals = driver.await.context("the load task")?;
    let (fleet, restarts) = restarter.await.context("the restart task")??;
    fleet.stop();

    let csv = args.out.join("soak.csv");
    sample::write_csv(&csv, &samples)?;
    let png = args.out.join("soak.png");
    let plotted = plot::draw(&png, &samples, &restarts);
    println!(
        "calls: {} ok, {} failed; restarts: {}",
        totals.ok,
        totals.failed,
        restarts.len()
    );
    for (error, count) in &totals.errors {
        println!("  {count} x {error}");
    }
    println!("wrote {}", csv.display());
    match plotted {
        Ok(()) => println!("wrote {}", png.display()),
        Err(err) => println!("no plot: {err:#}"),
    }
    let growth = verdict::growth(&samples, args.warmup());
    println!("{}", growth.describe());
    verdict::judge(&totals, &growth, args.max_growth)
}

/// Restarts the cycled node every `every` (never when zero) until `end`;
/// returns the fleet and when each restart began.
async fn restart_every(
    mut fleet: Fleet,
    every: Duration,
    start: Instant,
    end: Instant,
) -> anyhow::Result<(Fleet, Vec<Duration>)> {
    let mut restarts = Vec::new();
    if every.is_zero() {
        return Ok((fleet, restarts));
    }
    let mut next = start + every;
    while next < end {
        tokio::time::sleep_until(next.into()).await;
        restarts.push(next - start);
        fleet.restart().await?;
        next += every;
    }
    Ok((fleet, restarts))
}
