//! Which JetStream stream holds a topic: looked up (and remembered), or
//! created as `MICRO_<topic>`.

use std::sync::Mutex;

use coarsetime::{Duration, Instant};

use async_nats::Subject;
use async_nats::jetstream::context::GetStreamByNameErrorKind;
use async_nats::jetstream::stream::{Config, RetentionPolicy, StorageType, Stream};
use async_nats::jetstream::{self, Context};
use rustc_hash::FxHashMap;

use super::NatsOptions;
use super::connection::{sanitize, short_hash};
use crate::broker::backend::unavailable;
use crate::{Error, Result};

/// How long "no stream covers this topic" is believed. Every publish
/// checks it, so the clock is the coarse one (a few ms fine, a few ns to
/// read; `std::time::Instant` costs ~30 ns a publish in a VM).
const MISS_TTL: Duration = Duration::from_secs(1);
/// How long "this stream covers this topic" is believed.
const HIT_TTL: Duration = Duration::from_secs(30);

/// Topics remembered at most; past it the memory starts over (a service
/// publishing to ever new topics keeps no unbounded map).
const MAX_KNOWN: usize = 4096;

/// What is remembered of one topic.
struct Known {
    /// The stream covering it; none when no stream does.
    stream: Option<String>,
    /// When it was looked up.
    at: Instant,
    /// Its subject, once checked as a topic to publish to on core NATS.
    core: Option<Subject>,
}

/// Remembered lookups: topic → stream name (or none). Every publish looks
/// its topic up here, so the map hashes with FxHash (topics come from the
/// service's own code, not from the network).
#[derive(Default)]
pub(super) struct Streams {
    known: Mutex<FxHashMap<String, Known>>,
}

impl Streams {
    /// The subject to publish `topic` to on core NATS, when it is
    /// remembered (and still believed) that no stream covers it and the
    /// topic was checked: the publish fast path (no allocation, no request).
    pub(super) fn core_subject(&self, topic: &str) -> Option<Subject> {
        let known = self.known.lock().unwrap();
        let known = known.get(topic)?;
        if !still_believed(&known.stream, known.at) {
            return None;
        }
        known.core.clone()
    }

    /// The stream covering `topic`, if any.
    pub(super) async fn lookup(&self, js: &Context, topic: &str) -> Option<String> {
        if let Some(known) = self.known.lock().unwrap().get(topic)
            && still_believed(&known.stream, known.at)
        {
            return known.stream.clone();
        }
        let found = match js.stream_by_subject(topic).await {
            Ok(name) => Some(name),
            Err(err) => {
                if !matches!(err.kind(), GetStreamByNameErrorKind::NotFound) {
                    tracing::debug!(topic, error = %err, "looking up a JetStream stream failed");
                }
                None
            }
        };
        self.remember(topic, found.clone());
        found
    }

    /// Records that `stream` covers `topic` (or that none does).
    pub(super) fn remember(&self, topic: &str, stream: Option<String>) {
        self.put(topic, stream, None);
    }

    /// Records that no stream covers `topic`, a checked topic to publish
    /// to, whose subject is `subject` (just looked up, or JetStream is off).
    pub(super) fn remember_core(&self, topic: &str, subject: Subject) {
        self.put(topic, None, Some(subject));
    }

    fn put(&self, topic: &str, stream: Option<String>, core: Option<Subject>) {
        let mut known = self.known.lock().unwrap();
        if known.len() >= MAX_KNOWN {
            known.clear();
        }
        let at = Instant::now();
        known.insert(topic.to_owned(), Known { stream, at, core });
    }

    /// Forgets what is known about `topic`.
    pub(super) fn forget(&self, topic: &str) {
        self.known.lock().unwrap().remove(topic);
    }

    /// Forgets everything.
    pub(super) fn clear(&self) {
        self.known.lock().unwrap().clear();
    }
}

/// Whether an answer remembered at `at` still holds (a "yes" is believed
/// longer than a "no").
fn still_believed(stream: &Option<String>, at: Instant) -> bool {
    let ttl = if stream.is_some() { HIT_TTL } else { MISS_TTL };
    at.elapsed() < ttl
}

/// The name the broker gives the stream it creates for `topic`.
pub(super) fn stream_name(topic: &str) -> String {
    format!("MICRO_{}", sanitize(topic))
}

/// The stream holding `topic`: the one whose subjects cover it, else one
/// created for it alone, with `retention`.
///
/// # Errors
///
/// 503 when JetStream cannot be reached (or is not enabled); 409 when the
/// topic overlaps a stream that does not cover it.
pub(super) async fn ensure(
    js: &Context,
    options: &NatsOptions,
    streams: &Streams,
    topic: &str,
    retention: RetentionPolicy,
) -> Result<Stream> {
    let fail = |e: &dyn std::fmt::Display| {
        let why = e.to_string();
        if why.contains("overlap") {
            Error::conflict(format!(
                "topic {topic} overlaps a JetStream stream that does not cover it: {why}"
            ))
        } else {
            unavailable(
                "nats",
                &options.address,
                format!("JetStream stream for {topic}: {why}"),
            )
        }
    };
    match js.stream_by_subject(topic).await {
        Ok(name) => {
            let stream = js.get_stream(&name).await.map_err(|e| fail(&e))?;
            streams.remember(topic, Some(name));
            return Ok(stream);
        }
        Err(err) if matches!(err.kind(), GetStreamByNameErrorKind::NotFound) => {}
        Err(err) => return Err(fail(&err)),
    }
    let primary = stream_name(topic);
    for name in [primary.clone(), format!("{primary}_{}", short_hash(topic))] {
        let config = Config {
            name: name.clone(),
            subjects: vec![topic.to_owned()],
            retention,
            storage: StorageType::File,
            max_age: options.stream_max_age,
            description: Some(format!("micro topic {topic}")),
            ..Config::default()
        };
        let stream = js
            .get_or_create_stream(config)
            .await
            .map_err(|e| fail(&e))?;
        if stream
            .cached_info()
            .config
            .subjects
            .iter()
            .any(|s| s == topic)
        {
            tracing::debug!(topic, stream = %name, "JetStream stream ready");
            streams.remember(topic, Some(name));
            return Ok(stream);
        }
    }
    Err(Error::conflict(format!(
        "JetStream streams {primary} and {primary}_{} exist for other subjects; \
         create a stream covering {topic}",
        short_hash(topic)
    )))
}

/// True when `stream` holds only `topic` (so consumer names need not
/// mention the topic).
pub(super) fn only_topic(stream: &Stream, topic: &str) -> bool {
    let subjects = &stream.cached_info().config.subjects;
    subjects.len() == 1 && subjects[0] == topic
}

/// Re-export for the subscriber: the pull consumer type.
pub(super) type PullConsumer = jetstream::consumer::PullConsumer;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_checked_core_topics_have_a_subject() {
        let streams = Streams::default();
        assert!(streams.core_subject("orders.created").is_none());
        // A lookup's "no stream" alone: the topic was not checked here.
        streams.remember("orders.*", None);
        assert!(streams.core_subject("orders.*").is_none());
        streams.remember_core("orders.created", Subject::from("orders.created"));
        assert_eq!(
            streams.core_subject("orders.created").as_deref(),
            Some("orders.created")
        );
        // A stream made for it later: publishes go there.
        streams.remember("orders.created", Some("MICRO_orders_created".into()));
        assert!(streams.core_subject("orders.created").is_none());
        streams.remember_core("orders.created", Subject::from("orders.created"));
        streams.forget("orders.created");
        assert!(streams.core_subject("orders.created").is_none());
    }
}
