//! A claim's lease: granted before its key is put, renewed in the
//! background every third of its TTL, revoked on release. Each renewal
//! that etcd answers moves the claim's local deadline to the time it was
//! *sent* plus the TTL (minus a margin, see `belief.rs`); a renewal etcd
//! answers with TTL 0 (the lease is gone) ends the claim at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::etcd::client::{Client, Failure};
use crate::etcd::lease::keep_alive_once;
use crate::etcd::pb::etcdserverpb::{LeaseGrantRequest, LeaseRevokeRequest};
use crate::sync::belief::{Belief, margin};
use crate::{Error, Result};

/// A granted lease and the belief its renewals keep up.
pub(super) struct Lease {
    pub(super) id: i64,
    pub(super) belief: Arc<Belief>,
    renewals: tokio::task::JoinHandle<()>,
}

/// Grants a lease of `ttl` and starts renewing it.
pub(super) async fn grant(client: &Arc<Client>, ttl: Duration) -> Result<Lease> {
    let secs = (ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)).clamp(1, i64::MAX as u64) as i64;
    let sent = Instant::now();
    let (answer, address) = client
        .call("lease grant", |stubs| async move {
            stubs
                .lease()
                .lease_grant(LeaseGrantRequest { ttl: secs, id: 0 })
                .await
        })
        .await?;
    let answer = answer.into_inner();
    if !answer.error.is_empty() || answer.id == 0 || answer.ttl <= 0 {
        return Err(Error::unavailable(format!(
            "etcd at {address} granted no lease: {}",
            answer.error
        ))
        .with_id(client.id()));
    }
    // etcd may grant more than asked (its minimum TTL), never less.
    let granted = Duration::from_secs(answer.ttl as u64);
    let belief = Arc::new(Belief::new(Some(sent + granted - margin(granted))));
    let renewals = tokio::spawn(renew(client.clone(), answer.id, granted, belief.clone()));
    Ok(Lease {
        id: answer.id,
        belief,
        renewals,
    })
}

impl Lease {
    /// Stops renewing and revokes the lease (which deletes its keys).
    pub(super) async fn revoke(&self, client: &Client) -> Result<()> {
        self.belief.end("released");
        self.renewals.abort();
        match revoke(client, self.id).await {
            Ok(()) => Ok(()),
            Err(failure) if failure.is_lease_not_found() => Ok(()),
            Err(failure) => Err(failure.into()),
        }
    }
}

/// Renews until the belief ends; then revokes, so a claim its holder no
/// longer believes in does not keep others waiting until etcd expires it.
async fn renew(client: Arc<Client>, id: i64, ttl: Duration, belief: Arc<Belief>) {
    let every = ttl / 3;
    let mut next = Instant::now() + every;
    loop {
        tokio::select! {
            _ = belief.ended() => break,
            () = tokio::time::sleep_until(next) => {}
        }
        // A renewal sent past the deadline would extend nothing.
        if belief.check().is_err() {
            break;
        }
        let sent = Instant::now();
        match keep_alive_once(&client, id).await {
            Ok(left) if left > 0 => {
                if !belief.renewed(sent, Duration::from_secs(left as u64)) {
                    break;
                }
                next = sent + every;
            }
            Ok(_) => {
                belief.end("etcd says the lease expired or was revoked");
                break;
            }
            Err(err) => {
                tracing::debug!(lease = id, %err, "renewing the lease failed; retrying until its local deadline");
                next = Instant::now() + (every / 4).max(Duration::from_millis(50));
            }
        }
    }
    if let Err(failure) = revoke(&client, id).await
        && !failure.is_lease_not_found()
    {
        tracing::debug!(lease = id, err = %Error::from(failure), "revoking a lost lease failed; it runs out by itself");
    }
}

async fn revoke(client: &Client, id: i64) -> std::result::Result<(), Failure> {
    client
        .call("lease revoke", |stubs| async move {
            stubs.lease().lease_revoke(LeaseRevokeRequest { id }).await
        })
        .await?;
    Ok(())
}
