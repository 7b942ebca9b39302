//! invokeEndpoint: sends one request to an endpoint and returns its answer; what a promotion's smoke
//! test runs against staging before production is touched.

use palisade_provider_kit::prelude::*;

use crate::validate;

/// The function.
#[derive(Debug, Default, Clone, Copy)]
pub struct InvokeEndpoint;

/// Arguments of [`InvokeEndpoint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct InvokeEndpointArgs {
    /// The endpoint's name.
    #[property(validate = validate::sagemaker_name)]
    pub endpoint_name: String,
    /// The request body (a sample payload).
    pub body: String,
    /// The body's MIME type.
    #[serde(default = "json")]
    pub content_type: String,
}

fn json() -> String {
    "application/json".into()
}

/// Result of [`InvokeEndpoint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct InvokeEndpointResult {
    /// The endpoint's status when it was invoked (always `InService`: anything else is an error).
    pub endpoint_status: String,
    /// The variant that answered.
    pub invoked_production_variant: Option<String>,
    /// The answer's MIME type.
    pub content_type: Option<String>,
    /// The answer, as text (bytes that are not UTF-8 are replaced).
    pub body: String,
}

impl FunctionType for InvokeEndpoint {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "invokeEndpoint";
    const DOC: &'static str = "Sends one request to an InService endpoint and returns its answer (a smoke test). \
                               Fails when the endpoint does not exist, is not InService, or the model \
                               answers with an error.";
    type Args = InvokeEndpointArgs;
    type Result = InvokeEndpointResult;
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_sagemaker::types::EndpointStatus;
    use aws_smithy_types::Blob;
    use palisade_provider_kit::prelude::*;

    use super::{InvokeEndpoint, InvokeEndpointArgs, InvokeEndpointResult};
    use crate::sagemaker;

    impl Function for InvokeEndpoint {
        async fn invoke(&self, ctx: &Context, args: InvokeEndpointArgs) -> Result<InvokeEndpointResult> {
            let sm = sagemaker::client(ctx).await?;
            let name = &args.endpoint_name;
            let (status, failure) =
                sagemaker::endpoint_status(&sm, name)
                    .await?
                    .ok_or_else(|| ProviderError::NotFound {
                        kind: "endpoint",
                        id: name.clone(),
                    })?;
            if status != EndpointStatus::InService {
                return Err(ProviderError::Failed {
                    kind: "endpoint",
                    id: name.clone(),
                    state: status.as_str().to_string(),
                    reason: format!(
                        "it must be InService to answer; SageMaker's failure reason: {}",
                        failure.as_deref().unwrap_or("none given")
                    ),
                });
            }
            let runtime = ctx.client(aws_sdk_sagemakerruntime::Client::new).await?;
            let answer = runtime
                .invoke_endpoint()
                .endpoint_name(name)
                .content_type(&args.content_type)
                .body(Blob::new(args.body.into_bytes()))
                .send()
                .await
                .map_err(|e| aws_error("InvokeEndpoint", e))?;
            Ok(InvokeEndpointResult {
                endpoint_status: status.as_str().to_string(),
                invoked_production_variant: answer.invoked_production_variant().map(str::to_string),
                content_type: answer.content_type().map(str::to_string),
                body: String::from_utf8_lossy(answer.body().map(Blob::as_ref).unwrap_or_default()).into_owned(),
            })
        }
    }
}
