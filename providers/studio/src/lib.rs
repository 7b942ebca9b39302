//! Palisade's SageMaker Studio resources: a private (VpcOnly) Studio domain and its user profiles.
//!
//! Without feature `provider` this crate offers only the typed declarations (what the SDK and user
//! programs use); with it, the AWS calls behind each resource and the
//! `pulumi-resource-palisade-studio` plugin.

pub mod domain;
pub mod user_profile;
pub mod validate;

#[cfg(all(test, feature = "provider"))]
mod testing;

pub use domain::{DefaultUserSettings, Domain, DomainArgs, DomainState};
pub use user_profile::{UserProfile, UserProfileArgs, UserProfileState};

/// The package name, as in type tokens (`palisade-studio:index:Domain`).
pub const PACKAGE: &str = "palisade-studio";

/// The provider with every studio resource.
#[cfg(feature = "provider")]
pub fn provider() -> palisade_provider_kit::provider::Provider {
    palisade_provider_kit::provider::Provider::new(
        PACKAGE,
        "Palisade Studio",
        "SageMaker Studio for a secure ML platform: a VpcOnly domain with an encrypted home EFS, and user \
         profiles whose apps are cleaned up before they are deleted.",
    )
    .resource::<Domain>()
    .resource::<UserProfile>()
}
