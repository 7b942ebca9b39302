//! IAM policy documents as typed values, with named builders for the statements Palisade relies on.
//!
//! A [`PolicyDocument`] serializes to the JSON AWS expects and converts into the `serde_json::Value`
//! that policy properties hold (`KmsKeyArgs::policy`, `BucketPolicyArgs::policy`, ...). Diffs never
//! compare this typed form: the providers compare documents by meaning with
//! `palisade_provider_kit::policy::same`, so a document built here and AWS's read-back form of it are
//! the same policy.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// The current policy language version.
pub const VERSION: &str = "2012-10-17";

/// An IAM policy document: a version and a list of statements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyDocument {
    /// The policy language version, `2012-10-17`.
    pub version: String,
    /// An optional identifier of the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The statements, evaluated together (an explicit deny wins).
    #[serde(deserialize_with = "one_or_many_statements")]
    pub statement: Vec<Statement>,
}

/// Whether a statement allows or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Effect {
    /// Grants the actions.
    Allow,
    /// Refuses the actions, whatever else allows them.
    Deny,
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Statement {
    /// An identifier, unique within the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Allow or deny.
    pub effect: Effect,
    /// Who the statement applies to (resource policies and trust policies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<Principal>,
    /// Everyone except these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_principal: Option<Principal>,
    /// The actions covered.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_strings"
    )]
    pub action: Option<Vec<String>>,
    /// Every action except these.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_strings"
    )]
    pub not_action: Option<Vec<String>>,
    /// The resources covered.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_strings"
    )]
    pub resource: Option<Vec<String>>,
    /// Every resource except these.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_strings"
    )]
    pub not_resource: Option<Vec<String>>,
    /// Conditions: operator (`StringEquals`) → condition key (`aws:sourceVpce`) → values.
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub condition: Conditions,
}

/// A statement's conditions: operator → condition key → values (all must hold).
pub type Conditions = BTreeMap<String, BTreeMap<String, ConditionValues>>;

/// The values of one condition key (any may match). AWS accepts a string, a boolean or a number,
/// alone or in a list; they are kept as strings, as IAM reads them back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ConditionValues(pub Vec<String>);

impl<'de> Deserialize<'de> for ConditionValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = |value: &Json| match value {
            Json::String(s) => Some(s.clone()),
            Json::Bool(b) => Some(b.to_string()),
            Json::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let value = Json::deserialize(deserializer)?;
        let values = match &value {
            Json::Array(items) => items.iter().map(text).collect::<Option<Vec<_>>>(),
            other => text(other).map(|v| vec![v]),
        };
        values
            .map(ConditionValues)
            .ok_or_else(|| de::Error::custom("a condition value is a string, boolean or number"))
    }
}

/// Who a statement applies to: everyone (`"*"`), or principals by kind (`AWS`, `Service`,
/// `Federated`, `CanonicalUser`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// `"*"`: anyone, including anonymous callers unless a condition narrows it.
    Everyone,
    /// Principals by kind, e.g. `AWS` → role ARNs, `Service` → `sagemaker.amazonaws.com`.
    Ids(BTreeMap<String, Vec<String>>),
}

impl Principal {
    /// AWS principals: account roots, role or user ARNs.
    pub fn aws<I: IntoIterator<Item = S>, S: Into<String>>(arns: I) -> Self {
        Principal::Ids(BTreeMap::from([(
            "AWS".to_string(),
            arns.into_iter().map(Into::into).collect(),
        )]))
    }

    /// An AWS service principal, e.g. `sagemaker.amazonaws.com`.
    pub fn service(service: impl Into<String>) -> Self {
        Principal::Ids(BTreeMap::from([("Service".to_string(), vec![service.into()])]))
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Principal::Everyone => serializer.serialize_str("*"),
            Principal::Ids(ids) => ids.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Principal {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PrincipalVisitor;
        impl<'de> Visitor<'de> for PrincipalVisitor {
            type Value = Principal;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"*\" or an object such as {\"AWS\": [...]}")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Principal, E> {
                if value == "*" {
                    Ok(Principal::Everyone)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(value), &self))
                }
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Principal, A::Error> {
                let mut ids = BTreeMap::new();
                while let Some((kind, values)) = map.next_entry::<String, OneOrMany>()? {
                    ids.insert(kind, values.0);
                }
                Ok(Principal::Ids(ids))
            }
        }
        deserializer.deserialize_any(PrincipalVisitor)
    }
}

