//! The limit on calls in flight per service: a call beyond it answers 503
//! at once instead of waiting, so a slow service cannot pile up
//! unbounded work (and memory) in the gateway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::Response;
use http_body_util::BodyExt;
use micro_runtime::Error;

/// Counts the calls in flight per service. Services with none have no
/// entry, so the map holds at most one entry per call in flight.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// The most calls per service; 0 for no limit.
    max: usize,
    counts: Mutex<HashMap<String, usize>>,
}

/// One call's place among its service's calls in flight, given back when
/// dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    owner: Arc<InFlight>,
    service: String,
}

impl InFlight {
    /// At most `max` calls in flight per service (0: no limit).
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            counts: Mutex::default(),
        })
    }

    /// A slot for one more call to `service`.
    ///
    /// # Errors
    ///
    /// 503 when `service` already has the most calls in flight.
    pub(crate) fn enter(self: &Arc<Self>, service: &str) -> Result<Slot, Error> {
        let mut counts = self.counts.lock().unwrap();
        let count = counts.entry(service.to_owned()).or_default();
        if self.max != 0 && *count >= self.max {
            return Err(Error::unavailable(format!(
                "service {service:?} has {} calls in flight through the gateway, its limit \
                 (--max-concurrent); retry later",
                self.max
            )));
        }
        *count += 1;
        Ok(Slot {
            owner: self.clone(),
            service: service.to_owned(),
        })
    }
}

impl Slot {
    /// `response`, holding this slot until its body has been sent (or
    /// dropped: the client went away).
    pub(crate) fn hold(self, response: Response) -> Response {
        response.map(|body| {
            Body::new(body.map_frame(move |frame| {
                let _held = &self;
                frame
            }))
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap();
        if let Some(count) = counts.get_mut(&self.service) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.service);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_each_service_and_forgets_idle_ones() {
        let in_flight = InFlight::new(2);
        let a1 = in_flight.enter("a").unwrap();
        let _a2 = in_flight.enter("a").unwrap();
        let err = in_flight.enter("a").unwrap_err();
        assert!(err.is_unavailable(), "{err}");
        assert!(
            err.detail().contains("\"a\" has 2 calls in flight"),
            "{err}"
        );
        let b = in_flight.enter("b").unwrap();
        drop(a1);
        let _a3 = in_flight.enter("a").unwrap();
        drop(b);
        assert!(!in_flight.counts.lock().unwrap().contains_key("b"));
        let unlimited = InFlight::new(0);
        let slots: Vec<Slot> = (0..1000).map(|_| unlimited.enter("a").unwrap()).collect();
        drop(slots);
        assert!(unlimited.counts.lock().unwrap().is_empty());
    }
}
