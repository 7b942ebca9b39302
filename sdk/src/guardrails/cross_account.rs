//! The cross-account proof: a target account (staging, prod) serves a model whose artifact lies in
//! another account's bucket (dev's models bucket). From the planned policies alone, every link that
//! reading the artifact needs is checked, and a missing one is reported on the resource that should
//! hold it:
//!
//! - in the target, the model execution role's inline policies allow `s3:GetObject` on the artifact
//!   and `kms:Decrypt` with the bucket's key;
//! - in the source, the bucket policy and the key policy grant the same to that role;
//! - in the source, the bucket policy's and the key policy's `aws:sourceVpce` denies admit the
//!   target's S3 gateway endpoint and KMS interface endpoint, and the target's S3 endpoint policy
//!   admits the artifact;
//! - in the target, a deployment role trusts the source account and may pass the model execution
//!   role.

use palisade_deploy::{Model, ModelArgs, ModelPackage, ModelPackageArgs, ModelPackageState};
use palisade_network::{VpcEndpoint, VpcEndpointArgs, VpcEndpointState};
use palisade_provider_kit::ResourceType;
use palisade_security::policy_document::Statement;
use palisade_security::{Bucket, BucketArgs, BucketState, KmsKey, KmsKeyState, Role, RoleState};
use serde_json::Value as Json;

use super::data::{bucket_policies, key_policies};
use super::identity::{inline_statements, pass_role_grants, trusts_account, trusts_service, SAGEMAKER};
use super::policy::{
    allows, applies_to_everyone, covers_resource, denies, exempt_endpoints, names_role, statement_name,
};
use super::view::{is_literal, Input, PlanView, Planned};
use super::{Concern, Subject, Verdict};

pub(super) fn release_readable(s: &Subject<'_>) -> Vec<Concern> {
    let model = s.resource;
    if !model.is(Model::NAME) {
        return Vec::new();
    }
    let artifacts = match artifacts(s.plan, model) {
        Ok(artifacts) => artifacts,
        Err(reason) => return vec![undecided(reason)],
    };
    let mut concerns = Vec::new();
    for artifact in artifacts {
        match Proof::new(s.plan, model, artifact) {
            Ok(proof) => concerns.extend(proof.missing_links()),
            Err(reason) => concerns.push(undecided(reason)),
        }
    }
    concerns
}

fn undecided(reason: String) -> Concern {
    Concern {
        at: None,
        verdict: Verdict::Undecided(reason),
    }
}

/// A model artifact in another account's bucket.
struct Artifact<'v> {
    bucket: &'v Planned<'v>,
    /// The artifact object's ARN.
    object: String,
}

/// The artifacts `model` reads from buckets of other accounts: its model package's (a package of
/// the plan, or the packages of the plan in the released package's group), or its own
/// `modelDataUrl`'s.
fn artifacts<'v>(plan: &'v PlanView<'v>, model: &Planned<'_>) -> Result<Vec<Artifact<'v>>, String> {
    const RELEASE: &str = ModelArgs::MODEL_PACKAGE_ARN;
    let (urls, released) = match plan.input(model, RELEASE) {
        Input::Known(Json::String(arn)) => (package_urls(plan, model, &arn)?, true),
        Input::Unknown => return Err(format!("`{RELEASE}` is not known until apply")),
        _ => {
            let own = plan.input(model, ModelArgs::MODEL_DATA_URL);
            (own.as_str().map(str::to_string).into_iter().collect(), false)
        }
    };
    let mut artifacts = Vec::new();
    for url in urls {
        let Some((name, key)) = url.strip_prefix("s3://").and_then(|rest| rest.split_once('/')) else {
            continue;
        };
        match plan.named(Bucket::NAME, BucketArgs::BUCKET, name) {
            Some(bucket) if bucket.account_id() != model.account_id() => {
                let object = format!("{}/{key}", plan.output(bucket.urn(), BucketState::ARN));
                artifacts.push(Artifact { bucket, object });
            }
            Some(_) => {}
            None if released => {
                return Err(format!(
                    "the release's artifact {url} lies in a bucket declared in no stack of the plan"
                ))
            }
            // A model's own artifact outside the plan is no cross-account release.
            None => {}
        }
    }
    Ok(artifacts)
}

