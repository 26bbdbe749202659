//! A token bucket per service or per caller (GCRA, the `governor` crate):
//! over it, 429 with the time to wait.

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};
use tower_layer::Layer;
use tower_service::Service;

use super::BoxError;
use crate::chain::{Next, Wrapper};
use crate::server::wrapper::{HandlerRequest, HandlerResponse};
use crate::{Error, Result};

/// A rate: `count` calls per `period`, e.g. `100/s`, `6000/m`, `10000/h`.
/// Up to `count` calls may come at once, then one more each
/// `period / count`.
///
/// # Examples
///
/// ```
/// use micro_runtime::resilience::Rate;
///
/// let rate: Rate = "100/s".parse()?;
/// assert_eq!(rate.to_string(), "100/s");
/// assert!("100/fortnight".parse::<Rate>().is_err());
/// # Ok::<(), micro_runtime::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    count: NonZeroU32,
    period: Duration,
}

impl Rate {
    /// `count` calls per `period`.
    ///
    /// # Errors
    ///
    /// 400 for a zero count, or a period too short to split among them.
    pub fn new(count: u32, period: Duration) -> Result<Self> {
        let count = NonZeroU32::new(count)
            .ok_or_else(|| Error::bad_request("a rate limit allows at least 1 call"))?;
        if (period / count.get()).is_zero() {
            return Err(Error::bad_request(format!(
                "a rate of {count} per {period:?} is too fast to measure"
            )));
        }
        Ok(Self { count, period })
    }

    fn quota(self) -> Quota {
        Quota::with_period(self.period / self.count.get())
            .expect("checked by new")
            .allow_burst(self.count)
    }
}

impl FromStr for Rate {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let wrong = || {
            Error::bad_request(format!(
                "rate {text:?} is not COUNT/UNIT (e.g. 100/s, 6000/m, 10000/h)"
            ))
        };
        let (count, unit) = text.trim().split_once('/').ok_or_else(wrong)?;
        let count: u32 = count.trim().parse().map_err(|_| wrong())?;
        let seconds = match unit.trim() {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            _ => return Err(wrong()),
        };
        Self::new(count, Duration::from_secs(seconds))
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.period.as_secs() {
            1 => write!(f, "{}/s", self.count),
            60 => write!(f, "{}/m", self.count),
            3600 => write!(f, "{}/h", self.count),
            _ => write!(f, "{} per {:?}", self.count, self.period),
        }
    }
}

/// Whose budget a call spends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RateKey {
    /// One budget for the whole service (`MICRO_RATE_LIMIT_BY=service`).
    Service,
    /// One per verified token subject (`subject`; needs the auth wrapper
    /// before this one; calls without claims share one budget).
    Subject,
    /// One per value of a metadata key (`metadata:x-api-key`; calls
    /// without it share one budget).
    Metadata(String),
}

impl FromStr for RateKey {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text.trim() {
            "service" => Ok(Self::Service),
            "subject" => Ok(Self::Subject),
            other => match other.strip_prefix("metadata:") {
                Some(key) if !key.trim().is_empty() => Ok(Self::Metadata(key.trim().to_owned())),
                _ => Err(Error::bad_request(format!(
                    "rate limit key {other:?} is not service, subject or metadata:<key>"
                ))),
            },
        }
    }
}

/// Governor's clock over tokio's, so a paused test clock drives it.
#[derive(Clone, Debug)]
pub(super) struct TokioClock {
    start: tokio::time::Instant,
}

impl TokioClock {
    pub(super) fn new() -> Self {
        Self {
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.start.elapsed())
    }
}

type Limiter = RateLimiter<String, HashMapStateStore<String>, TokioClock, NoOpMiddleware<Nanos>>;

/// Budgets kept before the full ones are forgotten.
const SWEEP_AT: usize = 10_000;

/// A rate limit: a handler wrapper (per service or per caller, see
/// [`RateKey`]) and a tower layer (one budget for the layer). A call over
/// the rate fails with 429 whose detail ends with `retry after <ms>ms`
/// (errors carry no metadata on the wire, so the detail says when).
///
/// # Examples
///
/// ```no_run
/// use micro_runtime::resilience::{RateKey, RateLimit};
/// use micro_runtime::Service;
///
/// # fn main() -> micro_runtime::Result<()> {
/// let limit = RateLimit::new("100/s".parse()?).key(RateKey::Subject);
/// let service = Service::builder().name("greeter").wrap_handler(limit).build()?;
/// # let _ = service; Ok(()) }
/// ```
#[derive(Clone)]
pub struct RateLimit {
    rate: Rate,
    key: RateKey,
    limiter: Arc<Limiter>,
    clock: TokioClock,
    refused: Arc<AtomicU64>,
}

