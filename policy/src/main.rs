//! `pulumi-analyzer-policy-palisade`: the Pulumi engine starts it for a policy pack whose
//! `PulumiPolicy.yaml` says `runtime: palisade`, with the engine's address and the pack's folder as
//! arguments; it prints its port and serves `pulumirpc.Analyzer` until the engine lets it go.

use std::process::ExitCode;

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(palisade_policy::serve::serve()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("pulumi-analyzer-policy-palisade: {error}");
            ExitCode::FAILURE
        }
    }
}
