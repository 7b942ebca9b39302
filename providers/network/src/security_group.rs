//! SecurityGroup: which traffic may reach, and leave, what is attached to it.
//!
//! Rules are compared as sets of single permissions (one protocol, port range and source each), so
//! neither order nor grouping ever causes a diff, and AWS's own grouping read back matches. Egress is
//! exactly what is declared: AWS's default allow-all egress rule is removed unless declared, so an
//! empty `egress` means no outbound traffic at all.

use std::collections::BTreeSet;

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;
use serde_json::Value as Json;

use crate::validate;

/// A security group of a VPC.
#[derive(Debug, Default, Clone, Copy)]
pub struct SecurityGroup;

/// One rule: traffic of a protocol and port range from (ingress) or to (egress) some sources.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupRule {
    /// `tcp`, `udp`, `icmp`, `icmpv6`, or `-1` (also `all`) for every protocol.
    #[property(validate = protocol)]
    pub protocol: String,
    /// First port (ICMP type for ICMP). 0 (or left out) for `-1`, which admits every port. Default 0.
    #[serde(default)]
    pub from_port: i32,
    /// Last port (ICMP code for ICMP). 0 (or left out) for `-1`, which admits every port. Default 0.
    #[serde(default)]
    pub to_port: i32,
    /// IPv4 ranges the rule admits, e.g. `10.0.0.0/16`.
    #[property(validate = validate::cidr_blocks)]
    #[serde(default)]
    pub cidr_blocks: Vec<String>,
    /// Other security groups the rule admits (`sg-...`).
    #[property(validate = validate::security_group_ids)]
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// Managed prefix lists (`pl-...`), e.g. the S3 gateway endpoint's (its `prefixListId`).
    #[property(validate = validate::prefix_list_ids)]
    #[serde(default)]
    pub prefix_list_ids: Vec<String>,
    /// Whether the rule admits the group itself (members talking to each other).
    #[serde(default, rename = "self")]
    pub self_referencing: bool,
    /// What the rule is for.
    pub description: Option<String>,
}

/// Inputs of a [`SecurityGroup`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupArgs {
    /// The group's name; chosen from the resource's name when not given.
    #[property(replace, validate = group_name)]
    pub group_name: Option<String>,
    /// What the group is for (AWS cannot change it later).
    #[property(replace)]
    #[serde(default = "default_description")]
    pub description: String,
    /// The id of the VPC the group belongs to.
    #[property(replace, validate = validate::vpc_id)]
    pub vpc_id: String,
    /// Inbound rules. Order and grouping never matter.
    #[property(equivalent = same_rules)]
    #[serde(default)]
    pub ingress: Vec<SecurityGroupRule>,
    /// Outbound rules, exactly: AWS's default allow-all egress is removed unless declared here.
    #[property(equivalent = same_rules)]
    #[serde(default)]
    pub egress: Vec<SecurityGroupRule>,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn default_description() -> String {
    "Managed by Palisade".into()
}

/// Outputs of a [`SecurityGroup`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct SecurityGroupState {
    #[serde(flatten)]
    pub args: SecurityGroupArgs,
    /// The group's id (`sg-...`).
    pub group_id: String,
    /// The group's ARN.
    pub arn: String,
    /// The id of the account that owns the group.
    pub owner_id: String,
}

impl ResourceType for SecurityGroup {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "SecurityGroup";
    const DOC: &'static str =
        "A security group with its ingress and egress rules, compared as sets. Egress is exactly \
                               what is declared: AWS's default allow-all egress is not kept silently.";
    const AUTONAME: Option<AutoName> = Some(AutoName {
        property: "groupName",
        max_len: 255,
        lowercase: false,
    });
    type Inputs = SecurityGroupArgs;
    type Outputs = SecurityGroupState;