/// A string or a list of strings, as AWS writes either.
struct OneOrMany(Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Either::deserialize(deserializer)? {
            Either::One(one) => OneOrMany(vec![one]),
            Either::Many(many) => OneOrMany(many),
        })
    }
}

fn optional_strings<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Some(OneOrMany::deserialize(deserializer)?.0))
}

fn one_or_many_statements<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Statement>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(Box<Statement>),
        Many(Vec<Statement>),
    }
    Ok(match Either::deserialize(deserializer)? {
        Either::One(one) => vec![*one],
        Either::Many(many) => many,
    })
}

fn strings<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> Vec<String> {
    items.into_iter().map(Into::into).collect()
}

impl PolicyDocument {
    /// A document of `statements` in the current policy language version.
    pub fn new(statements: impl IntoIterator<Item = Statement>) -> Self {
        Self {
            version: VERSION.to_string(),
            id: None,
            statement: statements.into_iter().collect(),
        }
    }

    /// The document with `more` statements added.
    pub fn with(mut self, more: impl IntoIterator<Item = Statement>) -> Self {
        self.statement.extend(more);
        self
    }

    /// The document as the JSON value a policy property holds.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }

    /// Parses a policy property (a JSON object, or a string of one as AWS returns it).
    pub fn from_json(value: &Json) -> Result<Self, String> {
        let parsed = palisade_provider_kit::policy::parse(value)?;
        serde_json::from_value(parsed).map_err(|e| format!("not a policy document: {e}"))
    }
}

impl From<PolicyDocument> for Json {
    fn from(document: PolicyDocument) -> Json {
        document.to_json()
    }
}

impl Statement {
    /// An empty statement with `effect`; fill it with the `with_*` methods.
    pub fn new(effect: Effect) -> Self {
        Self {
            sid: None,
            effect,
            principal: None,
            not_principal: None,
            action: None,
            not_action: None,
            resource: None,
            not_resource: None,
            condition: Conditions::new(),
        }
    }

    /// Names the statement.
    pub fn with_sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// Sets who the statement applies to.
    pub fn with_principal(mut self, principal: Principal) -> Self {
        self.principal = Some(principal);
        self
    }

    /// Sets the actions.
    pub fn with_actions<I: IntoIterator<Item = S>, S: Into<String>>(mut self, actions: I) -> Self {
        self.action = Some(strings(actions));
        self
    }

    /// Sets the resources.
    pub fn with_resources<I: IntoIterator<Item = S>, S: Into<String>>(mut self, resources: I) -> Self {
        self.resource = Some(strings(resources));
        self
    }

