//! The network provider's resources on the emulator: create, read, no-op diff, update in place,
//! replace, delete, delete again, and drift (a change made out of band shows up in Read).

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, IpPermission, IpRange};
use palisade_provider_kit::diff::DiffKind;
use palisade_tests::provider::{plain, TestProvider};
use palisade_tests::{Emulator, DEFAULT_ACCOUNT, REGION};
use serde_json::{json, Value as Json};

const NETWORK: &str = "palisade-network";

async fn ec2(emulator: &Emulator) -> aws_sdk_ec2::Client {
    let credentials = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(emulator.endpoint())
        .credentials_provider(credentials)
        .load()
        .await;
    aws_sdk_ec2::Client::new(&config)
}

async fn setup() -> (Emulator, TestProvider, aws_sdk_ec2::Client) {
    let emulator = Emulator::start().expect("emulator");
    let provider = TestProvider::start(&emulator, NETWORK, DEFAULT_ACCOUNT, "network").await;
    let ec2 = ec2(&emulator).await;
    (emulator, provider, ec2)
}

fn tag_value(tags: &[aws_sdk_ec2::types::Tag], key: &str) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
        .map(str::to_string)
}

#[tokio::test]
async fn vpc_lifecycle_with_drift_and_ownership_tags() {
    let (_emulator, provider, ec2) = setup().await;
    let declared = json!({"cidrBlock": "10.1.0.0/16", "tags": {"team": "ml"}});
    let vpc = provider.create("Vpc", "main", &declared).await.expect("create");

    // Ownership tags, checked in AWS directly.
    let described = ec2.describe_vpcs().vpc_ids(&vpc.id).send().await.expect("describe");
    let tags = described.vpcs()[0].tags();
    assert_eq!(tag_value(tags, "palisade:urn"), Some(vpc.urn.clone()));
    assert_eq!(tag_value(tags, "palisade:stack"), Some("network".into()));

    // Read and a no-op plan.
    let (outputs, inputs) = provider.read(&vpc).await.expect("exists");
    assert_eq!(plain(&outputs), vpc.outputs_json());
    let (_, changes) = provider.plan(&vpc, "Vpc", "main", &declared).await;
    assert!(!changes.changed, "{changes:?}");
    assert_eq!(plain(&inputs)["cidrBlock"], "10.1.0.0/16");

    // Drift: DNS hostnames turned off out of band; Read shows it; the plan puts it back in place.
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc.id)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(false).build())
        .send()
        .await
        .expect("out-of-band change");
    let (drifted, drifted_inputs) = provider.read(&vpc).await.expect("exists");
    assert_eq!(plain(&drifted)["enableDnsHostnames"], false);
    let refreshed = palisade_tests::provider::Live {
        outputs: drifted,
        inputs: drifted_inputs,
        ..vpc.clone()
    };
    let (news, changes) = provider.plan(&refreshed, "Vpc", "main", &declared).await;
    assert_eq!(changes.detailed.get("enableDnsHostnames"), Some(&DiffKind::Update));
    assert!(changes.replaces.is_empty());
    let repaired = provider.update(&refreshed, news).await.expect("update");
    assert_eq!(repaired.outputs_json()["enableDnsHostnames"], true);

    // Update in place: tags.
    let retagged = json!({"cidrBlock": "10.1.0.0/16", "tags": {"team": "ml", "env": "dev"}});
    let (news, changes) = provider.plan(&repaired, "Vpc", "main", &retagged).await;
    assert_eq!(changes.detailed.get("tags"), Some(&DiffKind::Update));
    let retagged_vpc = provider.update(&repaired, news).await.expect("update tags");
    assert_eq!(retagged_vpc.outputs_json()["tags"], json!({"team": "ml", "env": "dev"}));
    let described = ec2.describe_vpcs().vpc_ids(&vpc.id).send().await.expect("describe");
    assert_eq!(tag_value(described.vpcs()[0].tags(), "env"), Some("dev".into()));
    assert!(
        tag_value(described.vpcs()[0].tags(), "palisade:urn").is_some(),
        "ownership tags survive updates"
    );

    // Replace: a new CIDR.
    let (_, changes) = provider
        .plan(&retagged_vpc, "Vpc", "main", &json!({"cidrBlock": "10.2.0.0/16"}))
        .await;
    assert_eq!(changes.replaces, vec!["cidrBlock".to_string()]);
    assert_eq!(changes.detailed["cidrBlock"], DiffKind::UpdateReplace);

    // Delete, then it is gone, and deleting again succeeds.
    provider.delete(&retagged_vpc).await.expect("delete");
    assert!(provider.read(&retagged_vpc).await.is_none());
    provider.delete(&retagged_vpc).await.expect("delete again");
    provider.stop().await;
}

