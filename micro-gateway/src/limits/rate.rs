//! The rate limit per client address: a keyed GCRA limiter (the
//! `governor` crate) in front of every route, answering 429 with
//! `Retry-After` to a client over its rate.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use micro_runtime::Error;

use super::client;
use crate::failure::Failure;

/// How often the addresses whose budget is full again are forgotten.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// A request rate: `count` requests per `period`, e.g. `100/s` or
/// `6000/m`. A client may send `count` requests at once, then one more
/// each `period / count` (GCRA: a bucket of `count` refilled evenly).
///
/// # Examples
///
/// ```
/// use micro_gateway::RateLimit;
///
/// let rate: RateLimit = "6000/m".parse().unwrap();
/// assert_eq!(rate.to_string(), "6000/m");
/// assert!("100/fortnight".parse::<RateLimit>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    count: NonZeroU32,
    period: Duration,
}

impl RateLimit {
    /// `count` requests per `period`.
    ///
    /// # Errors
    ///
    /// 400 for a zero count or a period shorter than one nanosecond per
    /// request.
    pub fn new(count: u32, period: Duration) -> Result<Self, Error> {
        let count = NonZeroU32::new(count)
            .ok_or_else(|| Error::bad_request("a rate limit allows at least 1 request"))?;
        if (period / count.get()).is_zero() {
            return Err(Error::bad_request(format!(
                "a rate limit of {count} per {period:?} is too fast to measure"
            )));
        }
        Ok(Self { count, period })
    }

    /// `count` requests per second.
    ///
    /// # Errors
    ///
    /// 400 for zero.
    pub fn per_second(count: u32) -> Result<Self, Error> {
        Self::new(count, Duration::from_secs(1))
    }

    fn quota(self) -> Quota {
        Quota::with_period(self.period / self.count.get())
            .expect("checked by new")
            .allow_burst(self.count)
    }
}

impl FromStr for RateLimit {
    type Err = Error;

    /// `N/s`, `N/m` or `N/h` (also `sec`, `min`, `hour` and their plurals).
    fn from_str(text: &str) -> Result<Self, Error> {
        let wrong = || {
            Error::bad_request(format!(
                "rate limit {text:?} is not COUNT/UNIT (e.g. 100/s, 6000/m, 10000/h)"
            ))
        };
        let (count, unit) = text.trim().split_once('/').ok_or_else(wrong)?;
        let count: u32 = count.trim().parse().map_err(|_| wrong())?;
        let period = match unit.trim() {
            "s" | "sec" | "secs" | "second" | "seconds" => 1,
            "m" | "min" | "mins" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3600,
            _ => return Err(wrong()),
        };
        Self::new(count, Duration::from_secs(period))
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 if self.period.subsec_nanos() == 0 => "s",
            60 if self.period.subsec_nanos() == 0 => "m",
            3600 if self.period.subsec_nanos() == 0 => "h",
            _ => return write!(f, "{} per {:?}", self.count, self.period),
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The limiter every request passes: one budget per client address.
pub(crate) struct Limiter {
    rate: RateLimit,
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
    trust_forwarded: bool,
    last_sweep: Mutex<Instant>,
}

impl Limiter {
    /// A limiter allowing `rate` per client address.
    pub(crate) fn new(rate: RateLimit, trust_forwarded: bool) -> Arc<Self> {
        Arc::new(Self {
            rate,
            limiter: DefaultKeyedRateLimiter::keyed(rate.quota()),
            clock: DefaultClock::default(),
            trust_forwarded,
            last_sweep: Mutex::new(Instant::now()),
        })
    }

    /// `Ok` when `address` may send one more request now, else how long
    /// it has to wait.
    fn check(&self, address: IpAddr) -> Result<(), Duration> {
        self.sweep();
        self.limiter
            .check_key(&client::key(address))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// At most once per [`SWEEP_EVERY`], forgets the addresses whose
    /// budget is full again (they behave as new ones), so a flood from
    /// many addresses holds memory only while they are over their rate.
    fn sweep(&self) {
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return;
        };
        if last.elapsed() < SWEEP_EVERY {
            return;
        }
        *last = Instant::now();
        drop(last);
        self.sweep_now();
    }

    fn sweep_now(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
}

/// Answers 429 with `Retry-After` (whole seconds, at least 1) to a client
/// over its rate; passes the others on.
pub(crate) async fn limit_rate(
    State(limiter): State<Arc<Limiter>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = client::peer(request.extensions());
    // Served without connect info: every client shares one budget.
    let address = client::address(request.headers(), peer, limiter.trust_forwarded)
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    match limiter.check(address) {
        Ok(()) => next.run(request).await,
        Err(wait) => too_many(address, limiter.rate, wait),
    }
}

/// The 429 answer.
fn too_many(address: IpAddr, rate: RateLimit, wait: Duration) -> Response {
    let seconds = retry_after(wait);
    let mut response = Failure(Error::too_many_requests(format!(
        "too many requests from {address}: the gateway allows {rate} per client address; \
         retry in {seconds} s"
    )))
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// `wait` in whole seconds, rounded up, at least 1.
fn retry_after(wait: Duration) -> u64 {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    seconds.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        let rate: RateLimit = "100/s".parse().unwrap();
        assert_eq!(rate, RateLimit::per_second(100).unwrap());
        assert_eq!(rate.to_string(), "100/s");
        assert_eq!(
            " 6000 / min ".parse::<RateLimit>().unwrap().to_string(),
            "6000/m"
        );
        assert_eq!("5/hour".parse::<RateLimit>().unwrap().to_string(), "5/h");
        for bad in ["", "100", "0/s", "-1/s", "x/s", "100/d", "100/", "1/s/s"] {
            let err = bad.parse::<RateLimit>().unwrap_err();
            assert!(err.is_bad_request(), "{bad}: {err}");
        }
        let odd = RateLimit::new(3, Duration::from_millis(1500)).unwrap();
        assert_eq!(odd.to_string(), "3 per 1.5s");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after(Duration::ZERO), 1);
        assert_eq!(retry_after(Duration::from_millis(200)), 1);
        assert_eq!(retry_after(Duration::from_secs(1)), 1);
        assert_eq!(retry_after(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after(Duration::from_secs(59)), 59);
    }

    #[test]
    fn budgets_are_per_address() {
        let limiter = Limiter::new("2/m".parse().unwrap(), false);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(limiter.check(a).is_ok());
        assert!(limiter.check(a).is_ok());
        let wait = limiter.check(a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert!(limiter.check(b).is_ok());
    }

    #[test]
    fn sweeping_forgets_full_budgets() {
        // One request per millisecond: a budget is full again 1 ms after
        // its last request.
        let limiter = Limiter::new(RateLimit::new(1, Duration::from_millis(1)).unwrap(), false);
        for i in 0..10_000u32 {
            let address = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            assert!(limiter.check(address).is_ok());
        }
        assert_eq!(limiter.limiter.len(), 10_000);
        std::thread::sleep(Duration::from_millis(20));
        limiter.sweep_now();
        assert_eq!(limiter.limiter.len(), 0);
    }
}
