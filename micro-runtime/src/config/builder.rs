//! [`ConfigBuilder`]: the sources of a configuration, its check, and how
//! changes are followed.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, broadcast, mpsc, watch};

use super::file::File;
use super::handle::{Config, Shared};
use super::reload::{self, Callback, Reloader};
use super::sources::{Sources, Validator};
use crate::{Error, Result, env_vars};

/// How long file and etcd changes must be quiet before a reload (default).
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(50);

/// Builds a [`Config`]: sources in order of precedence (defaults < file <
/// environment < etcd), an optional check, and callbacks.
///
/// # Examples
///
/// ```no_run
/// # async fn demo() -> micro_runtime::Result<()> {
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct App { db: Db }
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Db { host: String, port: u16 }
///
/// let config = micro_runtime::config::Config::builder()
///     .defaults(App { db: Db { host: "localhost".into(), port: 5432 } })
///     .file("app.toml")
///     .env_prefix("APP_") // APP_DB__PORT=6543
///     .validate(|app: &App| if app.db.port == 0 { Err("db.port is 0".into()) } else { Ok(()) })
///     .build()
///     .await?;
/// let mut changes = config.watch();
/// changes.changed().await.ok();
/// println!("db at {}:{}", changes.borrow().db.host, config.get().db.port);
/// # Ok(()) }
/// ```
pub struct ConfigBuilder<T> {
    defaults: Option<Result<serde_json::Value>>,
    file: Option<PathBuf>,
    env_prefix: Option<String>,
    #[cfg(feature = "etcd")]
    etcd: Option<(super::etcd::EtcdSource, String)>,
    validate: Option<Validator<T>>,
    callbacks: Vec<Callback<T>>,
    debounce: Duration,
    watch: bool,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for ConfigBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("ConfigBuilder");
        s.field("file", &self.file)
            .field("env_prefix", &self.env_prefix);
        #[cfg(feature = "etcd")]
        s.field("etcd", &self.etcd);
        s.field("debounce", &self.debounce)
            .field("watch", &self.watch)
            .finish_non_exhaustive()
    }
}

impl<T> Default for ConfigBuilder<T> {
    fn default() -> Self {
        Self {
            defaults: None,
            file: None,
            env_prefix: None,
            #[cfg(feature = "etcd")]
            etcd: None,
            validate: None,
            callbacks: Vec::new(),
            debounce: DEFAULT_DEBOUNCE,
            watch: true,
            _type: PhantomData,
        }
    }
}

