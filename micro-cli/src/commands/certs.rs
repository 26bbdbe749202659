//! `micro certs dev`: a local CA, a server certificate for the given hosts
//! and a client certificate, both signed by the CA (rcgen), written as PEM
//! files (keys with mode 0600), and the `MICRO_TLS_*` lines to export.

use std::io::Write;
use std::path::{Path, PathBuf};

use micro_runtime::Error;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::json;

use crate::args::{CertsArgs, CertsCommand, CertsDevArgs};
use crate::failure::{Failure, Outcome};
use crate::session::Session;

/// The files `micro certs dev` writes, and whether each is a private key.
const FILES: [(&str, bool); 5] = [
    ("ca.pem", false),
    ("server.pem", false),
    ("server-key.pem", true),
    ("client.pem", false),
    ("client-key.pem", true),
];

/// Runs a `micro certs` subcommand.
pub(crate) fn run(session: &Session, args: &CertsArgs) -> Outcome {
    match &args.command {
        CertsCommand::Dev(args) => dev(session, args),
    }
}

fn dev(session: &Session, args: &CertsDevArgs) -> Outcome {
    let hosts: Vec<String> = args
        .hosts
        .iter()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .collect();
    if hosts.is_empty() {
        return Err(Failure::bad_request("--hosts names no host"));
    }
    let dir = &args.dir;
    let existing = FILES.iter().find(|(name, _)| dir.join(name).exists());
    if let (false, Some((name, _))) = (args.force, existing) {
        return Err(Failure::from_error(&Error::conflict(format!(
            "{} exists already; pass --force to replace the certificates in {}",
            dir.join(name).display(),
            dir.display()
        ))));
    }
    let pems = generate(&hosts)?;
    std::fs::create_dir_all(dir).map_err(|e| io_failure(dir, &e))?;
    for ((name, secret), pem) in FILES.iter().zip(&pems) {
        write(&dir.join(name), pem, *secret)?;
    }
    let dir = dir.canonicalize().map_err(|e| io_failure(dir, &e))?;
    report(session, &dir, &hosts)
}

/// CA, server and client certificates and keys, as PEM, in [`FILES`] order.
fn generate(hosts: &[String]) -> Outcome<Vec<String>> {
    let failed = |e: rcgen::Error| Failure::from_error(&Error::internal(format!("rcgen: {e}")));
    let ca_key = KeyPair::generate().map_err(failed)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
    ca.distinguished_name
        .push(DnType::CommonName, "micro development CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key).map_err(failed)?;
    let issuer = Issuer::new(ca, ca_key);

    let leaf = |names: Vec<String>, common: &str, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().map_err(failed)?;
        let mut params = CertificateParams::new(names).map_err(|e| {
            Failure::bad_request(format!("--hosts: {e} (names and IP addresses only)"))
        })?;
        params.distinguished_name.push(DnType::CommonName, common);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &issuer).map_err(failed)?;
        Ok::<_, Failure>((cert.pem(), key.serialize_pem()))
    };
    let (server, server_key) = leaf(
        hosts.to_vec(),
        &hosts[0],
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (client, client_key) = leaf(
        Vec::new(),
        "micro development client",
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;
    Ok(vec![ca_cert.pem(), server, server_key, client, client_key])
}

/// Writes `pem` to `path`; a key readable by its owner only.
fn write(path: &Path, pem: &str, secret: bool) -> Outcome {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| io_failure(path, &e))?;
    #[cfg(unix)]
    if secret {
        // An existing file (--force) keeps its mode on open: set it.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io_failure(path, &e))?;
    }
    file.write_all(pem.as_bytes())
        .map_err(|e| io_failure(path, &e))
}

fn io_failure(path: &Path, err: &std::io::Error) -> Failure {
    Failure::from_error(&Error::internal(format!("{}: {err}", path.display())))
}

/// The variables to export, server side then client side.
fn variables(dir: &Path) -> [(&'static str, PathBuf); 6] {
    [
        ("MICRO_TLS_CERT", dir.join("server.pem")),
        ("MICRO_TLS_KEY", dir.join("server-key.pem")),
        ("MICRO_TLS_CLIENT_CA", dir.join("ca.pem")),
        ("MICRO_TLS_CA", dir.join("ca.pem")),
        ("MICRO_TLS_CLIENT_CERT", dir.join("client.pem")),
        ("MICRO_TLS_CLIENT_KEY", dir.join("client-key.pem")),
    ]
}

/// Prints the export lines (or one JSON object with the files and variables).
fn report(session: &Session, dir: &Path, hosts: &[String]) -> Outcome {
    let out = &session.out;
    let vars = variables(dir);
    if out.json() {
        let env: serde_json::Map<String, serde_json::Value> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), json!(v)))
            .collect();
        let files: Vec<PathBuf> = FILES.iter().map(|(name, _)| dir.join(name)).collect();
        return out.print_json(&json!({
            "dir": dir,
            "hosts": hosts,
            "files": files,
            "env": env,
        }));
    }
    out.line(&format!(
        "# development certificates in {} for {} (CA, server, client; keys mode 0600)",
        dir.display(),
        hosts.join(", ")
    ))?;
    out.line("# a service (mutual TLS: it requires the client certificate):")?;
    for (name, path) in &vars[..3] {
        out.line(&format!("export {name}={}", shell_quote(path)))?;
    }
    out.line("# a client (micro call, the typed clients):")?;
    for (name, path) in &vars[3..] {
        out.line(&format!("export {name}={}", shell_quote(path)))?;
    }
    Ok(())
}

/// `path` quoted for a POSIX shell when it needs it.
fn shell_quote(path: &Path) -> String {
    let text = path.display().to_string();
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%".contains(c))
    {
        text
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
