//! Pub/sub across processes on the default HTTP broker, discovering each
//! other over mDNS in a private network namespace.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Netns, Proc};

const PUBSUB: &str = env!("CARGO_BIN_EXE_pubsub");

fn subscriber(ns: &Netns, name: &str, queue: Option<&str>) -> Proc {
    let mut cmd = ns.command(PUBSUB);
    cmd.arg("subscribe");
    if let Some(queue) = queue {
        cmd.args(["--queue", queue]);
    }
    let proc = Proc::spawn(name, cmd);
    proc.wait_line("subscribed", Duration::from_secs(20));
    proc
}

/// Reads `received <seq> …` lines from `procs` until `done` says enough
/// (bounded by 60 s); returns the sequence numbers each one received.
fn collect(procs: &[Proc], done: impl Fn(&[Vec<i64>]) -> bool) -> Vec<Vec<i64>> {
    let mut got = vec![Vec::new(); procs.len()];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(&got) {
        assert!(
            Instant::now() < deadline,
            "deliveries stalled: {:?}",
            got.iter().map(Vec::len).collect::<Vec<_>>()
        );
        for (i, proc) in procs.iter().enumerate() {
            while let Some(line) = proc.next_line(Duration::from_millis(5)) {
                if let Some(seq) = line
                    .strip_prefix("received ")
                    .and_then(|r| r.split(' ').next())
                {
                    got[i].push(seq.parse().unwrap());
                }
            }
        }
    }
    got
}

#[test]
fn a_queue_group_shares_and_broadcast_subscribers_each_get_all() {
    let ns = Netns::new();
    let workers: Vec<Proc> = (1..=3)
        .map(|i| subscriber(&ns, &format!("worker-{i}"), Some("workers")))
        .collect();
    let auditors: Vec<Proc> = (1..=2)
        .map(|i| subscriber(&ns, &format!("auditor-{i}"), None))
        .collect();

    let mut publisher = Proc::spawn("publisher", {
        let mut cmd = ns.command(PUBSUB);
        cmd.args(["publish", "--count", "3000", "--wait-subscribers", "5"]);
        cmd
    });
    let started = Instant::now();
    assert!(
        publisher.wait_exit(Duration::from_secs(120)).success(),
        "{}",
        publisher.stderr()
    );
    assert_eq!(publisher.rest(), vec!["published 3000"]);

    let group = collect(&workers, |got| {
        got.iter().map(Vec::len).sum::<usize>() >= 3000
    });
    let broadcast = collect(&auditors, |got| got.iter().all(|g| g.len() >= 3000));
    let took = started.elapsed();
    let mut counts: HashMap<i64, usize> = HashMap::new();
    for seq in group.iter().flatten() {
        *counts.entry(*seq).or_default() += 1;
    }
    println!(
        "FIGURES [http broker] 3000 events in {took:?}; group members got {:?}",
        group.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(counts.len(), 3000);
    assert!(
        counts.values().all(|&n| n == 1),
        "a group member got a duplicate"
    );
    assert!(
        group.iter().all(|g| !g.is_empty()),
        "every member shared the work"
    );
    for got in &broadcast {
        let mut sorted = got.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (1..=3000).collect::<Vec<_>>());
    }
    for mut proc in workers.into_iter().chain(auditors) {
        proc.signal("TERM");
        assert!(
            proc.wait_exit(Duration::from_secs(20)).success(),
            "{}",
            proc.stderr()
        );
    }
}

#[test]
fn the_one_process_demo_prints_each_event_once() {
    let ns = Netns::new();
    let mut demo = Proc::spawn("pubsub", ns.command(PUBSUB));
    assert!(
        demo.wait_exit(Duration::from_secs(30)).success(),
        "{}",
        demo.stderr()
    );
    let mut lines = demo.rest();
    lines.sort();
    let mut expected: Vec<String> = (1..=10)
        .map(|i| format!("received {i} event number {i}"))
        .collect();
    expected.sort();
    assert_eq!(lines, expected);
}
