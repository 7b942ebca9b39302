//! The reference environment's declarations: the dev stack (Studio, data, model registry) and one
//! stack per target account (staging, prod) that serves the released model.
//!
//! Every cross-account grant is computed from the configured target list, so adding or removing a
//! target changes dev's bucket, key and model-group policies in the same plan. The private network
//! is in [`network`], a target's stack in [`targets`], the IAM policies in [`policies`].

use std::collections::BTreeMap;

use palisade::deploy::{ModelPackage, ModelPackageArgs, ModelPackageGroup, ModelPackageGroupArgs};
use palisade::security::policy_document::{account_root_arn, PolicyDocument, Statement};
use palisade::security::{Bucket, BucketArgs, BucketPolicy, KmsKey, KmsKeyArgs, KmsKeyPolicy, KmsKeyPolicyArgs, Role};
use palisade::stack::DeclareError;
use palisade::studio::{DefaultUserSettings, Domain, DomainArgs, UserProfile, UserProfileArgs};
use palisade::{Resource, Stack};

use crate::config::Config;

mod network;
mod policies;
mod targets;

use policies::{
    bucket_policy, data_scientist_role, deny_key_use_outside, execution_role, model_group_policy, pipelines_role,
    team_admin_role,
};
pub use policies::{KMS_DATA_ACTIONS, PIPELINE_WORK, S3_DATA_ACTIONS, SAGEMAKER_WORK};
use targets::{declare_target, SharedFromDev, Target};

/// The release staging and prod deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The newest approved package of dev's group, as found before planning.
    Approved(String),
    /// No approved package exists yet, and the one dev registers in this run is approved: deploy it.
    Registered,
    /// Nothing approved: the targets get their network and roles, and no model.
    Unapproved,
}

/// The declared stacks and the handles the promotion and summary need.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Dev first, then the targets in promotion order.
    pub stacks: Vec<Stack>,
    /// The model package group's name in dev.
    pub model_package_group: String,
    /// Per target: the endpoint's name.
    pub endpoints: BTreeMap<String, String>,
}

/// The names shared between stacks.
fn role_name(config: &Config, role: &str) -> String {
    format!("{}-{role}", config.environment)
}

fn bucket_name(config: &Config, purpose: &str, account_id: &str) -> String {
    format!("{}-{purpose}-{account_id}", config.environment)
}

