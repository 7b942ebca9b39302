//! Vpc: the private network that everything else of an account lives in.

use palisade_provider_kit::prelude::*;

use crate::validate;

/// A VPC. Internet-free unless an internet gateway is attached to it separately.
#[derive(Debug, Default, Clone, Copy)]
pub struct Vpc;

/// Inputs of a [`Vpc`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct VpcArgs {
    /// The IPv4 network range of the VPC in CIDR notation, /16 to /28 (e.g. `10.0.0.0/16`).
    #[property(replace, validate = validate::vpc_cidr)]
    pub cidr_block: String,
    /// Whether the Amazon DNS server resolves names in the VPC. Default true; interface endpoints
    /// with private DNS need it.
    #[serde(default = "enabled")]
    pub enable_dns_support: bool,
    /// Whether instances get DNS hostnames. Default true; interface endpoints with private DNS need it.
    #[serde(default = "enabled")]
    pub enable_dns_hostnames: bool,
    /// `default` or `dedicated` hardware. Default `default`.
    #[property(replace, validate = validate::tenancy)]
    #[serde(default = "default_tenancy")]
    pub instance_tenancy: String,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = palisade_provider_kit::tags::validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn enabled() -> bool {
    true
}

fn default_tenancy() -> String {
    "default".into()
}

/// Outputs of a [`Vpc`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct VpcState {
    #[serde(flatten)]
    pub args: VpcArgs,
    /// The VPC's id (`vpc-...`).
    pub vpc_id: String,
    /// The VPC's ARN.
    pub arn: String,
    /// The id of the account that owns the VPC.
    pub owner_id: String,
}

