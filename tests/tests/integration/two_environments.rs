//! Two environments of the reference platform (different names and CIDRs) in the same three
//! emulated accounts: each deploys beside the other, each second run changes nothing, and
//! destroying one leaves the other intact, checked through AWS's APIs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use palisade::engine::{ApplyOptions, Engine, Hosts};
use palisade::StateStore;
use palisade_tests::{Emulator, DEFAULT_ACCOUNT, REGION};
use secure_mlops::promote::{self, Options};
use secure_mlops::{declare, Config};

const ACCOUNTS: [&str; 3] = [DEFAULT_ACCOUNT, "222222222222", "333333333333"];

async fn ec2(emulator: &Emulator, account: &str) -> aws_sdk_ec2::Client {
    let base = || {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(emulator.endpoint())
    };
    let keys = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    let mut config = base().credentials_provider(keys).load().await;
    if account != DEFAULT_ACCOUNT {
        let role = aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/auditor"))
            .session_name("audit")
            .configure(&config)
            .build()
            .await;
        config = base().credentials_provider(role).load().await;
    }
    aws_sdk_ec2::Client::new(&config)
}

/// Per project (from the ownership tag's URN), how many VPCs of ours the account holds.
async fn vpcs_by_project(client: &aws_sdk_ec2::Client) -> BTreeMap<String, usize> {
    let tagged = aws_sdk_ec2::types::Filter::builder()
        .name("tag-key")
        .values("palisade:urn")
        .build();
    let vpcs = client
        .describe_vpcs()
        .filters(tagged)
        .send()
        .await
        .expect("DescribeVpcs");
    let mut projects = BTreeMap::new();
    for vpc in vpcs.vpcs() {
        let urn = vpc
            .tags()
            .iter()
            .find(|t| t.key() == Some("palisade:urn"))
            .and_then(|t| t.value())
            .unwrap_or_default();
        let project = urn.split("::").nth(1).unwrap_or_default().to_string();
        *projects.entry(project).or_default() += 1;
    }
    projects
}

fn second(mut config: Config) -> Config {
    config.environment = "second".into();
    let renumber = |network: &mut secure_mlops::config::NetworkConfig, octet: u8| {
        network.vpc_cidr = format!("10.{octet}.0.0/16");
        for (i, subnet) in network.subnets.iter_mut().enumerate() {
            subnet.cidr = format!("10.{octet}.{}.0/24", i + 1);
        }
    };
    renumber(&mut config.dev.network, 10);
    for (i, target) in config.targets.iter_mut().enumerate() {
        renumber(&mut target.network, 11 + i as u8);
    }
    config
}

fn state_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-two-environments-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn changes(config: &Config, store: &StateStore, hosts: &Hosts) -> usize {
    let release = promote::find_release(config, hosts).await.expect("release");
    let environment = declare(config, &release).expect("declares");
    let plan = Engine::new(environment.stacks, store.clone())
        .plan(hosts, false)
        .await
        .expect("plans");
    plan.steps
        .iter()
        .filter(|s| s.operation != palisade::Operation::Same)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_environments_share_three_accounts_without_touching_each_other() {
    let emulator = Emulator::start().expect("emulator");
    let mut first = Config::local();
    first.endpoint = Some(emulator.endpoint());
    let second = second(first.clone());
    assert_ne!(first.environment, second.environment);
    // One state directory for both, as when both run from the same checkout.
    let store = StateStore::new(state_dir());
    let hosts = Hosts::with_env(emulator.plugin_env());
    let options = Options {
        yes: true,
        approve: true,
        waive: Vec::new(),
        allow_replace: Vec::new(),
    };

    for config in [&first, &second] {
        let mut out = Vec::new();
        let outcome = promote::deploy(config, store.clone(), &hosts, &options, &mut out)
            .await
            .expect("deploys");
        let output = String::from_utf8_lossy(&out);
        assert!(outcome.ok, "{}: {output}", config.environment);
        assert!(
            !output.contains(" to delete"),
            "{} planned deletes beside the other environment:\n{output}",
            config.environment
        );
    }
    for account in ACCOUNTS {
        let projects = vpcs_by_project(&ec2(&emulator, account).await).await;
        let expected = BTreeMap::from([(first.environment.clone(), 1), (second.environment.clone(), 1)]);
        assert_eq!(projects, expected, "account {account}: one VPC per environment");
    }
    assert_eq!(
        changes(&first, &store, &hosts).await,
        0,
        "first's second run changes nothing"
    );
    assert_eq!(
        changes(&second, &store, &hosts).await,
        0,
        "second's second run changes nothing"
    );

    // Destroy the second environment (confirmed, so its data may go).
    let release = promote::find_release(&second, &hosts).await.expect("release");
    let engine = Engine::new(declare(&second, &release).expect("declares").stacks, store.clone());
    let destroy = engine.plan(&hosts, true).await.expect("destroy plan");
    let urns: BTreeSet<&str> = destroy.steps.iter().map(|s| s.urn.as_str()).collect();
    assert!(
        urns.iter().all(|u| u.contains("::second::")),
        "the destroy of `second` names only its own resources"
    );
    let confirmed = ApplyOptions {
        allow_all_data_loss: true,
        ..ApplyOptions::default()
    };
    let report = engine
        .apply_with(&destroy, &hosts, &confirmed, &mut Vec::new())
        .await
        .expect("destroys");
    assert!(report.ok(), "{report:?}");

    for account in ACCOUNTS {
        let projects = vpcs_by_project(&ec2(&emulator, account).await).await;
        assert_eq!(
            projects,
            BTreeMap::from([(first.environment.clone(), 1)]),
            "account {account}: only the first environment's VPC is left"
        );
    }
    // Every resource of the first environment is still there, as AWS reports it.
    let release = promote::find_release(&first, &hosts).await.expect("release");
    let drifts = Engine::new(declare(&first, &release).expect("declares").stacks, store.clone())
        .refresh(&hosts)
        .await
        .expect("refresh");
    assert!(drifts.is_empty(), "the first environment drifted: {drifts:?}");
    assert_eq!(changes(&first, &store, &hosts).await, 0);
    hosts.stop().await;
}
