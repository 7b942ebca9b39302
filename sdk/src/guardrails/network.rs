//! Network rules: no way out to the internet, and security groups that admit only what the private
//! network's design needs.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::rc::Rc;

use serde_json::Value as Json;

use palisade_deploy::{Model, ModelArgs};
use palisade_network::{
    InternetGateway, NatGateway, Route, RouteTable, RouteTableArgs, SecurityGroup, SecurityGroupArgs,
    SecurityGroupRule, SecurityGroupState, Subnet, SubnetArgs, Vpc, VpcArgs, VpcEndpoint, VpcEndpointArgs, VpcState,
};
use palisade_provider_kit::ResourceType;
use palisade_security::policy_document::Effect;
use palisade_security::{Bucket, BucketArgs};
use palisade_studio::{DefaultUserSettings, Domain, DomainArgs, UserProfile, UserProfileArgs};

use super::policy;
use super::view::{is_literal, object, Input, PlanView, Planned};
use super::{Subject, Verdict, STUDIO_INTERFACE_ENDPOINTS};

pub(super) fn internet_route(s: &Subject<'_>) -> Verdict {
    let r = s.resource;
    if r.stack.internet_access {
        return Verdict::Pass;
    }
    if r.is(InternetGateway::NAME) || r.is(NatGateway::NAME) {
        return Verdict::Fail(format!(
            "stack `{}` is internet-free but declares a {}",
            r.stack.name, r.step.token
        ));
    }
    if !r.is(RouteTable::NAME) {
        return Verdict::Pass;
    }
    const ROUTES: &str = RouteTableArgs::ROUTES;
    let routes = match s.plan.input(r, ROUTES) {
        Input::Known(Json::Array(routes)) => routes,
        Input::Unknown => return Verdict::Undecided(format!("its `{ROUTES}` are not known until apply")),
        _ => return Verdict::Pass,
    };
    for route in &routes {
        if route.get(Route::GATEWAY_ID).is_some() || route.get(Route::NAT_GATEWAY_ID).is_some() {
            let destination = route
                .get(Route::DESTINATION_CIDR_BLOCK)
                .and_then(Json::as_str)
                .unwrap_or("?");
            return Verdict::Fail(format!("route to {destination} leaves the VPC through a gateway"));
        }
    }
    Verdict::Pass
}

/// The ingress rules of a security group, or the verdict when they cannot be read.
fn ingress(s: &Subject<'_>) -> Result<Vec<Json>, Verdict> {
    const INGRESS: &str = SecurityGroupArgs::INGRESS;
    match s.plan.input(s.resource, INGRESS) {
        Input::Known(Json::Array(rules)) => Ok(rules),
        Input::Unknown => Err(Verdict::Undecided(format!(
            "its `{INGRESS}` rules are not known until apply"
        ))),
        _ => Ok(Vec::new()),
    }
}

fn strings<'j>(rule: &'j Json, property: &str) -> Vec<&'j str> {
    rule.get(property)
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .collect()
}

pub(super) fn open_ingress(s: &Subject<'_>) -> Verdict {
    if !s.resource.is(SecurityGroup::NAME) {
        return Verdict::Pass;
    }
    let rules = match ingress(s) {
        Ok(rules) => rules,
        Err(verdict) => return verdict,
    };
    for (i, rule) in rules.iter().enumerate() {
        if let Some(cidr) = strings(rule, SecurityGroupRule::CIDR_BLOCKS)
            .into_iter()
            .find(|c| *c == "0.0.0.0/0" || *c == "::/0")
        {
            return Verdict::Fail(format!("ingress[{i}] admits {cidr}"));
        }
    }
    Verdict::Pass
}

