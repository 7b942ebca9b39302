//! What the reference environment lets its users choose: the accounts and how to reach them, the
//! networks, which interface endpoints, the instances per stage, the Studio users and the model.
//!
//! The defaults describe the local emulator's three accounts, so the program runs with no
//! configuration at all; `environment.example.json` shows the same shape for real accounts.

use std::collections::BTreeSet;
use std::path::Path;

use palisade::Account;
use serde::Deserialize;

/// The whole environment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    /// A short name, part of every bucket, role and SageMaker name (`mlops`).
    #[serde(default = "default_environment")]
    pub environment: String,
    /// The region of every account.
    #[serde(default = "default_region")]
    pub region: String,
    /// An endpoint replacing AWS's for every account (a local emulator); also `PALISADE_ENDPOINT`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The development account: Studio, data, the model registry.
    pub dev: DevConfig,
    /// The accounts models are deployed to, in promotion order (staging, then prod).
    pub targets: Vec<TargetConfig>,
}

/// How to reach one account.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountConfig {
    /// The 12-digit account id.
    pub account_id: String,
    /// A role to assume in it (for accounts other than the one the credentials belong to).
    #[serde(default)]
    pub assume_role: Option<String>,
    /// A named profile of the shared AWS config instead.
    #[serde(default)]
    pub profile: Option<String>,
}

/// One private network.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkConfig {
    /// The VPC's range.
    pub vpc_cidr: String,
    /// One private subnet per availability zone; the number of entries is the number of AZs.
    pub subnets: Vec<SubnetConfig>,
    /// The services reached through interface endpoints (`sagemaker.api`, `kms`, ...).
    #[serde(default = "default_interface_endpoints")]
    pub interface_endpoints: Vec<String>,
    /// NAT mode: a public subnet with a NAT gateway gives the private subnets a way out. Off by
    /// default (internet-free), and the guardrails refuse internet routes unless it is on.
    #[serde(default)]
    pub nat: Option<NatConfig>,
}

/// A private subnet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubnetConfig {
    /// Its range, inside the VPC's.
    pub cidr: String,
    /// The zone's letter within the region (`a` for `eu-west-1a`).
    pub zone: String,
}

/// NAT mode's public subnet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NatConfig {
    /// The public subnet's range.
    pub public_subnet_cidr: String,
    /// Its zone's letter.
    pub zone: String,
}

/// The development account.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DevConfig {
    /// How to reach it.
    pub account: AccountConfig,
    /// Its network.
    pub network: NetworkConfig,
    /// Studio user profiles to create.
    #[serde(default)]
    pub user_profiles: Vec<String>,
    /// The model registered in the package group.
    pub model: ModelConfig,
}

/// The model package dev registers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModelConfig {
    /// The inference image.
    pub image: String,
    /// The artifact's key in the models bucket.
    pub artifact_key: String,
    /// Its approval status: `Approved` makes it the release staging and prod deploy.
    #[serde(default = "approved")]
    pub approval_status: String,
}

/// An account models are deployed to.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetConfig {
    /// The stack's name (`staging`, `prod`).
    pub name: String,
    /// How to reach it.
    pub account: AccountConfig,
    /// Its network.
    pub network: NetworkConfig,
    /// The endpoint's instance type.
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    /// How many instances serve the endpoint.
    #[serde(default = "one")]
    pub instance_count: i32,
    /// A release reaches this account only after an explicit approval. On unless turned off, so
    /// that a configuration that forgets it never releases unapproved.
    #[serde(default = "enabled")]
    pub requires_approval: bool,
    /// A release is smoke-tested here before it goes further (staging).
    #[serde(default)]
    pub smoke_test: bool,
}

