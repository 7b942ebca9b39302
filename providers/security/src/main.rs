//! `pulumi-resource-palisade-security`: the security provider plugin.

fn main() -> std::process::ExitCode {
    palisade_provider_kit::plugin::main(palisade_security::provider())
}
