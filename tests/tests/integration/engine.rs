//! The SDK's engine with the real provider binaries on the emulator, across two accounts: up, a
//! second up that plans nothing, an update, a cross-stack reference, a refused concurrent run, a run
//! interrupted after a create converging without a duplicate, destroy leaving nothing, and import of
//! a resource made outside Palisade.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use aws_sdk_ec2::types::Filter;
use palisade::engine::{Engine, Hosts, Operation};
use palisade::network::{SecurityGroup, SecurityGroupArgs, SecurityGroupRule, Subnet, SubnetArgs, Vpc, VpcArgs};
use palisade::{Account, Stack, StateStore};
use palisade_tests::provider::TestProvider;
use palisade_tests::{Emulator, DEFAULT_ACCOUNT, REGION};
use serde_json::json;

const STAGING: &str = "222222222222";

async fn ec2(emulator: &Emulator, account: &str) -> aws_sdk_ec2::Client {
    let credentials = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(emulator.endpoint())
        .credentials_provider(credentials);
    if account != DEFAULT_ACCOUNT {
        let base = loader.load().await;
        let role = aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/check"))
            .session_name("check")
            .configure(&base)
            .build()
            .await;
        loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(emulator.endpoint())
            .credentials_provider(role);
    }
    aws_sdk_ec2::Client::new(&loader.load().await)
}

fn state_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-engine-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn rule(port: i32, cidr: String) -> SecurityGroupRule {
    SecurityGroupRule::new("tcp")
        .with_from_port(port)
        .with_to_port(port)
        .with_cidr_blocks(vec![cidr])
}

/// Dev: a VPC and a subnet; staging: a VPC and a group admitting dev's VPC range (a cross-stack
/// reference).
fn stacks(emulator: &Emulator, https_port: i32) -> Vec<Stack> {
    let dev_account = Account::new("dev", DEFAULT_ACCOUNT, REGION).endpoint(emulator.endpoint());
    let staging_account = Account::new("staging", STAGING, REGION)
        .assume_role(format!("arn:aws:iam::{STAGING}:role/palisade-deployment"), None)
        .endpoint(emulator.endpoint());
    let mut dev = Stack::new("dev", dev_account).project("engine-test");
    let dev_vpc = dev
        .resource::<Vpc>("main", VpcArgs::new("10.10.0.0/16"))
        .expect("declare");
    let subnet = SubnetArgs::new(dev_vpc.vpc_id(), "10.10.1.0/24", format!("{REGION}a"));
    dev.resource::<Subnet>("private-a", subnet).expect("declare");

    let mut staging = Stack::new("staging", staging_account).project("engine-test");
    let staging_vpc = staging
        .resource::<Vpc>("main", VpcArgs::new("10.20.0.0/16"))
        .expect("declare");
    let group = SecurityGroupArgs::new(staging_vpc.vpc_id())
        .with_description("endpoints")
        .with_ingress(vec![rule(https_port, dev_vpc.cidr_block())]);
    staging.resource::<SecurityGroup>("endpoints", group).expect("declare");
    vec![dev, staging]
}

async fn tagged_vpcs(ec2: &aws_sdk_ec2::Client, stack: &str) -> usize {
    let filter = Filter::builder().name("tag:palisade:stack").values(stack).build();
    ec2.describe_vpcs()
        .filters(filter)
        .send()
        .await
        .expect("describe")
        .vpcs()
        .len()
}

