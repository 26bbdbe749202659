//! The `MICRO_TLS_*` variables.

use super::{ClientTls, ServerTls};
use crate::{Error, Result, env_vars};

impl ServerTls {
    /// From `MICRO_TLS_CERT` and `MICRO_TLS_KEY`, with `MICRO_TLS_CLIENT_CA`
    /// for mutual TLS; `None` when neither file is set.
    ///
    /// # Errors
    ///
    /// 400 when only some are set, or as [`ServerTlsBuilder::build`](super::ServerTlsBuilder::build).
    pub fn from_env() -> Result<Option<Self>> {
        let cert = env_vars::string("MICRO_TLS_CERT");
        let key = env_vars::string("MICRO_TLS_KEY");
        let client_ca = env_vars::string("MICRO_TLS_CLIENT_CA");
        if cert.is_none() && key.is_none() {
            if client_ca.is_some() {
                return Err(Error::bad_request(
                    "MICRO_TLS_CLIENT_CA needs MICRO_TLS_CERT and MICRO_TLS_KEY (the server's own)",
                ));
            }
            return Ok(None);
        }
        let mut builder = ServerTls::builder();
        if let Some(cert) = cert {
            builder = builder.cert_file(cert);
        }
        if let Some(key) = key {
            builder = builder.key_file(key);
        }
        if let Some(ca) = client_ca {
            builder = builder.client_ca_file(ca);
        }
        builder.build().map(Some)
    }
}

impl ClientTls {
    /// From `MICRO_TLS_CA` (else the platform's roots),
    /// `MICRO_TLS_CLIENT_CERT` and `MICRO_TLS_CLIENT_KEY`, and
    /// `MICRO_TLS_SERVER_NAME`; `None` when none of them is set (the client
    /// dials without TLS).
    ///
    /// # Errors
    ///
    /// As [`ClientTlsBuilder::build`](super::ClientTlsBuilder::build).
    pub fn from_env() -> Result<Option<Self>> {
        let ca = env_vars::string("MICRO_TLS_CA");
        let cert = env_vars::string("MICRO_TLS_CLIENT_CERT");
        let key = env_vars::string("MICRO_TLS_CLIENT_KEY");
        let name = env_vars::string("MICRO_TLS_SERVER_NAME");
        if ca.is_none() && cert.is_none() && key.is_none() && name.is_none() {
            return Ok(None);
        }
        let mut builder = ClientTls::builder();
        if let Some(ca) = ca {
            builder = builder.ca_file(ca);
        }
        match (cert, key) {
            (Some(cert), Some(key)) => builder = builder.client_cert_files(cert, key),
            (None, None) => {}
            _ => {
                return Err(Error::bad_request(
                    "MICRO_TLS_CLIENT_CERT and MICRO_TLS_CLIENT_KEY go together",
                ));
            }
        }
        if let Some(name) = name {
            builder = builder.server_name(name);
        }
        builder.build().map(Some)
    }
}
