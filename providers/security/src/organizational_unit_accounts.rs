//! listOrganizationalUnitAccounts: the ACTIVE accounts of an AWS Organizations organizational unit
//! (optionally of its child units too), which is how a program turns "every account in this OU"
//! into one target stack per account.
//!
//! Organizations answers only the organization's management account or a delegated administrator,
//! so the provider that runs this function must be configured for that account.

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::validate;

/// The function.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListOrganizationalUnitAccounts;

/// Arguments of [`ListOrganizationalUnitAccounts`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationalUnitAccountsArgs {
    /// The organizational unit (`ou-ab12-cd34ef56`).
    #[property(validate = validate::organizational_unit_id)]
    pub organizational_unit_id: String,
    /// Also list the accounts of its child units, at any depth. Default false: only the accounts
    /// directly in the unit.
    #[serde(default)]
    pub recursive: bool,
}

/// One account of an organizational unit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationAccount {
    /// The 12-digit account id.
    pub id: String,
    /// The account's name.
    pub name: String,
    /// The email address of its root user.
    pub email: String,
}

/// Result of [`ListOrganizationalUnitAccounts`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationalUnitAccountsResult {
    /// The unit asked about.
    pub organizational_unit_id: String,
    /// Its ACTIVE accounts (suspended, closing or pending ones are left out), ordered by id.
    pub accounts: Vec<OrganizationAccount>,
}

impl FunctionType for ListOrganizationalUnitAccounts {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "listOrganizationalUnitAccounts";
    const DOC: &'static str = "The ACTIVE accounts (id, name, email) of an AWS Organizations organizational unit, \
                               optionally with those of its child units. Call it with the credentials of the \
                               organization's management account or a delegated administrator.";
    type Args = OrganizationalUnitAccountsArgs;
    type Result = OrganizationalUnitAccountsResult;
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_organizations::types::{AccountState, AccountStatus};
    use aws_sdk_organizations::Client;
    use palisade_provider_kit::prelude::*;

    use super::{
        ListOrganizationalUnitAccounts, OrganizationAccount, OrganizationalUnitAccountsArgs,
        OrganizationalUnitAccountsResult,
    };

    impl Function for ListOrganizationalUnitAccounts {
        async fn invoke(
            &self,
            ctx: &Context,
            args: OrganizationalUnitAccountsArgs,
        ) -> Result<OrganizationalUnitAccountsResult> {
            let client = crate::aws::organizations(ctx).await?;
            let accounts = list_accounts(&client, &args.organizational_unit_id, args.recursive).await?;
            Ok(OrganizationalUnitAccountsResult {
                organizational_unit_id: args.organizational_unit_id,
                accounts,
            })
        }
    }

    /// The ACTIVE accounts of `unit` (and of its descendants when `recursive`), ordered by id.
    pub(super) async fn list_accounts(
        client: &Client,
        unit: &str,
        recursive: bool,
    ) -> Result<Vec<OrganizationAccount>> {
        let mut accounts = Vec::new();
        let mut parents = vec![unit.to_string()];
        while let Some(parent) = parents.pop() {
            let mut next = None;
            loop {
                let page = client
                    .list_accounts_for_parent()
                    .parent_id(&parent)
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(|e| explain(aws_error("ListAccountsForParent", e), &parent))?;
                accounts.extend(
                    page.accounts()
                        .iter()
                        .filter(|a| is_active(a))
                        .map(|a| OrganizationAccount {
                            id: a.id().unwrap_or_default().to_string(),
                            name: a.name().unwrap_or_default().to_string(),
                            email: a.email().unwrap_or_default().to_string(),
                        }),
                );
                next = page.next_token().map(str::to_string);
                if next.is_none() {
                    break;
                }
            }
            if recursive {
                let mut next = None;
                loop {
                    let page = client
                        .list_organizational_units_for_parent()
                        .parent_id(&parent)
                        .set_next_token(next)
                        .send()
                        .await
                        .map_err(|e| explain(aws_error("ListOrganizationalUnitsForParent", e), &parent))?;
                    parents.extend(
                        page.organizational_units()
                            .iter()
                            .filter_map(|u| u.id().map(str::to_string)),
                    );
                    next = page.next_token().map(str::to_string);
                    if next.is_none() {
                        break;
                    }
                }
            }
        }
        accounts.sort();
        accounts.dedup();
        Ok(accounts)
    }

