//! `pulumi-resource-palisade-studio`: the studio provider plugin.

fn main() -> std::process::ExitCode {
    palisade_provider_kit::plugin::main(palisade_studio::provider())
}
