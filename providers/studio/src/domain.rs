//! Domain: a SageMaker Studio domain, private by default (`VpcOnly`), with its home EFS encrypted
//! by a customer key.
//!
//! Everything that fixes where the domain lives (VPC, subnets, key, auth and network mode) forces
//! replacement; the default user settings change in place. What happens to the home EFS on delete
//! is explicit (`homeEfsRetention`, default `Delete`): a retained EFS keeps its mount targets, and
//! those block later deletes of the subnets and VPC.

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;
use serde_json::Value as Json;

use crate::validate;

/// A SageMaker Studio domain.
#[derive(Debug, Default, Clone, Copy)]
pub struct Domain;

/// Settings every user profile of the domain starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct DefaultUserSettings {
    /// The role Studio apps run as, unless a profile names its own.
    #[property(validate = validate::role_arn)]
    pub execution_role: String,
    /// Security groups of the apps' network interfaces in the VPC (at most 5).
    #[property(set, validate = validate::security_group_ids)]
    #[serde(default)]
    pub security_groups: Vec<String>,
}

/// Inputs of a [`Domain`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct DomainArgs {
    /// The domain's name; chosen from the resource's name when not given.
    #[property(replace, validate = validate::sagemaker_name)]
    pub domain_name: Option<String>,
    /// How users sign in: `IAM` (default) or `SSO`.
    #[property(replace, validate = auth_mode)]
    #[serde(default = "default_auth_mode")]
    pub auth_mode: String,
    /// `VpcOnly` (default: all traffic through the VPC, no internet) or `PublicInternetOnly`.
    #[property(replace, validate = app_network_access_type)]
    #[serde(default = "default_app_network_access_type")]
    pub app_network_access_type: String,
    /// The VPC the apps' network interfaces live in.
    #[property(replace, validate = validate::vpc_id)]
    pub vpc_id: String,
    /// Subnets of `vpcId` for the apps (private ones in VpcOnly mode).
    #[property(replace, set, validate = validate::subnet_ids)]
    pub subnet_ids: Vec<String>,
    /// The KMS key (id or ARN) that encrypts the home EFS; AWS's own key when not given.
    #[property(replace)]
    pub kms_key_id: Option<String>,
    /// Settings every user profile starts from; changed in place.
    pub default_user_settings: DefaultUserSettings,
    /// What becomes of the home EFS when the domain is deleted: `Delete` (default) or `Retain`.
    #[property(validate = retention)]
    #[serde(default = "default_retention")]
    pub home_efs_retention: String,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn default_auth_mode() -> String {
    "IAM".into()
}

fn default_app_network_access_type() -> String {
    "VpcOnly".into()
}

fn default_retention() -> String {
    "Delete".into()
}

fn auth_mode(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some("IAM" | "SSO") => Ok(()),
        _ => Err(format!("{value} is not an auth mode; expected `IAM` or `SSO`")),
    }
}

fn app_network_access_type(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some("VpcOnly" | "PublicInternetOnly") => Ok(()),
        _ => Err(format!(
            "{value} is not an app network access type; expected `VpcOnly` (private) or `PublicInternetOnly`"
        )),
    }
}

fn retention(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some("Delete" | "Retain") => Ok(()),
        _ => Err(format!(
            "{value} is not a retention; expected `Delete` (remove the home EFS with the domain) or `Retain`"
        )),
    }
}

/// Outputs of a [`Domain`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct DomainState {
    #[serde(flatten)]
    pub args: DomainArgs,
    /// The domain's id (`d-...`).
    pub domain_id: String,
    /// The domain's ARN.
    pub arn: String,
    /// The Studio URL of the domain.
    pub url: String,
    /// The id of the domain's home EFS.
    pub home_efs_file_system_id: Option<String>,
    /// The security group that bounds traffic between the domain and its home EFS.
    pub security_group_id_for_domain_boundary: Option<String>,
}

