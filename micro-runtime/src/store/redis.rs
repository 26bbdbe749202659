//! The Redis store (`MICRO_STORE=redis`, cargo feature `store-redis`).
//!
//! `MICRO_STORE_ADDRESS` is `host:port` or a `redis://` URL (default
//! `127.0.0.1:6379`). Keys:
//!
//! ```text
//! micro/store/data/<database>/<table>/<key>   a hash: value (bytes), metadata (JSON object)
//! micro/store/fence/<database>/<table>        a hash: fence name -> highest token, 20 digits
//! micro/store/index/<database>/<table>        a sorted set of the keys (all scores 0: key order)
//! ```
//!
//! A TTL is the key's Redis expiry (ms). Writes and deletes are one Lua
//! script each, so the fence check, the token, the record and the index
//! change together or not at all. Prefix reads and listings walk the index
//! from the prefix (`ZRANGEBYLEX`) in a script that skips, and removes from
//! the index, keys that have expired: the cost follows the page (plus the
//! expired keys met), not the size of the namespace. Standalone Redis (the
//! scripts touch keys of one namespace they do not all declare, which
//! Redis Cluster refuses).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::checks::{self, Namespace};
use super::{
    DeleteOptions, Fence, ListOptions, ReadOptions, Record, Store, StoreOptions, WriteOptions,
};
use crate::{Error, Result};

/// The address used when none is configured.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:6379";

/// Longest wait to connect, and for one answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Write or delete under an optional fence; returns the stored token when
/// the fence refuses (nil otherwise).
const APPLY: &str = r"
if ARGV[4] ~= '' then
  local seen = redis.call('HGET', KEYS[2], ARGV[4])
  if seen and seen > ARGV[5] then return seen end
  redis.call('HSET', KEYS[2], ARGV[4], ARGV[5])
end
redis.call('DEL', KEYS[1])
if ARGV[6] == 'w' then
  redis.call('HSET', KEYS[1], 'value', ARGV[1], 'metadata', ARGV[2])
  if ARGV[3] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  redis.call('ZADD', KEYS[3], 0, ARGV[7])
else
  redis.call('ZREM', KEYS[3], ARGV[7])
end
return false
";

/// The live keys of an index from `ARGV[1]` to `ARGV[2]` (`ZRANGEBYLEX`
/// bounds), skipping `ARGV[3]`, at most `ARGV[4]` (-1: all); a key whose
/// record (`ARGV[5]` .. key) is gone leaves the index.
const LIST: &str = r"
local skip = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local out = {}
local start = 0
while want ~= 0 do
  local batch = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', start, 256)
  if #batch == 0 then break end
  local removed = 0
  for _, member in ipairs(batch) do
    if redis.call('EXISTS', ARGV[5] .. member) == 1 then
      if skip > 0 then
        skip = skip - 1
      elseif want ~= 0 then
        out[#out + 1] = member
        want = want - 1
      end
    else
      redis.call('ZREM', KEYS[1], member)
      removed = removed + 1
    end
  end
  start = start + #batch - removed
end
return out
";

/// The Redis store. Clones share the connection, made on first use and
/// remade after a failure.
#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    connection: std::sync::Arc<OnceCell<ConnectionManager>>,
    /// The address without credentials, for messages.
    shown: String,
    defaults: Namespace,
    script: redis::Script,
    list: redis::Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("address", &self.shown)
            .finish_non_exhaustive()
    }
}

/// `address` as a URL, and as shown in messages (no password).
fn url(address: &str) -> (String, String) {
    let url = if address.contains("://") {
        address.to_owned()
    } else {
        format!("redis://{address}")
    };
    let shown = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((_, host)) => format!("{scheme}://{host}"),
            None => url.clone(),
        },
        None => url.clone(),
    };
    (url, shown)
}

/// The `ZRANGEBYLEX` bounds of every key starting with `prefix`: from
/// `[prefix` to `(` and the prefix with its last byte below 0xff
/// incremented (UTF-8 has no 0xff byte, so one always is).
fn lex_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    if prefix.is_empty() {
        return (b"-".to_vec(), b"+".to_vec());
    }
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            let mut min = b"[".to_vec();
            min.extend_from_slice(prefix.as_bytes());
            let mut max = b"(".to_vec();
            max.extend_from_slice(&end);
            return (min, max);
        }
    }
    (b"-".to_vec(), b"+".to_vec())
}

