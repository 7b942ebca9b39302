//! Endpoint: a live, private inference endpoint serving one endpoint configuration.
//!
//! A new configuration is applied in place with UpdateEndpoint: SageMaker brings up the new fleet
//! and shifts traffic before it retires the old one, so the endpoint never goes down. The old
//! configuration is left alone here; the engine deletes a replaced configuration only after this
//! update has succeeded, so a failed update can still fall back to it. Create and update wait until
//! the endpoint is InService; an endpoint that ends Failed is an error carrying SageMaker's
//! FailureReason, never a success. Delete waits until the endpoint is gone.

use palisade_provider_kit::prelude::*;

use crate::validate;

/// A SageMaker endpoint.
#[derive(Debug, Default, Clone, Copy)]
pub struct Endpoint;

/// Inputs of an [`Endpoint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct EndpointArgs {
    /// The endpoint's name, up to 63 characters (what callers invoke). Default: the resource name
    /// plus a random suffix. A fixed name is fine: changing it replaces the endpoint.
    #[property(replace, validate = validate::sagemaker_name)]
    pub endpoint_name: Option<String>,
    /// The endpoint configuration to serve (the `endpointConfigName` output of an EndpointConfig);
    /// a new one is applied in place.
    #[property(validate = validate::sagemaker_name)]
    pub endpoint_config_name: String,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = palisade_provider_kit::tags::validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Outputs of an [`Endpoint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct EndpointState {
    #[serde(flatten)]
    pub args: EndpointArgs,
    /// The endpoint's ARN.
    pub endpoint_arn: String,
    /// The endpoint's status when last seen (`InService` after a successful create or update).
    pub endpoint_status: String,
}

impl ResourceType for Endpoint {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "Endpoint";
    const DOC: &'static str =
        "A SageMaker endpoint. A new endpoint configuration is applied in place (UpdateEndpoint); \
                               create and update wait until it is InService, and a failure is an error with \
                               SageMaker's reason. Tagged with its URN and stack.";
    const AUTONAME: Option<AutoName> = Some(AutoName {
        property: "endpointName",
        max_len: 63,
        lowercase: false,
    });
    type Inputs = EndpointArgs;
    type Outputs = EndpointState;
}

#[cfg(feature = "provider")]
pub(crate) mod lifecycle {
    use aws_sdk_sagemaker::types::EndpointStatus;
    use aws_sdk_sagemaker::Client;
    use palisade_provider_kit::prelude::*;

    use super::{Endpoint, EndpointArgs, EndpointState};
    use crate::sagemaker;

    impl Resource for Endpoint {
        /// Endpoints of this account that carry this resource's URN tag: what an interrupted create
        /// left behind (SageMaker has no idempotency token for CreateEndpoint, and a retry under the
        /// same name would fail). Endpoints are few per account, so listing them is cheap.
        async fn owned(&self, ctx: &Context, _inputs: &Self::Inputs) -> Result<Vec<String>> {
            let sm = sagemaker::client(ctx).await?;
            let mut names = Vec::new();
            let mut next = None;
            loop {
                let page = sm
                    .list_endpoints()
                    .set_next_token(next)
                    .send()
                    .await
                    .map_err(|e| aws_error("ListEndpoints", e))?;
                names.extend(
                    page.endpoints()
                        .iter()
                        .filter_map(|e| Some((e.endpoint_name()?.to_string(), e.endpoint_arn()?.to_string()))),
                );
                next = page.next_token().map(str::to_string);
                if next.is_none() {
                    break;
                }
            }
            let mut owned = Vec::new();
            for (name, arn) in names {
                if sagemaker::urn_tag_of(&sm, &arn).await?.as_deref() == Some(ctx.urn.as_str()) {
                    owned.push(name);
                }
            }
            Ok(owned)
        }

        async fn create(&self, ctx: &Context, request: CreateRequest<EndpointArgs>) -> Result<Created<EndpointState>> {
            let sm = sagemaker::client(ctx).await?;
            let args = request.inputs;
            let name = args
                .endpoint_name
                .clone()
                .ok_or_else(|| ProviderError::invalid("endpointName", "give the endpoint a name"))?;
            sm.create_endpoint()
                .endpoint_name(&name)
                .endpoint_config_name(&args.endpoint_config_name)
                .set_tags(Some(sagemaker::owned_tags(ctx, &args.tags)))
                .send()
                .await
                .map_err(|e| aws_error("CreateEndpoint", e))?;
            wait_in_service(&sm, ctx, &name).await?;
            let outputs = read(&sm, &name).await?.ok_or(ProviderError::NotFound {
                kind: "endpoint",
                id: name.clone(),
            })?;
            Ok(Created { id: name, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<EndpointArgs, EndpointState>,
        ) -> Result<Option<EndpointState>> {
            let sm = sagemaker::client(ctx).await?;
            read(&sm, &request.id).await
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<EndpointArgs, EndpointState>,
        ) -> Result<EndpointState> {
            let sm = sagemaker::client(ctx).await?;
            let old = &request.olds.args;
            let new = &request.news;
            if old.endpoint_config_name != new.endpoint_config_name {
                // The old configuration is kept: the engine deletes it once this update succeeded.
                move_to_config(&sm, ctx, &request.id, &new.endpoint_config_name).await?;
            }
            sagemaker::update_tags(&sm, &request.olds.endpoint_arn, &old.tags, &new.tags).await?;
            read(&sm, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "endpoint",
                id: request.id,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<EndpointState>) -> Result<()> {
            let sm = sagemaker::client(ctx).await?;
            let deleted = sm
                .delete_endpoint()
                .endpoint_name(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteEndpoint", e));
            if deleted.or_gone()?.is_none() {
                return Ok(());
            }
            ctx.wait_until(&format!("endpoint {} to be deleted", request.id), || async {
                Ok(match sagemaker::endpoint_status(&sm, &request.id).await? {
                    None => Progress::Done(()),
                    Some((state, _)) => Progress::Pending(state.as_str().to_string()),
                })
            })
            .await
        }
    }

    /// Applies `config` to the live endpoint `name` and waits until it serves it.
    pub(crate) async fn move_to_config(sm: &Client, ctx: &Context, name: &str, config: &str) -> Result<()> {
        sm.update_endpoint()
            .endpoint_name(name)
            .endpoint_config_name(config)
            .send()
            .await
            .map_err(|e| aws_error("UpdateEndpoint", e))?;
        wait_in_service(sm, ctx, name).await?;
        confirm_serving(sm, name, config).await
    }

    /// InService alone does not prove an update took: SageMaker can roll a failed update back and
    /// report the endpoint InService on the OLD configuration, with a FailureReason
    /// (terraform-provider-aws #39099). The update succeeded only when the endpoint runs `config` and
    /// no FailureReason is set; otherwise the error names the configuration it still runs and why.
    pub(crate) async fn confirm_serving(sm: &Client, name: &str, config: &str) -> Result<()> {
        let described = sm
            .describe_endpoint()
            .endpoint_name(name)
            .send()
            .await
            .map_err(|e| aws_error("DescribeEndpoint", e));
        let Some(endpoint) = described.or_gone()? else {
            return Err(ProviderError::NotFound {
                kind: "endpoint",
                id: name.to_string(),
            });
        };
        let serving = endpoint.endpoint_config_name().unwrap_or_default();
        let reason = endpoint.failure_reason().filter(|r| !r.trim().is_empty());
        if serving == config && reason.is_none() {
            return Ok(());
        }
        let status = endpoint
            .endpoint_status()
            .map(|s| s.as_str())
            .unwrap_or("in an unknown state");
        Err(ProviderError::Failed {
            kind: "endpoint",
            id: name.to_string(),
            state: if serving == config {
                format!("{status} on configuration `{config}` but reports a failure")
            } else {
                format!(
                    "{status} on configuration `{serving}`, not `{config}`: SageMaker rolled the update back, \
                     and the endpoint keeps its old configuration"
                )
            },
            reason: reason
                .map(str::to_string)
                .unwrap_or_else(|| "SageMaker gave no FailureReason".into()),
        })
    }

    /// Waits until endpoint `name` is InService. Failed (with SageMaker's FailureReason) is an error,
    /// as is an endpoint that disappears while we wait.
    pub(crate) async fn wait_in_service(sm: &Client, ctx: &Context, name: &str) -> Result<()> {
        ctx.wait_until(&format!("endpoint {name} to be InService"), || async {
            match sagemaker::endpoint_status(sm, name).await? {
                Some((EndpointStatus::InService, _)) => Ok(Progress::Done(())),
                Some((EndpointStatus::Failed, reason)) => Err(ProviderError::Failed {
                    kind: "endpoint",
                    id: name.to_string(),
                    state: "Failed".into(),
                    reason: reason.unwrap_or_else(|| "SageMaker gave no FailureReason".into()),
                }),
                Some((state, _)) => Ok(Progress::Pending(state.as_str().to_string())),
                None => Err(ProviderError::NotFound {
                    kind: "endpoint",
                    id: name.to_string(),
                }),
            }
        })
        .await
    }

    async fn read(sm: &Client, name: &str) -> Result<Option<EndpointState>> {
        let described = sm
            .describe_endpoint()
            .endpoint_name(name)
            .send()
            .await
            .map_err(|e| aws_error("DescribeEndpoint", e));
        let Some(endpoint) = described.or_gone()? else {
            return Ok(None);
        };
        let arn = endpoint.endpoint_arn().unwrap_or_default().to_string();
        Ok(Some(EndpointState {
            args: EndpointArgs {
                endpoint_name: Some(name.to_string()),
                endpoint_config_name: endpoint.endpoint_config_name().unwrap_or_default().to_string(),
                tags: sagemaker::user_tags_of(sm, &arn).await?,
            },
            endpoint_status: endpoint
                .endpoint_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            endpoint_arn: arn,
        }))
    }
}

#[cfg(all(test, feature = "provider"))]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use aws_sdk_sagemaker::operation::describe_endpoint::DescribeEndpointOutput;
    use aws_sdk_sagemaker::operation::update_endpoint::UpdateEndpointOutput;
    use aws_sdk_sagemaker::types::EndpointStatus;
    use aws_sdk_sagemaker::Client;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use palisade_provider_kit::aws::AwsSession;
    use palisade_provider_kit::config::ProviderConfig;
    use palisade_provider_kit::prelude::*;
    use tokio_util::sync::CancellationToken;

    use super::lifecycle::{confirm_serving, move_to_config, wait_in_service};

    const URN: &str = "urn:pulumi:prod::palisade-tests::palisade-deploy:index:Endpoint::serving";

    /// A context whose waits give up after `timeout`; no AWS call is made through it.
    fn context(timeout: Duration) -> Context {
        Context::new(
            Arc::new(AwsSession::new(ProviderConfig::default())),
            CancellationToken::new(),
            URN,
            timeout,
        )
    }

    fn described(status: EndpointStatus, reason: Option<&str>) -> DescribeEndpointOutput {
        DescribeEndpointOutput::builder()
            .endpoint_name("serving")
            .endpoint_arn("arn:aws:sagemaker:us-east-1:123456789012:endpoint/serving")
            .endpoint_config_name("serving-config-2")
            .endpoint_status(status)
            .set_failure_reason(reason.map(str::to_string))
            .build()
    }

    #[tokio::test]
    async fn an_update_that_ends_failed_is_an_error_with_the_reason() {
        let update = mock!(Client::update_endpoint)
            .match_requests(|r| {
                r.endpoint_name() == Some("serving") && r.endpoint_config_name() == Some("serving-config-2")
            })
            .then_output(|| {
                UpdateEndpointOutput::builder()
                    .endpoint_arn("arn:aws:sagemaker:us-east-1:123456789012:endpoint/serving")
                    .build()
            });
        let describe = mock!(Client::describe_endpoint)
            .sequence()
            .output(|| described(EndpointStatus::Updating, None))
            .output(|| {
                described(
                    EndpointStatus::Failed,
                    Some("The primary container for production variant AllTraffic did not pass the ping health check."),
                )
            })
            .build();
        let client = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, [&update, &describe]);

        let error = move_to_config(
            &client,
            &context(Duration::from_secs(30)),
            "serving",
            "serving-config-2",
        )
        .await
        .expect_err("a Failed endpoint is not a success");
        match &error {
            ProviderError::Failed {
                kind,
                id,
                state,
                reason,
            } => {
                assert_eq!((*kind, id.as_str(), state.as_str()), ("endpoint", "serving", "Failed"));
                assert!(reason.contains("did not pass the ping health check"), "{reason}");
            }
            other => panic!("expected Failed, got {other:?}"),
        }
        assert!(error.to_string().contains("ping health check"), "{error}");
        assert_eq!(update.num_calls(), 1);
        assert_eq!(describe.num_calls(), 2);
    }

    #[tokio::test]
    async fn an_update_rolled_back_to_the_old_configuration_is_an_error_with_the_reason() {
        let update = mock!(Client::update_endpoint).then_output(|| {
            UpdateEndpointOutput::builder()
                .endpoint_arn("arn:aws:sagemaker:us-east-1:123456789012:endpoint/serving")
                .build()
        });
        // Updating, then InService again, but on the old configuration and with a FailureReason.
        let rolled_back = || {
            DescribeEndpointOutput::builder()
                .endpoint_name("serving")
                .endpoint_arn("arn:aws:sagemaker:us-east-1:123456789012:endpoint/serving")
                .endpoint_config_name("serving-config-1")
                .endpoint_status(EndpointStatus::InService)
                .failure_reason("Variant AllTraffic failed its health check; rolled back.")
                .build()
        };
        let describe = mock!(Client::describe_endpoint)
            .sequence()
            .output(|| described(EndpointStatus::Updating, None))
            .output(rolled_back)
            .output(rolled_back)
            .build();
        let client = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, [&update, &describe]);

        let error = move_to_config(
            &client,
            &context(Duration::from_secs(30)),
            "serving",
            "serving-config-2",
        )
        .await
        .expect_err("InService on the old configuration is not a success");
        let message = error.to_string();
        assert!(message.contains("failed its health check"), "{message}");
        assert!(
            message.contains("`serving-config-1`, not `serving-config-2`"),
            "{message}"
        );
        assert!(matches!(error, ProviderError::Failed { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn an_update_on_the_new_configuration_with_a_failure_reason_is_an_error() {
        let describe = mock!(Client::describe_endpoint)
            .then_output(|| described(EndpointStatus::InService, Some("Capacity could not be added.")));
        let client = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, [&describe]);
        let error = confirm_serving(&client, "serving", "serving-config-2")
            .await
            .expect_err("a FailureReason is not a success");
        assert!(error.to_string().contains("Capacity could not be added."), "{error}");
    }

    #[tokio::test]
    async fn an_update_on_the_new_configuration_without_a_failure_reason_succeeds() {
        let describe = mock!(Client::describe_endpoint).then_output(|| described(EndpointStatus::InService, None));
        let client = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, [&describe]);
        confirm_serving(&client, "serving", "serving-config-2")
            .await
            .expect("serving the new configuration");
    }

    #[tokio::test]
    async fn a_wait_past_the_timeout_names_what_it_waited_for() {
        let describe = mock!(Client::describe_endpoint)
            .sequence()
            .output(|| described(EndpointStatus::Updating, None))
            .repeatedly()
            .build();
        let client = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, [&describe]);

        let error = wait_in_service(&client, &context(Duration::from_millis(50)), "serving")
            .await
            .expect_err("never InService");
        match &error {
            ProviderError::Timeout {
                waiting_for,
                last_state,
                ..
            } => {
                assert_eq!(waiting_for, "endpoint serving to be InService");
                assert_eq!(last_state, "Updating");
            }
            other => panic!("expected Timeout, got {other:?}"),
        }
        assert!(describe.num_calls() >= 2, "looked {} times", describe.num_calls());
    }

    #[tokio::test]
    async fn an_endpoint_in_service_ends_the_wait() {
        let describe = mock!(Client::describe_endpoint)
            .sequence()
            .output(|| described(EndpointStatus::Creating, None))
            .output(|| described(EndpointStatus::InService, None))
            .build();
        let client = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, [&describe]);
        wait_in_service(&client, &context(Duration::from_secs(30)), "serving")
            .await
            .expect("InService");
    }
}
