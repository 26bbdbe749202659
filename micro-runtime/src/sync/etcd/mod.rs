//! Locks and elections on etcd (cargo feature `etcd`), with etcd's own
//! recipe: leases, a key per candidate, the lowest create revision holds
//! (`queue.rs`); leases renewed in the background against a local deadline
//! (`lease.rs`).
//!
//! Configuration: [`EtcdSyncOptions`], or from the environment
//! ([`EtcdSyncOptions::from_env`]): `MICRO_SYNC_ADDRESS` (comma-separated
//! endpoints; default `MICRO_REGISTRY_ADDRESS`, then `127.0.0.1:2379`),
//! `MICRO_SYNC_TTL` (the lease TTL, default 10 s; whole seconds, etcd's
//! minimum applies) and `MICRO_SYNC_PREFIX` (default `/micro/sync/`).

mod lease;
mod queue;

use std::sync::Arc;
use std::time::Duration;

use super::guard::Release;
use super::{Elections, Guard, ID, LeaderInfo, Locks, Observer, check_name};
use crate::etcd::client::Client;
use crate::{Error, Result, env_vars};

/// The endpoint used when none is configured.
pub const DEFAULT_ADDRESS: &str = crate::etcd::client::DEFAULT_ADDRESS;
/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "/micro/sync/";
/// The lease TTL used when none is configured.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// Settings of [`EtcdSync`].
#[derive(Clone, Debug)]
pub struct EtcdSyncOptions {
    /// Endpoints: `host:port` or `http://host:port`.
    pub endpoints: Vec<String>,
    /// Key prefix (`/micro/sync/`): a name's candidates live under
    /// `<prefix><name>/`.
    pub prefix: String,
    /// The lease TTL: how long a holder that stopped renewing (crashed,
    /// frozen, cut off) keeps others waiting. Whole seconds, at least 1.
    pub ttl: Duration,
    /// Longest wait to connect to one endpoint.
    pub connect_timeout: Duration,
    /// Longest wait for one call to one endpoint.
    pub request_timeout: Duration,
}

impl Default for EtcdSyncOptions {
    fn default() -> Self {
        Self {
            endpoints: vec![DEFAULT_ADDRESS.to_owned()],
            prefix: DEFAULT_PREFIX.to_owned(),
            ttl: DEFAULT_TTL,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
        }
    }
}

impl EtcdSyncOptions {
    /// The defaults with the endpoints of a comma-separated `address`
    /// (`None` or empty: `127.0.0.1:2379`).
    pub fn with_address(address: Option<&str>) -> Self {
        Self {
            endpoints: crate::etcd::client::endpoints(address),
            ..Self::default()
        }
    }

    /// From `MICRO_SYNC_ADDRESS` (or `MICRO_REGISTRY_ADDRESS`),
    /// `MICRO_SYNC_TTL` and `MICRO_SYNC_PREFIX`.
    ///
    /// # Errors
    ///
    /// 400 when `MICRO_SYNC_TTL` is not a duration.
    pub fn from_env() -> Result<Self> {
        let address = env_vars::string("MICRO_SYNC_ADDRESS")
            .or_else(|| env_vars::string("MICRO_REGISTRY_ADDRESS"));
        let mut options = Self::with_address(address.as_deref());
        if let Some(ttl) = env_vars::duration("MICRO_SYNC_TTL")? {
            options.ttl = ttl;
        }
        if let Some(prefix) = env_vars::string("MICRO_SYNC_PREFIX") {
            options.prefix = prefix;
        }
        Ok(options)
    }
}