impl ResourceType for Domain {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "Domain";
    const DOC: &'static str = "A SageMaker Studio domain, VpcOnly by default, with its home EFS encrypted by a \
                               customer key. Default user settings change in place; the home EFS is deleted \
                               with the domain unless `homeEfsRetention` is `Retain`.";
    const HOLDS_DATA: Option<&'static str> =
        Some("the Studio domain and its users' home directories (the EFS volume, unless retained)");
    const AUTONAME: Option<AutoName> = Some(AutoName {
        property: "domainName",
        max_len: 63,
        lowercase: false,
    });
    type Inputs = DomainArgs;
    type Outputs = DomainState;

    fn validate(inputs: &DomainArgs) -> Vec<CheckFailure> {
        let mut failures = Vec::new();
        if inputs.app_network_access_type == "VpcOnly" && inputs.default_user_settings.security_groups.is_empty() {
            failures.push(CheckFailure::new(
                "defaultUserSettings.securityGroups",
                "a VpcOnly domain needs at least one security group for its apps; give the SageMaker \
                 security group of the VPC",
            ));
        }
        failures
    }
}

#[cfg(feature = "provider")]
pub(crate) mod lifecycle {
    use aws_sdk_sagemaker::operation::describe_domain::DescribeDomainOutput;
    use aws_sdk_sagemaker::types::{
        AppNetworkAccessType, AuthMode, DomainStatus, RetentionPolicy, RetentionType, UserSettings,
    };
    use aws_sdk_sagemaker::Client;
    use palisade_provider_kit::prelude::*;

    use super::{DefaultUserSettings, Domain, DomainArgs, DomainState};
    use palisade_provider_kit::sagemaker;

    impl Resource for Domain {
        /// Domains carrying this URN's ownership tag (left by an interrupted create); AWS has no
        /// idempotency token for CreateDomain, and a retry would clash on the name.
        async fn owned(&self, ctx: &Context, _inputs: &Self::Inputs) -> Result<Vec<String>> {
            let sagemaker = sagemaker::client(ctx).await?;
            let mut owned = Vec::new();
            let mut next = None;
            loop {
                let page = sagemaker
                    .list_domains()
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(|e| aws_error("ListDomains", e))?;
                for domain in page.domains() {
                    if matches!(domain.status(), Some(DomainStatus::Deleting)) {
                        continue;
                    }
                    let (Some(id), Some(arn)) = (domain.domain_id(), domain.domain_arn()) else {
                        continue;
                    };
                    if sagemaker::has_ownership_tag(&sagemaker, arn, &ctx.urn).await? {
                        owned.push(id.to_string());
                    }
                }
                next = page.next_token().map(str::to_string);
                if next.is_none() {
                    return Ok(owned);
                }
            }
        }