    /// Adds a condition: `operator` (`StringEquals`) on `key` (`aws:sourceVpce`) with `values`.
    pub fn with_condition<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        operator: &str,
        key: &str,
        values: I,
    ) -> Self {
        self.condition
            .entry(operator.to_string())
            .or_default()
            .insert(key.to_string(), ConditionValues(strings(values)));
        self
    }

    /// Denies `actions` on `resources` to anyone whose request does not come through one of
    /// `vpc_endpoint_ids` (`aws:sourceVpce`). Requests an AWS service makes on a caller's behalf
    /// (`aws:ViaAWSService`, e.g. SageMaker reading training data) are exempt, since they never pass
    /// through the caller's endpoint.
    pub fn deny_outside_vpc_endpoints<A, R, E>(actions: A, resources: R, vpc_endpoint_ids: E) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        R: IntoIterator,
        R::Item: Into<String>,
        E: IntoIterator,
        E::Item: Into<String>,
    {
        Statement::new(Effect::Deny)
            .with_sid("DenyOutsideVpcEndpoints")
            .with_principal(Principal::Everyone)
            .with_actions(actions)
            .with_resources(resources)
            .with_condition("StringNotEquals", "aws:sourceVpce", vpc_endpoint_ids)
            .with_condition("BoolIfExists", "aws:ViaAWSService", ["false"])
    }

    /// Denies `actions` on `resources` over plain HTTP (`aws:SecureTransport` false).
    pub fn deny_insecure_transport<A, R>(actions: A, resources: R) -> Self
    where
        A: IntoIterator,
        A::Item: Into<String>,
        R: IntoIterator,
        R::Item: Into<String>,
    {
        Statement::new(Effect::Deny)
            .with_sid("DenyInsecureTransport")
            .with_principal(Principal::Everyone)
            .with_actions(actions)
            .with_resources(resources)
            .with_condition("Bool", "aws:SecureTransport", ["false"])
    }

    /// Allows roles of other accounts to list bucket `bucket` and read its objects.
    pub fn allow_cross_account_read<I: IntoIterator<Item = S>, S: Into<String>>(role_arns: I, bucket: &str) -> Self {
        Statement::new(Effect::Allow)
            .with_sid("AllowCrossAccountRead")
            .with_principal(Principal::aws(role_arns))
            .with_actions(["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"])
            .with_resources([bucket_arn(bucket), format!("{}/*", bucket_arn(bucket))])
    }

    /// Allows roles of other accounts to decrypt with a key (a key-policy statement: the resource is
    /// the key itself, `*`).
    pub fn allow_cross_account_decrypt<I: IntoIterator<Item = S>, S: Into<String>>(role_arns: I) -> Self {
        Statement::new(Effect::Allow)
            .with_sid("AllowCrossAccountDecrypt")
            .with_principal(Principal::aws(role_arns))
            .with_actions(["kms:Decrypt", "kms:DescribeKey"])
            .with_resources(["*"])
    }

    /// A trust-policy statement letting AWS service `service` (`sagemaker.amazonaws.com`) assume
    /// the role.
    pub fn trust_service(service: &str) -> Self {
        Statement::new(Effect::Allow)
            .with_sid("TrustService")
            .with_principal(Principal::service(service))
            .with_actions(["sts:AssumeRole"])
    }

    /// A trust-policy statement letting principals of account `account_id` assume the role (as
    /// far as their own IAM policies allow).
    pub fn trust_account(account_id: &str) -> Self {
        Statement::new(Effect::Allow)
            .with_sid("TrustAccount")
            .with_principal(Principal::aws([account_root_arn(account_id)]))
            .with_actions(["sts:AssumeRole"])
    }

    /// A key-policy statement giving account `account_id` full control of the key through IAM: KMS's
    /// own default, which keeps the key manageable.
    pub fn allow_account_to_manage_key(account_id: &str) -> Self {
        Statement::new(Effect::Allow)
            .with_sid("Enable IAM User Permissions")
            .with_principal(Principal::aws([account_root_arn(account_id)]))
            .with_actions(["kms:*"])
            .with_resources(["*"])
    }

    /// Denies creating SageMaker jobs and models that do not run in a VPC. Two statements, because
    /// conditions within one statement must all hold: one denies when no subnets are given
    /// (`sagemaker:VpcSubnets` null), the other when no security groups are
    /// (`sagemaker:VpcSecurityGroupIds` null).
    pub fn deny_sagemaker_without_vpc() -> [Statement; 2] {
        let deny_missing = |sid: &str, key: &str| {
            Statement::new(Effect::Deny)
                .with_sid(sid)
                .with_actions(SAGEMAKER_VPC_ACTIONS)
                .with_resources(["*"])
                .with_condition("Null", key, ["true"])
        };
        [
            deny_missing("DenySageMakerWithoutVpcSubnets", "sagemaker:VpcSubnets"),
            deny_missing("DenySageMakerWithoutVpcSecurityGroups", "sagemaker:VpcSecurityGroupIds"),
        ]
    }
}