    fn validate(inputs: &SecurityGroupArgs) -> Vec<CheckFailure> {
        let mut failures = Vec::new();
        for (direction, rules) in [("ingress", &inputs.ingress), ("egress", &inputs.egress)] {
            for (i, rule) in rules.iter().enumerate() {
                let at = |field: &str| format!("{direction}[{i}]{field}");
                if rule.cidr_blocks.is_empty()
                    && rule.security_group_ids.is_empty()
                    && rule.prefix_list_ids.is_empty()
                    && !rule.self_referencing
                {
                    failures.push(CheckFailure::new(
                        at(""),
                        "the rule admits nothing; give `cidrBlocks`, `securityGroupIds`, `prefixListIds` or `self: true`",
                    ));
                }
                let protocol = normal_protocol(&rule.protocol);
                if matches!(protocol.as_str(), "tcp" | "udp") {
                    if !(0..=65535).contains(&rule.from_port) || !(0..=65535).contains(&rule.to_port) {
                        failures.push(CheckFailure::new(at(".fromPort"), "ports are 0 to 65535"));
                    } else if rule.from_port > rule.to_port {
                        failures.push(CheckFailure::new(
                            at(".toPort"),
                            format!("`toPort` {} is below `fromPort` {}", rule.to_port, rule.from_port),
                        ));
                    }
                } else if protocol == "-1" && !ALL_PORTS.contains(&(rule.from_port, rule.to_port)) {
                    // AWS would ignore the range and open every port: a reader of the program or
                    // the preview would believe otherwise.
                    failures.push(CheckFailure::new(
                        at(".fromPort"),
                        format!(
                            "protocol `-1` admits every port, so the range {}..{} would be ignored; leave the ports \
                             out (or write 0..0, 0..65535 or -1..-1), or choose `tcp` or `udp` for a range",
                            rule.from_port, rule.to_port
                        ),
                    ));
                }
            }
        }
        failures
    }
}

fn protocol(value: &Json) -> Result<(), String> {
    match value.as_str().map(normal_protocol).as_deref() {
        Some("tcp" | "udp" | "icmp" | "icmpv6" | "-1") => Ok(()),
        _ => Err(format!(
            "{value} is not a protocol; expected `tcp`, `udp`, `icmp`, `icmpv6` or `-1` (all)"
        )),
    }
}

fn group_name(value: &Json) -> Result<(), String> {
    let name = value.as_str().unwrap_or_default();
    if name.is_empty() || name.len() > 255 {
        return Err("a group name is 1 to 255 characters long".into());
    }
    if name.starts_with("sg-") {
        return Err(format!(
            "{name:?} starts with `sg-`, which AWS reserves for group ids; choose another name"
        ));
    }
    Ok(())
}

/// The ways of writing "every port" for protocol `-1`: left out (0..0), the whole range, and AWS's own.
const ALL_PORTS: [(i32, i32); 3] = [(0, 0), (0, 65535), (-1, -1)];

/// `all` and protocol numbers as AWS names them.
fn normal_protocol(protocol: &str) -> String {
    match protocol.to_ascii_lowercase().as_str() {
        "all" | "-1" => "-1".into(),
        "6" => "tcp".into(),
        "17" => "udp".into(),
        "1" => "icmp".into(),
        "58" => "icmpv6".into(),
        other => other.into(),
    }
}

/// Where a single permission lets traffic come from (or go to).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Peer {
    /// An IPv4 range.
    Cidr(String),
    /// Another security group.
    Group(String),
    /// The group itself.
    Itself,
    /// A managed prefix list.
    PrefixList(String),
}

/// One protocol, one port range, one peer: the unit AWS authorizes and revokes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Permission {
    /// Normalised protocol (`-1` for all).
    pub protocol: String,
    /// First port (0 for all protocols).
    pub from_port: i32,
    /// Last port (0 for all protocols).
    pub to_port: i32,
    /// The peer.
    pub peer: Peer,
    /// The rule's description.
    pub description: Option<String>,
}

