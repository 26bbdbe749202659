//! Writing the new crate: only into a directory that is missing or empty,
//! never over a file, and nothing left behind when a write fails.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::Path;

use super::template::File;
use crate::failure::{Failure, Outcome};

/// Checks that `dir` is missing or an empty directory.
///
/// # Errors
///
/// 400 when it is a file or a directory with something in it; a local
/// failure when it cannot be read.
pub(super) fn check_empty(dir: &Path) -> Outcome {
    match fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failure::bad_request(format!(
            "{} exists and is not empty; choose another --path (nothing was written)",
            dir.display()
        ))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(_) if dir.exists() && !dir.is_dir() => Err(Failure::bad_request(format!(
            "{} exists and is not a directory (nothing was written)",
            dir.display()
        ))),
        Err(e) => Err(Failure::local(format!(
            "cannot read {}: {e}",
            dir.display()
        ))),
    }
}

/// Writes `files` into `dir` (created with its parents when missing).
///
/// # Errors
///
/// A local failure naming the file; what was written is removed again.
pub(super) fn all(dir: &Path, files: &[File]) -> Outcome {
    let existed = dir.is_dir();
    let result = files.iter().try_for_each(|file| one(dir, file));
    if result.is_err() {
        if existed {
            // It was empty: everything in it is ours.
            if let Ok(entries) = fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let _ = fs::remove_dir_all(&path).or_else(|_| fs::remove_file(&path));
                }
            }
        } else {
            let _ = fs::remove_dir_all(dir);
        }
    }
    result
}

fn one(dir: &Path, file: &File) -> Outcome {
    let path = dir.join(&file.path);
    let fail = |e: std::io::Error| Failure::local(format!("cannot write {}: {e}", path.display()));
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(fail)?;
    }
    // `create_new`: never replace a file, even one that appeared meanwhile.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut out| out.write_all(file.contents.as_bytes()))
        .map_err(fail)
}