/// The artifact URLs of model package `arn`, when it comes from another account.
fn package_urls(plan: &PlanView<'_>, model: &Planned<'_>, arn: &str) -> Result<Vec<String>, String> {
    let url = |package: &Planned<'_>| {
        plan.input(package, ModelPackageArgs::MODEL_DATA_URL)
            .as_str()
            .map(str::to_string)
    };
    if let Some(package) = plan.named(ModelPackage::NAME, ModelPackageState::MODEL_PACKAGE_ARN, arn) {
        return Ok(url(package).into_iter().collect());
    }
    if !is_literal(arn) {
        return Err(format!("the model package {arn} is not known until apply"));
    }
    // arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    let (Some(account), Some(resource)) = (fields.get(4), fields.get(5)) else {
        return Ok(Vec::new());
    };
    if *account == model.account_id() {
        return Ok(Vec::new());
    }
    let group = resource
        .strip_prefix("model-package/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    let urls: Vec<String> = plan
        .of_kind(ModelPackage::NAME)
        .filter(|p| {
            p.account_id() == *account && plan.output(p.urn(), ModelPackageArgs::MODEL_PACKAGE_GROUP_NAME) == group
        })
        .filter_map(url)
        .collect();
    if urls.is_empty() {
        return Err(format!(
            "the release {arn} comes from account {account}, where no ModelPackage of group `{group}` is declared, so where its artifact lies is unknown"
        ));
    }
    Ok(urls)
}

/// Everything one artifact's proof looks at.
struct Proof<'v> {
    plan: &'v PlanView<'v>,
    model: &'v Planned<'v>,
    role: &'v Planned<'v>,
    role_arn: String,
    bucket: &'v Planned<'v>,
    key: &'v Planned<'v>,
    key_arn: String,
    object: String,
}

impl<'v> Proof<'v> {
    fn new(plan: &'v PlanView<'v>, model: &'v Planned<'v>, artifact: Artifact<'v>) -> Result<Self, String> {
        let input = plan.input(model, ModelArgs::EXECUTION_ROLE_ARN);
        let role_arn = input.as_str().unwrap_or_default();
        let role = plan
            .named(Role::NAME, RoleState::ARN, role_arn)
            .ok_or_else(|| format!("the model's execution role {role_arn} is declared in no stack of the plan"))?;
        let bucket = artifact.bucket;
        let input = plan.input(bucket, BucketArgs::KMS_KEY_ID);
        let key_id = input.as_str().unwrap_or_default();
        let key = plan
            .named(KmsKey::NAME, KmsKeyState::ARN, key_id)
            .or_else(|| plan.named(KmsKey::NAME, KmsKeyState::KEY_ID, key_id))
            .ok_or_else(|| format!("the key of {} ({key_id}) is not a KmsKey of the plan", bucket.label()))?;
        Ok(Self {
            plan,
            model,
            role,
            role_arn: plan.output(role.urn(), RoleState::ARN),
            bucket,
            key,
            key_arn: plan.output(key.urn(), KmsKeyState::ARN),
            object: artifact.object,
        })
    }

    /// A missing link, reported on `at`.
    fn missing(&self, at: &Planned<'_>, what: String) -> Concern {
        Concern::at(
            at,
            Verdict::Fail(format!(
                "{} cannot use its release from {}: {what}",
                self.model.place(),
                self.bucket.place()
            )),
        )
    }

    fn undecided(&self, at: &Planned<'_>, reason: String) -> Concern {
        Concern::at(at, Verdict::Undecided(reason))
    }

    fn missing_links(&self) -> Vec<Concern> {
        let mut concerns = Vec::new();
        concerns.extend(self.iam_grant());
        concerns.extend(self.bucket_policy());
        concerns.extend(self.key_policy());
        concerns.extend(self.endpoint_policy());
        concerns.extend(self.deployment_role());
        concerns
    }

    /// The target's endpoints of `service` (`s3`, `kms`) of type `kind` (`Gateway`, `Interface`).
    fn target_endpoints(&self, service: &str, kind: &str) -> Vec<&'v Planned<'v>> {
        let suffix = format!(".{service}");
        self.plan
            .in_stack(&self.model.step.stack, VpcEndpoint::NAME)
            .filter(|e| {
                let of_type = self.plan.input(e, VpcEndpointArgs::VPC_ENDPOINT_TYPE);
                of_type.as_str().unwrap_or("Interface") == kind
            })
            .filter(|e| {
                self.plan
                    .input(e, VpcEndpointArgs::SERVICE_NAME)
                    .as_str()
                    .is_some_and(|n| n.ends_with(&suffix))
            })
            .collect()
    }

