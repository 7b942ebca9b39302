//! Provider configuration: which AWS account and region a provider works in, and how it gets there.
//!
//! Parsing and validating configuration makes no network call: credentials are resolved on first use.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::diff::{diff_inputs, Diff};
use crate::schema::Properties;
use crate::validate::require;
use crate::value::{map_to_json, PropertyMap};

/// How a provider reaches its AWS account.
// `Default` comes from the declaration (`derive(Properties)`): no property is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct ProviderConfig {
    /// The AWS region, e.g. `eu-west-1`. Defaults to the standard AWS environment (`AWS_REGION`, the
    /// profile's region). A change replaces every resource of the provider: they live in one region.
    #[property(replace, validate = validate_region)]
    pub region: Option<String>,
    /// The 12-digit id of the account these credentials must reach. When set, the first AWS call
    /// checks it and refuses to act in any other account. A change replaces every resource of the
    /// provider: they live in one account.
    #[property(replace, validate = validate_account_id)]
    pub account_id: Option<String>,
    /// An endpoint to send every AWS call to instead of AWS (a local emulator). Defaults to
    /// `AWS_ENDPOINT_URL`, then AWS.
    #[property(validate = validate_endpoint)]
    pub endpoint: Option<String>,
    /// A named profile from the shared AWS config files.
    pub profile: Option<String>,
    /// A role to assume with the base credentials, such as the target account's deployment role.
    pub assume_role: Option<AssumeRole>,
}

/// A role to assume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct AssumeRole {
    /// ARN of the role, e.g. `arn:aws:iam::222222222222:role/palisade-deployment`.
    #[property(validate = crate::validate::role_arn)]
    pub role_arn: String,
    /// External id the role's trust policy requires, if any.
    pub external_id: Option<String>,
    /// Session name shown in CloudTrail. Defaults to `palisade`.
    pub session_name: Option<String>,
}

/// DiffConfig: how a provider's configuration changed. A resource lives in one account and one
/// region, so a changed `region` or `accountId` replaces every resource the provider manages (the
/// declarations say `replace`); never an in-place update, which would leave the engine reading and
/// updating ids that exist only in the old account or region. Everything else (endpoint, profile,
/// role to assume) is how the same account is reached: an update.
pub fn diff_config(olds: &PropertyMap, news: &PropertyMap, ignore_changes: &[String]) -> Diff {
    diff_inputs(&ProviderConfig::object_spec(), None, olds, news, ignore_changes)
}

/// Configure's variables of the old form (`palisade-network:config:region`) and its args of the new
/// form (a Struct), merged: args win.
pub fn merge_config_inputs(variables: &HashMap<String, String>, args: &PropertyMap) -> Result<Json, String> {
    let mut merged = serde_json::Map::new();
    for (key, value) in variables {
        let name = key.rsplit(':').next().unwrap_or(key);
        // Object-valued settings arrive JSON-encoded; plain strings stay strings.
        let parsed = match serde_json::from_str::<Json>(value) {
            Ok(json @ Json::Object(_)) => json,
            _ => Json::String(value.clone()),
        };
        merged.insert(name.to_string(), parsed);
    }
    let args = map_to_json(args).ok_or("provider configuration holds values that are not known yet")?;
    if let Json::Object(args) = args {
        merged.extend(args);
    }
    // The engine adds these for its own bookkeeping.
    for engine_key in ["version", "pluginDownloadURL"] {
        merged.remove(engine_key);
    }
    Ok(Json::Object(merged))
}

fn validate_region(value: &Json) -> Result<(), String> {
    let region = value.as_str().unwrap_or_default();
    let well_formed = region.split('-').count() >= 3
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    require(well_formed, || {
        format!("{region:?} is not an AWS region name; expected something like `eu-west-1`")
    })
}

/// Checks a 12-digit AWS account id.
pub fn validate_account_id(value: &Json) -> Result<(), String> {
    let id = value.as_str().unwrap_or_default();
    require(id.len() == 12 && id.chars().all(|c| c.is_ascii_digit()), || {
        format!("{id:?} is not an AWS account id; expected 12 digits such as `111111111111`")
    })
}

