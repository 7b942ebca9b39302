//! One account's private network: VPC, private subnets, routing (through NAT only in NAT mode), the
//! SageMaker and endpoint security groups, the interface endpoints and the S3 gateway endpoint.

use std::collections::BTreeMap;

use palisade::network::{
    endpoint_service_name, InternetGateway, InternetGatewayArgs, NatGateway, NatGatewayArgs, Route, RouteTable,
    RouteTableArgs, SecurityGroup, SecurityGroupArgs, SecurityGroupRule, Subnet, SubnetArgs, Vpc, VpcArgs, VpcEndpoint,
    VpcEndpointArgs,
};
use palisade::security::policy_document::{bucket_arn, Effect, PolicyDocument, Principal, Statement};
use palisade::stack::DeclareError;
use palisade::{Resource, Stack};

use crate::config::{Config, NetworkConfig};

/// One private network's handles.
pub(super) struct Network {
    pub(super) vpc: Resource<Vpc>,
    pub(super) subnets: Vec<Resource<Subnet>>,
    pub(super) route_tables: Vec<Resource<RouteTable>>,
    pub(super) sagemaker: Resource<SecurityGroup>,
    pub(super) interface_endpoints: BTreeMap<String, Resource<VpcEndpoint>>,
}

impl Network {
    pub(super) fn subnet_ids(&self) -> Vec<String> {
        self.subnets.iter().map(|s| s.subnet_id()).collect()
    }

    pub(super) fn kms_endpoint_id(&self) -> Option<String> {
        self.interface_endpoints.get("kms").map(|e| e.vpc_endpoint_id())
    }
}