/// The single permissions a list of rules grants.
pub fn permissions(rules: &[SecurityGroupRule]) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for rule in rules {
        let protocol = normal_protocol(&rule.protocol);
        let (from_port, to_port) = if protocol == "-1" {
            (0, 0)
        } else {
            (rule.from_port, rule.to_port)
        };
        let description = rule.description.clone().filter(|d| !d.is_empty());
        let peers = rule
            .cidr_blocks
            .iter()
            .map(|c| Peer::Cidr(c.clone()))
            .chain(rule.security_group_ids.iter().map(|g| Peer::Group(g.clone())))
            .chain(rule.prefix_list_ids.iter().map(|p| Peer::PrefixList(p.clone())))
            .chain(rule.self_referencing.then_some(Peer::Itself));
        for peer in peers {
            out.insert(Permission {
                protocol: protocol.clone(),
                from_port,
                to_port,
                peer,
                description: description.clone(),
            });
        }
    }
    out
}

/// Whether two rule lists grant the same permissions (the Diff rule for `ingress` and `egress`).
pub fn same_rules(a: &Json, b: &Json) -> bool {
    let parse = |v: &Json| serde_json::from_value::<Vec<SecurityGroupRule>>(v.clone()).ok();
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => permissions(&a) == permissions(&b),
        _ => a == b,
    }
}

/// Rules equivalent to a set of permissions (one rule per permission).
pub fn rules_of(permissions: &BTreeSet<Permission>) -> Vec<SecurityGroupRule> {
    permissions
        .iter()
        .map(|p| SecurityGroupRule {
            protocol: p.protocol.clone(),
            from_port: p.from_port,
            to_port: p.to_port,
            cidr_blocks: match &p.peer {
                Peer::Cidr(c) => vec![c.clone()],
                _ => Vec::new(),
            },
            security_group_ids: match &p.peer {
                Peer::Group(g) => vec![g.clone()],
                _ => Vec::new(),
            },
            prefix_list_ids: match &p.peer {
                Peer::PrefixList(id) => vec![id.clone()],
                _ => Vec::new(),
            },
            self_referencing: p.peer == Peer::Itself,
            description: p.description.clone(),
        })
        .collect()
}

#[cfg(feature = "provider")]
mod lifecycle {
    use std::collections::BTreeSet;

    use aws_sdk_ec2::types::{IpPermission, IpRange, PrefixListId, ResourceType as Ec2ResourceType, UserIdGroupPair};
    use aws_sdk_ec2::Client;
    use palisade_provider_kit::prelude::*;

    use super::{permissions, rules_of, Peer, Permission, SecurityGroup, SecurityGroupArgs, SecurityGroupState};
    use crate::ec2;

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Direction {
        Ingress,
        Egress,
    }

    impl Resource for SecurityGroup {
        async fn owned(&self, ctx: &Context, _inputs: &Self::Inputs) -> Result<Vec<String>> {
            let ec2 = ec2::client(ctx).await?;
            Ok(ec2
                .describe_security_groups()
                .filters(ec2::owned_by(&ctx.urn))
                .send()
                .await
                .map_err(|e| aws_error("DescribeSecurityGroups", e))?
                .security_groups()
                .iter()
                .filter_map(|g| g.group_id().map(str::to_string))
                .collect())
        }

