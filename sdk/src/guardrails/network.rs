//! Network rules: no way out to the internet, and security groups that admit only what the private
//! network's design needs.

use std::net::Ipv4Addr;

use serde_json::Value as Json;

use super::view::{is_literal, object, Input, PlanView, Planned};
use super::{Subject, Verdict};

pub(super) fn internet_route(s: &Subject<'_>) -> Verdict {
    let r = s.resource;
    if r.stack.internet_access {
        return Verdict::Pass;
    }
    if r.is("InternetGateway") || r.is("NatGateway") {
        return Verdict::Fail(format!(
            "stack `{}` is internet-free but declares a {}",
            r.stack.name, r.step.token
        ));
    }
    if !r.is("RouteTable") {
        return Verdict::Pass;
    }
    let routes = match s.plan.input(r, "routes") {
        Input::Known(Json::Array(routes)) => routes,
        Input::Unknown => return Verdict::Undecided("its `routes` are not known until apply".into()),
        _ => return Verdict::Pass,
    };
    for route in &routes {
        if route.get("gatewayId").is_some() || route.get("natGatewayId").is_some() {
            let destination = route.get("destinationCidrBlock").and_then(Json::as_str).unwrap_or("?");
            return Verdict::Fail(format!("route to {destination} leaves the VPC through a gateway"));
        }
    }
    Verdict::Pass
}

/// The ingress rules of a security group, or the verdict when they cannot be read.
fn ingress(s: &Subject<'_>) -> Result<Vec<Json>, Verdict> {
    match s.plan.input(s.resource, "ingress") {
        Input::Known(Json::Array(rules)) => Ok(rules),
        Input::Unknown => Err(Verdict::Undecided(
            "its `ingress` rules are not known until apply".into(),
        )),
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
    if !s.resource.is("SecurityGroup") {
        return Verdict::Pass;
    }
    let rules = match ingress(s) {
        Ok(rules) => rules,
        Err(verdict) => return verdict,
    };
    for (i, rule) in rules.iter().enumerate() {
        if let Some(cidr) = strings(rule, "cidrBlocks")
            .into_iter()
            .find(|c| *c == "0.0.0.0/0" || *c == "::/0")
        {
            return Verdict::Fail(format!("ingress[{i}] admits {cidr}"));
        }
    }
    Verdict::Pass
}

/// The security groups SageMaker runs in, as named by each Domain, user profile and Model: the
/// naming resource and the group's id.
fn sagemaker_group_names<'v>(plan: &'v PlanView<'v>) -> Vec<(&'v Planned<'v>, String)> {
    let mut named = Vec::new();
    for domain in plan.of_kind("Domain") {
        let settings = object(&plan.input(domain, "defaultUserSettings"));
        let groups = settings
            .get("securityGroups")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        named.extend(groups.iter().filter_map(Json::as_str).map(|g| (domain, g.to_string())));
    }
    for (kind, property) in [("UserProfile", "securityGroups"), ("Model", "securityGroupIds")] {
        for resource in plan.of_kind(kind) {
            let groups = plan.input(resource, property);
            named.extend(groups.strings().into_iter().map(|g| (resource, g.to_string())));
        }
    }
    named
}

/// The security groups of the interface VPC endpoints.
fn endpoint_group_names(plan: &PlanView<'_>) -> Vec<String> {
    plan.of_kind("VpcEndpoint")
        .filter(|e| plan.input(e, "vpcEndpointType").as_str().unwrap_or("Interface") == "Interface")
        .flat_map(|e| {
            let groups = plan.input(e, "securityGroupIds");
            groups.strings().into_iter().map(str::to_string).collect::<Vec<_>>()
        })
        .collect()
}

pub(super) fn sagemaker_group_members_only(s: &Subject<'_>) -> Verdict {
    let r = s.resource;
    if !matches!(r.kind(), "Domain" | "UserProfile" | "Model" | "SecurityGroup") {
        return Verdict::Pass;
    }
    // Gathered only for the kinds concerned: gathering scans the whole plan.
    let names = sagemaker_group_names(s.plan);
    if matches!(r.kind(), "Domain" | "UserProfile" | "Model") {
        // A group the plan does not declare cannot be checked.
        let elsewhere = names
            .iter()
            .filter(|(by, _)| by.urn() == r.urn())
            .find(|(_, group)| s.plan.named("SecurityGroup", "groupId", group).is_none());
        return match elsewhere {
            Some((_, group)) if is_literal(group) => Verdict::Undecided(format!(
                "security group {group} is declared in no stack of the plan, so its rules cannot be read"
            )),
            Some((_, group)) => Verdict::Undecided(format!("security group {group} is not known until apply")),
            None => Verdict::Pass,
        };
    }
    let own = s.plan.output(r.urn(), "groupId");
    if !names.iter().any(|(_, group)| *group == own) {
        return Verdict::Pass;
    }
    let rules = match ingress(s) {
        Ok(rules) => rules,
        Err(verdict) => return verdict,
    };
    for (i, rule) in rules.iter().enumerate() {
        let other_group = strings(rule, "securityGroupIds").into_iter().find(|g| **g != own);
        let admitted = strings(rule, "cidrBlocks")
            .into_iter()
            .next()
            .map(str::to_string)
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
    if !r.is("SecurityGroup") {
        return Verdict::Pass;
    }
    let own = s.plan.output(r.urn(), "groupId");
    if !endpoint_group_names(s.plan).contains(&own) {
        return Verdict::Pass;
    }
    let rules = match ingress(s) {
        Ok(rules) => rules,
        Err(verdict) => return verdict,
    };
    let ranges = vpc_ranges(s.plan, r);
    for (i, rule) in rules.iter().enumerate() {
        let protocol = rule.get("protocol").and_then(Json::as_str).unwrap_or("-1");
        if !matches!(protocol, "tcp" | "6") {
            return Verdict::Fail(format!(
                "ingress[{i}] admits protocol {protocol}; endpoints need TCP only"
            ));
        }
        let from = rule.get("fromPort").and_then(Json::as_i64).unwrap_or(0);
        let to = rule.get("toPort").and_then(Json::as_i64).unwrap_or(0);
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
        for cidr in strings(rule, "cidrBlocks") {
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

/// The address ranges of the VPC a security group belongs to: the VPC's own, or, for a VPC the plan
/// does not declare, its declared subnets'.
fn vpc_ranges(plan: &PlanView<'_>, group: &Planned<'_>) -> Option<Vec<String>> {
    let input = plan.input(group, "vpcId");
    let vpc_id = input.as_str()?;
    if let Some(vpc) = plan.named("Vpc", "vpcId", vpc_id) {
        return plan.input(vpc, "cidrBlock").as_str().map(|c| vec![c.to_string()]);
    }
    let subnets: Vec<String> = plan
        .of_kind("Subnet")
        .filter(|subnet| plan.input(subnet, "vpcId").as_str() == Some(vpc_id))
        .filter_map(|subnet| plan.input(subnet, "cidrBlock").as_str().map(str::to_string))
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
