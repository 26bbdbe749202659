//! Events by topic: published, delivered, dead-lettered. A topic's
//! handles are cached like an endpoint's; topics past
//! [`MAX_SERIES`](super::labels::MAX_SERIES) share the overflow series.
//! Topics are a label, so a service that publishes to one topic per
//! user (or per anything unbounded) should not count on these series.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::labels::{MAX_SERIES, OVERFLOW, TopicCodeLabels, TopicLabels};

/// The broker series and the topic cache.
pub(crate) struct TopicSeries {
    published: Family<TopicCodeLabels, Counter>,
    delivered: Family<TopicCodeLabels, Counter>,
    dead_lettered: Family<TopicLabels, Counter>,
    cache: RwLock<HashMap<Arc<str>, Arc<Topic>>>,
}

/// One topic's handles.
pub(crate) struct Topic {
    name: Arc<str>,
    published_ok: Counter,
    delivered_ok: Counter,
}

impl TopicSeries {
    /// The series, registered in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let series = Self {
            published: Family::default(),
            delivered: Family::default(),
            dead_lettered: Family::default(),
            cache: RwLock::default(),
        };
        registry.register(
            "micro_broker_published",
            "Events published, by topic and code (200, or the broker's error code)",
            series.published.clone(),
        );
        registry.register(
            "micro_broker_delivered",
            "Events handed to this service's subscribers, by topic and the handler's code",
            series.delivered.clone(),
        );
        registry.register(
            "micro_broker_dead_lettered",
            "Events a subscriber refused with a 4xx error, moved aside, by topic",
            series.dead_lettered.clone(),
        );
        series
    }

    /// The handles of `topic`, or of the overflow series.
    pub(crate) fn topic(&self, topic: &str) -> Arc<Topic> {
        if let Some(found) = self.cache.read().unwrap().get(topic) {
            return found.clone();
        }
        let mut cache = self.cache.write().unwrap();
        if let Some(found) = cache.get(topic) {
            return found.clone();
        }
        let name: Arc<str> = if cache.len() >= MAX_SERIES {
            if let Some(found) = cache.get(OVERFLOW) {
                return found.clone();
            }
            OVERFLOW.into()
        } else {
            topic.into()
        };
        let labels = TopicCodeLabels {
            topic: name.clone(),
            code: 200,
        };
        let found = Arc::new(Topic {
            published_ok: self.published.get_or_create(&labels).clone(),
            delivered_ok: self.delivered.get_or_create(&labels).clone(),
            name: name.clone(),
        });
        cache.insert(name, found.clone());
        found
    }

    /// Counts a publish to `topic` that ended with `code`.
    pub(crate) fn published(&self, topic: &str, code: u16) {
        let topic = self.topic(topic);
        match code {
            200 => topic.published_ok.inc(),
            _ => self.published.get_or_create(&topic.with(code)).inc(),
        };
    }

    /// Counts a delivery on `topic` whose handler ended with `code`; a 4xx
    /// is also a dead letter (the subscriber loop moves it aside).
    pub(crate) fn delivered(&self, topic: &Topic, code: u16) {
        match code {
            200 => {
                topic.delivered_ok.inc();
            }
            _ => {
                self.delivered.get_or_create(&topic.with(code)).inc();
                if (400..500).contains(&code) {
                    let labels = TopicLabels {
                        topic: topic.name.clone(),
                    };
                    self.dead_lettered.get_or_create(&labels).inc();
                }
            }
        }
    }
}

impl Topic {
    fn with(&self, code: u16) -> TopicCodeLabels {
        TopicCodeLabels {
            topic: self.name.clone(),
            code,
        }
    }
}
