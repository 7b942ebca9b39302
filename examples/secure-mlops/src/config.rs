//! What the reference environment lets its users choose: the accounts and how to reach them, the
//! networks, which interface endpoints, the instances per stage, the Studio users and the model.
//!
//! The defaults describe the local emulator's three accounts, so the program runs with no
//! configuration at all; `environment.example.json` shows the same shape for real accounts.
//!
//! `targets` is either a list of target accounts or an AWS Organizations organizational unit whose
//! ACTIVE accounts each become a target ([`OrganizationTargets`]): a template for all of them, and
//! per-account overrides. The unit's accounts are looked up when the program runs
//! (`crate::organization::resolve`), which fills [`Config::targets`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use palisade::security::OrganizationAccount;
use palisade::Account;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::Deserialize;

/// The development account's stack (and account) name; no target may take it.
pub const DEV_STACK: &str = "dev";

/// The whole environment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "ConfigFile")]
pub struct Config {
    /// A short name, part of every bucket, role and SageMaker name (`mlops`).
    pub environment: String,
    /// The region of every account.
    pub region: String,
    /// An endpoint replacing AWS's for every account (a local emulator); also `PALISADE_ENDPOINT`.
    pub endpoint: Option<String>,
    /// The development account: Studio, data, the model registry.
    pub dev: DevConfig,
    /// The accounts models are deployed to, in promotion order (staging, then prod). With an
    /// organizational unit, empty until its accounts are resolved.
    pub targets: Vec<TargetConfig>,
    /// The organizational unit the targets come from, when `targets` names one.
    pub organization: Option<OrganizationTargets>,
}

/// The configuration file as written: `targets` is a list or an organizational unit.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigFile {
    #[serde(default = "default_environment")]
    environment: String,
    #[serde(default = "default_region")]
    region: String,
    #[serde(default)]
    endpoint: Option<String>,
    dev: DevConfig,
    targets: TargetsField,
}

impl From<ConfigFile> for Config {
    fn from(file: ConfigFile) -> Self {
        let (targets, organization) = match file.targets {
            TargetsField::List(targets) => (targets, None),
            TargetsField::Organization(organization) => (Vec::new(), Some(*organization)),
        };
        Self {
            environment: file.environment,
            region: file.region,
            endpoint: file.endpoint,
            dev: file.dev,
            targets,
            organization,
        }
    }
}

/// `targets`: a list (`[...]`) or an organizational unit (`{"organizationalUnit": ...}`).
#[derive(Debug, Clone, PartialEq)]
enum TargetsField {
    List(Vec<TargetConfig>),
    Organization(Box<OrganizationTargets>),
}

impl<'de> Deserialize<'de> for TargetsField {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = TargetsField;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of targets, or an organizational unit's targets ({\"organizationalUnit\": \"ou-...\", \"template\": {...}})")
            }

            // Each form is read through the same access, so a refused field keeps its full path.
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<TargetsField, A::Error> {
                Vec::deserialize(SeqAccessDeserializer::new(seq)).map(TargetsField::List)
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TargetsField, A::Error> {
                OrganizationTargets::deserialize(MapAccessDeserializer::new(map))
                    .map(|o| TargetsField::Organization(Box::new(o)))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Targets taken from an AWS Organizations organizational unit: each of its ACTIVE accounts is a
/// target stack, made from `template` and the account's entry in `overrides`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrganizationTargets {
    /// The unit (`ou-ab12-cd34ef56`).
    pub organizational_unit: String,
    /// Also the accounts of its child units, at any depth.
    #[serde(default)]
    pub recursive: bool,
    /// The account that may list the unit's accounts: the organization's management account or a
    /// delegated administrator. Default: dev's account.
    #[serde(default)]
    pub management_account: Option<AccountConfig>,
    /// The role assumed in each member account (`arn:aws:iam::<id>:role/<roleName>`). Default
    /// `OrganizationAccountAccessRole`, the role Organizations creates in the accounts it creates.
    #[serde(default = "organization_role")]
    pub role_name: String,
    /// What every account of the unit gets.
    pub template: TargetTemplate,
    /// Per account id, what differs from the template (`name`, `instanceCount`, ...).
    #[serde(default)]
    pub overrides: BTreeMap<String, TargetOverride>,
}

/// A target without its account: what every account of an organizational unit gets.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetTemplate {
    /// Its network (each account has its own VPC, so one range serves all).
    pub network: NetworkConfig,
    /// The endpoint's instance type.
    #[serde(default = "default_instance_type")]
    pub instance_type: String,
    /// How many instances serve the endpoint.
    #[serde(default = "one")]
    pub instance_count: i32,
    /// A release reaches the account only after an explicit approval (on unless turned off).
    #[serde(default = "enabled")]
    pub requires_approval: bool,
    /// A release is smoke-tested in the account before it goes further.
    #[serde(default)]
    pub smoke_test: bool,
}

