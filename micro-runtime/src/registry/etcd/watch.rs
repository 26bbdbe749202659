//! Watches: one etcd watch stream over a key prefix, turned into registry
//! events.
//!
//! The watch asks for `prev_kv`, so a deletion (by `deregister` or by a
//! lease running out) still names the service version and the node that
//! left. A put of a key that did not exist is [`Action::Create`], a put over
//! an existing one [`Action::Update`]. When the stream breaks (etcd
//! restarted, the connection died, etcd cancelled the watch) the
//! [`Watcher`] yields an error and ends: the cache behind it lists again
//! and watches anew.

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tonic::codec::Streaming;

use super::keys;
use crate::etcd::client::{Client, reason, unavailable};
use crate::etcd::pb::etcdserverpb::{
    WatchCreateRequest, WatchRequest, WatchResponse, watch_request,
};
use crate::etcd::pb::mvccpb;
use crate::registry::{Action, Event, Service, Watcher};
use crate::{Error, Result};

/// Starts watching every key under `key_prefix`; returns once etcd
/// confirmed the watch, so no change made after this returns is missed.
pub(super) async fn watch(client: &Client, prefix: &str, key_prefix: &str) -> Result<Watcher> {
    let create = WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(
            WatchCreateRequest {
                key: key_prefix.as_bytes().to_vec(),
                range_end: keys::range_end(key_prefix.as_bytes()),
                prev_kv: true,
                ..Default::default()
            },
        )),
    };
    let ((stream, first), address) = client
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
    match first {
        Some(answer) if answer.created && !answer.canceled => {}
        Some(answer) => {
            return Err(unavailable(format!(
                "{address} did not start the watch: {}",
                answer.cancel_reason
            ))
            .with_id(client.id()));
        }
        None => {
            return Err(
                unavailable(format!("{address} ended the watch before starting it"))
                    .with_id(client.id()),
            );
        }
    }
    let (tx, watcher) = Watcher::channel(1024);
    tokio::spawn(forward(stream, tx, prefix.to_owned(), address.to_owned()));
    Ok(watcher)
}

/// Feeds the watcher until it is dropped or the stream breaks.
async fn forward(
    mut stream: Streaming<WatchResponse>,
    tx: mpsc::Sender<Result<Event>>,
    prefix: String,
    address: String,
) {
    let broken = |why: String| -> Error {
        tracing::debug!(%address, %why, "etcd watch ended");
        unavailable(format!("the watch on {address} broke: {why}")).with_id("micro.registry")
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
        for event in answer.events {
            if let Some(event) = convert(&prefix, event)
                && tx.send(Ok(event)).await.is_err()
            {
                return;
            }
        }
    }
}

/// A node's record from a key's value.
pub(super) fn record(value: &[u8]) -> Option<Service> {
    serde_json::from_slice(value).ok()
}

/// An etcd event as a registry event; `None` for keys that are not ours.
fn convert(prefix: &str, event: mvccpb::Event) -> Option<Event> {
    let put = event.r#type == mvccpb::event::EventType::Put as i32;
    let kv = event.kv?;
    if put {
        let service = record(&kv.value).or_else(|| {
            tracing::debug!(key = %String::from_utf8_lossy(&kv.key), "ignoring a key that is not a service record");
            None
        })?;
        let action = if kv.create_revision == kv.mod_revision {
            Action::Create
        } else {
            Action::Update
        };
        Some(Event { action, service })
    } else {
        let service = event
            .prev_kv
            .and_then(|prev| record(&prev.value))
            .or_else(|| keys::service_of_key(prefix, &kv.key))?;
        Some(Event {
            action: Action::Delete,
            service,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Node;

    fn node_record() -> Service {
        Service {
            name: "s".into(),
            version: "1".into(),
            nodes: vec![Node {
                id: "n".into(),
                address: "127.0.0.1:1".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn kv(create: i64, modified: i64, value: Vec<u8>) -> mvccpb::KeyValue {
        mvccpb::KeyValue {
            key: b"/micro/registry/s/1/n".to_vec(),
            create_revision: create,
            mod_revision: modified,
            value,
            ..Default::default()
        }
    }

    #[test]
    fn puts_and_deletes_become_registry_events() {
        let json = serde_json::to_vec(&node_record()).unwrap();
        let put = |create, modified| mvccpb::Event {
            r#type: mvccpb::event::EventType::Put as i32,
            kv: Some(kv(create, modified, json.clone())),
            prev_kv: None,
        };
        let created = convert("/micro/registry/", put(5, 5)).unwrap();
        assert_eq!(created.action, Action::Create);
        assert_eq!(created.service, node_record());
        assert_eq!(
            convert("/micro/registry/", put(5, 9)).unwrap().action,
            Action::Update
        );

        let deleted = convert(
            "/micro/registry/",
            mvccpb::Event {
                r#type: mvccpb::event::EventType::Delete as i32,
                kv: Some(kv(0, 10, Vec::new())),
                prev_kv: Some(kv(5, 9, json.clone())),
            },
        )
        .unwrap();
        assert_eq!(deleted.action, Action::Delete);
        assert_eq!(deleted.service, node_record());

        // Without the previous value (compacted), the key still names the node.
        let bare = convert(
            "/micro/registry/",
            mvccpb::Event {
                r#type: mvccpb::event::EventType::Delete as i32,
                kv: Some(kv(0, 10, Vec::new())),
                prev_kv: None,
            },
        )
        .unwrap();
        assert_eq!(bare.service.version, "1");
        assert_eq!(bare.service.nodes[0].id, "n");

        let foreign = mvccpb::Event {
            r#type: mvccpb::event::EventType::Put as i32,
            kv: Some(kv(1, 1, b"not json".to_vec())),
            prev_kv: None,
        };
        assert!(convert("/micro/registry/", foreign).is_none());
    }
}
