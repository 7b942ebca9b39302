//! UserProfile: a user of a Studio domain, with the role its apps run as and their security groups.
//!
//! AWS refuses to delete a profile that still has apps, and deleting apps can take many minutes, so
//! Delete first deletes the profile's apps and the spaces it owns (each space after its own apps),
//! waiting for each within the request's timeout and saying what it still waits for, then deletes
//! the profile and waits until it is gone.

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;

use crate::validate;

/// A user profile of a SageMaker Studio domain.
#[derive(Debug, Default, Clone, Copy)]
pub struct UserProfile;

/// Inputs of a [`UserProfile`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct UserProfileArgs {
    /// The id of the domain (`d-...`).
    #[property(replace, validate = validate::domain_id)]
    pub domain_id: String,
    /// The profile's name; chosen from the resource's name when not given.
    #[property(replace, validate = validate::sagemaker_name)]
    pub user_profile_name: Option<String>,
    /// The role this user's apps run as; the domain's default when not given.
    #[property(validate = validate::role_arn)]
    pub execution_role: Option<String>,
    /// Security groups of this user's apps (at most 5), besides the domain's.
    #[property(set, validate = validate::security_group_ids)]
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Outputs of a [`UserProfile`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct UserProfileState {
    #[serde(flatten)]
    pub args: UserProfileArgs,
    /// The profile's ARN.
    pub arn: String,
    /// The POSIX user id of the profile's directory on the domain's home EFS.
    pub home_efs_file_system_uid: Option<String>,
}

impl ResourceType for UserProfile {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "UserProfile";
    const DOC: &'static str = "A user profile of a Studio domain. Its execution role and security groups change \
                               in place; Delete first deletes the profile's apps and waits for them.";
    const HOLDS_DATA: Option<&'static str> = Some("the user's Studio profile, its apps and its private spaces");
    const AUTONAME: Option<AutoName> = Some(AutoName {
        property: "userProfileName",
        max_len: 63,
        lowercase: false,
    });
    type Inputs = UserProfileArgs;
    type Outputs = UserProfileState;
}

/// The physical id of a profile: `<domainId>/<userProfileName>` (a name cannot hold `/`).
pub fn profile_id(domain_id: &str, name: &str) -> String {
    format!("{domain_id}/{name}")
}

/// The domain id and profile name in a physical id.
pub fn parse_profile_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/').filter(|(d, n)| !d.is_empty() && !n.is_empty())
}

#[cfg(feature = "provider")]
pub(crate) mod lifecycle {
    use aws_sdk_sagemaker::operation::describe_user_profile::DescribeUserProfileOutput;
    use aws_sdk_sagemaker::types::{AppDetails, AppStatus, SpaceDetails, SpaceStatus, UserProfileStatus, UserSettings};
    use aws_sdk_sagemaker::Client;
    use palisade_provider_kit::prelude::*;

    use super::{parse_profile_id, profile_id, UserProfile, UserProfileArgs, UserProfileState};
    use palisade_provider_kit::sagemaker;

    fn split(id: &str) -> Result<(&str, &str)> {
        parse_profile_id(id).ok_or_else(|| {
            ProviderError::invalid(
                "id",
                format!("{id:?} is not a user profile id; expected `<domainId>/<userProfileName>`"),
            )
        })
    }

    impl Resource for UserProfile {
        /// The profile of the declared name in the domain, when this URN made it (CreateUserProfile
        /// takes no idempotency token; the name is what an interrupted create leaves, and a plain
        /// retry would fail with ResourceInUse forever). A profile of that name that is not ours is
        /// refused.
        async fn owned(&self, ctx: &Context, inputs: &UserProfileArgs) -> Result<Vec<String>> {
            let Some(name) = &inputs.user_profile_name else {
                return Ok(Vec::new());
            };
            owned_profile(&sagemaker::client(ctx).await?, ctx, &inputs.domain_id, name).await
        }