        async fn create(&self, ctx: &Context, request: CreateRequest<DomainArgs>) -> Result<Created<DomainState>> {
            let sagemaker = sagemaker::client(ctx).await?;
            let args = request.inputs;
            let arn = sagemaker
                .create_domain()
                .domain_name(args.domain_name.clone().unwrap_or_default())
                .auth_mode(AuthMode::from(args.auth_mode.as_str()))
                .app_network_access_type(AppNetworkAccessType::from(args.app_network_access_type.as_str()))
                .vpc_id(&args.vpc_id)
                .set_subnet_ids(Some(args.subnet_ids.clone()))
                .set_kms_key_id(args.kms_key_id.clone())
                .default_user_settings(user_settings(&args.default_user_settings))
                .set_tags(Some(sagemaker::owned_tags(ctx, &args.tags)))
                .send()
                .await
                .map_err(|e| aws_error("CreateDomain", e))?
                .domain_arn()
                .unwrap_or_default()
                .to_string();
            // The id is the last part of the ARN (`arn:aws:sagemaker:<region>:<account>:domain/d-...`).
            let id = arn.rsplit('/').next().unwrap_or_default().to_string();
            wait_in_service(&sagemaker, ctx, &id).await?;
            let outputs = read(&sagemaker, &id, &args.home_efs_retention)
                .await?
                .ok_or(ProviderError::NotFound {
                    kind: "Studio domain",
                    id: id.clone(),
                })?;
            Ok(Created { id, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<DomainArgs, DomainState>,
        ) -> Result<Option<DomainState>> {
            // The retention is ours, not AWS's: it is kept from the state (default on import).
            let retention = request
                .outputs
                .map(|o| o.args.home_efs_retention)
                .or(request.inputs.map(|i| i.home_efs_retention))
                .unwrap_or_else(super::default_retention);
            read(&sagemaker::client(ctx).await?, &request.id, &retention).await
        }

        async fn update(&self, ctx: &Context, request: UpdateRequest<DomainArgs, DomainState>) -> Result<DomainState> {
            let sagemaker = sagemaker::client(ctx).await?;
            let news = &request.news;
            if news.default_user_settings != request.olds.args.default_user_settings {
                sagemaker
                    .update_domain()
                    .domain_id(&request.id)
                    .default_user_settings(user_settings(&news.default_user_settings))
                    .send()
                    .await
                    .map_err(|e| aws_error("UpdateDomain", e))?;
                wait_in_service(&sagemaker, ctx, &request.id).await?;
            }
            sagemaker::update_tags(&sagemaker, &request.olds.arn, &request.olds.args.tags, &news.tags).await?;
            read(&sagemaker, &request.id, &news.home_efs_retention)
                .await?
                .ok_or(ProviderError::NotFound {
                    kind: "Studio domain",
                    id: request.id,
                })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<DomainState>) -> Result<()> {
            let sagemaker = sagemaker::client(ctx).await?;
            let retention = RetentionType::from(request.outputs.args.home_efs_retention.as_str());
            let deleted = sagemaker
                .delete_domain()
                .domain_id(&request.id)
                .retention_policy(RetentionPolicy::builder().home_efs_file_system(retention).build())
                .send()
                .await
                .map_err(|e| aws_error("DeleteDomain", e));
            match deleted.or_gone() {
                Ok(_) => {}
                Err(error) if error.is_dependency_violation() => {
                    let profiles = profile_names(&sagemaker, &request.id).await.unwrap_or_default();
                    let why = if profiles.is_empty() {
                        "no user profiles are left; shared spaces, or a delete already under way, may hold it"
                            .to_string()
                    } else {
                        format!(
                            "the domain still has user profiles: {}; delete them, and their apps and spaces, first",
                            profiles.join(", ")
                        )
                    };
                    return Err(error.with_note(why));
                }
                Err(other) => return Err(other),
            }
            wait_gone(&sagemaker, ctx, &request.id).await
        }
    }

    fn user_settings(settings: &DefaultUserSettings) -> UserSettings {
        UserSettings::builder()
            .execution_role(&settings.execution_role)
            .set_security_groups(Some(settings.security_groups.clone()))
            .build()
    }

    async fn describe(sagemaker: &Client, id: &str) -> Result<Option<DescribeDomainOutput>> {
        sagemaker
            .describe_domain()
            .domain_id(id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeDomain", e))
            .or_gone()
    }

    /// Names of the user profiles of domain `id`, for saying what blocks its delete.
    async fn profile_names(sagemaker: &Client, id: &str) -> Result<Vec<String>> {
        let listed = sagemaker
            .list_user_profiles()
            .domain_id_equals(id)
            .send()
            .await
            .map_err(|e| aws_error("ListUserProfiles", e))?;
        Ok(listed
            .user_profiles()
            .iter()
            .filter_map(|p| p.user_profile_name().map(str::to_string))
            .collect())
    }

    fn failed(id: &str, domain: &DescribeDomainOutput, status: &DomainStatus) -> ProviderError {
        ProviderError::Failed {
            kind: "Studio domain",
            id: id.to_string(),
            state: status.as_str().to_string(),
            reason: domain
                .failure_reason()
                .filter(|r| !r.is_empty())
                .unwrap_or("AWS gave no reason")
                .to_string(),
        }
    }

    /// Waits until domain `id` is InService (after a create or an update); a domain that fails
    /// ends the wait with AWS's failure reason.
    pub(crate) async fn wait_in_service(sagemaker: &Client, ctx: &Context, id: &str) -> Result<DescribeDomainOutput> {
        let what = format!("Studio domain {id} to be InService");
        ctx.wait_until(&what, || async {
            let Some(domain) = describe(sagemaker, id).await? else {
                return Err(ProviderError::NotFound {
                    kind: "Studio domain",
                    id: id.to_string(),
                });
            };
            let status = domain.status().cloned().unwrap_or(DomainStatus::Pending);
            match status {
                DomainStatus::InService => Ok(Progress::Done(domain)),
                DomainStatus::Pending | DomainStatus::Updating => Ok(Progress::Pending(status.as_str().to_string())),
                other => Err(failed(id, &domain, &other)),
            }
        })
        .await
    }

    /// Waits until domain `id` no longer exists.
    pub(crate) async fn wait_gone(sagemaker: &Client, ctx: &Context, id: &str) -> Result<()> {
        let what = format!("Studio domain {id} to be deleted");
        ctx.wait_until(&what, || async {
            let Some(domain) = describe(sagemaker, id).await? else {
                return Ok(Progress::Done(()));
            };
            let status = domain.status().cloned().unwrap_or(DomainStatus::Deleting);
            match status {
                DomainStatus::DeleteFailed => Err(failed(id, &domain, &status)),
                other => Ok(Progress::Pending(other.as_str().to_string())),
            }
        })
        .await
    }

    async fn read(sagemaker: &Client, id: &str, retention: &str) -> Result<Option<DomainState>> {
        let Some(domain) = describe(sagemaker, id).await? else {
            return Ok(None);
        };
        let arn = domain.domain_arn().unwrap_or_default().to_string();
        let settings = domain.default_user_settings();
        let mut security_groups: Vec<String> = settings.map(|s| s.security_groups().to_vec()).unwrap_or_default();
        security_groups.sort();
        Ok(Some(DomainState {
            args: DomainArgs {
                domain_name: domain.domain_name().map(str::to_string),
                auth_mode: domain.auth_mode().map(|m| m.as_str().to_string()).unwrap_or_default(),
                app_network_access_type: domain
                    .app_network_access_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "PublicInternetOnly".into()),
                vpc_id: domain.vpc_id().unwrap_or_default().to_string(),
                subnet_ids: domain.subnet_ids().to_vec(),
                kms_key_id: domain.kms_key_id().filter(|k| !k.is_empty()).map(str::to_string),
                default_user_settings: DefaultUserSettings {
                    execution_role: settings
                        .and_then(|s| s.execution_role())
                        .unwrap_or_default()
                        .to_string(),
                    security_groups,
                },
                home_efs_retention: retention.to_string(),
                tags: sagemaker::user_tags_of(sagemaker, &arn).await?,
            },
            domain_id: domain.domain_id().unwrap_or(id).to_string(),
            url: domain.url().unwrap_or_default().to_string(),
            home_efs_file_system_id: domain.home_efs_file_system_id().map(str::to_string),
            security_group_id_for_domain_boundary: domain.security_group_id_for_domain_boundary().map(str::to_string),
            arn,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_private_iam_and_delete_the_home_efs() {
        let args: DomainArgs = serde_json::from_value(json!({
            "vpcId": "vpc-1",
            "subnetIds": ["subnet-1"],
            "defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/exec", "securityGroups": ["sg-1"]},
        }))
        .expect("parses");
        assert_eq!(args.app_network_access_type, "VpcOnly");
        assert_eq!(args.auth_mode, "IAM");
        assert_eq!(args.home_efs_retention, "Delete");
        assert!(Domain::validate(&args).is_empty());
    }

    #[test]
    fn where_the_domain_lives_forces_replacement_and_settings_do_not() {
        let spec = DomainArgs::object_spec();
        let replaced: Vec<&str> = spec.properties.iter().filter(|p| p.replace).map(|p| p.name).collect();
        assert_eq!(
            replaced,
            vec![
                "domainName",
                "authMode",
                "appNetworkAccessType",
                "vpcId",
                "subnetIds",
                "kmsKeyId"
            ]
        );
    }

    #[test]
    fn a_vpc_only_domain_without_security_groups_is_refused() {
        let args: DomainArgs = serde_json::from_value(json!({
            "vpcId": "vpc-1",
            "subnetIds": ["subnet-1"],
            "defaultUserSettings": {"executionRole": "arn:aws:iam::123456789012:role/exec"},
        }))
        .expect("parses");
        let failures = Domain::validate(&args);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].property, "defaultUserSettings.securityGroups");
    }
}

#[cfg(all(test, feature = "provider"))]
mod lifecycle_tests {
    use std::time::Duration;

    use aws_sdk_sagemaker::operation::describe_domain::DescribeDomainOutput;
    use aws_sdk_sagemaker::types::DomainStatus;
    use aws_sdk_sagemaker::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use palisade_provider_kit::ProviderError;

    use super::lifecycle::{wait_gone, wait_in_service};
    use crate::testing::context;

    fn domain(status: DomainStatus, reason: Option<&'static str>) -> DescribeDomainOutput {
        DescribeDomainOutput::builder()
            .domain_id("d-1")
            .status(status)
            .set_failure_reason(reason.map(str::to_string))
            .build()
    }

    #[tokio::test]
    async fn a_domain_that_ends_failed_gives_its_failure_reason() {
        let pending_then_failed = mock!(Client::describe_domain)
            .sequence()
            .output(|| domain(DomainStatus::Pending, None))
            .output(|| domain(DomainStatus::Failed, Some("Subnets subnet-1 are not in VPC vpc-1")))
            .build();
        let sagemaker = mock_client!(aws_sdk_sagemaker, RuleMode::Sequential, &[&pending_then_failed]);
        let error = wait_in_service(&sagemaker, &context(Duration::from_secs(10)), "d-1")
            .await
            .expect_err("the domain failed");
        match &error {
            ProviderError::Failed {
                kind,
                id,
                state,
                reason,
            } => {
                assert_eq!(*kind, "Studio domain");
                assert_eq!(id, "d-1");
                assert_eq!(state, "Failed");
                assert_eq!(reason, "Subnets subnet-1 are not in VPC vpc-1");
            }
            other => panic!("expected Failed, got {other:?}"),
        }
        assert_eq!(
            error.to_string(),
            "Studio domain `d-1` is Failed: Subnets subnet-1 are not in VPC vpc-1"
        );
    }

    #[tokio::test]
    async fn a_domain_that_stays_pending_times_out_naming_the_wait() {
        let always_pending = mock!(Client::describe_domain).then_output(|| domain(DomainStatus::Pending, None));
        let sagemaker = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, &[&always_pending]);
        let error = wait_in_service(&sagemaker, &context(Duration::from_millis(50)), "d-1")
            .await
            .expect_err("never InService");
        match &error {
            ProviderError::Timeout {
                waiting_for,
                last_state,
                ..
            } => {
                assert_eq!(waiting_for, "Studio domain d-1 to be InService");
                assert_eq!(last_state, "Pending");
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_failed_delete_gives_its_failure_reason() {
        let delete_failed = mock!(Client::describe_domain).then_output(|| {
            domain(
                DomainStatus::DeleteFailed,
                Some("The home EFS has mount targets in use"),
            )
        });
        let sagemaker = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, &[&delete_failed]);
        let error = wait_gone(&sagemaker, &context(Duration::from_secs(10)), "d-1")
            .await
            .expect_err("delete failed");
        assert!(
            matches!(&error, ProviderError::Failed { state, reason, .. }
                if state == "Delete_Failed" && reason.contains("mount targets")),
            "{error:?}"
        );
    }
}
