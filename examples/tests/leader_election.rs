//! Leader election under faults, with real processes on a real etcd: three
//! `leader-candidate`s (lease TTL 2 s) campaign; the leader writes to an
//! etcd store every ~50 ms, fenced with its term's token. Each round:
//!
//! 1. `kill -9` the leader: another one leads (the figure printed is the
//!    time from the kill to the new term's start);
//! 2. `SIGSTOP` the new leader past its TTL: another one leads and writes;
//!    `SIGCONT`: the old leader says it lost before any write of its own
//!    succeeds, and its write with the old token is refused (409);
//!
//! and over the whole test (3) no two processes' believed terms overlap in
//! wall-clock time (the candidates log them; one machine, one clock).
//!
//! Needs `MICRO_TEST_ETCD` (skipped without it, unless
//! `MICRO_TEST_REQUIRE_BACKENDS=1`). `MICRO_TEST_SYNC_ROUNDS` rounds (default 2).
#![cfg(feature = "etcd")]

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Proc;

const CANDIDATE: &str = env!("CARGO_BIN_EXE_leader-candidate");
/// Generous bound on anything awaited (a new leader takes about the TTL).
const BOUND: Duration = Duration::from_secs(30);
const TTL: &str = "2s";

fn etcd_address() -> Option<String> {
    match std::env::var("MICRO_TEST_ETCD") {
        Ok(address) if !address.trim().is_empty() => Some(address),
        _ => {
            assert!(
                std::env::var("MICRO_TEST_REQUIRE_BACKENDS").as_deref() != Ok("1"),
                "MICRO_TEST_ETCD is not set and MICRO_TEST_REQUIRE_BACKENDS=1"
            );
            println!("skipped: MICRO_TEST_ETCD not set");
            None
        }
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// One line of a candidate.
#[derive(Clone, Debug, PartialEq)]
enum Event {
    Start { token: u64, at: u128 },
    End { token: u64, at: u128, why: String },
    WriteOk { token: u64, sent: u128 },
    WriteRefused { token: u64, sent: u128, code: u16 },
    Stale { token: u64, outcome: String },
}

fn parse(line: &str) -> Event {
    let words: Vec<&str> = line.split_whitespace().collect();
    let num = |i: usize| -> u128 {
        words
            .get(i)
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("bad line {line:?}"))
    };
    match (words.first().copied(), words.get(1).copied()) {
        (Some("term"), Some("start")) => Event::Start {
            token: num(2) as u64,
            at: num(3),
        },
        (Some("term"), Some("end")) => Event::End {
            token: num(2) as u64,
            at: num(3),
            why: words[4..].join(" "),
        },
        (Some("write"), Some("ok")) => Event::WriteOk {
            token: num(2) as u64,
            sent: num(3),
        },
        (Some("write"), Some("rejected" | "failed")) => Event::WriteRefused {
            token: num(2) as u64,
            sent: num(3),
            code: num(4) as u16,
        },
        (Some("stale"), Some("write")) => Event::Stale {
            token: num(2) as u64,
            outcome: words[3].to_owned(),
        },
        _ => panic!("unexpected line {line:?}"),
    }
}

/// The candidates and everything they said, with when the test read it.
struct Election {
    env: Vec<(String, String)>,
    name: String,
    procs: Vec<Option<Proc>>,
    events: Vec<Vec<(u128, Event)>>,
    /// When each process was killed (its term, if any, ended then at the latest).
    killed: Vec<Option<u128>>,
}

impl Election {
    fn spawn(&mut self) -> usize {
        let i = self.procs.len();
        let mut cmd = Command::new(CANDIDATE);
        cmd.args([&self.name, &format!("c{i}")])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "warn");
        self.procs
            .push(Some(Proc::spawn(&format!("candidate c{i}"), cmd)));
        self.events.push(Vec::new());
        self.killed.push(None);
        i
    }

    /// Reads lines until `until` holds (bounded); what it returned.
    fn wait<T>(&mut self, what: &str, mut until: impl FnMut(&Self) -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + BOUND;
        loop {
            if let Some(found) = until(self) {
                return found;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "never saw {what}; events: {:#?}\nstderr: {:?}",
                self.events,
                self.procs
                    .iter()
                    .flatten()
                    .map(Proc::stderr)
                    .collect::<Vec<_>>()
            );
            for (i, proc) in self.procs.iter().enumerate() {
                let Some(proc) = proc else { continue };
                while let Some(line) = proc.next_line(Duration::from_millis(5)) {
                    self.events[i].push((now_ns(), parse(&line)));
                }
            }
        }
    }

    /// The process that started the highest term above `above`, and that term.
    fn leader_above(&self, above: u64) -> Option<(usize, u64, u128)> {
        self.events
            .iter()
            .enumerate()
            .flat_map(|(i, events)| events.iter().map(move |(_, e)| (i, e)))
            .filter_map(|(i, e)| match e {
                Event::Start { token, at } if *token > above => Some((i, *token, *at)),
                _ => None,
            })
            .max_by_key(|(_, token, _)| *token)
    }

    /// The leader of the highest term above `above`, once it wrote in
    /// that term and while it has not said the term ended.
    fn writing(&self, above: u64) -> Option<(usize, u64)> {
        let (i, term, _) = self.leader_above(above)?;
        let events = &self.events[i];
        let wrote = events
            .iter()
            .any(|(_, e)| matches!(e, Event::WriteOk { token, .. } if *token == term));
        let ended = events
            .iter()
            .any(|(_, e)| matches!(e, Event::End { token, .. } if *token == term));
        (wrote && !ended && self.killed[i].is_none()).then_some((i, term))
    }

    fn signal(&self, i: usize, signal: &str) {
        self.procs[i].as_ref().unwrap().signal(signal);
    }

    /// Every believed term: (process, token, start, end); `u128::MAX`
    /// for a term still running.
    fn terms(&self) -> Vec<(usize, u64, u128, u128)> {
        let mut terms = Vec::new();
        for (i, events) in self.events.iter().enumerate() {
            for (_, event) in events {
                if let Event::Start { token, at } = event {
                    let end = events
                        .iter()
                        .find_map(|(_, e)| match e {
                            Event::End { token: t, at, .. } if t == token => Some(*at),
                            _ => None,
                        })
                        .or(self.killed[i])
                        .unwrap_or(u128::MAX);
                    terms.push((i, *token, *at, end));
                }
            }
        }
        terms.sort_by_key(|t| t.2);
        terms
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        for proc in self.procs.iter().flatten() {
            // A stopped process cannot die of SIGKILL until continued? It
            // can; continue it anyway so nothing lingers stopped.
            let _ = Command::new("kill")
                .arg("-CONT")
                .arg(proc.pid().to_string())
                .status();
        }
    }
}