/// The SageMaker actions that accept a VPC configuration and so must be given one: the `Create*`
/// operations whose request carries subnets and security groups (botocore's SageMaker model,
/// 2017-07-24, as of botocore 1.44) and for which IAM sets the `sagemaker:VpcSubnets` and
/// `sagemaker:VpcSecurityGroupIds` condition keys. Left out on purpose: operations that take a VPC
/// but for which IAM does not document these keys (`CreateCompilationJob`, `CreateLabelingJob`,
/// `CreateOptimizationJob`, `CreateInferenceRecommendationsJob`, `CreateCluster`,
/// `CreateEndpointConfig`, `CreateWorkforce`, ...): a `Null ... true` deny on a key that is never
/// set would refuse those actions outright, VPC or not. `CreateDomain` is left to PAL-SM-01 (a
/// domain always names its subnets).
pub const SAGEMAKER_VPC_ACTIONS: [&str; 12] = [
    "sagemaker:CreateAutoMLJob",
    "sagemaker:CreateAutoMLJobV2",
    "sagemaker:CreateDataQualityJobDefinition",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:CreateModel",
    "sagemaker:CreateModelBiasJobDefinition",
    "sagemaker:CreateModelExplainabilityJobDefinition",
    "sagemaker:CreateModelQualityJobDefinition",
    "sagemaker:CreateMonitoringSchedule",
    "sagemaker:CreateNotebookInstance",
    "sagemaker:CreateProcessingJob",
    "sagemaker:CreateTrainingJob",
];

/// The ARN of role `name` (with `path`, `/` by default) in account `account_id`: it follows from the
/// name, so other accounts' policies can name it before it exists.
pub fn role_arn(account_id: &str, path: &str, name: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    format!("arn:aws:iam::{account_id}:role{path}{name}")
}

/// The root principal of account `account_id` (the account as a whole).
pub fn account_root_arn(account_id: &str) -> String {
    format!("arn:aws:iam::{account_id}:root")
}

/// The ARN of S3 bucket `bucket`.
pub fn bucket_arn(bucket: &str) -> String {
    format!("arn:aws:s3:::{bucket}")
}