/// What one account of an organizational unit changes from the template.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetOverride {
    /// The stack's name instead of the one made from the account's name.
    #[serde(default)]
    pub name: Option<String>,
    /// Its network.
    #[serde(default)]
    pub network: Option<NetworkConfig>,
    /// The endpoint's instance type.
    #[serde(default)]
    pub instance_type: Option<String>,
    /// How many instances serve the endpoint.
    #[serde(default)]
    pub instance_count: Option<i32>,
    /// Whether a release needs an explicit approval here.
    #[serde(default)]
    pub requires_approval: Option<bool>,
    /// Whether a release is smoke-tested here.
    #[serde(default)]
    pub smoke_test: Option<bool>,
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

fn organization_role() -> String {
    "OrganizationAccountAccessRole".into()
}

/// The longest stack name made from an account's name: it is part of bucket and endpoint names.
const MAX_STACK_NAME: usize = 20;

/// A stack name made from an account's name: lowercase letters, digits and single hyphens, starting
/// with a letter, at most 20 characters (`Team Alpha (ML)` -> `team-alpha-ml`); `account-<id>`
/// when the name has nothing usable.
pub fn stack_name_for(account_name: &str, account_id: &str) -> String {
    let mut name = String::new();
    for c in account_name.chars() {
        if c.is_ascii_alphanumeric() {
            if name.is_empty() && c.is_ascii_digit() {
                continue;
            }
            name.push(c.to_ascii_lowercase());
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    name.truncate(MAX_STACK_NAME);
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() {
        format!("account-{account_id}")
    } else {
        name
    }
}

/// Whether `name` can name a target stack (it becomes part of bucket and endpoint names).
fn valid_stack_name(name: &str) -> bool {
    (1..=MAX_STACK_NAME).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl OrganizationTargets {
    /// The role assumed in member account `account_id`.
    pub fn role_arn(&self, account_id: &str) -> String {
        format!("arn:aws:iam::{account_id}:role/{}", self.role_name)
    }

    /// The target of one account of the unit: the template, the account's overrides, and its
    /// stack's name: the override's, else the one its existing stack already has (`known`), else
    /// one made from the account's name.
    pub fn target(&self, account: &OrganizationAccount, known: Option<&str>) -> TargetConfig {
        let template = &self.template;
        let changes = self.overrides.get(&account.id).cloned().unwrap_or_default();
        TargetConfig {
            name: changes
                .name
                .or_else(|| known.map(str::to_string))
                .unwrap_or_else(|| stack_name_for(&account.name, &account.id)),
            account: AccountConfig {
                account_id: account.id.clone(),
                assume_role: Some(self.role_arn(&account.id)),
                profile: None,
            },
            network: changes.network.unwrap_or_else(|| template.network.clone()),
            instance_type: changes.instance_type.unwrap_or_else(|| template.instance_type.clone()),
            instance_count: changes.instance_count.unwrap_or(template.instance_count),
            requires_approval: changes.requires_approval.unwrap_or(template.requires_approval),
            smoke_test: changes.smoke_test.unwrap_or(template.smoke_test),
        }
    }

    /// Checks what can be checked before the unit's accounts are known.
    fn validate(&self) -> Result<(), ConfigError> {
        let unit = serde_json::Value::String(self.organizational_unit.clone());
        if let Err(reason) = palisade::kit::validate::organizational_unit_id(&unit) {
            return Err(invalid("targets.organizationalUnit", reason));
        }
        if let Some(account) = &self.management_account {
            account.validate("targets.managementAccount")?;
        }
        let role_ok = !self.role_name.is_empty()
            && self.role_name.len() <= 64
            && self
                .role_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !role_ok {
            return Err(invalid(
                "targets.roleName",
                format!(
                    "`{}` is not an IAM role name; give the name of the role to assume in each account (`OrganizationAccountAccessRole`)",
                    self.role_name
                ),
            ));
        }
        self.template.network.validate("targets.template.network")?;
        if self.template.network.nat.is_some() {
            return Err(invalid(
                "targets.template.network.nat",
                "target accounts stay internet-free; remove `nat`",
            ));
        }
        for (id, changes) in &self.overrides {
            let field = format!("targets.overrides.{id}");
            if id.len() != 12 || !id.chars().all(|c| c.is_ascii_digit()) {
                return Err(invalid(
                    field,
                    format!("`{id}` is not a 12-digit AWS account id; overrides are keyed by account id"),
                ));
            }
            if let Some(name) = &changes.name {
                if !valid_stack_name(name) || name == DEV_STACK {
                    return Err(invalid(
                        format!("{field}.name"),
                        format!("`{name}` cannot name a target stack; use 1-{MAX_STACK_NAME} lowercase letters, digits or hyphens, starting with a letter, other than `dev`"),
                    ));
                }
            }
        }
        Ok(())
    }
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
            organization: None,
        }
    }
    /// [`Config::local`] with `targets` generated target accounts instead of staging and prod, each
    /// with its own account id (reached through the organization's access role) and network range,
    /// no approval and no smoke test: the environment of the scale benchmarks and tests.
    pub fn local_with_targets(targets: usize) -> Self {
        let mut config = Self::local();
        let template = config.targets[0].clone();
        config.targets = (0..targets)
            .map(|i| {
                let mut target = template.clone();
                target.name = format!("target-{i:03}");
                let account_id = format!("{:012}", 400_000_000_000u64 + i as u64);
                target.account.assume_role =
                    Some(format!("arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole"));
                target.account.account_id = account_id;
                let octet = 10 + i;
                target.network.vpc_cidr = format!("10.{octet}.0.0/16");
                for (z, subnet) in target.network.subnets.iter_mut().enumerate() {
                    subnet.cidr = format!("10.{octet}.{}.0/24", z + 1);
                }
                target.requires_approval = false;
                target.smoke_test = false;
                target
            })
            .collect();
        config
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
        if let Some(organization) = &self.organization {
            organization.validate()?;
        }
        let mut accounts = vec![("dev".to_string(), &self.dev.account)];
        accounts.extend(self.targets.iter().map(|t| (format!("targets.{}", t.name), &t.account)));
        let mut seen = BTreeSet::new();
        for (field, account) in &accounts {
            account.validate(&format!("{field}.account"))?;
            let id = &account.account_id;
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
            if target.name == DEV_STACK || !names.insert(target.name.clone()) {
                if let Some(organization) = &self.organization {
                    return Err(invalid(
                        format!("targets.overrides.{}.name", target.account.account_id),
                        format!(
                            "account {} of {} would be stack `{}`, which another account's stack (or dev) already is; give it its own `name` in `overrides`",
                            target.account.account_id, organization.organizational_unit, target.name
                        ),
                    ));
                }
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

    /// This configuration with the targets of its organizational unit, whose ACTIVE accounts are
    /// `accounts` (ordered as given), checked as a whole. Without an organizational unit, itself.
    pub fn with_organization_accounts(self, accounts: &[OrganizationAccount]) -> Result<Self, ConfigError> {
        self.with_organization_stacks(accounts, &BTreeMap::new())
    }

    /// As [`Self::with_organization_accounts`], with the names of the stacks that already exist
    /// (`known`: account id to stack name). An account keeps its stack's name when it is renamed
    /// in the organization (a new name would be a second copy of its target next to the first),
    /// and a newly joined account whose name is taken is the one asked to change.
    pub fn with_organization_stacks(
        mut self,
        accounts: &[OrganizationAccount],
        known: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let Some(organization) = &self.organization else {
            return Ok(self);
        };
        self.targets = accounts
            .iter()
            .map(|a| organization.target(a, known.get(&a.id).map(String::as_str)))
            .collect();
        let settled = |t: &TargetConfig| {
            known.contains_key(&t.account.account_id) || organization.overrides.contains_key(&t.account.account_id)
        };
        for new in self.targets.iter().filter(|t| !settled(t)) {
            let taken = new.name == DEV_STACK
                || self
                    .targets
                    .iter()
                    .any(|t| settled(t) && t.name == new.name && t.account.account_id != new.account.account_id);
            if taken {
                return Err(invalid(
                    format!("targets.overrides.{}.name", new.account.account_id),
                    format!(
                        "account {} joined {} and would be stack `{}`, which an existing stack already is; give it its own `name` in `overrides`",
                        new.account.account_id, organization.organizational_unit, new.name
                    ),
                ));
            }
        }
        self.validate()?;
        Ok(self)
    }

    /// Once the unit's accounts are known: each override that matches none of them (an account that
    /// left the unit, or a mistyped id), as a note naming the field. Not an error: an account
    /// leaving must not stop the run, but an override that silently applies to nothing would.
    pub fn unused_overrides(&self) -> Vec<String> {
        let Some(organization) = &self.organization else {
            return Vec::new();
        };
        organization
            .overrides
            .keys()
            .filter(|id| !self.targets.iter().any(|t| &t.account.account_id == *id))
            .map(|id| {
                format!(
                    "`targets.overrides.{id}` applies to nothing: account {id} is not an active account of {}",
                    organization.organizational_unit
                )
            })
            .collect()
    }

    /// The account that lists the organizational unit's accounts (`managementAccount`, else dev's).
    pub fn management_account(&self) -> Account {
        match self.organization.as_ref().and_then(|o| o.management_account.as_ref()) {
            Some(account) => self.account("organization", account),
            None => self.dev_account(),
        }
    }

    /// The dev account as the SDK reaches it.
    pub fn dev_account(&self) -> Account {
        self.account(DEV_STACK, &self.dev.account)
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

impl AccountConfig {
    fn validate(&self, field: &str) -> Result<(), ConfigError> {
        if self.assume_role.is_some() && self.profile.is_some() {
            return Err(invalid(field, "give either `assumeRole` or `profile`, not both"));
        }
        let id = &self.account_id;
        if id.len() != 12 || !id.chars().all(|c| c.is_ascii_digit()) {
            return Err(invalid(
                format!("{field}.accountId"),
                format!("`{id}` is not a 12-digit AWS account id"),
            ));
        }
        Ok(())
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

    /// An organizational-unit configuration: the example's dev, the unit's targets.
    fn organization_json() -> serde_json::Value {
        let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("environment.example.json"))
            .expect("example");
        let mut json: serde_json::Value = serde_json::from_str(&example).expect("JSON");
        json["targets"] = serde_json::json!({
            "organizationalUnit": "ou-ab12-cd34ef56",
            "managementAccount": {"accountId": "999999999999", "profile": "org-admin"},
            "template": {
                "network": {
                    "vpcCidr": "10.40.0.0/16",
                    "subnets": [{"cidr": "10.40.1.0/24", "zone": "a"}, {"cidr": "10.40.2.0/24", "zone": "b"}]
                },
                "instanceCount": 1,
                "requiresApproval": false
            },
            "overrides": {
                "333333333333": {"name": "prod", "instanceCount": 3, "requiresApproval": true}
            }
        });
        json
    }

    #[test]
    fn an_account_keeps_its_stack_name_when_renamed_and_a_newcomer_yields_its_name() {
        let config = Config::from_json(&organization_json().to_string()).expect("parses");
        let known = BTreeMap::from([("222222222222".to_string(), "ml-staging-eu".to_string())]);
        let renamed = config
            .clone()
            .with_organization_stacks(&[member("222222222222", "Staging (renamed)")], &known)
            .expect("resolves");
        assert_eq!(
            renamed.targets[0].name, "ml-staging-eu",
            "a renamed account keeps its stack"
        );
        // A newcomer named like the existing stack, with a lower id: it is the one to change.
        let error = config
            .with_organization_stacks(
                &[
                    member("121212121212", "ML Staging (EU)"),
                    member("222222222222", "Staging (renamed)"),
                ],
                &known,
            )
            .expect_err("the name is taken")
            .to_string();
        assert!(error.contains("`targets.overrides.121212121212.name`"), "{error}");
        assert!(error.contains("joined ou-ab12-cd34ef56"), "{error}");
    }

    fn member(id: &str, name: &str) -> OrganizationAccount {
        OrganizationAccount {
            id: id.into(),
            name: name.into(),
            email: format!("{id}@example.com"),
        }
    }

    #[test]
    fn targets_can_be_an_organizational_unit_resolved_per_account() {
        let config = Config::from_json(&organization_json().to_string()).expect("parses");
        config.validate().expect("valid before its accounts are known");
        assert!(config.targets.is_empty());
        let organization = config.organization.clone().expect("an organizational unit");
        assert_eq!(organization.organizational_unit, "ou-ab12-cd34ef56");
        assert_eq!(organization.role_name, "OrganizationAccountAccessRole");
        let management = config.management_account();
        assert_eq!(
            (management.name.as_str(), management.account_id.as_str()),
            ("organization", "999999999999")
        );

        let resolved = config
            .clone()
            .with_organization_accounts(&[
                member("222222222222", "ML Staging (EU)"),
                member("333333333333", "ml-production"),
                member("444444444444", "42"),
            ])
            .expect("resolves");
        let names: Vec<&str> = resolved.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["ml-staging-eu", "prod", "account-444444444444"]);
        assert!(
            resolved.unused_overrides().is_empty(),
            "{:?}",
            resolved.unused_overrides()
        );
        // Production leaves the unit: its override now applies to nothing, and says so.
        let without_prod = config
            .with_organization_accounts(&[member("222222222222", "ML Staging (EU)")])
            .expect("resolves");
        assert_eq!(
            without_prod.unused_overrides(),
            ["`targets.overrides.333333333333` applies to nothing: account 333333333333 is not an active account of ou-ab12-cd34ef56"]
        );
        let staging = &resolved.targets[0];
        assert_eq!(
            staging.account.assume_role.as_deref(),
            Some("arn:aws:iam::222222222222:role/OrganizationAccountAccessRole")
        );
        assert_eq!(staging.network.vpc_cidr, "10.40.0.0/16");
        assert_eq!((staging.instance_count, staging.requires_approval), (1, false));
        let prod = &resolved.targets[1];
        assert_eq!((prod.instance_count, prod.requires_approval), (3, true));
        assert_eq!(resolved.target_account(prod).account_id, "333333333333");

        // Without `managementAccount`, dev's account lists the unit.
        let mut json = organization_json();
        json["targets"]
            .as_object_mut()
            .expect("object")
            .remove("managementAccount");
        let config = Config::from_json(&json.to_string()).expect("parses");
        assert_eq!(config.management_account().account_id, "111111111111");
    }

    #[test]
    fn organizational_unit_mistakes_name_the_field_and_the_fix() {
        let mut json = organization_json();
        json["targets"]["template"]["instanceCnt"] = 2.into();
        let error = Config::from_json(&json.to_string())
            .expect_err("unknown field")
            .to_string();
        assert!(
            error.starts_with("configuration `targets.template.instanceCnt`: unknown field `instanceCnt`"),
            "{error}"
        );

        let mut json = organization_json();
        json["targets"]["overrides"]["333333333333"]["instanceCount"] = "three".into();
        let error = Config::from_json(&json.to_string())
            .expect_err("wrong type")
            .to_string();
        assert!(
            error.starts_with("configuration `targets.overrides.333333333333.instanceCount`: invalid type"),
            "{error}"
        );

        let mut json = organization_json();
        json["targets"]["organizationalUnit"] = "ou-1".into();
        let config = Config::from_json(&json.to_string()).expect("parses");
        let error = config.validate().expect_err("bad unit id").to_string();
        assert!(
            error.starts_with("configuration `targets.organizationalUnit`: \"ou-1\" is not an organizational unit id"),
            "{error}"
        );

        let mut json = organization_json();
        json["targets"]["overrides"]["3333"] = serde_json::json!({"name": "x"});
        let error = Config::from_json(&json.to_string())
            .expect("parses")
            .validate()
            .expect_err("bad account id")
            .to_string();
        assert!(error.contains("`targets.overrides.3333`"), "{error}");

        let mut json = organization_json();
        json["targets"] = 7.into();
        let error = Config::from_json(&json.to_string())
            .expect_err("neither form")
            .to_string();
        assert!(
            error.contains("`targets`") && error.contains("a list of targets, or an organizational unit"),
            "{error}"
        );

        // Two accounts named alike would share a stack: the fix is an override.
        let config = Config::from_json(&organization_json().to_string()).expect("parses");
        let error = config
            .with_organization_accounts(&[member("222222222222", "Team A"), member("555555555555", "team-a")])
            .expect_err("same stack name")
            .to_string();
        assert!(
            error.starts_with("configuration `targets.overrides.555555555555.name`: account 555555555555 of ou-ab12-cd34ef56 would be stack `team-a`"),
            "{error}"
        );
    }

    #[test]
    fn stack_names_come_from_account_names() {
        assert_eq!(stack_name_for("ML Staging (EU)", "1"), "ml-staging-eu");
        assert_eq!(stack_name_for("--Prod--", "1"), "prod");
        assert_eq!(stack_name_for("2024 analytics", "1"), "analytics");
        assert_eq!(
            stack_name_for("a very long account name indeed", "1"),
            "a-very-long-account"
        );
        assert_eq!(stack_name_for("???", "123456789012"), "account-123456789012");
        for name in ["ml-staging-eu", "a-very-long-account", "account-123456789012"] {
            assert!(valid_stack_name(name), "{name}");
        }
    }

    #[test]
    fn the_organization_example_file_parses_and_resolves() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("environment.organization.example.json");
        let config = Config::from_file(&path).expect("example parses");
        let resolved = config
            .with_organization_accounts(&[member("222222222222", "ML Staging"), member("333333333333", "ML Prod")])
            .expect("resolves");
        let stages: Vec<(&str, i32, bool, bool)> = resolved
            .targets
            .iter()
            .map(|t| (t.name.as_str(), t.instance_count, t.requires_approval, t.smoke_test))
            .collect();
        assert_eq!(stages, [("staging", 1, false, true), ("ml-prod", 2, true, false)]);
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
