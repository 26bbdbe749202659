//! The dialling side: whom to trust, the name to verify, and for mutual
//! TLS the client's own certificate.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;

use super::{ALPN_H2, ALPN_MICRO, pem, provider};
use crate::{Error, Result};

/// A client's TLS: the trusted CAs, an optional client certificate, and an
/// optional fixed server name. Cheap to clone.
#[derive(Clone)]
pub struct ClientTls {
    /// ALPN `micro/1`, for the native protocol.
    micro: Arc<ClientConfig>,
    /// ALPN `h2`, for gRPC.
    h2: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    has_cert: bool,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .field("has_cert", &self.has_cert)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// A builder; with nothing set it trusts the platform's roots.
    pub fn builder() -> ClientTlsBuilder {
        ClientTlsBuilder::default()
    }

    /// Wraps a rustls configuration built elsewhere (`has_cert`: it
    /// presents a client certificate); its ALPN list is set per connection
    /// to `micro/1` or `h2`.
    pub fn from_config(config: ClientConfig, has_cert: bool) -> Self {
        let mut micro = config.clone();
        micro.alpn_protocols = vec![ALPN_MICRO.to_vec()];
        let mut h2 = config;
        h2.alpn_protocols = vec![ALPN_H2.to_vec()];
        Self {
            micro: Arc::new(micro),
            h2: Arc::new(h2),
            server_name: None,
            has_cert,
        }
    }

    /// True when it presents a client certificate (mutual TLS).
    pub fn has_cert(&self) -> bool {
        self.has_cert
    }

    /// The configuration for one protocol: ALPN `h2` or `micro/1`.
    pub(crate) fn config_for(&self, h2: bool) -> Arc<ClientConfig> {
        if h2 {
            self.h2.clone()
        } else {
            self.micro.clone()
        }
    }

    /// The name to verify for `address` (`host:port`): the fixed one, or
    /// the host.
    pub(crate) fn server_name(&self, address: &str) -> Result<ServerName<'static>> {
        if let Some(name) = &self.server_name {
            return Ok(name.clone());
        }
        let host = address
            .rsplit_once(':')
            .map_or(address, |(host, _)| host)
            .trim_start_matches('[')
            .trim_end_matches(']');
        ServerName::try_from(host.to_owned()).map_err(|_| {
            Error::bad_request(format!(
                "TLS: {host:?} is not a name to verify a certificate against; set MICRO_TLS_SERVER_NAME"
            ))
        })
    }
}

/// Builds a [`ClientTls`] from PEM files.
#[derive(Clone, Debug, Default)]
pub struct ClientTlsBuilder {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    server_name: Option<String>,
}

impl ClientTlsBuilder {
    /// Trusts the CAs of this file instead of the platform's roots
    /// (`MICRO_TLS_CA`).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca = Some(path.into());
        self
    }

    /// Presents this certificate chain and key: mutual TLS
    /// (`MICRO_TLS_CLIENT_CERT`, `MICRO_TLS_CLIENT_KEY`).
    pub fn client_cert_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.cert = Some(cert.into());
        self.key = Some(key.into());
        self
    }

    /// Verifies every server against this name instead of the host of the
    /// address dialled (`MICRO_TLS_SERVER_NAME`).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Reads the files and builds the configuration.
    ///
    /// # Errors
    ///
    /// 400 when a file is missing or unreadable, a key does not fit its
    /// certificate, or the server name is not a DNS name or IP address.
    pub fn build(self) -> Result<ClientTls> {
        let roots = match &self.ca {
            Some(ca) => pem::roots(ca)?,
            None => pem::platform_roots()?,
        };
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|err| Error::internal(format!("TLS: {err}")))?
            .with_root_certificates(roots);
        let config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(pem::certs(cert)?, pem::key(key)?)
                .map_err(|err| {
                    Error::bad_request(format!(
                        "TLS: the key {} does not fit the certificate {}: {err}",
                        key.display(),
                        cert.display()
                    ))
                })?,
            (None, None) => builder.with_no_client_auth(),
            _ => {
                return Err(Error::bad_request(
                    "TLS: a client certificate needs its key and the reverse \
                     (MICRO_TLS_CLIENT_CERT and MICRO_TLS_CLIENT_KEY)",
                ));
            }
        };
        let server_name = self
            .server_name
            .map(|name| {
                ServerName::try_from(name.clone()).map_err(|_| {
                    Error::bad_request(format!(
                        "TLS: server name {name:?} is not a DNS name or IP address"
                    ))
                })
            })
            .transpose()?;
        let mut tls = ClientTls::from_config(config, self.cert.is_some());
        tls.server_name = server_name;
        Ok(tls)
    }
}