        async fn create(
            &self,
            ctx: &Context,
            request: CreateRequest<UserProfileArgs>,
        ) -> Result<Created<UserProfileState>> {
            let sagemaker = sagemaker::client(ctx).await?;
            let args = request.inputs;
            let name = args.user_profile_name.clone().unwrap_or_default();
            let created = sagemaker
                .create_user_profile()
                .domain_id(&args.domain_id)
                .user_profile_name(&name)
                .user_settings(user_settings(&args))
                .set_tags(Some(sagemaker::owned_tags(ctx, &args.tags)))
                .send()
                .await
                .map_err(|e| aws_error("CreateUserProfile", e));
            match created {
                Ok(_) => {}
                // An earlier attempt of this very create got through: adopt it if it is ours.
                Err(error) if error.is_already_exists() => {
                    if owned_profile(&sagemaker, ctx, &args.domain_id, &name).await?.is_empty() {
                        return Err(error);
                    }
                }
                Err(error) => return Err(error),
            }
            wait_in_service(&sagemaker, ctx, &args.domain_id, &name).await?;
            let id = profile_id(&args.domain_id, &name);
            let outputs = read(&sagemaker, &args.domain_id, &name)
                .await?
                .ok_or(ProviderError::NotFound {
                    kind: "user profile",
                    id: id.clone(),
                })?;
            Ok(Created { id, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<UserProfileArgs, UserProfileState>,
        ) -> Result<Option<UserProfileState>> {
            let (domain_id, name) = split(&request.id)?;
            read(&sagemaker::client(ctx).await?, domain_id, name).await
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<UserProfileArgs, UserProfileState>,
        ) -> Result<UserProfileState> {
            let sagemaker = sagemaker::client(ctx).await?;
            let (domain_id, name) = split(&request.id)?;
            let (olds, news) = (&request.olds.args, &request.news);
            if olds.execution_role.is_some() && news.execution_role.is_none() {
                // UpdateUserProfile only sets settings; leaving the role out keeps the old one.
                return Err(ProviderError::invalid(
                    "executionRole",
                    "AWS cannot remove a user profile's execution role; name a role (the domain's default \
                     execution role to behave as before it was set), or replace the profile",
                ));
            }
            if olds.execution_role != news.execution_role || olds.security_groups != news.security_groups {
                sagemaker
                    .update_user_profile()
                    .domain_id(domain_id)
                    .user_profile_name(name)
                    .user_settings(user_settings(news))
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateUserProfile", e))?;
                wait_in_service(&sagemaker, ctx, domain_id, name).await?;
            }
            sagemaker::update_tags(&sagemaker, &request.olds.arn, &olds.tags, &news.tags).await?;
            read(&sagemaker, domain_id, name).await?.ok_or(ProviderError::NotFound {
                kind: "user profile",
                id: request.id.clone(),
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<UserProfileState>) -> Result<()> {
            let sagemaker = sagemaker::client(ctx).await?;
            let (domain_id, name) = split(&request.id)?;
            delete_apps(&sagemaker, ctx, domain_id, Owner::Profile(name)).await?;
            delete_spaces(&sagemaker, ctx, domain_id, name).await?;
            let deleted = sagemaker
                .delete_user_profile()
                .domain_id(domain_id)
                .user_profile_name(name)
                .send()
                .await
                .map_err(|e| aws_error("DeleteUserProfile", e));
            if deleted.or_gone()?.is_none() {
                return Ok(());
            }
            wait_gone(&sagemaker, ctx, domain_id, name).await
        }
    }

    fn user_settings(args: &UserProfileArgs) -> UserSettings {
        UserSettings::builder()
            .set_execution_role(args.execution_role.clone())
            .set_security_groups(Some(args.security_groups.clone()))
            .build()
    }

    /// `[id]` when the profile `name` of the domain is this URN's; a refusal when it is someone
    /// else's.
    async fn owned_profile(sagemaker: &Client, ctx: &Context, domain_id: &str, name: &str) -> Result<Vec<String>> {
        let Some(profile) = describe(sagemaker, domain_id, name).await? else {
            return Ok(Vec::new());
        };
        let arn = profile.user_profile_arn().unwrap_or_default();
        if sagemaker::has_ownership_tag(sagemaker, arn, &ctx.urn).await? {
            return Ok(vec![profile_id(domain_id, name)]);
        }
        Err(ProviderError::name_taken(
            "CreateUserProfile",
            format_args!("a user profile named {name} in domain {domain_id} ({arn})"),
            "Palisade did not create it for this resource",
            "userProfileName",
        ))
    }

    async fn describe(sagemaker: &Client, domain_id: &str, name: &str) -> Result<Option<DescribeUserProfileOutput>> {
        sagemaker
            .describe_user_profile()
            .domain_id(domain_id)
            .user_profile_name(name)
            .send()
            .await
            .map_err(|e| aws_error("DescribeUserProfile", e))
            .or_gone()
    }

    fn failed(
        domain_id: &str,
        name: &str,
        profile: &DescribeUserProfileOutput,
        status: &UserProfileStatus,
    ) -> ProviderError {
        ProviderError::Failed {
            kind: "user profile",
            id: profile_id(domain_id, name),
            state: status.as_str().to_string(),
            reason: profile
                .failure_reason()
                .filter(|r| !r.is_empty())
                .unwrap_or("AWS gave no reason")
                .to_string(),
        }
    }

    /// Waits until the profile is InService (after a create or an update).
    pub(crate) async fn wait_in_service(sagemaker: &Client, ctx: &Context, domain_id: &str, name: &str) -> Result<()> {
        let what = format!("user profile {name} of Studio domain {domain_id} to be InService");
        ctx.wait_until(&what, || async {
            let Some(profile) = describe(sagemaker, domain_id, name).await? else {
                return Err(ProviderError::NotFound {
                    kind: "user profile",
                    id: profile_id(domain_id, name),
                });
            };
            let status = profile.status().cloned().unwrap_or(UserProfileStatus::Pending);
            match status {
                UserProfileStatus::InService => Ok(Progress::Done(())),
                UserProfileStatus::Pending | UserProfileStatus::Updating => {
                    Ok(Progress::Pending(status.as_str().to_string()))
                }
                other => Err(failed(domain_id, name, &profile, &other)),
            }
        })
        .await
    }

    /// Waits until the profile no longer exists.
    async fn wait_gone(sagemaker: &Client, ctx: &Context, domain_id: &str, name: &str) -> Result<()> {
        let what = format!("user profile {name} of Studio domain {domain_id} to be deleted");
        ctx.wait_until(&what, || async {
            let Some(profile) = describe(sagemaker, domain_id, name).await? else {
                return Ok(Progress::Done(()));
            };
            let status = profile.status().cloned().unwrap_or(UserProfileStatus::Deleting);
            match status {
                UserProfileStatus::DeleteFailed => Err(failed(domain_id, name, &profile, &status)),
                other => Ok(Progress::Pending(other.as_str().to_string())),
            }
        })
        .await
    }

    /// Whose apps: a user profile's or a space's.
    #[derive(Debug, Clone, Copy)]
    pub(crate) enum Owner<'a> {
        /// The apps of a user profile.
        Profile(&'a str),
        /// The apps of a space.
        Space(&'a str),
    }

    impl std::fmt::Display for Owner<'_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Owner::Profile(name) => write!(f, "user profile {name}"),
                Owner::Space(name) => write!(f, "space {name}"),
            }
        }
    }

    /// The owner's apps that are not Deleted yet.
    async fn live_apps(sagemaker: &Client, domain_id: &str, owner: Owner<'_>) -> Result<Vec<AppDetails>> {
        let mut apps = Vec::new();
        let mut next = None;
        loop {
            let request = sagemaker.list_apps().domain_id_equals(domain_id).set_next_token(next);
            let request = match owner {
                Owner::Profile(name) => request.user_profile_name_equals(name),
                Owner::Space(name) => request.space_name_equals(name),
            };
            let page = request.send().await.map_err(|e| aws_error("ListApps", e))?;
            apps.extend(
                page.apps()
                    .iter()
                    .filter(|a| a.status() != Some(&AppStatus::Deleted))
                    .cloned(),
            );
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                return Ok(apps);
            }
        }
    }

