//! The serving side: a certificate and key, and for mutual TLS the CA that
//! client certificates must chain to.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;

use super::{ALPN_H2, ALPN_MICRO, pem, provider};
use crate::{Error, Result};

/// A listener's TLS: its certificate chain and key, and whether it
/// requires client certificates (mutual TLS). Cheap to clone.
///
/// Certificates are read once, when built; reloading them needs a restart.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    mutual: bool,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerTls")
            .field("mutual", &self.mutual)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// A builder: certificate and key files are required.
    pub fn builder() -> ServerTlsBuilder {
        ServerTlsBuilder::default()
    }

    /// Wraps a rustls configuration built elsewhere; its ALPN list is
    /// replaced with `h2` and `micro/1`.
    pub fn from_config(mut config: ServerConfig, mutual: bool) -> Self {
        config.alpn_protocols = vec![ALPN_H2.to_vec(), ALPN_MICRO.to_vec()];
        Self {
            config: Arc::new(config),
            mutual,
        }
    }

    /// True when clients must present a certificate signed by the client CA.
    pub fn mutual(&self) -> bool {
        self.mutual
    }

    pub(crate) fn config(&self) -> Arc<ServerConfig> {
        self.config.clone()
    }
}

/// Builds a [`ServerTls`] from PEM files.
#[derive(Clone, Debug, Default)]
pub struct ServerTlsBuilder {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
}

impl ServerTlsBuilder {
    /// The certificate chain, leaf first (`MICRO_TLS_CERT`).
    pub fn cert_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cert = Some(path.into());
        self
    }

    /// The private key of the certificate (`MICRO_TLS_KEY`).
    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key = Some(path.into());
        self
    }

    /// Requires client certificates signed by the CAs of this file: mutual
    /// TLS (`MICRO_TLS_CLIENT_CA`).
    pub fn client_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.client_ca = Some(path.into());
        self
    }

    /// Reads the files and builds the configuration.
    ///
    /// # Errors
    ///
    /// 400 when a file is missing, unreadable, or the key does not match.
    pub fn build(self) -> Result<ServerTls> {
        let (Some(cert), Some(key)) = (&self.cert, &self.key) else {
            return Err(Error::bad_request(
                "TLS: a server needs both a certificate and a key (MICRO_TLS_CERT and MICRO_TLS_KEY)",
            ));
        };
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|err| Error::internal(format!("TLS: {err}")))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(pem::roots(ca)?),
                    provider,
                )
                .build()
                .map_err(|err| bad_file(ca, &err))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(pem::certs(cert)?, pem::key(key)?)
            .map_err(|err| {
                Error::bad_request(format!(
                    "TLS: the key {} does not fit the certificate {}: {err}",
                    key.display(),
                    cert.display()
                ))
            })?;
        Ok(ServerTls::from_config(config, self.client_ca.is_some()))
    }
}

fn bad_file(path: &Path, err: &dyn fmt::Display) -> Error {
    Error::bad_request(format!("TLS: {}: {err}", path.display()))
}
