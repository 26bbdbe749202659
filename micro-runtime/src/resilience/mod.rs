#![doc = include_str!("../../../docs/resilience.md")]

mod breaker;
mod concurrency;
mod rate;

use crate::{Result, env_vars};

pub use self::breaker::{Broken, CircuitBreaker, CircuitState, Ticket};
pub use self::concurrency::{ConcurrencyLimit, ConcurrencyLimited, Permit};
pub use self::rate::{Rate, RateKey, RateLimit, RateLimited};

/// The error type of the tower services here.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl RateLimit {
    /// `MICRO_RATE_LIMIT` (`100/s`) per `MICRO_RATE_LIMIT_BY` (`service`,
    /// the default, `subject` or `metadata:<key>`), or `None` when unset.
    ///
    /// # Errors
    ///
    /// 400 when a variable does not parse.
    pub fn from_env() -> Result<Option<Self>> {
        let Some(rate) = env_vars::string("MICRO_RATE_LIMIT") else {
            return Ok(None);
        };
        let mut limit = RateLimit::new(rate.parse()?);
        if let Some(key) = env_vars::string("MICRO_RATE_LIMIT_BY") {
            limit = limit.key(key.parse()?);
        }
        Ok(Some(limit))
    }
}

impl ConcurrencyLimit {
    /// `MICRO_CONCURRENCY_LIMIT` calls in flight, or `None` when unset or 0.
    ///
    /// # Errors
    ///
    /// 400 when it is not a number.
    pub fn from_env() -> Result<Option<Self>> {
        Ok(env_vars::number("MICRO_CONCURRENCY_LIMIT")?
            .filter(|&n| n > 0)
            .map(|n| ConcurrencyLimit::new(n as usize)))
    }
}

impl CircuitBreaker {
    /// Opens after `MICRO_BREAKER_FAILURES` consecutive failures for
    /// `MICRO_BREAKER_COOLDOWN` (default 5s); `None` when the first is
    /// unset or 0.
    ///
    /// # Errors
    ///
    /// 400 when a variable does not parse.
    pub fn from_env() -> Result<Option<Self>> {
        let Some(failures) = env_vars::number("MICRO_BREAKER_FAILURES")?.filter(|&n| n > 0) else {
            return Ok(None);
        };
        let cool_down = env_vars::duration("MICRO_BREAKER_COOLDOWN")?
            .unwrap_or(std::time::Duration::from_secs(5));
        Ok(Some(CircuitBreaker::new(failures, cool_down)))
    }
}
