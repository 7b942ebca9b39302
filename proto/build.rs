//! Compiles `pulumi/*.proto` with protox, a pure-Rust protobuf compiler, so that no system `protoc`
//! is needed on a fresh machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["pulumi/provider.proto", "pulumi/analyzer.proto"];
    for file in [
        "pulumi/provider.proto",
        "pulumi/analyzer.proto",
        "pulumi/plugin.proto",
        "pulumi/alias.proto",
    ] {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
