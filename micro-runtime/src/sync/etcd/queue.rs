//! etcd's election recipe (the one of `clientv3/concurrency`): each
//! candidate puts a key of its own under `<prefix><name>/` with its lease;
//! the key with the lowest create revision holds. A waiter watches only its
//! predecessor's key (the next lower create revision) for deletion, so a
//! release wakes one waiter, not all. The holder's create revision is the
//! fencing token: revisions only grow, so every acquisition has a larger
//! one.

use futures_util::StreamExt;
use tonic::codec::Streaming;

use crate::etcd::client::{Client, reason, unavailable};
use crate::etcd::pb::etcdserverpb::{
    PutRequest, RangeRequest, RangeResponse, WatchCreateRequest, WatchRequest, WatchResponse,
    range_request, watch_create_request, watch_request,
};
use crate::etcd::pb::mvccpb::{self, KeyValue};
use crate::sync::LeaderInfo;
use crate::{Error, Result};

/// `<prefix><name>/`, the name escaped (`%` as `%25`, `/` as `%2F`) so one
/// name's keys never share a prefix with another's.
pub(super) fn name_prefix(prefix: &str, name: &str) -> String {
    format!("{prefix}{}/", name.replace('%', "%25").replace('/', "%2F"))
}

/// The end of the range of keys starting with `prefix`.
fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Puts `key` with `lease`; its create revision.
pub(super) async fn put(client: &Client, key: &str, value: &str, lease: i64) -> Result<i64> {
    let request = PutRequest {
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        lease,
        ..Default::default()
    };
    let (answer, address) = client
        .call("put", |stubs| {
            let request = request.clone();
            async move { stubs.kv().put(request).await }
        })
        .await?;
    // The key is new (its name holds the lease id), so the put's revision
    // is its create revision.
    answer
        .into_inner()
        .header
        .map(|h| h.revision)
        .filter(|r| *r > 0)
        .ok_or_else(|| {
            Error::unavailable(format!(
                "etcd at {address} answered a put without a revision"
            ))
            .with_id(client.id())
        })
}

/// The key of `prefix` with the lowest create revision (the holder), or
/// with the highest create revision up to `below` (exclusive) when given
/// (a waiter's predecessor); and the revision the answer was read at.
async fn first(
    client: &Client,
    prefix: &str,
    below: Option<i64>,
) -> Result<(Option<KeyValue>, i64)> {
    let request = RangeRequest {
        key: prefix.as_bytes().to_vec(),
        range_end: range_end(prefix.as_bytes()),
        limit: 1,
        sort_target: range_request::SortTarget::Create as i32,
        sort_order: match below {
            Some(_) => range_request::SortOrder::Descend as i32,
            None => range_request::SortOrder::Ascend as i32,
        },
        max_create_revision: below.map_or(0, |b| b - 1),
        ..Default::default()
    };
    let (answer, _) = client
        .call("get", |stubs| {
            let request = request.clone();
            async move { stubs.kv().range(request).await }
        })
        .await?;
    let RangeResponse { header, kvs, .. } = answer.into_inner();
    let revision = header.map_or(0, |h| h.revision);
    Ok((kvs.into_iter().next(), revision))
}

/// Who holds `prefix` now.
pub(super) async fn holder(client: &Client, prefix: &str) -> Result<(Option<LeaderInfo>, i64)> {
    let (kv, revision) = first(client, prefix, None).await?;
    Ok((kv.map(info), revision))
}

fn info(kv: KeyValue) -> LeaderInfo {
    LeaderInfo {
        value: String::from_utf8_lossy(&kv.value).into_owned(),
        token: kv.create_revision as u64,
    }
}

