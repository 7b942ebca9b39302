//! RouteTable: where a VPC's subnets send traffic that leaves the VPC.
//!
//! An internet-free network has route tables with no routes of their own (only AWS's local route and
//! the routes that gateway endpoints add). NAT mode adds a default route to a NAT gateway. Routes and
//! subnet associations are compared as sets and changed in place.

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;
use serde_json::Value as Json;

use crate::validate;

/// A route table of a VPC.
#[derive(Debug, Default, Clone, Copy)]
pub struct RouteTable;

/// One route: traffic to a destination range goes to one target.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// The destination range, e.g. `0.0.0.0/0`.
    #[property(validate = destination)]
    pub destination_cidr_block: String,
    /// An internet gateway (`igw-...`) as the target.
    pub gateway_id: Option<String>,
    /// A NAT gateway (`nat-...`) as the target.
    pub nat_gateway_id: Option<String>,
}

/// Inputs of a [`RouteTable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct RouteTableArgs {
    /// The id of the VPC.
    #[property(replace, validate = validate::vpc_id)]
    pub vpc_id: String,
    /// Routes besides AWS's local route and gateway endpoints' routes. Empty keeps the network
    /// internet-free.
    #[property(set)]
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Subnets that use this table.
    #[property(set, validate = validate::subnet_ids)]
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Outputs of a [`RouteTable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct RouteTableState {
    #[serde(flatten)]
    pub args: RouteTableArgs,
    /// The table's id (`rtb-...`).
    pub route_table_id: String,
    /// The association id of each associated subnet.
    #[serde(default)]
    pub association_ids: BTreeMap<String, String>,
}

impl ResourceType for RouteTable {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "RouteTable";
    const DOC: &'static str = "A route table with its routes and subnet associations, changed in place.";
    type Inputs = RouteTableArgs;
    type Outputs = RouteTableState;

    fn validate(inputs: &RouteTableArgs) -> Vec<CheckFailure> {
        let mut failures = Vec::new();
        for (i, route) in inputs.routes.iter().enumerate() {
            if route.gateway_id.is_some() == route.nat_gateway_id.is_some() {
                failures.push(CheckFailure::new(
                    format!("routes[{i}]"),
                    "a route needs exactly one target: `gatewayId` or `natGatewayId`",
                ));
            }
            if inputs.routes[..i]
                .iter()
                .any(|r| r.destination_cidr_block == route.destination_cidr_block)
            {
                failures.push(CheckFailure::new(
                    format!("routes[{i}].destinationCidrBlock"),
                    format!(
                        "{} is routed twice; keep one route per destination",
                        route.destination_cidr_block
                    ),
                ));
            }
        }
        failures
    }
}

fn destination(value: &Json) -> Result<(), String> {
    validate::parse_cidr(value.as_str().unwrap_or_default()).map(|_| ())
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_ec2::types::ResourceType as Ec2ResourceType;
    use aws_sdk_ec2::Client;
    use palisade_provider_kit::prelude::*;

    use super::{Route, RouteTable, RouteTableArgs, RouteTableState};
    use crate::ec2;

    impl Resource for RouteTable {
        async fn owned(&self, ctx: &Context, _inputs: &Self::Inputs) -> Result<Vec<String>> {
            let ec2 = ec2::client(ctx).await?;
            Ok(ec2
                .describe_route_tables()
                .filters(ec2::owned_by(&ctx.urn))
                .send()
                .await
                .map_err(|e| aws_error("DescribeRouteTables", e))?
                .route_tables()
                .iter()
                .filter_map(|t| t.route_table_id().map(str::to_string))
                .collect())
        }

        async fn create(
            &self,
            ctx: &Context,
            request: CreateRequest<RouteTableArgs>,
        ) -> Result<Created<RouteTableState>> {
            let ec2 = ec2::client(ctx).await?;
            let args = request.inputs;
            let id = ec2
                .create_route_table()
                .vpc_id(&args.vpc_id)
                .tag_specifications(ec2::tag_specification(ctx, Ec2ResourceType::RouteTable, &args.tags))
                .send()
                .await
                .map_err(|e| aws_error("CreateRouteTable", e))?
                .route_table()
                .and_then(|t| t.route_table_id())
                .unwrap_or_default()
                .to_string();
            reconcile(&ec2, &id, &args).await?;
            let outputs = read(&ec2, &id).await?.ok_or(ProviderError::NotFound {
                kind: "route table",
                id: id.clone(),
            })?;
            Ok(Created { id, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<RouteTableArgs, RouteTableState>,
        ) -> Result<Option<RouteTableState>> {
            read(&ec2::client(ctx).await?, &request.id).await
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<RouteTableArgs, RouteTableState>,
        ) -> Result<RouteTableState> {
            let ec2 = ec2::client(ctx).await?;
            reconcile(&ec2, &request.id, &request.news).await?;
            ec2::update_tags(&ec2, &request.id, &request.olds.args.tags, &request.news.tags).await?;
            read(&ec2, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "route table",
                id: request.id,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<RouteTableState>) -> Result<()> {
            let ec2 = ec2::client(ctx).await?;
            if let Some(live) = read(&ec2, &request.id).await? {
                for association in live.association_ids.values() {
                    let detached = ec2
                        .disassociate_route_table()
                        .association_id(association)
                        .send()
                        .await
                        .map_err(|e| aws_error("DisassociateRouteTable", e));
                    detached.or_gone()?;
                }
            }
            let deleted = ec2
                .delete_route_table()
                .route_table_id(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteRouteTable", e));
            deleted.or_gone().map(|_| ())
        }
    }

    /// Brings the live routes and associations to the declared ones.
    async fn reconcile(ec2: &Client, id: &str, args: &RouteTableArgs) -> Result<()> {
        let live = read(ec2, id).await?.ok_or(ProviderError::NotFound {
            kind: "route table",
            id: id.to_string(),
        })?;
        for route in &live.args.routes {
            let wanted = args
                .routes
                .iter()
                .find(|r| r.destination_cidr_block == route.destination_cidr_block);
            match wanted {
                None => {
                    ec2.delete_route()
                        .route_table_id(id)
                        .destination_cidr_block(&route.destination_cidr_block)
                        .send()
                        .await
                        .map_err(|e| aws_error("DeleteRoute", e))?;
                }
                Some(wanted) if wanted != route => {
                    ec2.replace_route()
                        .route_table_id(id)
                        .destination_cidr_block(&wanted.destination_cidr_block)
                        .set_gateway_id(wanted.gateway_id.clone())
                        .set_nat_gateway_id(wanted.nat_gateway_id.clone())
                        .send()
                        .await
                        .map_err(|e| aws_error("ReplaceRoute", e))?;
                }
                Some(_) => {}
            }
        }
        let missing = args.routes.iter().filter(|r| {
            !live
                .args
                .routes
                .iter()
                .any(|l| l.destination_cidr_block == r.destination_cidr_block)
        });
        for route in missing {
            ec2.create_route()
                .route_table_id(id)
                .destination_cidr_block(&route.destination_cidr_block)
                .set_gateway_id(route.gateway_id.clone())
                .set_nat_gateway_id(route.nat_gateway_id.clone())
                .send()
                .await
                .map_err(|e| aws_error("CreateRoute", e))?;
        }
        for (subnet, association) in &live.association_ids {
            if !args.subnet_ids.contains(subnet) {
                ec2.disassociate_route_table()
                    .association_id(association)
                    .send()
                    .await
                    .map_err(|e| aws_error("DisassociateRouteTable", e))?;
            }
        }
        for subnet in args
            .subnet_ids
            .iter()
            .filter(|s| !live.association_ids.contains_key(*s))
        {
            ec2.associate_route_table()
                .route_table_id(id)
                .subnet_id(subnet)
                .send()
                .await
                .map_err(|e| aws_error("AssociateRouteTable", e))?;
        }
        Ok(())
    }

    async fn read(ec2: &Client, id: &str) -> Result<Option<RouteTableState>> {
        let found = ec2
            .describe_route_tables()
            .route_table_ids(id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeRouteTables", e));
        let Some(table) = found
            .or_gone()?
            .and_then(|output| output.route_tables().first().cloned())
        else {
            return Ok(None);
        };
        // Only routes to gateways we manage: not the local route, not gateway endpoints' prefix-list routes.
        let mut routes: Vec<Route> = table
            .routes()
            .iter()
            .filter(|r| r.gateway_id() != Some("local"))
            .filter_map(|r| {
                let destination = r.destination_cidr_block()?.to_string();
                let gateway_id = r.gateway_id().filter(|g| g.starts_with("igw-")).map(str::to_string);
                let nat_gateway_id = r.nat_gateway_id().map(str::to_string);
                (gateway_id.is_some() || nat_gateway_id.is_some()).then_some(Route {
                    destination_cidr_block: destination,
                    gateway_id,
                    nat_gateway_id,
                })
            })
            .collect();
        routes.sort();
        let association_ids: BTreeMap<String, String> = table
            .associations()
            .iter()
            .filter(|a| !a.main().unwrap_or(false))
            .filter_map(|a| Some((a.subnet_id()?.to_string(), a.route_table_association_id()?.to_string())))
            .collect();
        Ok(Some(RouteTableState {
            args: RouteTableArgs {
                vpc_id: table.vpc_id().unwrap_or_default().to_string(),
                routes,
                subnet_ids: association_ids.keys().cloned().collect(),
                tags: ec2::from_ec2_tags(table.tags()),
            },
            route_table_id: id.to_string(),
            association_ids,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(routes: Vec<Route>) -> RouteTableArgs {
        RouteTableArgs {
            vpc_id: "vpc-1".into(),
            routes,
            subnet_ids: Vec::new(),
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn a_route_has_exactly_one_target_and_one_route_per_destination() {
        let both = Route {
            destination_cidr_block: "0.0.0.0/0".into(),
            gateway_id: Some("igw-1".into()),
            nat_gateway_id: Some("nat-1".into()),
        };
        let nat = Route {
            destination_cidr_block: "0.0.0.0/0".into(),
            gateway_id: None,
            nat_gateway_id: Some("nat-1".into()),
        };
        let failures: Vec<String> = RouteTable::validate(&args(vec![both, nat]))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            failures,
            vec![
                "routes[0]: a route needs exactly one target: `gatewayId` or `natGatewayId`",
                "routes[1].destinationCidrBlock: 0.0.0.0/0 is routed twice; keep one route per destination",
            ]
        );
    }
}
