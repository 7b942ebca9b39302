//! `pulumi-resource-palisade-deploy`: the deploy provider plugin.

fn main() -> std::process::ExitCode {
    palisade_provider_kit::plugin::main(palisade_deploy::provider())
}
