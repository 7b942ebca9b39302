//! Planning many accounts at once: the plan made with many resources in flight is the plan made one
//! resource at a time, each provider configuration (account and package) gets exactly one plugin
//! process, and no more plugins are alive at once than the hosts' limit allows.

use std::collections::BTreeSet;

use palisade::engine::{Engine, Hosts};
use palisade::StateStore;
use palisade_tests::Emulator;
use secure_mlops::config::TargetConfig;
use secure_mlops::promote;
use secure_mlops::{declare, Config};

/// Dev plus `targets` target accounts, each with its own network range.
fn config(endpoint: String, targets: usize) -> Config {
    let mut config = Config::local();
    config.endpoint = Some(endpoint);
    let template: TargetConfig = config.targets[0].clone();
    config.targets = (0..targets)
        .map(|i| {
            let mut target = template.clone();
            target.name = format!("target-{i:03}");
            let account_id = format!("{:012}", 400_000_000_000u64 + i as u64);
            target.account.assume_role = Some(format!("arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole"));
            target.account.account_id = account_id;
            let octet = 10 + i;
            target.network.vpc_cidr = format!("10.{octet}.0.0/16");
            for (z, subnet) in target.network.subnets.iter_mut().enumerate() {
                subnet.cidr = format!("10.{octet}.{}.0/24", z + 1);
            }
            target.requires_approval = false;
            target.smoke_test = false;
            target
        })
        .collect();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planning_accounts_concurrently_keeps_the_plan_and_bounds_the_plugins() {
    // Dev's security and deploy providers are in use to the end (its policies name every target);
    // each target account uses three providers.
    const LIMIT: usize = 8;
    let emulator = Emulator::start().expect("emulator");
    let config = config(emulator.endpoint(), 6);
    let store = StateStore::new(std::env::temp_dir().join(format!("palisade-many-accounts-{}", std::process::id())));

    let mut plans = Vec::new();
    for parallel in [1, 16] {
        let hosts = Hosts::with_env(emulator.plugin_env()).max_live(LIMIT);
        let release = promote::find_release(&config, &hosts).await.expect("release");
        let environment = declare(&config, &release).expect("declares");
        let keys: BTreeSet<(String, &str)> = environment
            .stacks
            .iter()
            .flat_map(|s| s.resources.iter().map(move |d| (s.account.name.clone(), d.package)))
            .collect();
        let plan = Engine::new(environment.stacks, store.clone())
            .parallel(parallel)
            .plan(&hosts, false)
            .await
            .expect("plans");
        let (started, peak) = hosts.process_counts();
        hosts.stop().await;
        assert_eq!(
            started,
            keys.len(),
            "parallel {parallel}: one plugin process per account and provider, none restarted"
        );
        // The release lookup's plugin (dev's deploy provider) is alive before the plan uses it.
        assert!(
            peak <= LIMIT + 1,
            "parallel {parallel}: {peak} plugins alive at once, limit {LIMIT} ({started} started)"
        );
        assert!(plan.steps.len() > 150, "{} steps", plan.steps.len());
        plans.push(plan);
    }
    let (serial, concurrent) = (&plans[0], &plans[1]);
    assert_eq!(
        format!("{:?}", serial.steps),
        format!("{:?}", concurrent.steps),
        "the same steps in the same order"
    );
    assert_eq!(format!("{:?}", serial.findings), format!("{:?}", concurrent.findings));
}
