//! The guardrails against the reference environment: planned from empty state (which needs no AWS:
//! Check and a previewed Create are pure, and Configure makes no call), the environment passes clean,
//! and a variant that breaks one control is caught by exactly that control's rule, on the resource at
//! fault.
//!
//! The provider plugins must be built first: `cargo build --workspace --all-features --bins`.

use std::sync::atomic::{AtomicUsize, Ordering};

use palisade::guardrails::{Finding, Severity};
use palisade::kit::value::{map_from_json, map_to_json};
use palisade::kit::ResourceType;
use palisade::network::{
    InternetGateway, InternetGatewayArgs, SecurityGroup, SecurityGroupArgs, SecurityGroupRule, Vpc, VpcEndpoint,
};
use palisade::security::Role;
use palisade::stack::Declared;
use palisade::{Engine, Hosts, Resource, Stack, StateStore};
use secure_mlops::{declare, Config, Release};
use serde_json::{json, Value as Json};

const DEV: &str = "123456789012";
const STAGING: &str = "222222222222";
const PROD: &str = "333333333333";

fn reference() -> Vec<Stack> {
    declare(&Config::local(), &Release::Registered)
        .expect("the reference environment declares")
        .stacks
}

/// Plans `stacks` from empty state and returns the guardrails' findings.
async fn findings(stacks: Vec<Stack>) -> Vec<Finding> {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "palisade-guardrails-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::SeqCst)
    ));
    let engine = Engine::new(stacks, StateStore::new(&dir));
    let hosts = Hosts::with_env(
        [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec(),
    );
    let plan = engine.plan(&hosts, false).await;
    hosts.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let plan = plan.expect("the environment plans from empty state");
    let refused: Vec<String> = plan.failures().map(|(step, f)| format!("{}: {f}", step.urn)).collect();
    assert!(refused.is_empty(), "a provider refused the variant: {refused:#?}");
    plan.findings
}

/// The URN of resource `name` of type `kind` (`Bucket`) in `stack`.
fn urn(stacks: &[Stack], stack: &str, kind: &str, name: &str) -> String {
    declared_in(stacks, stack, kind, name).urn.clone()
}

fn declared_in<'a>(stacks: &'a [Stack], stack: &str, kind: &str, name: &str) -> &'a Declared {
    stacks
        .iter()
        .find(|s| s.name == stack)
        .and_then(|s| {
            s.resources
                .iter()
                .find(|r| r.name == name && r.token.ends_with(&format!(":{kind}")))
        })
        .unwrap_or_else(|| panic!("{stack} declares no {kind} `{name}`"))
}

/// A handle to `R` named `name` in `stack`, declared by the reference environment.
fn handle<R: ResourceType>(stacks: &[Stack], stack: &str, name: &str) -> Resource<R> {
    let _ = declared_in(stacks, stack, R::NAME, name);
    stacks
        .iter()
        .find(|s| s.name == stack)
        .map(|s| s.handle::<R>(name))
        .unwrap_or_else(|| panic!("no stack `{stack}`"))
}

fn stack_mut<'a>(stacks: &'a mut [Stack], name: &str) -> &'a mut Stack {
    stacks
        .iter_mut()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no stack `{name}`"))
}

/// Changes the declared inputs of one resource, as JSON.
fn edit(stacks: &mut [Stack], stack: &str, kind: &str, name: &str, change: impl FnOnce(&mut Json)) {
    let urn = urn(stacks, stack, kind, name);
    let declared = stack_mut(stacks, stack)
        .resources
        .iter_mut()
        .find(|r| r.urn == urn)
        .expect("found above");
    let mut inputs = map_to_json(&declared.inputs).expect("declared inputs are plain JSON");
    change(&mut inputs);
    declared.inputs = map_from_json(&inputs);
}

/// The statements of a policy document.
fn statements(policy: &mut Json) -> &mut Vec<Json> {
    policy["Statement"].as_array_mut().expect("a list of statements")
}

