//! The certificates of the `micro-tls` system: a CA and a server
//! certificate for 127.0.0.1, made once per run (rcgen) in a temporary
//! directory of this process. The server process gets them through the
//! real `MICRO_TLS_CERT` and `MICRO_TLS_KEY`; the client trusts the CA.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::Context as _;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};

/// The directory with `ca.pem`, `server.pem` and `server-key.pem`, made on
/// first use.
///
/// # Errors
///
/// When the certificates cannot be made or written.
pub fn dir() -> anyhow::Result<&'static Path> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    if let Some(dir) = DIR.get() {
        return Ok(dir);
    }
    let dir = std::env::temp_dir().join(format!("micro-bench-tls-{}", std::process::id()));
    write(&dir)
        .with_context(|| format!("making the micro-tls certificates in {}", dir.display()))?;
    Ok(DIR.get_or_init(|| dir))
}

/// The variables that make a micro server serve TLS with [`dir`]'s files.
///
/// # Errors
///
/// As [`dir`].
pub fn server_env() -> anyhow::Result<Vec<(&'static str, PathBuf)>> {
    let dir = dir()?;
    Ok(vec![
        ("MICRO_TLS_CERT", dir.join("server.pem")),
        ("MICRO_TLS_KEY", dir.join("server-key.pem")),
    ])
}

/// Removes [`dir`]'s files, if they were made.
pub fn remove() {
    let dir = std::env::temp_dir().join(format!("micro-bench-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(dir);
}

fn write(dir: &Path) -> anyhow::Result<()> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])?.signed_by(&key, &issuer)?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("ca.pem"), ca_cert.pem())?;
    std::fs::write(dir.join("server.pem"), cert.pem())?;
    std::fs::write(dir.join("server-key.pem"), key.serialize_pem())?;
    Ok(())
}
