//! What a gateway is configured with.

use std::time::Duration;

use micro_runtime::{Client, Error};

use crate::RateLimit;
use crate::access::Access;
use crate::auth::Token;
use crate::origin::Origins;

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
    pub(crate) token: Option<Token>,
    pub(crate) insecure: bool,
    pub(crate) origins: Origins,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) trust_forwarded: bool,
    pub(crate) max_concurrent: usize,
    pub(crate) dashboard: bool,
    pub(crate) describe_client: Option<Client>,
    #[cfg(feature = "metrics")]
    pub(crate) metrics: Option<micro_runtime::metrics::Metrics>,
}

/// The default limit on calls in flight per service.
const MAX_CONCURRENT: usize = 256;

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            namespace: String::new(),
            max_body: 4 << 20,
            timeout: Duration::from_secs(30),
            access: Access::default(),
            forward_credentials: false,
            token: None,
            insecure: false,
            origins: Origins::default(),
            rate_limit: None,
            trust_forwarded: false,
            max_concurrent: MAX_CONCURRENT,
            dashboard: true,
            describe_client: None,
            #[cfg(feature = "metrics")]
            metrics: None,
        }
    }
}

impl GatewayOptions {
    /// The defaults: no namespace, 4 MiB bodies, 30 s per call, `Debug.*`
    /// denied, no credentials forwarded, no auth token (so loopback only),
    /// no CORS origin, no rate limit, 256 calls in flight per service.
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

    /// Also pass `Cookie` and non-bearer `Authorization` headers on as
    /// call metadata (default: dropped, so a browser's credentials for the
    /// gateway's origin do not reach every service). A bearer
    /// `Authorization` always passes (browsers never send one by
    /// themselves): it is the caller's token for the services. When the
    /// gateway has its own [`auth_token`](Self::auth_token), that header
    /// is the gateway's; the services' token then comes as
    /// `X-Micro-Authorization: Bearer <jwt>`.
    pub fn forward_credentials(mut self, forward: bool) -> Self {
        self.forward_credentials = forward;
        self
    }

    /// The client the gateway fetches services' descriptions with (for
    /// `/openapi.json`, the dashboard and request schemas): one presenting
    /// the gateway's own token (`BearerToken`) to services that verify
    /// tokens, whose `Debug.Describe` is not open. Callers' calls never go
    /// through it, so an anonymous caller cannot borrow that token.
    /// Default: the gateway's client.
    pub fn describe_client(mut self, client: Client) -> Self {
        self.describe_client = Some(client);
        self
    }

    /// Every route but `/health` wants `Authorization: Bearer <token>`
    /// (compared in constant time); others answer 401 with
    /// `WWW-Authenticate: Bearer`. The header is removed once checked: it
    /// is the gateway's credential, not the services'. The token never
    /// appears in `Debug` output, logs or errors. Default: none, which
    /// [`listen`](crate::listen) allows on loopback addresses only.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(Token::new(token.into()));
        self
    }

    /// Lets [`listen`](crate::listen) serve beyond loopback without an
    /// auth token: anyone who reaches the address can call every allowed
    /// endpoint. Without a token and without this, the router also
    /// answers only requests addressed to `localhost` or an IP address
    /// (`Host`), not to a DNS name, which could be a web page's DNS
    /// rebinding attack on a gateway on the user's machine. Default: false.
    pub fn insecure(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// The origins web pages may call the gateway from
    /// (`https://app.example.com`, `http://localhost:3000`, or `*` for
    /// any): CORS preflights are answered and responses carry
    /// `Access-Control-Allow-Origin` for them. A request whose `Origin` is
    /// any other answers 403, so a web page cannot call services through
    /// a gateway on the user's machine; so does one the browser marks as
    /// from another site (`Sec-Fetch-Site`, for an `<img>` or a link that
    /// sends no `Origin`). Requests without either (curl, scripts) pass.
    /// Default: none (no CORS headers; only the gateway's own pages on a
    /// loopback host may call it from a browser).
    pub fn cors_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let origins: Vec<S> = origins.into_iter().collect();
        self.origins = Origins::new(origins.iter().map(AsRef::as_ref));
        self
    }

    /// At most `rate` requests per client address (IPv6: per /64
    /// network), over every route; a client over it gets 429 with
    /// `Retry-After` (whole seconds). The address is the peer's, unless
    /// [`trust_forwarded`](Self::trust_forwarded). Default: no limit.
    pub fn rate_limit(mut self, rate: RateLimit) -> Self {
        self.rate_limit = Some(rate);
        self
    }

    /// The gateway runs behind a proxy of your own: a client's address
    /// (for the rate limit) is the last one in `X-Forwarded-For`, the one
    /// that proxy saw, and a web app gets the incoming `X-Forwarded-*`
    /// extended, not replaced. Only with a proxy that sets the header:
    /// otherwise any client can pick its own address. Default: false (the
    /// peer's address; incoming `X-Forwarded-*` dropped).
    pub fn trust_forwarded(mut self, trust: bool) -> Self {
        self.trust_forwarded = trust;
        self
    }

    /// At most `max` calls in flight per service through the gateway (a
    /// stream or a web app's request counts until it ends); one more
    /// answers 503 at once, never waits. 0: no limit. Default 256.
    pub fn max_concurrent(mut self, max: usize) -> Self {
        self.max_concurrent = max;
        self
    }

    /// Serves the web dashboard at `/` (its pages, its API under
    /// `/dashboard/`, and `/login` when there is a token). Default: true.
    pub fn dashboard(mut self, dashboard: bool) -> Self {
        self.dashboard = dashboard;
        self
    }

    /// Counts every HTTP request (by method, route and status) and every
    /// call the gateway makes in `metrics`, and serves them at `GET
    /// /metrics` (behind the token, like every route but `/health`).
    #[cfg(feature = "metrics")]
    pub fn metrics(mut self, metrics: micro_runtime::metrics::Metrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Checks the options that [`router`](crate::router) cannot refuse:
    /// the token's and the origins' form.
    ///
    /// # Errors
    ///
    /// 400 saying which option is wrong (never quoting the token).
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(token) = &self.token {
            token.check()?;
        }
        self.origins.check()
    }
}
