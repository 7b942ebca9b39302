//! Accounts: where a stack's resources live and how Palisade reaches them.

use serde_json::{json, Value as Json};

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

    /// The provider configuration (`Configure` args) for this account.
    pub fn provider_config(&self) -> Json {
        let mut config = json!({"region": self.region, "accountId": self.account_id});
        if let Some(endpoint) = &self.endpoint {
            config["endpoint"] = endpoint.as_str().into();
        }
        match &self.access {
            Access::Ambient => {}
            Access::Profile(profile) => config["profile"] = profile.as_str().into(),
            Access::AssumeRole { role_arn, external_id } => {
                config["assumeRole"] = json!({"roleArn": role_arn, "sessionName": format!("palisade-{}", self.name)});
                if let Some(external_id) = external_id {
                    config["assumeRole"]["externalId"] = external_id.as_str().into();
                }
            }
        }
        config
    }
}

#[cfg(test)]
mod tests {
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
}
