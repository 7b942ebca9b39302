//! Planning many accounts at once: the plan made with many resources in flight is the plan made one
//! resource at a time, each provider configuration (account and package) gets exactly one plugin
//! process, and no more plugins are alive at once than the hosts' limit allows.

use std::collections::BTreeSet;

use palisade::engine::{Engine, Hosts};
use palisade::StateStore;
use palisade_tests::Emulator;
use secure_mlops::promote;
use secure_mlops::{declare, Config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planning_accounts_concurrently_keeps_the_plan_and_bounds_the_plugins() {
    // Dev's security and deploy providers are in use to the end (its policies name every target);
    // each target account uses three providers.
    const LIMIT: usize = 8;
    let emulator = Emulator::start().expect("emulator");
    let mut config = Config::local_with_targets(6);
    config.endpoint = Some(emulator.endpoint());
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