impl ResourceType for Vpc {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "Vpc";
    const DOC: &'static str = "A VPC: the private network of one account. Tagged with its URN and stack.";
    type Inputs = VpcArgs;
    type Outputs = VpcState;
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType as Ec2ResourceType, Tenancy, VpcAttributeName};
    use aws_sdk_ec2::Client;
    use palisade_provider_kit::prelude::*;

    use super::{Vpc, VpcArgs, VpcState};
    use crate::ec2;

    impl Resource for Vpc {
        async fn owned(&self, ctx: &Context, _inputs: &Self::Inputs) -> Result<Vec<String>> {
            let ec2 = ec2::client(ctx).await?;
            let owned = ec2
                .describe_vpcs()
                .filters(ec2::owned_by(&ctx.urn))
                .send()
                .await
                .map_err(|e| aws_error("DescribeVpcs", e))?;
            Ok(owned
                .vpcs()
                .iter()
                .filter_map(|v| v.vpc_id().map(str::to_string))
                .collect())
        }

        async fn create(&self, ctx: &Context, request: CreateRequest<VpcArgs>) -> Result<Created<VpcState>> {
            let ec2 = ec2::client(ctx).await?;
            let args = request.inputs;
            let id = {
                let created = ec2
                    .create_vpc()
                    .cidr_block(&args.cidr_block)
                    .instance_tenancy(Tenancy::from(args.instance_tenancy.as_str()))
                    .tag_specifications(ec2::tag_specification(ctx, Ec2ResourceType::Vpc, &args.tags))
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateVpc", e))?;
                created.vpc().and_then(|v| v.vpc_id()).unwrap_or_default().to_string()
            };
            ctx.wait_until(&format!("VPC {id} to become available"), || async {
                let state = describe(&ec2, &id)
                    .await?
                    .and_then(|v| v.state().map(|s| s.as_str().to_string()));
                Ok(match state.as_deref() {
                    Some("available") => Progress::Done(()),
                    other => Progress::Pending(other.unwrap_or("not visible yet").to_string()),
                })
            })
            .await?;
            set_dns(&ec2, &id, None, &args).await?;
            let outputs = read(ctx, &ec2, &id).await?.ok_or(ProviderError::NotFound {
                kind: "VPC",
                id: id.clone(),
            })?;
            Ok(Created { id, outputs })
        }

        async fn read(&self, ctx: &Context, request: ReadRequest<VpcArgs, VpcState>) -> Result<Option<VpcState>> {
            let ec2 = ec2::client(ctx).await?;
            read(ctx, &ec2, &request.id).await
        }

        async fn update(&self, ctx: &Context, request: UpdateRequest<VpcArgs, VpcState>) -> Result<VpcState> {
            let ec2 = ec2::client(ctx).await?;
            let old = &request.olds.args;
            set_dns(&ec2, &request.id, Some(old), &request.news).await?;
            ec2::update_tags(&ec2, &request.id, &old.tags, &request.news.tags).await?;
            read(ctx, &ec2, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "VPC",
                id: request.id,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<VpcState>) -> Result<()> {
            let ec2 = ec2::client(ctx).await?;
            // What is in a VPC goes away asynchronously on AWS (network interfaces): wait for it.
            let deleted = ctx
                .while_in_use(&format!("VPC {} to be free to delete", request.id), || async {
                    ec2.delete_vpc()
                        .vpc_id(&request.id)
                        .send()
                        .await
                        .map_err(|e| aws_error("DeleteVpc", e))
                        .or_gone()
                })
                .await;
            match deleted {
                Ok(_) => Ok(()),
                Err(error) if error.is_dependency_violation() => {
                    let dependents = dependents(&ec2, &request.id).await;
                    Err(error.with_note(format!(
                        "still in the VPC when the wait ran out: {dependents}; delete those first"
                    )))
                }
                Err(other) => Err(other),
            }
        }
    }

    async fn describe(ec2: &Client, id: &str) -> Result<Option<aws_sdk_ec2::types::Vpc>> {
        let found = ec2
            .describe_vpcs()
            .vpc_ids(id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeVpcs", e));
        Ok(found.or_gone()?.and_then(|output| output.vpcs().first().cloned()))
    }

    async fn read(ctx: &Context, ec2: &Client, id: &str) -> Result<Option<VpcState>> {
        let Some(vpc) = describe(ec2, id).await? else {
            return Ok(None);
        };
        let attribute = |name: VpcAttributeName| async move {
            let output = ec2
                .describe_vpc_attribute()
                .vpc_id(id)
                .attribute(name.clone())
                .send()
                .await
                .map_err(|e| aws_error("DescribeVpcAttribute", e))?;
            let value = match name {
                VpcAttributeName::EnableDnsHostnames => output.enable_dns_hostnames().and_then(|a| a.value()),
                _ => output.enable_dns_support().and_then(|a| a.value()),
            };
            Ok::<bool, ProviderError>(value.unwrap_or(false))
        };
        let owner_id = vpc.owner_id().unwrap_or_default().to_string();
        let region = ctx.region().await?;
        Ok(Some(VpcState {
            args: VpcArgs {
                cidr_block: vpc.cidr_block().unwrap_or_default().to_string(),
                enable_dns_support: attribute(VpcAttributeName::EnableDnsSupport).await?,
                enable_dns_hostnames: attribute(VpcAttributeName::EnableDnsHostnames).await?,
                instance_tenancy: vpc
                    .instance_tenancy()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "default".into()),
                tags: ec2::from_ec2_tags(vpc.tags()),
            },
            vpc_id: id.to_string(),
            arn: format!("arn:aws:ec2:{region}:{owner_id}:vpc/{id}"),
            owner_id,
        }))
    }

    /// Sets the DNS attributes that differ from `old` (from AWS's defaults on create).
    async fn set_dns(ec2: &Client, id: &str, old: Option<&VpcArgs>, new: &VpcArgs) -> Result<()> {
        // AWS creates VPCs with DNS support on and DNS hostnames off.
        let (old_support, old_hostnames) =
            old.map_or((true, false), |o| (o.enable_dns_support, o.enable_dns_hostnames));
        let flag = |value: bool| AttributeBooleanValue::builder().value(value).build();
        // AWS takes one attribute per call.
        if new.enable_dns_support != old_support {
            ec2.modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_support(flag(new.enable_dns_support))
                .send()
                .await
                .map_err(|e| aws_error("ModifyVpcAttribute", e))?;
        }
        if new.enable_dns_hostnames != old_hostnames {
            ec2.modify_vpc_attribute()
                .vpc_id(id)
                .enable_dns_hostnames(flag(new.enable_dns_hostnames))
                .send()
                .await
                .map_err(|e| aws_error("ModifyVpcAttribute", e))?;
        }
        Ok(())
    }

    /// What still lives in a VPC, for a DependencyViolation message.
    async fn dependents(ec2: &Client, id: &str) -> String {
        let in_vpc = || aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(id).build();
        let mut found = Vec::new();
        if let Ok(subnets) = ec2.describe_subnets().filters(in_vpc()).send().await {
            found.extend(
                subnets
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_id())
                    .map(|s| format!("subnet {s}")),
            );
        }
        found.extend(ec2::network_interfaces(ec2, in_vpc()).await);
        if let Ok(endpoints) = ec2.describe_vpc_endpoints().filters(in_vpc()).send().await {
            found.extend(
                endpoints
                    .vpc_endpoints()
                    .iter()
                    .filter_map(|e| e.vpc_endpoint_id())
                    .map(|e| format!("VPC endpoint {e}")),
            );
        }
        let gateway = aws_sdk_ec2::types::Filter::builder()
            .name("attachment.vpc-id")
            .values(id)
            .build();
        if let Ok(gateways) = ec2.describe_internet_gateways().filters(gateway).send().await {
            found.extend(
                gateways
                    .internet_gateways()
                    .iter()
                    .filter_map(|g| g.internet_gateway_id())
                    .map(|g| format!("internet gateway {g}")),
            );
        }
        ec2::listing(found)
    }
}