impl RedisStore {
    /// A store at `options.address` (default [`DEFAULT_ADDRESS`]). Does
    /// not connect: the first call does.
    ///
    /// # Errors
    ///
    /// 400 for an address that is not a Redis URL, or a bad database or
    /// table name.
    pub fn new(options: &StoreOptions) -> Result<Self> {
        let defaults = options.namespace()?;
        let (url, shown) = url(options.address.as_deref().unwrap_or(DEFAULT_ADDRESS).trim());
        let client = redis::Client::open(url.as_str())
            .map_err(|e| checks::bad(format!("redis address {shown:?}: {e}")))?;
        Ok(Self {
            client,
            connection: std::sync::Arc::default(),
            shown,
            defaults,
            script: redis::Script::new(APPLY),
            list: redis::Script::new(LIST),
        })
    }

    fn failed(&self, e: &redis::RedisError) -> Error {
        let text = e.to_string();
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_connection_refusal()
        {
            checks::unavailable(format!("redis at {} unreachable: {text}", self.shown))
        } else {
            Error::internal(format!(
                "redis at {} refused the request: {text}",
                self.shown
            ))
            .with_id(checks::ID)
        }
    }

    fn unexpected(&self, e: &dyn std::fmt::Display) -> Error {
        Error::internal(format!(
            "redis at {} gave an unexpected answer: {e}",
            self.shown
        ))
        .with_id(checks::ID)
    }

    async fn connection(&self) -> Result<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1);
        let connect = ConnectionManager::new_with_config(self.client.clone(), config);
        let manager = self
            .connection
            .get_or_try_init(|| async {
                match tokio::time::timeout(CONNECT_TIMEOUT * 2, connect).await {
                    Ok(Ok(manager)) => Ok(manager),
                    Ok(Err(e)) => Err(self.failed(&e)),
                    Err(_) => Err(checks::unavailable(format!(
                        "redis at {} unreachable: no connection within {} s",
                        self.shown,
                        CONNECT_TIMEOUT.as_secs() * 2
                    ))),
                }
            })
            .await?;
        Ok(manager.clone())
    }

    /// Runs one command (or pipeline) with a time limit.
    async fn query<T: redis::FromRedisValue>(&self, cmd: impl Query) -> Result<T> {
        let mut connection = self.connection().await?;
        match tokio::time::timeout(RESPONSE_TIMEOUT, cmd.run(&mut connection)).await {
            Ok(Ok(value)) => redis::from_redis_value(value).map_err(|e| self.unexpected(&e)),
            Ok(Err(e)) => Err(self.failed(&e)),
            Err(_) => Err(checks::unavailable(format!(
                "redis at {} unreachable: no answer within {} s",
                self.shown,
                RESPONSE_TIMEOUT.as_secs()
            ))),
        }
    }

    fn data_prefix(namespace: &Namespace) -> String {
        format!(
            "micro/store/data/{}/{}/",
            namespace.database, namespace.table
        )
    }

    fn fence_key(namespace: &Namespace) -> String {
        format!(
            "micro/store/fence/{}/{}",
            namespace.database, namespace.table
        )
    }

    fn index_key(namespace: &Namespace) -> String {
        format!(
            "micro/store/index/{}/{}",
            namespace.database, namespace.table
        )
    }

    /// The live keys of the namespace starting with `prefix`, in key order,
    /// after `offset`, at most `limit`.
    async fn keys(
        &self,
        namespace: &Namespace,
        prefix: &str,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Vec<String>> {
        let (min, max) = lex_range(prefix);
        let mut invocation = self.list.prepare_invoke();
        invocation
            .key(Self::index_key(namespace))
            .arg(min)
            .arg(max)
            .arg(offset)
            .arg(limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX)))
            .arg(Self::data_prefix(namespace));
        self.query(Invoke(invocation)).await
    }

    /// The records of `keys` (those that still exist), in that order.
    async fn records(&self, namespace: &Namespace, keys: &[String]) -> Result<Vec<Record>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let strip = Self::data_prefix(namespace);
        let mut pipe = redis::pipe();
        for key in keys {
            let full = format!("{strip}{key}");
            pipe.cmd("HGETALL").arg(&full).cmd("PTTL").arg(&full);
        }
        let answers: Vec<redis::Value> = self.query(pipe).await?;
        let mut records = Vec::new();
        for (key, pair) in keys.iter().zip(answers.chunks(2)) {
            let fields: HashMap<String, Vec<u8>> =
                redis::from_redis_value(pair[0].clone()).map_err(|e| self.unexpected(&e))?;
            let ttl: i64 =
                redis::from_redis_value(pair[1].clone()).map_err(|e| self.unexpected(&e))?;
            let Some(value) = fields.get("value") else {
                continue;
            };
            let metadata = match fields.get("metadata").filter(|m| !m.is_empty()) {
                Some(json) => {
                    serde_json::from_slice::<BTreeMap<String, String>>(json).map_err(|e| {
                        Error::internal(format!("the metadata of {key:?} does not decode: {e}"))
                            .with_id(checks::ID)
                    })?
                }
                None => BTreeMap::new(),
            };
            records.push(Record {
                key: key.clone(),
                value: value.clone().into(),
                metadata,
                expiry: u64::try_from(ttl).ok().map(Duration::from_millis),
            });
        }
        Ok(records)
    }

    /// Runs the write/delete script; 409 when the fence refuses.
    async fn apply(
        &self,
        namespace: &Namespace,
        key: &str,
        write: Option<(Record, u64)>,
        fence: Option<&Fence>,
    ) -> Result<()> {
        let op = if write.is_some() { "w" } else { "d" };
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(format!("{}{key}", Self::data_prefix(namespace)))
            .key(Self::fence_key(namespace))
            .key(Self::index_key(namespace));
        match write {
            Some((record, ttl_ms)) => {
                let metadata = if record.metadata.is_empty() {
                    String::new()
                } else {
                    serde_json::to_string(&record.metadata).unwrap_or_default()
                };
                invocation
                    .arg(record.value.as_ref())
                    .arg(metadata)
                    .arg(ttl_ms);
            }
            None => {
                invocation.arg("").arg("").arg(0);
            }
        }
        invocation
            .arg(fence.map_or("", |f| f.name.as_str()))
            .arg(
                fence
                    .map(|f| checks::token_text(f.token))
                    .unwrap_or_default(),
            )
            .arg(op)
            .arg(key);
        let refused: Option<String> = self.query(Invoke(invocation)).await?;
        match (refused, fence) {
            (Some(seen), Some(fence)) => Err(checks::fenced(fence, seen.parse().ok())),
            _ => Ok(()),
        }
    }
}