    fn describe_apps(apps: &[AppDetails]) -> String {
        let listed: Vec<String> = apps
            .iter()
            .map(|a| {
                format!(
                    "{} {}: {}",
                    a.app_type().map(|t| t.as_str()).unwrap_or("app"),
                    a.app_name().unwrap_or_default(),
                    a.status().map(|s| s.as_str()).unwrap_or("unknown")
                )
            })
            .collect();
        format!("{} left ({})", apps.len(), listed.join(", "))
    }

    /// Deletes the owner's apps (AWS refuses to delete a profile or space that has any) and waits
    /// until they are all Deleted, within the request's timeout.
    pub(crate) async fn delete_apps(
        sagemaker: &Client,
        ctx: &Context,
        domain_id: &str,
        owner: Owner<'_>,
    ) -> Result<()> {
        for app in live_apps(sagemaker, domain_id, owner).await? {
            if app.status() == Some(&AppStatus::Deleting) {
                continue;
            }
            let request = sagemaker
                .delete_app()
                .domain_id(domain_id)
                .set_app_type(app.app_type().cloned())
                .set_app_name(app.app_name().map(str::to_string));
            let request = match owner {
                Owner::Profile(name) => request.user_profile_name(name),
                Owner::Space(name) => request.space_name(name),
            };
            request.send().await.map_err(|e| aws_error("DeleteApp", e)).or_gone()?;
        }
        let what = format!("apps of {owner} of Studio domain {domain_id} to be deleted");
        ctx.wait_until(&what, || async {
            let apps = live_apps(sagemaker, domain_id, owner).await?;
            Ok(if apps.is_empty() {
                Progress::Done(())
            } else {
                Progress::Pending(describe_apps(&apps))
            })
        })
        .await
    }

