//! Targets from an AWS Organizations organizational unit: looking up the unit's ACTIVE accounts
//! (through the security provider's `listOrganizationalUnitAccounts`, in the management account)
//! before the stacks are declared, and finding the target stacks that accounts which left left
//! behind.
//!
//! The engine plans only the stacks a program declares: a stack that is no longer declared keeps its
//! state and its resources, and nothing in a plan mentions it. So an account that leaves the unit
//! drops out of dev's grants in the next plan, while its own stack is reported here, with the
//! command that retires it (`destroy --stack <name>`, for which the program declares it again,
//! empty, so that the engine deletes what its state holds).

use std::collections::BTreeMap;

use palisade::security::{ListOrganizationalUnitAccounts, OrganizationalUnitAccountsArgs};
use palisade::state::StateError;
use palisade::{Hosts, Stack, StateStore};

use crate::config::{Config, ConfigError, DEV_STACK};

/// Why the targets could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum OrganizationError {
    /// The unit's accounts could not be listed.
    #[error(
        "configuration `targets.organizationalUnit`: listing the accounts of {unit} in account {account}: {source}"
    )]
    Lookup {
        /// The unit.
        unit: String,
        /// The account the lookup ran in.
        account: String,
        /// What the provider answered.
        #[source]
        source: palisade::host::HostError,
    },
    /// The resolved targets do not fit together.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The existing stacks' states could not be read.
    #[error(transparent)]
    State(#[from] StateError),
}

/// `config` with the targets of its organizational unit, looked up in its management account; a
/// configuration that lists its targets is returned as it is. An account whose stack already has
/// resources in `store` keeps that stack's name.
pub async fn resolve(config: Config, hosts: &Hosts, store: &StateStore) -> Result<Config, OrganizationError> {
    let Some(organization) = &config.organization else {
        return Ok(config);
    };
    let known = existing_stacks(&config, store)?;
    let account = config.management_account();
    let args = OrganizationalUnitAccountsArgs::new(organization.organizational_unit.clone())
        .with_recursive(organization.recursive);
    let found = hosts
        .call::<ListOrganizationalUnitAccounts>(&account, &args)
        .await
        .map_err(|source| OrganizationError::Lookup {
            unit: organization.organizational_unit.clone(),
            account: account.account_id.clone(),
            source,
        })?;
    Ok(config.with_organization_stacks(&found.accounts, &known)?)
}

/// Account id to stack name of this environment's target stacks that hold resources.
fn existing_stacks(config: &Config, store: &StateStore) -> Result<BTreeMap<String, String>, StateError> {
    let mut known = BTreeMap::new();
    for state in store.stacks(&config.environment)? {
        if state.stack != DEV_STACK && !state.resources.is_empty() {
            known.entry(state.account_id).or_insert(state.stack);
        }
    }
    Ok(known)
}

/// A target stack that is no longer declared but whose resources still exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retired {
    /// The stack's name.
    pub stack: String,
    /// The account its resources are in.
    pub account_id: String,
    /// How many resources its state holds.
    pub resources: usize,
}

/// The stacks of this environment that have resources in their state but are not declared by
/// `config` (dev and its resolved targets).
pub fn retired(config: &Config, store: &StateStore) -> Result<Vec<Retired>, StateError> {
    let declared = |stack: &str| stack == DEV_STACK || config.targets.iter().any(|t| t.name == stack);
    Ok(store
        .stacks(&config.environment)?
        .into_iter()
        .filter(|state| !declared(&state.stack) && !state.resources.is_empty())
        .map(|state| Retired {
            stack: state.stack,
            account_id: state.account_id,
            resources: state.resources.len(),
        })
        .collect())
}

impl Retired {
    /// What the user is told about it, with the command that retires it.
    pub fn note(&self, config: &Config) -> String {
        let Self {
            stack,
            account_id,
            resources,
        } = self;
        match &config.organization {
            Some(organization) => format!(
                "target `{stack}` (account {account_id}) left {}: its stack is no longer declared and its {resources} resources still exist; retire it with `secure-mlops destroy --stack {stack}`",
                organization.organizational_unit
            ),
            None => format!(
                "target `{stack}` (account {account_id}) is no longer in `targets`: its stack is no longer declared and its {resources} resources still exist; to retire it, put it back in `targets`, run `secure-mlops destroy --stack {stack}`, then remove it again"
            ),
        }
    }

