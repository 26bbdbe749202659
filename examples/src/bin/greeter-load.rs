//! Sends steady `Hello` calls and reports what happened, as JSON lines:
//! one per interval (`{"t_ms":…,"ok":…,"failed":…,"nodes":…,"ejected":…,"p50_us":…,"p99_us":…}`)
//! and a final summary (`{"summary":true,…,"errors":{"503":…}}`).
//!
//! ```text
//! greeter-load [--rate 200] [--concurrency 8] [--duration 10s] [--calls N]
//!              [--interval 250ms] [--timeout 1s] [--name John] [--nodes 1]
//! ```
//!
//! It first waits (up to 20 s) until at least `--nodes` nodes are
//! discovered. `--calls` stops after that many calls (instead of the duration).
//! `--rate 0` sends as fast as the concurrency allows. Stops after the
//! duration or on SIGINT/SIGTERM, printing the summary either way.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use examples::{SERVICE, pb};
use micro_runtime::{CallOptions, Client, parse_duration};

#[derive(Default)]
struct Window {
    ok: u64,
    failed: u64,
    latencies_us: Vec<u64>,
    errors: BTreeMap<u16, u64>,
}

struct Args {
    calls: Option<u64>,
    nodes: usize,
    rate: f64,
    concurrency: usize,
    duration: Duration,
    interval: Duration,
    timeout: Duration,
    name: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        calls: None,
        nodes: 1,
        rate: 200.0,
        concurrency: 8,
        duration: Duration::from_secs(10),
        interval: Duration::from_millis(250),
        timeout: Duration::from_secs(1),
        name: "John".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let duration =
            || parse_duration(&value).ok_or_else(|| format!("{flag}: bad duration {value}"));
        match flag.as_str() {
            "--rate" => args.rate = value.parse().map_err(|_| format!("bad rate {value}"))?,
            "--concurrency" => {
                args.concurrency = value
                    .parse()
                    .map_err(|_| format!("bad concurrency {value}"))?
            }
            "--duration" => args.duration = duration()?,
            "--interval" => args.interval = duration()?,
            "--timeout" => args.timeout = duration()?,
            "--name" => args.name = value,
            "--calls" => {
                args.calls = Some(value.parse().map_err(|_| format!("bad calls {value}"))?)
            }
            "--nodes" => args.nodes = value.parse().map_err(|_| format!("bad nodes {value}"))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(args)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let args = match parse_args() {
        Ok(args) => args,
        Err(err) => {
            eprintln!("greeter-load: {err}");
            std::process::exit(2);
        }
    };
    let client = match Client::from_env() {
        Ok(client) => client,
        Err(err) => {
            eprintln!("greeter-load: {err}");
            std::process::exit(1);
        }
    };
    // Discover first (mDNS answers can take a second), then measure.
    if let Err(err) = client
        .wait_for(SERVICE, args.nodes, Duration::from_secs(20))
        .await
    {
        eprintln!("greeter-load: {err}");
        std::process::exit(1);
    }
    let issued = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let greeter = pb::GreeterClient::new(SERVICE, client.clone())
        .with_options(CallOptions::new().timeout(args.timeout));
    let window = Arc::new(Mutex::new(Window::default()));
    let total = Arc::new(Mutex::new(Window::default()));
    let start = Instant::now();
    let end = start + args.duration;

    let per_worker =
        (args.rate > 0.0).then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate));
    let mut workers = Vec::new();
    for _ in 0..args.concurrency.max(1) {
        let (greeter, window, name) = (greeter.clone(), window.clone(), args.name.clone());
        let (issued, limit) = (issued.clone(), args.calls);
        workers.push(tokio::spawn(async move {
            let mut tick = per_worker.map(|p| {
                let mut t = tokio::time::interval(p);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            while Instant::now() < end {
                if let Some(tick) = &mut tick {
                    tick.tick().await;
                }
                let n = issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if limit.is_some_and(|limit| n >= limit) {
                    break;
                }
                let began = Instant::now();
                let result = greeter.hello(pb::Request { name: name.clone() }).await;
                let us = began.elapsed().as_micros() as u64;
                let mut w = window.lock().unwrap();
                match result {
                    Ok(_) => {
                        w.ok += 1;
                        w.latencies_us.push(us);
                    }
                    Err(err) => {
                        w.failed += 1;
                        *w.errors.entry(err.code()).or_default() += 1;
                        tracing::warn!(error = %err, "call failed");
                    }
                }
            }
        }));
    }

    let mut tick = tokio::time::interval(args.interval);
    tick.tick().await;
    let stop = micro_runtime::shutdown_signal();
    tokio::pin!(stop);
    loop {
        let all_issued = || {
            args.calls.is_some_and(|limit| {
                issued.load(std::sync::atomic::Ordering::Relaxed) >= limit
                    && workers.iter().all(|w| w.is_finished())
            })
        };
        let done = tokio::select! {
            _ = tick.tick() => Instant::now() >= end || all_issued(),
            () = &mut stop => true,
        };
        let mut w = std::mem::take(&mut *window.lock().unwrap());
        w.latencies_us.sort_unstable();
        let (nodes, ejected) = match client.nodes(SERVICE).await {
            Ok(nodes) => (
                nodes.len(),
                nodes.iter().filter(|n| n.stats().is_ejected()).count(),
            ),
            Err(_) => (0, 0),
        };
        println!(
            "{{\"t_ms\":{},\"ok\":{},\"failed\":{},\"nodes\":{},\"ejected\":{},\"p50_us\":{},\"p99_us\":{}}}",
            start.elapsed().as_millis(),
            w.ok,
            w.failed,
            nodes,
            ejected,
            percentile(&w.latencies_us, 0.5),
            percentile(&w.latencies_us, 0.99)
        );
        let mut t = total.lock().unwrap();
        t.ok += w.ok;
        t.failed += w.failed;
        t.latencies_us.extend(w.latencies_us);
        for (code, n) in w.errors {
            *t.errors.entry(code).or_default() += n;
        }
        drop(t);
        if done {
            break;
        }
    }
    for worker in workers {
        worker.abort();
    }
    let mut t = std::mem::take(&mut *total.lock().unwrap());
    t.latencies_us.sort_unstable();
    let errors: Vec<String> = t
        .errors
        .iter()
        .map(|(c, n)| format!("\"{c}\":{n}"))
        .collect();
    println!(
        "{{\"summary\":true,\"ok\":{},\"failed\":{},\"errors\":{{{}}},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{}}}",
        t.ok,
        t.failed,
        errors.join(","),
        percentile(&t.latencies_us, 0.5),
        percentile(&t.latencies_us, 0.99),
        percentile(&t.latencies_us, 0.999)
    );
}