    /// The spaces of the domain that user profile `profile` owns (AWS refuses to delete a profile
    /// that still owns spaces).
    async fn owned_spaces(sagemaker: &Client, domain_id: &str, profile: &str) -> Result<Vec<SpaceDetails>> {
        let mut spaces = Vec::new();
        let mut next = None;
        loop {
            let page = sagemaker
                .list_spaces()
                .domain_id_equals(domain_id)
                .set_next_token(next)
                .send()
                .await
                .map_err(|e| aws_error("ListSpaces", e))?;
            spaces.extend(
                page.spaces()
                    .iter()
                    .filter(|s| {
                        s.ownership_settings_summary().and_then(|o| o.owner_user_profile_name()) == Some(profile)
                    })
                    .cloned(),
            );
            next = page.next_token().map(str::to_string);
            if next.is_none() {
                return Ok(spaces);
            }
        }
    }

    /// Deletes the spaces the profile owns, each after its apps, and waits until they are gone.
    pub(crate) async fn delete_spaces(sagemaker: &Client, ctx: &Context, domain_id: &str, profile: &str) -> Result<()> {
        for space in owned_spaces(sagemaker, domain_id, profile).await? {
            let name = space.space_name().unwrap_or_default();
            if space.status() == Some(&SpaceStatus::Deleting) {
                continue;
            }
            delete_apps(sagemaker, ctx, domain_id, Owner::Space(name)).await?;
            sagemaker
                .delete_space()
                .domain_id(domain_id)
                .space_name(name)
                .send()
                .await
                .map_err(|e| aws_error("DeleteSpace", e))
                .or_gone()?;
        }
        let what = format!("spaces owned by user profile {profile} of Studio domain {domain_id} to be deleted");
        ctx.wait_until(&what, || async {
            let spaces = owned_spaces(sagemaker, domain_id, profile).await?;
            if spaces.is_empty() {
                return Ok(Progress::Done(()));
            }
            let listed: Vec<String> = spaces
                .iter()
                .map(|s| {
                    format!(
                        "{}: {}",
                        s.space_name().unwrap_or_default(),
                        s.status().map(|st| st.as_str()).unwrap_or("unknown")
                    )
                })
                .collect();
            Ok(Progress::Pending(format!(
                "{} left ({})",
                spaces.len(),
                listed.join(", ")
            )))
        })
        .await
    }

