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
    let mut network = VpcArgs::new("10.0.0.0/16");
    network.tags.insert("palisade-environment".into(), "example".into());
    let vpc = stack.resource::<Vpc>("main", network)?;
    for (name, cidr, zone) in [("private-a", "10.0.1.0/24", "a"), ("private-b", "10.0.2.0/24", "b")] {
        let subnet = SubnetArgs {
            vpc_id: vpc.output("vpcId"),
            cidr_block: cidr.into(),
            availability_zone: format!("{region}{zone}"),
            tags: Default::default(),
        };
        stack.resource::<Subnet>(name, subnet)?;
    }
    let members_only = SecurityGroupRule {
        protocol: "-1".into(),
        from_port: 0,
        to_port: 0,
        cidr_blocks: Vec::new(),
        security_group_ids: Vec::new(),
        prefix_list_ids: Vec::new(),
        self_referencing: true,
        description: Some("members of the group talk to each other".into()),
    };
    let group = SecurityGroupArgs {
        group_name: None,
        description: "SageMaker: members only".into(),
        vpc_id: vpc.output("vpcId"),
        ingress: vec![members_only.clone()],
        egress: vec![members_only],
        tags: Default::default(),
    };
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
