//! Palisade's model-deployment resources: the model registry (package groups shared across accounts,
//! packages with an approval status), models, endpoint configurations and endpoints, and the
//! functions promotion uses: `getLatestApprovedModelPackage` and `invokeEndpoint` (the smoke test).
//!
//! Without feature `provider` this crate offers only the typed declarations (what the SDK and user
//! programs use); with it, the AWS calls behind each resource and the
//! `pulumi-resource-palisade-deploy` plugin.

pub mod endpoint;
pub mod endpoint_config;
pub mod invoke_endpoint;
pub mod latest_approved;
pub mod model;
pub mod model_package;
pub mod model_package_group;
mod validate;

#[cfg(feature = "provider")]
mod sagemaker;

pub use endpoint::{Endpoint, EndpointArgs, EndpointState};
pub use endpoint_config::{DataCapture, EndpointConfig, EndpointConfigArgs, EndpointConfigState, ProductionVariant};
pub use invoke_endpoint::{InvokeEndpoint, InvokeEndpointArgs, InvokeEndpointResult};
pub use latest_approved::{GetLatestApprovedModelPackage, LatestApprovedArgs, LatestApprovedResult};
pub use model::{Model, ModelArgs, ModelState};
pub use model_package::{ModelPackage, ModelPackageArgs, ModelPackageState};
pub use model_package_group::{ModelPackageGroup, ModelPackageGroupArgs, ModelPackageGroupState};

/// The package name, as in type tokens (`palisade-deploy:index:Model`).
pub const PACKAGE: &str = "palisade-deploy";

/// The provider with every deploy resource and function.
#[cfg(feature = "provider")]
pub fn provider() -> palisade_provider_kit::provider::Provider {
    palisade_provider_kit::provider::Provider::new(
        PACKAGE,
        "Palisade Deploy",
        "Model deployment for a secure ML platform: a model registry shared across accounts, models with \
         network isolation, encrypted endpoint configurations and endpoints updated in place.",
    )
    .resource::<ModelPackageGroup>()
    .resource::<ModelPackage>()
    .resource::<Model>()
    .resource::<EndpointConfig>()
    .resource::<Endpoint>()
    .function::<GetLatestApprovedModelPackage>()
    .function::<InvokeEndpoint>()
}