    async fn read(sagemaker: &Client, domain_id: &str, name: &str) -> Result<Option<UserProfileState>> {
        let Some(profile) = describe(sagemaker, domain_id, name).await? else {
            return Ok(None);
        };
        let arn = profile.user_profile_arn().unwrap_or_default().to_string();
        let settings = profile.user_settings();
        let mut security_groups: Vec<String> = settings.map(|s| s.security_groups().to_vec()).unwrap_or_default();
        security_groups.sort();
        Ok(Some(UserProfileState {
            args: UserProfileArgs {
                domain_id: domain_id.to_string(),
                user_profile_name: Some(name.to_string()),
                execution_role: settings.and_then(|s| s.execution_role()).map(str::to_string),
                security_groups,
                tags: sagemaker::user_tags_of(sagemaker, &arn).await?,
            },
            home_efs_file_system_uid: profile.home_efs_file_system_uid().map(str::to_string),
            arn,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_ids_round_trip() {
        let id = profile_id("d-abc", "alice");
        assert_eq!(parse_profile_id(&id), Some(("d-abc", "alice")));
        assert_eq!(parse_profile_id("alice"), None);
        assert_eq!(parse_profile_id("/alice"), None);
    }
}

#[cfg(all(test, feature = "provider"))]
mod lifecycle_tests {
    use std::time::Duration;

    use aws_sdk_sagemaker::operation::delete_app::DeleteAppOutput;
    use aws_sdk_sagemaker::operation::list_apps::ListAppsOutput;
    use aws_sdk_sagemaker::types::{AppDetails, AppStatus, AppType};
    use aws_sdk_sagemaker::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use palisade_provider_kit::ProviderError;

    use super::lifecycle::{delete_apps, Owner};
    use crate::testing::context;

    fn app(app_type: AppType, name: &str, status: AppStatus) -> AppDetails {
        AppDetails::builder()
            .domain_id("d-1")
            .user_profile_name("alice")
            .app_type(app_type)
            .app_name(name)
            .status(status)
            .build()
    }

    #[tokio::test]
    async fn app_deletion_that_outlasts_the_timeout_says_which_apps_remain() {
        // One app is deleted by us, one was already Deleting, one is long gone; the two never finish.
        let listed = mock!(Client::list_apps).then_output(|| {
            ListAppsOutput::builder()
                .apps(app(AppType::JupyterServer, "default", AppStatus::Deleting))
                .apps(app(AppType::KernelGateway, "datascience", AppStatus::InService))
                .apps(app(AppType::KernelGateway, "old", AppStatus::Deleted))
                .build()
        });
        let deleted = mock!(Client::delete_app)
            .match_requests(|r| r.app_name() == Some("datascience"))
            .then_output(|| DeleteAppOutput::builder().build());
        let sagemaker = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, &[&listed, &deleted]);
        let error = delete_apps(
            &sagemaker,
            &context(Duration::from_millis(50)),
            "d-1",
            Owner::Profile("alice"),
        )
        .await
        .expect_err("apps never go");
        assert_eq!(
            deleted.num_calls(),
            1,
            "only the live app is deleted; Deleting and Deleted ones are not"
        );
        match &error {
            ProviderError::Timeout {
                waiting_for,
                last_state,
                ..
            } => {
                assert_eq!(
                    waiting_for,
                    "apps of user profile alice of Studio domain d-1 to be deleted"
                );
                assert_eq!(
                    last_state,
                    "2 left (JupyterServer default: Deleting, KernelGateway datascience: InService)"
                );
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_profile_without_apps_needs_no_wait() {
        let listed = mock!(Client::list_apps).then_output(|| ListAppsOutput::builder().build());
        let sagemaker = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, &[&listed]);
        delete_apps(
            &sagemaker,
            &context(Duration::from_millis(50)),
            "d-1",
            Owner::Profile("alice"),
        )
        .await
        .expect("nothing to wait for");
        assert_eq!(listed.num_calls(), 2, "listed once to delete, once to confirm");
    }
}
