//! EndpointConfig: what an endpoint serves — production variants (model, instance type and count,
//! weight), the KMS key for the instances' storage volumes, and optional capture of requests and
//! responses to S3.
//!
//! SageMaker cannot change an endpoint configuration, so every change replaces it, always under a new
//! auto-generated name: an endpoint being updated still refers to the old configuration by name, so
//! reusing the name (deleting first, creating again) would pull it from under the endpoint.

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::validate::require;

use crate::validate;

/// A SageMaker endpoint configuration.
#[derive(Debug, Default, Clone, Copy)]
pub struct EndpointConfig;

/// One production variant: a model served on instances of one type, taking a share of the traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct ProductionVariant {
    /// The variant's name. Default `AllTraffic`.
    #[property(validate = validate::sagemaker_name)]
    #[serde(default = "all_traffic")]
    pub variant_name: String,
    /// The name of the model served (the `modelName` output of a Model).
    #[property(validate = validate::sagemaker_name)]
    pub model_name: String,
    /// The instance type, e.g. `ml.m5.large`.
    #[property(validate = instance_type)]
    pub instance_type: String,
    /// How many instances to start with. Default 1.
    #[property(validate = positive_count)]
    #[serde(default = "one")]
    pub initial_instance_count: i32,
    /// The variant's share of the traffic, relative to the other variants. Default 1.
    #[property(validate = weight)]
    #[serde(default = "full_weight")]
    pub initial_variant_weight: f64,
}

/// Capture of an endpoint's requests and responses to S3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct DataCapture {
    /// Where captured data goes (`s3://bucket/prefix`).
    #[property(validate = validate::s3_uri)]
    pub destination_s3_uri: String,
    /// The percentage of requests captured, 0 to 100. Default 100.
    #[property(validate = percentage)]
    #[serde(default = "all")]
    pub initial_sampling_percentage: i32,
    /// The KMS key that encrypts captured data. Default: the bucket's encryption.
    pub kms_key_id: Option<String>,
}

fn all_traffic() -> String {
    "AllTraffic".into()
}

fn one() -> i32 {
    1
}

fn full_weight() -> f64 {
    1.0
}

fn all() -> i32 {
    100
}

fn instance_type(value: &serde_json::Value) -> Result<(), String> {
    let kind = value.as_str().unwrap_or_default();
    require(kind.starts_with("ml.") && kind.len() > 3, || {
        format!("{kind:?} is not a SageMaker instance type; give one such as `ml.m5.large`")
    })
}

fn positive_count(value: &serde_json::Value) -> Result<(), String> {
    match value.as_i64() {
        Some(n) if n >= 1 => Ok(()),
        _ => Err(format!("{value} is not an instance count; give 1 or more")),
    }
}

fn weight(value: &serde_json::Value) -> Result<(), String> {
    match value.as_f64() {
        Some(w) if w >= 0.0 && w.is_finite() => Ok(()),
        _ => Err(format!("{value} is not a variant weight; give a number of 0 or more")),
    }
}

fn percentage(value: &serde_json::Value) -> Result<(), String> {
    match value.as_i64() {
        Some(p) if (0..=100).contains(&p) => Ok(()),
        _ => Err(format!("{value} is not a percentage; give 0 to 100")),
    }
}