/// The security groups SageMaker runs in, as named by each Domain, user profile and Model: the
/// naming resource's URN and the group's id. Derived once per plan.
fn sagemaker_group_names(plan: &PlanView<'_>) -> Rc<Vec<(String, String)>> {
    plan.once("security groups SageMaker runs in", |plan| {
        let mut named = Vec::new();
        for domain in plan.of_kind(Domain::NAME) {
            let settings = object(&plan.input(domain, DomainArgs::DEFAULT_USER_SETTINGS));
            let groups = settings
                .get(DefaultUserSettings::SECURITY_GROUPS)
                .and_then(Json::as_array)
                .cloned()
                .unwrap_or_default();
            named.extend(
                groups
                    .iter()
                    .filter_map(Json::as_str)
                    .map(|g| (domain.urn().to_string(), g.to_string())),
            );
        }
        for (kind, property) in [
            (UserProfile::NAME, UserProfileArgs::SECURITY_GROUPS),
            (Model::NAME, ModelArgs::SECURITY_GROUP_IDS),
        ] {
            for resource in plan.of_kind(kind) {
                let groups = plan.input(resource, property);
                named.extend(
                    groups
                        .strings()
                        .into_iter()
                        .map(|g| (resource.urn().to_string(), g.to_string())),
                );
            }
        }
        named
    })
}

/// The security groups of the interface VPC endpoints. Derived once per plan.
fn endpoint_group_names(plan: &PlanView<'_>) -> Rc<HashSet<String>> {
    plan.once("security groups of the interface endpoints", |plan| {
        plan.of_kind(VpcEndpoint::NAME)
            .filter(|e| is_interface(plan, e))
            .flat_map(|e| {
                let groups = plan.input(e, VpcEndpointArgs::SECURITY_GROUP_IDS);
                groups.strings().into_iter().map(str::to_string).collect::<Vec<_>>()
            })
            .collect()
    })
}

pub(super) fn sagemaker_group_members_only(s: &Subject<'_>) -> Verdict {
    let r = s.resource;
    let named_by = [Domain::NAME, UserProfile::NAME, Model::NAME];
    if !named_by.contains(&r.kind()) && !r.is(SecurityGroup::NAME) {
        return Verdict::Pass;
    }
    let names = sagemaker_group_names(s.plan);
    if named_by.contains(&r.kind()) {
        // A group the plan does not declare cannot be checked.
        let elsewhere = names.iter().filter(|(by, _)| by == r.urn()).find(|(_, group)| {
            s.plan
                .named(SecurityGroup::NAME, SecurityGroupState::GROUP_ID, group)
                .is_none()
        });
        return match elsewhere {
            Some((_, group)) if is_literal(group) => Verdict::Undecided(format!(
                "security group {group} is declared in no stack of the plan, so its rules cannot be read"
            )),
            Some((_, group)) => Verdict::Undecided(format!("security group {group} is not known until apply")),
            None => Verdict::Pass,
        };
    }
    let own = s.plan.output(r.urn(), SecurityGroupState::GROUP_ID);
    if !names.iter().any(|(_, group)| *group == own) {
        return Verdict::Pass;
    }
    let rules = match ingress(s) {
        Ok(rules) => rules,
        Err(verdict) => return verdict,
    };
    for (i, rule) in rules.iter().enumerate() {
        let other_group = strings(rule, SecurityGroupRule::SECURITY_GROUP_IDS)
            .into_iter()
            .find(|g| **g != own);
        let admitted = strings(rule, SecurityGroupRule::CIDR_BLOCKS)
            .into_iter()
            .next()
            .map(str::to_string)
            .or_else(|| {
                strings(rule, SecurityGroupRule::PREFIX_LIST_IDS)
                    .first()
                    .map(|p| format!("prefix list {p}"))
            })
            .or_else(|| other_group.map(|g| format!("security group {g}")));
        if let Some(admitted) = admitted {
            return Verdict::Fail(format!(
                "ingress[{i}] admits {admitted}; SageMaker's group must admit only its own members (`self: true`)"
            ));
        }
    }
    Verdict::Pass
}

