//! Benchmark: preview of the whole reference environment (three accounts, 73 resources) on the
//! local emulator, as `secure-mlops preview` runs it: find the release, start and configure the
//! plugins, Check and Diff every resource, run the guardrails. Measured from empty state (everything
//! to create) and after a deploy (nothing to change). Target: about a second.
//!
//! Run with `scripts/bench` (it builds the release plugins first).

use std::time::Instant;

use palisade::engine::{Engine, Hosts};
use palisade::StateStore;
use palisade_tests::Emulator;
use secure_mlops::promote::{self, Options};
use secure_mlops::{declare, Config};

const RUNS: usize = 7;

async fn preview(config: &Config, store: &StateStore, env: &[(String, String)]) -> anyhow::Result<(f64, usize)> {
    let started = Instant::now();
    let hosts = Hosts::with_env(env.to_vec());
    let release = promote::find_release(config, &hosts)
        .await
        .map_err(anyhow::Error::msg)?;
    let environment = declare(config, &release)?;
    let plan = Engine::new(environment.stacks, store.clone())
        .plan(&hosts, false)
        .await?;
    hosts.stop().await;
    Ok((started.elapsed().as_secs_f64(), plan.steps.len()))
}

fn report(label: &str, mut seconds: Vec<f64>, resources: usize) {
    seconds.sort_by(f64::total_cmp);
    println!(
        "{label:<44} {resources:>9} {:>9.3} {:>9.3} {:>9.3}",
        seconds[0],
        seconds[seconds.len() / 2],
        seconds[seconds.len() - 1]
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let emulator = Emulator::start()?;
    let env = emulator.plugin_env();
    let mut config = Config::local();
    config.endpoint = Some(emulator.endpoint());
    let dir = std::env::temp_dir().join(format!("palisade-bench-preview-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "{:<44} {:>9} {:>9} {:>9} {:>9}",
        "preview of the reference environment", "resources", "min s", "median s", "max s"
    );

    let empty = StateStore::new(dir.join("empty"));
    let mut runs = Vec::new();
    let mut count = 0;
    for _ in 0..RUNS {
        let (seconds, resources) = preview(&config, &empty, &env).await?;
        runs.push(seconds);
        count = resources;
    }
    report("from empty state (all to create)", runs, count);

    let deployed = StateStore::new(dir.join("deployed"));
    let hosts = Hosts::with_env(env.clone());
    let options = Options {
        yes: true,
        approve: true,
        waive: Vec::new(),
        allow_replace: Vec::new(),
    };
    let outcome = promote::deploy(&config, deployed.clone(), &hosts, &options, &mut Vec::new())
        .await
        .map_err(anyhow::Error::msg)?;
    hosts.stop().await;
    anyhow::ensure!(outcome.ok, "the deploy before the benchmark failed");
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        let (seconds, resources) = preview(&config, &deployed, &env).await?;
        runs.push(seconds);
        count = resources;
    }
    report("deployed (nothing to change)", runs, count);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
