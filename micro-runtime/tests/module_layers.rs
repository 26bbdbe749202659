//! Every arrow points down: each module of `micro-runtime` uses only modules
//! on lower layers of the picture in ARCHITECTURE.md (its `layers` block),
//! so the modules form no import cycle. A module missing from the picture,
//! or an arrow pointing up or sideways, fails with the file that holds it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that only gather re-exports for users; they sit above all.
const FACADES: [&str; 2] = ["lib", "wrapper"];

/// The layers, lowest first, read from ARCHITECTURE.md.
fn layers() -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(root().join("../ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md at the repository root");
    let block = doc
        .split("```layers\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```layers block in ARCHITECTURE.md");
    let mut layers: Vec<Vec<String>> = block
        .lines()
        .map(|line| line.split('|').next().unwrap_or_default())
        .map(|modules| modules.split_whitespace().map(str::to_owned).collect())
        .filter(|layer: &Vec<String>| !layer.is_empty())
        .collect();
    layers.reverse();
    layers
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to: `client/core.rs` -> `client`.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

/// The code without comments (doc links are not dependencies).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names the crate root re-exports, with the module they come from.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for statement in code(lib).split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        for item in items.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = item.rsplit("::").next().unwrap_or_default().trim();
            let name = name.rsplit(" as ").next().unwrap_or(name).trim();
            if !name.is_empty() {
                names.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    names
}

/// The first path segment after each `crate::`, including every member of
/// a `use crate::{a, b::c}` group.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        if code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
            continue; // `micro_crate::`, not ours
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => return true,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    false
                })
                .map_or(group.len(), |(i, _)| i);
            let mut depth = 0;
            let mut start = 0;
            for (i, c) in group[..end].char_indices().chain([(end, ',')]) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        found.push(first_segment(&group[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
        } else {
            found.push(first_segment(rest));
        }
    }
    found.retain(|s| !s.is_empty());
    found
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every arrow between modules: (from, to) -> the files it is in.
fn arrows() -> BTreeMap<(String, String), BTreeSet<String>> {
    let src = root().join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexports = root_reexports(&lib);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut arrows: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let from = module_of(&src, &file);
        let text = code(&std::fs::read_to_string(&file).unwrap());
        for segment in crate_paths(&text) {
            let to = reexports.get(&segment).cloned().unwrap_or(segment);
            if to != from && !to.starts_with("__") {
                let rel = file.strip_prefix(&src).unwrap().display().to_string();
                arrows.entry((from.clone(), to)).or_default().insert(rel);
            }
        }
    }
    arrows
}

#[test]
fn every_module_uses_only_modules_below_it() {
    let layers = layers();
    let rank: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, layer)| layer.iter().map(move |m| (m.as_str(), i)))
        .chain(FACADES.iter().map(|f| (*f, usize::MAX)))
        .collect();
    let mut problems = Vec::new();
    for ((from, to), files) in arrows() {
        match (rank.get(from.as_str()), rank.get(to.as_str())) {
            (Some(a), Some(b)) if b < a => {}
            (None, _) => problems.push(format!("module {from} is not in ARCHITECTURE.md's layers")),
            (_, None) => problems.push(format!("module {to} is not in ARCHITECTURE.md's layers")),
            _ => problems.push(format!("{from} -> {to} points up or sideways ({files:?})")),
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_check_sees_grouped_and_reexported_paths() {
    let paths = crate_paths(
        "use crate::{Context, error::panic_text, codec::{A, B}};\nlet x = crate::client::Core;",
    );
    assert_eq!(paths, ["Context", "error", "codec", "client"]);
    let names =
        root_reexports("pub use client::{CallOptions, Client};\npub use error::{Error, Result};");
    assert_eq!(names["Client"], "client");
    assert_eq!(names["Result"], "error");
    assert_eq!(code("let a = 1; // crate::service\n"), "let a = 1; ");
}
