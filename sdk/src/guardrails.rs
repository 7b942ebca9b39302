//! Guardrails: the platform's security controls, checked on the whole plan before anything applies.
//!
//! Each rule has an id, a severity, why it matters and how to fix it. Rules read the planned inputs of
//! every resource in every stack; where a value is not known yet (an id created by this very run),
//! a rule says it cannot decide instead of guessing. `up` refuses a plan with error findings unless
//! each such rule is waived by name.

use palisade_provider_kit::policy;
use palisade_provider_kit::value::{PropertyMap, PropertyValue};
use serde::Serialize;
use serde_json::Value as Json;

use crate::engine::{Operation, Plan, Step};
use crate::stack::Stack;

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
    check: fn(&Resource<'_>) -> Verdict,
}

/// What a rule concluded about one resource.
enum Verdict {
    /// Not this rule's concern, or fine.
    Pass,
    /// Violated, with what exactly.
    Fail(String),
    /// Cannot tell until this property is known.
    Undecided(String),
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

/// A planned resource as the rules see it.
struct Resource<'a> {
    token: &'a str,
    inputs: &'a PropertyMap,
    stack: &'a Stack,
    plan: &'a Plan,
}

impl Resource<'_> {
    fn is(&self, name: &str) -> bool {
        self.token.rsplit(':').next() == Some(name)
    }

    fn json(&self, property: &str) -> Result<Option<Json>, String> {
        match self.inputs.get(property) {
            None | Some(PropertyValue::Null) => Ok(None),
            Some(value) => value.to_json().map(Some).ok_or_else(|| property.to_string()),
        }
    }

    fn bool(&self, property: &str) -> Option<bool> {
        self.json(property).ok().flatten().and_then(|v| v.as_bool())
    }

    /// Planned resources of type `name` in the same stack.
    fn siblings(&self, name: &str) -> impl Iterator<Item = &Step> {
        let stack = self.stack.name.clone();
        let suffix = format!(":{name}");
        self.plan
            .steps
            .iter()
            .filter(move |s| s.stack == stack && s.token.ends_with(&suffix) && s.operation != Operation::Delete)
    }
}

/// Every rule, in the order findings are shown.
pub const RULES: &[Rule] = &[
    Rule {
        id: "PAL-NET-01",
        title: "no internet route in an internet-free stack",
        severity: Severity::Error,
        why: "Studio, training and endpoints must reach AWS only through VPC endpoints; an internet or NAT gateway opens a path for data to leave.",
        fix: "remove the gateway or the route, or declare the stack with `allow_internet()` if it really needs NAT mode",
        check: internet_route,
    },
    Rule {
        id: "PAL-NET-02",
        title: "no security group admits the whole internet",
        severity: Severity::Error,
        why: "an ingress rule from 0.0.0.0/0 or ::/0 exposes whatever is attached to the group",
        fix: "admit only the group itself, other groups, or the VPC's and subnets' ranges",
        check: open_ingress,
    },
    Rule {
        id: "PAL-S3-01",
        title: "buckets are encrypted with a customer-managed KMS key",
        severity: Severity::Error,
        why: "data and models at rest must be readable only by principals the key policy admits",
        fix: "set `kmsKeyId` to a KmsKey of the stack",
        check: bucket_encryption,
    },
    Rule {
        id: "PAL-S3-02",
        title: "buckets block public access entirely",
        severity: Severity::Error,
        why: "a single public ACL or policy makes training data or models world-readable",
        fix: "leave all four public-access-block flags on (the default)",
        check: bucket_public_access,
    },
    Rule {
        id: "PAL-S3-03",
        title: "bucket policies refuse plain HTTP",
        severity: Severity::Error,
        why: "requests without TLS expose data in transit",
        fix: "add `Statement::deny_insecure_transport` to the bucket's BucketPolicy",
        check: bucket_tls_only,
    },
    Rule {
        id: "PAL-S3-04",
        title: "bucket policies deny access outside the environment's VPC endpoints",
        severity: Severity::Error,
        why: "credentials used from outside the private network must not reach the data",
        fix: "add `Statement::deny_outside_vpc_endpoints` with the stacks' S3 endpoint ids to the BucketPolicy",
        check: bucket_vpce_only,
    },
    Rule {
        id: "PAL-KMS-01",
        title: "customer-managed keys rotate",
        severity: Severity::Error,
        why: "rotation limits how much data one key version protects",
        fix: "leave `enableKeyRotation` on (the default)",
        check: key_rotation,
    },
    Rule {
        id: "PAL-IAM-01",
        title: "no role may pass any role",
        severity: Severity::Error,
        why: "`iam:PassRole` on `*` lets a deployment role hand SageMaker any role of the account, including admin ones",
        fix: "limit `iam:PassRole` to the model execution role's ARN",
        check: wildcard_pass_role,
    },
    Rule {
        id: "PAL-IAM-02",
        title: "SageMaker execution roles cannot create jobs or models outside the VPC",
        severity: Severity::Error,
        why: "a job or model without VPC subnets and security groups runs with internet access",
        fix: "add the `Statement::deny_sagemaker_without_vpc` statements to an inline policy of the role",
        check: execution_role_vpc_only,
    },
];

