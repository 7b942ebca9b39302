//! Pulumi's view of a stack, turned into the SDK's plan so that the guardrails judge it unchanged.
//!
//! The SDK groups resources into stacks, one account each; a Pulumi stack may hold resources of
//! several accounts (one provider per account). So resources are grouped by the stack their URN
//! names and the account and region their provider is configured with (`accountId`, `region`);
//! each group becomes one SDK [`Stack`], named after the Pulumi stack (with `@<account id>` when
//! the Pulumi stack spans several accounts).

use std::collections::{BTreeMap, BTreeSet};

use palisade::guardrails::{self, Finding};
use palisade::kit::value::PropertyMap;
use palisade::plan::{Operation, Plan, StackInfo, Step};
use palisade::{Account, Stack};

use crate::pack::Settings;

/// Where an account id or region is not configured on the provider.
pub const UNKNOWN_PLACE: &str = "unknown";

/// A resource as the engine sends it, in the pack's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzedResource {
    /// Its URN (`urn:pulumi:<stack>::<project>::<type>::<name>`).
    pub urn: String,
    /// Its type token.
    pub token: String,
    /// Its name.
    pub name: String,
    /// Its inputs (Analyze) or outputs (AnalyzeStack).
    pub properties: PropertyMap,
    /// URNs it depends on.
    pub dependencies: Vec<String>,
    /// The account its provider is configured for.
    pub account_id: Option<String>,
    /// The region its provider is configured for.
    pub region: Option<String>,
}

impl AnalyzedResource {
    /// The stack its URN names (`dev` in `urn:pulumi:dev::...`).
    pub fn pulumi_stack(&self) -> &str {
        self.urn
            .strip_prefix("urn:pulumi:")
            .and_then(|rest| rest.split("::").next())
            .unwrap_or_default()
    }

    /// Whether it is a resource of Palisade's providers (the rules know no other kind).
    pub fn is_palisade(&self) -> bool {
        self.token.starts_with("palisade-")
    }

    fn place(&self) -> (String, String) {
        (
            self.account_id.clone().unwrap_or_else(|| UNKNOWN_PLACE.into()),
            self.region.clone().unwrap_or_else(|| UNKNOWN_PLACE.into()),
        )
    }
}

/// The SDK's plan of `resources` and its stacks: every Palisade resource as a step that keeps it as
/// it is (the properties are what it is, or is about to be).
pub fn plan(resources: &[AnalyzedResource], settings: &Settings) -> (Plan, Vec<Stack>) {
    let ours: Vec<&AnalyzedResource> = resources.iter().filter(|r| r.is_palisade()).collect();
    // (Pulumi stack, account, region) -> SDK stack name.
    let groups: BTreeSet<(String, String, String)> = ours
        .iter()
        .map(|r| {
            let (account, region) = r.place();
            (r.pulumi_stack().to_string(), account, region)
        })
        .collect();
    let mut names: BTreeMap<(String, String, String), String> = BTreeMap::new();
    for group in &groups {
        let (stack, account, region) = group;
        let same_stack = groups.iter().filter(|(s, _, _)| s == stack).count();
        let same_account = groups.iter().filter(|(s, a, _)| s == stack && a == account).count();
        let name = match (same_stack, same_account) {
            (1, _) => stack.clone(),
            (_, 1) => format!("{stack}@{account}"),
            _ => format!("{stack}@{account}.{region}"),
        };
        names.insert(group.clone(), name);
    }
    let mut stacks = Vec::new();
    let mut infos = Vec::new();
    for ((_, account, region), name) in &names {
        let mut stack = Stack::new(
            name.clone(),
            Account::new(name.clone(), account.clone(), region.clone()),
        );
        stack.internet_access = settings.allow_internet;
        stacks.push(stack);
        infos.push(StackInfo {
            stack: name.clone(),
            account: name.clone(),
            account_id: account.clone(),
            region: region.clone(),
        });
    }
    let steps = ours
        .iter()
        .map(|r| {
            let (account, region) = r.place();
            let stack = names
                .get(&(r.pulumi_stack().to_string(), account, region))
                .cloned()
                .unwrap_or_default();
            step(stack, r)
        })
        .collect();
    let plan = Plan {
        stacks: infos,
        steps,
        ..Plan::default()
    };
    (plan, stacks)
}

fn step(stack: String, r: &AnalyzedResource) -> Step {
    Step {
        stack,
        urn: r.urn.clone(),
        token: r.token.clone(),
        name: r.name.clone(),
        package: r.token.split(':').next().unwrap_or_default().to_string(),
        operation: Operation::Same,
        declared: None,
        inputs: r.properties.clone(),
        old: None,
        diff: BTreeMap::new(),
        delete_before_replace: false,
        dependencies: r.dependencies.clone(),
        protect: false,
        data_loss: None,
        holds_data: None,
        failures: Vec::new(),
    }
}

