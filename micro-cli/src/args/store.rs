//! `micro store`: read and write a key-value store.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::{parse_duration, parse_pair};

/// `micro store`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: StoreCommand,
    /// Which store, and where in it.
    #[command(flatten)]
    pub flags: StoreFlags,
}

/// The `micro store` commands.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Prints a key's value (or, with --prefix, every record under it).
    Read(StoreReadArgs),
    /// Writes a value (argument, or `-` for stdin) at a key.
    Write(StoreWriteArgs),
    /// Deletes a key (a missing key is no error).
    Delete(StoreKeyArgs),
    /// Lists keys, in key order.
    List(StoreListArgs),
}

/// The store and the namespace, shared by the `micro store` commands.
#[derive(Debug, Clone, Args)]
pub struct StoreFlags {
    /// The backend: file, memory, redis, postgres or etcd.
    #[arg(long, global = true, env = "MICRO_STORE", default_value = "file")]
    pub store: String,
    /// The backend's address: a file path (file, default
    /// `.micro/store.redb`), `host:port` (redis, etcd), a connection string
    /// (postgres).
    #[arg(
        long,
        global = true,
        env = "MICRO_STORE_ADDRESS",
        hide_env_values = true
    )]
    pub store_address: Option<String>,
    /// The database.
    #[arg(
        long,
        global = true,
        env = "MICRO_STORE_DATABASE",
        default_value = "micro"
    )]
    pub database: String,
    /// The table.
    #[arg(
        long,
        global = true,
        env = "MICRO_STORE_TABLE",
        default_value = "micro"
    )]
    pub table: String,
}

/// `micro store read`.
#[derive(Debug, Args)]
pub struct StoreReadArgs {
    /// The key (with --prefix: the prefix).
    pub key: String,
    /// Every record whose key starts with KEY.
    #[arg(long)]
    pub prefix: bool,
    /// With --prefix: at most this many records.
    #[arg(long, requires = "prefix")]
    pub limit: Option<usize>,
    /// With --prefix: skip this many records first.
    #[arg(long, requires = "prefix", default_value_t = 0)]
    pub offset: usize,
}

/// `micro store write`.
#[derive(Debug, Args)]
pub struct StoreWriteArgs {
    /// The key.
    pub key: String,
    /// The value; `-` reads it from stdin.
    pub value: String,
    /// Expire the record this long after the write (`30s`, `1h`).
    #[arg(long, value_parser = parse_duration)]
    pub ttl: Option<Duration>,
    /// Metadata, `key=value` (repeatable).
    #[arg(short, long = "metadata", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub metadata: Vec<(String, String)>,
}

/// `micro store delete`.
#[derive(Debug, Args)]
pub struct StoreKeyArgs {
    /// The key.
    pub key: String,
}

/// `micro store list`.
#[derive(Debug, Args)]
pub struct StoreListArgs {
    /// Only keys starting with this.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// At most this many keys.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Skip this many keys first.
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}
