//! Changes of the configuration file, from the operating system's file
//! notifications (crate `notify`: inotify, kqueue, FSEvents, …).
//!
//! The file's directory is watched, not the file: editors and deployment
//! tools replace a file by renaming a new one over it, which ends a watch on
//! the old file but is seen in the directory.

use std::path::Path;

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc::UnboundedSender;

use crate::{Error, Result};

/// Starts watching `file`; each change of it sends `()` on `changed`. The
/// watch lasts as long as the returned watcher.
///
/// # Errors
///
/// 500 when the operating system refuses the watch.
pub(crate) fn watch(file: &Path, changed: UnboundedSender<()>) -> Result<RecommendedWatcher> {
    let name = file.file_name().map(ToOwned::to_owned);
    let directory = match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => Path::new(".").to_path_buf(),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        // Reading the file (our own reload) is no change.
        if let EventKind::Access(kind) = event.kind
            && kind != AccessKind::Close(AccessMode::Write)
        {
            return;
        }
        if event
            .paths
            .iter()
            .any(|path| path.file_name() == name.as_deref())
        {
            let _ = changed.send(());
        }
    })
    .map_err(|e| failed(file, &e))?;
    watcher
        .watch(&directory, RecursiveMode::NonRecursive)
        .map_err(|e| failed(file, &e))?;
    Ok(watcher)
}

fn failed(file: &Path, err: &notify::Error) -> Error {
    Error::internal(format!(
        "cannot watch config file {}: {err}",
        file.display()
    ))
    .with_id("micro.config")
}