impl<T: DeserializeOwned + Send + Sync + 'static> ConfigBuilder<T> {
    /// No sources yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sources from the `MICRO_CONFIG_*` variables: `MICRO_CONFIG_FILE`
    /// (a file), `MICRO_CONFIG_ENV_PREFIX` (environment variables),
    /// `MICRO_CONFIG_DEBOUNCE` and, with the `etcd` feature,
    /// `MICRO_CONFIG_PATH` (the etcd tree at that path, of the etcd named by
    /// `MICRO_CONFIG_ADDRESS` or `MICRO_REGISTRY_ADDRESS`, under
    /// `MICRO_CONFIG_PREFIX`). Options set in code afterwards override them.
    ///
    /// # Errors
    ///
    /// 400 for a variable that does not parse.
    pub fn from_env() -> Result<Self> {
        let mut builder = Self::new();
        if let Some(file) = env_vars::string("MICRO_CONFIG_FILE") {
            builder = builder.file(file);
        }
        if let Some(prefix) = env_vars::string("MICRO_CONFIG_ENV_PREFIX") {
            builder = builder.env_prefix(prefix);
        }
        if let Some(debounce) = env_vars::duration("MICRO_CONFIG_DEBOUNCE")? {
            builder = builder.debounce(debounce);
        }
        #[cfg(feature = "etcd")]
        if let Some(path) = env_vars::string("MICRO_CONFIG_PATH") {
            builder = builder.etcd(super::etcd::EtcdSource::from_env()?, path);
        }
        Ok(builder)
    }

    /// The values of every key no other source sets (the lowest layer).
    pub fn defaults(mut self, defaults: impl Serialize) -> Self {
        self.defaults = Some(serde_json::to_value(defaults).map_err(|e| {
            Error::bad_request(format!("config defaults do not serialise: {e}"))
                .with_id("micro.config")
        }));
        self
    }

    /// A TOML, YAML or JSON file (by its extension: `.toml`, `.yaml`/`.yml`,
    /// `.json`), which must exist; over the defaults. Watched for changes.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Environment variables starting with `prefix` (case-insensitive), over
    /// the file: `APP_PORT` sets `port`, `APP_DB__HOST` sets `db.host` with
    /// prefix `APP_`. Values parse as numbers, booleans, arrays
    /// (`[1, 2]`) and maps (`{a = 1}`) where they can, else as strings. Read
    /// on every reload (not watched).
    pub fn env_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.env_prefix = Some(prefix.into());
        self
    }

    /// The tree of keys at `path` in etcd (`<prefix><path>/db/host` sets
    /// `db.host`), over the environment: the highest layer. Watched for
    /// changes.
    #[cfg(feature = "etcd")]
    pub fn etcd(mut self, source: super::etcd::EtcdSource, path: impl Into<String>) -> Self {
        self.etcd = Some((source, path.into()));
        self
    }

    /// A check every configuration must pass, besides deserialising: the
    /// first one at [`build`](Self::build), every change afterwards. Its
    /// message is logged: keep secrets out of it.
    pub fn validate(
        mut self,
        check: impl Fn(&T) -> std::result::Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.validate = Some(Arc::new(check));
        self
    }

    /// Runs `callback` with each new configuration (not the first), before
    /// [`Config::watch`] receivers see it. Keep it quick: reloads wait for it.
    pub fn on_change(mut self, callback: impl Fn(&T) + Send + Sync + 'static) -> Self {
        self.callbacks.push(Arc::new(callback));
        self
    }

    /// How long changes must be quiet before a reload (default 50 ms), so a
    /// burst of writes is read once.
    pub fn debounce(mut self, quiet: Duration) -> Self {
        self.debounce = quiet;
        self
    }

    /// Whether [`build`](Self::build) follows file and etcd changes
    /// (default true). Without, [`Config::reload`] still re-reads.
    pub fn watch(mut self, follow: bool) -> Self {
        self.watch = follow;
        self
    }

    fn sources(self) -> Result<(Sources<T>, Settings<T>)> {
        let defaults = self.defaults.transpose()?;
        let file = self.file.map(File::new).transpose()?;
        if let Some(prefix) = &self.env_prefix
            && prefix.is_empty()
        {
            return Err(Error::bad_request(
                "config env prefix is empty (it would read every variable)",
            )
            .with_id("micro.config"));
        }
        #[cfg(feature = "etcd")]
        if let Some((_, path)) = &self.etcd {
            super::etcd::tree::normalize_path(path)?;
        }
        Ok((
            Sources {
                defaults,
                file,
                env_prefix: self.env_prefix,
                #[cfg(feature = "etcd")]
                etcd: self.etcd,
                validate: self.validate,
            },
            Settings {
                callbacks: self.callbacks,
                debounce: self.debounce,
                watch: self.watch,
            },
        ))
    }

    /// Reads the sources once, without following changes.
    ///
    /// # Errors
    ///
    /// 400 for an option or a value that is wrong (a field of the wrong
    /// type, a missing field, a file that does not parse, a failed
    /// validation: the message names the key and source, never the value);
    /// 404 for a missing file; 503 when etcd cannot be reached.
    pub async fn load(self) -> Result<T> {
        let (sources, _) = self.sources()?;
        Ok(sources.load().await?.0)
    }

    /// Reads the sources and, unless [`watch(false)`](Self::watch), follows
    /// the file and etcd from then on (on a task of the current Tokio
    /// runtime, until the last clone of the [`Config`] is dropped).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load); 500 when the file cannot be watched.
    pub async fn build(self) -> Result<Config<T>> {
        let (sources, settings) = self.sources()?;
        let (first, snapshot) = sources.load().await?;
        let (current, receiver) = watch::channel(Arc::new(first));
        let (rejected, _) = broadcast::channel(16);
        let (triggers, triggered) = mpsc::unbounded_channel();
        let file_watcher = match (&sources.file, settings.watch) {
            (Some(file), true) => Some(super::file_watch::watch(&file.path, triggers.clone())?),
            _ => None,
        };
        let mut tasks = Vec::new();
        #[cfg(feature = "etcd")]
        if let (Some((etcd, path)), true) = (&sources.etcd, settings.watch) {
            tasks.push(
                tokio::spawn(reload::follow_etcd(
                    etcd.clone(),
                    path.clone(),
                    triggers.clone(),
                ))
                .abort_handle(),
            );
        }
        drop(triggers);
        let reloader = Arc::new(Reloader {
            sources,
            current,
            rejected,
            callbacks: settings.callbacks,
            last: Mutex::new(snapshot),
        });
        tasks.push(
            tokio::spawn(reload::run(reloader.clone(), triggered, settings.debounce))
                .abort_handle(),
        );
        Ok(Config::new(Shared {
            receiver,
            reloader,
            tasks,
            _file_watcher: file_watcher,
        }))
    }
}

struct Settings<T> {
    callbacks: Vec<Callback<T>>,
    debounce: Duration,
    watch: bool,
}