/// A private network: VPC, one private subnet per zone, their route table (with a route through
/// NAT only in NAT mode), the SageMaker and endpoint security groups, and the interface endpoints.
pub(super) fn network(stack: &mut Stack, config: &Config, net: &NetworkConfig) -> Result<Network, DeclareError> {
    let vpc = stack.resource::<Vpc>("main", VpcArgs::new(&net.vpc_cidr))?;
    let zone = |zone: &str| format!("{}{zone}", config.region);
    let subnets = net
        .subnets
        .iter()
        .map(|s| {
            let args = SubnetArgs::new(vpc.vpc_id(), &s.cidr, zone(&s.zone));
            stack.resource::<Subnet>(format!("private-{}", s.zone), args)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut private_routes = Vec::new();
    let mut route_tables = Vec::new();
    if let Some(nat) = &net.nat {
        let gateway =
            stack.resource::<InternetGateway>("internet", InternetGatewayArgs::default().with_vpc_id(vpc.vpc_id()))?;
        let public = SubnetArgs::new(vpc.vpc_id(), &nat.public_subnet_cidr, zone(&nat.zone));
        let public = stack.resource::<Subnet>(format!("public-{}", nat.zone), public)?;
        let translator = stack.resource::<NatGateway>("nat", NatGatewayArgs::new(public.subnet_id()))?;
        let to_internet = Route::new("0.0.0.0/0").with_gateway_id(gateway.internet_gateway_id());
        route_tables.push(
            stack.resource::<RouteTable>(
                "public",
                RouteTableArgs::new(vpc.vpc_id())
                    .with_routes(vec![to_internet])
                    .with_subnet_ids(vec![public.subnet_id()]),
            )?,
        );
        private_routes.push(Route::new("0.0.0.0/0").with_nat_gateway_id(translator.nat_gateway_id()));
    }
    let private = RouteTableArgs::new(vpc.vpc_id())
        .with_routes(private_routes)
        .with_subnet_ids(subnets.iter().map(|s| s.subnet_id()).collect());
    route_tables.insert(0, stack.resource::<RouteTable>("private", private)?);

    // SageMaker's group admits only itself. Out, it reaches its members, the interface endpoints
    // (HTTPS inside the VPC) and S3 through the gateway endpoint (HTTPS to S3's prefix list; the
    // gateway endpoint is declared with the buckets it admits, after this group).
    let members = rule("-1", 0, "members of the group talk to each other").with_self_referencing(true);
    let s3_prefix_list = stack.handle::<VpcEndpoint>("s3").prefix_list_id();
    let sagemaker = SecurityGroupArgs::new(vpc.vpc_id())
        .with_description("SageMaker Studio, jobs and models: members only")
        .with_ingress(vec![members.clone()])
        .with_egress(vec![
            members,
            rule("tcp", 443, "HTTPS to the interface endpoints").with_cidr_blocks(vec![net.vpc_cidr.clone()]),
            rule("tcp", 443, "HTTPS to S3 through the gateway endpoint").with_prefix_list_ids(vec![s3_prefix_list]),
        ]);
    let sagemaker = stack.resource::<SecurityGroup>("sagemaker", sagemaker)?;
    // The endpoints' group admits HTTPS from SageMaker's group and the private subnets, and NFS
    // (EFS, Studio's home directories) from the subnets.
    let subnet_cidrs: Vec<String> = net.subnets.iter().map(|s| s.cidr.clone()).collect();
    let endpoints_group = SecurityGroupArgs::new(vpc.vpc_id())
        .with_description("VPC interface endpoints: HTTPS from SageMaker and the private subnets")
        .with_ingress(vec![
            rule("tcp", 443, "HTTPS from SageMaker").with_security_group_ids(vec![sagemaker.group_id()]),
            rule("tcp", 443, "HTTPS from the private subnets").with_cidr_blocks(subnet_cidrs.clone()),
            rule("tcp", 2049, "NFS (EFS) from the private subnets").with_cidr_blocks(subnet_cidrs),
        ]);
    let endpoints_group = stack.resource::<SecurityGroup>("endpoints", endpoints_group)?;
    let mut interface_endpoints = BTreeMap::new();
    for service in &net.interface_endpoints {
        let endpoint = VpcEndpointArgs::new(vpc.vpc_id(), endpoint_service_name(&config.region, service))
            .with_subnet_ids(subnets.iter().map(|s| s.subnet_id()).collect())
            .with_security_group_ids(vec![endpoints_group.group_id()]);
        interface_endpoints.insert(
            service.clone(),
            stack.resource::<VpcEndpoint>(service.as_str(), endpoint)?,
        );
    }
    Ok(Network {
        vpc,
        subnets,
        route_tables,
        sagemaker,
        interface_endpoints,
    })
}

/// A security-group rule for one port (all ports for protocol `-1`), narrowed by its setters.
fn rule(protocol: &str, port: i32, description: &str) -> SecurityGroupRule {
    SecurityGroupRule::new(protocol)
        .with_from_port(port)
        .with_to_port(port)
        .with_description(description)
}

/// The S3 gateway endpoint: routes S3 through the private route tables and admits only `buckets`
/// (and the regional bucket ECR keeps image layers in, which pulling an inference image needs).
/// The buckets are named, not referenced: the endpoint comes before the buckets and everything that
/// uses the network, SageMaker's security group included (it admits the endpoint's prefix list).
pub(super) fn s3_gateway_endpoint(
    stack: &mut Stack,
    config: &Config,
    net: &Network,
    buckets: &[String],
) -> Result<Resource<VpcEndpoint>, DeclareError> {
    let mut resources: Vec<String> = buckets
        .iter()
        .map(|name| bucket_arn(name))
        .flat_map(|arn| [arn.clone(), format!("{arn}/*")])
        .collect();
    resources.push(format!("arn:aws:s3:::prod-{}-starport-layer-bucket/*", config.region));
    let policy = PolicyDocument::new([Statement::new(Effect::Allow)
        .with_sid("EnvironmentBucketsOnly")
        .with_principal(Principal::Everyone)
        .with_actions(["s3:*"])
        .with_resources(resources)]);
    let endpoint = VpcEndpointArgs::new(net.vpc.vpc_id(), endpoint_service_name(&config.region, "s3"))
        .with_vpc_endpoint_type("Gateway")
        .with_route_table_ids(net.route_tables.iter().map(|t| t.route_table_id()).collect())
        .with_private_dns_enabled(false)
        .with_policy(policy.to_json());
    stack.resource::<VpcEndpoint>("s3", endpoint)
}