/// KMS's default key policy for a key of account `account_id`: the account's IAM decides.
pub fn default_key_policy(account_id: &str) -> PolicyDocument {
    PolicyDocument::new([Statement::allow_account_to_manage_key(account_id)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_provider_kit::policy;
    use serde_json::json;

    #[test]
    fn deny_outside_vpc_endpoints_exempts_aws_services() {
        let statement = Statement::deny_outside_vpc_endpoints(
            ["s3:*"],
            ["arn:aws:s3:::data", "arn:aws:s3:::data/*"],
            ["vpce-1", "vpce-2"],
        );
        assert_eq!(
            serde_json::to_value(&statement).expect("json"),
            json!({
                "Sid": "DenyOutsideVpcEndpoints",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:*"],
                "Resource": ["arn:aws:s3:::data", "arn:aws:s3:::data/*"],
                "Condition": {
                    "StringNotEquals": {"aws:sourceVpce": ["vpce-1", "vpce-2"]},
                    "BoolIfExists": {"aws:ViaAWSService": ["false"]},
                },
            })
        );
    }

    #[test]
    fn deny_insecure_transport_matches_plain_http() {
        let statement = Statement::deny_insecure_transport(["s3:*"], ["arn:aws:s3:::data/*"]);
        assert_eq!(
            serde_json::to_value(&statement).expect("json"),
            json!({
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": ["s3:*"],
                "Resource": ["arn:aws:s3:::data/*"],
                "Condition": {"Bool": {"aws:SecureTransport": ["false"]}},
            })
        );
    }

    #[test]
    fn cross_account_read_covers_the_bucket_and_its_objects() {
        let roles = [role_arn("222222222222", "/", "model-execution")];
        let statement = Statement::allow_cross_account_read(roles.clone(), "models");
        assert_eq!(
            serde_json::to_value(&statement).expect("json"),
            json!({
                "Sid": "AllowCrossAccountRead",
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::222222222222:role/model-execution"]},
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"],
                "Resource": ["arn:aws:s3:::models", "arn:aws:s3:::models/*"],
            })
        );
        assert_eq!(
            serde_json::to_value(Statement::allow_cross_account_decrypt(roles)).expect("json"),
            json!({
                "Sid": "AllowCrossAccountDecrypt",
                "Effect": "Allow",
                "Principal": {"AWS": ["arn:aws:iam::222222222222:role/model-execution"]},
                "Action": ["kms:Decrypt", "kms:DescribeKey"],
                "Resource": ["*"],
            })
        );
    }

    #[test]
    fn trust_a_service_or_an_account() {
        let document = PolicyDocument::new([
            Statement::trust_service("sagemaker.amazonaws.com"),
            Statement::trust_account("111111111111"),
        ]);
        assert_eq!(
            document.to_json(),
            json!({
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "TrustService",
                        "Effect": "Allow",
                        "Principal": {"Service": ["sagemaker.amazonaws.com"]},
                        "Action": ["sts:AssumeRole"],
                    },
                    {
                        "Sid": "TrustAccount",
                        "Effect": "Allow",
                        "Principal": {"AWS": ["arn:aws:iam::111111111111:root"]},
                        "Action": ["sts:AssumeRole"],
                    },
                ],
            })
        );
        assert_eq!(policy::validate(&document.to_json()), Ok(()));
    }

    #[test]
    fn deny_sagemaker_without_vpc_needs_both_subnets_and_security_groups() {
        let [subnets, groups] = Statement::deny_sagemaker_without_vpc();
        let actions = json!(SAGEMAKER_VPC_ACTIONS);
        assert_eq!(
            serde_json::to_value(&subnets).expect("json"),
            json!({
                "Sid": "DenySageMakerWithoutVpcSubnets",
                "Effect": "Deny",
                "Action": actions,
                "Resource": ["*"],
                "Condition": {"Null": {"sagemaker:VpcSubnets": ["true"]}},
            })
        );
        assert_eq!(
            serde_json::to_value(&groups).expect("json")["Condition"],
            json!({"Null": {"sagemaker:VpcSecurityGroupIds": ["true"]}})
        );
    }

    #[test]
    fn default_key_policy_is_what_kms_writes() {
        let kms_default = json!({
            "Version": "2012-10-17",
            "Id": "key-default-1",
            "Statement": [{
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
                "Action": "kms:*",
                "Resource": "*",
            }],
        });
        let mut ours = default_key_policy("123456789012").to_json();
        ours["Id"] = json!("key-default-1");
        assert!(policy::same(&ours, &kms_default));
    }

    #[test]
    fn documents_round_trip_through_aws_forms() {
        let aws_form = json!({
            "Version": "2012-10-17",
            "Statement": {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": "arn:aws:s3:::data/*",
                "Condition": {"Bool": {"aws:SecureTransport": false}},
            },
        });
        let parsed = PolicyDocument::from_json(&Json::String(aws_form.to_string())).expect("parse");
        assert_eq!(parsed.statement.len(), 1);
        assert_eq!(parsed.statement[0].principal, Some(Principal::Everyone));
        assert!(policy::same(&parsed.to_json(), &aws_form));
        let built = PolicyDocument::new([Statement::deny_insecure_transport(["s3:*"], ["arn:aws:s3:::data/*"])]);
        let mut unnamed = built.to_json();
        unnamed["Statement"][0].as_object_mut().expect("object").remove("Sid");
        assert!(policy::same(&unnamed, &aws_form));
        assert!(PolicyDocument::from_json(&json!({"Statement": [{"Effect": "Maybe"}]})).is_err());
    }

    #[test]
    fn every_builder_makes_a_valid_document() {
        let [a, b] = Statement::deny_sagemaker_without_vpc();
        let document = PolicyDocument::new([
            Statement::deny_outside_vpc_endpoints(["s3:*"], ["*"], ["vpce-1"]),
            Statement::deny_insecure_transport(["s3:*"], ["*"]),
            Statement::allow_cross_account_read(["arn:aws:iam::1:role/x"], "b"),
            Statement::allow_cross_account_decrypt(["arn:aws:iam::1:role/x"]),
            Statement::allow_account_to_manage_key("123456789012"),
            a,
            b,
        ]);
        assert_eq!(policy::validate(&document.to_json()), Ok(()));
        assert_eq!(PolicyDocument::from_json(&document.to_json()).expect("parse"), document);
    }
}