fn default_environment() -> String {
    "mlops".into()
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_instance_type() -> String {
    "ml.m5.large".into()
}

fn one() -> i32 {
    1
}

fn enabled() -> bool {
    true
}

fn approved() -> String {
    "Approved".into()
}

/// The interface endpoints a private SageMaker network needs by default: every service Studio in
/// VpcOnly mode needs (the list PAL-NET-05 requires), S3 going through the gateway endpoint.
pub fn default_interface_endpoints() -> Vec<String> {
    palisade::guardrails::STUDIO_INTERFACE_ENDPOINTS
        .map(String::from)
        .to_vec()
}

/// A configuration the environment cannot be built from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or parsed.
    #[error("configuration {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A value is not acceptable.
    #[error("configuration `{field}`: {reason}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// What is wrong and what would be right.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Config {
    /// The local emulator's three accounts: dev is the default account, staging and prod are
    /// reached by assuming a role in them (moto maps the returned credentials to that account).
    pub fn local() -> Self {
        let network = |second_octet: u8| NetworkConfig {
            vpc_cidr: format!("10.{second_octet}.0.0/16"),
            subnets: ["a", "b"]
                .iter()
                .enumerate()
                .map(|(i, zone)| SubnetConfig {
                    cidr: format!("10.{second_octet}.{}.0/24", i + 1),
                    zone: (*zone).to_string(),
                })
                .collect(),
            interface_endpoints: default_interface_endpoints(),
            nat: None,
        };
        let target = |name: &str, account_id: &str, second_octet: u8, count: i32| TargetConfig {
            name: name.into(),
            account: AccountConfig {
                account_id: account_id.into(),
                assume_role: Some(format!("arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole")),
                profile: None,
            },
            network: network(second_octet),
            instance_type: default_instance_type(),
            instance_count: count,
            requires_approval: name == "prod",
            smoke_test: name == "staging",
        };
        Self {
            environment: default_environment(),
            region: default_region(),
            endpoint: None,
            dev: DevConfig {
                account: AccountConfig {
                    account_id: "123456789012".into(),
                    assume_role: None,
                    profile: None,
                },
                network: network(0),
                user_profiles: vec!["data-scientist-1".into()],
                model: ModelConfig {
                    image: "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1".into(),
                    artifact_key: "churn/model.tar.gz".into(),
                    approval_status: approved(),
                },
            },
            targets: vec![
                target("staging", "222222222222", 1, 1),
                target("prod", "333333333333", 2, 2),
            ],
        }
    }

    /// Reads a JSON configuration file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let file_error = |reason: String| ConfigError::File {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let config = Self::from_json(&text).map_err(|e| match e {
            ConfigError::File { reason, .. } => file_error(reason),
            other => other,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a JSON configuration; a field serde refuses is named by its path
    /// (`targets[1].instanceCnt`), with the line and column.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            let path = error.path().to_string();
            let inner = error.into_inner();
            let reason = inner.to_string();
            if path.is_empty() || path == "." {
                ConfigError::File {
                    path: "(text)".into(),
                    reason,
                }
            } else {
                ConfigError::Invalid { field: path, reason }
            }
        })
    }

    /// Checks what the providers cannot: how the parts fit together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let name_ok = !self.environment.is_empty()
            && self.environment.len() <= 20
            && self.environment.starts_with(|c: char| c.is_ascii_lowercase())
            && self
                .environment
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(invalid(
                "environment",
                format!(
                    "`{}` must be 1-20 lowercase letters, digits or hyphens, starting with a letter (it is part of bucket names)",
                    self.environment
                ),
            ));
        }
        let mut accounts = vec![("dev".to_string(), &self.dev.account)];
        accounts.extend(self.targets.iter().map(|t| (format!("targets.{}", t.name), &t.account)));
        let mut seen = BTreeSet::new();
        for (field, account) in &accounts {
            if account.assume_role.is_some() && account.profile.is_some() {
                return Err(invalid(
                    format!("{field}.account"),
                    "give either `assumeRole` or `profile`, not both",
                ));
            }
            let id = &account.account_id;
            if id.len() != 12 || !id.chars().all(|c| c.is_ascii_digit()) {
                return Err(invalid(
                    format!("{field}.account.accountId"),
                    format!("`{id}` is not a 12-digit AWS account id"),
                ));
            }
            if !seen.insert(id.clone()) {
                return Err(invalid(
                    format!("{field}.account.accountId"),
                    format!("account {id} appears twice; dev, staging and prod are separate accounts"),
                ));
            }
        }
        self.dev.network.validate("dev.network")?;
        let mut names = BTreeSet::new();
        for target in &self.targets {
            let field = format!("targets.{}", target.name);
            if target.name == "dev" || !names.insert(target.name.clone()) {
                return Err(invalid(
                    format!("{field}.name"),
                    "each target needs its own name, other than `dev`",
                ));
            }
            target.network.validate(&format!("{field}.network"))?;
            if target.network.nat.is_some() {
                return Err(invalid(
                    format!("{field}.network.nat"),
                    "staging and production stay internet-free; remove `nat`",
                ));
            }
            if target.instance_count < 1 {
                return Err(invalid(
                    format!("{field}.instanceCount"),
                    "an endpoint needs at least one instance",
                ));
            }
        }
        Ok(())
    }

    /// The name of dev's model package group, where releases are registered and approved.
    pub fn model_package_group(&self) -> String {
        format!("{}-models", self.environment)
    }

    /// The dev account as the SDK reaches it.
    pub fn dev_account(&self) -> Account {
        self.account("dev", &self.dev.account)
    }

    /// A target account as the SDK reaches it.
    pub fn target_account(&self, target: &TargetConfig) -> Account {
        self.account(&target.name, &target.account)
    }

    fn account(&self, name: &str, config: &AccountConfig) -> Account {
        let mut account = Account::new(name, &config.account_id, &self.region);
        if let Some(role) = &config.assume_role {
            account = account.assume_role(role, None);
        } else if let Some(profile) = &config.profile {
            account = account.profile(profile);
        }
        if let Some(endpoint) = &self.endpoint {
            account = account.endpoint(endpoint);
        }
        account
    }
}

