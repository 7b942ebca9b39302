//! The pack: every guardrail as a Pulumi policy (its id as the policy's name), the enforcement level
//! each one runs at, and how a finding becomes a Pulumi diagnostic.

use std::collections::BTreeMap;

use palisade::guardrails::{Finding, Rule, Severity, RULES};
use serde_json::Value as Json;

/// The pack's name, as `PulumiPolicy.yaml` states it.
pub const PACK_NAME: &str = "palisade-guardrails";
/// The pack's version, as `PulumiPolicy.yaml` states it.
pub const PACK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The rule whose verdict depends on whether a stack may reach the internet (NAT mode).
pub const INTERNET_RULE: &str = "PAL-NET-01";
/// The configuration property of [`INTERNET_RULE`] that allows it, as `allow_internet()` does in
/// the SDK.
pub const ALLOW_INTERNET: &str = "allowInternet";
/// The cross-account proof.
pub const CROSS_ACCOUNT_RULE: &str = "PAL-XACCT-01";

/// The rules that judge one resource by its own inputs alone, so that `Analyze` (one resource,
/// before the rest of the stack exists) can run them without refusing what a later resource
/// supplies: a bucket's policy, for one, is a separate resource declared after the bucket. Every
/// other rule runs on the whole stack (`AnalyzeStack`).
pub const PER_RESOURCE_RULES: &[&str] = &[
    "PAL-NET-01",
    "PAL-NET-02",
    "PAL-S3-01",
    "PAL-S3-02",
    "PAL-KMS-01",
    "PAL-IAM-01",
    "PAL-IAM-02",
    "PAL-SM-01",
    "PAL-SM-02",
    "PAL-SM-03",
    "PAL-SM-04",
];

/// How a policy's violations are enforced, as Pulumi names the levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Shown, never blocking.
    Advisory,
    /// Blocks the preview or update.
    Mandatory,
    /// Not run.
    Disabled,
}

impl Level {
    /// The level a rule runs at unless configured: error rules mandatory, the others advisory.
    pub fn default_for(rule: &Rule) -> Self {
        match rule.severity {
            Severity::Error => Level::Mandatory,
            Severity::Warning | Severity::Undecided => Level::Advisory,
        }
    }

    /// Pulumi's name of the level (`mandatory`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Advisory => "advisory",
            Level::Mandatory => "mandatory",
            Level::Disabled => "disabled",
        }
    }
}

/// A pack configuration Palisade cannot follow.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PackError {
    /// The configuration names a policy the pack does not have.
    #[error(
        "the policy pack configuration names `{policy}`, which is no policy of {PACK_NAME}; its policies are {known}"
    )]
    UnknownPolicy {
        /// The name given.
        policy: String,
        /// The pack's policy names.
        known: String,
    },
    /// An enforcement level the guardrails cannot honour.
    #[error("policy `{policy}`: enforcementLevel `{level}` is not supported: Palisade's guardrails report and block, they do not change resources; use `mandatory`, `advisory` or `disabled`")]
    UnsupportedLevel {
        /// The policy.
        policy: String,
        /// The level given.
        level: &'static str,
    },
    /// A configuration property of the wrong type or unknown.
    #[error("policy `{policy}`: {reason}")]
    InvalidProperty {
        /// The policy.
        policy: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
}

/// What the pack's configuration changed: levels per policy and whether stacks may reach the
/// internet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    levels: BTreeMap<&'static str, Level>,
    /// Stacks are in NAT mode: PAL-NET-01 passes internet and NAT gateways (the SDK's
    /// `allow_internet()`).
    pub allow_internet: bool,
}

/// One policy's configuration as the engine sends it: a level (`None` when it is Pulumi's
/// `remediate`, which is refused) and properties.
#[derive(Debug, Clone)]
pub struct PolicyConfig {
    /// The level; `Err(name)` for a level the pack cannot honour.
    pub level: Result<Level, &'static str>,
    /// The policy's configuration properties.
    pub properties: BTreeMap<String, Json>,
}

impl Settings {
    /// The level `rule` runs at.
    pub fn level(&self, rule: &Rule) -> Level {
        self.levels
            .get(rule.id)
            .copied()
            .unwrap_or_else(|| Level::default_for(rule))
    }

    /// Settings from the pack's configuration (policy name -> its configuration). `all` applies
    /// to every policy, and a policy's own entry overrides it.
    pub fn from_config(config: &BTreeMap<String, PolicyConfig>) -> Result<Self, PackError> {
        let mut settings = Settings::default();
        let mut entries: Vec<(&String, &PolicyConfig)> = config.iter().collect();
        // `all` first, so that a policy's own entry wins.
        entries.sort_by_key(|(name, _)| name.as_str() != "all");
        for (name, policy) in entries {
            let rules: Vec<&Rule> = if name == "all" {
                RULES.iter().collect()
            } else {
                match RULES.iter().find(|r| r.id == name) {
                    Some(rule) => vec![rule],
                    None => {
                        return Err(PackError::UnknownPolicy {
                            policy: name.clone(),
                            known: RULES.iter().map(|r| r.id).collect::<Vec<_>>().join(", "),
                        })
                    }
                }
            };
            let level = policy.level.map_err(|level| PackError::UnsupportedLevel {
                policy: name.clone(),
                level,
            })?;
            for rule in &rules {
                settings.levels.insert(rule.id, level);
            }
            for (property, value) in &policy.properties {
                match (name.as_str(), property.as_str()) {
                    (INTERNET_RULE, ALLOW_INTERNET) => {
                        settings.allow_internet = value.as_bool().ok_or_else(|| PackError::InvalidProperty {
                            policy: name.clone(),
                            reason: format!("`{ALLOW_INTERNET}` must be true or false, not {value}"),
                        })?;
                    }
                    _ => {
                        return Err(PackError::InvalidProperty {
                            policy: name.clone(),
                            reason: format!(
                                "no configuration property `{property}`; only {INTERNET_RULE} takes one (`{ALLOW_INTERNET}`)"
                            ),
                        })
                    }
                }
            }
        }
        Ok(settings)
    }
}

