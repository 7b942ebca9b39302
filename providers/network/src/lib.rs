//! Palisade's network resources: a private VPC and what it needs, as Pulumi resources.
//!
//! Without feature `provider` this crate offers only the typed declarations (what the SDK and user
//! programs use); with it, the AWS calls behind each resource and the
//! `pulumi-resource-palisade-network` plugin.

pub mod flow_log;
pub mod internet_gateway;
pub mod nat_gateway;
pub mod route_table;
pub mod security_group;
pub mod subnet;
pub mod validate;
pub mod vpc;
pub mod vpc_endpoint;

#[cfg(feature = "provider")]
mod ec2;

pub use flow_log::{FlowLog, FlowLogArgs, FlowLogState};
pub use internet_gateway::{InternetGateway, InternetGatewayArgs, InternetGatewayState};
pub use nat_gateway::{NatGateway, NatGatewayArgs, NatGatewayState};
pub use route_table::{Route, RouteTable, RouteTableArgs, RouteTableState};
pub use security_group::{SecurityGroup, SecurityGroupArgs, SecurityGroupRule, SecurityGroupState};
pub use subnet::{Subnet, SubnetArgs, SubnetState};
pub use vpc::{Vpc, VpcArgs, VpcState};
pub use vpc_endpoint::{VpcEndpoint, VpcEndpointArgs, VpcEndpointState};

/// The package name, as in type tokens (`palisade-network:index:Vpc`).
pub const PACKAGE: &str = "palisade-network";

/// The interface endpoint services the reference environment reaches privately (the seed's list).
/// The first ten are what SageMaker Studio in VpcOnly mode needs (the SDK's
/// `guardrails::STUDIO_INTERFACE_ENDPOINTS`, which PAL-NET-05 requires); the others serve pipelines
/// and code repositories.
pub const SEED_INTERFACE_SERVICES: [&str; 15] = [
    "sagemaker.api",
    "sagemaker.runtime",
    "notebook",
    "sts",
    "kms",
    "logs",
    "monitoring",
    "ecr.api",
    "ecr.dkr",
    "ssm",
    "servicecatalog",
    "codecommit",
    "git-codecommit",
    "codepipeline",
    "codebuild",
];

/// The full endpoint service name of `service` in `region` (`notebook` is SageMaker's own namespace).
pub fn endpoint_service_name(region: &str, service: &str) -> String {
    match service {
        "notebook" => format!("aws.sagemaker.{region}.notebook"),
        other => format!("com.amazonaws.{region}.{other}"),
    }
}

/// The provider with every network resource.
#[cfg(feature = "provider")]
pub fn provider() -> palisade_provider_kit::provider::Provider {
    palisade_provider_kit::provider::Provider::new(
        PACKAGE,
        "Palisade Network",
        "Private, internet-free networking for a secure ML platform: VPCs, subnets, routing, security \
         groups and VPC endpoints.",
    )
    .resource::<Vpc>()
    .resource::<Subnet>()
    .resource::<RouteTable>()
    .resource::<SecurityGroup>()
    .resource::<VpcEndpoint>()
    .resource::<InternetGateway>()
    .resource::<NatGateway>()
    .resource::<FlowLog>()
}
