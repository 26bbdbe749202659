//! The fault suite: three greeter-server processes and a client process
//! sending steady calls to the idempotent `Greeter.Hello`, while nodes crash,
//! hang, stop gracefully and restart. Every scenario runs in a private
//! network namespace, is bounded in time, and prints the figures it measured
//! (lines starting `FIGURES`; run with `--nocapture` to see them).

mod common;

use std::time::{Duration, Instant};

use common::{LoadLine, Netns, Proc, load, load_summary, server, stop_server, wait_load};
#[cfg(feature = "nats")]
use common::{nats_server, nats_server_binary};

/// Short registration TTL so a crashed node leaves discovery quickly.
const TTL_SECS: u64 = 3;

/// A namespace, its discovery backend, and the environment every process of
/// the cluster gets.
struct Cluster {
    /// The etcd of the cluster (etcd clusters only); dropped after `ns`'s users.
    #[cfg(feature = "etcd")]
    etcd: Option<etcd::Etcd>,
    /// The NATS server the calls travel through (NATS clusters only).
    #[cfg(feature = "nats")]
    _nats: Option<Proc>,
    env: Vec<(String, String)>,
    name: &'static str,
    ns: Netns,
}

impl Cluster {
    fn mdns() -> Self {
        Cluster {
            #[cfg(feature = "etcd")]
            etcd: None,
            #[cfg(feature = "nats")]
            _nats: None,
            ns: Netns::new(),
            env: vec![("MICRO_REGISTRY".into(), "mdns".into())],
            name: "mdns",
        }
    }

    /// A cluster discovering over mDNS whose calls travel over NATS (the
    /// transport `nats`), through a NATS server of its own inside the
    /// namespace; `None` without a nats-server binary.
    #[cfg(feature = "nats")]
    fn nats() -> Option<Self> {
        let binary = nats_server_binary()?;
        let ns = Netns::new();
        let nats = nats_server(&ns, &binary);
        Some(Cluster {
            #[cfg(feature = "etcd")]
            etcd: None,
            _nats: Some(nats),
            ns,
            env: vec![
                ("MICRO_REGISTRY".into(), "mdns".into()),
                ("MICRO_TRANSPORT".into(), "nats".into()),
                (
                    "MICRO_TRANSPORT_ADDRESS".into(),
                    "nats://127.0.0.1:4222".into(),
                ),
            ],
            name: "mdns+nats",
        })
    }

    /// A cluster discovering through an etcd of its own, inside the namespace.
    #[cfg(feature = "etcd")]
    fn etcd() -> Self {
        let ns = Netns::new();
        let etcd = etcd::Etcd::start(&ns);
        Cluster {
            etcd: Some(etcd),
            #[cfg(feature = "nats")]
            _nats: None,
            ns,
            env: vec![
                ("MICRO_REGISTRY".into(), "etcd".into()),
                ("MICRO_REGISTRY_ADDRESS".into(), etcd::ADDRESS.into()),
            ],
            name: "etcd",
        }
    }

    fn env(&self, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut env = self.env.clone();
        env.push(("MICRO_REGISTER_TTL".into(), format!("{TTL_SECS}s")));
        env.push(("MICRO_REGISTER_INTERVAL".into(), "1s".into()));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    }

    fn server(&self, name: &str, extra: &[(&str, &str)]) -> Proc {
        let env = self.env(extra);
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        server(&self.ns, name, &pairs)
    }

    fn servers(&self, n: usize, extra: &[(&str, &str)]) -> Vec<Proc> {
        (1..=n)
            .map(|i| self.server(&format!("server-{i}"), extra))
            .collect()
    }

    fn load(&self, extra: &[(&str, &str)], args: &[&str]) -> Proc {
        load(&self.ns, &self.env(extra), args)
    }
}

fn report(scenario: &str, cluster: &Cluster, figures: String) {
    println!("FIGURES [{} / {scenario}] {figures}", cluster.name);
}

