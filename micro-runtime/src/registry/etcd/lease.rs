//! Leases: a node's key lives as long as its lease.
//!
//! Each node registered through this registry gets a lease of its TTL and
//! its key is put with that lease. Every later `register` of the node (the
//! service's heartbeat) renews the lease once (`LeaseKeepAlive`) and makes
//! sure the key still holds this record under this lease (one transaction
//! that writes only when it does not). So:
//!
//! - a live process keeps its node: one keepalive and one no-op transaction
//!   per heartbeat, and no watch event;
//! - a process that stops heartbeating loses its node when the lease runs
//!   out, and every watcher sees the deletion;
//! - a lease that was lost anyway (etcd answers TTL 0 or "lease not found":
//!   it expired while etcd was unreachable, etcd lost its data, someone
//!   revoked it) is replaced on the next heartbeat: a new lease is granted
//!   and the key put again, without restarting the service. A key deleted
//!   from under a live lease is put again the same way.

use std::collections::HashMap;
use std::time::Duration;

use crate::etcd::client::{Client, Failure};
use crate::etcd::lease::keep_alive_once;
use crate::etcd::pb::etcdserverpb::{
    Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest, PutRequest, RequestOp,
    TxnRequest, compare, request_op,
};
use crate::{Error, Result};

/// A lease this registry holds for one node key.
#[derive(Clone, Copy, Debug)]
pub(super) struct Held {
    pub(super) id: i64,
    pub(super) ttl: i64,
}

/// Node key -> its lease.
pub(super) type Leases = HashMap<String, Held>;

/// A TTL in etcd's whole seconds (at least 1, rounded up).
pub(super) fn ttl_secs(ttl: Duration) -> i64 {
    (ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)).clamp(1, i64::MAX as u64) as i64
}

/// Puts `value` at `key` under a live lease of `ttl` seconds, renewing or
/// replacing the lease held for it in `leases`.
pub(super) async fn register(
    client: &Client,
    leases: &mut Leases,
    key: &str,
    value: &[u8],
    ttl: i64,
) -> Result<()> {
    let mut stale = None;
    let mut lease = match leases.get(key).copied() {
        Some(held) if held.ttl == ttl => {
            let left = keep_alive_once(client, held.id).await?;
            if left > 0 {
                Some(held.id)
            } else {
                tracing::info!(
                    key,
                    lease = held.id,
                    "etcd lease lost (expired or revoked); registering again under a new lease"
                );
                leases.remove(key);
                None
            }
        }
        Some(held) => {
            // The TTL changed: a new lease, the old one revoked once replaced.
            stale = Some(held.id);
            leases.remove(key);
            None
        }
        None => None,
    };
    for attempt in 0..2 {
        let id = match lease {
            Some(id) => id,
            None => {
                let id = grant(client, ttl).await?;
                leases.insert(key.to_owned(), Held { id, ttl });
                id
            }
        };
        match put_unless_current(client, key, value, id).await {
            Ok(written) => {
                if written {
                    tracing::debug!(key, lease = id, "etcd registration written");
                }
                if let Some(old) = stale {
                    let _ = revoke(client, old).await;
                }
                return Ok(());
            }
            Err(failure) if failure.is_lease_not_found() && attempt == 0 => {
                tracing::info!(key, lease = id, "etcd lease lost; granting a new one");
                leases.remove(key);
                lease = None;
            }
            Err(failure) => return Err(failure.into()),
        }
    }
    Err(
        Error::unavailable(format!("etcd keeps losing the lease of {key}"))
            .with_id("micro.registry"),
    )
}

/// Deletes `key` and revokes the lease held for it, if any.
pub(super) async fn deregister(client: &Client, leases: &mut Leases, key: &str) -> Result<()> {
    let request = DeleteRangeRequest {
        key: key.as_bytes().to_vec(),
        ..Default::default()
    };
    client
        .call("delete", |stubs| {
            let request = request.clone();
            async move { stubs.kv().delete_range(request).await }
        })
        .await?;
    if let Some(held) = leases.remove(key) {
        match revoke(client, held.id).await {
            Ok(()) => {}
            Err(failure) if failure.is_lease_not_found() => {}
            Err(failure) => tracing::debug!(key, error = %Error::from(failure),
                "revoking the lease failed; it expires by itself"),
        }
    }
    Ok(())
}

async fn grant(client: &Client, ttl: i64) -> Result<i64> {
    let (answer, address) = client
        .call("lease grant", |stubs| async move {
            stubs
                .lease()
                .lease_grant(LeaseGrantRequest { ttl, id: 0 })
                .await
        })
        .await?;
    let answer = answer.into_inner();
    if !answer.error.is_empty() || answer.id == 0 {
        return Err(Error::unavailable(format!(
            "etcd at {address} granted no lease: {}",
            answer.error
        ))
        .with_id("micro.registry"));
    }
    Ok(answer.id)
}

async fn revoke(client: &Client, id: i64) -> std::result::Result<(), Failure> {
    client
        .call("lease revoke", |stubs| async move {
            stubs.lease().lease_revoke(LeaseRevokeRequest { id }).await
        })
        .await?;
    Ok(())
}

/// One transaction: if `key` holds `value` under lease `id`, nothing;
/// otherwise put it. Whether it wrote.
async fn put_unless_current(
    client: &Client,
    key: &str,
    value: &[u8],
    id: i64,
) -> std::result::Result<bool, Failure> {
    let key = key.as_bytes().to_vec();
    let request = TxnRequest {
        compare: vec![
            Compare {
                result: compare::CompareResult::Equal as i32,
                target: compare::CompareTarget::Lease as i32,
                key: key.clone(),
                range_end: Vec::new(),
                target_union: Some(compare::TargetUnion::Lease(id)),
            },
            Compare {
                result: compare::CompareResult::Equal as i32,
                target: compare::CompareTarget::Value as i32,
                key: key.clone(),
                range_end: Vec::new(),
                target_union: Some(compare::TargetUnion::Value(value.to_vec())),
            },
        ],
        success: Vec::new(),
        failure: vec![RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest {
                key,
                value: value.to_vec(),
                lease: id,
                ..Default::default()
            })),
        }],
    };
    let (answer, _) = client
        .call("put", |stubs| {
            let request = request.clone();
            async move { stubs.kv().txn(request).await }
        })
        .await?;
    Ok(!answer.into_inner().succeeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_seconds() {
        assert_eq!(ttl_secs(Duration::ZERO), 1);
        assert_eq!(ttl_secs(Duration::from_millis(1500)), 2);
        assert_eq!(ttl_secs(Duration::from_secs(60)), 60);
    }
}
