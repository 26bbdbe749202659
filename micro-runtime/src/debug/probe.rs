//! Asking one node for its health, as tools (the `micro health` command,
//! the dashboard) do.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::health::{HEALTH, HealthRequest};
use crate::client::{CallOptions, Client};
use crate::error::Error;

/// What one node answered to `Debug.Health`.
#[derive(Clone, Debug)]
pub struct NodeHealth {
    /// `ok`, another status the node reported, or the failed call's
    /// status and code (e.g. `service unavailable (503)`).
    pub status: String,
    /// True when the node answered `ok`.
    pub healthy: bool,
    /// How long the answer took.
    pub latency: Duration,
    /// The error, when the call failed.
    pub error: Option<Error>,
}

/// Calls `Debug.Health` of `service` on the node at `address`, once (no
/// retry, no other node), within `timeout`.
pub async fn probe_health(
    client: &Client,
    service: &str,
    address: &str,
    timeout: Duration,
) -> NodeHealth {
    let options = CallOptions::new()
        .address(address)
        .timeout(timeout)
        .retries(0);
    let started = Instant::now();
    let result = client
        .call(&Arc::from(service), &HEALTH, &HealthRequest {}, &options)
        .await;
    let latency = started.elapsed();
    match result {
        Ok(answer) => NodeHealth {
            healthy: answer.status == "ok",
            status: answer.status,
            latency,
            error: None,
        },
        Err(err) => NodeHealth {
            status: format!("{} ({})", err.status().to_ascii_lowercase(), err.code()),
            healthy: false,
            latency,
            error: Some(err),
        },
    }
}
