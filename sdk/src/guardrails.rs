//! Guardrails: the platform's security controls, checked on the whole plan before anything applies.
//!
//! Each rule has an id, a severity, why it matters and how to fix it. Rules read the planned inputs of
//! every resource in every stack; a reference to another resource (an id or ARN created by this very
//! run) is followed to that resource, so that "does this policy name that role" is decided in a
//! preview from nothing. Only where a needed value cannot be known before apply does a rule say it
//! cannot decide, instead of guessing. `up` refuses a plan with error findings unless each such rule
//! is waived by name.

mod cross_account;
mod data;
mod identity;
mod network;
mod policy;
mod sagemaker;
mod view;

use serde::Serialize;

use crate::plan::Plan;
use crate::stack::Stack;
use view::{PlanView, Planned};

/// The interface endpoints (services as `endpoint_service_name` takes them) that the VPC of a
/// Studio domain in VpcOnly mode needs: Studio's and SageMaker's APIs, the notebook service, STS,
/// KMS, CloudWatch Logs and metrics, ECR's API and registry, and Systems Manager. S3 goes through a
/// gateway endpoint, which PAL-NET-05 requires as well. They are the first ten of the seed's list.
pub const STUDIO_INTERFACE_ENDPOINTS: [&str; 10] =
    match palisade_network::SEED_INTERFACE_SERVICES.split_first_chunk::<10>() {
        Some((studio, _)) => *studio,
        None => unreachable!(),
    };

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// `up` refuses unless the rule is waived.
    Error,
    /// Shown, never blocking.
    Warning,
    /// The rule cannot decide yet (a value is unknown until apply).
    Undecided,
}

/// One rule.
#[derive(Debug)]
pub struct Rule {
    /// Stable id, e.g. `PAL-NET-02`.
    pub id: &'static str,
    /// What it requires.
    pub title: &'static str,
    /// Severity of a violation.
    pub severity: Severity,
    /// Why it matters.
    pub why: &'static str,
    /// How to fix a violation.
    pub fix: &'static str,
    check: Check,
}

