use std::time::Duration;

use super::pool::PoolOptions;
use crate::Metadata;
use crate::codec::ContentType;
use crate::env_vars;
use crate::selector::{NodeFilter, OutlierPolicy};

/// Options of one call, overriding the client's defaults.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use micro_runtime::CallOptions;
///
/// let opts = CallOptions::new()
///     .timeout(Duration::from_millis(250))
///     .metadata("x-request-id", "42")
///     .retries(0);
/// # let _ = opts;
/// ```
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) metadata: Metadata,
    pub(crate) retries: Option<u32>,
    pub(crate) content_type: Option<ContentType>,
    pub(crate) address: Option<String>,
    pub(crate) idempotent: Option<bool>,
    pub(crate) filter: NodeFilter,
}

impl CallOptions {
    /// No override.
    pub fn new() -> Self {
        Self::default()
    }

    /// How long the call may take in all (retries included). The deadline of
    /// the current context, when earlier, still applies.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl AsRef<str>, value: impl Into<String>) -> Self {
        self.metadata.insert(key, value);
        self
    }

    /// Most retries after the first attempt.
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// The codec to call with.
    pub fn content_type(mut self, content_type: ContentType) -> Self {
        self.content_type = Some(content_type);
        self
    }

    /// Calls this node address directly, bypassing discovery and selection.
    pub fn address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    /// Declares the call safe to repeat, so it is retried after a timeout.
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = Some(idempotent);
        self
    }

    /// Only nodes running this version of the service.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.filter.version = Some(version.into());
        self
    }

    /// Only nodes whose registered metadata (the node's, else its service
    /// version's) has `key` = `value`; may be given several times, all must
    /// match.
    pub fn node_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.filter.require(key.into(), value.into());
        self
    }

    /// These options with every option set in `over` replacing ours
    /// (metadata is merged).
    pub fn overlay(&self, over: &CallOptions) -> CallOptions {
        let mut metadata = self.metadata.clone();
        metadata.merge(&over.metadata);
        let mut filter = self.filter.clone();
        if over.filter.version.is_some() {
            filter.version = over.filter.version.clone();
        }
        filter.metadata.extend(over.filter.metadata.iter().cloned());
        CallOptions {
            timeout: over.timeout.or(self.timeout),
            metadata,
            retries: over.retries.or(self.retries),
            content_type: over.content_type.or(self.content_type),
            address: over.address.clone().or_else(|| self.address.clone()),
            idempotent: over.idempotent.or(self.idempotent),
            filter,
        }
    }
}

/// Defaults of a client.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Timeout of a unary call when neither the caller nor the endpoint sets
    /// one (`MICRO_CLIENT_REQUEST_TIMEOUT`, default 5 s).
    pub request_timeout: Duration,
    /// Retries after the first attempt (`MICRO_CLIENT_RETRIES`, default 2).
    pub retries: u32,
    /// First retry backoff; doubles per retry, with full jitter.
    pub backoff_base: Duration,
    /// Longest retry backoff.
    pub backoff_max: Duration,
    /// Connection pool tuning (`MICRO_CLIENT_POOL_SIZE`, `MICRO_CLIENT_POOL_TTL`).
    pub pool: PoolOptions,
    /// Outlier ejection of failing nodes.
    pub outlier: OutlierPolicy,
    /// Extra load retries may add, as a share of calls
    /// (`MICRO_CLIENT_RETRY_BUDGET`, default 0.2).
    pub retry_budget: f64,
    /// The id put on errors raised by the client itself.
    pub id: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(5),
            retries: 2,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_secs(1),
            pool: PoolOptions::default(),
            outlier: OutlierPolicy::default(),
            retry_budget: 0.2,
            id: "micro.client".into(),
        }
    }
}

impl ClientOptions {
    /// Defaults overridden by the `MICRO_CLIENT_*` environment variables.
    ///
    /// # Errors
    ///
    /// 400 naming the variable whose value does not parse.
    pub fn from_env() -> crate::Result<Self> {
        let mut options = Self::default();
        if let Some(t) = env_vars::duration("MICRO_CLIENT_REQUEST_TIMEOUT")? {
            options.request_timeout = t;
        }
        if let Some(n) = env_vars::number("MICRO_CLIENT_RETRIES")? {
            options.retries = n;
        }
        if let Some(n) = env_vars::number("MICRO_CLIENT_POOL_SIZE")? {
            options.pool.size = (n as usize).max(1);
        }
        if let Some(t) = env_vars::duration("MICRO_CLIENT_POOL_TTL")? {
            options.pool.idle_ttl = t;
        }
        if let Some(t) = env_vars::duration("MICRO_CLIENT_DIAL_TIMEOUT")? {
            options.pool.dial_timeout = t;
        }
        if let Some(ratio) = env_vars::string("MICRO_CLIENT_RETRY_BUDGET") {
            options.retry_budget = ratio.trim().parse().map_err(|_| {
                crate::Error::bad_request(format!(
                    "MICRO_CLIENT_RETRY_BUDGET={ratio:?} is not a ratio such as 0.2"
                ))
            })?;
        }
        if let Some(n) = env_vars::number("MICRO_CLIENT_OUTLIER_FAILURES")? {
            options.outlier.consecutive_failures = n;
        }
        Ok(options)
    }
}
