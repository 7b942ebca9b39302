//! The IAM policies of the reference environment: key and bucket policies, the roles and their
//! permissions, and the model registry's resource policy.

use palisade::security::policy_document::{Effect, PolicyDocument, Principal, Statement};
use palisade::security::{Bucket, BucketPolicyArgs, RoleArgs};
use palisade::Resource;
use serde_json::Value as Json;

use super::role_name;
use crate::config::Config;

/// The S3 actions that touch data; the VPC-endpoint deny covers these, so that managing a bucket
/// (reading its policy, say) from outside the network stays possible and nobody is locked out.
pub const S3_DATA_ACTIONS: [&str; 4] = ["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:ListBucket*"];

/// What dev's SageMaker execution role may do in SageMaker.
pub const SAGEMAKER_WORK: [&str; 18] = [
    "sagemaker:CreateTrainingJob",
    "sagemaker:DescribeTrainingJob",
    "sagemaker:StopTrainingJob",
    "sagemaker:CreateProcessingJob",
    "sagemaker:DescribeProcessingJob",
    "sagemaker:StopProcessingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:DescribeHyperParameterTuningJob",
    "sagemaker:CreateModel",
    "sagemaker:DescribeModel",
    "sagemaker:CreateModelPackage",
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:ListModelPackages",
    "sagemaker:AddTags",
    "sagemaker:List*",
    "sagemaker:Search",
    "sagemaker:CreateExperiment",
];

/// The KMS actions that use a key's material; the VPC-endpoint deny covers these.
pub const KMS_DATA_ACTIONS: [&str; 4] = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"];

/// Denies using a key's material except through `endpoints`. AWS services are exempt: those acting
/// for a caller (S3, EFS: `aws:ViaAWSService`), those acting as themselves
/// (`aws:PrincipalIsAWSService`), and EC2's own role that decrypts EBS volumes when an instance
/// starts.
pub(super) fn deny_key_use_outside(endpoints: &[String]) -> Statement {
    Statement::deny_outside_vpc_endpoints(KMS_DATA_ACTIONS, ["*"], endpoints.to_vec())
        .with_condition("BoolIfExists", "aws:PrincipalIsAWSService", ["false"])
        .with_condition(
            "ArnNotLikeIfExists",
            "aws:PrincipalArn",
            ["arn:aws:iam::*:role/aws:ec2-infrastructure"],
        )
}

/// A bucket policy: TLS only, data reachable only through `endpoints`, plus `grants`.
pub(super) fn bucket_policy(
    bucket: &Resource<Bucket>,
    endpoints: &[String],
    grants: Vec<Statement>,
) -> BucketPolicyArgs {
    let arn = bucket.arn();
    let everything = [arn.clone(), format!("{arn}/*")];
    let mut statements = vec![
        Statement::deny_insecure_transport(["s3:*"], everything.clone()),
        Statement::deny_outside_vpc_endpoints(S3_DATA_ACTIONS, everything, endpoints.to_vec()),
    ];
    statements.extend(grants);
    BucketPolicyArgs::new(bucket.bucket(), PolicyDocument::new(statements).to_json())
}

/// Lets SageMaker assume a role, only on behalf of the role's own account (no confused deputy).
pub(super) fn trust_sagemaker(account_id: &str) -> Statement {
    Statement::trust_service("sagemaker.amazonaws.com").with_condition(
        "StringEquals",
        "aws:SourceAccount",
        [account_id],
    )
}

fn allow(sid: &str, actions: &[&str], resources: &[&str]) -> Statement {
    Statement::new(Effect::Allow)
        .with_sid(sid)
        .with_actions(actions.iter().copied())
        .with_resources(resources.iter().copied())
}