    /// The stack declared again without resources, so that `destroy --stack <name>` deletes what
    /// its state holds. Only for targets of an organizational unit, whose accounts are all reached
    /// the same way (the unit's role); a target removed from a list needs its entry back.
    pub fn stack(&self, config: &Config) -> Option<Stack> {
        let organization = config.organization.as_ref()?;
        let mut account = palisade::Account::new(&self.stack, &self.account_id, &config.region)
            .assume_role(organization.role_arn(&self.account_id), None);
        if let Some(endpoint) = &config.endpoint {
            account = account.endpoint(endpoint);
        }
        Some(Stack::new(&self.stack, account).project(&config.environment))
    }
}

#[cfg(test)]
mod tests {
    use palisade::security::OrganizationAccount;
    use palisade::state::{ResourceState, StackState};

    use super::*;

    fn organization_config() -> Config {
        let mut json: serde_json::Value =
            serde_json::from_str(include_str!("../environment.example.json")).expect("JSON");
        json["targets"] = serde_json::json!({
            "organizationalUnit": "ou-ab12-cd34ef56",
            "template": {
                "network": {
                    "vpcCidr": "10.40.0.0/16",
                    "subnets": [{"cidr": "10.40.1.0/24", "zone": "a"}, {"cidr": "10.40.2.0/24", "zone": "b"}]
                }
            }
        });
        Config::from_json(&json.to_string()).expect("parses")
    }

    fn member(id: &str, name: &str) -> OrganizationAccount {
        OrganizationAccount {
            id: id.into(),
            name: name.into(),
            email: format!("{id}@example.com"),
        }
    }

    fn state_with_resources(project: &str, stack: &str, account_id: &str, count: usize) -> StackState {
        let mut state = StackState::new(project, stack, account_id);
        for i in 0..count {
            state.upsert(ResourceState {
                urn: format!("urn:pulumi:{stack}::{project}::palisade-network:index:Vpc::v{i}"),
                token: "palisade-network:index:Vpc".into(),
                ..ResourceState::default()
            });
        }
        state
    }

    #[test]
    fn a_stack_with_resources_that_is_no_longer_declared_is_retired_with_its_command() {
        let dir = std::env::temp_dir().join(format!("palisade-retired-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = StateStore::new(&dir);
        let config = organization_config()
            .with_organization_accounts(&[member("222222222222", "team-a")])
            .expect("resolves");
        for state in [
            state_with_resources("churn", "dev", "111111111111", 2),
            state_with_resources("churn", "team-a", "222222222222", 3),
            state_with_resources("churn", "team-b", "333333333333", 4),
            // Destroyed already: its state is empty.
            state_with_resources("churn", "team-c", "444444444444", 0),
            // Another environment's.
            state_with_resources("other", "team-d", "555555555555", 1),
        ] {
            store.save(&state).expect("save");
        }

        let retired = retired(&config, &store).expect("lists");
        assert_eq!(
            retired,
            [Retired {
                stack: "team-b".into(),
                account_id: "333333333333".into(),
                resources: 4,
            }]
        );
        assert_eq!(
            retired[0].note(&config),
            "target `team-b` (account 333333333333) left ou-ab12-cd34ef56: its stack is no longer declared and its 4 resources still exist; retire it with `secure-mlops destroy --stack team-b`"
        );
        let stack = retired[0].stack(&config).expect("an organizational unit's target");
        assert_eq!((stack.name.as_str(), stack.resources.len()), ("team-b", 0));
        assert_eq!(stack.account.account_id, "333333333333");
        assert!(
            format!("{:?}", stack.account).contains("arn:aws:iam::333333333333:role/OrganizationAccountAccessRole"),
            "reached through the unit's role: {:?}",
            stack.account
        );

        // A target removed from a list cannot be reached without its entry.
        let listed = Config::local();
        let gone = Retired {
            stack: "qa".into(),
            account_id: "444444444444".into(),
            resources: 1,
        };
        assert!(gone.stack(&listed).is_none());
        assert!(gone.note(&listed).contains("put it back in `targets`"));
    }
}
