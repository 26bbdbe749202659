//! `Debug.Health` of the nodes the pages show, with the latency of each
//! answer; answers are kept a few seconds, so that a page load and the
//! live list do not ask every node again and again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use micro_runtime::Client;
use micro_runtime::debug::probe_health;
use serde::Serialize;

/// How long an answer is reused.
const FRESH: Duration = Duration::from_secs(3);

/// How long a node may take to answer before it counts as down.
const TIMEOUT: Duration = Duration::from_secs(2);

/// One node's health.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeHealth {
    /// It answered `ok`.
    pub(crate) healthy: bool,
    /// `ok`, what it answered instead, or the error (`unavailable (503)`).
    pub(crate) status: String,
    /// How long the answer took, in milliseconds (one decimal).
    pub(crate) latency_ms: f64,
}

/// Recent answers by `(service, address)`.
#[derive(Debug, Default)]
pub(crate) struct HealthCache {
    answers: Mutex<HashMap<(String, String), (Instant, NodeHealth)>>,
}

impl HealthCache {
    /// A shared, empty cache.
    pub(crate) fn new() -> Arc<Self> {
        Arc::default()
    }

    /// The health of the node of `service` at each of `addresses`, asked
    /// concurrently (or recent answers), in the same order.
    pub(crate) async fn check_all(
        &self,
        client: &Client,
        service: &str,
        addresses: &[String],
    ) -> Vec<NodeHealth> {
        join_all(addresses.iter().map(|a| self.check(client, service, a))).await
    }

    async fn check(&self, client: &Client, service: &str, address: &str) -> NodeHealth {
        let key = (service.to_owned(), address.to_owned());
        if let Some((at, health)) = self.answers.lock().unwrap().get(&key)
            && at.elapsed() < FRESH
        {
            return health.clone();
        }
        let health = ask(client, service, address).await;
        let mut answers = self.answers.lock().unwrap();
        answers.retain(|_, (at, _)| at.elapsed() < FRESH * 10);
        answers.insert(key, (Instant::now(), health.clone()));
        health
    }
}

/// Calls `Debug.Health` on the node at `address`, once, without retries.
async fn ask(client: &Client, service: &str, address: &str) -> NodeHealth {
    let answer = probe_health(client, service, address, TIMEOUT).await;
    NodeHealth {
        healthy: answer.healthy,
        status: answer.status,
        latency_ms: (answer.latency.as_secs_f64() * 10_000.0).round() / 10.0,
    }
}