/// Dev's SageMaker execution role: the data and models buckets, the S3 and EBS keys, and no job or
/// model outside the VPC.
pub(super) fn execution_role(
    config: &Config,
    account_id: &str,
    buckets: &[&str],
    s3_key: &str,
    ebs_key: &str,
) -> RoleArgs {
    let mut role = RoleArgs::new(PolicyDocument::new([trust_sagemaker(account_id)]).to_json())
        .with_role_name(role_name(config, "sagemaker-execution"))
        .with_description("Assumed by Studio, jobs and pipelines in the dev account");
    let objects: Vec<String> = buckets.iter().map(|b| format!("{b}/*")).collect();
    let buckets: Vec<String> = buckets.iter().map(|b| (*b).to_string()).collect();
    let data = PolicyDocument::new([
        Statement::new(Effect::Allow)
            .with_sid("ListEnvironmentBuckets")
            .with_actions(["s3:ListBucket"])
            .with_resources(buckets),
        Statement::new(Effect::Allow)
            .with_sid("ReadWriteEnvironmentObjects")
            .with_actions(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"])
            .with_resources(objects),
        Statement::new(Effect::Allow)
            .with_sid("UseEnvironmentKeys")
            .with_actions([
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:DescribeKey",
                "kms:CreateGrant",
            ])
            .with_resources([s3_key.to_string(), ebs_key.to_string()]),
    ]);
    role.inline_policies.insert("environment-data".into(), data.to_json());
    // The work of Studio users and pipelines: jobs, models and registering packages. Not approving
    // them (UpdateModelPackage), not changing who may read the registry, not opening other users'
    // Studio.
    let own_arn =
        palisade::security::policy_document::role_arn(account_id, "/", &role_name(config, "sagemaker-execution"));
    // Studio users build and start pipelines, which run as the pipelines role.
    let pipelines_arn = palisade::security::policy_document::role_arn(account_id, "/", &role_name(config, "pipelines"));
    let sagemaker = PolicyDocument::new([
        allow("RunJobsAndRegisterModels", &SAGEMAKER_WORK, &["*"]),
        allow(
            "BuildAndStartPipelines",
            &[
                "sagemaker:CreatePipeline",
                "sagemaker:UpdatePipeline",
                "sagemaker:StartPipelineExecution",
                "sagemaker:DescribePipeline",
                "sagemaker:DescribePipelineExecution",
            ],
            &["*"],
        ),
        allow(
            "PassItselfAndThePipelinesRoleToSageMaker",
            &["iam:PassRole"],
            &[&own_arn, &pipelines_arn],
        )
        .with_condition("StringEquals", "iam:PassedToService", ["sagemaker.amazonaws.com"]),
    ])
    .with(Statement::deny_sagemaker_without_vpc());
    role.inline_policies
        .insert("sagemaker-in-vpc".into(), sagemaker.to_json());
    role
}

/// What dev's pipelines execution role may do in SageMaker: run a pipeline's steps (jobs and
/// models, inside the VPC) and register their result; no approving, no Studio.
pub const PIPELINE_WORK: [&str; 14] = [
    "sagemaker:CreateTrainingJob",
    "sagemaker:DescribeTrainingJob",
    "sagemaker:StopTrainingJob",
    "sagemaker:CreateProcessingJob",
    "sagemaker:DescribeProcessingJob",
    "sagemaker:StopProcessingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:DescribeHyperParameterTuningJob",
    "sagemaker:StopHyperParameterTuningJob",
    "sagemaker:CreateModel",
    "sagemaker:DescribeModel",
    "sagemaker:CreateModelPackage",
    "sagemaker:DescribeModelPackage",
    "sagemaker:AddTags",
];

/// Dev's pipelines execution role, which SageMaker Pipelines assumes to run a pipeline's steps: it
/// may pass only the SageMaker execution role (the steps' jobs run as that role), create jobs and
/// models only inside the VPC, and read and write the environment's buckets through the S3 key.
pub(super) fn pipelines_role(
    config: &Config,
    account_id: &str,
    buckets: &[&str],
    s3_key: &str,
    execution_role: &str,
) -> RoleArgs {
    let objects: Vec<String> = buckets.iter().map(|b| format!("{b}/*")).collect();
    let policy = PolicyDocument::new([
        allow("RunPipelineSteps", &PIPELINE_WORK, &["*"]),
        allow("PassOnlyTheExecutionRole", &["iam:PassRole"], &[execution_role]).with_condition(
            "StringEquals",
            "iam:PassedToService",
            ["sagemaker.amazonaws.com"],
        ),
        allow("ListEnvironmentBuckets", &["s3:ListBucket"], buckets),
        Statement::new(Effect::Allow)
            .with_sid("ReadWriteEnvironmentObjects")
            .with_actions(["s3:GetObject", "s3:PutObject"])
            .with_resources(objects),
        allow(
            "UseTheS3Key",
            &["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            &[s3_key],
        ),
    ])
    .with(Statement::deny_sagemaker_without_vpc());
    RoleArgs::new(PolicyDocument::new([trust_sagemaker(account_id)]).to_json())
        .with_role_name(role_name(config, "pipelines"))
        .with_description("Assumed by SageMaker Pipelines to run the dev account's pipelines")
        .with_inline_policies([("pipelines-in-vpc".into(), policy.to_json())].into())
}

pub(super) fn team_admin_role(config: &Config, account_id: &str) -> RoleArgs {
    let role = RoleArgs::new(PolicyDocument::new([Statement::trust_account(account_id)]).to_json())
        .with_role_name(role_name(config, "team-admin"))
        .with_description("Administers the ML team's Studio domain and user profiles");
    let admin = PolicyDocument::new([allow(
        "ManageStudio",
        &[
            "sagemaker:CreateUserProfile",
            "sagemaker:UpdateUserProfile",
            "sagemaker:DeleteUserProfile",
            "sagemaker:Describe*",
            "sagemaker:List*",
            "sagemaker:UpdateModelPackage",
        ],
        &["*"],
    )]);
    role.with_inline_policies([("studio-admin".into(), admin.to_json())].into())
}

pub(super) fn data_scientist_role(config: &Config, account_id: &str, execution_role: &str) -> RoleArgs {
    let role = RoleArgs::new(PolicyDocument::new([Statement::trust_account(account_id)]).to_json())
        .with_role_name(role_name(config, "data-scientist"))
        .with_description("Opens Studio and works inside it");
    let work = PolicyDocument::new([
        allow(
            "OpenStudio",
            &[
                "sagemaker:CreatePresignedDomainUrl",
                "sagemaker:Describe*",
                "sagemaker:List*",
            ],
            &["*"],
        ),
        allow("PassOnlyTheExecutionRole", &["iam:PassRole"], &[execution_role]),
    ]);
    role.with_inline_policies([("studio-user".into(), work.to_json())].into())
}

/// What the model execution role needs to serve from inside the VPC.
fn serving_policy(storage_key: &str, capture_bucket: &str) -> Json {
    PolicyDocument::new([
        allow(
            "AttachToTheVpc",
            &[
                "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVpcs",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
            ],
            &["*"],
        ),
        allow(
            "PullInferenceImages",
            &[
                "ecr:GetAuthorizationToken",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            &["*"],
        ),
        allow(
            "WriteLogs",
            &[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "cloudwatch:PutMetricData",
            ],
            &["*"],
        ),
        allow(
            "UseStorageKey",
            &[
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:GenerateDataKey",
                "kms:CreateGrant",
                "kms:DescribeKey",
            ],
            &[storage_key],
        ),
        allow("CaptureRequests", &["s3:PutObject"], &[&format!("{capture_bucket}/*")]),
    ])
    .with(Statement::deny_sagemaker_without_vpc())
    .to_json()
}

/// A target's model execution role, which SageMaker assumes to serve the release: reads the release
/// from dev, writes logs, pulls the image, attaches to the VPC, and captures requests.
pub(super) fn model_execution_role(
    config: &Config,
    account_id: &str,
    dev: &super::targets::SharedFromDev<'_>,
    storage_key: &str,
    capture_bucket: &str,
) -> RoleArgs {
    let read_release = PolicyDocument::new([
        Statement::new(Effect::Allow)
            .with_sid("ReadModelArtifacts")
            .with_actions(["s3:GetObject", "s3:GetObjectVersion"])
            .with_resources([format!("{}/*", dev.models_bucket_arn)]),
        Statement::new(Effect::Allow)
            .with_sid("DecryptModelArtifacts")
            .with_actions(["kms:Decrypt", "kms:DescribeKey"])
            .with_resources([dev.s3_key_arn.clone()]),
    ]);
    RoleArgs::new(PolicyDocument::new([trust_sagemaker(account_id)]).to_json())
        .with_role_name(role_name(config, "model-execution"))
        .with_description("Assumed by SageMaker to serve the released model")
        .with_inline_policies(
            [
                ("read-release".into(), read_release.to_json()),
                ("serve-in-vpc".into(), serving_policy(storage_key, capture_bucket)),
            ]
            .into(),
        )
}

/// A target's deployment role, which dev's pipelines assume to release models there.
pub(super) fn deployment_role(config: &Config, dev_account_id: &str, execution_role: &str) -> RoleArgs {
    RoleArgs::new(PolicyDocument::new([Statement::trust_account(dev_account_id)]).to_json())
        .with_role_name(role_name(config, "deployment"))
        .with_description("Assumed from the dev account to deploy approved models")
        .with_inline_policies([("deploy".into(), deployment_policy(execution_role))].into())
}

/// The deployment role: manage models and endpoints, and pass only the model execution role.
fn deployment_policy(execution_role: &str) -> Json {
    PolicyDocument::new([
        allow(
            "DeployModels",
            &[
                "sagemaker:CreateModel",
                "sagemaker:DeleteModel",
                "sagemaker:DescribeModel",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:CreateEndpoint",
                "sagemaker:UpdateEndpoint",
                "sagemaker:DeleteEndpoint",
                "sagemaker:DescribeEndpoint",
                "sagemaker:InvokeEndpoint",
                "sagemaker:DescribeModelPackage",
                "sagemaker:AddTags",
                "sagemaker:ListTags",
            ],
            &["*"],
        ),
        allow("PassOnlyTheModelExecutionRole", &["iam:PassRole"], &[execution_role]),
    ])
    .with(Statement::deny_sagemaker_without_vpc())
    .to_json()
}

/// The model package group's resource policy: the target accounts may read the group and its
/// packages and create models from them, nothing more (no approving, no registering).
pub(super) fn model_group_policy(config: &Config, account_id: &str, group: &str, readers: Vec<String>) -> Json {
    let group_arn = format!(
        "arn:aws:sagemaker:{}:{account_id}:model-package-group/{group}",
        config.region
    );
    let packages_arn = format!(
        "arn:aws:sagemaker:{}:{account_id}:model-package/{group}/*",
        config.region
    );
    PolicyDocument::new([Statement::new(Effect::Allow)
        .with_sid("TargetsReadReleases")
        .with_principal(Principal::aws(readers))
        .with_actions([
            "sagemaker:DescribeModelPackageGroup",
            "sagemaker:DescribeModelPackage",
            "sagemaker:ListModelPackages",
            "sagemaker:CreateModel",
        ])
        .with_resources([group_arn, packages_arn])])
    .to_json()
}