    /// Whether a deny that exempts `exempt` lets the target's `endpoints` through.
    fn admits_any(&self, exempt: &[String], endpoints: &[&Planned<'_>]) -> bool {
        endpoints
            .iter()
            .any(|e| exempt.contains(&self.plan.output(e.urn(), VpcEndpointState::VPC_ENDPOINT_ID)))
    }

    /// Whether `statement` applies to the model execution role.
    fn applies_to_role(&self, statement: &Statement) -> bool {
        applies_to_everyone(statement) || names_role(statement, &self.role_arn, self.role.account_id())
    }

    fn iam_grant(&self) -> Vec<Concern> {
        let statements = match inline_statements(self.plan, self.role) {
            Ok(statements) => statements,
            Err(reason) => return vec![self.undecided(self.role, reason)],
        };
        let mut concerns = Vec::new();
        let key = if is_literal(&self.key_arn) {
            format!("key {} ({})", self.key.label(), self.key_arn)
        } else {
            format!("key {}", self.key.label())
        };
        let needs = [
            ("s3:GetObject", &self.object, self.object.clone()),
            ("kms:Decrypt", &self.key_arn, key),
        ];
        for (action, resource, shown) in needs {
            if !statements.iter().any(|(_, st)| allows(st, action, resource)) {
                concerns.push(self.missing(
                    self.role,
                    format!(
                        "no statement of the inline policies of role {} in account {} allows {action} on {shown}",
                        self.role.label(),
                        self.role.account_id()
                    ),
                ));
            }
        }
        concerns
    }

    fn bucket_policy(&self) -> Vec<Concern> {
        let policies = match bucket_policies(self.plan, self.bucket) {
            Ok(policies) => policies,
            Err(reason) => return vec![self.undecided(self.bucket, reason)],
        };
        let Some((first, _)) = policies.first() else {
            return vec![self.missing(
                self.bucket,
                format!(
                    "bucket {} in account {} has no BucketPolicy, so nothing grants s3:GetObject on {} to {}",
                    self.bucket.label(),
                    self.bucket.account_id(),
                    self.object,
                    self.role_arn
                ),
            )];
        };
        let mut concerns = Vec::new();
        let granted = policies.iter().flat_map(|(_, sts)| sts.iter()).any(|st| {
            allows(st, "s3:GetObject", &self.object) && names_role(st, &self.role_arn, self.role.account_id())
        });
        if !granted {
            concerns.push(self.missing(
                first,
                format!(
                    "no Allow statement of BucketPolicy {} in account {} grants s3:GetObject on {} to {}",
                    first.label(),
                    first.account_id(),
                    self.object,
                    self.role_arn
                ),
            ));
        }
        let endpoints = self.target_endpoints("s3", "Gateway");
        for (holder, statements) in &policies {
            for (i, st) in statements.iter().enumerate() {
                if !denies(st, "s3:GetObject", &self.object) || !self.applies_to_role(st) {
                    continue;
                }
                let what = format!(
                    "{} of BucketPolicy {} in account {}",
                    statement_name(st, i),
                    holder.label(),
                    holder.account_id()
                );
                concerns.extend(self.deny_admits_target(holder, st, &what, &endpoints, "S3 gateway"));
            }
        }
        concerns
    }

    fn key_policy(&self) -> Vec<Concern> {
        let policies = match key_policies(self.plan, self.key) {
            Ok(policies) => policies,
            Err(reason) => return vec![self.undecided(self.key, reason)],
        };
        let endpoints = self.target_endpoints("kms", "Interface");
        let mut concerns = Vec::new();
        for policy in &policies {
            let held = if policy.holder.urn() == self.key.urn() {
                format!("the policy of key {}", self.key.label())
            } else {
                format!("KmsKeyPolicy {}", policy.holder.label())
            };
            let granted = policy.statements.iter().any(|st| {
                allows(st, "kms:Decrypt", &self.key_arn) && names_role(st, &self.role_arn, self.role.account_id())
            });
            if !granted {
                concerns.push(self.missing(
                    policy.holder,
                    format!(
                        "no Allow statement of {held} in account {} grants kms:Decrypt to {}",
                        policy.holder.account_id(),
                        self.role_arn
                    ),
                ));
            }
            for (i, st) in policy.statements.iter().enumerate() {
                if !denies(st, "kms:Decrypt", &self.key_arn) || !self.applies_to_role(st) {
                    continue;
                }
                let what = format!(
                    "{} of {held} in account {}",
                    statement_name(st, i),
                    policy.holder.account_id()
                );
                concerns.extend(self.deny_admits_target(policy.holder, st, &what, &endpoints, "KMS interface"));
            }
        }
        concerns
    }

    /// A deny statement that applies to the role lets the target through: its `aws:sourceVpce`
    /// exemption names one of the target's endpoints of the kind the request goes through.
    fn deny_admits_target(
        &self,
        holder: &Planned<'_>,
        statement: &Statement,
        what: &str,
        endpoints: &[&Planned<'_>],
        endpoint_kind: &str,
    ) -> Option<Concern> {
        let target = &self.model.step.stack;
        match exempt_endpoints(statement) {
            Some(_) if endpoints.is_empty() => Some(self.missing(
                self.model,
                format!(
                    "{what} denies requests outside its VPC endpoints, and stack `{target}` declares no {endpoint_kind} endpoint"
                ),
            )),
            Some(exempt) if !self.admits_any(exempt, endpoints) => Some(self.missing(
                holder,
                format!(
                    "{what} denies requests unless aws:sourceVpce is one of its endpoints, and the {endpoint_kind} endpoint {} of stack `{target}` is not among them",
                    endpoints.iter().map(|e| e.label()).collect::<Vec<_>>().join(" or ")
                ),
            )),
            Some(_) => None,
            None if statement.condition.is_empty() => Some(self.missing(holder, format!("{what} denies it outright"))),
            // Other conditions (TLS) do not stand in the way of a well-formed request.
            None => None,
        }
    }

    /// The target's S3 gateway endpoints must admit the artifact (an endpoint without a policy
    /// admits everything).
    fn endpoint_policy(&self) -> Vec<Concern> {
        let mut concerns = Vec::new();
        for endpoint in self.target_endpoints("s3", "Gateway") {
            let policy = self.plan.input(endpoint, VpcEndpointArgs::POLICY);
            let statements = match &policy {
                Input::Absent => continue,
                Input::Unknown => {
                    concerns.push(self.undecided(endpoint, "the endpoint's policy is not known until apply".into()));
                    continue;
                }
                Input::Known(json) => super::policy::parse(json),
            };
            if !statements.iter().any(|st| allows(st, "s3:GetObject", &self.object)) {
                concerns.push(self.missing(
                    endpoint,
                    format!(
                        "the policy of S3 gateway endpoint {} in account {} does not allow s3:GetObject on {}",
                        endpoint.label(),
                        endpoint.account_id(),
                        self.object
                    ),
                ));
            }
        }
        concerns
    }

    /// A role of the target that the source account may assume and that may pass the model
    /// execution role.
    fn deployment_role(&self) -> Vec<Concern> {
        let source = self.bucket.account_id();
        let target = &self.model.step.stack;
        let mut trusted = None;
        let mut passing = None;
        for role in self.plan.in_stack(target, Role::NAME) {
            if role.urn() == self.role.urn() || trusts_service(self.plan, role, SAGEMAKER).unwrap_or(false) {
                continue;
            }
            let trusts = match trusts_account(self.plan, role, source) {
                Ok(trusts) => trusts,
                Err(reason) => return vec![self.undecided(role, reason)],
            };
            let passes = match pass_role_grants(self.plan, role) {
                Ok(grants) => grants.iter().any(|(_, st)| covers_resource(st, &self.role_arn)),
                Err(reason) => return vec![self.undecided(role, reason)],
            };
            match (trusts, passes) {
                (true, true) => return Vec::new(),
                (true, false) => trusted = trusted.or(Some(role)),
                (false, true) => passing = passing.or(Some(role)),
                (false, false) => {}
            }
        }
        let concern = if let Some(role) = passing {
            self.missing(
                role,
                format!(
                    "the trust policy of role {} in account {}, which may pass {}, has no statement letting account {source} assume it",
                    role.label(),
                    role.account_id(),
                    self.role_arn
                ),
            )
        } else if let Some(role) = trusted {
            self.missing(
                role,
                format!(
                    "no statement of the inline policies of role {} in account {}, which account {source} may assume, allows iam:PassRole on {}",
                    role.label(),
                    role.account_id(),
                    self.role_arn
                ),
            )
        } else {
            self.missing(
                self.model,
                format!(
                    "no role of stack `{target}` is both trusted by account {source} and allowed to pass {}: declare a deployment role",
                    self.role_arn
                ),
            )
        };
        vec![concern]
    }
}
