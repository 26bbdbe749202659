//! Takes a distributed lock on etcd, holds it, lets go; prints what it did,
//! one line each, for the lock tests (`tests/sync_locks.rs`):
//!
//! ```text
//! acquired <token> <wall-clock ns>
//! released <token> <wall-clock ns>
//! error <code> <detail>
//! ```
//!
//! Usage: `lock-holder <name> [--times N] [--hold 20ms|forever] [--timeout 5s]`.
//! etcd and the lease TTL from `MICRO_SYNC_ADDRESS`, `MICRO_SYNC_TTL`,
//! `MICRO_SYNC_PREFIX`. Held "forever", it releases on SIGTERM or SIGINT.

use std::time::Duration;

use micro_runtime::sync::Locks;
use micro_runtime::sync::etcd::EtcdSync;

/// Now, as nanoseconds since the Unix epoch (the tests compare processes
/// on one machine).
fn wall_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

struct Args {
    name: String,
    times: u32,
    hold: Option<Duration>,
    timeout: Duration,
}

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut args = Args {
        name: it
            .next()
            .ok_or("usage: lock-holder <name> [--times N] [--hold D|forever] [--timeout D]")?,
        times: 1,
        hold: Some(Duration::from_millis(20)),
        timeout: Duration::from_secs(5),
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let duration = || {
            micro_runtime::parse_duration(&value)
                .ok_or(format!("{flag} {value:?} is not a duration"))
        };
        match flag.as_str() {
            "--times" => args.times = value.parse().map_err(|_| format!("--times {value:?}"))?,
            "--hold" if value == "forever" => args.hold = None,
            "--hold" => args.hold = Some(duration()?),
            "--timeout" => args.timeout = duration()?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    let args = match args() {
        Ok(args) => args,
        Err(why) => {
            eprintln!("{why}");
            std::process::exit(2);
        }
    };
    let sync = match EtcdSync::from_env() {
        Ok(sync) => sync,
        Err(err) => {
            println!("error {} {}", err.code(), err.detail());
            std::process::exit(1);
        }
    };
    let mut stop = std::pin::pin!(micro_runtime::shutdown_signal());
    for _ in 0..args.times {
        let guard = match sync.acquire(&args.name, args.timeout).await {
            Ok(guard) => guard,
            Err(err) => {
                println!("error {} {}", err.code(), err.detail());
                std::process::exit(1);
            }
        };
        println!("acquired {} {}", guard.token(), wall_ns());
        let stopped = match args.hold {
            Some(hold) => tokio::select! {
                () = tokio::time::sleep(hold) => false,
                () = &mut stop => true,
            },
            None => tokio::select! {
                err = guard.lost() => {
                    println!("lost {} {} {}", guard.token(), wall_ns(), err.detail());
                    std::process::exit(1);
                }
                () = &mut stop => true,
            },
        };
        let token = guard.token();
        // The belief ends as the release starts.
        let at = wall_ns();
        if let Err(err) = guard.release().await {
            println!("error {} {}", err.code(), err.detail());
            std::process::exit(1);
        }
        println!("released {token} {at}");
        if stopped {
            return;
        }
    }
}