impl fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimit")
            .field("rate", &self.rate)
            .field("key", &self.key)
            .finish()
    }
}

impl RateLimit {
    /// At most `rate` calls, one budget for the service.
    pub fn new(rate: Rate) -> Self {
        let clock = TokioClock::new();
        Self {
            rate,
            key: RateKey::Service,
            limiter: Arc::new(RateLimiter::hashmap_with_clock(rate.quota(), clock.clone())),
            clock,
            refused: Arc::default(),
        }
    }

    /// Whose budget a call spends (default: the service's).
    pub fn key(mut self, key: RateKey) -> Self {
        self.key = key;
        self
    }

    /// Calls refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Spends one call of `key`'s budget.
    ///
    /// # Errors
    ///
    /// 429 when it is spent, saying when to retry.
    pub fn check(&self, key: &str) -> Result<()> {
        if self.limiter.len() > SWEEP_AT {
            self.limiter.retain_recent();
        }
        let key = key.to_owned();
        self.limiter.check_key(&key).map_err(|not_until| {
            self.refused.fetch_add(1, Ordering::Relaxed);
            let now = self.clock.now();
            let wait = not_until.wait_time_from(now);
            Error::too_many_requests(format!(
                "rate limit {} exceeded{}: retry after {}ms",
                self.rate,
                if key.is_empty() {
                    String::new()
                } else {
                    format!(" for {key}")
                },
                wait.as_nanos().div_ceil(1_000_000).max(1)
            ))
        })
    }

    fn key_of(&self, req: &HandlerRequest) -> String {
        match &self.key {
            RateKey::Service => String::new(),
            RateKey::Subject => crate::auth::claims(req.context())
                .and_then(|c| c.subject())
                .map_or_else(|| "anonymous".to_owned(), |s| format!("subject {s}")),
            RateKey::Metadata(name) => req
                .context()
                .metadata()
                .get(name)
                .map_or_else(|| format!("no {name}"), |v| format!("{name} {v}")),
        }
    }
}

impl Wrapper<HandlerRequest, HandlerResponse> for RateLimit {
    fn call(
        &self,
        req: HandlerRequest,
        next: Next<HandlerRequest, HandlerResponse>,
    ) -> BoxFuture<'static, Result<HandlerResponse>> {
        // Health checks are never refused: a busy node is not a dead one.
        if req.endpoint().name != "Debug.Health"
            && let Err(err) = self.check(&self.key_of(&req))
        {
            return Box::pin(async move { Err(err) });
        }
        next.run(req)
    }
}

impl<S> Layer<S> for RateLimit {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            limit: self.clone(),
        }
    }
}

/// A tower service behind a [`RateLimit`] (one budget).
#[derive(Clone, Debug)]
pub struct RateLimited<S> {
    inner: S,
    limit: RateLimit,
}

impl<S, R> Service<R> for RateLimited<S>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, std::result::Result<S::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: R) -> Self::Future {
        if let Err(err) = self.limit.check("") {
            return Box::pin(async move { Err(err.into()) });
        }
        let call = self.inner.call(req);
        Box::pin(async move { call.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_refused_then_the_bucket_refills() {
        let limit = RateLimit::new("3/s".parse().unwrap());
        for _ in 0..3 {
            limit.check("ada").unwrap();
        }
        let err = limit.check("ada").unwrap_err();
        assert!(err.is_too_many_requests());
        assert!(err.detail().ends_with("retry after 334ms"), "{err}");
        // Another caller has a budget of its own.
        limit.check("bob").unwrap();
        tokio::time::advance(Duration::from_millis(333)).await;
        assert!(limit.check("ada").is_err(), "not refilled yet");
        tokio::time::advance(Duration::from_millis(1)).await;
        limit.check("ada").unwrap();
        assert_eq!(limit.refused(), 2);
    }

    #[test]
    fn rates_and_keys_parse() {
        assert_eq!("6000/m".parse::<Rate>().unwrap().to_string(), "6000/m");
        assert!("0/s".parse::<Rate>().unwrap_err().is_bad_request());
        assert!("x/s".parse::<Rate>().is_err());
        assert_eq!("subject".parse::<RateKey>().unwrap(), RateKey::Subject);
        assert_eq!(
            "metadata:x-api-key".parse::<RateKey>().unwrap(),
            RateKey::Metadata("x-api-key".into())
        );
        assert!("metadata:".parse::<RateKey>().is_err());
    }
}
