//! A small Palisade program: an internet-free VPC with two private subnets and a security group
//! that admits only itself, in a development account.
//!
//! `cargo run -p palisade-example-private-network -- preview` shows what it would create; `up --yes`
//! creates it. The account comes from the environment: `PALISADE_DEV_ACCOUNT` (default
//! `123456789012`, the local emulator's), `AWS_REGION` (default `us-east-1`) and, for a local
//! emulator, `PALISADE_ENDPOINT`.

use std::process::ExitCode;

use palisade::network::{SecurityGroup, SecurityGroupArgs, SecurityGroupRule, Subnet, SubnetArgs, Vpc, VpcArgs};
use palisade::{Account, Stack};

fn declare(stack: &mut Stack, region: &str) -> Result<(), palisade::stack::DeclareError> {
    let network = VpcArgs::new("10.0.0.0/16").with_tags([("palisade-environment".into(), "example".into())].into());
    let vpc = stack.resource::<Vpc>("main", network)?;
    for (name, cidr, zone) in [("private-a", "10.0.1.0/24", "a"), ("private-b", "10.0.2.0/24", "b")] {
        stack.resource::<Subnet>(name, SubnetArgs::new(vpc.vpc_id(), cidr, format!("{region}{zone}")))?;
    }
    let members_only = SecurityGroupRule::new("-1")
        .with_self_referencing(true)
        .with_description("members of the group talk to each other");
    let group = SecurityGroupArgs::new(vpc.vpc_id())
        .with_description("SageMaker: members only")
        .with_ingress(vec![members_only.clone()])
        .with_egress(vec![members_only]);
    stack.resource::<SecurityGroup>("sagemaker", group)?;
    Ok(())
}

fn main() -> ExitCode {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_string());
    let region = env("AWS_REGION", "us-east-1");
    let mut dev = Account::new("dev", env("PALISADE_DEV_ACCOUNT", "123456789012"), region.clone());
    if let Ok(endpoint) = std::env::var("PALISADE_ENDPOINT") {
        dev = dev.endpoint(endpoint);
    }
    let mut stack = Stack::new("dev", dev).project("private-network");
    if let Err(error) = declare(&mut stack, &region) {
        eprintln!("error: {error}");
        return ExitCode::FAILURE;
    }
    palisade::cli::main(vec![stack])
}
