//! Certificates and keys from PEM files, with errors that name the file
//! (never its contents).

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, Result};

/// Every certificate of a PEM file (a chain: leaf first).
pub(super) fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<std::result::Result<Vec<_>, _>>())
        .map_err(|err| unreadable(path, "certificates", &err))?;
    if certs.is_empty() {
        return Err(Error::bad_request(format!(
            "TLS: {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub(super) fn key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|err| unreadable(path, "a private key", &err))
}

/// A trust store of the certificates of a PEM file.
pub(super) fn roots(path: &Path) -> Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    for cert in certs(path)? {
        store.add(cert).map_err(|err| {
            Error::bad_request(format!(
                "TLS: {} holds a certificate that cannot be a trust anchor: {err}",
                path.display()
            ))
        })?;
    }
    Ok(store)
}

/// The operating system's trust store (rustls-native-certs: the platform's
/// roots, or `SSL_CERT_FILE` / `SSL_CERT_DIR`).
pub(super) fn platform_roots() -> Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    let (added, _ignored) = store.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map_or_else(|| "none found".to_owned(), ToString::to_string);
        return Err(Error::bad_request(format!(
            "TLS: no trusted root certificate on this system ({why}); set MICRO_TLS_CA"
        )));
    }
    Ok(store)
}

fn unreadable(path: &Path, what: &str, err: &dyn std::fmt::Display) -> Error {
    // rustls-pki-types' PEM errors name the section, never the key bytes.
    Error::bad_request(format!(
        "TLS: cannot read {what} from {}: {err}",
        path.display()
    ))
}