/// The ports interface endpoints serve: HTTPS for the AWS APIs, NFS for Studio's EFS.
const ENDPOINT_PORTS: [i64; 2] = [443, 2049];

pub(super) fn endpoint_group_https_and_nfs_only(s: &Subject<'_>) -> Verdict {
    let r = s.resource;
    if !r.is(SecurityGroup::NAME) {
        return Verdict::Pass;
    }
    let own = s.plan.output(r.urn(), SecurityGroupState::GROUP_ID);
    if !endpoint_group_names(s.plan).contains(&own) {
        return Verdict::Pass;
    }
    let rules = match ingress(s) {
        Ok(rules) => rules,
        Err(verdict) => return verdict,
    };
    let ranges = vpc_ranges(s.plan, r);
    for (i, rule) in rules.iter().enumerate() {
        let protocol = rule
            .get(SecurityGroupRule::PROTOCOL)
            .and_then(Json::as_str)
            .unwrap_or("-1");
        if !matches!(protocol, "tcp" | "6") {
            return Verdict::Fail(format!(
                "ingress[{i}] admits protocol {protocol}; endpoints need TCP only"
            ));
        }
        let from = rule
            .get(SecurityGroupRule::FROM_PORT)
            .and_then(Json::as_i64)
            .unwrap_or(0);
        let to = rule.get(SecurityGroupRule::TO_PORT).and_then(Json::as_i64).unwrap_or(0);
        if from != to || !ENDPOINT_PORTS.contains(&from) {
            let ports = if from == to {
                format!("port {from}")
            } else {
                format!("ports {from}-{to}")
            };
            return Verdict::Fail(format!(
                "ingress[{i}] admits {ports}; endpoints need only 443 (HTTPS) and 2049 (NFS)"
            ));
        }
        // A prefix list's ranges live outside the plan (AWS's own lists hold public ranges), so
        // they cannot be shown to lie inside the VPC.
        if let Some(list) = strings(rule, SecurityGroupRule::PREFIX_LIST_IDS).first() {
            return Verdict::Fail(format!(
                "ingress[{i}] admits prefix list {list}, whose ranges cannot be shown to lie inside the VPC"
            ));
        }
        for cidr in strings(rule, SecurityGroupRule::CIDR_BLOCKS) {
            match &ranges {
                Some(ranges) if ranges.iter().any(|range| within(cidr, range)) => {}
                Some(ranges) => {
                    return Verdict::Fail(format!(
                        "ingress[{i}] admits {cidr}, which is not inside the VPC's range ({})",
                        ranges.join(", ")
                    ))
                }
                None => {
                    return Verdict::Undecided(format!(
                        "the VPC of the group is not declared in the plan, so whether {cidr} lies inside it is unknown"
                    ))
                }
            }
        }
    }
    Verdict::Pass
}

/// The service a VPC endpoint's service name reaches, as `endpoint_service_name` takes it:
/// `com.amazonaws.<region>.ecr.dkr` is `ecr.dkr`, `aws.sagemaker.<region>.notebook` is `notebook`.
fn endpoint_service(service_name: &str) -> Option<&str> {
    if let Some(rest) = service_name.strip_prefix("aws.sagemaker.") {
        return rest.split_once('.').map(|(_, service)| service);
    }
    let rest = service_name.strip_prefix("com.amazonaws.")?;
    rest.split_once('.').map(|(_, service)| service)
}

/// Whether a VPC endpoint is of the interface type (the provider's default).
fn is_interface(plan: &PlanView<'_>, endpoint: &Planned<'_>) -> bool {
    plan.input(endpoint, VpcEndpointArgs::VPC_ENDPOINT_TYPE)
        .as_str()
        .unwrap_or("Interface")
        == "Interface"
}