    /// Whether an account is ACTIVE. `State` replaces the older `Status`; an answer with only
    /// `Status` (older services, emulators) is read through it.
    #[allow(deprecated)]
    fn is_active(account: &aws_sdk_organizations::types::Account) -> bool {
        match account.state() {
            Some(state) => *state == AccountState::Active,
            None => account.status() == Some(&AccountStatus::Active),
        }
    }

    /// Organizations' refusals, with what to change: an OU that does not exist (`unit`: the one asked
    /// for, or a child unit that went away during a recursive walk) names the property;
    /// the wrong caller names the account the function must run in. The kinds are the kit's
    /// classification (`ParentNotFoundException` is NotFound, the only thing these calls look up).
    fn explain(error: ProviderError, unit: &str) -> ProviderError {
        let not_in_an_organization =
            matches!(&error, ProviderError::Aws { code, .. } if code == "AWSOrganizationsNotInUseException");
        if error.is_not_found() {
            return ProviderError::invalid(
                "organizationalUnitId",
                format!(
                    "the organization has no organizational unit `{unit}`; check the id (`aws organizations \
                     list-organizational-units-for-parent` lists them), and that the management account \
                     named is this organization's"
                ),
            );
        }
        if not_in_an_organization {
            return error.with_note(
                "the account the function runs in belongs to no organization; run it in the organization's \
                 management account or a delegated administrator",
            );
        }
        if error.is_access_denied() {
            return error.with_note(
                "only the organization's management account or a delegated administrator may list an \
                 organizational unit's accounts; run the function in one of them",
            );
        }
        error
    }
}

#[cfg(all(test, feature = "provider"))]
mod tests {
    use aws_sdk_organizations::error::ErrorMetadata;
    use aws_sdk_organizations::operation::list_accounts_for_parent::{
        ListAccountsForParentError, ListAccountsForParentOutput,
    };
    use aws_sdk_organizations::operation::list_organizational_units_for_parent::ListOrganizationalUnitsForParentOutput;
    use aws_sdk_organizations::types::{Account, AccountState, AccountStatus, OrganizationalUnit};
    use aws_sdk_organizations::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use palisade_provider_kit::prelude::*;

    use super::lifecycle::list_accounts;
    use super::OrganizationAccount;

    const UNIT: &str = "ou-ab12-cd34ef56";
    const CHILD: &str = "ou-ab12-99990000";

    fn account(id: &str, state: Option<AccountState>) -> Account {
        let mut account = Account::builder()
            .id(id)
            .name(format!("team-{id}"))
            .email(format!("{id}@example.com"));
        account = match state {
            Some(state) => account.state(state),
            #[allow(deprecated)]
            None => account.status(AccountStatus::Active),
        };
        account.build()
    }

    fn found(id: &str) -> OrganizationAccount {
        OrganizationAccount {
            id: id.into(),
            name: format!("team-{id}"),
            email: format!("{id}@example.com"),
        }
    }

