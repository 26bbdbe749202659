//! Which database and table a store uses by default, and where its server
//! is: [`StoreOptions`], also from `MICRO_STORE_ADDRESS`,
//! `MICRO_STORE_DATABASE` and `MICRO_STORE_TABLE`.

use super::checks::Namespace;
use crate::{Result, env_vars};

/// The database when none is configured (go-micro's).
pub const DEFAULT_DATABASE: &str = "micro";
/// The table when none is configured (go-micro's).
pub const DEFAULT_TABLE: &str = "micro";

/// What every backend is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// The backend's address: a file path (file), `host:port` or a
    /// `redis://` URL (redis), a connection string (postgres), endpoints
    /// (etcd). `None`: the backend's default.
    pub address: Option<String>,
    /// The database calls use unless they name one.
    pub database: String,
    /// The table calls use unless they name one.
    pub table: String,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            address: None,
            database: DEFAULT_DATABASE.to_owned(),
            table: DEFAULT_TABLE.to_owned(),
        }
    }
}

impl StoreOptions {
    /// The defaults at `address`.
    pub fn with_address(address: impl Into<String>) -> Self {
        Self {
            address: Some(address.into()),
            ..Self::default()
        }
    }

    /// The options with `database` as the default database.
    #[must_use]
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = database.into();
        self
    }

    /// The options with `table` as the default table.
    #[must_use]
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// From `MICRO_STORE_ADDRESS`, `MICRO_STORE_DATABASE` and
    /// `MICRO_STORE_TABLE`.
    ///
    /// # Errors
    ///
    /// 400 for a database or table name out of limits.
    pub fn from_env() -> Result<Self> {
        let options = Self {
            address: env_vars::string("MICRO_STORE_ADDRESS"),
            database: env_vars::string("MICRO_STORE_DATABASE")
                .unwrap_or_else(|| DEFAULT_DATABASE.to_owned()),
            table: env_vars::string("MICRO_STORE_TABLE")
                .unwrap_or_else(|| DEFAULT_TABLE.to_owned()),
        };
        options.namespace()?;
        Ok(options)
    }

    /// The default namespace, checked.
    pub(crate) fn namespace(&self) -> Result<Namespace> {
        Namespace::new(self.database.trim(), self.table.trim())
    }
}
