//! Model: what an endpoint runs — an execution role, one container (from a model package, possibly
//! another account's, or from an image and a model artifact) and the VPC it runs in.
//!
//! Network isolation is on unless turned off: the container then has no network access at all, not
//! even to the VPC. SageMaker cannot change a model, so every change replaces it; the name is
//! auto-generated so that the replacement never takes the old model's name while endpoint
//! configurations still refer to it.

use palisade_provider_kit::prelude::*;

use crate::validate;

/// A SageMaker model.
#[derive(Debug, Default, Clone, Copy)]
pub struct Model;

/// Inputs of a [`Model`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct ModelArgs {
    /// The model's name, up to 63 characters. Default: the resource name plus a random suffix; leave
    /// it to Palisade so that a replacement gets a new name.
    #[property(replace, validate = validate::sagemaker_name)]
    pub model_name: Option<String>,
    /// The role SageMaker assumes to pull the image and the artifact.
    #[property(replace, validate = validate::role_arn)]
    pub execution_role_arn: String,
    /// The container from a model package (its ARN; it may be in another account whose group policy
    /// admits this one). Give this or `image`.
    #[property(replace, validate = validate::model_package_arn)]
    pub model_package_arn: Option<String>,
    /// The inference container image (an ECR URI). Give this or `modelPackageArn`.
    #[property(replace)]
    pub image: Option<String>,
    /// The model artifact (`s3://bucket/model.tar.gz`), with `image`.
    #[property(replace, validate = validate::s3_uri)]
    pub model_data_url: Option<String>,
    /// Environment variables of the container.
    #[property(replace)]
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// The subnets the model runs in (with `securityGroupIds`).
    #[property(replace, set, validate = validate::subnet_ids)]
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// The security groups of the model's network interfaces (with `subnetIds`).
    #[property(replace, set, validate = validate::security_group_ids)]
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// Whether the container is cut off from every network. Default true.
    #[property(replace)]
    #[serde(default = "isolated")]
    pub enable_network_isolation: bool,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(replace, validate = palisade_provider_kit::tags::validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn isolated() -> bool {
    true
}

/// Outputs of a [`Model`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct ModelState {
    #[serde(flatten)]
    pub args: ModelArgs,
    /// The model's ARN.
    pub model_arn: String,
}

impl ResourceType for Model {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "Model";
    const DOC: &'static str = "A SageMaker model: an execution role, a container from a model package (possibly in \
                               another account) or an image and artifact, and a VPC; network isolation on by default. \
                               Every change replaces it under a new name. Tagged with its URN and stack.";
    const AUTONAME: Option<AutoName> = Some(AutoName {
        property: "modelName",
        max_len: 63,
        lowercase: false,
    });
    type Inputs = ModelArgs;
    type Outputs = ModelState;

    fn validate(inputs: &ModelArgs) -> Vec<CheckFailure> {
        let mut failures = Vec::new();
        match (&inputs.model_package_arn, &inputs.image) {
            (Some(_), Some(_)) => failures.push(CheckFailure::new(
                "image",
                "give either `modelPackageArn` or `image`, not both (a model package brings its own image)",
            )),
            (None, None) => failures.push(CheckFailure::new(
                "modelPackageArn",
                "give the container: `modelPackageArn`, or `image` with `modelDataUrl`",
            )),
            _ => {}
        }
        if inputs.model_package_arn.is_some() && inputs.model_data_url.is_some() {
            failures.push(CheckFailure::new(
                "modelDataUrl",
                "a model package brings its own artifact; drop `modelDataUrl` or use `image` instead of `modelPackageArn`",
            ));
        }
        if inputs.subnet_ids.is_empty() != inputs.security_group_ids.is_empty() {
            let missing = if inputs.subnet_ids.is_empty() {
                "subnetIds"
            } else {
                "securityGroupIds"
            };
            failures.push(CheckFailure::new(
                missing,
                "a VPC configuration needs both `subnetIds` and `securityGroupIds`; give both or neither",
            ));
        }
        failures
    }
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_sagemaker::operation::describe_model::DescribeModelOutput;
    use aws_sdk_sagemaker::types::{ContainerDefinition, VpcConfig};
    use aws_sdk_sagemaker::Client;
    use palisade_provider_kit::prelude::*;

    use super::{Model, ModelArgs, ModelState};
    use crate::sagemaker;

    impl Resource for Model {
        /// The model of the declared name, when this URN made it (SageMaker has no idempotency
        /// token for CreateModel; the name is what an interrupted create leaves). A model of that
        /// name that is not ours is refused.
        async fn owned(&self, ctx: &Context, inputs: &ModelArgs) -> Result<Vec<String>> {
            let Some(name) = &inputs.model_name else {
                return Ok(Vec::new());
            };
            owned_model(&sagemaker::client(ctx).await?, ctx, name).await
        }