/// Declares every stack of `config`, deploying `release` to the targets.
pub fn declare(config: &Config, release: &Release) -> Result<Environment, DeclareError> {
    let mut dev = Stack::new("dev", config.dev_account()).project(&config.environment);
    if config.dev.network.nat.is_some() {
        dev = dev.allow_internet();
    }
    let dev_network = network::network(&mut dev, config, &config.dev.network)?;
    let dev_id = config.dev.account.account_id.clone();

    // Keys: EBS volumes, Studio's EFS home directories, and S3 objects. The S3 key's policy names
    // the targets, so it is a resource of its own, declared once the targets are.
    let dev_kms_endpoints: Vec<String> = dev_network.kms_endpoint_id().into_iter().collect();
    let ebs_key = private_key(
        &mut dev,
        "ebs",
        "EBS volumes of Studio apps and jobs",
        &dev_id,
        &dev_kms_endpoints,
    )?;
    let studio_key = private_key(
        &mut dev,
        "studio",
        "Studio home directories (EFS)",
        &dev_id,
        &dev_kms_endpoints,
    )?;
    let s3_key = dev.resource::<KmsKey>("s3", KmsKeyArgs::new("Data and model artifacts in S3"))?;

    let data = BucketArgs::new(s3_key.arn()).with_bucket(bucket_name(config, "data", &dev_id));
    let data = dev.resource::<Bucket>("data", data)?;
    let models = BucketArgs::new(s3_key.arn()).with_bucket(bucket_name(config, "models", &dev_id));
    let models = dev.resource::<Bucket>("models", models)?;
    let models_arn = models.arn();

    let dev_s3_endpoint = network::s3_gateway_endpoint(
        &mut dev,
        config,
        &dev_network,
        &[
            bucket_name(config, "data", &dev_id),
            bucket_name(config, "models", &dev_id),
        ],
    )?;

    // Roles of the dev account.
    let execution = execution_role(
        config,
        &dev_id,
        &[&data.arn(), &models_arn],
        &s3_key.arn(),
        &ebs_key.arn(),
    );
    let execution = dev.resource::<Role>("sagemaker-execution", execution)?;
    let pipelines = pipelines_role(
        config,
        &dev_id,
        &[&data.arn(), &models_arn],
        &s3_key.arn(),
        &execution.arn(),
    );
    dev.resource::<Role>("pipelines", pipelines)?;
    dev.resource::<Role>("team-admin", team_admin_role(config, &dev_id))?;
    dev.resource::<Role>("data-scientist", data_scientist_role(config, &dev_id, &execution.arn()))?;

    // Studio, in VpcOnly mode (the default) with the storage key; home directories outlive the domain.
    let sagemaker_groups = vec![dev_network.sagemaker.group_id()];
    let settings = DefaultUserSettings::new(execution.arn()).with_security_groups(sagemaker_groups.clone());
    let studio = DomainArgs::new(dev_network.vpc.vpc_id(), dev_network.subnet_ids(), settings)
        .with_domain_name(format!("{}-studio", config.environment))
        .with_kms_key_id(studio_key.arn())
        .with_home_efs_retention("Retain");
    let domain = dev.resource::<Domain>("studio", studio)?;
    for user in &config.dev.user_profiles {
        let profile = UserProfileArgs::new(domain.domain_id())
            .with_user_profile_name(user)
            .with_execution_role(execution.arn())
            .with_security_groups(sagemaker_groups.clone());
        dev.resource::<UserProfile>(user.as_str(), profile)?;
    }

    // The targets, each reading the released model from dev.
    let group_name = config.model_package_group();
    let release_arn = match release {
        Release::Approved(arn) => Some(arn.clone()),
        Release::Registered => Some(dev.handle::<ModelPackage>("release").model_package_arn()),
        Release::Unapproved => None,
    };
    let shared = SharedFromDev {
        models_bucket_arn: &models_arn,
        models_bucket_name: bucket_name(config, "models", &dev_id),
        s3_key_arn: s3_key.arn(),
        release: release_arn.as_deref(),
        dev_account_id: &dev_id,
        // A target's model needs dev's grants in place first.
        grants: vec![
            dev.handle::<BucketPolicy>("models").untyped(),
            dev.handle::<KmsKeyPolicy>("s3").untyped(),
            dev.handle::<ModelPackageGroup>("models").untyped(),
        ],
    };
    let targets = config
        .targets
        .iter()
        .map(|target| declare_target(config, target, &shared))
        .collect::<Result<Vec<Target>, DeclareError>>()?;

    // Dev's policies, which name every target.
    let target_roles: Vec<String> = targets.iter().map(|t| t.model_execution_role.clone()).collect();
    let mut s3_endpoints = vec![dev_s3_endpoint.vpc_endpoint_id()];
    s3_endpoints.extend(targets.iter().map(|t| t.s3_endpoint.clone()));
    let mut kms_endpoints = dev_kms_endpoints.clone();
    kms_endpoints.extend(targets.iter().filter_map(|t| t.kms_endpoint.clone()));

    let mut statements = vec![
        Statement::allow_account_to_manage_key(&dev_id),
        deny_key_use_outside(&kms_endpoints),
    ];
    if !target_roles.is_empty() {
        statements.push(Statement::allow_cross_account_decrypt(target_roles.clone()));
    }
    let s3_key_policy = KmsKeyPolicyArgs::new(s3_key.key_id(), PolicyDocument::new(statements).to_json());
    dev.resource::<KmsKeyPolicy>("s3", s3_key_policy)?;
    dev.resource::<BucketPolicy>(
        "data",
        bucket_policy(&data, &[dev_s3_endpoint.vpc_endpoint_id()], Vec::new()),
    )?;
    let cross_account_read = if target_roles.is_empty() {
        Vec::new()
    } else {
        vec![Statement::allow_cross_account_read(target_roles, &models.bucket())]
    };
    dev.resource::<BucketPolicy>("models", bucket_policy(&models, &s3_endpoints, cross_account_read))?;

    // Creating a model from a package of another account is authorised for the caller, whichever
    // role of the target account deploys; the target account's own IAM narrows that down.
    let readers: Vec<String> = targets.iter().map(|t| account_root_arn(&t.account_id)).collect();
    let mut group = ModelPackageGroupArgs::default()
        .with_model_package_group_name(&group_name)
        .with_description("Models promoted from dev to the target accounts");
    if !readers.is_empty() {
        group = group.with_resource_policy(model_group_policy(config, &dev_id, &group_name, readers));
    }
    let group = dev.resource::<ModelPackageGroup>("models", group)?;
    let model = &config.dev.model;
    let artifact = format!("s3://{}/{}", models.bucket(), model.artifact_key);
    let package = ModelPackageArgs::new(group.model_package_group_name(), &model.image, artifact)
        .with_description("The model the data scientists registered for promotion")
        .with_supported_content_types(vec!["application/json".into()])
        .with_supported_response_mime_types(vec!["application/json".into()])
        .with_model_approval_status(model.approval_status.clone());
    dev.resource::<ModelPackage>("release", package)?;

    let endpoints = targets
        .iter()
        .filter_map(|t| t.endpoint_name.clone().map(|e| (t.stack.name.clone(), e)))
        .collect();
    let mut stacks = vec![dev];
    stacks.extend(targets.into_iter().map(|t| t.stack));
    Ok(Environment {
        stacks,
        model_package_group: group_name,
        endpoints,
    })
}

