//! Data rules: buckets encrypted with customer keys, closed to the public, reachable only over TLS
//! and through the environment's VPC endpoints; keys that rotate and are usable only through the
//! environment's VPC endpoints.

use palisade_network::{VpcEndpoint, VpcEndpointState};
use palisade_provider_kit::ResourceType;
use palisade_security::policy_document::Statement;
use palisade_security::{
    Bucket, BucketArgs, BucketPolicy, BucketPolicyArgs, BucketState, KmsKey, KmsKeyArgs, KmsKeyPolicy,
    KmsKeyPolicyArgs, KmsKeyState,
};

use super::policy::{self, applies_to_everyone, denies, exempt_endpoints, spares_aws_services};
use super::view::{is_literal, Input, PlanView, Planned, Statements};
use super::{Subject, Verdict};

/// Any object of a bucket, for asking whether a statement covers all of them.
const ANY_OBJECT: &str = "any-object";

/// The KMS actions that use a key's material.
const KEY_USE: [&str; 3] = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"];

/// What a `kmsKeyId` names.
pub(super) enum KeyKind {
    /// A key of the plan, or a literal key, alias or ARN other than an AWS-managed alias.
    Customer,
    /// An AWS-managed key (`alias/aws/...`).
    AwsManaged,
    /// A reference to something that is neither a key of the plan nor known before apply.
    Unknown,
}

/// What the key `key` (a `kmsKeyId` as the rules read it) is.
pub(super) fn key_kind(plan: &PlanView<'_>, key: &str) -> KeyKind {
    let of_the_plan = || {
        plan.named(KmsKey::NAME, KmsKeyState::ARN, key).is_some()
            || plan.named(KmsKey::NAME, KmsKeyState::KEY_ID, key).is_some()
    };
    if key.contains("alias/aws/") {
        KeyKind::AwsManaged
    } else if is_literal(key) || of_the_plan() {
        KeyKind::Customer
    } else {
        KeyKind::Unknown
    }
}

/// The verdict on a resource's key input `property` (its declared `kmsKeyId`), which must name a
/// customer-managed key.
pub(super) fn customer_key(plan: &PlanView<'_>, resource: &Planned<'_>, property: &str, what: &str) -> Verdict {
    match plan.input(resource, property) {
        Input::Known(serde_json::Value::String(key)) => match key_kind(plan, &key) {
            KeyKind::Customer => Verdict::Pass,
            KeyKind::AwsManaged => Verdict::Fail(format!(
                "`{property}` {key} is an AWS-managed key, not a customer-managed one"
            )),
            KeyKind::Unknown => Verdict::Undecided(format!(
                "`{property}` {key} refers to no KmsKey of the plan, and its value is not known until apply"
            )),
        },
        Input::Unknown => Verdict::Undecided(format!("`{property}` is not known until apply")),
        _ => Verdict::Fail(format!(
            "no `{property}`: {what} is not encrypted with a customer-managed key"
        )),
    }
}

pub(super) fn bucket_encryption(s: &Subject<'_>) -> Verdict {
    if !s.resource.is(Bucket::NAME) {
        return Verdict::Pass;
    }
    customer_key(s.plan, s.resource, BucketArgs::KMS_KEY_ID, "the bucket")
}

pub(super) fn bucket_public_access(s: &Subject<'_>) -> Verdict {
    if !s.resource.is(Bucket::NAME) {
        return Verdict::Pass;
    }
    let off: Vec<&str> = [
        BucketArgs::BLOCK_PUBLIC_ACLS,
        BucketArgs::BLOCK_PUBLIC_POLICY,
        BucketArgs::IGNORE_PUBLIC_ACLS,
        BucketArgs::RESTRICT_PUBLIC_BUCKETS,
    ]
    .into_iter()
    .filter(|flag| s.plan.input(s.resource, flag) == Input::Known(false.into()))
    .collect();
    if off.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(format!("public access block flags turned off: {}", off.join(", ")))
    }
}

/// BucketPolicy resources with their statements.
pub(super) type BucketPolicies<'v> = Vec<(&'v Planned<'v>, Statements)>;