fn ms(ns: u128) -> f64 {
    ns as f64 / 1e6
}

#[test]
fn leaders_fail_over_and_terms_never_overlap() {
    let Some(address) = etcd_address() else {
        return;
    };
    let rounds: usize = std::env::var("MICRO_TEST_SYNC_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2);
    let unique = format!("{}-{:08x}", std::process::id(), fastrand::u32(..));
    let mut election = Election {
        env: vec![
            ("MICRO_SYNC_ADDRESS".into(), address.clone()),
            ("MICRO_SYNC_TTL".into(), TTL.into()),
            (
                "MICRO_SYNC_PREFIX".into(),
                format!("/micro-test/election-{unique}/"),
            ),
            ("MICRO_STORE_ADDRESS".into(), address.clone()),
            ("MICRO_STORE_DATABASE".into(), format!("test-{unique}")),
        ],
        name: "leader".into(),
        procs: Vec::new(),
        events: Vec::new(),
        killed: Vec::new(),
    };
    for _ in 0..3 {
        election.spawn();
    }
    let (mut after_kill, mut after_stop) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        // (1) kill -9 the leader once it writes.
        let (leader, term) = election.wait("a leader that writes", |e| e.writing(0));
        let killed_at = now_ns();
        election.signal(leader, "KILL");
        election.killed[leader] = Some(killed_at);
        election.procs[leader].as_mut().unwrap().wait_exit(BOUND);
        let (next, _, started) = election.wait("a leader after kill -9", |e| e.leader_above(term));
        assert_ne!(next, leader);
        after_kill.push(started - killed_at);
        election.procs[leader] = None;
        election.spawn();

        // (2) SIGSTOP the leader past its TTL, then SIGCONT.
        let (old, old_term) = election.wait("a leader that writes", |e| e.writing(0));
        let stopped_at = now_ns();
        election.signal(old, "STOP");
        let (next, _, started) =
            election.wait("a leader after SIGSTOP", |e| e.leader_above(old_term));
        assert_ne!(next, old);
        after_stop.push(started - stopped_at);
        election.wait("the new leader's write", |e| e.writing(old_term));
        let continued_at = now_ns();
        election.signal(old, "CONT");
        let end = election.wait("the old leader's term end", |e| {
            e.events[old]
                .iter()
                .position(|(_, ev)| matches!(ev, Event::End { token, .. } if *token == old_term))
        });
        // Before it noticed, it attempted no write in the old term after
        // SIGCONT (a write answered before the stop may be logged late; its
        // send time says so).
        for (_, event) in &election.events[old][..end] {
            if let Event::WriteOk { token, sent } | Event::WriteRefused { token, sent, .. } = event
            {
                assert!(
                    !(*token == old_term && *sent > continued_at),
                    "the stopped leader wrote after SIGCONT before noticing it lost: {:?}",
                    election.events[old]
                );
            }
        }
        let Event::End { why, .. } = &election.events[old][end].1 else {
            unreachable!()
        };
        assert!(
            why.contains("not renewed in time") || why.contains("expired or was revoked"),
            "{why}"
        );
        // Its write with the lost term's token is fenced off.
        let outcome = election.wait("the stale write", |e| {
            e.events[old].iter().find_map(|(_, ev)| match ev {
                Event::Stale { token, outcome } if *token == old_term => Some(outcome.clone()),
                _ => None,
            })
        });
        assert_eq!(outcome, "409", "the fence must refuse the old token");
    }

    // (3) No two believed terms overlap; tokens grow with time.
    let terms = election.terms();
    for pair in terms.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(b.1 > a.1, "tokens must grow: {terms:?}");
        assert!(
            a.3 <= b.2,
            "terms overlap: c{} held {} until {}, c{} started {} at {}: {terms:?}",
            a.0,
            a.1,
            a.3,
            b.0,
            b.1,
            b.2
        );
    }
    // Every write that succeeded was sent inside its process's term.
    for (i, events) in election.events.iter().enumerate() {
        for (_, event) in events {
            if let Event::WriteOk { token, sent } = event {
                let (_, _, start, end) = terms
                    .iter()
                    .find(|t| t.0 == i && t.1 == *token)
                    .copied()
                    .expect("a write belongs to a term");
                assert!(
                    start <= *sent && *sent <= end,
                    "c{i} wrote at {sent} outside its term {token} [{start}, {end}]: {events:?}"
                );
            }
            if let Event::WriteRefused { code, .. } = event {
                println!("c{i}: a write was refused with {code}");
            }
        }
    }
    let gaps: Vec<String> = terms
        .windows(2)
        .map(|p| format!("{:.0}", ms(p[1].2 - p[0].3)))
        .collect();
    println!(
        "TTL {TTL}, {rounds} rounds: new leader after kill -9 (ms): {:?}; after SIGSTOP (ms): {:?}; gaps between terms (ms): {gaps:?}",
        after_kill
            .iter()
            .map(|d| ms(*d).round())
            .collect::<Vec<_>>(),
        after_stop
            .iter()
            .map(|d| ms(*d).round())
            .collect::<Vec<_>>(),
    );
    for i in 0..election.procs.len() {
        if election.procs[i].is_some() {
            election.signal(i, "TERM");
        }
    }
}