        async fn create(&self, ctx: &Context, request: CreateRequest<ModelArgs>) -> Result<Created<ModelState>> {
            let sm = sagemaker::client(ctx).await?;
            let args = request.inputs;
            let name = args
                .model_name
                .clone()
                .ok_or_else(|| ProviderError::invalid("modelName", "give the model a name"))?;
            let container = ContainerDefinition::builder()
                .set_model_package_name(args.model_package_arn.clone())
                .set_image(args.image.clone())
                .set_model_data_url(args.model_data_url.clone())
                .set_environment((!args.environment.is_empty()).then(|| args.environment.clone().into_iter().collect()))
                .build();
            let vpc = (!args.subnet_ids.is_empty()).then(|| {
                VpcConfig::builder()
                    .set_subnets(Some(args.subnet_ids.clone()))
                    .set_security_group_ids(Some(args.security_group_ids.clone()))
                    .build()
            });
            let created = sm
                .create_model()
                .model_name(&name)
                .execution_role_arn(&args.execution_role_arn)
                .primary_container(container)
                .set_vpc_config(vpc)
                .enable_network_isolation(args.enable_network_isolation)
                .set_tags(Some(sagemaker::owned_tags(ctx, &args.tags)))
                .send()
                .await
                .map_err(|e| aws_error("CreateModel", e));
            sagemaker::created_or_ours(created, owned_model(&sm, ctx, &name)).await?;
            let outputs = read(&sm, &name, Some(&args)).await?.ok_or(ProviderError::NotFound {
                kind: "model",
                id: name.clone(),
            })?;
            Ok(Created { id: name, outputs })
        }

        async fn read(&self, ctx: &Context, request: ReadRequest<ModelArgs, ModelState>) -> Result<Option<ModelState>> {
            let sm = sagemaker::client(ctx).await?;
            read(&sm, &request.id, request.inputs.as_ref()).await
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<ModelState>) -> Result<()> {
            let sm = sagemaker::client(ctx).await?;
            let deleted = sm
                .delete_model()
                .model_name(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteModel", e));
            deleted.or_gone().map(|_| ())
        }
    }

    /// The model named `name`, as SageMaker describes it; `None` when there is none.
    async fn describe(sm: &Client, name: &str) -> Result<Option<DescribeModelOutput>> {
        let described = sm
            .describe_model()
            .model_name(name)
            .send()
            .await
            .map_err(|e| aws_error("DescribeModel", e));
        described.or_gone()
    }

    /// `[name]` when the model of that name is this URN's; a refusal when it is someone else's.
    async fn owned_model(sm: &Client, ctx: &Context, name: &str) -> Result<Vec<String>> {
        let arn = describe(sm, name)
            .await?
            .and_then(|m| m.model_arn().map(str::to_string));
        sagemaker::owned_by_name(sm, ctx, "model", ModelArgs::MODEL_NAME, name, arn).await
    }

    /// The live model. `known` (the declared inputs) fills what the emulator may leave out of the
    /// description (network isolation); SageMaker itself describes it.
    async fn read(sm: &Client, name: &str, known: Option<&ModelArgs>) -> Result<Option<ModelState>> {
        let Some(model) = describe(sm, name).await? else {
            return Ok(None);
        };
        let container = model.primary_container().or_else(|| model.containers().first());
        let text = |value: Option<&str>| value.filter(|v| !v.is_empty()).map(str::to_string);
        let vpc = model.vpc_config();
        let arn = model.model_arn().unwrap_or_default().to_string();
        Ok(Some(ModelState {
            args: ModelArgs {
                model_name: Some(name.to_string()),
                execution_role_arn: model.execution_role_arn().unwrap_or_default().to_string(),
                model_package_arn: text(container.and_then(|c| c.model_package_name())),
                image: text(container.and_then(|c| c.image())),
                model_data_url: text(container.and_then(|c| c.model_data_url())),
                environment: container
                    .and_then(|c| c.environment())
                    .map(|e| e.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                subnet_ids: vpc.map(|v| v.subnets().to_vec()).unwrap_or_default(),
                security_group_ids: vpc.map(|v| v.security_group_ids().to_vec()).unwrap_or_default(),
                enable_network_isolation: model
                    .enable_network_isolation()
                    .or(known.map(|k| k.enable_network_isolation))
                    .unwrap_or(false),
                tags: sagemaker::user_tags_of(sm, &arn).await?,
            },
            model_arn: arn,
        }))
    }
}
