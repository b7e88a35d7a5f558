//! Generates the gRPC code for `proto/*.proto` (needs `protoc` at build time).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/bridge.proto");
    println!("cargo:rerun-if-changed=proto/files.proto");
    println!("cargo:rerun-if-changed=proto/terminal.proto");
    println!("cargo:rerun-if-changed=proto/data.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Files: bulk data as `Bytes`, decoded without a copy.
        .bytes(".berth.bridge.v1.WriteInput")
        .bytes(".berth.bridge.v1.ReadChunk")
        .bytes(".berth.bridge.v1.DataChunk")
        // Data: the streamed import archive.
        .bytes(".berth.bridge.v1.ImportInput")
        .compile_protos(
            &[
                "proto/bridge.proto",
                "proto/terminal.proto",
                "proto/files.proto",
                "proto/data.proto",
            ],
            &["proto"],
        )?;
    Ok(())
}
