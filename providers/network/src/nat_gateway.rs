//! NatGateway: outbound-only internet access for private subnets, with its own Elastic IP. Only for
//! stacks that ask for NAT mode.

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;
use serde_json::Value as Json;

use crate::validate;

/// A NAT gateway and (for public connectivity) the Elastic IP it owns.
#[derive(Debug, Default, Clone, Copy)]
pub struct NatGateway;

/// Inputs of a [`NatGateway`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct NatGatewayArgs {
    /// The subnet to place it in (a public subnet for `public` connectivity).
    #[property(replace, validate = validate::subnet_id)]
    pub subnet_id: String,
    /// `public` (through an internet gateway, with an Elastic IP) or `private`. Default `public`.
    #[property(replace, validate = connectivity)]
    #[serde(default = "public")]
    pub connectivity_type: String,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn public() -> String {
    "public".into()
}

fn connectivity(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some("public" | "private") => Ok(()),
        _ => Err(format!(
            "{value} is not a connectivity type; expected `public` or `private`"
        )),
    }
}

/// Outputs of a [`NatGateway`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct NatGatewayState {
    #[serde(flatten)]
    pub args: NatGatewayArgs,
    /// The gateway's id (`nat-...`).
    pub nat_gateway_id: String,
    /// The Elastic IP allocated for it (public connectivity); released when the gateway is deleted.
    pub allocation_id: Option<String>,
    /// Its public address.
    pub public_ip: Option<String>,
    /// Its private address.
    pub private_ip: Option<String>,
}

impl ResourceType for NatGateway {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "NatGateway";
    const DOC: &'static str = "A NAT gateway with its own Elastic IP, released on delete. Only for NAT mode.";
    type Inputs = NatGatewayArgs;
    type Outputs = NatGatewayState;
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_ec2::types::{ConnectivityType, DomainType, ResourceType as Ec2ResourceType};
    use aws_sdk_ec2::Client;
    use palisade_provider_kit::prelude::*;

    use super::{NatGateway, NatGatewayArgs, NatGatewayState};
    use crate::ec2;

    impl Resource for NatGateway {
        async fn owned(&self, ctx: &Context, _inputs: &Self::Inputs) -> Result<Vec<String>> {
            let ec2 = ec2::client(ctx).await?;
            Ok(ec2
                .describe_nat_gateways()
                .filter(ec2::owned_by(&ctx.urn))
                .send()
                .await
                .map_err(|e| aws_error("DescribeNatGateways", e))?
                .nat_gateways()
                .iter()
                .filter(|g| !matches!(g.state().map(|s| s.as_str()), Some("deleted" | "deleting" | "failed")))
                .filter_map(|g| g.nat_gateway_id().map(str::to_string))
                .collect())
        }