/// Checks every rule against the plan.
pub fn check(plan: &Plan, stacks: &[Stack]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for rule in RULES {
        for step in plan
            .steps
            .iter()
            .filter(|s| s.operation != Operation::Delete && s.failures.is_empty())
        {
            let Some(stack) = stacks.iter().find(|s| s.name == step.stack) else {
                continue;
            };
            let resource = Resource {
                token: &step.token,
                inputs: &step.inputs,
                stack,
                plan,
            };
            let (severity, message) = match (rule.check)(&resource) {
                Verdict::Pass => continue,
                Verdict::Fail(message) => (rule.severity, message),
                Verdict::Undecided(property) => (
                    Severity::Undecided,
                    format!("cannot decide \"{}\" until `{property}` is known", rule.title),
                ),
            };
            findings.push(Finding {
                rule: rule.id,
                severity,
                stack: step.stack.clone(),
                account_id: stack.account.account_id.clone(),
                urn: step.urn.clone(),
                message,
                fix: rule.fix,
            });
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

fn internet_route(r: &Resource<'_>) -> Verdict {
    if r.stack.internet_access {
        return Verdict::Pass;
    }
    if r.is("InternetGateway") || r.is("NatGateway") {
        return Verdict::Fail(format!(
            "stack `{}` is internet-free but declares a {}",
            r.stack.name, r.token
        ));
    }
    if r.is("RouteTable") {
        let routes = match r.json("routes") {
            Ok(routes) => routes.unwrap_or(Json::Null),
            Err(property) => return Verdict::Undecided(property),
        };
        for route in routes.as_array().into_iter().flatten() {
            if route.get("gatewayId").is_some() || route.get("natGatewayId").is_some() {
                let destination = route.get("destinationCidrBlock").and_then(Json::as_str).unwrap_or("?");
                return Verdict::Fail(format!("route to {destination} leaves the VPC through a gateway"));
            }
        }
    }
    Verdict::Pass
}

fn open_ingress(r: &Resource<'_>) -> Verdict {
    if !r.is("SecurityGroup") {
        return Verdict::Pass;
    }
    let rules = match r.json("ingress") {
        Ok(rules) => rules.unwrap_or(Json::Null),
        Err(property) => return Verdict::Undecided(property),
    };
    for (i, rule) in rules.as_array().into_iter().flatten().enumerate() {
        let open = rule
            .get("cidrBlocks")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .find(|c| *c == "0.0.0.0/0" || *c == "::/0");
        if let Some(cidr) = open {
            return Verdict::Fail(format!("ingress[{i}] admits {cidr}"));
        }
    }
    Verdict::Pass
}

fn bucket_encryption(r: &Resource<'_>) -> Verdict {
    if !r.is("Bucket") {
        return Verdict::Pass;
    }
    match r.json("kmsKeyId") {
        Ok(Some(Json::String(key))) if !key.is_empty() && !key.contains("alias/aws/") => Verdict::Pass,
        Ok(Some(Json::String(key))) if key.contains("alias/aws/") => Verdict::Fail(format!(
            "`kmsKeyId` {key} is an AWS-managed key, not a customer-managed one"
        )),
        Ok(_) => Verdict::Fail("no `kmsKeyId`: the bucket is not encrypted with a customer-managed key".into()),
        Err(_) => Verdict::Pass, // a key created in this run: customer-managed by construction
    }
}

fn bucket_public_access(r: &Resource<'_>) -> Verdict {
    if !r.is("Bucket") {
        return Verdict::Pass;
    }
    let off: Vec<&str> = [
        "blockPublicAcls",
        "blockPublicPolicy",
        "ignorePublicAcls",
        "restrictPublicBuckets",
    ]
    .into_iter()
    .filter(|flag| r.bool(flag) == Some(false))
    .collect();
    if off.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(format!("public access block flags turned off: {}", off.join(", ")))
    }
}

/// The canonical statements of the bucket policies that target this bucket, or the unknown property.
fn bucket_policies(r: &Resource<'_>) -> Result<Vec<Json>, String> {
    let name = match r.json("bucket") {
        Ok(Some(Json::String(name))) => name,
        Ok(_) => return Ok(Vec::new()),
        Err(property) => return Err(property),
    };
    let mut statements = Vec::new();
    for step in r.siblings("BucketPolicy") {
        let bucket = step.inputs.get("bucket").and_then(PropertyValue::to_json);
        match bucket {
            Some(Json::String(b)) if b == name => {}
            Some(_) => continue,
            None => return Err(format!("bucket of {}", step.name)),
        }
        let document = step
            .inputs
            .get("policy")
            .and_then(PropertyValue::to_json)
            .ok_or(format!("policy of {}", step.name))?;
        if let Some(canonical) = policy::canonical(&document) {
            statements.extend(canonical["Statement"].as_array().cloned().unwrap_or_default());
        }
    }
    Ok(statements)
}

fn condition_has(statement: &Json, operator: &str, key: &str) -> bool {
    statement["Effect"] == "Deny"
        && statement["Condition"]
            .get(operator)
            .and_then(Json::as_object)
            .is_some_and(|keys| keys.keys().any(|k| k.eq_ignore_ascii_case(key)))
}

fn bucket_tls_only(r: &Resource<'_>) -> Verdict {
    if !r.is("Bucket") {
        return Verdict::Pass;
    }
    match bucket_policies(r) {
        Err(property) => Verdict::Undecided(property),
        Ok(statements)
            if statements
                .iter()
                .any(|s| condition_has(s, "Bool", "aws:SecureTransport")) =>
        {
            Verdict::Pass
        }
        Ok(_) => Verdict::Fail("no bucket policy statement denies requests without TLS (aws:SecureTransport)".into()),
    }
}

fn bucket_vpce_only(r: &Resource<'_>) -> Verdict {
    if !r.is("Bucket") {
        return Verdict::Pass;
    }
    match bucket_policies(r) {
        Err(property) => Verdict::Undecided(property),
        Ok(statements)
            if statements
                .iter()
                .any(|s| condition_has(s, "StringNotEquals", "aws:sourceVpce")) =>
        {
            Verdict::Pass
        }
        Ok(_) => {
            Verdict::Fail("no bucket policy statement denies access outside the VPC endpoints (aws:sourceVpce)".into())
        }
    }
}

fn key_rotation(r: &Resource<'_>) -> Verdict {
    if r.is("KmsKey") && r.bool("enableKeyRotation") == Some(false) {
        return Verdict::Fail("`enableKeyRotation` is off".into());
    }
    Verdict::Pass
}

/// The canonical statements of a role's inline policies.
fn role_statements(r: &Resource<'_>) -> Result<Vec<Json>, String> {
    let policies = r.json("inlinePolicies")?.unwrap_or(Json::Null);
    let mut statements = Vec::new();
    for document in policies.as_object().into_iter().flat_map(|m| m.values()) {
        if let Some(canonical) = policy::canonical(document) {
            statements.extend(canonical["Statement"].as_array().cloned().unwrap_or_default());
        }
    }
    Ok(statements)
}

fn strings(value: &Json) -> Vec<&str> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .collect()
}

fn wildcard_pass_role(r: &Resource<'_>) -> Verdict {
    if !r.is("Role") {
        return Verdict::Pass;
    }
    let statements = match role_statements(r) {
        Ok(statements) => statements,
        Err(property) => return Verdict::Undecided(property),
    };
    for statement in statements.iter().filter(|s| s["Effect"] == "Allow") {
        let passes = strings(&statement["Action"])
            .iter()
            .any(|a| matches!(*a, "iam:PassRole" | "iam:*" | "*"));
        let anywhere = strings(&statement["Resource"])
            .iter()
            .any(|r| *r == "*" || r.ends_with(":role/*"));
        if passes && anywhere {
            return Verdict::Fail("an inline policy allows iam:PassRole on any role".into());
        }
    }
    Verdict::Pass
}

fn execution_role_vpc_only(r: &Resource<'_>) -> Verdict {
    if !r.is("Role") {
        return Verdict::Pass;
    }
    let trusts_sagemaker = match r.json("assumeRolePolicy") {
        Ok(Some(document)) => policy::canonical(&document)
            .map(|c| c["Statement"].to_string().contains("sagemaker.amazonaws.com"))
            .unwrap_or(false),
        Ok(None) => false,
        Err(property) => return Verdict::Undecided(property),
    };
    if !trusts_sagemaker {
        return Verdict::Pass;
    }
    let statements = match role_statements(r) {
        Ok(statements) => statements,
        Err(property) => return Verdict::Undecided(property),
    };
    let denies = |key: &str| statements.iter().any(|s| condition_has(s, "Null", key));
    match (denies("sagemaker:VpcSubnets"), denies("sagemaker:VpcSecurityGroupIds")) {
        (true, true) => Verdict::Pass,
        (subnets, _) => Verdict::Fail(format!(
            "the role trusts SageMaker but no inline statement denies creating jobs and models without {}",
            if subnets {
                "VPC security groups (sagemaker:VpcSecurityGroupIds)"
            } else {
                "VPC subnets (sagemaker:VpcSubnets)"
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Account;
    use crate::engine::StackInfo;
    use palisade_provider_kit::value::map_from_json;
    use serde_json::json;
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
            findings: Vec::new(),
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
                step(
                    "dev",
                    "palisade-security:index:KmsKey",
                    "s3",
                    json!({"enableKeyRotation": true}),
                ),
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
            ]
        );
        assert!(findings[1].message.contains("blockPublicPolicy"));
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
        let vpc_only = json!({"Statement": [
            {"Effect": "Deny", "Action": "sagemaker:CreateModel", "Resource": "*", "Condition": {"Null": {"sagemaker:VpcSubnets": "true"}}},
            {"Effect": "Deny", "Action": "sagemaker:CreateModel", "Resource": "*", "Condition": {"Null": {"sagemaker:VpcSecurityGroupIds": "true"}}},
        ]});
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
    fn unknown_values_are_undecided_never_false_findings() {
        let mut sg = step("dev", "palisade-network:index:SecurityGroup", "sg", json!({}));
        sg.inputs.insert("ingress".into(), PropertyValue::Unknown);
        let findings = run(vec![sg], false);
        assert_eq!(rules(&findings), vec![("PAL-NET-02", Severity::Undecided)]);
        assert!(blocking(&findings, &[]).is_empty());
    }

    #[test]
    fn waivers_unblock_only_the_named_rule() {
        let findings = run(
            vec![
                step("dev", "palisade-network:index:InternetGateway", "igw", json!({})),
                step(
                    "dev",
                    "palisade-security:index:KmsKey",
                    "k",
                    json!({"enableKeyRotation": false}),
                ),
            ],
            false,
        );
        assert_eq!(blocking(&findings, &[]).len(), 2);
        let left = blocking(&findings, &["PAL-NET-01".to_string()]);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].rule, "PAL-KMS-01");
    }
}