/// A customer-managed key whose policy is set at creation: the account manages it, and its material
/// is used only through the stack's KMS endpoint.
fn private_key(
    stack: &mut Stack,
    name: &str,
    description: &str,
    account_id: &str,
    kms_endpoints: &[String],
) -> Result<Resource<KmsKey>, DeclareError> {
    let mut statements = vec![Statement::allow_account_to_manage_key(account_id)];
    if !kms_endpoints.is_empty() {
        statements.push(deny_key_use_outside(kms_endpoints));
    }
    let key = KmsKeyArgs::new(description).with_policy(PolicyDocument::new(statements).to_json());
    stack.resource::<KmsKey>(name, key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NatConfig;

    fn kinds(stack: &Stack) -> Vec<&str> {
        stack
            .resources
            .iter()
            .map(|r| r.token.rsplit(':').next().unwrap_or_default())
            .collect()
    }

    fn inputs_text(stack: &Stack, kind: &str, name: &str) -> String {
        let declared = stack
            .resources
            .iter()
            .find(|r| r.token.ends_with(&format!(":{kind}")) && r.name == name)
            .unwrap_or_else(|| panic!("{kind} {name} declared"));
        format!("{:?}", declared.inputs)
    }

    #[test]
    fn the_default_environment_is_three_internet_free_stacks() {
        let environment = declare(&Config::local(), &Release::Registered).expect("declares");
        let names: Vec<&str> = environment.stacks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["dev", "staging", "prod"]);
        for stack in &environment.stacks {
            assert!(!stack.internet_access, "{}", stack.name);
            let kinds = kinds(stack);
            assert!(!kinds.contains(&"InternetGateway") && !kinds.contains(&"NatGateway"));
        }
        assert_eq!(environment.endpoints["prod"], "mlops-prod");
        // The release is dev's registered package until one is approved.
        let model = inputs_text(&environment.stacks[1], "Model", "model");
        assert!(model.contains("ModelPackage::release#modelPackageArn"), "{model}");
    }

    #[test]
    fn without_an_approved_release_the_targets_serve_nothing() {
        let environment = declare(&Config::local(), &Release::Unapproved).expect("declares");
        assert!(environment.endpoints.is_empty());
        for target in &environment.stacks[1..] {
            let kinds = kinds(target);
            assert!(kinds.contains(&"Role") && kinds.contains(&"Vpc"), "{kinds:?}");
            assert!(!kinds.contains(&"Model") && !kinds.contains(&"Endpoint"), "{kinds:?}");
        }
    }

    #[test]
    fn nat_mode_gives_dev_a_way_out() {
        let mut config = Config::local();
        config.dev.network.nat = Some(NatConfig {
            public_subnet_cidr: "10.0.100.0/24".into(),
            zone: "a".into(),
        });
        let environment = declare(&config, &Release::Registered).expect("declares");
        let dev = &environment.stacks[0];
        assert!(dev.internet_access);
        let kinds = kinds(dev);
        assert!(kinds.contains(&"InternetGateway") && kinds.contains(&"NatGateway"));
        let private = inputs_text(dev, "RouteTable", "private");
        assert!(
            private.contains("0.0.0.0/0") && private.contains("NatGateway::nat#natGatewayId"),
            "{private}"
        );
        assert!(!environment.stacks[1].internet_access);
    }

    #[test]
    fn dev_grants_follow_the_target_list() {
        let mut config = Config::local();
        let approved =
            Release::Approved("arn:aws:sagemaker:us-east-1:123456789012:model-package/mlops-models/1".into());
        let both = declare(&config, &approved).expect("declares");
        let policy = inputs_text(&both.stacks[0], "BucketPolicy", "models");
        assert!(policy.contains("urn:pulumi:staging::mlops::palisade-security:index:Role::model-execution#arn"));
        assert!(policy.contains("urn:pulumi:prod::mlops::palisade-security:index:Role::model-execution#arn"));

        config.targets.truncate(1);
        let staging_only = declare(&config, &approved).expect("declares");
        assert_eq!(staging_only.stacks.len(), 2);
        for (kind, name) in [("BucketPolicy", "models"), ("KmsKeyPolicy", "s3")] {
            let text = inputs_text(&staging_only.stacks[0], kind, name);
            assert!(text.contains("urn:pulumi:staging::"), "{kind}: {text}");
            assert!(!text.contains("urn:pulumi:prod::"), "{kind} still names prod: {text}");
        }
        let group = inputs_text(&staging_only.stacks[0], "ModelPackageGroup", "models");
        assert!(group.contains("arn:aws:iam::222222222222:root"), "{group}");
        assert!(!group.contains("333333333333"), "the group still names prod: {group}");
        let model = inputs_text(&staging_only.stacks[1], "Model", "model");
        assert!(model.contains("model-package/mlops-models/1"), "{model}");

        config.targets.clear();
        let alone = declare(&config, &approved).expect("declares");
        let group = inputs_text(&alone.stacks[0], "ModelPackageGroup", "models");
        assert!(!group.contains("resourcePolicy"), "no targets, no sharing: {group}");
    }
}
