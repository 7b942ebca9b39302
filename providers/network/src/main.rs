//! `pulumi-resource-palisade-network`: the network provider plugin.

fn main() -> std::process::ExitCode {
    palisade_provider_kit::plugin::main(palisade_network::provider())
}
