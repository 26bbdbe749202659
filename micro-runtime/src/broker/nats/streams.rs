//! Which JetStream stream holds a topic: looked up (and remembered), or
//! created as `MICRO_<topic>`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::GetStreamByNameErrorKind;
use async_nats::jetstream::stream::{Config, RetentionPolicy, StorageType, Stream};
use async_nats::jetstream::{self, Context};

use super::NatsOptions;
use super::connection::{sanitize, short_hash};
use crate::broker::backend::unavailable;
use crate::{Error, Result};

/// How long "no stream covers this topic" is believed.
const MISS_TTL: Duration = Duration::from_secs(1);
/// How long "this stream covers this topic" is believed.
const HIT_TTL: Duration = Duration::from_secs(30);

/// Remembered lookups: topic → stream name (or none).
#[derive(Default)]
pub(super) struct Streams {
    known: Mutex<HashMap<String, (Option<String>, Instant)>>,
}

impl Streams {
    /// Whether a stream covers `topic`, when that is remembered and still
    /// believed (no allocation, no request: the publish fast path).
    pub(super) fn covered(&self, topic: &str) -> Option<bool> {
        let known = self.known.lock().unwrap();
        let (stream, at) = known.get(topic)?;
        still_believed(stream, *at).then_some(stream.is_some())
    }

    /// The stream covering `topic`, if any.
    pub(super) async fn lookup(&self, js: &Context, topic: &str) -> Option<String> {
        if let Some((stream, at)) = self.known.lock().unwrap().get(topic)
            && still_believed(stream, *at)
        {
            return stream.clone();
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
        self.known
            .lock()
            .unwrap()
            .insert(topic.to_owned(), (stream, Instant::now()));
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
