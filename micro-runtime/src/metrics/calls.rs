//! Calls by endpoint, on either side of the wire: a counter by code, a
//! latency histogram and an in-flight gauge. Each endpoint's handles are
//! looked up once and cached, so a call costs a map lookup under a read
//! lock, two atomic updates and one histogram observation; no label is
//! formatted per call.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rustc_hash::FxHashMap;

use super::labels::{CodeLabels, EndpointLabels, MAX_SERIES, OVERFLOW};

/// Upper bounds of the latency buckets, in seconds: 100 µs to 10 s.
pub(crate) const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// A latency histogram with micro's buckets.
pub(crate) fn latency_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// A family of latency histograms.
pub(crate) type LatencyFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// The series of one side (server or client), with the endpoint cache.
pub(crate) struct CallSeries {
    total: Family<CodeLabels, Counter>,
    duration: LatencyFamily<EndpointLabels>,
    in_flight: Family<EndpointLabels, Gauge>,
    cache: RwLock<Cache>,
}

/// Looked up on every call: hashed with Fx (the names are the process's
/// own endpoints, capped at [`MAX_SERIES`], not a peer's choice).
#[derive(Default)]
struct Cache {
    by_service: FxHashMap<Arc<str>, FxHashMap<Arc<str>, Arc<EndpointSeries>>>,
    len: usize,
}

/// One endpoint's handles.
pub(crate) struct EndpointSeries {
    pub(crate) labels: EndpointLabels,
    ok: Counter,
    duration: Histogram,
    in_flight: Gauge,
}

/// The names a side's series are registered under.
pub(crate) struct Names {
    pub(crate) total: &'static str,
    pub(crate) total_help: &'static str,
    pub(crate) duration: &'static str,
    pub(crate) duration_help: &'static str,
    pub(crate) in_flight: &'static str,
    pub(crate) in_flight_help: &'static str,
}

impl CallSeries {
    /// The series, registered in `registry` under `names`.
    pub(crate) fn register(registry: &mut Registry, names: &Names) -> Self {
        let series = Self {
            total: Family::default(),
            duration: Family::new_with_constructor(latency_histogram),
            in_flight: Family::default(),
            cache: RwLock::default(),
        };
        registry.register(names.total, names.total_help, series.total.clone());
        registry.register(names.duration, names.duration_help, series.duration.clone());
        registry.register(
            names.in_flight,
            names.in_flight_help,
            series.in_flight.clone(),
        );
        series
    }

    /// The handles of `service`/`endpoint`; past [`MAX_SERIES`] pairs,
    /// those of the overflow series.
    pub(crate) fn endpoint(&self, service: &str, endpoint: &str) -> Arc<EndpointSeries> {
        let cache = self.cache.read().unwrap();
        let found = cache.by_service.get(service).and_then(|e| e.get(endpoint));
        // Past the cap, the overflow series without taking the write lock.
        let found = found.or_else(|| {
            (cache.len >= MAX_SERIES)
                .then(|| cache.by_service.get(OVERFLOW)?.get(OVERFLOW))
                .flatten()
        });
        if let Some(found) = found {
            return found.clone();
        }
        drop(cache);
        self.insert(service, endpoint)
    }

    fn insert(&self, service: &str, endpoint: &str) -> Arc<EndpointSeries> {
        let mut cache = self.cache.write().unwrap();
        if let Some(found) = cache.by_service.get(service).and_then(|e| e.get(endpoint)) {
            return found.clone();
        }
        let (service, endpoint) = if cache.len >= MAX_SERIES {
            if let Some(found) = cache.by_service.get(OVERFLOW).and_then(|e| e.get(OVERFLOW)) {
                return found.clone();
            }
            (OVERFLOW, OVERFLOW)
        } else {
            cache.len += 1;
            (service, endpoint)
        };
        let labels = EndpointLabels {
            service: service.into(),
            endpoint: endpoint.into(),
        };
        let series = Arc::new(EndpointSeries {
            ok: self.total.get_or_create(&labels.with_code(200)).clone(),
            duration: self.duration.get_or_create(&labels).clone(),
            in_flight: self.in_flight.get_or_create(&labels).clone(),
            labels: labels.clone(),
        });
        cache
            .by_service
            .entry(labels.service)
            .or_default()
            .insert(labels.endpoint, series.clone());
        series
    }

    /// Starts timing a call of `service`/`endpoint`.
    pub(crate) fn start(self: &Arc<Self>, service: &str, endpoint: &str) -> CallTimer {
        let series = self.endpoint(service, endpoint);
        series.in_flight.inc();
        CallTimer {
            side: self.clone(),
            series,
            started: Instant::now(),
        }
    }

    /// Counts a call that ended with `code`.
    fn count(&self, series: &EndpointSeries, code: u16) {
        if code == 200 {
            series.ok.inc();
        } else {
            self.total
                .get_or_create(&series.labels.with_code(code))
                .inc();
        }
    }
}

/// A call being timed; counted when finished. Dropped unfinished (the
/// caller went away), it only leaves the in-flight gauge.
pub(crate) struct CallTimer {
    side: Arc<CallSeries>,
    series: Arc<EndpointSeries>,
    started: Instant,
}

impl CallTimer {
    /// Records the call's latency and its `code`.
    pub(crate) fn finish(self, code: u16) {
        self.series
            .duration
            .observe(self.started.elapsed().as_secs_f64());
        self.side.count(&self.series, code);
    }
}

impl Drop for CallTimer {
    fn drop(&mut self) {
        self.series.in_flight.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side() -> (Registry, Arc<CallSeries>) {
        let mut registry = Registry::default();
        let names = Names {
            total: "t",
            total_help: "",
            duration: "d",
            duration_help: "",
            in_flight: "f",
            in_flight_help: "",
        };
        let side = Arc::new(CallSeries::register(&mut registry, &names));
        (registry, side)
    }

    #[test]
    fn an_endpoint_is_looked_up_once() {
        let (_, side) = side();
        let a = side.endpoint("svc", "A.B");
        assert!(Arc::ptr_eq(&a, &side.endpoint("svc", "A.B")));
        assert!(!Arc::ptr_eq(&a, &side.endpoint("svc", "A.C")));
    }

    #[test]
    fn pairs_past_the_cap_share_one_series() {
        let (_, side) = side();
        for i in 0..MAX_SERIES {
            side.endpoint("svc", &format!("E.{i}"));
        }
        let over = side.endpoint("svc", "E.late");
        assert_eq!(&*over.labels.endpoint, OVERFLOW);
        assert!(Arc::ptr_eq(&over, &side.endpoint("other", "X.Y")));
        assert_eq!(&*side.endpoint("svc", "E.3").labels.endpoint, "E.3");
    }

    #[test]
    fn a_timer_counts_its_code_and_leaves_the_gauge() {
        let (_, side) = side();
        let timer = side.start("svc", "A.B");
        let series = side.endpoint("svc", "A.B");
        assert_eq!(series.in_flight.get(), 1);
        timer.finish(404);
        assert_eq!(series.in_flight.get(), 0);
        assert_eq!(
            side.total
                .get_or_create(&series.labels.with_code(404))
                .get(),
            1
        );
        assert_eq!(series.ok.get(), 0);
        drop(side.start("svc", "A.B"));
        assert_eq!(series.in_flight.get(), 0);
        assert_eq!(
            series.ok.get(),
            0,
            "a call dropped unfinished is not counted"
        );
    }
}
