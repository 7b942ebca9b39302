//! Palisade's network resources: a private VPC and what it needs, as Pulumi resources.
//!
//! Without feature `provider` this crate offers only the typed declarations (what the SDK and user
//! programs use); with it, the AWS calls behind each resource and the
//! `pulumi-resource-palisade-network` plugin.

pub mod validate;
pub mod vpc;

#[cfg(feature = "provider")]
mod ec2;

pub use vpc::{Vpc, VpcArgs, VpcState};

/// The package name, as in type tokens (`palisade-network:index:Vpc`).
pub const PACKAGE: &str = "palisade-network";

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
}