/// The guardrails' findings on `resources`, exactly as the SDK's preview would make them.
pub fn judge(resources: &[AnalyzedResource], settings: &Settings) -> Vec<Finding> {
    let (plan, stacks) = plan(resources, settings);
    guardrails::check(&plan, &stacks)
}

/// The account ids the stack's resources are configured for.
pub fn accounts(resources: &[AnalyzedResource]) -> BTreeSet<String> {
    resources
        .iter()
        .filter(|r| r.is_palisade())
        .map(|r| r.place().0)
        .collect()
}

/// What the cross-account proof cannot see from one Pulumi stack: models whose artifact lies in a
/// bucket that no resource of the stack declares. The SDK passes such a model (its artifact is no
/// release of the plan); here it is said plainly, per model: `(urn, bucket)`.
pub fn artifacts_out_of_sight(resources: &[AnalyzedResource]) -> Vec<(String, String)> {
    let buckets: BTreeSet<&str> = resources
        .iter()
        .filter(|r| r.is_palisade() && r.token.ends_with(":Bucket"))
        .filter_map(|r| string(&r.properties, "bucket"))
        .collect();
    resources
        .iter()
        .filter(|r| r.is_palisade() && r.token.ends_with(":Model"))
        .filter_map(|model| {
            let url = string(&model.properties, "modelDataUrl")?;
            let bucket = url.strip_prefix("s3://")?.split('/').next()?;
            (!buckets.contains(bucket)).then(|| (model.urn.clone(), bucket.to_string()))
        })
        .collect()
}

fn string<'m>(properties: &'m PropertyMap, name: &str) -> Option<&'m str> {
    use palisade::kit::value::PropertyValue;
    match properties.get(name)? {
        PropertyValue::String(s) => Some(s),
        PropertyValue::Secret(inner) => match inner.as_ref() {
            PropertyValue::String(s) => Some(s),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade::guardrails::Severity;
    use palisade::kit::value::{map_from_json, PropertyValue};
    use serde_json::json;

    fn resource(stack: &str, account: &str, kind: &str, name: &str, properties: serde_json::Value) -> AnalyzedResource {
        let package = match kind {
            "SecurityGroup" | "InternetGateway" => "palisade-network",
            _ => "palisade-security",
        };
        let token = format!("{package}:index:{kind}");
        AnalyzedResource {
            urn: format!("urn:pulumi:{stack}::p::{token}::{name}"),
            token,
            name: name.into(),
            properties: map_from_json(&properties),
            dependencies: Vec::new(),
            account_id: Some(account.into()),
            region: Some("eu-west-1".into()),
        }
    }

    #[test]
    fn one_sdk_stack_per_account_of_a_pulumi_stack() {
        let resources = vec![
            resource("env", "111111111111", "SecurityGroup", "a", json!({})),
            resource("env", "222222222222", "SecurityGroup", "b", json!({})),
            AnalyzedResource {
                token: "aws:s3/bucket:Bucket".into(),
                ..resource("env", "111111111111", "Bucket", "theirs", json!({}))
            },
        ];
        let (planned, stacks) = plan(&resources, &Settings::default());
        let names: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["env@111111111111", "env@222222222222"]);
        assert_eq!(planned.steps.len(), 2, "resources of other providers are not judged");
        let single = plan(&resources[..1], &Settings::default()).1;
        assert_eq!(single[0].name, "env");
    }

    #[test]
    fn unknown_properties_stay_unknown_and_are_undecided() {
        let mut sg = resource("dev", "111111111111", "SecurityGroup", "sg", json!({}));
        sg.properties.insert("ingress".into(), PropertyValue::Unknown);
        let findings = judge(&[sg], &Settings::default());
        let found: Vec<(&str, Severity)> = findings.iter().map(|f| (f.rule, f.severity)).collect();
        assert_eq!(found, [("PAL-NET-02", Severity::Undecided)]);
    }

    #[test]
    fn nat_mode_is_configuration() {
        let igw = resource("dev", "111111111111", "InternetGateway", "igw", json!({}));
        assert_eq!(
            judge(std::slice::from_ref(&igw), &Settings::default())[0].rule,
            "PAL-NET-01"
        );
        let mut nat = Settings::default();
        nat.allow_internet = true;
        assert!(judge(&[igw], &nat).is_empty());
    }

    #[test]
    fn a_model_artifact_in_another_stack_is_named() {
        let model = AnalyzedResource {
            token: "palisade-deploy:index:Model".into(),
            ..resource(
                "staging",
                "222222222222",
                "Model",
                "m",
                json!({"modelDataUrl": "s3://dev-models/m.tar.gz"}),
            )
        };
        assert_eq!(
            artifacts_out_of_sight(std::slice::from_ref(&model)),
            [(model.urn.clone(), "dev-models".to_string())]
        );
        let bucket = resource(
            "staging",
            "222222222222",
            "Bucket",
            "b",
            json!({"bucket": "dev-models"}),
        );
        assert!(artifacts_out_of_sight(&[model, bucket]).is_empty());
    }
}
