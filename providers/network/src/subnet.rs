//! Subnet: a slice of a VPC in one availability zone.

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;

use crate::validate;

/// A subnet. Private unless a route table sends its traffic to an internet gateway.
#[derive(Debug, Default, Clone, Copy)]
pub struct Subnet;

/// Inputs of a [`Subnet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct SubnetArgs {
    /// The id of the VPC the subnet belongs to.
    #[property(replace, validate = validate::vpc_id)]
    pub vpc_id: String,
    /// The subnet's IPv4 range, /16 to /28, inside the VPC's range (e.g. `10.0.1.0/24`).
    #[property(replace, validate = validate::vpc_cidr)]
    pub cidr_block: String,
    /// The availability zone, e.g. `eu-west-1a`.
    #[property(replace, validate = validate::availability_zone)]
    pub availability_zone: String,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Outputs of a [`Subnet`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct SubnetState {
    #[serde(flatten)]
    pub args: SubnetArgs,
    /// The subnet's id (`subnet-...`).
    pub subnet_id: String,
    /// The subnet's ARN.
    pub arn: String,
    /// The id of the account that owns the subnet.
    pub owner_id: String,
}

impl ResourceType for Subnet {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "Subnet";
    const DOC: &'static str = "A subnet of a VPC in one availability zone. Tagged with its URN and stack.";
    type Inputs = SubnetArgs;
    type Outputs = SubnetState;
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_ec2::types::{Filter, ResourceType as Ec2ResourceType};
    use aws_sdk_ec2::Client;
    use palisade_provider_kit::prelude::*;

    use super::{Subnet, SubnetArgs, SubnetState};
    use crate::ec2;

    impl Resource for Subnet {
        async fn owned(&self, ctx: &Context, _inputs: &Self::Inputs) -> Result<Vec<String>> {
            let ec2 = ec2::client(ctx).await?;
            Ok(ec2
                .describe_subnets()
                .filters(ec2::owned_by(&ctx.urn))
                .send()
                .await
                .map_err(|e| aws_error("DescribeSubnets", e))?
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_id().map(str::to_string))
                .collect())
        }

        async fn create(&self, ctx: &Context, request: CreateRequest<SubnetArgs>) -> Result<Created<SubnetState>> {
            let ec2 = ec2::client(ctx).await?;
            let args = request.inputs;
            let id = ec2
                .create_subnet()
                .vpc_id(&args.vpc_id)
                .cidr_block(&args.cidr_block)
                .availability_zone(&args.availability_zone)
                .tag_specifications(ec2::tag_specification(ctx, Ec2ResourceType::Subnet, &args.tags))
                .send()
                .await
                .map_err(|e| aws_error("CreateSubnet", e))?
                .subnet()
                .and_then(|s| s.subnet_id())
                .unwrap_or_default()
                .to_string();
            ctx.wait_until(&format!("subnet {id} to become available"), || async {
                let state = describe(&ec2, &id)
                    .await?
                    .and_then(|s| s.state().map(|s| s.as_str().to_string()));
                Ok(match state.as_deref() {
                    Some("available") => Progress::Done(()),
                    other => Progress::Pending(other.unwrap_or("not visible yet").to_string()),
                })
            })
            .await?;
            let outputs = read(&ec2, &id).await?.ok_or(ProviderError::NotFound {
                kind: "subnet",
                id: id.clone(),
            })?;
            Ok(Created { id, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<SubnetArgs, SubnetState>,
        ) -> Result<Option<SubnetState>> {
            read(&ec2::client(ctx).await?, &request.id).await
        }

        async fn update(&self, ctx: &Context, request: UpdateRequest<SubnetArgs, SubnetState>) -> Result<SubnetState> {
            let ec2 = ec2::client(ctx).await?;
            ec2::update_tags(&ec2, &request.id, &request.olds.args.tags, &request.news.tags).await?;
            read(&ec2, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "subnet",
                id: request.id,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<SubnetState>) -> Result<()> {
            let ec2 = ec2::client(ctx).await?;
            // Network interfaces of deleted endpoints linger for minutes on AWS: wait for them.
            let deleted = ctx
                .while_in_use(&format!("subnet {} to be free to delete", request.id), || async {
                    ec2.delete_subnet()
                        .subnet_id(&request.id)
                        .send()
                        .await
                        .map_err(|e| aws_error("DeleteSubnet", e))
                        .or_gone()
                })
                .await;
            match deleted {
                Err(error) if error.is_dependency_violation() => {
                    let in_subnet = Filter::builder().name("subnet-id").values(&request.id).build();
                    let users = ec2::listing(ec2::network_interfaces(&ec2, in_subnet).await);
                    Err(error.with_note(format!("still in the subnet when the wait ran out: {users}")))
                }
                other => other.map(|_| ()),
            }
        }
    }

    async fn describe(ec2: &Client, id: &str) -> Result<Option<aws_sdk_ec2::types::Subnet>> {
        let found = ec2
            .describe_subnets()
            .subnet_ids(id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeSubnets", e));
        Ok(found.or_gone()?.and_then(|output| output.subnets().first().cloned()))
    }

    async fn read(ec2: &Client, id: &str) -> Result<Option<SubnetState>> {
        let Some(subnet) = describe(ec2, id).await? else {
            return Ok(None);
        };
        Ok(Some(SubnetState {
            args: SubnetArgs {
                vpc_id: subnet.vpc_id().unwrap_or_default().to_string(),
                cidr_block: subnet.cidr_block().unwrap_or_default().to_string(),
                availability_zone: subnet.availability_zone().unwrap_or_default().to_string(),
                tags: ec2::from_ec2_tags(subnet.tags()),
            },
            subnet_id: id.to_string(),
            arn: subnet.subnet_arn().unwrap_or_default().to_string(),
            owner_id: subnet.owner_id().unwrap_or_default().to_string(),
        }))
    }
}