        async fn create(
            &self,
            ctx: &Context,
            request: CreateRequest<SecurityGroupArgs>,
        ) -> Result<Created<SecurityGroupState>> {
            let ec2 = ec2::client(ctx).await?;
            let args = request.inputs;
            let id = ec2
                .create_security_group()
                .group_name(args.group_name.clone().unwrap_or_default())
                .description(&args.description)
                .vpc_id(&args.vpc_id)
                .tag_specifications(ec2::tag_specification(ctx, Ec2ResourceType::SecurityGroup, &args.tags))
                .send()
                .await
                .map_err(|e| aws_error("CreateSecurityGroup", e))?
                .group_id()
                .unwrap_or_default()
                .to_string();
            reconcile(&ec2, &id, &args).await?;
            let outputs = read(&ec2, &id).await?.ok_or(ProviderError::NotFound {
                kind: "security group",
                id: id.clone(),
            })?;
            Ok(Created { id, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<SecurityGroupArgs, SecurityGroupState>,
        ) -> Result<Option<SecurityGroupState>> {
            read(&ec2::client(ctx).await?, &request.id).await
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<SecurityGroupArgs, SecurityGroupState>,
        ) -> Result<SecurityGroupState> {
            let ec2 = ec2::client(ctx).await?;
            reconcile(&ec2, &request.id, &request.news).await?;
            ec2::update_tags(&ec2, &request.id, &request.olds.args.tags, &request.news.tags).await?;
            read(&ec2, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "security group",
                id: request.id,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<SecurityGroupState>) -> Result<()> {
            let ec2 = ec2::client(ctx).await?;
            // Network interfaces of deleted endpoints linger for minutes on AWS: wait for them.
            let deleted = ctx
                .while_in_use(
                    &format!("security group {} to be free to delete", request.id),
                    || async {
                        ec2.delete_security_group()
                            .group_id(&request.id)
                            .send()
                            .await
                            .map_err(|e| aws_error("DeleteSecurityGroup", e))
                            .or_gone()
                    },
                )
                .await;
            match deleted {
                Err(error) if error.is_dependency_violation() => {
                    let users = aws_sdk_ec2::types::Filter::builder()
                        .name("group-id")
                        .values(&request.id)
                        .build();
                    let users = ec2::listing(ec2::network_interfaces(&ec2, users).await);
                    Err(error.with_note(format!(
                        "still using the group when the wait ran out: {users}; or another group's rule names it"
                    )))
                }
                other => other.map(|_| ()),
            }
        }
    }

    /// Brings the live rules to the declared ones: revokes what is not declared (AWS's default
    /// egress included), authorizes what is missing. Works from the live rules, so drift is undone.
    async fn reconcile(ec2: &Client, id: &str, args: &SecurityGroupArgs) -> Result<()> {
        let Some(group) = describe(ec2, id).await? else {
            return Err(ProviderError::NotFound {
                kind: "security group",
                id: id.to_string(),
            });
        };
        for direction in [Direction::Ingress, Direction::Egress] {
            let (live, wanted) = match direction {
                Direction::Ingress => (from_aws(id, group.ip_permissions()), permissions(&args.ingress)),
                Direction::Egress => (from_aws(id, group.ip_permissions_egress()), permissions(&args.egress)),
            };
            let revoke: Vec<IpPermission> = live.difference(&wanted).map(|p| to_aws(id, p)).collect();
            let authorize: Vec<IpPermission> = wanted.difference(&live).map(|p| to_aws(id, p)).collect();
            if !revoke.is_empty() {
                let revoke = Some(revoke);
                match direction {
                    Direction::Ingress => ec2
                        .revoke_security_group_ingress()
                        .group_id(id)
                        .set_ip_permissions(revoke)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| aws_error("RevokeSecurityGroupIngress", e))?,
                    Direction::Egress => ec2
                        .revoke_security_group_egress()
                        .group_id(id)
                        .set_ip_permissions(revoke)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| aws_error("RevokeSecurityGroupEgress", e))?,
                }
            }
            if !authorize.is_empty() {
                let authorize = Some(authorize);
                match direction {
                    Direction::Ingress => ec2
                        .authorize_security_group_ingress()
                        .group_id(id)
                        .set_ip_permissions(authorize)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| aws_error("AuthorizeSecurityGroupIngress", e))?,
                    Direction::Egress => ec2
                        .authorize_security_group_egress()
                        .group_id(id)
                        .set_ip_permissions(authorize)
                        .send()
                        .await
                        .map(drop)
                        .map_err(|e| aws_error("AuthorizeSecurityGroupEgress", e))?,
                }
            }
        }
        Ok(())
    }