fn validate_endpoint(value: &Json) -> Result<(), String> {
    let url = value.as_str().unwrap_or_default();
    require(url.starts_with("http://") || url.starts_with("https://"), || {
        format!("{url:?} is not a URL; expected e.g. `http://127.0.0.1:5000`")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_object;
    use crate::value::map_from_json;
    use serde_json::json;

    #[test]
    fn variables_and_args_merge_with_args_winning() {
        let variables = HashMap::from([
            ("palisade-network:config:region".to_string(), "eu-west-1".to_string()),
            (
                "palisade-network:config:assumeRole".to_string(),
                r#"{"roleArn":"arn:aws:iam::222222222222:role/d"}"#.to_string(),
            ),
            ("palisade-network:config:version".to_string(), "0.1.0".to_string()),
        ]);
        let args = map_from_json(&json!({"region": "us-east-1"}));
        let merged = merge_config_inputs(&variables, &args).expect("known");
        let config: ProviderConfig = serde_json::from_value(merged).expect("valid");
        assert_eq!(config.region.as_deref(), Some("us-east-1"));
        assert_eq!(
            config.assume_role.expect("role").role_arn,
            "arn:aws:iam::222222222222:role/d"
        );
    }

    fn dev() -> Json {
        json!({
            "region": "us-east-1",
            "accountId": "111111111111",
            "endpoint": "http://127.0.0.1:5000",
            "assumeRole": {"roleArn": "arn:aws:iam::111111111111:role/palisade-deployment"},
        })
    }

    fn diff_of(change: impl FnOnce(&mut Json)) -> Diff {
        let olds = dev();
        let mut news = dev();
        change(&mut news);
        diff_config(&map_from_json(&olds), &map_from_json(&news), &[])
    }

    #[test]
    fn a_changed_region_or_account_replaces_the_providers_resources() {
        use crate::diff::DiffKind;

        let moved = diff_of(|c| c["region"] = json!("eu-west-1"));
        assert_eq!(moved.detailed.get("region"), Some(&DiffKind::UpdateReplace));
        assert_eq!(moved.replaces(), vec!["region".to_string()]);

        let other_account = diff_of(|c| {
            c["accountId"] = json!("222222222222");
            c["assumeRole"]["roleArn"] = json!("arn:aws:iam::222222222222:role/palisade-deployment");
        });
        assert_eq!(other_account.detailed.get("accountId"), Some(&DiffKind::UpdateReplace));
        assert_eq!(other_account.replaces(), vec!["accountId".to_string()]);

        // Set where it was not, or removed: the account or region may differ, so it replaces too.
        let named = diff_config(
            &map_from_json(&json!({"region": "us-east-1"})),
            &map_from_json(&json!({"region": "us-east-1", "accountId": "111111111111"})),
            &[],
        );
        assert_eq!(named.detailed.get("accountId"), Some(&DiffKind::AddReplace));
        let unset = diff_of(|c| {
            c.as_object_mut().expect("object").remove("region");
        });
        assert_eq!(unset.detailed.get("region"), Some(&DiffKind::DeleteReplace));
    }

    #[test]
    fn how_the_same_account_is_reached_is_an_update() {
        let diff = diff_of(|c| {
            c["endpoint"] = json!("http://127.0.0.1:6000");
            c["assumeRole"]["sessionName"] = json!("ci");
        });
        assert!(diff.has_changes());
        assert!(diff.replaces().is_empty(), "{diff:?}");
        assert!(diff_of(|_| {}).detailed.is_empty());
    }

    #[test]
    fn the_schema_says_region_and_account_replace() {
        let spec = ProviderConfig::object_spec();
        let replacing: Vec<&str> = spec.properties.iter().filter(|p| p.replace).map(|p| p.name).collect();
        assert_eq!(replacing, vec!["region", "accountId"]);
    }

    #[test]
    fn bad_settings_are_named_with_the_fix() {
        let bad = map_from_json(&json!({
            "region": "Frankfurt",
            "accountId": "12",
            "endpoint": "localhost:5000",
            "assumeRole": {"roleArn": "deployer"},
        }));
        let failures = check_object(&ProviderConfig::object_spec(), &bad, "");
        let properties: Vec<&str> = failures.iter().map(|f| f.property.as_str()).collect();
        assert_eq!(
            properties,
            vec!["region", "accountId", "endpoint", "assumeRole.roleArn"]
        );
    }
}
