//! Connections to the etcd endpoints: one lazily connected gRPC channel per
//! endpoint, a time limit on every call, and failover to the next endpoint
//! when one cannot be reached.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use super::pb::etcdserverpb::kv_client::KvClient;
use super::pb::etcdserverpb::lease_client::LeaseClient;
use super::pb::etcdserverpb::watch_client::WatchClient;
use crate::Error;

/// The largest answer accepted from etcd (a full listing of a big registry
/// is one message; tonic's default limit is 4 MiB).
const MAX_MESSAGE: usize = 64 << 20;

/// How often an HTTP/2 ping checks a connection that has calls or watches
/// open, so a watch over a dead network path breaks instead of hanging.
/// (etcd refuses pings more often than every 5 s, and pings on idle
/// connections.)
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where etcd listens unless told otherwise.
pub(crate) const DEFAULT_ADDRESS: &str = "127.0.0.1:2379";

/// The endpoints of a comma-separated `address` (`None` or nothing but
/// commas and spaces: [`DEFAULT_ADDRESS`]).
pub(crate) fn endpoints(address: Option<&str>) -> Vec<String> {
    let endpoints: Vec<String> = address
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if endpoints.is_empty() {
        vec![DEFAULT_ADDRESS.to_owned()]
    } else {
        endpoints
    }
}

struct Target {
    /// As configured, for messages.
    address: String,
    endpoint: Endpoint,
    channel: OnceLock<Channel>,
}

/// The endpoints of one etcd cluster.
pub(crate) struct Client {
    targets: Vec<Target>,
    /// The endpoint that answered last; calls start there.
    current: AtomicUsize,
    timeout: Duration,
    /// The error id of what uses this client (`micro.registry`, `micro.store`, …).
    id: &'static str,
}

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No endpoint answered in time (503).
    Unreachable(Error),
    /// An endpoint answered with an error.
    Refused {
        /// The endpoint.
        address: String,
        /// Its answer.
        status: Status,
        /// The error id of the client's user.
        id: &'static str,
    },
}

impl Failure {
    /// etcd does not know the lease the call named (expired or revoked).
    pub(crate) fn is_lease_not_found(&self) -> bool {
        matches!(self, Failure::Refused { status, .. }
            if status.code() == Code::NotFound && status.message().contains("lease not found"))
    }
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::Unreachable(err) => err,
            Failure::Refused {
                address,
                status,
                id,
            } => Error::internal(format!(
                "etcd at {address} refused the request: {:?}: {}",
                status.code(),
                reason(&status)
            ))
            .with_id(id),
        }
    }
}

/// The status's message and the errors under it, e.g. `transport error:
/// tcp connect error: Connection refused (os error 111)`.
pub(crate) fn reason(status: &Status) -> String {
    let mut text = status.message().to_owned();
    let mut source = std::error::Error::source(status);
    while let Some(err) = source {
        let part = err.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        source = err.source();
    }
    if text.is_empty() {
        text = format!("{:?}", status.code());
    }
    text
}

/// Whether a status means "this endpoint cannot serve now" (try another,
/// or later) rather than "the request is wrong".
fn is_unreachable(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::DataLoss
    )
}

/// The 503 for an etcd that cannot be reached.
pub(crate) fn unavailable(detail: impl std::fmt::Display) -> Error {
    Error::unavailable(format!("etcd unreachable: {detail}"))
}

impl Client {
    /// Endpoints as `host:port` or `http://host:port`.
    ///
    /// # Errors
    ///
    /// 400 for an empty list, an `https://` endpoint or one that is not a URI.
    pub(crate) fn new(
        id: &'static str,
        endpoints: &[String],
        connect_timeout: Duration,
        timeout: Duration,
    ) -> crate::Result<Self> {
        let mut targets = Vec::new();
        for address in endpoints.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let uri = if address.contains("://") {
                if !address.starts_with("http://") {
                    return Err(Error::bad_request(format!(
                        "etcd endpoint {address:?}: only plain http:// endpoints are supported"
                    ))
                    .with_id(id));
                }
                address.to_owned()
            } else {
                format!("http://{address}")
            };
            let endpoint = Endpoint::from_shared(uri)
                .map_err(|e| {
                    Error::bad_request(format!("etcd endpoint {address:?}: {e}")).with_id(id)
                })?
                .connect_timeout(connect_timeout)
                .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
                .keep_alive_timeout(KEEPALIVE_TIMEOUT)
                .keep_alive_while_idle(false);
            targets.push(Target {
                address: address.to_owned(),
                endpoint,
                channel: OnceLock::new(),
            });
        }
        if targets.is_empty() {
            return Err(Error::bad_request("no etcd endpoint configured").with_id(id));
        }
        Ok(Self {
            targets,
            current: AtomicUsize::new(0),
            timeout,
            id,
        })
    }

    /// The error id given to [`Client::new`].
    pub(crate) fn id(&self) -> &'static str {
        self.id
    }

    /// The configured endpoints.
    pub(crate) fn addresses(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.address.as_str()).collect()
    }

    fn channel(&self, index: usize) -> Channel {
        let target = &self.targets[index];
        target
            .channel
            .get_or_init(|| target.endpoint.connect_lazy())
            .clone()
    }

    /// Runs `op` against the endpoint that answered last, moving on to the
    /// next one while an endpoint cannot be reached. Each attempt has the
    /// per-call time limit. Returns the answer and the endpoint that gave it.
    ///
    /// # Errors
    ///
    /// [`Failure::Unreachable`] naming every endpoint and why, when none
    /// answered; [`Failure::Refused`] when one answered with an error.
    pub(crate) async fn call<T, F, Fut>(&self, what: &str, op: F) -> Result<(T, &str), Failure>
    where
        F: Fn(Stubs) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let count = self.targets.len();
        let start = self.current.load(Ordering::Relaxed) % count;
        let mut failures = Vec::new();
        for step in 0..count {
            let index = (start + step) % count;
            let address = self.targets[index].address.as_str();
            let stubs = Stubs(self.channel(index));
            match tokio::time::timeout(self.timeout, op(stubs)).await {
                Ok(Ok(value)) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok((value, address));
                }
                Ok(Err(status)) if !is_unreachable(&status) => {
                    return Err(Failure::Refused {
                        address: address.to_owned(),
                        status,
                        id: self.id,
                    });
                }
                Ok(Err(status)) => failures.push(format!("{address}: {}", reason(&status))),
                Err(_) => failures.push(format!(
                    "{address}: no answer within {} ms",
                    self.timeout.as_millis()
                )),
            }
        }
        tracing::debug!(what, failures = ?failures, "etcd unreachable");
        Err(Failure::Unreachable(
            unavailable(format!("{what}: {}", failures.join("; "))).with_id(self.id),
        ))
    }
}

/// The generated clients over one endpoint's channel.
pub(crate) struct Stubs(Channel);

impl Stubs {
    pub(crate) fn kv(&self) -> KvClient<Channel> {
        KvClient::new(self.0.clone()).max_decoding_message_size(MAX_MESSAGE)
    }

    pub(crate) fn lease(&self) -> LeaseClient<Channel> {
        LeaseClient::new(self.0.clone()).max_decoding_message_size(MAX_MESSAGE)
    }

    pub(crate) fn watch(&self) -> WatchClient<Channel> {
        WatchClient::new(self.0.clone()).max_decoding_message_size(MAX_MESSAGE)
    }
}
