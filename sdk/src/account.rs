//! Accounts: where a stack's resources live and how Palisade reaches them.

use palisade_provider_kit::config::{AssumeRole, ProviderConfig};
use palisade_provider_kit::value::{map_from_serde, map_to_json};
use serde_json::Value as Json;

/// How Palisade obtains credentials for an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The standard AWS credential chain of the machine (environment, profile, SSO, instance role).
    Ambient,
    /// A named profile from the shared AWS config files.
    Profile(String),
    /// A role assumed with the ambient credentials, e.g. the target account's deployment role.
    AssumeRole {
        /// The role's ARN.
        role_arn: String,
        /// The external id its trust policy requires, if any.
        external_id: Option<String>,
    },
}

/// An AWS account that stacks are deployed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// A short name (`dev`, `staging`, `prod`).
    pub name: String,
    /// The 12-digit account id; every provider refuses to act in any other account.
    pub account_id: String,
    /// The region.
    pub region: String,
    /// How to reach it.
    pub access: Access,
    /// An endpoint that replaces AWS's (a local emulator).
    pub endpoint: Option<String>,
}

impl Account {
    /// An account reached with the ambient credentials.
    pub fn new(name: impl Into<String>, account_id: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            account_id: account_id.into(),
            region: region.into(),
            access: Access::Ambient,
            endpoint: None,
        }
    }

    /// Reach the account by assuming `role_arn`.
    pub fn assume_role(mut self, role_arn: impl Into<String>, external_id: Option<String>) -> Self {
        self.access = Access::AssumeRole {
            role_arn: role_arn.into(),
            external_id,
        };
        self
    }

    /// Reach the account with a named profile.
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.access = Access::Profile(profile.into());
        self
    }

    /// Send every AWS call to `endpoint` (a local emulator).
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The kit's typed provider configuration for this account: what every provider plugin of its
    /// stacks is configured with.
    pub fn configuration(&self) -> ProviderConfig {
        let (profile, assume_role) = match &self.access {
            Access::Ambient => (None, None),
            Access::Profile(profile) => (Some(profile.clone()), None),
            Access::AssumeRole { role_arn, external_id } => (
                None,
                Some(AssumeRole {
                    role_arn: role_arn.clone(),
                    external_id: external_id.clone(),
                    session_name: Some(format!("palisade-{}", self.name)),
                }),
            ),
        };
        ProviderConfig {
            region: Some(self.region.clone()),
            account_id: Some(self.account_id.clone()),
            endpoint: self.endpoint.clone(),
            profile,
            assume_role,
        }
    }

    /// [`Self::configuration`] as `Configure` args: JSON, settings left unset left out.
    pub fn provider_config(&self) -> Json {
        // A plain struct of strings always serialises; were it ever not to, Configure must not
        // go out without the account id every provider checks.
        let typed = serde_json::to_value(self.configuration()).expect("a ProviderConfig serialises to JSON");
        map_to_json(&map_from_serde(&typed)).expect("a serialised ProviderConfig is plain JSON")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn provider_config_says_how_to_reach_the_account() {
        let staging = Account::new("staging", "222222222222", "eu-west-1")
            .assume_role("arn:aws:iam::222222222222:role/deployer", Some("x-1".into()))
            .endpoint("http://127.0.0.1:5000");
        assert_eq!(
            staging.provider_config(),
            json!({
                "region": "eu-west-1",
                "accountId": "222222222222",
                "endpoint": "http://127.0.0.1:5000",
                "assumeRole": {"roleArn": "arn:aws:iam::222222222222:role/deployer", "sessionName": "palisade-staging", "externalId": "x-1"},
            })
        );
    }

    #[test]
    fn a_provider_reads_back_the_configuration_the_account_gives() {
        let accounts = [
            Account::new("dev", "111111111111", "eu-west-1"),
            Account::new("ops", "333333333333", "us-east-1").profile("ops"),
            Account::new("prod", "444444444444", "eu-west-1").assume_role("arn:aws:iam::444444444444:role/d", None),
        ];
        for account in accounts {
            let read: ProviderConfig = serde_json::from_value(account.provider_config()).expect("a provider reads it");
            assert_eq!(read, account.configuration(), "{}", account.name);
        }
    }
}