impl NetworkConfig {
    fn validate(&self, field: &str) -> Result<(), ConfigError> {
        if self.subnets.is_empty() {
            return Err(invalid(
                format!("{field}.subnets"),
                "give at least one private subnet (two, in two zones, for Studio and endpoints to survive a zone's loss)",
            ));
        }
        let zones: BTreeSet<&str> = self.subnets.iter().map(|s| s.zone.as_str()).collect();
        if zones.len() != self.subnets.len() {
            return Err(invalid(
                format!("{field}.subnets"),
                "put each private subnet in its own availability zone",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_configuration_is_valid_and_has_three_accounts() {
        let config = Config::local();
        config.validate().expect("valid");
        assert_eq!(config.targets.len(), 2);
        assert_eq!(config.target_account(&config.targets[1]).account_id, "333333333333");
    }

    #[test]
    fn mistakes_name_the_field() {
        let mut config = Config::local();
        config.targets[1].account.account_id = "222222222222".into();
        let error = config.validate().expect_err("repeated account").to_string();
        assert!(error.contains("targets.prod.account.accountId"), "{error}");

        let mut config = Config::local();
        config.targets[0].instance_count = 0;
        let error = config.validate().expect_err("no instances").to_string();
        assert!(error.contains("targets.staging.instanceCount"), "{error}");

        let mut config = Config::local();
        config.dev.network.subnets[1].zone = "a".into();
        let error = config.validate().expect_err("one zone").to_string();
        assert!(error.contains("dev.network.subnets"), "{error}");
    }

    #[test]
    fn an_unknown_or_mistyped_field_is_named_by_its_path() {
        let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("environment.example.json"))
            .expect("example");
        let mut json: serde_json::Value = serde_json::from_str(&example).expect("JSON");
        json["targets"][1]["instanceCnt"] = 2.into();
        let error = Config::from_json(&json.to_string())
            .expect_err("unknown field")
            .to_string();
        assert!(
            error.starts_with("configuration `targets[1].instanceCnt`: unknown field `instanceCnt`"),
            "{error}"
        );

        let mut json: serde_json::Value = serde_json::from_str(&example).expect("JSON");
        json["dev"]["network"]["subnets"][0]["cidr"] = 10.into();
        let error = Config::from_json(&json.to_string())
            .expect_err("wrong type")
            .to_string();
        assert!(
            error.starts_with("configuration `dev.network.subnets[0].cidr`: invalid type"),
            "{error}"
        );
    }

    #[test]
    fn the_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("environment.example.json");
        let config = Config::from_file(&path).expect("example parses");
        assert_eq!(
            config.targets.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["staging", "prod"]
        );
    }
}
