//! Benchmark: the reference environment's deploy (three accounts, every resource, prod included)
//! when every AWS call costs a fixed latency, against the dependency graph's critical path in the
//! same run (the longest chain of steps that need one another, by their measured durations; no
//! schedule can finish sooner). Target at 50 ms per call: wall time <= 1.3x the critical path.
//!
//! Run with `scripts/bench` (release plugins); `PALISADE_LATENCIES=0,50,200` picks the latencies.

use std::time::Instant;

use palisade::engine::{ApplyOptions, Engine, Hosts};
use palisade::StateStore;
use palisade_tests::Emulator;
use secure_mlops::promote;
use secure_mlops::{declare, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let latencies: Vec<u64> = std::env::var("PALISADE_LATENCIES")
        .unwrap_or_else(|_| "0,50".into())
        .split(',')
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    println!(
        "{:<28} {:>9} {:>7} {:>9} {:>14} {:>7}",
        "deploy of the reference env", "resources", "calls", "wall s", "critical s", "ratio"
    );
    for latency in latencies {
        // A fresh emulator per latency: every run deploys from nothing.
        let emulator = Emulator::start()?;
        emulator.set_latency_ms(latency)?;
        let mut config = Config::local();
        config.endpoint = Some(emulator.endpoint());
        let dir = std::env::temp_dir().join(format!("palisade-bench-latency-{latency}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let hosts = Hosts::with_env(emulator.plugin_env());
        let release = promote::find_release(&config, &hosts)
            .await
            .map_err(anyhow::Error::msg)?;
        let engine = Engine::new(declare(&config, &release)?.stacks, StateStore::new(dir));
        emulator.clear_requests()?;
        let started = Instant::now();
        let plan = engine.plan(&hosts, false).await?;
        let report = engine
            .apply_with(&plan, &hosts, &ApplyOptions::default(), &mut Vec::new())
            .await?;
        let wall = started.elapsed().as_secs_f64();
        anyhow::ensure!(report.ok(), "the deploy failed: {:?}", report.failed);
        let (critical, _) = report.critical_path(&plan);
        let calls = emulator.requests()?.len();
        hosts.stop().await;
        println!(
            "{:<28} {:>9} {:>7} {:>9.2} {:>14.2} {:>7.2}",
            format!("{latency} ms per call"),
            plan.steps.len(),
            calls,
            wall,
            critical,
            wall / critical.max(f64::EPSILON)
        );
    }
    Ok(())
}