#[tokio::test]
async fn up_again_update_and_destroy_across_two_accounts() {
    let emulator = Emulator::start().expect("emulator");
    let store = StateStore::new(state_dir("flow"));
    let hosts = Hosts::with_env(emulator.plugin_env());
    let engine = Engine::new(stacks(&emulator, 443), store.clone());

    // First up: four creates, dependencies first.
    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert_eq!(plan.counts().get(&Operation::Create), Some(&4), "{:?}", plan.counts());
    assert!(plan.failures().next().is_none());
    let position = |name: &str, stack: &str| {
        plan.steps
            .iter()
            .position(|s| s.name == name && s.stack == stack)
            .expect("step")
    };
    assert!(position("main", "dev") < position("private-a", "dev"));
    assert!(
        position("main", "dev") < position("endpoints", "staging"),
        "cross-stack dependency comes first"
    );
    let mut progress = Vec::new();
    let report = engine.apply(&plan, &hosts, &mut progress).await.expect("apply");
    assert!(report.ok(), "{report:?}\n{}", String::from_utf8_lossy(&progress));
    assert_eq!(report.done.len(), 4);

    // State: one file per project and stack, owner-only.
    for stack in ["dev", "staging"] {
        let path = store.dir().join("engine-test").join(format!("{stack}.json"));
        assert_eq!(
            std::fs::metadata(&path).expect("state file").permissions().mode() & 0o777,
            0o600
        );
    }
    let states = engine.load_states().expect("states");
    assert_eq!(states["dev"].resources.len(), 2);
    assert!(states["dev"].pending.is_empty());

    // Each account got its own resources; the reference carried dev's range into staging's rule.
    let dev_ec2 = ec2(&emulator, DEFAULT_ACCOUNT).await;
    let staging_ec2 = ec2(&emulator, STAGING).await;
    assert_eq!(tagged_vpcs(&dev_ec2, "dev").await, 1);
    assert_eq!(tagged_vpcs(&staging_ec2, "staging").await, 1);
    assert_eq!(
        tagged_vpcs(&staging_ec2, "dev").await,
        0,
        "dev's VPC is not in staging's account"
    );
    let group_id = &states["staging"]
        .resources
        .iter()
        .find(|r| r.token.ends_with("SecurityGroup"))
        .expect("group")
        .id;
    let group = staging_ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .expect("group");
    let ranges: Vec<&str> = group.security_groups()[0]
        .ip_permissions()
        .iter()
        .flat_map(|p| p.ip_ranges())
        .filter_map(|r| r.cidr_ip())
        .collect();
    assert_eq!(ranges, vec!["10.10.0.0/16"]);

    // Second up: nothing to do, and not one AWS call (Check and Diff need none).
    emulator.clear_requests().expect("journal");
    let again = engine.plan(&hosts, false).await.expect("plan again");
    assert!(
        !again.has_changes(),
        "{:?}",
        again
            .steps
            .iter()
            .map(|s| (&s.urn, s.operation, &s.diff))
            .collect::<Vec<_>>()
    );
    let report = engine
        .apply(&again, &hosts, &mut Vec::new())
        .await
        .expect("apply nothing");
    assert!(report.done.is_empty(), "a no-change apply made calls: {report:?}");
    let calls = emulator.requests().expect("journal");
    assert!(calls.is_empty(), "a second up called AWS: {calls:?}");

    // An update in one account: exactly one step changes.
    let changed = Engine::new(stacks(&emulator, 8443), store.clone());
    let plan = changed.plan(&hosts, false).await.expect("plan update");
    let changing: Vec<_> = plan.steps.iter().filter(|s| s.operation != Operation::Same).collect();
    assert_eq!(changing.len(), 1, "{changing:?}");
    assert_eq!(changing[0].operation, Operation::Update);
    assert_eq!(changing[0].stack, "staging");
    assert_eq!(
        changing[0].diff.get("ingress"),
        Some(&palisade::kit::diff::DiffKind::Update)
    );
    let report = changed
        .apply(&plan, &hosts, &mut Vec::new())
        .await
        .expect("apply update");
    assert!(report.ok(), "{report:?}");
    let group = staging_ec2
        .describe_security_groups()
        .group_ids(group_id)
        .send()
        .await
        .expect("group");
    assert_eq!(group.security_groups()[0].ip_permissions()[0].from_port(), Some(8443));

    // A concurrent run is refused while this one holds the locks.
    let locks = changed.lock().expect("lock");
    let refused = Engine::new(stacks(&emulator, 8443), store.clone())
        .lock()
        .expect_err("second run");
    assert!(refused.to_string().contains("locked by another run"), "{refused}");
    drop(locks);

    // Destroy: dependants first, and nothing tagged is left in either account.
    let plan = changed.plan(&hosts, true).await.expect("plan destroy");
    assert_eq!(plan.counts().get(&Operation::Delete), Some(&4));
    let report = changed.apply(&plan, &hosts, &mut Vec::new()).await.expect("destroy");
    assert!(report.ok(), "{report:?}");
    assert_eq!(tagged_vpcs(&dev_ec2, "dev").await, 0);
    assert_eq!(tagged_vpcs(&staging_ec2, "staging").await, 0);
    assert!(changed
        .load_states()
        .expect("states")
        .values()
        .all(|s| s.resources.is_empty()));
    hosts.stop().await;
}

