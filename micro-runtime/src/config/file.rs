//! The file source: TOML, YAML or JSON, chosen by the file's extension.

use std::path::{Path, PathBuf};

use figment::providers::{Format as _, Json, Toml, Yaml};
use figment::{Figment, Provider};

use super::redact;
use crate::{Error, Result};

/// A configuration file's format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Toml,
    Yaml,
    Json,
}

impl Format {
    /// The format of `path` from its extension (`.toml`, `.yaml`/`.yml`, `.json`).
    ///
    /// # Errors
    ///
    /// 400 for another or no extension.
    pub(crate) fn of(path: &Path) -> Result<Self> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("toml") => Ok(Format::Toml),
            Some("yaml" | "yml") => Ok(Format::Yaml),
            Some("json") => Ok(Format::Json),
            _ => Err(Error::bad_request(format!(
                "config file {}: unknown format (use .toml, .yaml, .yml or .json)",
                path.display()
            ))
            .with_id("micro.config")),
        }
    }
}

/// A configuration file that must exist.
#[derive(Clone, Debug)]
pub(crate) struct File {
    pub(crate) path: PathBuf,
    pub(crate) format: Format,
}

impl File {
    /// `path`, its format checked.
    pub(crate) fn new(path: PathBuf) -> Result<Self> {
        let format = Format::of(&path)?;
        Ok(Self { path, format })
    }

    /// `figment` with the file merged over it.
    ///
    /// # Errors
    ///
    /// 404 when the file does not exist; 400 when it cannot be read.
    pub(crate) fn merge_into(&self, figment: Figment) -> Result<Figment> {
        match std::fs::metadata(&self.path) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => {
                return Err(Error::bad_request(format!(
                    "config file {} is not a file",
                    self.path.display()
                ))
                .with_id("micro.config"));
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::not_found(format!(
                    "config file {} does not exist",
                    self.path.display()
                ))
                .with_id("micro.config"));
            }
            Err(err) => {
                return Err(Error::bad_request(format!(
                    "config file {}: {err}",
                    self.path.display()
                ))
                .with_id("micro.config"));
            }
        }
        // `file_exact`: exactly this path, never a namesake in a parent directory.
        match self.format {
            Format::Toml => self.merge(figment, Toml::file_exact(&self.path)),
            Format::Yaml => self.merge(figment, Yaml::file_exact(&self.path)),
            Format::Json => self.merge(figment, Json::file_exact(&self.path)),
        }
    }

    /// Merges `provider` once it parsed: a syntax error names the file
    /// (figment's does not).
    fn merge(&self, figment: Figment, provider: impl Provider) -> Result<Figment> {
        if let Err(err) = provider.data() {
            let detail = redact::error(err).detail().to_owned();
            return Err(Error::bad_request(format!(
                "config file {}: {}",
                self.path.display(),
                detail.trim_start_matches("invalid configuration: ")
            ))
            .with_id("micro.config"));
        }
        Ok(figment.merge(provider))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::of(Path::new("a.toml")).unwrap(), Format::Toml);
        assert_eq!(Format::of(Path::new("a.YML")).unwrap(), Format::Yaml);
        assert_eq!(Format::of(Path::new("a.yaml")).unwrap(), Format::Yaml);
        assert_eq!(Format::of(Path::new("a.json")).unwrap(), Format::Json);
        assert_eq!(Format::of(Path::new("a.ini")).unwrap_err().code(), 400);
        assert_eq!(Format::of(Path::new("a")).unwrap_err().code(), 400);
    }
}