    #[tokio::test]
    async fn lists_active_accounts_across_pages_and_child_units() {
        let first_page = mock!(Client::list_accounts_for_parent)
            .match_requests(|r| r.parent_id() == Some(UNIT) && r.next_token().is_none())
            .then_output(|| {
                ListAccountsForParentOutput::builder()
                    .accounts(account("333333333333", Some(AccountState::Active)))
                    .accounts(account("444444444444", Some(AccountState::Suspended)))
                    .next_token("page-2")
                    .build()
            });
        let second_page = mock!(Client::list_accounts_for_parent)
            .match_requests(|r| r.parent_id() == Some(UNIT) && r.next_token() == Some("page-2"))
            .then_output(|| {
                ListAccountsForParentOutput::builder()
                    // Only the older `Status` field: still read.
                    .accounts(account("222222222222", None))
                    .build()
            });
        let child_accounts = mock!(Client::list_accounts_for_parent)
            .match_requests(|r| r.parent_id() == Some(CHILD))
            .then_output(|| {
                ListAccountsForParentOutput::builder()
                    .accounts(account("555555555555", Some(AccountState::Active)))
                    .accounts(account("666666666666", Some(AccountState::PendingClosure)))
                    .build()
            });
        let units = mock!(Client::list_organizational_units_for_parent)
            .match_requests(|r| r.parent_id() == Some(UNIT))
            .then_output(|| {
                ListOrganizationalUnitsForParentOutput::builder()
                    .organizational_units(OrganizationalUnit::builder().id(CHILD).name("child").build())
                    .build()
            });
        let no_units = mock!(Client::list_organizational_units_for_parent)
            .match_requests(|r| r.parent_id() == Some(CHILD))
            .then_output(|| ListOrganizationalUnitsForParentOutput::builder().build());
        let client = mock_client!(
            aws_sdk_organizations,
            RuleMode::MatchAny,
            [&first_page, &second_page, &child_accounts, &units, &no_units]
        );

        let direct = list_accounts(&client, UNIT, false).await.expect("lists");
        assert_eq!(direct, [found("222222222222"), found("333333333333")]);
        assert_eq!(units.num_calls(), 0, "not recursive: child units are not asked for");

        let all = list_accounts(&client, UNIT, true).await.expect("lists");
        assert_eq!(
            all,
            [found("222222222222"), found("333333333333"), found("555555555555")]
        );
    }

    #[tokio::test]
    async fn an_unknown_unit_is_an_invalid_organizational_unit_id() {
        let missing = mock!(Client::list_accounts_for_parent).then_error(|| {
            ListAccountsForParentError::generic(
                ErrorMetadata::builder()
                    .code("ParentNotFoundException")
                    .message("You specified parent that doesn't exist.")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_organizations, RuleMode::MatchAny, [&missing]);
        let error = list_accounts(&client, UNIT, false).await.expect_err("no such unit");
        match &error {
            ProviderError::InvalidInput { failures } => {
                let text = failures[0].to_string();
                assert!(text.starts_with("organizationalUnitId"), "{text}");
                assert!(
                    text.contains("the organization has no organizational unit `ou-ab12-cd34ef56`; check the id"),
                    "{text}"
                );
            }
            other => panic!("expected an invalid organizationalUnitId, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn an_account_outside_any_organization_is_told_where_to_run() {
        let alone = mock!(Client::list_accounts_for_parent).then_error(|| {
            ListAccountsForParentError::generic(
                ErrorMetadata::builder()
                    .code("AWSOrganizationsNotInUseException")
                    .message("Your account is not a member of an organization.")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_organizations, RuleMode::MatchAny, [&alone]);
        let text = list_accounts(&client, UNIT, false)
            .await
            .expect_err("no organization")
            .to_string();
        assert!(
            text.starts_with("ListAccountsForParent: AWSOrganizationsNotInUseException: Your account is not a member"),
            "{text}"
        );
        assert!(
            text.contains("belongs to no organization; run it in the organization's management account"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_caller_outside_the_management_account_is_told_where_to_run() {
        let denied = mock!(Client::list_accounts_for_parent).then_error(|| {
            ListAccountsForParentError::generic(
                ErrorMetadata::builder()
                    .code("AccessDeniedException")
                    .message("You don't have permissions to access this resource.")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_organizations, RuleMode::MatchAny, [&denied]);
        let error = list_accounts(&client, UNIT, false).await.expect_err("denied");
        assert!(error.is_access_denied(), "{error:?}");
        let text = error.to_string();
        assert!(
            text.starts_with("ListAccountsForParent: AccessDeniedException: You don't have permissions"),
            "{text}"
        );
        assert!(
            text.contains("management account or a delegated administrator"),
            "{text}"
        );
    }
}