fn kill_9_fails_nothing(cluster: Cluster) {
    let mut servers = cluster.servers(3, &[]);
    let load = cluster.load(
        &[],
        &[
            "--rate",
            "200",
            "--concurrency",
            "4",
            "--duration",
            "10s",
            "--nodes",
            "3",
        ],
    );
    wait_load(&load, Duration::from_secs(15), |l| l.nodes == 3 && l.ok > 0);
    let doomed = servers.remove(0);
    doomed.signal("KILL");
    let killed = Instant::now();
    wait_load(&load, Duration::from_secs(15), |l| l.nodes == 2);
    let left_after = killed.elapsed();
    drop(doomed);
    let total = load_summary(load);
    report(
        "kill -9",
        &cluster,
        format!("{total:?}; node left discovery after {left_after:?} (TTL {TTL_SECS} s)"),
    );
    assert_eq!(total.failed, 0, "{total:?}");
    assert!(
        left_after <= Duration::from_millis(TTL_SECS * 1000 + 1500),
        "left after {left_after:?}"
    );
    for s in servers {
        stop_server(s);
    }
}

fn sigterm_in_flight_fails_nothing(cluster: Cluster) {
    let mut servers = cluster.servers(3, &[("GREETER_DELAY_MS", "200")]);
    // Unpaced: 24 calls of 200 ms always in flight, spread over the nodes.
    let load = cluster.load(
        &[],
        &[
            "--rate",
            "0",
            "--concurrency",
            "24",
            "--duration",
            "5s",
            "--timeout",
            "3s",
            "--nodes",
            "3",
        ],
    );
    wait_load(&load, Duration::from_secs(15), |l| l.nodes == 3 && l.ok > 0);
    let started = Instant::now();
    let served = stop_server(servers.remove(0));
    let took = started.elapsed();
    let total = load_summary(load);
    report(
        "SIGTERM in flight",
        &cluster,
        format!("{total:?}; the stopped node served {served} calls, stopping took {took:?}"),
    );
    assert!(served > 0);
    assert_eq!(total.failed, 0, "{total:?}");
    for s in servers {
        stop_server(s);
    }
}

fn sigstop_is_ejected_and_readmitted(cluster: Cluster) {
    let servers = cluster.servers(3, &[]);
    let load = cluster.load(
        &[],
        &[
            "--rate",
            "200",
            "--concurrency",
            "8",
            "--duration",
            "60s",
            "--timeout",
            "1s",
            "--nodes",
            "3",
        ],
    );
    wait_load(&load, Duration::from_secs(15), |l| l.nodes == 3 && l.ok > 0);
    // The level before the fault: the median window p99 of two seconds.
    let mut p99s: Vec<u64> = (0..10)
        .map(|_| wait_load(&load, Duration::from_secs(5), |_| true).p99_us)
        .collect();
    p99s.sort_unstable();
    let baseline = p99s[p99s.len() / 2];

    servers[0].signal("STOP");
    let stopped = Instant::now();
    wait_load(&load, Duration::from_secs(15), |l| l.ejected == 1);
    let ejected_after = stopped.elapsed();
    // Recovered: three windows in a row near the baseline, without failures.
    let level = baseline * 3 + 5_000;
    let mut good = 0;
    let recovered: LoadLine = wait_load(&load, Duration::from_secs(15), |l| {
        good = if l.p99_us <= level && l.failed == 0 {
            good + 1
        } else {
            0
        };
        good == 3
    });
    let recovered_after = stopped.elapsed();

    servers[0].signal("CONT");
    let resumed = Instant::now();
    wait_load(&load, Duration::from_secs(40), |l| l.ejected == 0);
    let readmitted_after = resumed.elapsed();
    load.signal("TERM");
    let total = load_summary(load);
    report(
        "SIGSTOP",
        &cluster,
        format!(
            "p99 before {baseline} us; ejected {ejected_after:?} after SIGSTOP; p99 back to {} us \
             {recovered_after:?} after SIGSTOP; re-admitted {readmitted_after:?} after SIGCONT; {total:?}",
            recovered.p99_us
        ),
    );
    assert!(
        total.errors.keys().all(|code| code == "408"),
        "only calls to the hung node fail, by timeout: {total:?}"
    );
    assert!(
        recovered_after <= Duration::from_secs(10),
        "p99 recovered after {recovered_after:?}"
    );
    for s in servers {
        stop_server(s);
    }
}