/// A violation as Pulumi shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule's id (the policy's name).
    pub policy: &'static str,
    /// What the rule requires.
    pub description: &'static str,
    /// What is wrong, then how to fix it.
    pub message: String,
    /// How it is enforced.
    pub level: Level,
    /// The resource at fault.
    pub urn: String,
}

/// The diagnostic of `finding`, or `None` when its rule is disabled. A finding the rules cannot
/// decide before apply is advisory whatever its rule's level: it says what is unknown, not that
/// anything is wrong.
pub fn violation(finding: &Finding, settings: &Settings) -> Option<Violation> {
    let rule = RULES.iter().find(|r| r.id == finding.rule)?;
    let level = match (settings.level(rule), finding.severity) {
        (Level::Disabled, _) => return None,
        (_, Severity::Undecided) => Level::Advisory,
        (level, _) => level,
    };
    Some(Violation {
        policy: rule.id,
        description: rule.title,
        message: format!("{}\nfix: {}", finding.message, finding.fix),
        level,
        urn: finding.urn.clone(),
    })
}

/// The JSON schema of a policy's configuration properties (only PAL-NET-01 has one).
pub fn config_schema(rule: &Rule) -> BTreeMap<String, Json> {
    if rule.id == INTERNET_RULE {
        [(
            ALLOW_INTERNET.to_string(),
            serde_json::json!({
                "type": "boolean",
                "description": "the stacks may route to the internet through internet and NAT gateways (NAT mode), as the SDK's `allow_internet()`"
            }),
        )]
        .into()
    } else {
        BTreeMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(entries: &[(&str, Result<Level, &'static str>, Json)]) -> BTreeMap<String, PolicyConfig> {
        entries
            .iter()
            .map(|(name, level, properties)| {
                let properties = properties
                    .as_object()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                (
                    name.to_string(),
                    PolicyConfig {
                        level: *level,
                        properties,
                    },
                )
            })
            .collect()
    }

    fn rule(id: &str) -> &'static Rule {
        RULES.iter().find(|r| r.id == id).expect("a rule")
    }

    #[test]
    fn error_rules_are_mandatory_until_configured_otherwise() {
        let settings = Settings::default();
        assert!(RULES
            .iter()
            .filter(|r| r.severity == Severity::Error)
            .all(|r| settings.level(r) == Level::Mandatory));
        let settings = Settings::from_config(&config(&[
            ("all", Ok(Level::Advisory), Json::Null),
            ("PAL-S3-01", Ok(Level::Disabled), Json::Null),
        ]))
        .expect("valid");
        assert_eq!(settings.level(rule("PAL-S3-01")), Level::Disabled);
        assert_eq!(settings.level(rule("PAL-KMS-01")), Level::Advisory);
    }

    #[test]
    fn configuration_errors_name_the_policy_and_the_fix() {
        let unknown = Settings::from_config(&config(&[("PAL-S3-99", Ok(Level::Disabled), Json::Null)]));
        assert!(matches!(unknown, Err(PackError::UnknownPolicy { ref policy, .. }) if policy == "PAL-S3-99"));
        let remediate =
            Settings::from_config(&config(&[("PAL-S3-01", Err("remediate"), Json::Null)])).expect_err("refused");
        assert!(
            remediate
                .to_string()
                .contains("use `mandatory`, `advisory` or `disabled`"),
            "{remediate}"
        );
        let bad = Settings::from_config(&config(&[(
            INTERNET_RULE,
            Ok(Level::Mandatory),
            serde_json::json!({ ALLOW_INTERNET: "yes" }),
        )]))
        .expect_err("refused");
        assert!(bad.to_string().contains("must be true or false"), "{bad}");
        let internet = Settings::from_config(&config(&[(
            INTERNET_RULE,
            Ok(Level::Mandatory),
            serde_json::json!({ ALLOW_INTERNET: true }),
        )]))
        .expect("valid");
        assert!(internet.allow_internet);
    }

    #[test]
    fn per_resource_rules_are_rules_of_the_sdk() {
        for id in PER_RESOURCE_RULES.iter().chain([&INTERNET_RULE, &CROSS_ACCOUNT_RULE]) {
            assert!(RULES.iter().any(|r| r.id == *id), "{id} is no rule of the SDK");
        }
    }

    #[test]
    fn the_pack_folder_states_this_name_and_version() {
        let yaml = include_str!("../pack/PulumiPolicy.yaml");
        assert!(yaml.lines().any(|l| l == "runtime: palisade"), "{yaml}");
        assert!(yaml.lines().any(|l| l == format!("name: {PACK_NAME}")), "{yaml}");
        assert!(yaml.lines().any(|l| l == format!("version: {PACK_VERSION}")), "{yaml}");
    }
}
