//! Lease renewal shared by the blocks that hold etcd leases (registry
//! nodes, lock and leader candidates).

use super::client::Client;
use super::pb::etcdserverpb::LeaseKeepAliveRequest;
use crate::Result;

/// Renews lease `id` once; its remaining TTL in seconds, 0 when etcd no
/// longer has it.
pub(crate) async fn keep_alive_once(client: &Client, id: i64) -> Result<i64> {
    let answer = client
        .call("lease keepalive", |stubs| async move {
            let requests = futures_util::stream::iter([LeaseKeepAliveRequest { id }]);
            let mut answers = stubs.lease().lease_keep_alive(requests).await?.into_inner();
            match answers.message().await? {
                Some(answer) => Ok(answer.ttl),
                None => Err(tonic::Status::unavailable(
                    "the keepalive stream ended without an answer",
                )),
            }
        })
        .await;
    match answer {
        Ok((ttl, _)) => Ok(ttl),
        // etcd answers an unknown lease with TTL 0; should it ever say so
        // as an error instead, that is the same news.
        Err(failure) if failure.is_lease_not_found() => Ok(0),
        Err(failure) => Err(failure.into()),
    }
}