/// The BucketPolicy resources of `bucket` (those of its stack naming it) with their statements, or
/// why they cannot be read.
pub(super) fn bucket_policies<'v>(plan: &'v PlanView<'v>, bucket: &Planned<'_>) -> Result<BucketPolicies<'v>, String> {
    let name = plan.output(bucket.urn(), BucketArgs::BUCKET);
    let mut policies = Vec::new();
    for candidate in plan.in_stack(&bucket.step.stack, BucketPolicy::NAME) {
        match plan.input(candidate, BucketPolicyArgs::BUCKET) {
            Input::Known(serde_json::Value::String(b)) if b == name => {}
            Input::Known(_) | Input::Absent => continue,
            Input::Unknown => return Err(format!("the bucket of {} is not known until apply", candidate.label())),
        }
        match plan.statements(candidate, BucketPolicyArgs::POLICY) {
            None => return Err(format!("the policy of {} is not known until apply", candidate.label())),
            Some(statements) => policies.push((candidate, statements)),
        }
    }
    Ok(policies)
}

/// The subject's bucket policies when it is a bucket; otherwise the verdict (a pass for anything
/// else, undecided when they cannot be read).
fn subject_bucket_policies<'v>(s: &Subject<'v>) -> Result<BucketPolicies<'v>, Verdict> {
    if !s.resource.is(Bucket::NAME) {
        return Err(Verdict::Pass);
    }
    bucket_policies(s.plan, s.resource).map_err(Verdict::Undecided)
}

/// Any object of `bucket`, as statements name objects.
fn any_object(plan: &PlanView<'_>, bucket: &Planned<'_>) -> String {
    format!("{}/{ANY_OBJECT}", plan.output(bucket.urn(), BucketState::ARN))
}

pub(super) fn bucket_tls_only(s: &Subject<'_>) -> Verdict {
    let policies = match subject_bucket_policies(s) {
        Ok(policies) => policies,
        Err(verdict) => return verdict,
    };
    let object = any_object(s.plan, s.resource);
    let refuses_http = |statement: &Statement| {
        denies(statement, "s3:GetObject", &object)
            && policy::condition_values(statement, &["Bool", "BoolIfExists"], "aws:SecureTransport")
                .is_some_and(|values| values.iter().any(|v| v.eq_ignore_ascii_case("false")))
    };
    if policies
        .iter()
        .flat_map(|(_, statements)| statements.iter())
        .any(refuses_http)
    {
        Verdict::Pass
    } else {
        Verdict::Fail(
            "no bucket policy statement denies requests to its objects without TLS (aws:SecureTransport false)".into(),
        )
    }
}

/// Whether `endpoint` (an `aws:sourceVpce` value as the rules read it) is a VPC endpoint: one of the
/// plan, or a literal endpoint id.
fn is_vpc_endpoint(plan: &PlanView<'_>, endpoint: &str) -> bool {
    plan.named(VpcEndpoint::NAME, VpcEndpointState::VPC_ENDPOINT_ID, endpoint)
        .is_some()
        || (is_literal(endpoint) && endpoint.starts_with("vpce-") && !policy::has_wildcard(endpoint))
}

pub(super) fn bucket_vpce_only(s: &Subject<'_>) -> Verdict {
    let policies = match subject_bucket_policies(s) {
        Ok(policies) => policies,
        Err(verdict) => return verdict,
    };
    let object = any_object(s.plan, s.resource);
    let deny = policies
        .iter()
        .flat_map(|(bucket_policy, statements)| statements.iter().map(move |st| (*bucket_policy, st)))
        .find(|(_, st)| {
            applies_to_everyone(st) && denies(st, "s3:GetObject", &object) && exempt_endpoints(st).is_some()
        });
    let Some((bucket_policy, statement)) = deny else {
        return Verdict::Fail(
            "no bucket policy statement denies reading its objects outside the VPC endpoints (a Deny to everyone on s3:GetObject unless aws:sourceVpce is one of the environment's)".into(),
        );
    };
    let endpoints = exempt_endpoints(statement).unwrap_or_default();
    if endpoints.is_empty() {
        return Verdict::Fail(format!(
            "the aws:sourceVpce deny of {} names no VPC endpoint",
            bucket_policy.label()
        ));
    }
    if let Some(stranger) = endpoints.iter().find(|e| !is_vpc_endpoint(s.plan, e)) {
        return Verdict::Fail(format!(
            "the aws:sourceVpce deny of {} exempts {stranger}, which is not a VPC endpoint of the environment",
            bucket_policy.label()
        ));
    }
    Verdict::Pass
}

pub(super) fn key_rotation(s: &Subject<'_>) -> Verdict {
    const ROTATION: &str = KmsKeyArgs::ENABLE_KEY_ROTATION;
    if s.resource.is(KmsKey::NAME) && s.plan.input(s.resource, ROTATION) == Input::Known(false.into()) {
        return Verdict::Fail(format!("`{ROTATION}` is off"));
    }
    Verdict::Pass
}

