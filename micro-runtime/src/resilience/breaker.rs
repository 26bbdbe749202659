//! A client-side circuit breaker per service: closed, open after N
//! consecutive failures (503 without calling), half-open after a
//! cool-down (one probe), closed again when the probe succeeds.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::time::Instant;
use tower_layer::Layer;
use tower_service::Service;

use super::BoxError;
use crate::chain::{Next, Wrapper};
use crate::client::wrapper::{ClientRequest, ClientResponse};
use crate::{Error, Result};

/// Where a circuit stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls fail at once with 503 until the cool-down ends.
    Open,
    /// The cool-down ended: one probe call is let through.
    HalfOpen,
}

#[derive(Debug)]
struct Circuit {
    state: State,
    failures: u32,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen,
}

/// A circuit breaker: a client wrapper with one circuit per service, and
/// a tower layer with one circuit. A failure is a 5xx or 408 (a node down,
/// overloaded or too slow), not a caller's mistake (4xx).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use micro_runtime::resilience::{CircuitBreaker, CircuitState};
///
/// let breaker = CircuitBreaker::new(5, Duration::from_secs(10));
/// assert_eq!(breaker.state("greeter"), CircuitState::Closed);
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    failures: u32,
    cool_down: Duration,
    circuits: Arc<Mutex<HashMap<String, Circuit>>>,
}

/// A call let through, to report its outcome; dropped without one (the
/// call was cancelled), a probe lets the next call probe instead.
#[derive(Debug)]
pub struct Ticket {
    breaker: CircuitBreaker,
    key: String,
    done: bool,
}

impl CircuitBreaker {
    /// Opens after `failures` consecutive failures (at least 1), for
    /// `cool_down`.
    pub fn new(failures: u32, cool_down: Duration) -> Self {
        Self {
            failures: failures.max(1),
            cool_down,
            circuits: Arc::default(),
        }
    }

    /// The state of `key`'s circuit (a service name for the wrapper).
    pub fn state(&self, key: &str) -> CircuitState {
        let circuits = self.circuits.lock().expect("breaker lock");
        match circuits.get(key).map(|c| c.state) {
            None | Some(State::Closed) => CircuitState::Closed,
            Some(State::Open { until }) if Instant::now() < until => CircuitState::Open,
            Some(State::Open { .. } | State::HalfOpen) => CircuitState::HalfOpen,
        }
    }

    /// Lets a call to `key` through, or not.
    ///
    /// # Errors
    ///
    /// 503 while the circuit is open, or half-open with its probe in flight.
    pub fn admit(&self, key: &str) -> Result<Ticket> {
        let mut circuits = self.circuits.lock().expect("breaker lock");
        let circuit = circuits.entry(key.to_owned()).or_insert(Circuit {
            state: State::Closed,
            failures: 0,
        });
        match circuit.state {
            State::Closed => {}
            State::Open { until } if Instant::now() >= until => {
                tracing::info!(
                    circuit = key,
                    "circuit half-open: one probe call goes through"
                );
                circuit.state = State::HalfOpen;
            }
            State::Open { until } => {
                return Err(Error::unavailable(format!(
                    "circuit open for {key} after {} consecutive failures: not called; next try in {}ms",
                    circuit.failures,
                    (until - Instant::now()).as_millis().max(1)
                )));
            }
            State::HalfOpen => {
                return Err(Error::unavailable(format!(
                    "circuit half-open for {key}: a probe call is in flight; not called"
                )));
            }
        }
        Ok(Ticket {
            breaker: self.clone(),
            key: key.to_owned(),
            done: false,
        })
    }

    fn record(&self, key: &str, failed: bool) {
        let mut circuits = self.circuits.lock().expect("breaker lock");
        let Some(circuit) = circuits.get_mut(key) else {
            return;
        };
        if !failed {
            if !matches!(circuit.state, State::Closed) {
                tracing::info!(circuit = key, "circuit closed: the probe call succeeded");
            }
            circuit.state = State::Closed;
            circuit.failures = 0;
            return;
        }
        circuit.failures = circuit.failures.saturating_add(1);
        let open = match circuit.state {
            State::Closed => circuit.failures >= self.failures,
            State::HalfOpen => true,
            State::Open { .. } => false,
        };
        if open {
            tracing::warn!(
                circuit = key,
                failures = circuit.failures,
                cool_down = ?self.cool_down,
                "circuit open: calls fail at once until the cool-down ends"
            );
            circuit.state = State::Open {
                until: Instant::now() + self.cool_down,
            };
        }
    }

