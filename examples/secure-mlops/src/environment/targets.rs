//! A target account's stack (staging, prod): the private network, a storage key, the capture
//! bucket, the model execution and deployment roles, and, once a release is approved, the model,
//! its endpoint configuration and the endpoint.

use palisade::deploy::{
    DataCapture, Endpoint, EndpointArgs, EndpointConfig, EndpointConfigArgs, Model, ModelArgs, ProductionVariant,
};
use palisade::security::{Bucket, BucketArgs, BucketPolicy, KmsKey, Role};
use palisade::stack::DeclareError;
use palisade::{Options, Resource, ResourceRef, Stack};

use super::network::{network, s3_gateway_endpoint, Network};
use super::policies::{bucket_policy, deployment_role, model_execution_role};
use super::{bucket_name, private_key};
use crate::config::{Config, TargetConfig};

/// What a target reads from dev.
pub(super) struct SharedFromDev<'a> {
    pub(super) models_bucket_arn: &'a str,
    pub(super) models_bucket_name: String,
    pub(super) s3_key_arn: String,
    /// The model package to deploy, if one is approved.
    pub(super) release: Option<&'a str>,
    pub(super) dev_account_id: &'a str,
    /// Dev's policies that grant the targets access to the release.
    pub(super) grants: Vec<ResourceRef>,
}

/// A declared target stack and what it exposes to dev's policies.
pub(super) struct Target {
    pub(super) stack: Stack,
    pub(super) account_id: String,
    pub(super) model_execution_role: String,
    pub(super) s3_endpoint: String,
    pub(super) kms_endpoint: Option<String>,
    pub(super) endpoint_name: Option<String>,
}

pub(super) fn declare_target(
    config: &Config,
    target: &TargetConfig,
    dev: &SharedFromDev<'_>,
) -> Result<Target, DeclareError> {
    let account_id = target.account.account_id.clone();
    let mut stack = Stack::new(&target.name, config.target_account(target)).project(&config.environment);
    let net = network(&mut stack, config, &target.network)?;
    let kms_endpoints: Vec<String> = net.kms_endpoint_id().into_iter().collect();
    let storage_key = private_key(
        &mut stack,
        "storage",
        "Endpoint volumes and captured requests",
        &account_id,
        &kms_endpoints,
    )?;
    let capture_name = bucket_name(config, &format!("{}-capture", target.name), &account_id);
    let capture = BucketArgs::new(storage_key.arn()).with_bucket(&capture_name);
    let capture = stack.resource::<Bucket>("capture", capture)?;
    let s3_endpoint = s3_gateway_endpoint(
        &mut stack,
        config,
        &net,
        &[dev.models_bucket_name.clone(), capture_name],
    )?;
    stack.resource::<BucketPolicy>(
        "capture",
        bucket_policy(&capture, &[s3_endpoint.vpc_endpoint_id()], Vec::new()),
    )?;
    let execution = model_execution_role(config, &account_id, dev, &storage_key.arn(), &capture.arn());
    let execution = stack.resource::<Role>("model-execution", execution)?;
    let deployment = deployment_role(config, dev.dev_account_id, &execution.arn());
    stack.resource::<Role>("deployment", deployment)?;

    let endpoint_name = match dev.release {
        Some(release) => Some(serve_release(
            &mut stack,
            config,
            target,
            &Serving {
                network: &net,
                release,
                execution_role: &execution,
                storage_key: &storage_key,
                capture: &capture,
                grants: &dev.grants,
            },
        )?),
        None => None,
    };
    Ok(Target {
        stack,
        account_id,
        model_execution_role: execution.arn(),
        s3_endpoint: s3_endpoint.vpc_endpoint_id(),
        kms_endpoint: net.kms_endpoint_id(),
        endpoint_name,
    })
}

/// What serving the release in a target needs.
struct Serving<'a> {
    network: &'a Network,
    release: &'a str,
    execution_role: &'a Resource<Role>,
    storage_key: &'a Resource<KmsKey>,
    capture: &'a Resource<Bucket>,
    grants: &'a [ResourceRef],
}

/// The release in a target: the Model (in the VPC, isolated, created once dev's grants are in
/// place), its EndpointConfig (encrypted, with data capture) and the Endpoint. Returns the
/// endpoint's name.
fn serve_release(
    stack: &mut Stack,
    config: &Config,
    target: &TargetConfig,
    serving: &Serving<'_>,
) -> Result<String, DeclareError> {
    let Serving {
        network: net,
        release,
        execution_role: execution,
        storage_key,
        capture,
        grants,
    } = serving;
    let model = ModelArgs::new(execution.arn())
        .with_model_package_arn(*release)
        .with_subnet_ids(net.subnet_ids())
        .with_security_group_ids(vec![net.sagemaker.group_id()])
        .with_enable_network_isolation(true);
    let after_grants = Options {
        depends_on: grants.to_vec(),
        ..Options::default()
    };
    let model = stack.resource_with::<Model>("model", model, after_grants)?;
    let variant = ProductionVariant::new(model.model_name(), &target.instance_type)
        .with_initial_instance_count(target.instance_count);
    let capture = DataCapture::new(format!("s3://{}/requests", capture.bucket()))
        .with_initial_sampling_percentage(100)
        .with_kms_key_id(storage_key.arn());
    let endpoint_config = EndpointConfigArgs::new(vec![variant])
        .with_kms_key_id(storage_key.arn())
        .with_data_capture(capture);
    let endpoint_config = stack.resource::<EndpointConfig>("serving", endpoint_config)?;
    let endpoint_name = format!("{}-{}", config.environment, target.name);
    let endpoint = EndpointArgs::new(endpoint_config.endpoint_config_name()).with_endpoint_name(&endpoint_name);
    stack.resource::<Endpoint>("endpoint", endpoint)?;
    Ok(endpoint_name)
}
