//! Compiles `proto/greeter.proto` as users of each system would: with
//! `micro-codegen` (messages, handler trait, typed client) into
//! `OUT_DIR/greeter.v1.rs`; with `tonic-prost-build` (parsed by protox, no
//! protoc) into `OUT_DIR/tonic/greeter.v1.rs`, in a pass of its own because
//! tonic's generator replaces prost-build's service generator; and with
//! `volo-build` (pilota, pure Rust) into `OUT_DIR/volo_gen.rs`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    micro_codegen::compile_protos(&["../proto/greeter.proto"], &["../proto"])?;

    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("tonic");
    std::fs::create_dir_all(&out)?;
    let fds = protox::compile(["../proto/greeter.proto"], ["../proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .out_dir(&out)
        .compile_fds(fds)?;

    volo_build::Builder::protobuf()
        .add_service("../proto/greeter.proto")
        .include_dirs(vec![PathBuf::from("../proto")])
        .filename("volo_gen.rs".into())
        .write()?;
    println!("cargo:rerun-if-changed=../proto/greeter.proto");
    Ok(())
}
