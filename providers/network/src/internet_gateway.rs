//! InternetGateway: a VPC's door to the internet. Only for stacks that ask for internet access
//! (NAT mode); the reference environment is internet-free and has none.

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;

use crate::validate;

/// An internet gateway, attached to at most one VPC.
#[derive(Debug, Default, Clone, Copy)]
pub struct InternetGateway;

/// Inputs of an [`InternetGateway`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct InternetGatewayArgs {
    /// The VPC to attach to; changed in place (detach, then attach). Absent: detached.
    #[property(validate = validate::vpc_id)]
    pub vpc_id: Option<String>,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Outputs of an [`InternetGateway`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct InternetGatewayState {
    #[serde(flatten)]
    pub args: InternetGatewayArgs,
    /// The gateway's id (`igw-...`).
    pub internet_gateway_id: String,
    /// The id of the account that owns the gateway.
    pub owner_id: String,
}

impl ResourceType for InternetGateway {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "InternetGateway";
    const DOC: &'static str =
        "An internet gateway and its attachment to a VPC. Only for stacks that ask for internet access.";
    type Inputs = InternetGatewayArgs;
    type Outputs = InternetGatewayState;
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_ec2::types::ResourceType as Ec2ResourceType;
    use aws_sdk_ec2::Client;
    use palisade_provider_kit::prelude::*;

    use super::{InternetGateway, InternetGatewayArgs, InternetGatewayState};
    use crate::ec2;

    impl Resource for InternetGateway {
        async fn owned(&self, ctx: &Context, _inputs: &Self::Inputs) -> Result<Vec<String>> {
            let ec2 = ec2::client(ctx).await?;
            Ok(ec2
                .describe_internet_gateways()
                .filters(ec2::owned_by(&ctx.urn))
                .send()
                .await
                .map_err(|e| aws_error("DescribeInternetGateways", e))?
                .internet_gateways()
                .iter()
                .filter_map(|g| g.internet_gateway_id().map(str::to_string))
                .collect())
        }

        async fn create(
            &self,
            ctx: &Context,
            request: CreateRequest<InternetGatewayArgs>,
        ) -> Result<Created<InternetGatewayState>> {
            let ec2 = ec2::client(ctx).await?;
            let args = request.inputs;
            let id = ec2
                .create_internet_gateway()
                .tag_specifications(ec2::tag_specification(
                    ctx,
                    Ec2ResourceType::InternetGateway,
                    &args.tags,
                ))
                .send()
                .await
                .map_err(|e| aws_error("CreateInternetGateway", e))?
                .internet_gateway()
                .and_then(|g| g.internet_gateway_id())
                .unwrap_or_default()
                .to_string();
            let live = read(&ec2, &id).await?.ok_or(ProviderError::NotFound {
                kind: "internet gateway",
                id: id.clone(),
            })?;
            attach(&ec2, &id, live.args.vpc_id.as_deref(), args.vpc_id.as_deref()).await?;
            let outputs = read(&ec2, &id).await?.ok_or(ProviderError::NotFound {
                kind: "internet gateway",
                id: id.clone(),
            })?;
            Ok(Created { id, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<InternetGatewayArgs, InternetGatewayState>,
        ) -> Result<Option<InternetGatewayState>> {
            read(&ec2::client(ctx).await?, &request.id).await
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<InternetGatewayArgs, InternetGatewayState>,
        ) -> Result<InternetGatewayState> {
            let ec2 = ec2::client(ctx).await?;
            let live = read(&ec2, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "internet gateway",
                id: request.id.clone(),
            })?;
            attach(
                &ec2,
                &request.id,
                live.args.vpc_id.as_deref(),
                request.news.vpc_id.as_deref(),
            )
            .await?;
            ec2::update_tags(&ec2, &request.id, &request.olds.args.tags, &request.news.tags).await?;
            read(&ec2, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "internet gateway",
                id: request.id,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<InternetGatewayState>) -> Result<()> {
            let ec2 = ec2::client(ctx).await?;
            let Some(live) = read(&ec2, &request.id).await? else {
                return Ok(());
            };
            attach(&ec2, &request.id, live.args.vpc_id.as_deref(), None).await?;
            let deleted = ec2
                .delete_internet_gateway()
                .internet_gateway_id(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteInternetGateway", e));
            deleted.or_gone().map(|_| ())
        }
    }

    /// Moves the gateway's attachment from `live` to `wanted`.
    async fn attach(ec2: &Client, id: &str, live: Option<&str>, wanted: Option<&str>) -> Result<()> {
        if live == wanted {
            return Ok(());
        }
        if let Some(vpc) = live {
            let detached = ec2
                .detach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc)
                .send()
                .await
                .map_err(|e| aws_error("DetachInternetGateway", e));
            detached.or_gone()?;
        }
        if let Some(vpc) = wanted {
            ec2.attach_internet_gateway()
                .internet_gateway_id(id)
                .vpc_id(vpc)
                .send()
                .await
                .map_err(|e| aws_error("AttachInternetGateway", e))?;
        }
        Ok(())
    }

    async fn read(ec2: &Client, id: &str) -> Result<Option<InternetGatewayState>> {
        let found = ec2
            .describe_internet_gateways()
            .internet_gateway_ids(id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeInternetGateways", e));
        let Some(gateway) = found
            .or_gone()?
            .and_then(|output| output.internet_gateways().first().cloned())
        else {
            return Ok(None);
        };
        Ok(Some(InternetGatewayState {
            args: InternetGatewayArgs {
                vpc_id: gateway
                    .attachments()
                    .iter()
                    .find_map(|a| a.vpc_id().map(str::to_string)),
                tags: ec2::from_ec2_tags(gateway.tags()),
            },
            internet_gateway_id: id.to_string(),
            owner_id: gateway.owner_id().unwrap_or_default().to_string(),
        }))
    }
}