#[tokio::test]
async fn a_run_killed_after_a_create_converges_without_a_duplicate() {
    let emulator = Emulator::start().expect("emulator");
    let store = StateStore::new(state_dir("killed"));
    let hosts = Hosts::with_env(emulator.plugin_env());
    let dev_account = Account::new("dev", DEFAULT_ACCOUNT, REGION).endpoint(emulator.endpoint());
    let mut dev = Stack::new("dev", dev_account).project("engine-test");
    dev.resource::<Vpc>("main", VpcArgs::new("10.30.0.0/16"))
        .expect("declare");
    let urn = dev.resources[0].urn.clone();
    let engine = Engine::new(vec![dev], store);

    // The previous run reached AWS (the VPC exists, tagged with its URN) and died before writing state.
    let provider = TestProvider::start(&emulator, "palisade-network", DEFAULT_ACCOUNT, "dev").await;
    let orphan = provider
        .create("Vpc", "main", &json!({"cidrBlock": "10.30.0.0/16"}))
        .await
        .expect("create");
    assert_eq!(orphan.urn.replace("palisade-tests", "engine-test"), urn);
    provider.stop().await;
    // The orphan carries the test provider's URN; retag it as the engine's to stand for its own run.
    let ec2 = ec2(&emulator, DEFAULT_ACCOUNT).await;
    ec2.create_tags()
        .resources(&orphan.id)
        .tags(
            aws_sdk_ec2::types::Tag::builder()
                .key("palisade:urn")
                .value(&urn)
                .build(),
        )
        .send()
        .await
        .expect("retag");

    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert_eq!(plan.steps[0].operation, Operation::Create);
    let report = engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    assert!(report.ok(), "{report:?}");
    let state = engine.load_states().expect("state");
    assert_eq!(
        state["dev"].resources[0].id, orphan.id,
        "the run adopted the VPC it had made"
    );
    let owned = ec2
        .describe_vpcs()
        .filters(Filter::builder().name("tag:palisade:urn").values(&urn).build())
        .send()
        .await
        .expect("describe");
    assert_eq!(owned.vpcs().len(), 1, "no duplicate");

    let plan = engine.plan(&hosts, true).await.expect("plan destroy");
    assert!(engine
        .apply(&plan, &hosts, &mut Vec::new())
        .await
        .expect("destroy")
        .ok());
    hosts.stop().await;
}

#[tokio::test]
async fn refresh_finds_drift_and_the_next_up_repairs_it() {
    let emulator = Emulator::start().expect("emulator");
    let store = StateStore::new(state_dir("refresh"));
    let hosts = Hosts::with_env(emulator.plugin_env());
    let declare = || {
        let dev_account = Account::new("dev", DEFAULT_ACCOUNT, REGION).endpoint(emulator.endpoint());
        let mut dev = Stack::new("dev", dev_account).project("engine-test");
        let vpc = dev
            .resource::<Vpc>("main", VpcArgs::new("10.40.0.0/16"))
            .expect("declare");
        let subnet = SubnetArgs::new(vpc.vpc_id(), "10.40.1.0/24", format!("{REGION}a"));
        dev.resource::<Subnet>("private-a", subnet).expect("declare");
        Engine::new(vec![dev], store.clone())
    };
    let engine = declare();
    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert!(engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());
    let state = engine.load_states().expect("state");
    let vpc_id = state["dev"]
        .resources
        .iter()
        .find(|r| r.token.ends_with("Vpc"))
        .expect("vpc")
        .id
        .clone();
    let subnet_id = state["dev"]
        .resources
        .iter()
        .find(|r| r.token.ends_with("Subnet"))
        .expect("subnet")
        .id
        .clone();

    // Out of band: DNS hostnames off, and the subnet deleted.
    let ec2 = ec2(&emulator, DEFAULT_ACCOUNT).await;
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc_id)
        .enable_dns_hostnames(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(false)
                .build(),
        )
        .send()
        .await
        .expect("drift");
    ec2.delete_subnet()
        .subnet_id(&subnet_id)
        .send()
        .await
        .expect("delete subnet");

    let drifts = engine.refresh(&hosts).await.expect("refresh");
    let vpc_drift = drifts.iter().find(|d| d.urn.ends_with("::main")).expect("vpc drift");
    assert_eq!(
        vpc_drift.diff.get("enableDnsHostnames"),
        Some(&palisade::kit::diff::DiffKind::Update)
    );
    assert!(
        drifts.iter().any(|d| d.urn.ends_with("::private-a") && d.gone),
        "{drifts:?}"
    );

    // The next up puts the attribute back and recreates the subnet.
    let plan = declare().plan(&hosts, false).await.expect("plan");
    let operations: Vec<(String, Operation)> = plan.steps.iter().map(|s| (s.name.clone(), s.operation)).collect();
    assert_eq!(
        operations,
        vec![
            ("main".to_string(), Operation::Update),
            ("private-a".to_string(), Operation::Create)
        ]
    );
    assert!(engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());
    let attribute = ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .expect("attribute");
    assert_eq!(attribute.enable_dns_hostnames().and_then(|a| a.value()), Some(true));
    assert!(
        engine.refresh(&hosts).await.expect("refresh").is_empty(),
        "no drift after the repair"
    );

    let plan = engine.plan(&hosts, true).await.expect("plan destroy");
    assert!(engine
        .apply(&plan, &hosts, &mut Vec::new())
        .await
        .expect("destroy")
        .ok());
    hosts.stop().await;
}