/// Where a key's policy comes from: a KmsKeyPolicy naming the key, or the key's own `policy`.
pub(super) struct KeyPolicy<'v> {
    /// The resource that holds the policy.
    pub(super) holder: &'v Planned<'v>,
    /// Its statements (none: KMS's default policy, which lets the account's IAM decide).
    pub(super) statements: Statements,
}

/// The policies `key` will have: each KmsKeyPolicy of its stack naming it, or else its own `policy`;
/// or why they cannot be read.
pub(super) fn key_policies<'v>(plan: &'v PlanView<'v>, key: &'v Planned<'v>) -> Result<Vec<KeyPolicy<'v>>, String> {
    let names = [
        plan.output(key.urn(), KmsKeyState::KEY_ID),
        plan.output(key.urn(), KmsKeyState::ARN),
    ];
    let mut policies = Vec::new();
    for candidate in plan.in_stack(&key.step.stack, KmsKeyPolicy::NAME) {
        match plan.input(candidate, KmsKeyPolicyArgs::KEY_ID) {
            Input::Known(serde_json::Value::String(id)) if names.contains(&id) => {}
            Input::Unknown => return Err(format!("the key of {} is not known until apply", candidate.label())),
            _ => continue,
        }
        match plan.statements(candidate, KmsKeyPolicyArgs::POLICY) {
            None => return Err(format!("the policy of {} is not known until apply", candidate.label())),
            Some(statements) => policies.push(KeyPolicy {
                holder: candidate,
                statements,
            }),
        }
    }
    if policies.is_empty() {
        match plan.statements(key, KmsKeyArgs::POLICY) {
            None => return Err("the key's `policy` is not known until apply".into()),
            Some(statements) => policies.push(KeyPolicy {
                holder: key,
                statements,
            }),
        }
    }
    Ok(policies)
}

/// A key policy's Deny to everyone of `action` outside the VPC endpoints.
pub(super) fn endpoint_deny<'s>(statements: &'s [Statement], action: &str) -> Option<&'s Statement> {
    statements
        .iter()
        .find(|st| applies_to_everyone(st) && denies(st, action, "*") && exempt_endpoints(st).is_some())
}

pub(super) fn key_vpce_only(s: &Subject<'_>) -> Verdict {
    if !s.resource.is(KmsKey::NAME) {
        return Verdict::Pass;
    }
    let policies = match key_policies(s.plan, s.resource) {
        Ok(policies) => policies,
        Err(reason) => return Verdict::Undecided(reason),
    };
    for policy in &policies {
        let held = if policy.holder.urn() == s.resource.urn() {
            "the key's own policy".to_string()
        } else {
            format!("the policy of {}", policy.holder.label())
        };
        if policy.statements.is_empty() {
            return Verdict::Fail(
                "the key has KMS's default policy, which denies nothing outside the VPC endpoints".into(),
            );
        }
        let uncovered: Vec<&str> = KEY_USE
            .into_iter()
            .filter(|action| endpoint_deny(&policy.statements, action).is_none())
            .collect();
        if uncovered.len() == KEY_USE.len() {
            return Verdict::Fail(format!(
                "{held} has no Deny statement on the key's use conditioned on aws:sourceVpce"
            ));
        }
        if !uncovered.is_empty() {
            return Verdict::Fail(format!(
                "{held} denies outside the VPC endpoints, but not {}",
                uncovered.join(", ")
            ));
        }
        let deny = KEY_USE
            .iter()
            .filter_map(|action| endpoint_deny(&policy.statements, action));
        for statement in deny {
            if !spares_aws_services(statement) {
                return Verdict::Fail(format!(
                    "{held} denies use outside the VPC endpoints without the AWS-service exception (aws:ViaAWSService false), so S3, EFS and SageMaker could not use the key for their callers"
                ));
            }
            let endpoints = exempt_endpoints(statement).unwrap_or_default();
            if endpoints.is_empty() {
                return Verdict::Fail(format!("the aws:sourceVpce deny of {held} names no VPC endpoint"));
            }
            if let Some(stranger) = endpoints.iter().find(|e| !is_vpc_endpoint(s.plan, e)) {
                return Verdict::Fail(format!(
                    "the aws:sourceVpce deny of {held} exempts {stranger}, which is not a VPC endpoint of the environment"
                ));
            }
        }
    }
    Verdict::Pass
}
