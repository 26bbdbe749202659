//! The etcd store (`MICRO_STORE=etcd`, cargo feature `etcd`): records in an
//! etcd v3 cluster, through the client the etcd registry uses.
//!
//! `MICRO_STORE_ADDRESS` names the endpoints (comma separated, `host:port`
//! or `http://host:port`; default `127.0.0.1:2379`). Keys:
//!
//! ```text
//! /micro/store/data/<database>/<table>/<key>     the record (value, metadata, deadline)
//! /micro/store/fence/<database>/<table>/<name>   the highest fencing token, 20 digits
//! ```
//!
//! A TTL is an etcd lease (whole seconds, rounded up) that removes the key;
//! the exact deadline is kept in the record, so reads hide it on time. A
//! fenced write is one transaction: if the stored token is greater, nothing;
//! otherwise put the token and the record.

use std::time::Duration;

use super::checks::{self, Namespace};
use super::envelope;
use super::{
    DeleteOptions, Fence, ListOptions, ReadOptions, Record, Store, StoreOptions, WriteOptions,
};
use crate::etcd::client::Client;
use crate::etcd::keys::range_end;
use crate::etcd::pb::etcdserverpb::{
    Compare, DeleteRangeRequest, LeaseGrantRequest, LeaseRevokeRequest, PutRequest, RangeRequest,
    RequestOp, TxnRequest, compare, request_op, response_op,
};
use crate::etcd::pb::mvccpb::KeyValue;
use crate::{Error, Result};

/// The endpoint used when none is configured.
pub const DEFAULT_ADDRESS: &str = crate::etcd::client::DEFAULT_ADDRESS;
/// The key prefix used when none is configured.
pub const DEFAULT_PREFIX: &str = "/micro/store/";

/// Settings of the etcd store.
#[derive(Clone, Debug)]
pub struct EtcdStoreOptions {
    /// Endpoints (in `address`), database and table.
    pub store: StoreOptions,
    /// The prefix of every key (default `/micro/store/`).
    pub prefix: String,
    /// Longest wait to connect to one endpoint.
    pub connect_timeout: Duration,
    /// Longest wait for one call to one endpoint.
    pub request_timeout: Duration,
}

impl From<StoreOptions> for EtcdStoreOptions {
    fn from(store: StoreOptions) -> Self {
        Self {
            store,
            prefix: DEFAULT_PREFIX.to_owned(),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
        }
    }
}