        async fn create(
            &self,
            ctx: &Context,
            request: CreateRequest<NatGatewayArgs>,
        ) -> Result<Created<NatGatewayState>> {
            let ec2 = ec2::client(ctx).await?;
            let args = request.inputs;
            let id = {
                let allocation = if args.connectivity_type == "public" {
                    Some(elastic_ip(ctx, &ec2, &args).await?)
                } else {
                    None
                };
                ec2.create_nat_gateway()
                    .subnet_id(&args.subnet_id)
                    .connectivity_type(ConnectivityType::from(args.connectivity_type.as_str()))
                    .set_allocation_id(allocation)
                    .tag_specifications(ec2::tag_specification(ctx, Ec2ResourceType::Natgateway, &args.tags))
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateNatGateway", e))?
                    .nat_gateway()
                    .and_then(|g| g.nat_gateway_id())
                    .unwrap_or_default()
                    .to_string()
            };
            ctx.wait_until(&format!("NAT gateway {id} to become available"), || async {
                let gateway = describe(&ec2, &id).await?;
                match gateway.as_ref().and_then(|g| g.state()).map(|s| s.as_str()) {
                    Some("available") => Ok(Progress::Done(())),
                    Some("failed") => Err(ProviderError::Failed {
                        kind: "NAT gateway",
                        id: id.clone(),
                        state: "failed".into(),
                        reason: gateway
                            .as_ref()
                            .and_then(|g| g.failure_message())
                            .unwrap_or("no reason given")
                            .to_string(),
                    }),
                    other => Ok(Progress::Pending(other.unwrap_or("not visible yet").to_string())),
                }
            })
            .await?;
            let outputs = read(&ec2, &id).await?.ok_or(ProviderError::NotFound {
                kind: "NAT gateway",
                id: id.clone(),
            })?;
            Ok(Created { id, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<NatGatewayArgs, NatGatewayState>,
        ) -> Result<Option<NatGatewayState>> {
            read(&ec2::client(ctx).await?, &request.id).await
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<NatGatewayArgs, NatGatewayState>,
        ) -> Result<NatGatewayState> {
            let ec2 = ec2::client(ctx).await?;
            ec2::update_tags(&ec2, &request.id, &request.olds.args.tags, &request.news.tags).await?;
            read(&ec2, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "NAT gateway",
                id: request.id,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<NatGatewayState>) -> Result<()> {
            let ec2 = ec2::client(ctx).await?;
            let deleted = ec2
                .delete_nat_gateway()
                .nat_gateway_id(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteNatGateway", e));
            deleted.or_gone()?;
            ctx.wait_until(&format!("NAT gateway {} to be deleted", request.id), || async {
                let state = describe(&ec2, &request.id)
                    .await?
                    .and_then(|g| g.state().map(|s| s.as_str().to_string()));
                Ok(match state.as_deref() {
                    None | Some("deleted") => Progress::Done(()),
                    Some(other) => Progress::Pending(other.to_string()),
                })
            })
            .await?;
            // The address is ours alone: release it once the gateway no longer holds it.
            if let Some(allocation) = &request.outputs.allocation_id {
                let released = ec2
                    .release_address()
                    .allocation_id(allocation)
                    .send()
                    .await
                    .map_err(|e| aws_error("ReleaseAddress", e));
                released.or_gone()?;
            }
            Ok(())
        }
    }

    /// The Elastic IP for this gateway: one an interrupted run allocated for this URN, or a new one.
    async fn elastic_ip(ctx: &Context, ec2: &Client, args: &NatGatewayArgs) -> Result<String> {
        let owned = ec2
            .describe_addresses()
            .filters(ec2::owned_by(&ctx.urn))
            .send()
            .await
            .map_err(|e| aws_error("DescribeAddresses", e))?;
        if let Some(allocation) = owned
            .addresses()
            .iter()
            .filter(|a| a.association_id().is_none())
            .find_map(|a| a.allocation_id())
        {
            return Ok(ec2::adopting("Elastic IP", allocation.to_string(), &ctx.urn));
        }
        let allocated = ec2
            .allocate_address()
            .domain(DomainType::Vpc)
            .tag_specifications(ec2::tag_specification(ctx, Ec2ResourceType::ElasticIp, &args.tags))
            .send()
            .await
            .map_err(|e| aws_error("AllocateAddress", e))?;
        Ok(allocated.allocation_id().unwrap_or_default().to_string())
    }

    async fn describe(ec2: &Client, id: &str) -> Result<Option<aws_sdk_ec2::types::NatGateway>> {
        let found = ec2
            .describe_nat_gateways()
            .nat_gateway_ids(id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeNatGateways", e));
        Ok(found
            .or_gone()?
            .and_then(|output| output.nat_gateways().first().cloned()))
    }

    async fn read(ec2: &Client, id: &str) -> Result<Option<NatGatewayState>> {
        let Some(gateway) = describe(ec2, id).await? else {
            return Ok(None);
        };
        if matches!(gateway.state().map(|s| s.as_str()), Some("deleted" | "deleting")) {
            return Ok(None);
        }
        let address = gateway.nat_gateway_addresses().first();
        Ok(Some(NatGatewayState {
            args: NatGatewayArgs {
                subnet_id: gateway.subnet_id().unwrap_or_default().to_string(),
                connectivity_type: gateway
                    .connectivity_type()
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_else(|| "public".into()),
                tags: ec2::from_ec2_tags(gateway.tags()),
            },
            nat_gateway_id: id.to_string(),
            allocation_id: address.and_then(|a| a.allocation_id()).map(str::to_string),
            public_ip: address.and_then(|a| a.public_ip()).map(str::to_string),
            private_ip: address.and_then(|a| a.private_ip()).map(str::to_string),
        }))
    }
}
