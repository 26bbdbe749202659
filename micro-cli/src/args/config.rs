//! `micro config`: the configuration tree in etcd.

use clap::{Args, Subcommand};

/// `micro config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The etcd endpoints, comma separated (default: --registry-address /
    /// MICRO_REGISTRY_ADDRESS, else 127.0.0.1:2379).
    #[arg(long, global = true, env = "MICRO_CONFIG_ADDRESS")]
    pub address: Option<String>,
    /// The key prefix configurations live under.
    #[arg(
        long,
        global = true,
        env = "MICRO_CONFIG_PREFIX",
        default_value = "/micro/config/"
    )]
    pub prefix: String,
    /// What to do.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// The `micro config` commands. A KEY is a path under the prefix,
/// `app/db/host`; a value is JSON when it parses as JSON, else text.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Prints the tree under KEY as JSON (`{"host":"db1","port":5432}`), or
    /// KEY's value when nothing lies below it.
    Get {
        /// The key, e.g. `app/db`.
        key: String,
    },
    /// Stores VALUE at KEY.
    Set {
        /// The key, e.g. `app/db/host`.
        key: String,
        /// The value: JSON (`5432`, `true`, `["a"]`) or text (`db1`); `-`
        /// reads it from stdin.
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Deletes KEY and every key under it.
    Delete {
        /// The key, e.g. `app/db`.
        key: String,
    },
    /// Every key under KEY (default: all) with its value.
    List {
        /// The key, e.g. `app`.
        key: Option<String>,
    },
    /// Prints each change under KEY (default: all) as it happens, until Ctrl-C.
    Watch {
        /// The key, e.g. `app`.
        key: Option<String>,
    },
}
