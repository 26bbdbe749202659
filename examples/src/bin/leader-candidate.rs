//! A candidate in a leader election on etcd, for the fault tests
//! (`tests/leader_election.rs`). It campaigns; while it believes it leads
//! it writes to a store every ~50 ms with its term's token as the fence;
//! when it loses, it says so and campaigns again. One line per event,
//! wall-clock nanoseconds (the test compares processes on one machine):
//!
//! ```text
//! term start <token> <ns>
//! write ok <token> <checked ns> <done ns>     checked: when the term was checked
//! write rejected <token> <checked ns> <code>   the fence refused it (409)
//! write failed <token> <checked ns> <code>     any other error
//! term end <token> <ns> <why>                  ns: when the belief ended
//! stale write <token> ok|<code>                one write with the lost term's token
//! ```
//!
//! Usage: `leader-candidate <election> <id>`. etcd and the TTL from
//! `MICRO_SYNC_ADDRESS`, `MICRO_SYNC_TTL`, `MICRO_SYNC_PREFIX`; the store
//! from `MICRO_STORE_ADDRESS`, `MICRO_STORE_DATABASE`, `MICRO_STORE_TABLE`.
//! Resigns on SIGTERM or SIGINT.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use micro_runtime::store::etcd::EtcdStore;
use micro_runtime::store::{Fence, Record, Store, StoreOptions, WriteOptions};
use micro_runtime::sync::etcd::EtcdSync;
use micro_runtime::sync::{Elections, Guard};

/// How often a leader writes.
const EVERY: Duration = Duration::from_millis(50);

fn wall_ns(at: SystemTime) -> u128 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn now_ns() -> u128 {
    wall_ns(SystemTime::now())
}

/// When the belief ended, on the wall clock: its deadline if that passed,
/// otherwise now.
fn ended_ns(term: &Guard) -> u128 {
    let (wall, mono) = (SystemTime::now(), Instant::now());
    match term.deadline() {
        Some(deadline) if deadline < mono => wall_ns(wall - (mono - deadline)),
        _ => wall_ns(wall),
    }
}

fn fail(what: &str, err: &micro_runtime::Error) -> ! {
    println!("error {what} {} {}", err.code(), err.detail());
    std::process::exit(1);
}

async fn write(
    store: &EtcdStore,
    election: &str,
    id: &str,
    token: u64,
) -> micro_runtime::Result<()> {
    let record = Record::new("resource", format!("{id} {token}"));
    let options = WriteOptions::default().fence(Fence::new(election, token));
    store.write(record, &options).await
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(election), Some(id)) = (args.next(), args.next()) else {
        eprintln!("usage: leader-candidate <election> <id>");
        std::process::exit(2);
    };
    let sync = EtcdSync::from_env().unwrap_or_else(|e| fail("sync", &e));
    let store = StoreOptions::from_env()
        .and_then(EtcdStore::new)
        .unwrap_or_else(|e| fail("store", &e));
    let mut stop = std::pin::pin!(micro_runtime::shutdown_signal());
    loop {
        let term = tokio::select! {
            term = sync.campaign(&election, &id) => term.unwrap_or_else(|e| fail("campaign", &e)),
            () = &mut stop => return,
        };
        let token = term.token();
        println!("term start {token} {}", now_ns());
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = term.lost() => {}
                () = &mut stop => {
                    println!("term end {token} {} resigned", now_ns());
                    let _ = term.resign().await;
                    return;
                }
            }
            // Right before acting: is the term still ours? (The time is
            // read first: the write is decided inside the term; a pause
            // after the check is what the fence is for.)
            let sent = now_ns();
            if let Err(err) = term.check() {
                println!("term end {token} {} {}", ended_ns(&term), err.detail());
                // Show the fence at work: a write with the lost term's token.
                match write(&store, &election, &id, token).await {
                    Ok(()) => println!("stale write {token} ok"),
                    Err(err) => println!("stale write {token} {}", err.code()),
                }
                break;
            }
            match write(&store, &election, &id, token).await {
                Ok(()) => println!("write ok {token} {sent} {}", now_ns()),
                Err(err) if err.is_conflict() => {
                    println!("write rejected {token} {sent} {}", err.code())
                }
                Err(err) => println!("write failed {token} {sent} {}", err.code()),
            }
        }
    }
}