    fn from_aws(own_id: &str, permissions: &[IpPermission]) -> BTreeSet<Permission> {
        let mut out = BTreeSet::new();
        for permission in permissions {
            let protocol = super::normal_protocol(permission.ip_protocol().unwrap_or("-1"));
            let (from_port, to_port) = if protocol == "-1" {
                (0, 0)
            } else {
                (permission.from_port().unwrap_or(0), permission.to_port().unwrap_or(0))
            };
            let mut add = |peer: Peer, description: Option<&str>| {
                out.insert(Permission {
                    protocol: protocol.clone(),
                    from_port,
                    to_port,
                    peer,
                    description: description.filter(|d| !d.is_empty()).map(str::to_string),
                });
            };
            for range in permission.ip_ranges() {
                add(
                    Peer::Cidr(range.cidr_ip().unwrap_or_default().to_string()),
                    range.description(),
                );
            }
            for list in permission.prefix_list_ids() {
                add(
                    Peer::PrefixList(list.prefix_list_id().unwrap_or_default().to_string()),
                    list.description(),
                );
            }
            for pair in permission.user_id_group_pairs() {
                let group = pair.group_id().unwrap_or_default();
                let peer = if group == own_id {
                    Peer::Itself
                } else {
                    Peer::Group(group.to_string())
                };
                add(peer, pair.description());
            }
        }
        out
    }

