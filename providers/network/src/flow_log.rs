//! FlowLog: a record of the traffic in a VPC, delivered to CloudWatch Logs.

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;
use serde_json::Value as Json;

use crate::validate;

/// A VPC flow log to a CloudWatch Logs group.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlowLog;

/// Inputs of a [`FlowLog`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogArgs {
    /// The VPC whose traffic is logged.
    #[property(replace, validate = validate::vpc_id)]
    pub vpc_id: String,
    /// The CloudWatch Logs group that receives the records.
    #[property(replace)]
    pub log_group_name: String,
    /// The role that VPC Flow Logs assumes to write to the group.
    #[property(replace, validate = validate::role_arn)]
    pub deliver_logs_permission_arn: String,
    /// Which traffic to record: `ALL`, `ACCEPT` or `REJECT`. Default `ALL`.
    #[property(replace, validate = traffic_type)]
    #[serde(default = "all")]
    pub traffic_type: String,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn all() -> String {
    "ALL".into()
}

fn traffic_type(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some("ALL" | "ACCEPT" | "REJECT") => Ok(()),
        _ => Err(format!(
            "{value} is not a traffic type; expected `ALL`, `ACCEPT` or `REJECT`"
        )),
    }
}

/// Outputs of a [`FlowLog`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct FlowLogState {
    #[serde(flatten)]
    pub args: FlowLogArgs,
    /// The flow log's id (`fl-...`).
    pub flow_log_id: String,
}

impl ResourceType for FlowLog {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "FlowLog";
    const DOC: &'static str = "A VPC flow log delivered to CloudWatch Logs.";
    type Inputs = FlowLogArgs;
    type Outputs = FlowLogState;
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_ec2::types::{FlowLogsResourceType, LogDestinationType, ResourceType as Ec2ResourceType, TrafficType};
    use aws_sdk_ec2::Client;
    use palisade_provider_kit::prelude::*;

    use super::{FlowLog, FlowLogArgs, FlowLogState};
    use crate::ec2;

    impl Resource for FlowLog {
        async fn owned(&self, ctx: &Context, _inputs: &Self::Inputs) -> Result<Vec<String>> {
            let ec2 = ec2::client(ctx).await?;
            Ok(ec2
                .describe_flow_logs()
                .filter(ec2::owned_by(&ctx.urn))
                .send()
                .await
                .map_err(|e| aws_error("DescribeFlowLogs", e))?
                .flow_logs()
                .iter()
                .filter_map(|f| f.flow_log_id().map(str::to_string))
                .collect())
        }

        async fn create(&self, ctx: &Context, request: CreateRequest<FlowLogArgs>) -> Result<Created<FlowLogState>> {
            let ec2 = ec2::client(ctx).await?;
            let args = request.inputs;
            let id = {
                let created = ec2
                    .create_flow_logs()
                    .resource_ids(&args.vpc_id)
                    .resource_type(FlowLogsResourceType::Vpc)
                    .traffic_type(TrafficType::from(args.traffic_type.as_str()))
                    .log_destination_type(LogDestinationType::CloudWatchLogs)
                    .log_group_name(&args.log_group_name)
                    .deliver_logs_permission_arn(&args.deliver_logs_permission_arn)
                    .tag_specifications(ec2::tag_specification(ctx, Ec2ResourceType::VpcFlowLog, &args.tags))
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateFlowLogs", e))?;
                ec2::unsuccessful("CreateFlowLogs", created.unsuccessful())?;
                created.flow_log_ids().first().cloned().unwrap_or_default()
            };
            let outputs = read(&ec2, &id).await?.ok_or(ProviderError::NotFound {
                kind: "flow log",
                id: id.clone(),
            })?;
            Ok(Created { id, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<FlowLogArgs, FlowLogState>,
        ) -> Result<Option<FlowLogState>> {
            read(&ec2::client(ctx).await?, &request.id).await
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<FlowLogArgs, FlowLogState>,
        ) -> Result<FlowLogState> {
            let ec2 = ec2::client(ctx).await?;
            ec2::update_tags(&ec2, &request.id, &request.olds.args.tags, &request.news.tags).await?;
            read(&ec2, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "flow log",
                id: request.id,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<FlowLogState>) -> Result<()> {
            let ec2 = ec2::client(ctx).await?;
            let deleted = ec2
                .delete_flow_logs()
                .flow_log_ids(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteFlowLogs", e));
            if let Some(output) = deleted.or_gone()? {
                ec2::unsuccessful("DeleteFlowLogs", output.unsuccessful()).or_gone()?;
            }
            Ok(())
        }
    }

    async fn read(ec2: &Client, id: &str) -> Result<Option<FlowLogState>> {
        let found = ec2
            .describe_flow_logs()
            .flow_log_ids(id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeFlowLogs", e));
        let Some(flow_log) = found.or_gone()?.and_then(|output| output.flow_logs().first().cloned()) else {
            return Ok(None);
        };
        Ok(Some(FlowLogState {
            args: FlowLogArgs {
                vpc_id: flow_log.resource_id().unwrap_or_default().to_string(),
                log_group_name: flow_log.log_group_name().unwrap_or_default().to_string(),
                deliver_logs_permission_arn: flow_log.deliver_logs_permission_arn().unwrap_or_default().to_string(),
                traffic_type: flow_log
                    .traffic_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "ALL".into()),
                tags: ec2::from_ec2_tags(flow_log.tags()),
            },
            flow_log_id: id.to_string(),
        }))
    }
}
