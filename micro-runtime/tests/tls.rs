//! TLS and mutual TLS in one process, over real sockets: a service serving
//! mutual TLS (certificates made with rcgen), called over the native
//! protocol and gRPC with the right certificates; every wrong client fails
//! at once with a clear error (from the registry's `tls`/`mtls` metadata,
//! or by address from the wire), and the service keeps serving. Bad
//! certificate files are 400 naming the file.
#![cfg(feature = "tls")]

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::{EchoClient, Msg, World};
use micro_runtime::registry::Registry as _;
use micro_runtime::tls::{ClientTls, ServerTls};
use micro_runtime::transport::Transport;
use micro_runtime::transport::grpc::GrpcTransport;
use micro_runtime::transport::tcp::TcpTransport;
use micro_runtime::{CallOptions, Client, Error};
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tokio::io::AsyncWriteExt;

/// A directory of PEM files, removed at the end.
struct Certs(PathBuf);

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Certs {
    /// Two CAs (`ca`, `other-ca`), a server certificate for 127.0.0.1 and a
    /// client certificate from each.
    fn make() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "micro-runtime-tls-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        for (ca, prefix) in [("ca", ""), ("other-ca", "other-")] {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, format!("test {ca}"));
            params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
            let cert = params.self_signed(&key).unwrap();
            std::fs::write(dir.join(format!("{ca}.pem")), cert.pem()).unwrap();
            let issuer = Issuer::new(params, key);
            let leaves = [
                (
                    "server",
                    vec!["127.0.0.1".to_owned()],
                    ExtendedKeyUsagePurpose::ServerAuth,
                ),
                ("client", Vec::new(), ExtendedKeyUsagePurpose::ClientAuth),
            ];
            for (name, hosts, usage) in leaves {
                let key = KeyPair::generate().unwrap();
                let mut params = CertificateParams::new(hosts).unwrap();
                params.extended_key_usages = vec![usage];
                let cert = params.signed_by(&key, &issuer).unwrap();
                std::fs::write(dir.join(format!("{prefix}{name}.pem")), cert.pem()).unwrap();
                let key_path = dir.join(format!("{prefix}{name}-key.pem"));
                std::fs::write(key_path, key.serialize_pem()).unwrap();
            }
        }
        Certs(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn server(&self) -> ServerTls {
        ServerTls::builder()
            .cert_file(self.path("server.pem"))
            .key_file(self.path("server-key.pem"))
            .client_ca_file(self.path("ca.pem"))
            .build()
            .unwrap()
    }

    /// A client trusting `ca`, presenting `cert` (`None`: no certificate).
    fn client(&self, ca: &str, cert: Option<&str>) -> ClientTls {
        let mut builder = ClientTls::builder().ca_file(self.path(ca));
        if let Some(cert) = cert {
            builder = builder.client_cert_files(
                self.path(&format!("{cert}.pem")),
                self.path(&format!("{cert}-key.pem")),
            );
        }
        builder.build().unwrap()
    }
}

fn client(world: &World, transport: impl Transport) -> Client {
    Client::builder()
        .registry(world.registry.clone())
        .transport(Arc::new(transport))
        .build()
        .unwrap()
}

async fn say(client: &Client, options: CallOptions) -> Result<Msg, Error> {
    EchoClient::new("echo", client.clone())
        .say_with(Msg::text("hi"), options)
        .await
}

fn assert_fails(result: Result<Msg, Error>, code: u16, text: &str) {
    let err = result.expect_err("the call should fail");
    assert_eq!(err.code(), code, "{err}");
    assert!(err.detail().contains(text), "{text:?} in {err}");
}