pub(super) fn studio_endpoints(s: &Subject<'_>) -> Verdict {
    let r = s.resource;
    if !r.is(Domain::NAME) {
        return Verdict::Pass;
    }
    const MODE: &str = DomainArgs::APP_NETWORK_ACCESS_TYPE;
    match s.plan.input(r, MODE) {
        // PublicInternetOnly is PAL-SM-01's to refuse; Studio then needs no endpoints.
        Input::Known(Json::String(mode)) if mode != "VpcOnly" => return Verdict::Pass,
        Input::Unknown => return Verdict::Undecided(format!("`{MODE}` is not known until apply")),
        _ => {}
    }
    const VPC_ID: &str = DomainArgs::VPC_ID;
    let vpc_input = s.plan.input(r, VPC_ID);
    let Some(vpc_id) = vpc_input.as_str() else {
        return match vpc_input {
            Input::Unknown => Verdict::Undecided(format!("`{VPC_ID}` is not known until apply")),
            _ => Verdict::Pass,
        };
    };
    if is_literal(vpc_id) && s.plan.named(Vpc::NAME, VpcState::VPC_ID, vpc_id).is_none() {
        return Verdict::Undecided(format!(
            "VPC {vpc_id} is declared in no stack of the plan, so its endpoints cannot be read"
        ));
    }
    let mut interfaces = Vec::new();
    let mut s3_gateway = false;
    for endpoint in s.plan.of_kind(VpcEndpoint::NAME) {
        if s.plan.input(endpoint, VpcEndpointArgs::VPC_ID).as_str() != Some(vpc_id) {
            continue;
        }
        let name = s.plan.input(endpoint, VpcEndpointArgs::SERVICE_NAME);
        let Some(service) = name.as_str().and_then(endpoint_service) else {
            return Verdict::Undecided(format!("the service of {} is not known until apply", endpoint.label()));
        };
        if is_interface(s.plan, endpoint) {
            interfaces.push(service.to_string());
        } else if service == "s3" {
            s3_gateway = true;
        }
    }
    let mut missing: Vec<&str> = STUDIO_INTERFACE_ENDPOINTS
        .into_iter()
        .filter(|service| !interfaces.iter().any(|have| have == service))
        .collect();
    if !s3_gateway && !interfaces.iter().any(|have| have == "s3") {
        missing.push("s3 (gateway)");
    }
    if missing.is_empty() {
        return Verdict::Pass;
    }
    Verdict::Fail(format!(
        "the domain runs in VpcOnly mode but its VPC has no endpoint for {}",
        missing.join(", ")
    ))
}

/// The bucket an S3 ARN names (`arn:aws:s3:::name` or `arn:aws:s3:::name/key`).
fn s3_arn_bucket(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(":s3:::")?;
    Some(rest.split('/').next().unwrap_or(rest))
}