/// The etcd store. Clones share their connections. Made without
/// connecting: the first call connects.
#[derive(Clone)]
pub struct EtcdStore {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    client: Client,
    prefix: String,
    defaults: Namespace,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.inner.client.addresses())
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// A store on the endpoints of `options`.
    ///
    /// # Errors
    ///
    /// 400 for a bad endpoint, database or table name.
    pub fn new(options: impl Into<EtcdStoreOptions>) -> Result<Self> {
        let options = options.into();
        let endpoints = crate::etcd::client::endpoints(options.store.address.as_deref());
        let client = Client::new(
            checks::ID,
            &endpoints,
            options.connect_timeout,
            options.request_timeout,
        )?;
        let prefix = format!("/{}/", options.prefix.trim_matches('/'));
        Ok(Self {
            inner: std::sync::Arc::new(Inner {
                client,
                prefix: prefix.replace("//", "/"),
                defaults: options.store.namespace()?,
            }),
        })
    }

    fn data_prefix(&self, namespace: &Namespace) -> String {
        format!(
            "{}data/{}/{}/",
            self.inner.prefix, namespace.database, namespace.table
        )
    }

    fn fence_key(&self, namespace: &Namespace, fence: &Fence) -> Vec<u8> {
        format!(
            "{}fence/{}/{}/{}",
            self.inner.prefix, namespace.database, namespace.table, fence.name
        )
        .into_bytes()
    }

    /// The live records from `key` to `end` (exclusive), in key order: all
    /// of them, or (with `want`) at least the first `want` when there are
    /// that many. etcd is asked for `want` keys first, and for the whole
    /// range only when some of those had expired.
    async fn range(
        &self,
        namespace: &Namespace,
        key: Vec<u8>,
        end: Vec<u8>,
        want: Option<usize>,
    ) -> Result<Vec<Record>> {
        if want == Some(0) {
            return Ok(Vec::new());
        }
        let limit = want.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX));
        if limit > 0 {
            let (records, complete) = self.fetch(namespace, &key, &end, limit).await?;
            if complete || records.len() >= want.unwrap_or(0) {
                return Ok(records);
            }
        }
        Ok(self.fetch(namespace, &key, &end, 0).await?.0)
    }

    /// One range read of at most `limit` keys (0: all); the live records,
    /// and whether the range held no more keys.
    async fn fetch(
        &self,
        namespace: &Namespace,
        key: &[u8],
        end: &[u8],
        limit: i64,
    ) -> Result<(Vec<Record>, bool)> {
        let request = RangeRequest {
            key: key.to_vec(),
            range_end: end.to_vec(),
            limit,
            ..Default::default()
        };
        let (answer, _) = self
            .inner
            .client
            .call("read", |stubs| {
                let request = request.clone();
                async move { stubs.kv().range(request).await }
            })
            .await?;
        let answer = answer.into_inner();
        let strip = self.data_prefix(namespace);
        let now = checks::now_ms();
        let mut records = Vec::new();
        for kv in &answer.kvs {
            if let Some(record) = self.record(&strip, kv, now)? {
                records.push(record);
            }
        }
        Ok((records, !answer.more))
    }

    fn record(&self, strip: &str, kv: &KeyValue, now: u64) -> Result<Option<Record>> {
        let key = std::str::from_utf8(&kv.key)
            .ok()
            .and_then(|k| k.strip_prefix(strip))
            .ok_or_else(|| {
                Error::internal(format!(
                    "etcd returned a key outside {strip}: {:?}",
                    String::from_utf8_lossy(&kv.key)
                ))
                .with_id(checks::ID)
            })?;
        envelope::decode(key, &kv.value, now)
    }

    async fn grant(&self, ttl: Duration) -> Result<i64> {
        let seconds = i64::try_from(ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0))
            .unwrap_or(i64::MAX)
            .max(1);
        let (answer, address) = self
            .inner
            .client
            .call("lease grant", |stubs| async move {
                stubs
                    .lease()
                    .lease_grant(LeaseGrantRequest {
                        ttl: seconds,
                        id: 0,
                    })
                    .await
            })
            .await?;
        let answer = answer.into_inner();
        if !answer.error.is_empty() || answer.id == 0 {
            return Err(checks::unavailable(format!(
                "etcd at {address} granted no lease: {}",
                answer.error
            )));
        }
        Ok(answer.id)
    }

    async fn revoke(&self, id: i64) {
        let outcome = self
            .inner
            .client
            .call("lease revoke", |stubs| async move {
                stubs.lease().lease_revoke(LeaseRevokeRequest { id }).await
            })
            .await;
        if let Err(failure) = outcome {
            tracing::debug!(lease = id, error = %Error::from(failure),
                "revoking an unused lease failed; it expires by itself");
        }
    }

    /// Runs `op` alone, or under `fence`: one transaction that does nothing
    /// when the stored token is greater (409), and otherwise stores the
    /// token and runs `op`.
    async fn apply(
        &self,
        namespace: &Namespace,
        op: request_op::Request,
        fence: Option<&Fence>,
    ) -> Result<()> {
        let Some(fence) = fence else {
            let request = TxnRequest {
                success: vec![RequestOp { request: Some(op) }],
                ..Default::default()
            };
            self.txn(request).await?;
            return Ok(());
        };
        let fence_key = self.fence_key(namespace, fence);
        let token = checks::token_text(fence.token).into_bytes();
        let request = TxnRequest {
            compare: vec![Compare {
                result: compare::CompareResult::Greater as i32,
                target: compare::CompareTarget::Value as i32,
                key: fence_key.clone(),
                range_end: Vec::new(),
                target_union: Some(compare::TargetUnion::Value(token.clone())),
            }],
            // The stored token is newer: refused; read it for the message.
            success: vec![RequestOp {
                request: Some(request_op::Request::RequestRange(RangeRequest {
                    key: fence_key.clone(),
                    ..Default::default()
                })),
            }],
            failure: vec![
                RequestOp {
                    request: Some(request_op::Request::RequestPut(PutRequest {
                        key: fence_key,
                        value: token,
                        ..Default::default()
                    })),
                },
                RequestOp { request: Some(op) },
            ],
        };
        let answer = self.txn(request).await?;
        if !answer.succeeded {
            return Ok(());
        }
        let highest = answer
            .responses
            .into_iter()
            .find_map(|r| match r.response {
                Some(response_op::Response::ResponseRange(range)) => range.kvs.into_iter().next(),
                _ => None,
            })
            .and_then(|kv| String::from_utf8(kv.value).ok())
            .and_then(|text| text.parse().ok());
        Err(checks::fenced(fence, highest))
    }

    async fn txn(&self, request: TxnRequest) -> Result<crate::etcd::pb::etcdserverpb::TxnResponse> {
        let (answer, _) = self
            .inner
            .client
            .call("write", |stubs| {
                let request = request.clone();
                async move { stubs.kv().txn(request).await }
            })
            .await?;
        Ok(answer.into_inner())
    }
}

