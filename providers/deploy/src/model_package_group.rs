//! ModelPackageGroup: the registry entry that a model's versions are registered in, and the resource
//! policy that lets target accounts (staging, production) read its packages and build models from
//! them.
//!
//! The name is auto-named from the resource name unless given. The description cannot be changed in
//! place (SageMaker has no update for it); the resource policy and tags can.

use palisade_provider_kit::policy;
use palisade_provider_kit::prelude::*;
use serde_json::Value as Json;

use crate::validate;

/// A model package group, optionally shared with other accounts.
#[derive(Debug, Default, Clone, Copy)]
pub struct ModelPackageGroup;

/// Inputs of a [`ModelPackageGroup`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct ModelPackageGroupArgs {
    /// The group's name, up to 63 characters. Default: the resource name plus a random suffix.
    #[property(replace, validate = validate::sagemaker_name)]
    pub model_package_group_name: Option<String>,
    /// What the group holds.
    #[property(replace)]
    pub description: Option<String>,
    /// A resource policy (an IAM policy document) for other accounts, e.g. letting the staging and
    /// production accounts call `sagemaker:DescribeModelPackage*` and `sagemaker:ListModelPackages`
    /// on the group and its packages. Absent: the group is private to its account.
    #[property(equivalent = policy::same, validate = policy::validate)]
    pub resource_policy: Option<Json>,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = palisade_provider_kit::tags::validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Outputs of a [`ModelPackageGroup`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct ModelPackageGroupState {
    #[serde(flatten)]
    pub args: ModelPackageGroupArgs,
    /// The group's ARN (what other accounts name it by).
    pub arn: String,
}

impl ResourceType for ModelPackageGroup {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "ModelPackageGroup";
    const DOC: &'static str = "A SageMaker model package group (a model's versions), with an optional resource policy \
                               that shares it with other accounts. Tagged with its URN and stack.";
    const HOLDS_DATA: Option<&'static str> = Some("the model registry group and the versions registered in it");
    const AUTONAME: Option<AutoName> = Some(AutoName {
        property: "modelPackageGroupName",
        max_len: 63,
        lowercase: false,
    });
    type Inputs = ModelPackageGroupArgs;
    type Outputs = ModelPackageGroupState;
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_sagemaker::operation::describe_model_package_group::DescribeModelPackageGroupOutput;
    use aws_sdk_sagemaker::Client;
    use palisade_provider_kit::policy;
    use palisade_provider_kit::prelude::*;
    use serde_json::Value as Json;

    use super::{ModelPackageGroup, ModelPackageGroupArgs, ModelPackageGroupState};
    use crate::sagemaker;

    impl Resource for ModelPackageGroup {
        /// The group of the declared name, when this URN made it (CreateModelPackageGroup takes no
        /// idempotency token; the name is what an interrupted create leaves). A group of that name
        /// that is not ours is refused.
        async fn owned(&self, ctx: &Context, inputs: &ModelPackageGroupArgs) -> Result<Vec<String>> {
            let Some(name) = &inputs.model_package_group_name else {
                return Ok(Vec::new());
            };
            owned_group(&sagemaker::client(ctx).await?, ctx, name).await
        }

        async fn create(
            &self,
            ctx: &Context,
            request: CreateRequest<ModelPackageGroupArgs>,
        ) -> Result<Created<ModelPackageGroupState>> {
            let sm = sagemaker::client(ctx).await?;
            let args = request.inputs;
            let name = args
                .model_package_group_name
                .clone()
                .ok_or_else(|| ProviderError::invalid("modelPackageGroupName", "give the group a name"))?;
            let created = sm
                .create_model_package_group()
                .model_package_group_name(&name)
                .set_model_package_group_description(args.description.clone())
                .set_tags(Some(sagemaker::owned_tags(ctx, &args.tags)))
                .send()
                .await
                .map_err(|e| aws_error("CreateModelPackageGroup", e));
            let arn = match sagemaker::created_or_ours(created, owned_group(&sm, ctx, &name)).await? {
                Some(created) => created.model_package_group_arn().unwrap_or_default().to_string(),
                None => group_arn(&sm, &name).await?.unwrap_or_default(),
            };
            if let Some(document) = &args.resource_policy {
                put_policy(&sm, &name, document).await?;
            }
            Ok(Created {
                id: name,
                outputs: ModelPackageGroupState { arn, args },
            })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<ModelPackageGroupArgs, ModelPackageGroupState>,
        ) -> Result<Option<ModelPackageGroupState>> {
            let sm = sagemaker::client(ctx).await?;
            read(&sm, &request.id).await
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<ModelPackageGroupArgs, ModelPackageGroupState>,
        ) -> Result<ModelPackageGroupState> {
            let sm = sagemaker::client(ctx).await?;
            let old = &request.olds.args;
            let new = &request.news;
            match (&old.resource_policy, &new.resource_policy) {
                (_, Some(document)) => put_policy(&sm, &request.id, document).await?,
                (Some(_), None) => {
                    let deleted = sm
                        .delete_model_package_group_policy()
                        .model_package_group_name(&request.id)
                        .send()
                        .await
                        .map_err(|e| aws_error("DeleteModelPackageGroupPolicy", e));
                    deleted.or_gone()?;
                }
                (None, None) => {}
            }
            sagemaker::update_tags(&sm, &request.olds.arn, &old.tags, &new.tags).await?;
            read(&sm, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "model package group",
                id: request.id,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<ModelPackageGroupState>) -> Result<()> {
            let sm = sagemaker::client(ctx).await?;
            let deleted = sm
                .delete_model_package_group()
                .model_package_group_name(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteModelPackageGroup", e));
            deleted.or_gone().map(|_| ())
        }
    }

    /// The group named `name`, as SageMaker describes it; `None` when there is none.
    async fn describe(sm: &Client, name: &str) -> Result<Option<DescribeModelPackageGroupOutput>> {
        let described = sm
            .describe_model_package_group()
            .model_package_group_name(name)
            .send()
            .await
            .map_err(|e| aws_error("DescribeModelPackageGroup", e));
        described.or_gone()
    }

    /// The ARN of the group named `name`, if it exists.
    async fn group_arn(sm: &Client, name: &str) -> Result<Option<String>> {
        Ok(describe(sm, name)
            .await?
            .and_then(|g| g.model_package_group_arn().map(str::to_string)))
    }

    /// `[name]` when the group of that name is this URN's; a refusal when it is someone else's.
    async fn owned_group(sm: &Client, ctx: &Context, name: &str) -> Result<Vec<String>> {
        let arn = group_arn(sm, name).await?;
        sagemaker::owned_by_name(
            sm,
            ctx,
            "model package group",
            ModelPackageGroupArgs::MODEL_PACKAGE_GROUP_NAME,
            name,
            arn,
        )
        .await
    }

    async fn put_policy(sm: &Client, name: &str, document: &Json) -> Result<()> {
        sm.put_model_package_group_policy()
            .model_package_group_name(name)
            .resource_policy(policy::to_text(document))
            .send()
            .await
            .map_err(|e| aws_error("PutModelPackageGroupPolicy", e))?;
        Ok(())
    }

    async fn read(sm: &Client, name: &str) -> Result<Option<ModelPackageGroupState>> {
        let Some(group) = describe(sm, name).await? else {
            return Ok(None);
        };
        let arn = group.model_package_group_arn().unwrap_or_default().to_string();
        let fetched = sm
            .get_model_package_group_policy()
            .model_package_group_name(name)
            .send()
            .await
            .map_err(|e| aws_error("GetModelPackageGroupPolicy", e));
        let resource_policy = fetched
            .or_gone()?
            .and_then(|p| p.resource_policy().map(str::to_string))
            .map(|text| serde_json::from_str(&text).unwrap_or(Json::String(text)));
        Ok(Some(ModelPackageGroupState {
            args: ModelPackageGroupArgs {
                model_package_group_name: Some(name.to_string()),
                description: group.model_package_group_description().map(str::to_string),
                resource_policy,
                tags: sagemaker::user_tags_of(sm, &arn).await?,
            },
            arn,
        }))
    }
}