#[tokio::test]
async fn an_existing_vpc_is_imported_and_then_managed() {
    let emulator = Emulator::start().expect("emulator");
    let ec2 = ec2(&emulator, DEFAULT_ACCOUNT).await;
    let created = ec2
        .create_vpc()
        .cidr_block("10.60.0.0/16")
        .send()
        .await
        .expect("CreateVpc");
    let id = created.vpc().and_then(|v| v.vpc_id()).expect("vpc id").to_string();

    let account = Account::new("dev", DEFAULT_ACCOUNT, REGION).endpoint(emulator.endpoint());
    let mut dev = Stack::new("dev", account).project("import-test");
    dev.resource::<Vpc>("legacy", VpcArgs::new("10.60.0.0/16"))
        .expect("declare");
    let engine = Engine::new(vec![dev], StateStore::new(state_dir("import")));
    let hosts = Hosts::with_env(emulator.plugin_env());

    // Nothing is recorded for an id that does not exist, or a name that is not declared.
    let error = engine
        .import(&hosts, "dev", "legacy", "vpc-0123456789abcdef0")
        .await
        .expect_err("no such VPC");
    assert!(
        error.to_string().contains("no palisade-network:index:Vpc with that id"),
        "{error}"
    );
    let error = engine
        .import(&hosts, "dev", "missing", &id)
        .await
        .expect_err("not declared");
    assert!(error.to_string().contains("declare it first"), "{error}");

    let imported = engine.import(&hosts, "dev", "legacy", &id).await.expect("import");
    assert_eq!(imported.id, id);
    assert_eq!(imported.outputs["cidrBlock"], "10.60.0.0/16");
    let error = engine
        .import(&hosts, "dev", "legacy", &id)
        .await
        .expect_err("already managed");
    assert!(error.to_string().contains("already manages"), "{error}");

    // The plan shows how the declaration differs from what was found (a VPC made by hand has DNS
    // hostnames off; the declaration's default is on), as an update in place, never a create.
    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(plan.steps[0].operation, Operation::Update);
    assert_eq!(
        plan.steps[0].diff.keys().collect::<Vec<_>>(),
        vec!["enableDnsHostnames"]
    );
    let report = engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    assert!(report.ok(), "{report:?}");
    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert_eq!(plan.steps[0].operation, Operation::Same, "{:?}", plan.steps[0].diff);

    // From now on it is managed: destroy deletes it.
    let plan = engine.plan(&hosts, true).await.expect("destroy plan");
    let report = engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("destroy");
    assert!(report.ok(), "{report:?}");
    let left = ec2.describe_vpcs().vpc_ids(&id).send().await;
    assert!(
        left.map(|v| v.vpcs().is_empty()).unwrap_or(true),
        "the imported VPC is still there"
    );
    hosts.stop().await;
}