fn rolling_restart_fails_nothing(cluster: Cluster) {
    let mut servers = cluster.servers(3, &[]);
    let load = cluster.load(
        &[],
        &[
            "--rate",
            "200",
            "--concurrency",
            "8",
            "--duration",
            "90s",
            "--nodes",
            "3",
        ],
    );
    wait_load(&load, Duration::from_secs(15), |l| l.nodes == 3 && l.ok > 0);
    let started = Instant::now();
    for round in 1..=3 {
        stop_server(servers.remove(0));
        wait_load(&load, Duration::from_secs(15), |l| l.nodes == 2);
        servers.push(cluster.server(&format!("server-{}", round + 3), &[]));
        // The client knows the replacement before the next node goes.
        wait_load(&load, Duration::from_secs(15), |l| l.nodes == 3);
    }
    let took = started.elapsed();
    load.signal("TERM");
    let total = load_summary(load);
    report(
        "rolling restart",
        &cluster,
        format!("{total:?}; 3 restarts in {took:?}"),
    );
    assert_eq!(total.failed, 0, "{total:?}");
    for s in servers {
        stop_server(s);
    }
}

fn round_robin_splits_evenly(cluster: Cluster) {
    let servers = cluster.servers(3, &[]);
    let load = cluster.load(
        &[("MICRO_SELECTOR", "roundrobin")],
        &[
            "--rate",
            "0",
            "--concurrency",
            "4",
            "--calls",
            "3000",
            "--duration",
            "60s",
            "--nodes",
            "3",
        ],
    );
    let total = load_summary(load);
    assert_eq!(total.ok, 3000, "{total:?}");
    let served: Vec<u64> = servers.into_iter().map(stop_server).collect();
    report(
        "round robin",
        &cluster,
        format!("3000 calls split {served:?}"),
    );
    for n in &served {
        assert!(
            (950..=1050).contains(n),
            "each node within 5 % of 1000: {served:?}"
        );
    }
}

#[test]
fn mdns_kill_9_fails_nothing() {
    kill_9_fails_nothing(Cluster::mdns());
}

/// The same kill -9, with every call travelling over NATS: requests to the
/// dead node meet no responders (not sent, so retried elsewhere), calls it
/// had in flight fail 503 once a probe finds it gone, and retried.
#[cfg(feature = "nats")]
#[test]
fn nats_kill_9_fails_nothing() {
    if let Some(cluster) = Cluster::nats() {
        kill_9_fails_nothing(cluster);
    }
}

/// SIGTERM over NATS: the node unsubscribes (its requests go to the others)
/// and finishes the calls it has.
#[cfg(feature = "nats")]
#[test]
fn nats_sigterm_with_calls_in_flight_fails_nothing() {
    if let Some(cluster) = Cluster::nats() {
        sigterm_in_flight_fails_nothing(cluster);
    }
}

#[test]
fn mdns_sigterm_with_calls_in_flight_fails_nothing() {
    sigterm_in_flight_fails_nothing(Cluster::mdns());
}

#[test]
fn mdns_sigstop_is_ejected_and_readmitted() {
    sigstop_is_ejected_and_readmitted(Cluster::mdns());
}

#[test]
fn mdns_rolling_restart_fails_nothing() {
    rolling_restart_fails_nothing(Cluster::mdns());
}

#[test]
fn mdns_round_robin_splits_evenly() {
    round_robin_splits_evenly(Cluster::mdns());
}

#[cfg(feature = "etcd")]
mod etcd {
    //! An etcd inside a test's network namespace, which the test can stop
    //! and start again on the same data directory.

    use std::process::Command;
    use std::time::{Duration, Instant};

    use super::common::{Netns, Proc};

    pub(super) const ADDRESS: &str = "127.0.0.1:2379";

    pub(super) struct Etcd {
        pub(super) proc: Option<Proc>,
        dir: std::path::PathBuf,
    }

    impl Etcd {
        pub(super) fn start(ns: &Netns) -> Etcd {
            let dir = std::env::temp_dir().join(format!(
                "micro-fault-etcd-{}-{:x}",
                std::process::id(),
                fastrand::u64(..)
            ));
            let mut etcd = Etcd { proc: None, dir };
            etcd.restart(ns);
            etcd
        }

        /// Starts (again) on the same data directory; waits until it serves.
        pub(super) fn restart(&mut self, ns: &Netns) {
            let mut cmd = ns.command("etcd");
            cmd.arg("--data-dir")
                .arg(&self.dir)
                .args(["--listen-client-urls", "http://127.0.0.1:2379"])
                .args(["--advertise-client-urls", "http://127.0.0.1:2379"])
                .args(["--listen-peer-urls", "http://127.0.0.1:2380"]);
            self.proc = Some(Proc::spawn("etcd", cmd));
            let deadline = Instant::now() + Duration::from_secs(20);
            while !healthy(ns) {
                assert!(Instant::now() < deadline, "etcd did not come up");
                std::thread::sleep(Duration::from_millis(50));
            }
        }

