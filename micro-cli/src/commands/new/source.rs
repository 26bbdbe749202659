//! Where the new crate gets the micro crates from: a checkout by path, or
//! crates.io by version.

use std::path::{Path, PathBuf};

use crate::failure::{Failure, Outcome};

/// The origin of `micro-runtime` and `micro-codegen`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// A checkout of the micro workspace (absolute, canonical).
    Checkout(PathBuf),
    /// A version requirement on crates.io, e.g. `0.1`.
    Version(String),
}

impl Source {
    /// `--micro-path DIR` when given (it must be a checkout); else the
    /// checkout this binary was built from, if it is still there; else the
    /// version of this binary (`major.minor`).
    ///
    /// # Errors
    ///
    /// 400 when `--micro-path` is not a checkout of micro.
    pub(super) fn find(micro_path: Option<&Path>) -> Outcome<Self> {
        if let Some(dir) = micro_path {
            return checkout(dir).ok_or_else(|| {
                Failure::bad_request(format!(
                    "--micro-path {}: not a checkout of micro (no micro-runtime/Cargo.toml \
                     and micro-codegen/Cargo.toml in it)",
                    dir.display()
                ))
            });
        }
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        if let Some(Self::Checkout(dir)) = checkout(&built_from) {
            // `cargo install --git` builds in cargo's cache, which may be
            // cleaned: depend on the released crates instead.
            if !cargo_home().is_some_and(|home| dir.starts_with(home)) {
                return Ok(Self::Checkout(dir));
            }
        }
        Ok(Self::Version(major_minor(env!("CARGO_PKG_VERSION"))))
    }

    /// The dependency's value in `Cargo.toml` for the micro crate `krate`,
    /// e.g. `{ path = "/src/micro/micro-runtime" }` or `"0.1"`.
    ///
    /// # Errors
    ///
    /// A local failure when the checkout's path is not UTF-8.
    pub(super) fn dependency(&self, krate: &str) -> Outcome<String> {
        match self {
            Self::Checkout(dir) => {
                let path = dir.join(krate);
                let path = path.to_str().ok_or_else(|| {
                    Failure::local(format!("{} is not a UTF-8 path", path.display()))
                })?;
                Ok(format!("{{ path = {} }}", toml_string(path)))
            }
            Self::Version(version) => Ok(toml_string(version)),
        }
    }
}

/// `dir` as a checkout, when it holds both crates.
fn checkout(dir: &Path) -> Option<Source> {
    let holds = |krate: &str| dir.join(krate).join("Cargo.toml").is_file();
    if !(holds("micro-runtime") && holds("micro-codegen")) {
        return None;
    }
    dir.canonicalize().ok().map(Source::Checkout)
}

/// `$CARGO_HOME`, or `~/.cargo`.
fn cargo_home() -> Option<PathBuf> {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .and_then(|dir| dir.canonicalize().ok())
}

/// `0.1.3` -> `0.1`.
fn major_minor(version: &str) -> String {
    version.splitn(3, '.').take(2).collect::<Vec<_>>().join(".")
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_keep_major_and_minor() {
        assert_eq!(major_minor("0.1.0"), "0.1");
        assert_eq!(major_minor("1.2.3-beta.1"), "1.2");
        assert_eq!(
            Source::Version("0.1".into())
                .dependency("micro-runtime")
                .unwrap(),
            "\"0.1\""
        );
    }

    #[test]
    fn paths_are_toml_strings() {
        assert_eq!(toml_string(r#"C:\a "b""#), r#""C:\\a \"b\"""#);
        let source = Source::Checkout(PathBuf::from("/src/micro"));
        assert_eq!(
            source.dependency("micro-runtime").unwrap(),
            r#"{ path = "/src/micro/micro-runtime" }"#
        );
    }

    #[test]
    fn this_checkout_is_found() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let found = Source::find(Some(&root)).unwrap();
        assert_eq!(found, Source::Checkout(root.canonicalize().unwrap()));
        let error = Source::find(Some(Path::new(env!("CARGO_MANIFEST_DIR")))).unwrap_err();
        assert!(error.to_string().contains("not a checkout"), "{error}");
    }
}
