//! The sources of one configuration and their merge: defaults < file <
//! environment < etcd, later ones overriding earlier ones key by key.

use std::sync::Arc;

use figment::providers::{Env, Serialized};
use figment::{Figment, Provider as _};
use serde::de::DeserializeOwned;

use super::file::File;
use super::redact;
use crate::{Error, Result};

/// A user check run on every candidate configuration.
pub(crate) type Validator<T> = Arc<dyn Fn(&T) -> std::result::Result<(), String> + Send + Sync>;

/// What a merge produced, for telling a change from a repeat.
pub(crate) type Snapshot = figment::value::Map<figment::Profile, figment::value::Dict>;

/// Where a configuration comes from.
pub(crate) struct Sources<T> {
    pub(crate) defaults: Option<serde_json::Value>,
    pub(crate) file: Option<File>,
    pub(crate) env_prefix: Option<String>,
    #[cfg(feature = "etcd")]
    pub(crate) etcd: Option<(super::etcd::EtcdSource, String)>,
    pub(crate) validate: Option<Validator<T>>,
}

impl<T: DeserializeOwned> Sources<T> {
    /// Reads every source, merges, deserialises and validates.
    ///
    /// # Errors
    ///
    /// 400 for a value of the wrong type, a missing field, a file that does
    /// not parse or a failed validation (no configured value in the
    /// message); 404 for a missing file; 503 when etcd cannot be reached.
    pub(crate) async fn load(&self) -> Result<(T, Snapshot)> {
        let mut figment = Figment::new();
        if let Some(defaults) = &self.defaults {
            figment = figment.merge(Serialized::defaults(defaults));
        }
        if let Some(file) = &self.file {
            figment = file.merge_into(figment)?;
        }
        if let Some(prefix) = &self.env_prefix {
            figment = figment.merge(Env::prefixed(prefix).split("__"));
        }
        #[cfg(feature = "etcd")]
        if let Some((etcd, path)) = &self.etcd {
            let tree = etcd.tree(path).await?;
            let name = format!("etcd {}{path}", etcd.prefix());
            figment = figment.merge(super::etcd::EtcdProvider { name, tree });
        }
        let snapshot = figment.data().map_err(redact::error)?;
        let value: T = figment.extract().map_err(redact::error)?;
        if let Some(validate) = &self.validate {
            validate(&value).map_err(|why| {
                Error::bad_request(format!("invalid configuration: {why}")).with_id("micro.config")
            })?;
        }
        Ok((value, snapshot))
    }
}