#[async_trait::async_trait]
impl Store for EtcdStore {
    fn name(&self) -> &'static str {
        "etcd"
    }

    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Vec<Record>> {
        let namespace = self.inner.defaults.of(&options.scope)?;
        let full = format!("{}{key}", self.data_prefix(&namespace)).into_bytes();
        if !options.prefix {
            checks::key(key)?;
            let records = self.range(&namespace, full, Vec::new(), None).await?;
            if records.is_empty() {
                return Err(checks::not_found(key, &namespace));
            }
            return Ok(records);
        }
        checks::prefix(key)?;
        let end = range_end(&full);
        let want = options.limit.map(|l| l.saturating_add(options.offset));
        let records = self.range(&namespace, full, end, want).await?;
        Ok(checks::page(records, options.offset, options.limit))
    }

    async fn write(&self, record: Record, options: &WriteOptions) -> Result<()> {
        let namespace = self.inner.defaults.of(&options.scope)?;
        checks::write(&record, options.ttl, options.fence.as_ref())?;
        let key = format!("{}{}", self.data_prefix(&namespace), record.key).into_bytes();
        let lease = match options.ttl {
            Some(ttl) => self.grant(ttl).await?,
            None => 0,
        };
        let value = envelope::encode(record, checks::deadline_ms(options.ttl));
        let put = request_op::Request::RequestPut(PutRequest {
            key,
            value,
            lease,
            ..Default::default()
        });
        let outcome = self.apply(&namespace, put, options.fence.as_ref()).await;
        if outcome.is_err() && lease != 0 {
            self.revoke(lease).await;
        }
        outcome
    }

    async fn delete(&self, key: &str, options: &DeleteOptions) -> Result<()> {
        let namespace = self.inner.defaults.of(&options.scope)?;
        checks::key(key)?;
        if let Some(fence) = &options.fence {
            checks::name("fence", &fence.name)?;
        }
        let delete = request_op::Request::RequestDeleteRange(DeleteRangeRequest {
            key: format!("{}{key}", self.data_prefix(&namespace)).into_bytes(),
            ..Default::default()
        });
        self.apply(&namespace, delete, options.fence.as_ref()).await
    }

    async fn list(&self, options: &ListOptions) -> Result<Vec<String>> {
        let namespace = self.inner.defaults.of(&options.scope)?;
        checks::prefix(&options.prefix)?;
        let full = format!("{}{}", self.data_prefix(&namespace), options.prefix).into_bytes();
        let end = range_end(&full);
        let want = options.limit.map(|l| l.saturating_add(options.offset));
        let records = self.range(&namespace, full, end, want).await?;
        Ok(checks::page(records, options.offset, options.limit)
            .into_iter()
            .map(|r| r.key)
            .collect())
    }
}
