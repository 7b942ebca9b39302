//! ModelPackage: one version of a model, registered in a group from a container image and a model
//! artifact, with an approval status that gates promotion.
//!
//! SageMaker numbers the versions of a group itself (1, 2, ...). Only the approval status changes in
//! place (UpdateModelPackage); everything else replaces the package with a new version.

use palisade_provider_kit::prelude::*;

use crate::validate;

/// A versioned model package.
#[derive(Debug, Default, Clone, Copy)]
pub struct ModelPackage;

/// Inputs of a [`ModelPackage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct ModelPackageArgs {
    /// The name of the group the version is registered in.
    #[property(replace, validate = validate::sagemaker_name)]
    pub model_package_group_name: String,
    /// The inference container image (an ECR URI).
    #[property(replace)]
    pub image: String,
    /// The model artifact (`s3://bucket/model.tar.gz`).
    #[property(replace, validate = validate::s3_uri)]
    pub model_data_url: String,
    /// What this version is.
    #[property(replace)]
    pub description: Option<String>,
    /// MIME types the model accepts. Default `application/json`.
    #[property(replace)]
    #[serde(default = "json_only")]
    pub supported_content_types: Vec<String>,
    /// MIME types the model answers with. Default `application/json`.
    #[property(replace)]
    #[serde(default = "json_only")]
    pub supported_response_mime_types: Vec<String>,
    /// `PendingManualApproval` (default), `Approved` or `Rejected`; changed in place.
    #[property(validate = validate::approval_status)]
    #[serde(default = "pending")]
    pub model_approval_status: String,
    /// Tags to apply at registration, besides the ownership tags Palisade adds.
    #[property(replace, validate = palisade_provider_kit::tags::validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn json_only() -> Vec<String> {
    vec!["application/json".into()]
}

fn pending() -> String {
    "PendingManualApproval".into()
}

/// Outputs of a [`ModelPackage`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct ModelPackageState {
    #[serde(flatten)]
    pub args: ModelPackageArgs,
    /// The package's ARN (what a Model names as its container).
    pub model_package_arn: String,
    /// The version number SageMaker gave it within the group.
    pub model_package_version: i64,
}

impl ResourceType for ModelPackage {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "ModelPackage";
    const DOC: &'static str = "A version of a model in a model package group, from a container image and a model \
                               artifact; its approval status is updated in place. Tagged with its URN and stack.";
    const HOLDS_DATA: Option<&'static str> = Some("the registered model version, its approval and its lineage");
    type Inputs = ModelPackageArgs;
    type Outputs = ModelPackageState;
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_sagemaker::types::{InferenceSpecification, ModelApprovalStatus, ModelPackageContainerDefinition};
    use aws_sdk_sagemaker::Client;
    use palisade_provider_kit::prelude::*;

    use super::{ModelPackage, ModelPackageArgs, ModelPackageState};
    use crate::sagemaker;

    impl Resource for ModelPackage {
        /// The package this URN registered with the declared content, found by the URN in its
        /// customer metadata (a package has no name, and SageMaker keeps no tags-at-creation filter).
        async fn owned(&self, ctx: &Context, inputs: &ModelPackageArgs) -> Result<Vec<String>> {
            let sm = sagemaker::client(ctx).await?;
            Ok(registered_by(&sm, ctx, inputs).await?.into_iter().collect())
        }