pub(super) fn s3_endpoint_environment_buckets(s: &Subject<'_>) -> Verdict {
    let r = s.resource;
    if !r.is(VpcEndpoint::NAME) {
        return Verdict::Pass;
    }
    const SERVICE_NAME: &str = VpcEndpointArgs::SERVICE_NAME;
    match s.plan.input(r, SERVICE_NAME) {
        Input::Known(Json::String(name)) if endpoint_service(&name) == Some("s3") => {}
        Input::Unknown => return Verdict::Undecided(format!("`{SERVICE_NAME}` is not known until apply")),
        _ => return Verdict::Pass,
    }
    const POLICY: &str = VpcEndpointArgs::POLICY;
    let document = match s.plan.input(r, POLICY) {
        Input::Absent => {
            return Verdict::Fail("the S3 endpoint has no policy, so it admits every bucket of every account".into())
        }
        Input::Unknown => return Verdict::Undecided(format!("its `{POLICY}` is not known until apply")),
        known => known,
    };
    let statements = policy::statements(&document);
    if statements.is_empty() {
        return Verdict::Fail(
            "the S3 endpoint's policy has no statement to read; give it one that names the environment's buckets"
                .into(),
        );
    }
    let ecr_layers = format!("prod-{}-starport-layer-bucket", r.stack.account.region);
    let environment: Vec<String> = s
        .plan
        .of_kind(Bucket::NAME)
        .map(|bucket| s.plan.output(bucket.urn(), BucketArgs::BUCKET))
        .filter(|name| is_literal(name))
        .collect();
    for (i, statement) in statements
        .iter()
        .enumerate()
        .filter(|(_, st)| st.effect == Effect::Allow)
    {
        let name = policy::statement_name(statement, i);
        if statement.not_resource.is_some() {
            return Verdict::Fail(format!(
                "its policy's {name} admits every bucket but those it excludes (NotResource)"
            ));
        }
        for resource in statement.resource.iter().flatten() {
            if !is_literal(resource) {
                return Verdict::Undecided(format!("a resource of its policy's {name} is not known until apply"));
            }
            let Some(bucket) = s3_arn_bucket(resource) else {
                return Verdict::Fail(format!(
                    "its policy's {name} admits {resource}, which is not one bucket's ARN"
                ));
            };
            if policy::has_wildcard(bucket) {
                return Verdict::Fail(format!("its policy's {name} admits every bucket matching {resource}"));
            }
            // A plan may hold only some of the environment's stacks (one Pulumi stack per account):
            // a bucket it does not declare may be another account's of the environment.
            if bucket != ecr_layers && !environment.iter().any(|known| known == bucket) {
                return Verdict::Undecided(format!(
                    "its policy's {name} admits bucket {bucket}, which no stack of the plan declares; unless it is the environment's, data can leave through the endpoint"
                ));
            }
        }
    }
    Verdict::Pass
}

/// The address ranges of the VPC a security group belongs to: the VPC's own, or, for a VPC the plan
/// does not declare, its declared subnets'.
fn vpc_ranges(plan: &PlanView<'_>, group: &Planned<'_>) -> Option<Vec<String>> {
    let input = plan.input(group, SecurityGroupArgs::VPC_ID);
    let vpc_id = input.as_str()?;
    if let Some(vpc) = plan.named(Vpc::NAME, VpcState::VPC_ID, vpc_id) {
        return plan
            .input(vpc, VpcArgs::CIDR_BLOCK)
            .as_str()
            .map(|c| vec![c.to_string()]);
    }
    let subnets: Vec<String> = plan
        .of_kind(Subnet::NAME)
        .filter(|subnet| plan.input(subnet, SubnetArgs::VPC_ID).as_str() == Some(vpc_id))
        .filter_map(|subnet| plan.input(subnet, SubnetArgs::CIDR_BLOCK).as_str().map(str::to_string))
        .collect();
    (!subnets.is_empty()).then_some(subnets)
}

/// An IPv4 range: its first address and prefix length.
fn parse_cidr(cidr: &str) -> Option<(u32, u32)> {
    let (address, prefix) = cidr.split_once('/')?;
    let address: Ipv4Addr = address.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
    Some((u32::from(address), prefix))
}

/// Whether range `inner` lies inside range `outer` (IPv4; anything unreadable is not inside).
fn within(inner: &str, outer: &str) -> bool {
    let (Some((inner, inner_prefix)), Some((outer, outer_prefix))) = (parse_cidr(inner), parse_cidr(outer)) else {
        return false;
    };
    let mask = u32::MAX.checked_shl(32 - outer_prefix).unwrap_or(0);
    inner_prefix >= outer_prefix && inner & mask == outer & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_is_inside_another_only_when_narrower_and_within_it() {
        assert!(within("10.0.1.0/24", "10.0.0.0/16"));
        assert!(within("10.0.0.0/16", "10.0.0.0/16"));
        assert!(!within("10.0.0.0/8", "10.0.0.0/16"));
        assert!(!within("10.1.1.0/24", "10.0.0.0/16"));
        assert!(!within("::/0", "10.0.0.0/16"));
        assert!(within("192.168.0.1/32", "0.0.0.0/0"));
    }
}