#[tokio::test]
async fn a_create_interrupted_after_the_aws_call_is_adopted_not_duplicated() {
    let (_emulator, provider, ec2) = setup().await;
    let first = provider
        .create("Vpc", "adopted", &json!({"cidrBlock": "10.9.0.0/16"}))
        .await
        .expect("create");
    // The engine lost the answer (killed mid-create) and asks again: the same VPC comes back.
    let second = provider
        .create("Vpc", "adopted", &json!({"cidrBlock": "10.9.0.0/16"}))
        .await
        .expect("create again");
    assert_eq!(first.id, second.id);
    let owned = ec2
        .describe_vpcs()
        .filters(Filter::builder().name("tag:palisade:urn").values(&first.urn).build())
        .send()
        .await
        .expect("describe");
    assert_eq!(owned.vpcs().len(), 1);
    provider.delete(&first).await.expect("delete");
    provider.stop().await;
}

#[tokio::test]
async fn subnet_lifecycle_and_a_vpc_that_still_has_subnets() {
    let (_emulator, provider, ec2) = setup().await;
    let vpc = provider
        .create("Vpc", "net", &json!({"cidrBlock": "10.3.0.0/16"}))
        .await
        .expect("vpc");
    let declared = json!({"vpcId": vpc.id, "cidrBlock": "10.3.1.0/24", "availabilityZone": "us-east-1a"});
    let subnet = provider.create("Subnet", "a", &declared).await.expect("subnet");
    assert!(subnet.id.starts_with("subnet-"));
    assert_eq!(subnet.outputs_json()["availabilityZone"], "us-east-1a");
    let (_, changes) = provider.plan(&subnet, "Subnet", "a", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    let mut moved = declared.clone();
    moved["availabilityZone"] = "us-east-1b".into();
    let (_, changes) = provider.plan(&subnet, "Subnet", "a", &moved).await;
    assert_eq!(changes.detailed["availabilityZone"], DiffKind::UpdateReplace);

    let mut tagged = declared.clone();
    tagged["tags"] = json!({"tier": "private"});
    let (news, changes) = provider.plan(&subnet, "Subnet", "a", &tagged).await;
    assert_eq!(
        changes.detailed["tags"],
        DiffKind::Update,
        "tags default to an empty map"
    );
    let subnet = provider.update(&subnet, news).await.expect("update");
    assert_eq!(subnet.outputs_json()["tags"], json!({"tier": "private"}));

    // Drift: tag removed out of band.
    ec2.delete_tags()
        .resources(&subnet.id)
        .tags(aws_sdk_ec2::types::Tag::builder().key("tier").build())
        .send()
        .await
        .expect("untag");
    let (drifted, _) = provider.read(&subnet).await.expect("exists");
    assert_eq!(plain(&drifted)["tags"], json!({}));

    // The VPC cannot go first: the provider waits (briefly here) for the subnet to go, then says
    // what is in the way.
    let error = provider.delete_within(&vpc, 2.0).await.expect_err("VPC has a subnet");
    assert!(error.message().contains("DependencyViolation"), "{}", error.message());
    assert!(error.message().contains(&subnet.id), "{}", error.message());

    provider.delete(&subnet).await.expect("delete subnet");
    provider.delete(&subnet).await.expect("delete subnet again");
    assert!(provider.read(&subnet).await.is_none());
    provider.delete(&vpc).await.expect("delete vpc");
    provider.stop().await;
}

#[tokio::test]
async fn security_group_rules_are_sets_egress_is_explicit_and_drift_is_undone() {
    let (_emulator, provider, ec2) = setup().await;
    let vpc = provider
        .create("Vpc", "net", &json!({"cidrBlock": "10.4.0.0/16"}))
        .await
        .expect("vpc");
    let declared = json!({
        "vpcId": vpc.id,
        "description": "SageMaker",
        "ingress": json!([
            {"protocol": "-1", "self": true, "description": "members talk to each other"},
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.4.1.0/24", "10.4.2.0/24"]},
        ]),
        "egress": [{"protocol": "-1", "self": true}],
    });
    let group = provider
        .create("SecurityGroup", "sagemaker", &declared)
        .await
        .expect("create");
    let outputs = group.outputs_json();
    assert!(
        outputs["groupName"]
            .as_str()
            .expect("auto-named")
            .starts_with("sagemaker-"),
        "{outputs}"
    );

    // AWS's default allow-all egress is gone: only the declared rule is left.
    let live = ec2
        .describe_security_groups()
        .group_ids(&group.id)
        .send()
        .await
        .expect("describe");
    let egress = live.security_groups()[0].ip_permissions_egress();
    assert!(
        egress
            .iter()
            .all(|p| p.ip_ranges().iter().all(|r| r.cidr_ip() != Some("0.0.0.0/0"))),
        "{egress:?}"
    );
    assert_eq!(egress.len(), 1);

    // Same rules, other order and grouping: no diff.
    let regrouped = json!({
        "vpcId": vpc.id,
        "description": "SageMaker",
        "ingress": [
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.4.2.0/24"]},
            {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.4.1.0/24"]},
            {"protocol": "all", "self": true, "description": "members talk to each other"},
        ],
        "egress": [{"protocol": "-1", "self": true}],
    });
    let (_, changes) = provider.plan(&group, "SecurityGroup", "sagemaker", &regrouped).await;
    assert!(!changes.changed, "{changes:?}");
    // Nor against what AWS reads back.
    let (_, read_inputs) = provider.read(&group).await.expect("exists");
    let checked = provider
        .check("SecurityGroup", "sagemaker", Some(&group.inputs), &regrouped)
        .await
        .expect("valid");
    assert!(!provider.diff(&group, &read_inputs, &checked).await.changed);

    // Drift: someone opens SSH to the world. Read shows it; the update revokes it.
    ec2.authorize_security_group_ingress()
        .group_id(&group.id)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                .build(),
        )
        .send()
        .await
        .expect("out-of-band rule");
    let (drifted, drifted_inputs) = provider.read(&group).await.expect("exists");
    assert!(plain(&drifted)["ingress"].to_string().contains("0.0.0.0/0"));
    let refreshed = palisade_tests::provider::Live {
        outputs: drifted,
        inputs: drifted_inputs,
        ..group.clone()
    };
    let (news, changes) = provider.plan(&refreshed, "SecurityGroup", "sagemaker", &declared).await;
    assert_eq!(changes.detailed["ingress"], DiffKind::Update);
    assert!(changes.replaces.is_empty());
    let repaired = provider.update(&refreshed, news).await.expect("update");
    assert!(!repaired.outputs_json()["ingress"].to_string().contains("0.0.0.0/0"));
    let live = ec2
        .describe_security_groups()
        .group_ids(&group.id)
        .send()
        .await
        .expect("describe");
    assert!(live.security_groups()[0]
        .ip_permissions()
        .iter()
        .all(|p| p.from_port() != Some(22)));

    // Update in place: an EFS rule added.
    let mut with_efs = declared.clone();
    with_efs["ingress"]
        .as_array_mut()
        .expect("list")
        .push(json!({"protocol": "tcp", "fromPort": 2049, "toPort": 2049, "self": true}));
    let (news, changes) = provider.plan(&repaired, "SecurityGroup", "sagemaker", &with_efs).await;
    assert_eq!(changes.detailed["ingress"], DiffKind::Update);
    let updated = provider.update(&repaired, news).await.expect("update");
    assert!(updated.outputs_json()["ingress"].to_string().contains("2049"));

    // Replace: description is fixed in AWS; the group has an auto-name, so no delete-before-replace.
    let mut renamed = declared.clone();
    renamed["description"] = "Studio".into();
    let (_, changes) = provider.plan(&updated, "SecurityGroup", "sagemaker", &renamed).await;
    assert_eq!(changes.replaces, vec!["description".to_string()]);
    assert!(!changes.delete_before_replace);
    let mut fixed_name = declared.clone();
    fixed_name["groupName"] = "sagemaker".into();
    fixed_name["description"] = "Studio".into();
    let (_, changes) = provider.plan(&updated, "SecurityGroup", "sagemaker", &fixed_name).await;
    assert!(
        changes.delete_before_replace,
        "a fixed name must be freed first: {changes:?}"
    );

    // Bad rules are named.
    let bad = json!({"vpcId": vpc.id, "ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 80, "cidrBlocks": ["10.0.0.0/8"]}, {"protocol": "gre"}]});
    let failures = provider
        .check("SecurityGroup", "bad", None, &bad)
        .await
        .expect_err("invalid");
    assert!(
        failures.iter().any(|f| f.starts_with("ingress[1].protocol:")),
        "{failures:?}"
    );

    provider.delete(&updated).await.expect("delete");
    provider.delete(&updated).await.expect("delete again");
    assert!(provider.read(&updated).await.is_none());
    provider.delete(&vpc).await.expect("delete vpc");
    provider.stop().await;
}

#[tokio::test]
async fn vpc_endpoints_gateway_and_interface_with_policy_removal_restoring_full_access() {
    let (_emulator, provider, ec2) = setup().await;
    let vpc = provider
        .create("Vpc", "net", &json!({"cidrBlock": "10.5.0.0/16"}))
        .await
        .expect("vpc");
    let table = provider
        .create("RouteTable", "private", &json!({"vpcId": vpc.id}))
        .await
        .expect("table");
    let subnet = provider
        .create(
            "Subnet",
            "a",
            &json!({"vpcId": vpc.id, "cidrBlock": "10.5.1.0/24", "availabilityZone": "us-east-1a"}),
        )
        .await
        .expect("subnet");
    let group = provider
        .create("SecurityGroup", "endpoints", &json!({"vpcId": vpc.id, "ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.5.0.0/16"]}]}))
        .await
        .expect("group");

    let only_our_buckets = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": ["arn:aws:s3:::data/*"]}],
    });
    let s3 = json!({
        "vpcId": vpc.id, "serviceName": "com.amazonaws.us-east-1.s3", "vpcEndpointType": "Gateway",
        "routeTableIds": [table.id], "policy": only_our_buckets,
    });
    let gateway = provider
        .create("VpcEndpoint", "s3", &s3)
        .await
        .expect("gateway endpoint");
    assert!(gateway.id.starts_with("vpce-"));
    let (_, changes) = provider.plan(&gateway, "VpcEndpoint", "s3", &s3).await;
    assert!(!changes.changed, "{changes:?}");
    // The same policy as AWS-style text, reordered: still no diff.
    let mut as_text = s3.clone();
    as_text["policy"] = json!(
        r#"{"Statement":[{"Resource":"arn:aws:s3:::data/*","Action":["s3:PutObject","s3:GetObject"],"Principal":"*","Effect":"Allow"}],"Version":"2012-10-17"}"#
    );
    let (_, changes) = provider.plan(&gateway, "VpcEndpoint", "s3", &as_text).await;
    assert!(!changes.changed, "{changes:?}");

    // Policy changed in place.
    let mut wider = s3.clone();
    wider["policy"]["Statement"][0]["Resource"] = json!(["arn:aws:s3:::data/*", "arn:aws:s3:::models/*"]);
    let (news, changes) = provider.plan(&gateway, "VpcEndpoint", "s3", &wider).await;
    assert_eq!(changes.detailed["policy"], DiffKind::Update);
    let gateway = provider.update(&gateway, news).await.expect("update policy");
    let live = ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&gateway.id)
        .send()
        .await
        .expect("describe");
    assert!(live.vpc_endpoints()[0]
        .policy_document()
        .unwrap_or_default()
        .contains("models"));

    // Policy removed: AWS's full-access default comes back (not the old policy kept).
    let mut no_policy = s3.clone();
    no_policy.as_object_mut().expect("object").remove("policy");
    let (news, changes) = provider.plan(&gateway, "VpcEndpoint", "s3", &no_policy).await;
    assert_eq!(changes.detailed["policy"], DiffKind::Delete);
    let gateway = provider.update(&gateway, news).await.expect("remove policy");
    let live = ec2
        .describe_vpc_endpoints()
        .vpc_endpoint_ids(&gateway.id)
        .send()
        .await
        .expect("describe");
    let document: Json = serde_json::from_str(live.vpc_endpoints()[0].policy_document().unwrap_or("{}")).expect("json");
    assert_eq!(document["Statement"][0]["Action"], "*", "{document}");
    assert!(
        gateway.outputs_json().get("policy").is_none(),
        "the default policy reads as no policy"
    );
    let (_, changes) = provider.plan(&gateway, "VpcEndpoint", "s3", &no_policy).await;
    assert!(!changes.changed, "{changes:?}");

    // An interface endpoint with private DNS in the subnet, behind the group.
    let sagemaker = json!({
        "vpcId": vpc.id, "serviceName": "com.amazonaws.us-east-1.sagemaker.api",
        "subnetIds": [subnet.id], "securityGroupIds": [group.id],
    });
    let interface = provider
        .create("VpcEndpoint", "sagemaker-api", &sagemaker)
        .await
        .expect("interface endpoint");
    let outputs = interface.outputs_json();
    assert_eq!(outputs["privateDnsEnabled"], true);
    assert_eq!(outputs["subnetIds"], json!([subnet.id]));
    let (_, changes) = provider
        .plan(&interface, "VpcEndpoint", "sagemaker-api", &sagemaker)
        .await;
    assert!(!changes.changed, "{changes:?}");
    let mut other_service = sagemaker.clone();
    other_service["serviceName"] = "com.amazonaws.us-east-1.sts".into();
    let (_, changes) = provider
        .plan(&interface, "VpcEndpoint", "sagemaker-api", &other_service)
        .await;
    assert_eq!(changes.detailed["serviceName"], DiffKind::UpdateReplace);

    for live in [&interface, &gateway] {
        provider.delete(live).await.expect("delete endpoint");
        assert!(provider.read(live).await.is_none());
        provider.delete(live).await.expect("delete endpoint again");
    }
    for live in [&group, &subnet, &table, &vpc] {
        provider.delete(live).await.expect("delete");
    }
    provider.stop().await;
}

#[tokio::test]
async fn nat_mode_internet_gateway_nat_gateway_and_routes() {
    let (_emulator, provider, ec2) = setup().await;
    let vpc = provider
        .create("Vpc", "net", &json!({"cidrBlock": "10.6.0.0/16"}))
        .await
        .expect("vpc");
    let public = provider
        .create(
            "Subnet",
            "public",
            &json!({"vpcId": vpc.id, "cidrBlock": "10.6.0.0/24", "availabilityZone": "us-east-1a"}),
        )
        .await
        .expect("public subnet");
    let private = provider
        .create(
            "Subnet",
            "private",
            &json!({"vpcId": vpc.id, "cidrBlock": "10.6.1.0/24", "availabilityZone": "us-east-1a"}),
        )
        .await
        .expect("private subnet");
    let gateway = provider
        .create("InternetGateway", "igw", &json!({"vpcId": vpc.id}))
        .await
        .expect("igw");
    assert_eq!(gateway.outputs_json()["vpcId"], vpc.id.as_str());
    let nat = provider
        .create("NatGateway", "nat", &json!({"subnetId": public.id}))
        .await
        .expect("nat");
    let nat_outputs = nat.outputs_json();
    assert!(
        nat_outputs["allocationId"]
            .as_str()
            .is_some_and(|a| a.starts_with("eipalloc-")),
        "{nat_outputs}"
    );

    let declared = json!({
        "vpcId": vpc.id,
        "routes": [{"destinationCidrBlock": "0.0.0.0/0", "natGatewayId": nat.id}],
        "subnetIds": [private.id],
    });
    let table = provider
        .create("RouteTable", "private", &declared)
        .await
        .expect("table");
    assert_eq!(
        table.outputs_json()["routes"],
        json!([{"destinationCidrBlock": "0.0.0.0/0", "natGatewayId": nat.id}])
    );
    assert_eq!(table.outputs_json()["subnetIds"], json!([private.id]));
    let (_, changes) = provider.plan(&table, "RouteTable", "private", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // In place: the default route moves to the internet gateway, and the public subnet joins.
    let changed = json!({
        "vpcId": vpc.id,
        "routes": [{"destinationCidrBlock": "0.0.0.0/0", "gatewayId": gateway.id}],
        "subnetIds": [public.id, private.id],
    });
    let (news, changes) = provider.plan(&table, "RouteTable", "private", &changed).await;
    assert_eq!(changes.detailed["routes"], DiffKind::Update);
    assert_eq!(changes.detailed["subnetIds"], DiffKind::Update);
    let table = provider.update(&table, news).await.expect("update routes");
    let live = ec2
        .describe_route_tables()
        .route_table_ids(&table.id)
        .send()
        .await
        .expect("describe");
    let routes = live.route_tables()[0].routes();
    assert!(
        routes.iter().any(|r| r.gateway_id() == Some(gateway.id.as_str())),
        "{routes:?}"
    );
    assert!(routes.iter().all(|r| r.nat_gateway_id().is_none()), "{routes:?}");

    // Drift: the route removed out of band.
    ec2.delete_route()
        .route_table_id(&table.id)
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .expect("delete route");
    let (drifted, _) = provider.read(&table).await.expect("exists");
    assert_eq!(plain(&drifted)["routes"], json!([]));

    // Detach the gateway in place.
    let (news, changes) = provider.plan(&gateway, "InternetGateway", "igw", &json!({})).await;
    assert_eq!(changes.detailed["vpcId"], DiffKind::Delete);
    let gateway = provider.update(&gateway, news).await.expect("detach");
    assert!(gateway.outputs_json().get("vpcId").is_none());

    provider.delete(&table).await.expect("delete table");
    provider.delete(&nat).await.expect("delete nat");
    let addresses = ec2.describe_addresses().send().await.expect("addresses");
    assert!(
        addresses.addresses().is_empty(),
        "the NAT gateway's address was released: {:?}",
        addresses.addresses()
    );
    provider.delete(&nat).await.expect("delete nat again");
    for live in [&gateway, &private, &public, &vpc] {
        provider.delete(live).await.expect("delete");
        provider.delete(live).await.expect("delete again");
    }
    provider.stop().await;
}

#[tokio::test]
async fn flow_log_lifecycle() {
    let (_emulator, provider, _ec2) = setup().await;
    let vpc = provider
        .create("Vpc", "net", &json!({"cidrBlock": "10.7.0.0/16"}))
        .await
        .expect("vpc");
    let declared = json!({
        "vpcId": vpc.id, "logGroupName": "/palisade/flow",
        "deliverLogsPermissionArn": format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/flow-logs"),
    });
    let flow_log = provider.create("FlowLog", "flow", &declared).await.expect("flow log");
    assert!(flow_log.id.starts_with("fl-"));
    assert_eq!(flow_log.outputs_json()["trafficType"], "ALL");
    let (_, changes) = provider.plan(&flow_log, "FlowLog", "flow", &declared).await;
    assert!(!changes.changed, "{changes:?}");
    let mut rejected_only = declared.clone();
    rejected_only["trafficType"] = "REJECT".into();
    let (_, changes) = provider.plan(&flow_log, "FlowLog", "flow", &rejected_only).await;
    assert_eq!(changes.detailed["trafficType"], DiffKind::UpdateReplace);
    provider.delete(&flow_log).await.expect("delete");
    assert!(provider.read(&flow_log).await.is_none());
    provider.delete(&flow_log).await.expect("delete again");
    provider.delete(&vpc).await.expect("delete vpc");
    provider.stop().await;
}