        async fn create(
            &self,
            ctx: &Context,
            request: CreateRequest<ModelPackageArgs>,
        ) -> Result<Created<ModelPackageState>> {
            let sm = sagemaker::client(ctx).await?;
            let args = request.inputs;
            // A package has no name to find it by: an interrupted earlier create is found by the URN
            // it carries in its customer metadata, and adopted instead of registering a second one.
            if let Some(arn) = registered_by(&sm, ctx, &args).await? {
                tracing::info!(urn = %ctx.urn, %arn, "adopting the model package an interrupted create registered");
                let live = read(&sm, &arn, &args).await?.ok_or(ProviderError::NotFound {
                    kind: "model package",
                    id: arn.clone(),
                })?;
                let outputs = if live.args.model_approval_status == args.model_approval_status {
                    live
                } else {
                    set_approval(&sm, &arn, &args).await?
                };
                return Ok(Created { id: arn, outputs });
            }
            let container = ModelPackageContainerDefinition::builder()
                .image(&args.image)
                .model_data_url(&args.model_data_url)
                .build();
            let specification = InferenceSpecification::builder()
                .containers(container)
                .set_supported_content_types(Some(args.supported_content_types.clone()))
                .set_supported_response_mime_types(Some(args.supported_response_mime_types.clone()))
                .build();
            let created = sm
                .create_model_package()
                .model_package_group_name(&args.model_package_group_name)
                .set_model_package_description(args.description.clone())
                .inference_specification(specification)
                .model_approval_status(ModelApprovalStatus::from(args.model_approval_status.as_str()))
                .customer_metadata_properties(URN_METADATA, &ctx.urn)
                .set_tags(Some(sagemaker::owned_tags(ctx, &args.tags)))
                .send()
                .await
                .map_err(|e| aws_error("CreateModelPackage", e))?;
            let arn = created.model_package_arn().unwrap_or_default().to_string();
            let outputs = read(&sm, &arn, &args).await?.ok_or(ProviderError::NotFound {
                kind: "model package",
                id: arn.clone(),
            })?;
            Ok(Created { id: arn, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<ModelPackageArgs, ModelPackageState>,
        ) -> Result<Option<ModelPackageState>> {
            let sm = sagemaker::client(ctx).await?;
            let Some(known) = request.inputs.or(request.outputs.map(|o| o.args)) else {
                // Import: the tags at registration are not readable back on every SageMaker version;
                // start from none.
                return read(&sm, &request.id, &imported()).await;
            };
            read(&sm, &request.id, &known).await
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<ModelPackageArgs, ModelPackageState>,
        ) -> Result<ModelPackageState> {
            let sm = sagemaker::client(ctx).await?;
            sm.update_model_package()
                .model_package_arn(&request.id)
                .model_approval_status(ModelApprovalStatus::from(request.news.model_approval_status.as_str()))
                .send()
                .await
                .map_err(|e| aws_error("UpdateModelPackage", e))?;
            read(&sm, &request.id, &request.news)
                .await?
                .ok_or(ProviderError::NotFound {
                    kind: "model package",
                    id: request.id,
                })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<ModelPackageState>) -> Result<()> {
            let sm = sagemaker::client(ctx).await?;
            let deleted = sm
                .delete_model_package()
                .model_package_name(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteModelPackage", e));
            deleted.or_gone().map(|_| ())
        }
    }

    /// Sets the package's approval status to `args`' and reads it back.
    async fn set_approval(sm: &Client, arn: &str, args: &ModelPackageArgs) -> Result<ModelPackageState> {
        sm.update_model_package()
            .model_package_arn(arn)
            .model_approval_status(ModelApprovalStatus::from(args.model_approval_status.as_str()))
            .send()
            .await
            .map_err(|e| aws_error("UpdateModelPackage", e))?;
        read(sm, arn, args).await?.ok_or(ProviderError::NotFound {
            kind: "model package",
            id: arn.to_string(),
        })
    }

    /// The customer-metadata key that holds the URN of the resource that registered a package.
    const URN_METADATA: &str = palisade_provider_kit::tags::URN_TAG;

    /// The package of `args`' group that this URN registered with the same content (image, model
    /// data, description, content types), if an earlier create got that far. A package whose
    /// content differs is a replacement's predecessor, never adopted.
    async fn registered_by(sm: &Client, ctx: &Context, args: &ModelPackageArgs) -> Result<Option<String>> {
        let mut pages = sm
            .list_model_packages()
            .model_package_group_name(&args.model_package_group_name)
            .into_paginator()
            .send();
        let mut arns = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ListModelPackages", e)).or_gone()?;
            let Some(page) = page else {
                return Ok(None);
            };
            arns.extend(
                page.model_package_summary_list()
                    .iter()
                    .filter_map(|p| p.model_package_arn().map(str::to_string)),
            );
        }
        for arn in arns {
            let described = sm
                .describe_model_package()
                .model_package_name(&arn)
                .send()
                .await
                .map_err(|e| aws_error("DescribeModelPackage", e));
            let Some(package) = described.or_gone()? else {
                continue;
            };
            let ours = package
                .customer_metadata_properties()
                .and_then(|m| m.get(URN_METADATA))
                .is_some_and(|urn| *urn == ctx.urn);
            if !ours {
                continue;
            }
            let Some(live) = read(sm, &arn, args).await? else {
                continue;
            };
            let same = ModelPackageArgs {
                model_approval_status: args.model_approval_status.clone(),
                ..live.args
            } == *args;
            if same {
                return Ok(Some(arn));
            }
        }
        Ok(None)
    }

    fn imported() -> ModelPackageArgs {
        ModelPackageArgs {
            model_package_group_name: String::new(),
            image: String::new(),
            model_data_url: String::new(),
            description: None,
            supported_content_types: super::json_only(),
            supported_response_mime_types: super::json_only(),
            model_approval_status: super::pending(),
            tags: BTreeMap::new(),
        }
    }

    /// The live package; `known` supplies what SageMaker does not describe back (the tags given at
    /// registration).
    async fn read(sm: &Client, arn: &str, known: &ModelPackageArgs) -> Result<Option<ModelPackageState>> {
        let described = sm
            .describe_model_package()
            .model_package_name(arn)
            .send()
            .await
            .map_err(|e| aws_error("DescribeModelPackage", e));
        let Some(package) = described.or_gone()? else {
            return Ok(None);
        };
        let specification = package.inference_specification();
        let container = specification.and_then(|s| s.containers().first());
        Ok(Some(ModelPackageState {
            args: ModelPackageArgs {
                model_package_group_name: package.model_package_group_name().unwrap_or_default().to_string(),
                image: container
                    .map(|c| c.image().unwrap_or_default().to_string())
                    .unwrap_or_default(),
                model_data_url: container
                    .and_then(|c| c.model_data_url())
                    .unwrap_or_default()
                    .to_string(),
                description: package.model_package_description().map(str::to_string),
                supported_content_types: specification
                    .map(|s| s.supported_content_types().to_vec())
                    .unwrap_or_else(|| known.supported_content_types.clone()),
                supported_response_mime_types: specification
                    .map(|s| s.supported_response_mime_types().to_vec())
                    .unwrap_or_else(|| known.supported_response_mime_types.clone()),
                model_approval_status: package
                    .model_approval_status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(super::pending),
                tags: known.tags.clone(),
            },
            model_package_arn: package.model_package_arn().unwrap_or(arn).to_string(),
            model_package_version: package.model_package_version().map(i64::from).unwrap_or_default(),
        }))
    }
}
