//! What the client reports beyond its wrappers (retries, ejections,
//! publishes), and its pools' open connections, read at each scrape.

use std::sync::{Arc, Mutex, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;

use super::Shared;
use super::labels::{ServiceLabels, code_of};
use crate::Result;
use crate::client::Core;
use crate::client::observer::CallObserver;

/// The observer installed on an instrumented client.
pub(crate) struct Reports(pub(crate) Arc<Shared>);

impl CallObserver for Reports {
    fn retried(&self, service: &str, endpoint: &str) {
        let series = self.0.client.endpoint(service, endpoint);
        self.0.retries.get_or_create(&series.labels).inc();
    }

    fn ejected(&self, service: &str) {
        let labels = ServiceLabels {
            service: service.into(),
        };
        self.0.ejections.get_or_create(&labels).inc();
    }

    fn published(&self, topic: &str, result: &Result<()>) {
        self.0.topics.published(topic, code_of(result));
    }
}

/// The instrumented clients, for their pools' open connections.
#[derive(Default)]
pub(crate) struct Pools(Mutex<Vec<Weak<Core>>>);

impl Pools {
    pub(crate) fn add(&self, core: &Arc<Core>) {
        let mut cores = self.0.lock().unwrap();
        cores.retain(|c| c.strong_count() > 0);
        cores.push(Arc::downgrade(core));
    }

    fn open(&self) -> i64 {
        let cores = self.0.lock().unwrap();
        let open: usize = cores
            .iter()
            .filter_map(Weak::upgrade)
            .map(|core| {
                core.pool.open_connections()
                    + core.grpc.as_ref().map_or(0, |p| p.open_connections())
            })
            .sum();
        open as i64
    }
}

impl std::fmt::Debug for Pools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pools").finish_non_exhaustive()
    }
}

impl Collector for Pools {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> std::fmt::Result {
        let gauge = ConstGauge::new(self.open());
        let metric = encoder.encode_descriptor(
            "micro_client_pool_connections",
            "Connections the client's pools hold open, to all nodes",
            None,
            gauge.metric_type(),
        )?;
        gauge.encode(metric)
    }
}