/// A command, pipeline or script run on a connection.
trait Query: Send {
    fn run(
        self,
        connection: &mut ConnectionManager,
    ) -> impl std::future::Future<Output = redis::RedisResult<redis::Value>> + Send;
}

impl Query for redis::Cmd {
    async fn run(self, connection: &mut ConnectionManager) -> redis::RedisResult<redis::Value> {
        self.query_async(connection).await
    }
}

impl Query for redis::Pipeline {
    async fn run(self, connection: &mut ConnectionManager) -> redis::RedisResult<redis::Value> {
        self.query_async(connection).await
    }
}

struct Invoke<'a>(redis::ScriptInvocation<'a>);

impl Query for Invoke<'_> {
    async fn run(self, connection: &mut ConnectionManager) -> redis::RedisResult<redis::Value> {
        self.0.invoke_async(connection).await
    }
}

#[async_trait::async_trait]
impl Store for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Vec<Record>> {
        let namespace = self.defaults.of(&options.scope)?;
        if !options.prefix {
            checks::key(key)?;
            let records = self.records(&namespace, &[key.to_owned()]).await?;
            if records.is_empty() {
                return Err(checks::not_found(key, &namespace));
            }
            return Ok(records);
        }
        checks::prefix(key)?;
        let keys = self
            .keys(&namespace, key, options.offset, options.limit)
            .await?;
        self.records(&namespace, &keys).await
    }

    async fn write(&self, record: Record, options: &WriteOptions) -> Result<()> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::write(&record, options.ttl, options.fence.as_ref())?;
        let ttl_ms = options.ttl.map_or(0, |ttl| {
            u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
        });
        let key = record.key.clone();
        self.apply(
            &namespace,
            &key,
            Some((record, ttl_ms)),
            options.fence.as_ref(),
        )
        .await
    }

    async fn delete(&self, key: &str, options: &DeleteOptions) -> Result<()> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::key(key)?;
        if let Some(fence) = &options.fence {
            checks::name("fence", &fence.name)?;
        }
        self.apply(&namespace, key, None, options.fence.as_ref())
            .await
    }

    async fn list(&self, options: &ListOptions) -> Result<Vec<String>> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::prefix(&options.prefix)?;
        self.keys(&namespace, &options.prefix, options.offset, options.limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_patterns() {
        assert_eq!(url("127.0.0.1:6379").0, "redis://127.0.0.1:6379");
        let (full, shown) = url("redis://:secret@db:6379/2");
        assert_eq!(full, "redis://:secret@db:6379/2");
        assert_eq!(shown, "redis://db:6379/2");
        assert_eq!(lex_range(""), (b"-".to_vec(), b"+".to_vec()));
        assert_eq!(lex_range("ab"), (b"[ab".to_vec(), b"(ac".to_vec()));
        assert_eq!(lex_range("é").1, b"(\xc3\xaa".to_vec());
    }
}
