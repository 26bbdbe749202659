//! The PostgreSQL store (`MICRO_STORE=postgres`, cargo feature
//! `store-postgres`).
//!
//! `MICRO_STORE_ADDRESS` is a connection string, `host=… user=… dbname=…`
//! or `postgres://user@host/db`, or `host:port` for user `postgres`
//! (default `host=127.0.0.1 user=postgres`);
//! TLS is not supported yet. Two tables are created on first use:
//!
//! ```sql
//! micro_store        (db, tbl, key, value BYTEA, metadata TEXT (JSON), expires_at BIGINT (ms, 0: never))
//! micro_store_fences (db, tbl, name, token BIGINT)
//! ```
//!
//! Every write and delete is one SQL statement (the fence upsert and the
//! record change in data-modifying CTEs), so it applies whole or not at all
//! and needs no transaction on the shared connection. Deadlines use the
//! server's clock; expired rows are hidden at once and deleted every 256th
//! write of a store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio_postgres::{NoTls, Statement};

use super::checks::{self, Namespace};
use super::{
    DeleteOptions, Fence, ListOptions, ReadOptions, Record, Store, StoreOptions, WriteOptions,
};
use crate::{Error, Result};

/// The connection string used when none is configured.
pub const DEFAULT_ADDRESS: &str = "host=127.0.0.1 user=postgres";

/// Every how many writes a namespace's expired rows are deleted.
const SWEEP_EVERY: u32 = 256;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// The server's clock in ms since the epoch.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS micro_store (
    db TEXT NOT NULL,
    tbl TEXT NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    value BYTEA NOT NULL,
    metadata TEXT NOT NULL DEFAULT '',
    expires_at BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (db, tbl, key)
);
CREATE TABLE IF NOT EXISTS micro_store_fences (
    db TEXT NOT NULL,
    tbl TEXT NOT NULL,
    name TEXT NOT NULL,
    token BIGINT NOT NULL,
    PRIMARY KEY (db, tbl, name)
);
"#;

/// The fence upsert: a row (the fence passed) only when the stored token is
/// not greater. `$1` db, `$2` tbl, `$3` name, `$4` token.
const FENCE_CTE: &str = "fence AS (
    INSERT INTO micro_store_fences (db, tbl, name, token) VALUES ($1, $2, $3, $4)
    ON CONFLICT (db, tbl, name) DO UPDATE SET token = EXCLUDED.token
    WHERE micro_store_fences.token <= EXCLUDED.token
    RETURNING 1)";

/// The statements, prepared once per connection.
struct Statements {
    get: Statement,
    scan: Statement,
    keys: Statement,
    write: Statement,
    fenced_write: Statement,
    delete: Statement,
    fenced_delete: Statement,
    token: Statement,
    sweep: Statement,
}

struct Connection {
    client: tokio_postgres::Client,
    statements: Statements,
}

/// The PostgreSQL store. Clones share one connection (queries are
/// pipelined on it), made on first use and remade after it breaks.
#[derive(Clone)]
pub struct PostgresStore {
    config: tokio_postgres::Config,
    shown: String,
    defaults: Namespace,
    connection: Arc<tokio::sync::Mutex<Option<Arc<Connection>>>>,
    writes: Arc<AtomicU32>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("address", &self.shown)
            .finish_non_exhaustive()
    }
}