/// The statement named `sid` of a policy document.
fn statement<'a>(policy: &'a mut Json, sid: &str) -> &'a mut Json {
    statements(policy)
        .iter_mut()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement `{sid}`"))
}

fn without_statement(policy: &mut Json, sid: &str) {
    let before = statements(policy).len();
    statements(policy).retain(|s| s["Sid"] != sid);
    assert_eq!(statements(policy).len(), before - 1, "no statement `{sid}`");
}

/// Drops `value` from the string list at `list`.
fn without(list: &mut Json, value: &str) {
    let items = list.as_array_mut().expect("a list");
    let before = items.len();
    items.retain(|item| item != value);
    assert_eq!(items.len(), before - 1, "{value} not in the list");
}

/// Asserts that the only error finding is `rule`'s on `urn`, and returns it.
fn only_error<'a>(findings: &'a [Finding], rule: &str, urn: &str) -> &'a Finding {
    let errors: Vec<&Finding> = findings.iter().filter(|f| f.severity == Severity::Error).collect();
    let found: Vec<(&str, &str)> = errors.iter().map(|f| (f.rule, f.urn.as_str())).collect();
    assert_eq!(found, vec![(rule, urn)], "{findings:#?}");
    let undecided: Vec<&Finding> = findings.iter().filter(|f| f.severity == Severity::Undecided).collect();
    assert!(undecided.is_empty(), "{undecided:#?}");
    errors[0]
}

fn assert_mentions(finding: &Finding, parts: &[&str]) {
    for part in parts {
        assert!(finding.message.contains(part), "`{part}` not in: {}", finding.message);
    }
}

// The reference environment.

#[tokio::test]
async fn the_reference_environment_passes_every_rule_from_empty_state() {
    let findings = findings(reference()).await;
    let undecided: Vec<&Finding> = findings.iter().filter(|f| f.severity == Severity::Undecided).collect();
    assert!(
        undecided.is_empty(),
        "undecided on the reference environment: {undecided:#?}"
    );
    assert!(findings.is_empty(), "{findings:#?}");
}

#[tokio::test]
async fn the_reference_environment_deploying_an_approved_package_by_arn_passes_every_rule() {
    let release = Release::Approved(format!(
        "arn:aws:sagemaker:us-east-1:{DEV}:model-package/mlops-models/3"
    ));
    let stacks = declare(&Config::local(), &release).expect("declares").stacks;
    let findings = findings(stacks).await;
    assert!(findings.is_empty(), "{findings:#?}");
}

// Network.

#[tokio::test]
async fn an_internet_gateway_in_an_internet_free_stack_breaks_pal_net_01() {
    let mut stacks = reference();
    let vpc = handle::<Vpc>(&stacks, "staging", "main").vpc_id();
    let gateway = stack_mut(&mut stacks, "staging")
        .resource::<InternetGateway>("internet", InternetGatewayArgs::default().with_vpc_id(vpc))
        .expect("declares");
    let findings = findings(stacks).await;
    only_error(&findings, "PAL-NET-01", gateway.urn());
}

#[tokio::test]
async fn a_security_group_open_to_the_internet_breaks_pal_net_02() {
    let mut stacks = reference();
    let vpc = handle::<Vpc>(&stacks, "dev", "main").vpc_id();
    let bastion = stack_mut(&mut stacks, "dev")
        .resource::<SecurityGroup>(
            "bastion",
            SecurityGroupArgs::new(vpc)
                .with_description("SSH from anywhere")
                .with_ingress(vec![SecurityGroupRule::new("tcp")
                    .with_from_port(22)
                    .with_to_port(22)
                    .with_cidr_blocks(vec!["0.0.0.0/0".into()])]),
        )
        .expect("declares");
    let findings = findings(stacks).await;
    let finding = only_error(&findings, "PAL-NET-02", bastion.urn());
    assert_mentions(finding, &["0.0.0.0/0"]);
}

