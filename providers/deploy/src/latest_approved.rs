//! getLatestApprovedModelPackage: the newest Approved version of a model package group, which is
//! what staging and production deploy.

use palisade_provider_kit::prelude::*;

/// The function.
#[derive(Debug, Default, Clone, Copy)]
pub struct GetLatestApprovedModelPackage;

/// Arguments of [`GetLatestApprovedModelPackage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct LatestApprovedArgs {
    /// The group's name, or its ARN for a group in another account (shared through its resource
    /// policy).
    #[property(validate = group_reference)]
    pub model_package_group_name: String,
}

/// Result of [`GetLatestApprovedModelPackage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct LatestApprovedResult {
    /// The package's ARN (what a Model takes as `modelPackageArn`).
    pub model_package_arn: String,
    /// Its version within the group.
    pub model_package_version: i64,
    /// The group's name.
    pub model_package_group_name: String,
}

fn group_reference(value: &serde_json::Value) -> Result<(), String> {
    let group = value.as_str().unwrap_or_default();
    if group.is_empty() {
        Err("give the model package group's name or ARN".into())
    } else {
        Ok(())
    }
}

impl FunctionType for GetLatestApprovedModelPackage {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "getLatestApprovedModelPackage";
    const DOC: &'static str = "The newest Approved model package of a group (by version): its ARN and version. \
                               Fails when the group has no approved package.";
    type Args = LatestApprovedArgs;
    type Result = LatestApprovedResult;
}

/// The newest of `(arn, version)` candidates, all Approved.
pub fn newest(candidates: impl IntoIterator<Item = (String, i64)>) -> Option<(String, i64)> {
    candidates.into_iter().max_by_key(|(_, version)| *version)
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_sagemaker::types::{ModelApprovalStatus, ModelPackageType};
    use palisade_provider_kit::prelude::*;

    use super::{newest, GetLatestApprovedModelPackage, LatestApprovedArgs, LatestApprovedResult};
    use crate::sagemaker;

    impl Function for GetLatestApprovedModelPackage {
        async fn invoke(&self, ctx: &Context, args: LatestApprovedArgs) -> Result<LatestApprovedResult> {
            let sm = sagemaker::client(ctx).await?;
            let group = args.model_package_group_name;
            let mut approved = Vec::new();
            let mut next = None;
            loop {
                let page = sm
                    .list_model_packages()
                    .model_package_group_name(&group)
                    .model_approval_status(ModelApprovalStatus::Approved)
                    .model_package_type(ModelPackageType::Versioned)
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(|e| aws_error("ListModelPackages", e))?;
                approved.extend(
                    page.model_package_summary_list()
                        .iter()
                        // The filter is asked for; checking again costs nothing and guards against a
                        // service that ignores it.
                        .filter(|p| p.model_approval_status() == Some(&ModelApprovalStatus::Approved))
                        .map(|p| {
                            (
                                p.model_package_arn().unwrap_or_default().to_string(),
                                p.model_package_version().map(i64::from).unwrap_or_default(),
                            )
                        }),
                );
                next = page.next_token().map(str::to_string);
                if next.is_none() {
                    break;
                }
            }
            let (model_package_arn, model_package_version) =
                newest(approved).ok_or_else(|| ProviderError::NotFound {
                    kind: "approved model package in group",
                    id: group.clone(),
                })?;
            let name = group.rsplit('/').next().unwrap_or(&group).to_string();
            Ok(LatestApprovedResult {
                model_package_arn,
                model_package_version,
                model_package_group_name: name,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::newest;

    #[test]
    fn the_highest_version_wins() {
        let picked = newest([("a/1".to_string(), 1), ("a/3".to_string(), 3), ("a/2".to_string(), 2)]);
        assert_eq!(picked, Some(("a/3".to_string(), 3)));
        assert_eq!(newest(Vec::new()), None);
    }
}
