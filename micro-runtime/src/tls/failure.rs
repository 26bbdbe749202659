//! What a failed handshake means, in words a user can act on.

use rustls::AlertDescription;

use crate::error::Origin;
use crate::{Error, Result};

/// The error of a TLS connection to `address` that failed with `err`
/// (during the handshake or on its first read): 401 when the server refused
/// this client's certificate (or its lack of one), 503 otherwise. Nothing
/// was sent.
pub(crate) fn dial_error(address: &str, err: &std::io::Error) -> Error {
    let tls = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let error = match tls {
        Some(rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure,
        )) => Error::unauthorized(format!(
            "TLS: {address} requires a client certificate (set MICRO_TLS_CLIENT_CERT and MICRO_TLS_CLIENT_KEY)"
        )),
        Some(rustls::Error::AlertReceived(
            alert @ (AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked
            | AlertDescription::AccessDenied
            | AlertDescription::DecryptError),
        )) => Error::unauthorized(format!(
            "TLS: {address} refused this client's certificate ({alert:?})"
        )),
        Some(rustls::Error::InvalidCertificate(why)) => Error::unavailable(format!(
            "TLS: the certificate of {address} is not trusted here: {why} (check MICRO_TLS_CA and MICRO_TLS_SERVER_NAME)"
        )),
        Some(rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. }) => {
            Error::unavailable(format!(
                "TLS: {address} does not answer with TLS (does it serve plaintext? then unset MICRO_TLS_CA and the other client MICRO_TLS_* variables)"
            ))
        }
        Some(other) => Error::unavailable(format!("TLS with {address} failed: {other}")),
        None if matches!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
        ) =>
        {
            Error::unavailable(format!(
                "TLS: {address} closed the connection during the handshake (does it serve TLS? \
                 a plaintext port closes a TLS client's connection: unset the client's MICRO_TLS_* variables)"
            ))
        }
        None => Error::unavailable(format!("TLS with {address} failed: {err}")),
    };
    error.with_origin(Origin::NotSent)
}

/// Converts an I/O result of a TLS step with [`dial_error`].
pub(crate) fn dial_result<T>(address: &str, result: std::io::Result<T>) -> Result<T> {
    result.map_err(|err| dial_error(address, &err))
}
