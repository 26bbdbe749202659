//! What a gateway is configured with.

use std::time::Duration;

use crate::access::Access;

/// How a gateway resolves, limits and filters calls.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use micro_gateway::GatewayOptions;
///
/// let options = GatewayOptions::new()
///     .namespace("com.example.srv")
///     .timeout(Duration::from_secs(10))
///     .max_body(1 << 20)
///     .deny(["Debug.*", "Admin.*"]);
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    pub(crate) namespace: String,
    pub(crate) max_body: usize,
    pub(crate) timeout: Duration,
    pub(crate) access: Access,
    pub(crate) forward_credentials: bool,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            namespace: String::new(),
            max_body: 4 << 20,
            timeout: Duration::from_secs(30),
            access: Access::default(),
            forward_credentials: false,
        }
    }
}

impl GatewayOptions {
    /// The defaults: no namespace, 4 MiB bodies, 30 s per call, `Debug.*`
    /// denied, no credentials forwarded.
    pub fn new() -> Self {
        Self::default()
    }

    /// The namespace short paths are tried in first: with
    /// `com.example.srv`, `/api/greeter/hello` calls
    /// `com.example.srv.greeter` even when another `*.greeter` runs.
    /// Default: none (a short name resolves to the one service ending in
    /// it); see the crate docs' resolution table.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into().trim_end_matches('.').to_owned();
        self
    }

    /// The largest request body in bytes; larger ones answer 413.
    /// Default 4 MiB.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// How long a call may take when the request sets no `Timeout`
    /// header. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Only endpoints matching one of these patterns may be called (default:
    /// all). A pattern is an endpoint name with `*` wildcards
    /// (`Greeter.*`), or `service/endpoint` (`*.greeter/Greeter.Hello`).
    pub fn allow<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.access.allow = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Endpoints matching any of these patterns answer 403, whatever
    /// [`allow`](Self::allow) says. Replaces the default `Debug.*`; pass an
    /// empty list to deny nothing.
    pub fn deny<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.access.deny = patterns.into_iter().map(Into::into).collect();
        self
    }

    /// Also pass `Authorization` and `Cookie` headers on as call metadata
    /// (default: dropped, so a browser's credentials for the gateway's
    /// origin do not reach every service).
    pub fn forward_credentials(mut self, forward: bool) -> Self {
        self.forward_credentials = forward;
        self
    }
}