/// Waits until the key created at `revision` is the first of `prefix`.
///
/// # Errors
///
/// 503 when etcd cannot be reached or the key is gone (its lease ended).
pub(super) async fn wait_turn(
    client: &Client,
    prefix: &str,
    key: &str,
    revision: i64,
) -> Result<()> {
    loop {
        let (holder, _) = first(client, prefix, None).await?;
        match holder {
            Some(kv) if kv.key == key.as_bytes() => return Ok(()),
            Some(_) => {}
            None => return Err(gone(client, key)),
        }
        let (predecessor, read_at) = first(client, prefix, Some(revision)).await?;
        let Some(predecessor) = predecessor else {
            // Our own key is missing from the range: the lease ended.
            let (mine, _) = first(client, key, None).await?;
            if mine.is_none() {
                return Err(gone(client, key));
            }
            continue;
        };
        let mut watch = Watch::start(client, &predecessor.key, false, read_at + 1).await?;
        loop {
            let events = watch.next().await?;
            if events
                .iter()
                .any(|e| e.r#type == mvccpb::event::EventType::Delete as i32)
            {
                break;
            }
        }
    }
}

fn gone(client: &Client, key: &str) -> Error {
    Error::unavailable(format!(
        "the claim {key} vanished while waiting (its lease ended)"
    ))
    .with_id(client.id())
}

/// One etcd watch stream.
pub(super) struct Watch {
    stream: Streaming<WatchResponse>,
    address: String,
    id: &'static str,
}

impl Watch {
    /// Watches `key` (every key under it when `prefix`) from `revision`;
    /// returns once etcd confirmed.
    pub(super) async fn start(
        client: &Client,
        key: &[u8],
        prefix: bool,
        revision: i64,
    ) -> Result<Self> {
        let create = WatchRequest {
            request_union: Some(watch_request::RequestUnion::CreateRequest(
                WatchCreateRequest {
                    key: key.to_vec(),
                    range_end: if prefix { range_end(key) } else { Vec::new() },
                    start_revision: revision,
                    filters: if prefix {
                        Vec::new()
                    } else {
                        vec![watch_create_request::FilterType::Noput as i32]
                    },
                    ..Default::default()
                },
            )),
        };
        let ((stream, first), address) = client
            .call("watch", |stubs| {
                let create = create.clone();
                async move {
                    // The request side stays open: closing it ends the watch.
                    let requests =
                        futures_util::stream::iter([create]).chain(futures_util::stream::pending());
                    let mut stream = stubs.watch().watch(requests).await?.into_inner();
                    let first = stream.message().await?;
                    Ok((stream, first))
                }
            })
            .await?;
        match first {
            Some(answer) if answer.created && !answer.canceled => Ok(Self {
                stream,
                address: address.to_owned(),
                id: client.id(),
            }),
            Some(answer) => Err(unavailable(format!(
                "{address} did not start the watch: {}",
                answer.cancel_reason
            ))
            .with_id(client.id())),
            None => Err(
                unavailable(format!("{address} ended the watch before starting it"))
                    .with_id(client.id()),
            ),
        }
    }

    /// The next batch of events.
    ///
    /// # Errors
    ///
    /// 503 when the stream broke, ended or was cancelled (compacted).
    pub(super) async fn next(&mut self) -> Result<Vec<mvccpb::Event>> {
        loop {
            let answer = match self.stream.message().await {
                Ok(Some(answer)) => answer,
                Ok(None) => return Err(self.broken("the stream ended")),
                Err(status) => return Err(self.broken(&reason(&status))),
            };
            if answer.canceled || answer.compact_revision != 0 {
                let why = if answer.cancel_reason.is_empty() {
                    format!("compacted at revision {}", answer.compact_revision)
                } else {
                    answer.cancel_reason
                };
                return Err(self.broken(&format!("cancelled by etcd: {why}")));
            }
            if !answer.events.is_empty() {
                return Ok(answer.events);
            }
        }
    }

    fn broken(&self, why: &str) -> Error {
        unavailable(format!("the watch on {} broke: {why}", self.address)).with_id(self.id)
    }
}

/// The leader of `prefix` now and at every change, until the watch breaks
/// (an error, then the end).
pub(super) fn observe(
    client: std::sync::Arc<Client>,
    prefix: String,
    current: Option<LeaderInfo>,
    watch: Watch,
) -> impl futures_core::Stream<Item = Result<Option<LeaderInfo>>> + Send + 'static {
    struct State {
        client: std::sync::Arc<Client>,
        prefix: String,
        last: Option<LeaderInfo>,
        watch: Option<Watch>,
        first: bool,
    }
    let state = State {
        client,
        prefix,
        last: current,
        watch: Some(watch),
        first: true,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        if state.first {
            state.first = false;
            return Some((Ok(state.last.clone()), state));
        }
        let watch = state.watch.as_mut()?;
        loop {
            if let Err(err) = watch.next().await {
                state.watch = None;
                return Some((Err(err), state));
            }
            match holder(&state.client, &state.prefix).await {
                Ok((now, _)) if now != state.last => {
                    state.last = now.clone();
                    return Some((Ok(now), state));
                }
                Ok(_) => {}
                Err(err) => {
                    state.watch = None;
                    return Some((Err(err), state));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_path_segment() {
        assert_eq!(
            name_prefix("/micro/sync/", "a/b%c"),
            "/micro/sync/a%2Fb%25c/"
        );
        assert_eq!(range_end(b"/a/"), b"/a0".to_vec());
        assert_eq!(range_end(b"\xff"), vec![0]);
    }
}
