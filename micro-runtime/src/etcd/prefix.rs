//! Key-value operations over a whole key prefix, shared by the blocks that
//! keep trees of keys in etcd (the config source): read every key under a
//! prefix, put one, delete a subtree, and watch a prefix for changes.

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::client::{Client, reason, unavailable};
use super::pb::etcdserverpb::{
    DeleteRangeRequest, PutRequest, RangeRequest, WatchCreateRequest, WatchRequest, watch_request,
};
use super::pb::mvccpb;
use crate::{Error, Result};

/// The end of etcd's range for every key starting with `prefix`: the
/// prefix with its last byte below 0xff incremented (etcd's `WithPrefix`).
pub(crate) fn range_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// Every key starting with `prefix` and its value, sorted by key.
pub(crate) async fn range_prefix(client: &Client, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
    let request = RangeRequest {
        key: prefix.as_bytes().to_vec(),
        range_end: range_end(prefix.as_bytes()),
        ..Default::default()
    };
    let (answer, _) = client
        .call("get", |stubs| {
            let request = request.clone();
            async move { stubs.kv().range(request).await }
        })
        .await?;
    let mut pairs: Vec<(String, Vec<u8>)> = answer
        .into_inner()
        .kvs
        .into_iter()
        .map(|kv| (String::from_utf8_lossy(&kv.key).into_owned(), kv.value))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(pairs)
}

/// Stores `value` under `key`.
pub(crate) async fn put(client: &Client, key: &str, value: &[u8]) -> Result<()> {
    let request = PutRequest {
        key: key.as_bytes().to_vec(),
        value: value.to_vec(),
        ..Default::default()
    };
    client
        .call("put", |stubs| {
            let request = request.clone();
            async move { stubs.kv().put(request).await }
        })
        .await?;
    Ok(())
}

/// Deletes `key` and, when `prefix` is given, every key starting with it;
/// returns how many keys were deleted.
pub(crate) async fn delete(client: &Client, key: &str, prefix: Option<&str>) -> Result<u64> {
    let mut deleted = 0;
    let mut requests = vec![DeleteRangeRequest {
        key: key.as_bytes().to_vec(),
        ..Default::default()
    }];
    if let Some(prefix) = prefix {
        requests.push(DeleteRangeRequest {
            key: prefix.as_bytes().to_vec(),
            range_end: range_end(prefix.as_bytes()),
            ..Default::default()
        });
    }
    for request in requests {
        let (answer, _) = client
            .call("delete", |stubs| {
                let request = request.clone();
                async move { stubs.kv().delete_range(request).await }
            })
            .await?;
        deleted += u64::try_from(answer.into_inner().deleted).unwrap_or(0);
    }
    Ok(deleted)
}

/// One change of a watched key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyEvent {
    /// The full key.
    pub(crate) key: String,
    /// The new value; `None` for a deletion.
    pub(crate) value: Option<Vec<u8>>,
}

/// Starts watching every key starting with `prefix`; returns once etcd
/// confirmed the watch, so no change made after this returns is missed.
/// The receiver yields the changes of each etcd revision together, and one
/// error (then ends) when the watch breaks. Dropping it ends the watch.
pub(crate) async fn watch_prefix(
    client: &Client,
    prefix: &str,
) -> Result<mpsc::Receiver<Result<Vec<KeyEvent>>>> {
    let create = WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(
            WatchCreateRequest {
                key: prefix.as_bytes().to_vec(),
                range_end: range_end(prefix.as_bytes()),
                ..Default::default()
            },
        )),
    };
    let ((mut stream, first), address) = client
        .call("watch", |stubs| {
            let create = create.clone();
            async move {
                // The request side stays open: closing it would end the watch.
                let requests =
                    futures_util::stream::iter([create]).chain(futures_util::stream::pending());
                let mut stream = stubs.watch().watch(requests).await?.into_inner();
                let first = stream.message().await?;
                Ok((stream, first))
            }
        })
        .await?;
    let id = client.id();
    match first {
        Some(answer) if answer.created && !answer.canceled => {}
        Some(answer) => {
            return Err(unavailable(format!(
                "{address} did not start the watch: {}",
                answer.cancel_reason
            ))
            .with_id(id));
        }
        None => {
            return Err(
                unavailable(format!("{address} ended the watch before starting it")).with_id(id),
            );
        }
    }
    let (tx, rx) = mpsc::channel(64);
    let address = address.to_owned();
    tokio::spawn(async move {
        let broken = |why: String| -> Error {
            unavailable(format!("the watch on {address} broke: {why}")).with_id(id)
        };
        loop {
            let answer = tokio::select! {
                () = tx.closed() => return,
                answer = stream.message() => answer,
            };
            let answer = match answer {
                Ok(Some(answer)) => answer,
                Ok(None) => {
                    let _ = tx.send(Err(broken("the stream ended".into()))).await;
                    return;
                }
                Err(status) => {
                    let _ = tx.send(Err(broken(reason(&status)))).await;
                    return;
                }
            };
            if answer.canceled || answer.compact_revision != 0 {
                let why = if answer.cancel_reason.is_empty() {
                    format!("compacted at revision {}", answer.compact_revision)
                } else {
                    answer.cancel_reason
                };
                let _ = tx
                    .send(Err(broken(format!("cancelled by etcd: {why}"))))
                    .await;
                return;
            }
            let events: Vec<KeyEvent> = answer.events.into_iter().filter_map(convert).collect();
            if !events.is_empty() && tx.send(Ok(events)).await.is_err() {
                return;
            }
        }
    });
    Ok(rx)
}

fn convert(event: mvccpb::Event) -> Option<KeyEvent> {
    let put = event.r#type == mvccpb::event::EventType::Put as i32;
    let kv = event.kv?;
    Some(KeyEvent {
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        value: put.then_some(kv.value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_end_is_etcds_prefix_end() {
        assert_eq!(range_end(b"/micro/"), b"/micro0".to_vec());
        assert_eq!(range_end(b"a\xff"), b"b".to_vec());
        assert_eq!(range_end(b""), vec![0]);
    }

    #[test]
    fn events_carry_the_value_of_puts_only() {
        let kv = |value: &[u8]| mvccpb::KeyValue {
            key: b"/c/a".to_vec(),
            value: value.to_vec(),
            ..Default::default()
        };
        let put = mvccpb::Event {
            r#type: mvccpb::event::EventType::Put as i32,
            kv: Some(kv(b"1")),
            prev_kv: None,
        };
        assert_eq!(
            convert(put),
            Some(KeyEvent {
                key: "/c/a".into(),
                value: Some(b"1".to_vec())
            })
        );
        let delete = mvccpb::Event {
            r#type: mvccpb::event::EventType::Delete as i32,
            kv: Some(kv(b"")),
            prev_kv: None,
        };
        assert_eq!(convert(delete).unwrap().value, None);
    }
}