    fn cancelled(&self, key: &str) {
        let mut circuits = self.circuits.lock().expect("breaker lock");
        if let Some(circuit) = circuits.get_mut(key)
            && matches!(circuit.state, State::HalfOpen)
        {
            circuit.state = State::Open {
                until: Instant::now(),
            };
        }
    }
}

/// True for outcomes that count against a circuit.
fn is_failure(err: &Error) -> bool {
    err.is_server_error() || err.is_timeout()
}

impl Ticket {
    /// Reports the call's outcome.
    pub fn record<T>(mut self, outcome: &Result<T>) {
        self.done = true;
        self.breaker
            .record(&self.key, outcome.as_ref().err().is_some_and(is_failure));
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.cancelled(&self.key);
        }
    }
}

impl Wrapper<ClientRequest, ClientResponse> for CircuitBreaker {
    fn call(
        &self,
        req: ClientRequest,
        next: Next<ClientRequest, ClientResponse>,
    ) -> BoxFuture<'static, Result<ClientResponse>> {
        let ticket = match self.admit(req.service()) {
            Ok(ticket) => ticket,
            Err(err) => return Box::pin(async move { Err(err.with_id("micro.client")) }),
        };
        Box::pin(async move {
            let out = next.run(req).await;
            ticket.record(&out);
            out
        })
    }
}

impl<S> Layer<S> for CircuitBreaker {
    type Service = Broken<S>;

    fn layer(&self, inner: S) -> Broken<S> {
        Broken {
            inner,
            breaker: self.clone(),
        }
    }
}

/// A tower service behind a [`CircuitBreaker`] (one circuit, `service`).
/// An error that is not a micro [`Error`] counts as a failure.
#[derive(Clone, Debug)]
pub struct Broken<S> {
    inner: S,
    breaker: CircuitBreaker,
}

impl<S, R> Service<R> for Broken<S>
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
        let ticket = match self.breaker.admit("service") {
            Ok(ticket) => ticket,
            Err(err) => return Box::pin(async move { Err(err.into()) }),
        };
        let call = self.inner.call(req);
        Box::pin(async move {
            let out: std::result::Result<S::Response, BoxError> = call.await.map_err(Into::into);
            let verdict: Result<()> = match &out {
                Ok(_) => Ok(()),
                Err(err) => Err(err
                    .downcast_ref::<Error>()
                    .cloned()
                    .unwrap_or_else(|| Error::internal(err.to_string()))),
            };
            ticket.record(&verdict);
            out
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(breaker: &CircuitBreaker, err: Error) {
        breaker.admit("svc").unwrap().record::<()>(&Err(err));
    }

    #[tokio::test(start_paused = true)]
    async fn every_state_change() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(10));
        // 4xx are the caller's mistakes: they never open it; a success
        // resets the count.
        fail(&breaker, Error::not_found("x"));
        fail(&breaker, Error::unavailable("down"));
        fail(&breaker, Error::unavailable("down"));
        breaker.admit("svc").unwrap().record(&Ok(()));
        fail(&breaker, Error::unavailable("down"));
        fail(&breaker, Error::timeout("slow"));
        assert_eq!(breaker.state("svc"), CircuitState::Closed);
        fail(&breaker, Error::internal("boom"));
        assert_eq!(breaker.state("svc"), CircuitState::Open);

        // Open: refused without calling, saying when to try again.
        let err = breaker.admit("svc").unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(err.detail().contains("next try in 10000ms"), "{err}");
        assert_eq!(breaker.state("other"), CircuitState::Closed, "per service");

        // After the cool-down, one probe; others are refused meanwhile.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(breaker.state("svc"), CircuitState::HalfOpen);
        let probe = breaker.admit("svc").unwrap();
        assert!(breaker.admit("svc").unwrap_err().detail().contains("probe"));
        // The probe fails: open again for a whole cool-down.
        probe.record::<()>(&Err(Error::unavailable("still down")));
        assert_eq!(breaker.state("svc"), CircuitState::Open);
        tokio::time::advance(Duration::from_secs(9)).await;
        assert!(breaker.admit("svc").is_err());
        tokio::time::advance(Duration::from_secs(1)).await;

        // A cancelled probe lets the next call probe.
        drop(breaker.admit("svc").unwrap());
        assert_eq!(breaker.state("svc"), CircuitState::HalfOpen);
        // The probe succeeds: closed, calls flow again.
        breaker.admit("svc").unwrap().record(&Ok(()));
        assert_eq!(breaker.state("svc"), CircuitState::Closed);
        breaker.admit("svc").unwrap().record(&Ok(()));
    }
}
