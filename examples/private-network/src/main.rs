//! The smallest Palisade program: an internet-free VPC in a development account.
//!
//! `cargo run -p palisade-example-private-network -- preview` shows what it would create. The account
//! comes from the environment: `PALISADE_DEV_ACCOUNT` (default `123456789012`, the local emulator's),
//! `AWS_REGION` (default `us-east-1`) and, for a local emulator, `PALISADE_ENDPOINT`.

use std::process::ExitCode;

use palisade::network::{Vpc, VpcArgs};
use palisade::{Account, Stack};

fn main() -> ExitCode {
    let env =
        |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    let mut dev = Account::new(
        "dev",
        env("PALISADE_DEV_ACCOUNT", "123456789012"),
        env("AWS_REGION", "us-east-1"),
    );
    if let Ok(endpoint) = std::env::var("PALISADE_ENDPOINT") {
        dev = dev.endpoint(endpoint);
    }

    let mut stack = Stack::new("dev", dev).project("private-network");
    let mut network = VpcArgs::new("10.0.0.0/16");
    network
        .tags
        .insert("palisade-environment".into(), "example".into());
    if let Err(error) = stack.resource::<Vpc>("main", network) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    palisade::cli::main(vec![stack])
}
