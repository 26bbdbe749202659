//! `micro store read|write|delete|list`: a key-value store from the
//! command line, chosen by `--store` and `--store-address` (or
//! `MICRO_STORE`, `MICRO_STORE_ADDRESS`) as services choose theirs.

use std::io::Write;
use std::sync::Arc;

use micro_runtime::defaults;
use micro_runtime::store::{
    DeleteOptions, ListOptions, ReadOptions, Record, Store, StoreOptions, WriteOptions,
};
use serde_json::{Value, json};

use super::input::argument_or_stdin;
use crate::args::{StoreArgs, StoreCommand, StoreFlags};
use crate::failure::{Failure, Outcome};
use crate::session::Session;

pub(crate) async fn run(session: &Session, args: StoreArgs) -> Outcome {
    let store = open(&args.flags)?;
    let out = &session.out;
    match args.command {
        StoreCommand::Read(read) => {
            let mut options = ReadOptions::default().offset(read.offset);
            options.prefix = read.prefix;
            options.limit = read.limit;
            let records = store.read(&read.key, &options).await?;
            if out.json() {
                let records: Vec<Value> = records.iter().map(record_json).collect();
                return match (read.prefix, records.first()) {
                    (false, Some(record)) => out.print_json(record),
                    _ => out.print_json(&records),
                };
            }
            if !read.prefix {
                return raw(records.first().map_or(&[][..], |r| &r.value[..]));
            }
            for record in &records {
                out.line(&format!(
                    "{}\t{}",
                    record.key,
                    String::from_utf8_lossy(&record.value)
                ))?;
            }
            Ok(())
        }
        StoreCommand::Write(write) => {
            let value = argument_or_stdin(Some(&write.value), "").await?;
            let mut record = Record::new(write.key.clone(), value);
            record.metadata.extend(write.metadata);
            let options = WriteOptions {
                ttl: write.ttl,
                ..WriteOptions::default()
            };
            store.write(record, &options).await?;
            if out.json() {
                out.print_json(&json!({ "key": write.key, "written": true }))
            } else {
                eprintln!("written {}", write.key);
                Ok(())
            }
        }
        StoreCommand::Delete(delete) => {
            store.delete(&delete.key, &DeleteOptions::default()).await?;
            if out.json() {
                out.print_json(&json!({ "key": delete.key, "deleted": true }))
            } else {
                eprintln!("deleted {}", delete.key);
                Ok(())
            }
        }
        StoreCommand::List(list) => {
            let mut options = ListOptions::default()
                .prefix(list.prefix)
                .offset(list.offset);
            options.limit = list.limit;
            let keys = store.list(&options).await?;
            if out.json() {
                return out.print_json(&keys);
            }
            for key in keys {
                out.line(&key)?;
            }
            Ok(())
        }
    }
}

/// The store the flags name, in their database and table.
fn open(flags: &StoreFlags) -> Outcome<Arc<dyn Store>> {
    let options = StoreOptions {
        address: flags.store_address.clone().filter(|a| !a.trim().is_empty()),
        database: flags.database.clone(),
        table: flags.table.clone(),
    };
    Ok(defaults::store_by_name(&flags.store, options)?)
}

/// A record for scripts: the value as text when it is UTF-8, as base64
/// otherwise; the time left in ms.
fn record_json(record: &Record) -> Value {
    let mut value = json!({
        "key": record.key,
        "metadata": record.metadata,
        "expiry_ms": record.expiry.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
    });
    match std::str::from_utf8(&record.value) {
        Ok(text) => value["value"] = json!(text),
        Err(_) => {
            use base64::Engine;
            value["value_base64"] =
                json!(base64::engine::general_purpose::STANDARD.encode(&record.value));
        }
    }
    value
}

/// A value as it is, with a newline after text that has none.
fn raw(bytes: &[u8]) -> Outcome {
    let mut stdout = std::io::stdout().lock();
    let newline = std::str::from_utf8(bytes).is_ok_and(|t| !t.ends_with('\n'));
    stdout
        .write_all(bytes)
        .and_then(|()| {
            if newline {
                stdout.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::local(format!("cannot write to stdout: {e}")))
}