/// Inputs of an [`EndpointConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConfigArgs {
    /// The configuration's name, up to 63 characters. Default: the resource name plus a random
    /// suffix; leave it to Palisade so that a replacement never reuses a name.
    #[property(replace, validate = validate::sagemaker_name)]
    pub endpoint_config_name: Option<String>,
    /// The production variants (at least one).
    #[property(replace)]
    pub production_variants: Vec<ProductionVariant>,
    /// The KMS key (id or ARN) that encrypts the storage volumes of the endpoint's instances.
    #[property(replace)]
    pub kms_key_id: Option<String>,
    /// Capture of requests and responses to S3. Absent: nothing is captured.
    #[property(replace)]
    pub data_capture: Option<DataCapture>,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(replace, validate = palisade_provider_kit::tags::validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Outputs of an [`EndpointConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct EndpointConfigState {
    #[serde(flatten)]
    pub args: EndpointConfigArgs,
    /// The configuration's ARN.
    pub endpoint_config_arn: String,
}

impl ResourceType for EndpointConfig {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "EndpointConfig";
    const DOC: &'static str = "A SageMaker endpoint configuration: production variants, the KMS key of the instances' \
                               volumes, optional data capture. Every change replaces it under a new name. Tagged with \
                               its URN and stack.";
    const AUTONAME: Option<AutoName> = Some(AutoName {
        property: "endpointConfigName",
        max_len: 63,
        lowercase: false,
    });
    type Inputs = EndpointConfigArgs;
    type Outputs = EndpointConfigState;

    fn validate(inputs: &EndpointConfigArgs) -> Vec<CheckFailure> {
        let mut failures = Vec::new();
        if inputs.production_variants.is_empty() {
            failures.push(CheckFailure::new(
                "productionVariants",
                "give at least one production variant (model, instance type)",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, variant) in inputs.production_variants.iter().enumerate() {
            if !seen.insert(variant.variant_name.as_str()) {
                failures.push(CheckFailure::new(
                    format!("productionVariants[{i}].variantName"),
                    format!(
                        "variant name {:?} is used twice; give each variant its own name",
                        variant.variant_name
                    ),
                ));
            }
        }
        failures
    }
}

#[cfg(feature = "provider")]
pub(crate) mod lifecycle {
    use aws_sdk_sagemaker::operation::describe_endpoint_config::DescribeEndpointConfigOutput;
    use aws_sdk_sagemaker::types::{
        CaptureMode, CaptureOption, DataCaptureConfig, ProductionVariant as SmVariant, ProductionVariantInstanceType,
    };
    use aws_sdk_sagemaker::Client;
    use palisade_provider_kit::prelude::*;

    use super::{DataCapture, EndpointConfig, EndpointConfigArgs, EndpointConfigState, ProductionVariant};
    use crate::sagemaker;

    impl Resource for EndpointConfig {
        /// The configuration of the declared name, when this URN made it (CreateEndpointConfig takes
        /// no idempotency token; the name is what an interrupted create leaves). One of that name
        /// that is not ours is refused.
        async fn owned(&self, ctx: &Context, inputs: &EndpointConfigArgs) -> Result<Vec<String>> {
            let Some(name) = &inputs.endpoint_config_name else {
                return Ok(Vec::new());
            };
            owned_config(&sagemaker::client(ctx).await?, ctx, name).await
        }

        async fn create(
            &self,
            ctx: &Context,
            request: CreateRequest<EndpointConfigArgs>,
        ) -> Result<Created<EndpointConfigState>> {
            let sm = sagemaker::client(ctx).await?;
            let args = request.inputs;
            let name = args
                .endpoint_config_name
                .clone()
                .ok_or_else(|| ProviderError::invalid("endpointConfigName", "give the configuration a name"))?;
            let variants = args
                .production_variants
                .iter()
                .map(|v| {
                    SmVariant::builder()
                        .variant_name(&v.variant_name)
                        .model_name(&v.model_name)
                        .instance_type(ProductionVariantInstanceType::from(v.instance_type.as_str()))
                        .initial_instance_count(v.initial_instance_count)
                        .initial_variant_weight(v.initial_variant_weight as f32)
                        .build()
                })
                .collect::<Vec<_>>();
            let capture = args.data_capture.as_ref().map(data_capture_config);
            let created = sm
                .create_endpoint_config()
                .endpoint_config_name(&name)
                .set_production_variants(Some(variants))
                .set_kms_key_id(args.kms_key_id.clone())
                .set_data_capture_config(capture)
                .set_tags(Some(sagemaker::owned_tags(ctx, &args.tags)))
                .send()
                .await
                .map_err(|e| aws_error("CreateEndpointConfig", e));
            sagemaker::created_or_ours(created, owned_config(&sm, ctx, &name)).await?;
            let outputs = read(&sm, &name).await?.ok_or(ProviderError::NotFound {
                kind: "endpoint configuration",
                id: name.clone(),
            })?;
            Ok(Created { id: name, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<EndpointConfigArgs, EndpointConfigState>,
        ) -> Result<Option<EndpointConfigState>> {
            let sm = sagemaker::client(ctx).await?;
            read(&sm, &request.id).await
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<EndpointConfigState>) -> Result<()> {
            let sm = sagemaker::client(ctx).await?;
            let deleted = sm
                .delete_endpoint_config()
                .endpoint_config_name(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteEndpointConfig", e));
            deleted.or_gone().map(|_| ())
        }
    }

    fn data_capture_config(capture: &DataCapture) -> DataCaptureConfig {
        let option = |mode: CaptureMode| CaptureOption::builder().capture_mode(mode).build();
        DataCaptureConfig::builder()
            .enable_capture(true)
            .initial_sampling_percentage(capture.initial_sampling_percentage)
            .destination_s3_uri(&capture.destination_s3_uri)
            .set_kms_key_id(capture.kms_key_id.clone())
            .capture_options(option(CaptureMode::Input))
            .capture_options(option(CaptureMode::Output))
            .build()
    }

    /// The capture a described configuration performs, or `None` when it captures nothing. A
    /// configuration created without capture can be described with an empty `DataCaptureConfig`
    /// (`{}`): no destination, `EnableCapture` absent. That is no capture, not capture to nowhere;
    /// reading it as capture would show drift on every refresh and replace the configuration (and
    /// move its endpoint) on the next `up`. Empty strings AWS echoes for unset keys are unset too.
    pub(crate) fn data_capture_of(config: &DataCaptureConfig) -> Option<DataCapture> {
        let destination = config.destination_s3_uri().filter(|d| !d.trim().is_empty())?;
        if config.enable_capture() == Some(false) {
            return None;
        }
        Some(DataCapture {
            destination_s3_uri: destination.to_string(),
            initial_sampling_percentage: config.initial_sampling_percentage().unwrap_or(100),
            kms_key_id: config.kms_key_id().filter(|k| !k.trim().is_empty()).map(str::to_string),
        })
    }

    /// SageMaker keeps weights as 32-bit floats; widening bit for bit would read `0.1` back as
    /// `0.10000000149…` and show drift. The shortest decimal of the f32 is what the user wrote.
    pub(crate) fn widen(weight: f32) -> f64 {
        weight.to_string().parse().unwrap_or(f64::from(weight))
    }

    /// The configuration named `name`, as SageMaker describes it; `None` when there is none.
    async fn describe(sm: &Client, name: &str) -> Result<Option<DescribeEndpointConfigOutput>> {
        let described = sm
            .describe_endpoint_config()
            .endpoint_config_name(name)
            .send()
            .await
            .map_err(|e| aws_error("DescribeEndpointConfig", e));
        described.or_gone()
    }

    /// `[name]` when the configuration of that name is this URN's; a refusal when it is someone
    /// else's.
    async fn owned_config(sm: &Client, ctx: &Context, name: &str) -> Result<Vec<String>> {
        let arn = describe(sm, name)
            .await?
            .and_then(|c| c.endpoint_config_arn().map(str::to_string));
        sagemaker::owned_by_name(
            sm,
            ctx,
            "endpoint configuration",
            EndpointConfigArgs::ENDPOINT_CONFIG_NAME,
            name,
            arn,
        )
        .await
    }

    async fn read(sm: &Client, name: &str) -> Result<Option<EndpointConfigState>> {
        let Some(config) = describe(sm, name).await? else {
            return Ok(None);
        };
        let production_variants = config
            .production_variants()
            .iter()
            .map(|v| ProductionVariant {
                variant_name: v.variant_name().unwrap_or_default().to_string(),
                model_name: v.model_name().unwrap_or_default().to_string(),
                instance_type: v.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default(),
                initial_instance_count: v.initial_instance_count().unwrap_or(1),
                initial_variant_weight: v.initial_variant_weight().map(widen).unwrap_or(1.0),
            })
            .collect();
        let data_capture = config.data_capture_config().and_then(data_capture_of);
        let arn = config.endpoint_config_arn().unwrap_or_default().to_string();
        Ok(Some(EndpointConfigState {
            args: EndpointConfigArgs {
                endpoint_config_name: Some(name.to_string()),
                production_variants,
                kms_key_id: config.kms_key_id().filter(|k| !k.is_empty()).map(str::to_string),
                data_capture,
                tags: sagemaker::user_tags_of(sm, &arn).await?,
            },
            endpoint_config_arn: arn,
        }))
    }
}

#[cfg(all(test, feature = "provider"))]
mod tests {
    use aws_sdk_sagemaker::types::DataCaptureConfig;

    use super::lifecycle::data_capture_of;
    use super::DataCapture;

    #[test]
    fn an_empty_capture_config_is_no_capture() {
        assert_eq!(data_capture_of(&DataCaptureConfig::builder().build()), None);
        let blank = DataCaptureConfig::builder()
            .destination_s3_uri("")
            .enable_capture(true)
            .build();
        assert_eq!(data_capture_of(&blank), None);
        let disabled = DataCaptureConfig::builder()
            .destination_s3_uri("s3://capture/scorer")
            .enable_capture(false)
            .build();
        assert_eq!(data_capture_of(&disabled), None);
    }

    #[test]
    fn a_capture_config_reads_back_as_declared() {
        let described = DataCaptureConfig::builder()
            .destination_s3_uri("s3://capture/scorer")
            .initial_sampling_percentage(20)
            .kms_key_id("")
            .build();
        assert_eq!(
            data_capture_of(&described),
            Some(DataCapture {
                destination_s3_uri: "s3://capture/scorer".into(),
                initial_sampling_percentage: 20,
                kms_key_id: None,
            })
        );
    }

    #[test]
    fn weights_read_back_as_written() {
        assert_eq!(super::lifecycle::widen(0.1), 0.1);
        assert_eq!(super::lifecycle::widen(1.0), 1.0);
        assert_eq!(super::lifecycle::widen(0.25), 0.25);
    }
}