        /// Stops it (SIGKILL: no goodbye, like a crash or a partition).
        pub(super) fn stop(&mut self) {
            if let Some(mut proc) = self.proc.take() {
                proc.signal("KILL");
                proc.wait_exit(Duration::from_secs(10));
            }
        }
    }

    impl Drop for Etcd {
        fn drop(&mut self) {
            self.stop();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn etcdctl(ns: &Netns) -> Command {
        let mut cmd = ns.command("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .args(["--endpoints", ADDRESS, "--command-timeout=2s"]);
        cmd
    }

    fn healthy(ns: &Netns) -> bool {
        etcdctl(ns)
            .args(["endpoint", "health"])
            .output()
            .is_ok_and(|o| o.status.success())
    }

    /// Keys of the greeter's nodes in etcd now.
    pub(super) fn greeter_keys(ns: &Netns) -> usize {
        let out = etcdctl(ns)
            .args([
                "get",
                "--prefix",
                "--keys-only",
                "/micro/registry/com.example.srv.greeter/",
            ])
            .output()
            .expect("running etcdctl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
    }
}

/// The registry goes away for 10 s and comes back: calls keep succeeding
/// from the cache, and every node is registered again without a restart.
#[cfg(feature = "etcd")]
fn etcd_outage_fails_nothing(mut cluster: Cluster) {
    let servers = cluster.servers(3, &[]);
    let load = cluster.load(
        &[],
        &[
            "--rate",
            "200",
            "--concurrency",
            "4",
            "--duration",
            "60s",
            "--nodes",
            "3",
        ],
    );
    wait_load(&load, Duration::from_secs(15), |l| l.nodes == 3 && l.ok > 0);
    let etcd = cluster.etcd.as_mut().expect("an etcd cluster");
    etcd.stop();
    let stopped = Instant::now();
    // Ten seconds of calls without a registry.
    while stopped.elapsed() < Duration::from_secs(10) {
        let line = wait_load(&load, Duration::from_secs(5), |_| true);
        assert_eq!(
            line.failed, 0,
            "a call failed while etcd was down: {line:?}"
        );
    }
    etcd.restart(&cluster.ns);
    let restarted = Instant::now();
    let deadline = restarted + Duration::from_secs(20);
    while etcd::greeter_keys(&cluster.ns) < 3 {
        assert!(
            Instant::now() < deadline,
            "the nodes did not register again"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let registered_after = restarted.elapsed();
    // Still there two TTLs later: the heartbeats keep the leases alive (a
    // lease that came back from the data dir alone would have expired).
    while restarted.elapsed() < Duration::from_secs(2 * TTL_SECS + 1) {
        let line = wait_load(&load, Duration::from_secs(5), |_| true);
        assert_eq!(line.failed, 0, "{line:?}");
    }
    assert_eq!(
        etcd::greeter_keys(&cluster.ns),
        3,
        "every node stays registered"
    );
    wait_load(&load, Duration::from_secs(15), |l| l.nodes == 3);
    load.signal("TERM");
    let total = load_summary(load);
    report(
        "etcd stopped 10 s",
        &cluster,
        format!(
            "{total:?}; all 3 nodes registered again {registered_after:?} after etcd restarted"
        ),
    );
    assert_eq!(total.failed, 0, "{total:?}");
    for s in servers {
        stop_server(s);
    }
}

#[cfg(feature = "etcd")]
#[test]
fn etcd_kill_9_fails_nothing() {
    kill_9_fails_nothing(Cluster::etcd());
}

#[cfg(feature = "etcd")]
#[test]
fn etcd_sigstop_is_ejected_and_readmitted() {
    sigstop_is_ejected_and_readmitted(Cluster::etcd());
}

#[cfg(feature = "etcd")]
#[test]
fn etcd_stopped_for_10s_fails_nothing_and_nodes_register_again() {
    etcd_outage_fails_nothing(Cluster::etcd());
}

#[cfg(feature = "etcd")]
#[test]
fn etcd_rolling_restart_fails_nothing() {
    rolling_restart_fails_nothing(Cluster::etcd());
}

#[cfg(feature = "etcd")]
#[test]
fn etcd_round_robin_splits_evenly() {
    round_robin_splits_evenly(Cluster::etcd());
}
