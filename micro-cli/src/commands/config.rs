//! `micro config get|set|delete|list|watch`: the configuration tree in
//! etcd, through micro-runtime's `config::etcd::EtcdSource` (the same keys
//! a service's etcd config source reads).

use crate::args::ConfigArgs;
use crate::failure::Outcome;
use crate::session::Session;

#[cfg(not(feature = "etcd"))]
pub(crate) async fn run(_session: &Session, _args: ConfigArgs) -> Outcome {
    Err(crate::failure::Failure::bad_request(
        "micro config needs etcd: build micro with the etcd feature",
    ))
}

#[cfg(feature = "etcd")]
pub(crate) use with_etcd::run;

#[cfg(feature = "etcd")]
mod with_etcd {
    use std::time::{SystemTime, UNIX_EPOCH};

    use futures_util::StreamExt;
    use micro_runtime::config::etcd::{Change, EtcdConfigOptions, EtcdSource};
    use serde::Serialize;
    use serde_json::Value;

    use super::{ConfigArgs, Outcome, Session};
    use crate::args::ConfigCommand;
    use crate::commands::input::argument_or_stdin;
    use crate::failure::Failure;
    use crate::output::Table;

    /// A stored value as printed: JSON when it parses, else the text.
    fn parsed(value: &str) -> Value {
        serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()))
    }

    /// A key that must name something.
    fn required(key: &str) -> Outcome<&str> {
        if key.trim().trim_matches('/').is_empty() {
            return Err(Failure::bad_request("config key is empty"));
        }
        Ok(key)
    }

    pub(crate) async fn run(session: &Session, args: ConfigArgs) -> Outcome {
        // --address / MICRO_CONFIG_ADDRESS, else the registry's etcd.
        let address = args
            .address
            .as_deref()
            .or(session.global.registry_address.as_deref());
        let mut options = EtcdConfigOptions::with_address(address);
        options.prefix = args.prefix;
        let etcd = EtcdSource::new(options)?;
        let out = &session.out;
        match args.command {
            ConfigCommand::Get { key } => {
                let key = required(&key)?;
                match etcd.get(key).await? {
                    Some(value) => out.print_json(&value),
                    None => Err(Failure::not_found(format!(
                        "no config key {key:?} under {}",
                        etcd.prefix()
                    ))),
                }
            }
            ConfigCommand::Set { key, value } => {
                let key = required(&key)?;
                let value = argument_or_stdin(Some(&value), "").await?;
                etcd.set(key, &value).await?;
                if out.json() {
                    out.print_json_line(
                        &serde_json::json!({ "key": key, "value": parsed(&value) }),
                    )?;
                }
                Ok(())
            }
            ConfigCommand::Delete { key } => {
                let key = required(&key)?;
                let deleted = etcd.delete(key).await?;
                if deleted == 0 {
                    return Err(Failure::not_found(format!(
                        "no config key {key:?} under {}",
                        etcd.prefix()
                    )));
                }
                if out.json() {
                    out.print_json_line(&serde_json::json!({ "key": key, "deleted": deleted }))
                } else {
                    out.line(&format!(
                        "deleted {deleted} key{}",
                        if deleted == 1 { "" } else { "s" }
                    ))
                }
            }
            ConfigCommand::List { key } => {
                let entries = etcd.list(key.as_deref().unwrap_or_default()).await?;
                if out.json() {
                    let list: Vec<Value> = entries
                        .iter()
                        .map(|e| serde_json::json!({ "key": e.path, "value": parsed(&e.value) }))
                        .collect();
                    return out.print_json(&list);
                }
                let mut table = Table::new(&["KEY", "VALUE"]);
                for entry in entries {
                    table.row(vec![entry.path, entry.value.replace('\n', "\\n")]);
                }
                out.line(&table.render())
            }
            ConfigCommand::Watch { key } => {
                let key = key.unwrap_or_default();
                let mut changes = etcd.watch(&key).await?;
                // On stderr in both formats: changes from here on are printed.
                eprintln!(
                    "watching {}{} (Ctrl-C to stop)",
                    etcd.prefix(),
                    key.trim_matches('/')
                );
                while let Some(change) = changes.next().await {
                    print(session, &change?)?;
                }
                Ok(())
            }
        }
    }

    /// One change, as printed with `--output json`.
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Printed<'a> {
        /// Milliseconds since the Unix epoch.
        at_ms: u64,
        /// `put` or `delete`.
        event: &'static str,
        key: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        value: Option<Value>,
    }

    fn print(session: &Session, change: &Change) -> Outcome {
        let out = &session.out;
        if out.json() {
            let at_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            return out.print_json_line(&Printed {
                at_ms,
                event: if change.value.is_some() {
                    "put"
                } else {
                    "delete"
                },
                key: &change.path,
                value: change.value.as_deref().map(parsed),
            });
        }
        match &change.value {
            Some(value) => out.line(&format!(
                "{} {} {}",
                out.bold("put"),
                change.path,
                value.replace('\n', "\\n")
            )),
            None => out.line(&format!("{} {}", out.bold("delete"), change.path)),
        }
    }
}