/// How a rule looks at the plan.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// One resource at a time; a verdict about that resource.
    Each(fn(&Subject<'_>) -> Verdict),
    /// One resource at a time, following it to others: a proof across accounts names the resource
    /// (of whichever stack) that lacks what the proof needs.
    Spanning(fn(&Subject<'_>) -> Vec<Concern>),
}

/// A resource under a rule's eye, with the whole plan at hand.
struct Subject<'v> {
    resource: &'v Planned<'v>,
    plan: &'v PlanView<'v>,
}

/// What a rule concluded about one resource.
enum Verdict {
    /// Not this rule's concern, or fine.
    Pass,
    /// Violated, with what exactly.
    Fail(String),
    /// Cannot tell before apply, and why.
    Undecided(String),
}

/// A verdict about a resource other than the subject, or the subject itself.
struct Concern {
    /// The URN of the resource at fault; `None` for the subject.
    at: Option<String>,
    verdict: Verdict,
}

impl Concern {
    fn at(resource: &Planned<'_>, verdict: Verdict) -> Self {
        Self {
            at: Some(resource.urn().to_string()),
            verdict,
        }
    }
}

/// A finding on one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's id.
    pub rule: &'static str,
    /// Its severity (or `undecided`).
    pub severity: Severity,
    /// The stack.
    pub stack: String,
    /// The account id.
    pub account_id: String,
    /// The resource.
    pub urn: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub fix: &'static str,
}

/// Every rule, in the order findings are shown.
pub const RULES: &[Rule] = &[
    Rule {
        id: "PAL-NET-01",
        title: "no internet route in an internet-free stack",
        severity: Severity::Error,
        why: "Studio, training and endpoints must reach AWS only through VPC endpoints; an internet or NAT gateway opens a path for data to leave.",
        fix: "remove the gateway or the route, or declare the stack with `allow_internet()` if it really needs NAT mode",
        check: Check::Each(network::internet_route),
    },
    Rule {
        id: "PAL-NET-02",
        title: "no security group admits the whole internet",
        severity: Severity::Error,
        why: "an ingress rule from 0.0.0.0/0 or ::/0 exposes whatever is attached to the group",
        fix: "admit only the group itself, other groups, or the VPC's and subnets' ranges",
        check: Check::Each(network::open_ingress),
    },
    Rule {
        id: "PAL-NET-03",
        title: "SageMaker's security groups admit only their own members",
        severity: Severity::Error,
        why: "Studio apps, jobs and models talk to each other and to the VPC endpoints; anything else reaching them bypasses the private network's design",
        fix: "keep a single ingress rule with `self: true` on the groups named by the Domain, user profiles and models",
        check: Check::Each(network::sagemaker_group_members_only),
    },
    Rule {
        id: "PAL-NET-04",
        title: "the VPC endpoints' security groups admit only HTTPS and NFS from inside the VPC",
        severity: Severity::Error,
        why: "interface endpoints carry every AWS call of the private network; other ports or wider ranges let more than the VPC reach them",
        fix: "admit TCP 443 and 2049 only, from the VPC's or subnets' ranges or from other security groups",
        check: Check::Each(network::endpoint_group_https_and_nfs_only),
    },
    Rule {
        id: "PAL-NET-05",
        title: "the VPC of a VpcOnly Studio domain has an endpoint for every service Studio needs",
        severity: Severity::Error,
        why: "in VpcOnly mode Studio reaches AWS only through the VPC's endpoints; without one for a service, the apps and jobs that call it hang or fail",
        fix: "add interface endpoints for the services named (the environment's default `interfaceEndpoints` lists them all) and an S3 gateway endpoint to the domain's VPC",
        check: Check::Each(network::studio_endpoints),
    },
    Rule {
        id: "PAL-NET-06",
        title: "S3 VPC endpoints admit only the environment's buckets",
        severity: Severity::Error,
        why: "an S3 endpoint without a policy, or one admitting any bucket, lets code inside the private network copy data to a bucket in any account",
        fix: "give the endpoint a policy whose Allow statements name only the environment's buckets (and the region's ECR layer bucket `prod-<region>-starport-layer-bucket` for pulling images)",
        check: Check::Each(network::s3_endpoint_environment_buckets),
    },
    Rule {
        id: "PAL-S3-01",
        title: "buckets are encrypted with a customer-managed KMS key",
        severity: Severity::Error,
        why: "data and models at rest must be readable only by principals the key policy admits",
        fix: "set `kmsKeyId` to a KmsKey of the stack",
        check: Check::Each(data::bucket_encryption),
    },
    Rule {
        id: "PAL-S3-02",
        title: "buckets block public access entirely",
        severity: Severity::Error,
        why: "a single public ACL or policy makes training data or models world-readable",
        fix: "leave all four public-access-block flags on (the default)",
        check: Check::Each(data::bucket_public_access),
    },
    Rule {
        id: "PAL-S3-03",
        title: "bucket policies refuse plain HTTP",
        severity: Severity::Error,
        why: "requests without TLS expose data in transit",
        fix: "add `Statement::deny_insecure_transport` to the bucket's BucketPolicy",
        check: Check::Each(data::bucket_tls_only),
    },
    Rule {
        id: "PAL-S3-04",
        title: "bucket policies deny access outside the environment's VPC endpoints",
        severity: Severity::Error,
        why: "credentials used from outside the private network must not reach the data",
        fix: "add `Statement::deny_outside_vpc_endpoints` with the stacks' S3 endpoint ids to the BucketPolicy",
        check: Check::Each(data::bucket_vpce_only),
    },
    Rule {
        id: "PAL-KMS-01",
        title: "customer-managed keys rotate",
        severity: Severity::Error,
        why: "rotation limits how much data one key version protects",
        fix: "leave `enableKeyRotation` on (the default)",
        check: Check::Each(data::key_rotation),
    },
    Rule {
        id: "PAL-KMS-02",
        title: "key policies deny using the key outside the environment's VPC endpoints",
        severity: Severity::Error,
        why: "a key usable from anywhere lets stolen credentials decrypt data copied out of the private network",
        fix: "add `Statement::deny_outside_vpc_endpoints` (which exempts AWS services acting for a caller) with the stacks' KMS endpoint ids to the key's policy or its KmsKeyPolicy",
        check: Check::Each(data::key_vpce_only),
    },
    Rule {
        id: "PAL-IAM-01",
        title: "no role may pass roles by wildcard",
        severity: Severity::Error,
        why: "`iam:PassRole` on `*` lets a deployment role hand SageMaker any role of the account, including admin ones",
        fix: "limit `iam:PassRole` to the model execution role's ARN",
        check: Check::Each(identity::wildcard_pass_role),
    },
    Rule {
        id: "PAL-IAM-02",
        title: "SageMaker execution roles cannot create jobs or models outside the VPC",
        severity: Severity::Error,
        why: "a job or model without VPC subnets and security groups runs with internet access",
        fix: "add the `Statement::deny_sagemaker_without_vpc` statements to an inline policy of the role",
        check: Check::Each(identity::execution_role_vpc_only),
    },
    Rule {
        id: "PAL-IAM-03",
        title: "roles pass only SageMaker execution roles of the environment",
        severity: Severity::Error,
        why: "a role that may pass another role lends that role's permissions to whatever it creates; a deployment role must lend only the model execution role",
        fix: "list in `iam:PassRole` only the ARNs of the environment's roles that SageMaker assumes",
        check: Check::Each(identity::pass_only_execution_roles),
    },
    Rule {
        id: "PAL-SM-01",
        title: "Studio domains run in VpcOnly mode",
        severity: Severity::Error,
        why: "in PublicInternetOnly mode Studio's apps reach the internet directly, around the VPC and its endpoints",
        fix: "set `appNetworkAccessType` to `VpcOnly` (the default)",
        check: Check::Each(sagemaker::domain_vpc_only),
    },
    Rule {
        id: "PAL-SM-02",
        title: "Studio domains encrypt their storage with a customer-managed key",
        severity: Severity::Error,
        why: "home directories (EFS) and app volumes hold data and code; an AWS-managed key cannot be restricted to the environment",
        fix: "set the Domain's `kmsKeyId` to a KmsKey of the stack",
        check: Check::Each(sagemaker::domain_customer_key),
    },
    Rule {
        id: "PAL-SM-03",
        title: "models run in the VPC with network isolation",
        severity: Severity::Error,
        why: "a model container outside the VPC, or one allowed network calls, can send requests and model data anywhere",
        fix: "give the Model `subnetIds` and `securityGroupIds` of its stack's private network and leave `enableNetworkIsolation` on",
        check: Check::Each(sagemaker::model_in_vpc_isolated),
    },
    Rule {
        id: "PAL-SM-04",
        title: "endpoint configurations encrypt their volumes with a customer-managed key",
        severity: Severity::Error,
        why: "endpoint instances' volumes hold the model and captured requests",
        fix: "set the EndpointConfig's `kmsKeyId` to a KmsKey of the stack",
        check: Check::Each(sagemaker::endpoint_config_key),
    },
    Rule {
        id: "PAL-XACCT-01",
        title: "each target account can read its release from the account that registered it",
        severity: Severity::Error,
        why: "a release reaches staging and production only if every link holds: the model execution role's IAM grant, the bucket and key policies' grants, both policies' VPC-endpoint denies admitting the target's endpoints, and a deployment role that trusts the development account and may pass the model execution role",
        fix: "add the missing statement named in the finding (the environment's `declare` adds each one from the list of targets)",
        check: Check::Spanning(cross_account::release_readable),
    },
];

/// Checks every rule against the plan.
pub fn check(plan: &Plan, stacks: &[Stack]) -> Vec<Finding> {
    let view = PlanView::new(plan, stacks);
    let mut findings: Vec<Finding> = Vec::new();
    for rule in RULES {
        for resource in view.judged() {
            let subject = Subject { resource, plan: &view };
            let concerns = match rule.check {
                Check::Each(check) => vec![Concern {
                    at: None,
                    verdict: check(&subject),
                }],
                Check::Spanning(check) => check(&subject),
            };
            for concern in concerns {
                let (severity, message) = match concern.verdict {
                    Verdict::Pass => continue,
                    Verdict::Fail(message) => (rule.severity, message),
                    Verdict::Undecided(reason) => (
                        Severity::Undecided,
                        format!("cannot decide \"{}\": {reason}", rule.title),
                    ),
                };
                let at = concern.at.as_deref().and_then(|urn| view.find(urn)).unwrap_or(resource);
                let finding = Finding {
                    rule: rule.id,
                    severity,
                    stack: at.step.stack.clone(),
                    account_id: at.account_id().to_string(),
                    urn: at.urn().to_string(),
                    message: view.describe(&message),
                    fix: rule.fix,
                };
                if !findings.contains(&finding) {
                    findings.push(finding);
                }
            }
        }
    }
    findings
}

/// Error findings whose rule is not waived.
pub fn blocking<'a>(findings: &'a [Finding], waived: &[String]) -> Vec<&'a Finding> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error && !waived.iter().any(|w| w == f.rule))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Account;
    use crate::plan::{Operation, StackInfo, Step};
    use palisade_provider_kit::value::{map_from_json, PropertyValue};
    use palisade_security::policy_document::SAGEMAKER_VPC_ACTIONS;
    use serde_json::{json, Value as Json};
    use std::collections::BTreeMap;

    fn step(stack: &str, token: &str, name: &str, inputs: Json) -> Step {
        Step {
            stack: stack.into(),
            urn: format!("urn:pulumi:{stack}::p::{token}::{name}"),
            token: token.into(),
            name: name.into(),
            package: token.split(':').next().unwrap_or_default().into(),
            operation: Operation::Create,
            declared: None,
            inputs: map_from_json(&inputs),
            old: None,
            diff: BTreeMap::new(),
            delete_before_replace: false,
            dependencies: Vec::new(),
            protect: false,
            data_loss: None,
            holds_data: None,
            failures: Vec::new(),
        }
    }

    fn run(steps: Vec<Step>, internet: bool) -> Vec<Finding> {
        let mut stack = Stack::new("dev", Account::new("dev", "111111111111", "eu-west-1"));
        stack.internet_access = internet;
        let plan = Plan {
            stacks: vec![StackInfo {
                stack: "dev".into(),
                account: "dev".into(),
                account_id: "111111111111".into(),
                region: "eu-west-1".into(),
            }],
            steps,
            ..Plan::default()
        };
        check(&plan, &[stack])
    }

    fn rules(findings: &[Finding]) -> Vec<(&str, Severity)> {
        findings.iter().map(|f| (f.rule, f.severity)).collect()
    }

    fn good_bucket_policy() -> Json {
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "*", "Condition": {"StringNotEquals": {"aws:sourceVpce": ["vpce-1"]}}},
        ]})
    }

    fn good_key() -> Json {
        json!({"enableKeyRotation": true, "policy": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*"], "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:sourceVpce": ["vpce-2"]}, "BoolIfExists": {"aws:ViaAWSService": "false"}}},
        ]}})
    }

    #[test]
    fn a_secure_network_and_bucket_pass_clean() {
        let findings = run(
            vec![
                step(
                    "dev",
                    "palisade-network:index:RouteTable",
                    "private",
                    json!({"vpcId": "vpc-1", "routes": []}),
                ),
                step(
                    "dev",
                    "palisade-network:index:SecurityGroup",
                    "sg",
                    json!({"ingress": [{"protocol": "-1", "self": true}]}),
                ),
                step(
                    "dev",
                    "palisade-security:index:Bucket",
                    "data",
                    json!({"bucket": "data", "kmsKeyId": "key-1",
                    "blockPublicAcls": true, "blockPublicPolicy": true, "ignorePublicAcls": true, "restrictPublicBuckets": true}),
                ),
                step(
                    "dev",
                    "palisade-security:index:BucketPolicy",
                    "data",
                    json!({"bucket": "data", "policy": good_bucket_policy()}),
                ),
                step("dev", "palisade-security:index:KmsKey", "s3", good_key()),
            ],
            false,
        );
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn each_network_rule_catches_its_violation() {
        let findings = run(
            vec![
                step(
                    "dev",
                    "palisade-network:index:NatGateway",
                    "nat",
                    json!({"subnetId": "subnet-1"}),
                ),
                step(
                    "dev",
                    "palisade-network:index:RouteTable",
                    "rt",
                    json!({"routes": [{"destinationCidrBlock": "0.0.0.0/0", "gatewayId": "igw-1"}]}),
                ),
                step(
                    "dev",
                    "palisade-network:index:SecurityGroup",
                    "sg",
                    json!({"ingress": [{"protocol": "tcp", "fromPort": 22, "toPort": 22, "cidrBlocks": ["0.0.0.0/0"]}]}),
                ),
            ],
            false,
        );
        assert_eq!(
            rules(&findings),
            vec![
                ("PAL-NET-01", Severity::Error),
                ("PAL-NET-01", Severity::Error),
                ("PAL-NET-02", Severity::Error)
            ]
        );
        assert!(findings[1].message.contains("0.0.0.0/0"), "{:?}", findings[1]);
        let nat_mode = run(
            vec![step("dev", "palisade-network:index:NatGateway", "nat", json!({}))],
            true,
        );
        assert!(nat_mode.is_empty(), "a stack that allows the internet may have NAT");
    }

    #[test]
    fn each_data_rule_catches_its_violation() {
        let findings = run(
            vec![
                step(
                    "dev",
                    "palisade-security:index:Bucket",
                    "data",
                    json!({"bucket": "data", "blockPublicPolicy": false}),
                ),
                step(
                    "dev",
                    "palisade-security:index:KmsKey",
                    "s3",
                    json!({"enableKeyRotation": false}),
                ),
            ],
            false,
        );
        assert_eq!(
            rules(&findings),
            vec![
                ("PAL-S3-01", Severity::Error),
                ("PAL-S3-02", Severity::Error),
                ("PAL-S3-03", Severity::Error),
                ("PAL-S3-04", Severity::Error),
                ("PAL-KMS-01", Severity::Error),
                ("PAL-KMS-02", Severity::Error),
            ]
        );
        assert!(findings[1].message.contains("blockPublicPolicy"));
        assert!(findings[5].message.contains("default policy"), "{:?}", findings[5]);
    }

    #[test]
    fn role_rules_catch_wildcard_pass_role_and_missing_vpc_denies() {
        let trust = json!({"Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
        let pass_any = json!({"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "*"}]});
        let findings = run(
            vec![step(
                "dev",
                "palisade-security:index:Role",
                "exec",
                json!({"assumeRolePolicy": trust, "inlinePolicies": {"p": pass_any}}),
            )],
            false,
        );
        assert_eq!(
            rules(&findings),
            vec![("PAL-IAM-01", Severity::Error), ("PAL-IAM-02", Severity::Error)]
        );
        let deny_without = |key: &str| json!({"Effect": "Deny", "Action": SAGEMAKER_VPC_ACTIONS, "Resource": "*", "Condition": {"Null": {key: "true"}}});
        let vpc_only =
            json!({"Statement": [deny_without("sagemaker:VpcSubnets"), deny_without("sagemaker:VpcSecurityGroupIds")]});
        let findings = run(
            vec![step(
                "dev",
                "palisade-security:index:Role",
                "exec",
                json!({"assumeRolePolicy": trust, "inlinePolicies": {"vpc": vpc_only}}),
            )],
            false,
        );
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn passing_a_role_sagemaker_does_not_assume_is_refused() {
        let trust_account = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole"}]});
        let pass_admin = json!({"Statement": [{"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::111111111111:role/admin"}]});
        let findings = run(
            vec![
                step(
                    "dev",
                    "palisade-security:index:Role",
                    "admin",
                    json!({"roleName": "admin", "path": "/", "assumeRolePolicy": trust_account}),
                ),
                step(
                    "dev",
                    "palisade-security:index:Role",
                    "deployer",
                    json!({"roleName": "deployer", "assumeRolePolicy": trust_account, "inlinePolicies": {"deploy": pass_admin}}),
                ),
            ],
            false,
        );
        assert_eq!(rules(&findings), vec![("PAL-IAM-03", Severity::Error)]);
        assert!(findings[0].message.contains("dev/Role/admin"), "{:?}", findings[0]);
    }

    #[test]
    fn unknown_values_are_undecided_never_false_findings() {
        let mut sg = step("dev", "palisade-network:index:SecurityGroup", "sg", json!({}));
        sg.inputs.insert("ingress".into(), PropertyValue::Unknown);
        let findings = run(vec![sg], false);
        assert_eq!(rules(&findings), vec![("PAL-NET-02", Severity::Undecided)]);
        assert!(blocking(&findings, &[]).is_empty());
    }

    #[test]
    fn waivers_unblock_only_the_named_rule() {
        let mut key = good_key();
        key["enableKeyRotation"] = json!(false);
        let findings = run(
            vec![
                step("dev", "palisade-network:index:InternetGateway", "igw", json!({})),
                step("dev", "palisade-security:index:KmsKey", "k", key),
            ],
            false,
        );
        assert_eq!(blocking(&findings, &[]).len(), 2);
        let left = blocking(&findings, &["PAL-NET-01".to_string()]);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].rule, "PAL-KMS-01");
    }
}
