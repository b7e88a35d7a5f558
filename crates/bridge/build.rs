//! Generates the gRPC code for `proto/bridge.proto` (needs `protoc` at build time).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/bridge.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(&["proto/bridge.proto"], &["proto"])?;
    Ok(())
}