/// Locks and elections on an etcd v3 cluster (3.4 or later). Clones share
/// their connections.
///
/// Connections are made on first use, so creating one needs no running
/// etcd (nor a Tokio runtime).
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> micro_runtime::Result<()> {
/// use std::time::Duration;
/// use micro_runtime::sync::{Elections, Locks, etcd::{EtcdSync, EtcdSyncOptions}};
///
/// let sync = EtcdSync::new(EtcdSyncOptions::with_address(Some("127.0.0.1:2379")))?;
/// let guard = sync.acquire("billing/run", Duration::from_secs(5)).await?;
/// let token = guard.check()?; // right before acting; pass the token along
/// guard.release().await?;
///
/// let term = sync.campaign("billing/leader", "10.0.0.7:8080").await?;
/// tokio::select! {
///     err = term.lost() => eprintln!("lost leadership: {err}"),
///     () = async { /* lead */ } => term.release().await?,
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct EtcdSync {
    client: Arc<Client>,
    prefix: String,
    ttl: Duration,
}

impl std::fmt::Debug for EtcdSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdSync")
            .field("endpoints", &self.client.addresses())
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl EtcdSync {
    /// Locks and elections on the cluster at `options.endpoints`.
    ///
    /// # Errors
    ///
    /// 400 when no endpoint is given, one is not a URI or uses `https://`,
    /// or the TTL is zero.
    pub fn new(options: EtcdSyncOptions) -> Result<Self> {
        if options.ttl.is_zero() {
            return Err(
                Error::bad_request("the lease TTL of locks and elections is zero").with_id(ID),
            );
        }
        let mut prefix = options.prefix;
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        Ok(Self {
            client: Arc::new(Client::new(
                ID,
                &options.endpoints,
                options.connect_timeout,
                options.request_timeout,
            )?),
            prefix,
            ttl: options.ttl,
        })
    }

    /// Configured by `MICRO_SYNC_*` (see [`EtcdSyncOptions::from_env`]).
    ///
    /// # Errors
    ///
    /// As [`EtcdSyncOptions::from_env`] and [`EtcdSync::new`].
    pub fn from_env() -> Result<Self> {
        Self::new(EtcdSyncOptions::from_env()?)
    }

    async fn claim(&self, name: &str, value: &str, timeout: Option<Duration>) -> Result<Guard> {
        let prefix = queue::name_prefix(&self.prefix, name);
        let lease = lease::grant(&self.client, self.ttl).await?;
        // From here on, any way out but success (an error, a timeout, the
        // caller dropping the future) revokes the lease, deleting the key.
        let claim = Arc::new(Claim {
            client: self.client.clone(),
            lease,
        });
        let mut pending = Pending(Some(claim.clone()));
        let key = format!("{prefix}{:016x}", claim.lease.id);
        let revision = queue::put(&self.client, &key, value, claim.lease.id).await?;
        let turn = async {
            tokio::select! {
                turn = queue::wait_turn(&self.client, &prefix, &key, revision) => turn,
                why = claim.lease.belief.ended() => Err(Error::unavailable(format!(
                    "the lease of the claim on {name:?} ended while waiting: {why}"
                )).with_id(ID)),
            }
        };
        match timeout {
            Some(limit) => tokio::time::timeout(limit, turn).await.map_err(|_| {
                Error::timeout(format!(
                    "{name:?} is still held by another after {} ms",
                    limit.as_millis()
                ))
                .with_id(ID)
            })??,
            None => turn.await?,
        }
        // Waiting may have outlasted the lease (a frozen process).
        claim.lease.belief.check().map_err(|why| {
            Error::unavailable(format!(
                "the claim on {name:?} ended as it was granted: {why}"
            ))
            .with_id(ID)
        })?;
        pending.0 = None;
        let belief = claim.lease.belief.clone();
        Ok(Guard::new(name, revision as u64, belief, claim))
    }
}

/// A claim in etcd: its lease (and so its key).
struct Claim {
    client: Arc<Client>,
    lease: lease::Lease,
}

#[async_trait::async_trait]
impl Release for Claim {
    async fn release(&self) -> Result<()> {
        self.lease.revoke(&self.client).await
    }
}

/// A claim that is revoked unless it became a guard.
struct Pending(Option<Arc<Claim>>);

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(claim) = self.0.take() {
            claim.lease.belief.end("abandoned");
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = claim.lease.revoke(&claim.client).await;
                });
            }
        }
    }
}

#[async_trait::async_trait]
impl Locks for EtcdSync {
    async fn acquire(&self, name: &str, timeout: Duration) -> Result<Guard> {
        check_name("lock", name)?;
        self.claim(name, "", Some(timeout)).await
    }
}

#[async_trait::async_trait]
impl Elections for EtcdSync {
    async fn campaign(&self, name: &str, value: &str) -> Result<Guard> {
        check_name("election", name)?;
        self.claim(name, value, None).await
    }

    async fn leader(&self, name: &str) -> Result<Option<LeaderInfo>> {
        check_name("election", name)?;
        let prefix = queue::name_prefix(&self.prefix, name);
        Ok(queue::holder(&self.client, &prefix).await?.0)
    }

    async fn observe(&self, name: &str) -> Result<Observer> {
        check_name("election", name)?;
        let prefix = queue::name_prefix(&self.prefix, name);
        let (current, revision) = queue::holder(&self.client, &prefix).await?;
        let watch =
            queue::Watch::start(&self.client, prefix.as_bytes(), true, revision + 1).await?;
        Ok(Observer::new(queue::observe(
            self.client.clone(),
            prefix,
            current,
            watch,
        )))
    }
}