#[tokio::test]
async fn mutual_tls_serves_good_clients_and_refuses_the_others_clearly() {
    let certs = Certs::make();
    let mut world = World::new(common::Kind::Tcp);
    world.transport = Arc::new(TcpTransport::default().server_tls(certs.server()));
    let (service, _) = world.echo("echo").await;
    let address = service.address().await.unwrap();
    let node = &world.registry.get_service("echo").await.unwrap()[0].nodes[0];
    assert_eq!(node.metadata.get("tls").map(String::as_str), Some("1"));
    assert_eq!(node.metadata.get("mtls").map(String::as_str), Some("1"));

    let good = client(
        &world,
        TcpTransport::default().client_tls(certs.client("ca.pem", Some("client"))),
    );
    let good_grpc = client(
        &world,
        GrpcTransport::default().client_tls(certs.client("ca.pem", Some("client"))),
    );
    let ok = async || {
        for client in [&good, &good_grpc] {
            assert_eq!(say(client, CallOptions::new()).await.unwrap().text, "hi");
        }
    };
    ok().await;
    let counted = EchoClient::new("echo", good.clone())
        .count(Msg {
            text: "s".into(),
            n: 3,
        })
        .await
        .unwrap()
        .collect_all()
        .await
        .unwrap();
    assert_eq!(counted.len(), 3, "a server stream over TLS");

    // Known from the registry, before dialling.
    let plain = client(&world, TcpTransport::default());
    assert_fails(say(&plain, CallOptions::new()).await, 400, "serve TLS only");
    let plain_grpc = client(&world, GrpcTransport::default());
    assert_fails(
        say(&plain_grpc, CallOptions::new()).await,
        400,
        "MICRO_TLS_CA",
    );
    let no_cert = client(
        &world,
        TcpTransport::default().client_tls(certs.client("ca.pem", None)),
    );
    assert_fails(
        say(&no_cert, CallOptions::new()).await,
        401,
        "MICRO_TLS_CLIENT_CERT",
    );
    ok().await;

    // By address: told by the server, on the wire.
    let at = || CallOptions::new().address(address.clone());
    assert_fails(say(&plain, at()).await, 503, "this port requires TLS");
    assert_fails(say(&plain_grpc, at()).await, 503, "this port requires TLS");
    assert_fails(
        say(&no_cert, at()).await,
        401,
        "requires a client certificate",
    );
    let no_cert_grpc = client(
        &world,
        GrpcTransport::default().client_tls(certs.client("ca.pem", None)),
    );
    assert_fails(
        say(&no_cert_grpc, at()).await,
        401,
        "requires a client certificate",
    );
    let stranger = client(
        &world,
        TcpTransport::default().client_tls(certs.client("ca.pem", Some("other-client"))),
    );
    assert_fails(
        say(&stranger, at()).await,
        401,
        "refused this client's certificate",
    );
    let distrustful = client(
        &world,
        TcpTransport::default().client_tls(certs.client("other-ca.pem", Some("client"))),
    );
    assert_fails(say(&distrustful, at()).await, 503, "not trusted here");
    ok().await;

    // A handshake of garbage closes that connection only.
    let mut raw = tokio::net::TcpStream::connect(&address).await.unwrap();
    raw.write_all(&[0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8])
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut raw, &mut sink).await;
    ok().await;
    world.stop().await;
}

#[test]
fn unusable_certificate_files_are_400_naming_the_file() {
    let certs = Certs::make();
    let err = ServerTls::builder().build().unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(err.detail().contains("MICRO_TLS_CERT"), "{err}");

    let missing = certs.path("nope.pem");
    let err = ServerTls::builder()
        .cert_file(&missing)
        .key_file(certs.path("server-key.pem"))
        .build()
        .unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(err.detail().contains(&*missing.to_string_lossy()), "{err}");

    let err = ServerTls::builder()
        .cert_file(certs.path("server.pem"))
        .key_file(certs.path("client-key.pem"))
        .build()
        .unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(err.detail().contains("does not fit"), "{err}");

    let err = ServerTls::builder()
        .cert_file(certs.path("server-key.pem"))
        .key_file(certs.path("server-key.pem"))
        .build()
        .unwrap_err();
    assert!(err.detail().contains("no PEM certificate"), "{err}");
    assert!(!err.detail().contains("PRIVATE"), "no key material: {err}");

    let err = ClientTls::builder().ca_file(&missing).build().unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(err.detail().contains(&*missing.to_string_lossy()), "{err}");
    let err = ClientTls::builder()
        .ca_file(certs.path("ca.pem"))
        .server_name("not a name!")
        .build()
        .unwrap_err();
    assert_eq!(err.code(), 400);
    assert!(err.detail().contains("not a name!"), "{err}");
}
