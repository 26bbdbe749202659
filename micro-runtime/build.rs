//! Generates the etcd gRPC client when the `etcd` feature is on; does
//! nothing otherwise.
//!
//! The `.proto` files are vendored in `proto/etcd/` and parsed in pure Rust
//! with `protox`, so building the feature needs nothing but cargo (no
//! `protoc`). Only the client side of the KV, Watch and Lease services is
//! generated: the registry uses nothing else.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_ETCD").is_none() {
        return Ok(());
    }
    #[cfg(feature = "etcd")]
    etcd()?;
    Ok(())
}

#[cfg(feature = "etcd")]
fn etcd() -> Result<(), Box<dyn std::error::Error>> {
    const SERVICES: [&str; 3] = ["KV", "Watch", "Lease"];
    let root = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR")?).join("proto/etcd");
    println!("cargo:rerun-if-changed={}", root.display());

    let mut fds = protox::compile(["etcd/api/etcdserverpb/rpc.proto"], [&root])?;
    for file in &mut fds.file {
        file.service
            .retain(|service| SERVICES.contains(&service.name()));
    }
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(true)
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