#[tokio::test]
async fn sagemakers_group_admitting_the_vpc_range_breaks_pal_net_03() {
    let mut stacks = reference();
    edit(&mut stacks, "staging", "SecurityGroup", "sagemaker", |inputs| {
        inputs["ingress"]
            .as_array_mut()
            .expect("rules")
            .push(json!({"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.1.0.0/16"]}));
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-NET-03",
        &urn(&stacks, "staging", "SecurityGroup", "sagemaker"),
    );
    assert_mentions(finding, &["ingress[1]", "10.1.0.0/16"]);
}

#[tokio::test]
async fn the_endpoint_group_admitting_a_range_wider_than_the_vpc_breaks_pal_net_04() {
    let mut stacks = reference();
    edit(&mut stacks, "prod", "SecurityGroup", "endpoints", |inputs| {
        inputs["ingress"][1]["cidrBlocks"] = json!(["10.0.0.0/8"]);
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-NET-04",
        &urn(&stacks, "prod", "SecurityGroup", "endpoints"),
    );
    assert_mentions(finding, &["10.0.0.0/8", "10.2.0.0/16"]);
}

#[tokio::test]
async fn the_endpoint_group_admitting_ssh_breaks_pal_net_04() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "SecurityGroup", "endpoints", |inputs| {
        inputs["ingress"]
            .as_array_mut()
            .expect("rules")
            .push(json!({"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["10.0.1.0/24"]}));
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-NET-04",
        &urn(&stacks, "dev", "SecurityGroup", "endpoints"),
    );
    assert_mentions(finding, &["ingress[3]", "port 22"]);
}

#[tokio::test]
async fn sagemakers_group_admitting_a_prefix_list_breaks_pal_net_03() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "SecurityGroup", "sagemaker", |inputs| {
        inputs["ingress"]
            .as_array_mut()
            .expect("rules")
            .push(json!({"protocol": "tcp", "fromPort": 443, "toPort": 443, "prefixListIds": ["pl-6da54004"]}));
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-NET-03",
        &urn(&stacks, "dev", "SecurityGroup", "sagemaker"),
    );
    assert_mentions(finding, &["ingress[1]", "prefix list pl-6da54004"]);
}

#[tokio::test]
async fn the_endpoint_group_admitting_a_prefix_list_breaks_pal_net_04() {
    let mut stacks = reference();
    // Even on HTTPS: a prefix list's ranges cannot be shown to lie inside the VPC.
    edit(&mut stacks, "staging", "SecurityGroup", "endpoints", |inputs| {
        inputs["ingress"]
            .as_array_mut()
            .expect("rules")
            .push(json!({"protocol": "tcp", "fromPort": 443, "toPort": 443, "prefixListIds": ["pl-6da54004"]}));
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-NET-04",
        &urn(&stacks, "staging", "SecurityGroup", "endpoints"),
    );
    assert_mentions(finding, &["ingress[3]", "prefix list pl-6da54004"]);
}

#[tokio::test]
async fn a_studio_vpc_without_the_notebook_and_ssm_endpoints_breaks_pal_net_05() {
    let mut stacks = reference();
    for service in ["notebook", "ssm"] {
        let gone = urn(&stacks, "dev", "VpcEndpoint", service);
        stack_mut(&mut stacks, "dev").resources.retain(|r| r.urn != gone);
    }
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-NET-05", &urn(&stacks, "dev", "Domain", "studio"));
    assert_mentions(finding, &["VpcOnly", "no endpoint for notebook, ssm"]);
}

#[tokio::test]
async fn an_s3_endpoint_without_a_policy_breaks_pal_net_06() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "VpcEndpoint", "s3", |inputs| {
        inputs.as_object_mut().expect("inputs").remove("policy");
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-NET-06", &urn(&stacks, "dev", "VpcEndpoint", "s3"));
    assert_mentions(finding, &["no policy", "every bucket"]);
}

#[tokio::test]
async fn an_s3_endpoint_admitting_any_bucket_breaks_pal_net_06() {
    let mut stacks = reference();
    edit(&mut stacks, "staging", "VpcEndpoint", "s3", |inputs| {
        let policy = &mut inputs["policy"];
        let allow = statements(policy)
            .iter_mut()
            .find(|s| s["Effect"] == "Allow")
            .expect("an Allow statement");
        let resources = allow["Resource"].as_array_mut().expect("resources");
        resources.push(json!("arn:aws:s3:::*/*"));
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-NET-06", &urn(&stacks, "staging", "VpcEndpoint", "s3"));
    assert_mentions(finding, &["every bucket matching arn:aws:s3:::*/*"]);
}

// Buckets and keys.

#[tokio::test]
async fn a_bucket_under_an_aws_managed_key_breaks_pal_s3_01() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "Bucket", "data", |inputs| {
        inputs["kmsKeyId"] = json!("alias/aws/s3");
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-S3-01", &urn(&stacks, "dev", "Bucket", "data"));
    assert_mentions(finding, &["alias/aws/s3"]);
}

#[tokio::test]
async fn a_bucket_allowing_public_policies_breaks_pal_s3_02() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "Bucket", "models", |inputs| {
        inputs["blockPublicPolicy"] = json!(false);
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-S3-02", &urn(&stacks, "dev", "Bucket", "models"));
    assert_mentions(finding, &["blockPublicPolicy"]);
}

#[tokio::test]
async fn a_bucket_policy_without_the_tls_deny_breaks_pal_s3_03() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "BucketPolicy", "data", |inputs| {
        without_statement(&mut inputs["policy"], "DenyInsecureTransport");
    });
    let findings = findings(stacks.clone()).await;
    only_error(&findings, "PAL-S3-03", &urn(&stacks, "dev", "Bucket", "data"));
}

#[tokio::test]
async fn a_bucket_policy_without_the_vpc_endpoint_deny_breaks_pal_s3_04() {
    let mut stacks = reference();
    edit(&mut stacks, "prod", "BucketPolicy", "capture", |inputs| {
        without_statement(&mut inputs["policy"], "DenyOutsideVpcEndpoints");
    });
    let findings = findings(stacks.clone()).await;
    only_error(&findings, "PAL-S3-04", &urn(&stacks, "prod", "Bucket", "capture"));
}

#[tokio::test]
async fn a_key_without_rotation_breaks_pal_kms_01() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "KmsKey", "ebs", |inputs| {
        inputs["enableKeyRotation"] = json!(false);
    });
    let findings = findings(stacks.clone()).await;
    only_error(&findings, "PAL-KMS-01", &urn(&stacks, "dev", "KmsKey", "ebs"));
}

#[tokio::test]
async fn a_key_policy_without_the_vpc_endpoint_deny_breaks_pal_kms_02() {
    let mut stacks = reference();
    edit(&mut stacks, "staging", "KmsKey", "storage", |inputs| {
        without_statement(&mut inputs["policy"], "DenyOutsideVpcEndpoints");
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-KMS-02", &urn(&stacks, "staging", "KmsKey", "storage"));
    assert_mentions(finding, &["aws:sourceVpce"]);
}

#[tokio::test]
async fn a_key_policy_deny_without_the_aws_service_exception_breaks_pal_kms_02() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "KmsKeyPolicy", "s3", |inputs| {
        let deny = statement(&mut inputs["policy"], "DenyOutsideVpcEndpoints");
        deny["Condition"]
            .as_object_mut()
            .expect("conditions")
            .remove("BoolIfExists");
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-KMS-02", &urn(&stacks, "dev", "KmsKey", "s3"));
    assert_mentions(finding, &["aws:ViaAWSService", "dev/KmsKeyPolicy/s3"]);
}

// Identity.

#[tokio::test]
async fn a_deployment_role_passing_any_role_breaks_pal_iam_01() {
    let mut stacks = reference();
    edit(&mut stacks, "prod", "Role", "deployment", |inputs| {
        statement(&mut inputs["inlinePolicies"]["deploy"], "PassOnlyTheModelExecutionRole")["Resource"] = json!(["*"]);
    });
    let findings = findings(stacks.clone()).await;
    only_error(&findings, "PAL-IAM-01", &urn(&stacks, "prod", "Role", "deployment"));
}

#[tokio::test]
async fn an_execution_role_free_to_create_models_outside_the_vpc_breaks_pal_iam_02() {
    let mut stacks = reference();
    edit(&mut stacks, "staging", "Role", "model-execution", |inputs| {
        let policy = &mut inputs["inlinePolicies"]["serve-in-vpc"];
        without_statement(policy, "DenySageMakerWithoutVpcSecurityGroups");
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-IAM-02",
        &urn(&stacks, "staging", "Role", "model-execution"),
    );
    assert_mentions(finding, &["sagemaker:VpcSecurityGroupIds", "sagemaker:CreateModel"]);
}

#[tokio::test]
async fn an_execution_role_free_to_create_notebook_instances_outside_the_vpc_breaks_pal_iam_02() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "Role", "sagemaker-execution", |inputs| {
        let deny = statement(
            &mut inputs["inlinePolicies"]["sagemaker-in-vpc"],
            "DenySageMakerWithoutVpcSubnets",
        );
        let actions = deny["Action"].as_array_mut().expect("actions");
        let before = actions.len();
        actions.retain(|a| a != "sagemaker:CreateNotebookInstance");
        assert_eq!(actions.len(), before - 1, "the reference denies CreateNotebookInstance");
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-IAM-02",
        &urn(&stacks, "dev", "Role", "sagemaker-execution"),
    );
    assert_mentions(finding, &["sagemaker:VpcSubnets", "sagemaker:CreateNotebookInstance"]);
}

#[tokio::test]
async fn a_pipelines_role_free_to_run_jobs_outside_the_vpc_breaks_pal_iam_02() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "Role", "pipelines", |inputs| {
        without_statement(
            &mut inputs["inlinePolicies"]["pipelines-in-vpc"],
            "DenySageMakerWithoutVpcSubnets",
        );
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-IAM-02", &urn(&stacks, "dev", "Role", "pipelines"));
    assert_mentions(finding, &["sagemaker:VpcSubnets", "sagemaker:CreateTrainingJob"]);
}

#[tokio::test]
async fn a_deployment_role_that_may_pass_itself_breaks_pal_iam_03() {
    let mut stacks = reference();
    let deployment = urn(&stacks, "staging", "Role", "deployment");
    edit(&mut stacks, "staging", "Role", "deployment", |inputs| {
        // Its ARN as people write it: it follows from the role's name.
        let own_arn = format!("arn:aws:iam::{STAGING}:role/mlops-deployment");
        let pass = statement(&mut inputs["inlinePolicies"]["deploy"], "PassOnlyTheModelExecutionRole");
        pass["Resource"].as_array_mut().expect("resources").push(json!(own_arn));
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-IAM-03", &deployment);
    assert_mentions(finding, &["staging/Role/deployment"]);
}

// SageMaker.

#[tokio::test]
async fn a_studio_domain_on_the_public_internet_breaks_pal_sm_01() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "Domain", "studio", |inputs| {
        inputs["appNetworkAccessType"] = json!("PublicInternetOnly");
    });
    let findings = findings(stacks.clone()).await;
    only_error(&findings, "PAL-SM-01", &urn(&stacks, "dev", "Domain", "studio"));
}

#[tokio::test]
async fn a_studio_domain_without_its_storage_key_breaks_pal_sm_02() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "Domain", "studio", |inputs| {
        inputs.as_object_mut().expect("inputs").remove("kmsKeyId");
    });
    let findings = findings(stacks.clone()).await;
    only_error(&findings, "PAL-SM-02", &urn(&stacks, "dev", "Domain", "studio"));
}

#[tokio::test]
async fn a_model_without_network_isolation_breaks_pal_sm_03() {
    let mut stacks = reference();
    edit(&mut stacks, "prod", "Model", "model", |inputs| {
        inputs["enableNetworkIsolation"] = json!(false);
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-SM-03", &urn(&stacks, "prod", "Model", "model"));
    assert_mentions(finding, &["enableNetworkIsolation"]);
}

#[tokio::test]
async fn a_model_without_subnets_breaks_pal_sm_03() {
    let mut stacks = reference();
    edit(&mut stacks, "staging", "Model", "model", |inputs| {
        inputs["subnetIds"] = json!([]);
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-SM-03", &urn(&stacks, "staging", "Model", "model"));
    assert_mentions(finding, &["subnetIds"]);
}

#[tokio::test]
async fn an_endpoint_config_without_a_key_breaks_pal_sm_04() {
    let mut stacks = reference();
    edit(&mut stacks, "staging", "EndpointConfig", "serving", |inputs| {
        inputs.as_object_mut().expect("inputs").remove("kmsKeyId");
    });
    let findings = findings(stacks.clone()).await;
    only_error(
        &findings,
        "PAL-SM-04",
        &urn(&stacks, "staging", "EndpointConfig", "serving"),
    );
}

// The cross-account proof: one broken link at a time.

#[tokio::test]
async fn a_model_execution_role_without_its_s3_grant_breaks_the_cross_account_proof() {
    let mut stacks = reference();
    edit(&mut stacks, "staging", "Role", "model-execution", |inputs| {
        without_statement(&mut inputs["inlinePolicies"]["read-release"], "ReadModelArtifacts");
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-XACCT-01",
        &urn(&stacks, "staging", "Role", "model-execution"),
    );
    assert_mentions(
        finding,
        &[
            "staging/Role/model-execution",
            &format!("account {STAGING}"),
            "s3:GetObject",
            "mlops-models-123456789012/churn/model.tar.gz",
        ],
    );
}

#[tokio::test]
async fn a_model_execution_role_without_its_kms_grant_breaks_the_cross_account_proof() {
    let mut stacks = reference();
    edit(&mut stacks, "prod", "Role", "model-execution", |inputs| {
        without_statement(&mut inputs["inlinePolicies"]["read-release"], "DecryptModelArtifacts");
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-XACCT-01",
        &urn(&stacks, "prod", "Role", "model-execution"),
    );
    assert_mentions(
        finding,
        &[
            "prod/Role/model-execution",
            &format!("account {PROD}"),
            "kms:Decrypt on key dev/KmsKey/s3",
        ],
    );
}

#[tokio::test]
async fn a_bucket_policy_not_granting_one_target_breaks_the_cross_account_proof_for_that_target() {
    let mut stacks = reference();
    let staging_role = handle::<Role>(&stacks, "staging", "model-execution").arn();
    edit(&mut stacks, "dev", "BucketPolicy", "models", |inputs| {
        let grant = statement(&mut inputs["policy"], "AllowCrossAccountRead");
        without(&mut grant["Principal"]["AWS"], &staging_role);
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-XACCT-01",
        &urn(&stacks, "dev", "BucketPolicy", "models"),
    );
    assert_mentions(
        finding,
        &[
            "stack `staging`",
            "BucketPolicy dev/BucketPolicy/models",
            &format!("account {DEV}"),
            &format!("arn:aws:iam::{STAGING}:role/mlops-model-execution"),
        ],
    );
}

#[tokio::test]
async fn a_key_policy_not_granting_one_target_breaks_the_cross_account_proof_for_that_target() {
    let mut stacks = reference();
    let prod_role = handle::<Role>(&stacks, "prod", "model-execution").arn();
    edit(&mut stacks, "dev", "KmsKeyPolicy", "s3", |inputs| {
        let grant = statement(&mut inputs["policy"], "AllowCrossAccountDecrypt");
        without(&mut grant["Principal"]["AWS"], &prod_role);
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-XACCT-01", &urn(&stacks, "dev", "KmsKeyPolicy", "s3"));
    assert_mentions(
        finding,
        &[
            "stack `prod`",
            "KmsKeyPolicy dev/KmsKeyPolicy/s3",
            &format!("account {DEV}"),
            "kms:Decrypt",
            &format!("arn:aws:iam::{PROD}:role/mlops-model-execution"),
        ],
    );
}

#[tokio::test]
async fn a_bucket_policy_deny_without_a_targets_s3_endpoint_breaks_the_cross_account_proof() {
    let mut stacks = reference();
    let staging_s3 = handle::<VpcEndpoint>(&stacks, "staging", "s3").vpc_endpoint_id();
    edit(&mut stacks, "dev", "BucketPolicy", "models", |inputs| {
        let deny = statement(&mut inputs["policy"], "DenyOutsideVpcEndpoints");
        without(&mut deny["Condition"]["StringNotEquals"]["aws:sourceVpce"], &staging_s3);
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-XACCT-01",
        &urn(&stacks, "dev", "BucketPolicy", "models"),
    );
    assert_mentions(
        finding,
        &[
            "statement `DenyOutsideVpcEndpoints` of BucketPolicy dev/BucketPolicy/models",
            &format!("account {DEV}"),
            "staging/VpcEndpoint/s3",
        ],
    );
}

#[tokio::test]
async fn a_key_policy_deny_without_a_targets_kms_endpoint_breaks_the_cross_account_proof() {
    let mut stacks = reference();
    let prod_kms = handle::<VpcEndpoint>(&stacks, "prod", "kms").vpc_endpoint_id();
    edit(&mut stacks, "dev", "KmsKeyPolicy", "s3", |inputs| {
        let deny = statement(&mut inputs["policy"], "DenyOutsideVpcEndpoints");
        without(&mut deny["Condition"]["StringNotEquals"]["aws:sourceVpce"], &prod_kms);
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-XACCT-01", &urn(&stacks, "dev", "KmsKeyPolicy", "s3"));
    assert_mentions(
        finding,
        &[
            "statement `DenyOutsideVpcEndpoints` of KmsKeyPolicy dev/KmsKeyPolicy/s3",
            &format!("account {DEV}"),
            "prod/VpcEndpoint/kms",
        ],
    );
}

#[tokio::test]
async fn a_deployment_role_not_trusting_dev_breaks_the_cross_account_proof() {
    let mut stacks = reference();
    edit(&mut stacks, "prod", "Role", "deployment", |inputs| {
        statement(&mut inputs["assumeRolePolicy"], "TrustAccount")["Principal"]["AWS"] =
            json!([format!("arn:aws:iam::{PROD}:root")]);
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-XACCT-01", &urn(&stacks, "prod", "Role", "deployment"));
    assert_mentions(
        finding,
        &[
            "trust policy of role prod/Role/deployment",
            &format!("account {PROD}"),
            &format!("account {DEV} assume"),
        ],
    );
}

#[tokio::test]
async fn a_deployment_role_unable_to_pass_the_model_execution_role_breaks_the_cross_account_proof() {
    let mut stacks = reference();
    edit(&mut stacks, "staging", "Role", "deployment", |inputs| {
        without_statement(&mut inputs["inlinePolicies"]["deploy"], "PassOnlyTheModelExecutionRole");
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(
        &findings,
        "PAL-XACCT-01",
        &urn(&stacks, "staging", "Role", "deployment"),
    );
    assert_mentions(
        finding,
        &[
            "inline policies of role staging/Role/deployment",
            &format!("account {STAGING}"),
            "iam:PassRole",
        ],
    );
}

#[tokio::test]
async fn a_targets_s3_endpoint_policy_not_admitting_the_models_bucket_breaks_the_cross_account_proof() {
    let mut stacks = reference();
    // The endpoint policy names buckets by ARN (they follow from the names).
    let models_arn = "arn:aws:s3:::mlops-models-123456789012".to_string();
    edit(&mut stacks, "prod", "VpcEndpoint", "s3", |inputs| {
        let admitted = &mut statement(&mut inputs["policy"], "EnvironmentBucketsOnly")["Resource"];
        without(admitted, &models_arn);
        without(admitted, &format!("{models_arn}/*"));
    });
    let findings = findings(stacks.clone()).await;
    let finding = only_error(&findings, "PAL-XACCT-01", &urn(&stacks, "prod", "VpcEndpoint", "s3"));
    assert_mentions(
        finding,
        &[
            "S3 gateway endpoint prod/VpcEndpoint/s3",
            &format!("account {PROD}"),
            "s3:GetObject",
        ],
    );
}