/// A connection string without its password, for messages.
fn shown(address: &str) -> String {
    if let Some((scheme, rest)) = address.split_once("://") {
        return match rest.rsplit_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}@{host}")
            }
            None => address.to_owned(),
        };
    }
    address
        .split_whitespace()
        .filter(|part| !part.starts_with("password="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `host:port` as a connection string for user `postgres`; `None` for
/// anything else.
fn host_port(address: &str) -> Option<String> {
    if address.contains('=') || address.contains("://") {
        return None;
    }
    let (host, port) = address.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    Some(format!("host={host} port={port} user=postgres"))
}

/// A token as a BIGINT that sorts as the u64 does.
fn token_sql(token: u64) -> i64 {
    i64::from_ne_bytes((token ^ (1 << 63)).to_ne_bytes())
}

fn token_of(sql: i64) -> u64 {
    u64::from_ne_bytes(sql.to_ne_bytes()) ^ (1 << 63)
}

impl PostgresStore {
    /// A store at `options.address` (default [`DEFAULT_ADDRESS`]). Does
    /// not connect: the first call does (and creates the tables).
    ///
    /// # Errors
    ///
    /// 400 for a connection string that does not parse, or a bad database
    /// or table name.
    pub fn new(options: &StoreOptions) -> Result<Self> {
        let defaults = options.namespace()?;
        let address = options.address.as_deref().unwrap_or(DEFAULT_ADDRESS).trim();
        let address = host_port(address).unwrap_or_else(|| address.to_owned());
        let address = address.as_str();
        let shown = shown(address);
        let mut config: tokio_postgres::Config = address
            .parse()
            .map_err(|e| checks::bad(format!("postgres address {shown:?}: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        Ok(Self {
            config,
            shown,
            defaults,
            connection: Arc::default(),
            writes: Arc::default(),
        })
    }

    fn failed(&self, e: &tokio_postgres::Error) -> Error {
        let detail = match e.as_db_error() {
            Some(db) => format!("{}: {}", db.code().code(), db.message()),
            None => {
                let mut text = e.to_string();
                if let Some(source) = std::error::Error::source(e) {
                    text = format!("{text}: {source}");
                }
                text
            }
        };
        if e.as_db_error().is_some() {
            Error::internal(format!(
                "postgres at {} refused the request: {detail}",
                self.shown
            ))
            .with_id(checks::ID)
        } else {
            checks::unavailable(format!("postgres at {} unreachable: {detail}", self.shown))
        }
    }

    async fn connection(&self) -> Result<Arc<Connection>> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| !c.client.is_closed()) {
            return Ok(connection.clone());
        }
        let connection = Arc::new(
            tokio::time::timeout(CONNECT_TIMEOUT * 2 + QUERY_TIMEOUT, self.connect())
                .await
                .map_err(|_| {
                    checks::unavailable(format!(
                        "postgres at {} unreachable: no connection within {} s",
                        self.shown,
                        (CONNECT_TIMEOUT * 2 + QUERY_TIMEOUT).as_secs()
                    ))
                })??,
        );
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn connect(&self) -> Result<Connection> {
        let (client, driver) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| self.failed(&e))?;
        tokio::spawn(async move {
            if let Err(e) = driver.await {
                tracing::debug!(error = %e, "the postgres store's connection ended");
            }
        });
        // Two processes creating the tables at once may collide; the
        // second attempt sees them.
        if let Err(first) = client.batch_execute(SCHEMA).await {
            client
                .batch_execute(SCHEMA)
                .await
                .map_err(|_| self.failed(&first))?;
        }
        let live = format!("(expires_at = 0 OR expires_at > {NOW_MS})");
        let left = format!("CASE WHEN expires_at = 0 THEN -1 ELSE expires_at - {NOW_MS} END");
        let upsert = "INSERT INTO micro_store (db, tbl, key, value, metadata, expires_at)";
        let set = "ON CONFLICT (db, tbl, key) DO UPDATE SET value = EXCLUDED.value, \
                   metadata = EXCLUDED.metadata, expires_at = EXCLUDED.expires_at";
        let deadline = format!("CASE WHEN $5::bigint = 0 THEN 0 ELSE {NOW_MS} + $5::bigint END");
        let sql = [
            format!(
                "SELECT key, value, metadata, {left} FROM micro_store \
                 WHERE db = $1 AND tbl = $2 AND key = $3 AND {live}"
            ),
            format!(
                "SELECT key, value, metadata, {left} FROM micro_store \
                 WHERE db = $1 AND tbl = $2 AND starts_with(key, $3) AND {live} \
                 ORDER BY key OFFSET $4 LIMIT $5"
            ),
            format!(
                "SELECT key FROM micro_store \
                 WHERE db = $1 AND tbl = $2 AND starts_with(key, $3) AND {live} \
                 ORDER BY key OFFSET $4 LIMIT $5"
            ),
            // $1 db, $2 tbl, $3 key, $4 value, $5 ttl ms, $6 metadata.
            format!("{upsert} VALUES ($1, $2, $3, $4, $6, {deadline}) {set}"),
            // $1 db, $2 tbl, $3 name, $4 token, $5 ttl ms, $6 key, $7 value, $8 metadata.
            format!(
                "WITH {FENCE_CTE}, put AS ({upsert} SELECT $1, $2, $6, $7, $8, \
                 CASE WHEN $5::bigint = 0 THEN 0 ELSE {NOW_MS} + $5::bigint END \
                 WHERE EXISTS (SELECT 1 FROM fence) {set} RETURNING 1) \
                 SELECT (SELECT count(*) FROM fence)"
            ),
            "DELETE FROM micro_store WHERE db = $1 AND tbl = $2 AND key = $3".to_owned(),
            // $1 db, $2 tbl, $3 name, $4 token, $5 key.
            format!(
                "WITH {FENCE_CTE}, gone AS (DELETE FROM micro_store \
                 WHERE db = $1 AND tbl = $2 AND key = $5 AND EXISTS (SELECT 1 FROM fence) \
                 RETURNING 1) SELECT (SELECT count(*) FROM fence)"
            ),
            "SELECT token FROM micro_store_fences WHERE db = $1 AND tbl = $2 AND name = $3"
                .to_owned(),
            format!(
                "DELETE FROM micro_store \
                 WHERE db = $1 AND tbl = $2 AND expires_at <> 0 AND expires_at <= {NOW_MS}"
            ),
        ];
        let mut prepared = Vec::new();
        for text in &sql {
            prepared.push(client.prepare(text).await.map_err(|e| self.failed(&e))?);
        }
        let mut prepared = prepared.into_iter();
        let mut next = || prepared.next().expect("one statement per query");
        let statements = Statements {
            get: next(),
            scan: next(),
            keys: next(),
            write: next(),
            fenced_write: next(),
            delete: next(),
            fenced_delete: next(),
            token: next(),
            sweep: next(),
        };
        Ok(Connection { client, statements })
    }

    /// Runs a query on the shared connection with a time limit.
    async fn query(
        &self,
        pick: impl FnOnce(&Statements) -> &Statement,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let connection = self.connection().await?;
        let statement = pick(&connection.statements).clone();
        match tokio::time::timeout(QUERY_TIMEOUT, connection.client.query(&statement, params)).await
        {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => Err(self.failed(&e)),
            Err(_) => Err(checks::unavailable(format!(
                "postgres at {} unreachable: no answer within {} s",
                self.shown,
                QUERY_TIMEOUT.as_secs()
            ))),
        }
    }

    fn record(row: &tokio_postgres::Row) -> Result<Record> {
        let key: String = row.get(0);
        let value: Vec<u8> = row.get(1);
        let metadata: String = row.get(2);
        let left: i64 = row.get(3);
        let metadata = if metadata.is_empty() {
            BTreeMap::new()
        } else {
            serde_json::from_str(&metadata).map_err(|e| {
                Error::internal(format!("the metadata of {key:?} does not decode: {e}"))
                    .with_id(checks::ID)
            })?
        };
        Ok(Record {
            key,
            value: value.into(),
            metadata,
            expiry: u64::try_from(left).ok().map(Duration::from_millis),
        })
    }

    /// The 409 for a refused fence, with the token that refused it.
    async fn refused(&self, namespace: &Namespace, fence: &Fence) -> Error {
        let highest = self
            .query(
                |s| &s.token,
                &[&namespace.database, &namespace.table, &fence.name],
            )
            .await
            .ok()
            .and_then(|rows| rows.first().map(|row| token_of(row.get(0))));
        checks::fenced(fence, highest)
    }
}

/// A count or offset as a BIGINT parameter.
fn bigint(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn read(&self, key: &str, options: &ReadOptions) -> Result<Vec<Record>> {
        let namespace = self.defaults.of(&options.scope)?;
        let (db, tbl) = (&namespace.database, &namespace.table);
        if !options.prefix {
            checks::key(key)?;
            let rows = self.query(|s| &s.get, &[db, tbl, &key]).await?;
            if rows.is_empty() {
                return Err(checks::not_found(key, &namespace));
            }
            return rows.iter().map(Self::record).collect();
        }
        checks::prefix(key)?;
        let (offset, limit) = (
            bigint(options.offset),
            bigint(options.limit.unwrap_or(usize::MAX)),
        );
        let rows = self
            .query(|s| &s.scan, &[db, tbl, &key, &offset, &limit])
            .await?;
        rows.iter().map(Self::record).collect()
    }

    async fn write(&self, record: Record, options: &WriteOptions) -> Result<()> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::write(&record, options.ttl, options.fence.as_ref())?;
        let (db, tbl) = (&namespace.database, &namespace.table);
        let ttl_ms = options.ttl.map_or(0, |ttl| {
            i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX).max(1)
        });
        let metadata = if record.metadata.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&record.metadata).unwrap_or_default()
        };
        let value: &[u8] = &record.value;
        if self.writes.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Expired rows are hidden from reads; this deletes them.
            self.query(|s| &s.sweep, &[db, tbl]).await?;
        }
        let Some(fence) = &options.fence else {
            self.query(
                |s| &s.write,
                &[db, tbl, &record.key, &value, &ttl_ms, &metadata],
            )
            .await?;
            return Ok(());
        };
        let token = token_sql(fence.token);
        let rows = self
            .query(
                |s| &s.fenced_write,
                &[
                    db,
                    tbl,
                    &fence.name,
                    &token,
                    &ttl_ms,
                    &record.key,
                    &value,
                    &metadata,
                ],
            )
            .await?;
        let passed: i64 = rows.first().map_or(0, |row| row.get(0));
        if passed == 0 {
            return Err(self.refused(&namespace, fence).await);
        }
        Ok(())
    }

    async fn delete(&self, key: &str, options: &DeleteOptions) -> Result<()> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::key(key)?;
        let (db, tbl) = (&namespace.database, &namespace.table);
        let Some(fence) = &options.fence else {
            self.query(|s| &s.delete, &[db, tbl, &key]).await?;
            return Ok(());
        };
        checks::name("fence", &fence.name)?;
        let token = token_sql(fence.token);
        let rows = self
            .query(|s| &s.fenced_delete, &[db, tbl, &fence.name, &token, &key])
            .await?;
        let passed: i64 = rows.first().map_or(0, |row| row.get(0));
        if passed == 0 {
            return Err(self.refused(&namespace, fence).await);
        }
        Ok(())
    }

    async fn list(&self, options: &ListOptions) -> Result<Vec<String>> {
        let namespace = self.defaults.of(&options.scope)?;
        checks::prefix(&options.prefix)?;
        let (offset, limit) = (
            bigint(options.offset),
            bigint(options.limit.unwrap_or(usize::MAX)),
        );
        let rows = self
            .query(
                |s| &s.keys,
                &[
                    &namespace.database,
                    &namespace.table,
                    &options.prefix,
                    &offset,
                    &limit,
                ],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_their_order_and_passwords_stay_hidden() {
        for (a, b) in [(0, 1), (1 << 62, (1 << 63) + 1), (u64::MAX - 1, u64::MAX)] {
            assert!(token_sql(a) < token_sql(b), "{a} {b}");
            assert_eq!(token_of(token_sql(a)), a);
        }
        assert_eq!(shown("host=h user=u password=s3cret"), "host=h user=u");
        assert_eq!(shown("postgres://u:s3cret@h/db"), "postgres://u@h/db");
        assert_eq!(
            host_port("127.0.0.1:5432").as_deref(),
            Some("host=127.0.0.1 port=5432 user=postgres")
        );
        assert_eq!(host_port("host=h"), None);
    }
}