    fn to_aws(own_id: &str, permission: &Permission) -> IpPermission {
        let mut builder = IpPermission::builder().ip_protocol(&permission.protocol);
        if permission.protocol != "-1" {
            builder = builder.from_port(permission.from_port).to_port(permission.to_port);
        }
        let description = permission.description.clone();
        match &permission.peer {
            Peer::Cidr(cidr) => {
                builder.ip_ranges(IpRange::builder().cidr_ip(cidr).set_description(description).build())
            }
            Peer::Group(group) => builder.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(group)
                    .set_description(description)
                    .build(),
            ),
            Peer::Itself => builder.user_id_group_pairs(
                UserIdGroupPair::builder()
                    .group_id(own_id)
                    .set_description(description)
                    .build(),
            ),
            Peer::PrefixList(id) => builder.prefix_list_ids(
                PrefixListId::builder()
                    .prefix_list_id(id)
                    .set_description(description)
                    .build(),
            ),
        }
        .build()
    }

    async fn describe(ec2: &Client, id: &str) -> Result<Option<aws_sdk_ec2::types::SecurityGroup>> {
        let found = ec2
            .describe_security_groups()
            .group_ids(id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeSecurityGroups", e));
        Ok(found
            .or_gone()?
            .and_then(|output| output.security_groups().first().cloned()))
    }

    async fn read(ec2: &Client, id: &str) -> Result<Option<SecurityGroupState>> {
        let Some(group) = describe(ec2, id).await? else {
            return Ok(None);
        };
        let owner_id = group.owner_id().unwrap_or_default().to_string();
        Ok(Some(SecurityGroupState {
            args: SecurityGroupArgs {
                group_name: group.group_name().map(str::to_string),
                description: group.description().unwrap_or_default().to_string(),
                vpc_id: group.vpc_id().unwrap_or_default().to_string(),
                ingress: rules_of(&from_aws(id, group.ip_permissions())),
                egress: rules_of(&from_aws(id, group.ip_permissions_egress())),
                tags: ec2::from_ec2_tags(group.tags()),
            },
            group_id: id.to_string(),
            arn: group.security_group_arn().map(str::to_string).unwrap_or_default(),
            owner_id,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(protocol: &str, from: i32, to: i32, cidrs: &[&str]) -> SecurityGroupRule {
        SecurityGroupRule {
            protocol: protocol.into(),
            from_port: from,
            to_port: to,
            cidr_blocks: cidrs.iter().map(|c| c.to_string()).collect(),
            security_group_ids: Vec::new(),
            prefix_list_ids: Vec::new(),
            self_referencing: false,
            description: None,
        }
    }

    #[test]
    fn rules_compare_as_sets_of_single_permissions() {
        let grouped =
            json!([{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.1.0/24", "10.0.2.0/24"]}]);
        let split_and_reordered = json!([
            {"protocol": "TCP", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.2.0/24"]},
            {"protocol": "6", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.0.1.0/24"]},
        ]);
        assert!(same_rules(&grouped, &split_and_reordered));
        let wider =
            json!([{"protocol": "tcp", "fromPort": 0, "toPort": 65535, "cidrBlocks": ["10.0.1.0/24", "10.0.2.0/24"]}]);
        assert!(!same_rules(&grouped, &wider));
    }

    #[test]
    fn all_protocols_ignore_ports() {
        let a = permissions(&[rule("-1", 0, 65535, &["0.0.0.0/0"])]);
        let b = permissions(&[rule("all", 0, 0, &["0.0.0.0/0"])]);
        assert_eq!(a, b);
    }

    #[test]
    fn permissions_round_trip_through_rules() {
        let mut self_rule = rule("tcp", 2049, 2049, &[]);
        self_rule.self_referencing = true;
        self_rule.security_group_ids = vec!["sg-123".into()];
        let rules = vec![rule("tcp", 443, 443, &["10.0.0.0/16", "10.1.0.0/16"]), self_rule];
        let atoms = permissions(&rules);
        assert_eq!(atoms.len(), 4);
        assert_eq!(permissions(&rules_of(&atoms)), atoms);
    }

    #[test]
    fn a_prefix_list_is_a_peer_of_its_own() {
        let mut to_s3 = rule("tcp", 443, 443, &[]);
        to_s3.prefix_list_ids = vec!["pl-63a5400a".into()];
        let atoms = permissions(std::slice::from_ref(&to_s3));
        assert_eq!(atoms.len(), 1);
        assert!(atoms.iter().all(|p| p.peer == Peer::PrefixList("pl-63a5400a".into())));
        assert_eq!(rules_of(&atoms), vec![to_s3]);
        assert!(validate::prefix_list_ids(&serde_json::json!(["pl-1"])).is_ok());
        let error = validate::prefix_list_ids(&serde_json::json!(["sg-1"])).expect_err("not a prefix list");
        assert!(error.contains("pl-"), "{error}");
    }

    #[test]
    fn validation_names_the_rule_at_fault() {
        let args = SecurityGroupArgs {
            group_name: Some("g".into()),
            description: "d".into(),
            vpc_id: "vpc-1".into(),
            ingress: vec![rule("tcp", 443, 443, &[]), rule("tcp", 500, 400, &["10.0.0.0/16"])],
            egress: vec![
                rule("udp", 0, 70000, &["10.0.0.0/16"]),
                rule("-1", 0, 443, &["10.0.0.0/16"]),
                rule("-1", 0, 65535, &["10.0.0.0/16"]),
                rule("-1", -1, -1, &["10.0.0.0/16"]),
            ],
            tags: BTreeMap::new(),
        };
        let failures: Vec<String> = SecurityGroup::validate(&args).iter().map(ToString::to_string).collect();
        assert_eq!(
            failures,
            vec![
                "ingress[0]: the rule admits nothing; give `cidrBlocks`, `securityGroupIds`, `prefixListIds` or `self: true`",
                "ingress[1].toPort: `toPort` 400 is below `fromPort` 500",
                "egress[0].fromPort: ports are 0 to 65535",
                "egress[1].fromPort: protocol `-1` admits every port, so the range 0..443 would be ignored; leave \
                 the ports out (or write 0..0, 0..65535 or -1..-1), or choose `tcp` or `udp` for a range",
            ]
        );
    }
}
