//! Benchmark: the reference environment with dev and N target accounts (25 resources each) on the
//! local emulator: preview from empty state, deploy, a preview with nothing to change (each preview
//! also with the time its guardrails take, run again alone), the peak
//! memory of the program and all its plugin processes, and the plugin processes (started in all,
//! most alive at once). Targets for N = 100 (2,533 resources): preview from empty <= 3 s, no-change
//! preview <= 2 s, peak memory <= 1.5 GiB, a bounded number of live plugin processes.
//!
//! Run with `scripts/bench`; `PALISADE_TARGETS=5,20,100` picks N (one N alone: `PALISADE_TARGETS=100`),
//! `PALISADE_DEPLOY_UP_TO=20` the largest N also deployed (a deploy of 100 accounts takes minutes on
//! the emulator), `PALISADE_PARALLEL` the engine's operations at once (default 16; 1 plans one
//! resource at a time), `PALISADE_MAX_PLUGINS` the live plugin limit (default 24),
//! `PALISADE_NO_CHANGE_RUNS` how many no-change previews to time (default 3; the median is shown).
//!
//! `PALISADE_KEEP_STATE=DIR` keeps the state in `DIR/<targets>` and, when that already holds a
//! deploy, times the no-change preview against it without deploying again. A preview calls no AWS
//! API (Check and Diff work on the declaration and the state), so a fresh emulator gives the same
//! plan; this turns one slow deploy into many no-change measurements.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade::engine::{ApplyOptions, Engine, Hosts};
use palisade::plan::Plan;
use palisade::StateStore;
use palisade_tests::Emulator;
use secure_mlops::promote;
use secure_mlops::{declare, Config};

/// Resident memory (KiB) of this process and every process below it but the emulator's tree, from
/// /proc.
fn tree_rss_kib(emulator: u32) -> u64 {
    let me = std::process::id();
    let mut total = 0;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut parents = std::collections::HashMap::new();
    let mut rss = std::collections::HashMap::new();
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        for line in status.lines() {
            if let Some(v) = line.strip_prefix("PPid:") {
                parents.insert(pid, v.trim().parse::<u32>().unwrap_or(0));
            }
            if let Some(v) = line.strip_prefix("VmRSS:") {
                rss.insert(pid, v.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap_or(0));
            }
        }
    }
    for (&pid, &kib) in &rss {
        let mut at = pid;
        while at != 0 && at != me && at != emulator {
            at = parents.get(&at).copied().unwrap_or(0);
        }
        if at == me {
            total += kib;
        }
    }
    total
}

/// Samples the process tree's memory until stopped; answers the peak in MiB.
fn sample_peak(emulator: u32) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let (s, p) = (stop.clone(), peak.clone());
    let handle = std::thread::spawn(move || {
        while !s.load(Ordering::Relaxed) {
            p.fetch_max(tree_rss_kib(emulator), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(25));
        }
        p.load(Ordering::Relaxed) / 1024
    });
    (stop, handle)
}

/// The number in environment variable `name`, or `default` when it is unset or not a number.
fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(default)
}

/// The guardrails over `plan`, run again alone: their findings and the milliseconds they took.
fn time_guardrails(plan: &Plan, engine: &Engine) -> (usize, f64) {
    let started = Instant::now();
    let findings = palisade::guardrails::check(plan, engine.stacks());
    (findings.len(), started.elapsed().as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sizes: Vec<usize> = std::env::var("PALISADE_TARGETS")
        .unwrap_or_else(|_| "5,20,100".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let deploy_up_to = env_number("PALISADE_DEPLOY_UP_TO", 20);
    let parallel = env_number("PALISADE_PARALLEL", 16);
    let no_change_runs = env_number("PALISADE_NO_CHANGE_RUNS", 3).max(1);
    let kept = std::env::var_os("PALISADE_KEEP_STATE").map(std::path::PathBuf::from);
    println!(
        "{:>7} {:>9} {:>12} {:>9} {:>9} {:>12} {:>9} {:>12} {:>17}",
        "targets",
        "resources",
        "preview s",
        "rules ms",
        "deploy s",
        "no-change s",
        "rules ms",
        "peak MiB",
        "plugins (peak)"
    );
    for targets in sizes {
        // The emulator is a separate process tree: measured memory is the program and its plugins.
        let emulator = Emulator::start()?;
        let mut config = Config::local_with_targets(targets);
        config.endpoint = Some(emulator.endpoint());
        let dir = match &kept {
            Some(kept) => kept.join(targets.to_string()),
            None => std::env::temp_dir().join(format!("palisade-bench-many-{targets}-{}", std::process::id())),
        };
        let deployed = kept.is_some() && std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some());
        if !deployed {
            let _ = std::fs::remove_dir_all(&dir);
        }
        let store = StateStore::new(dir);
        let (stop, sampler) = sample_peak(emulator.pid());
        let hosts = Hosts::with_env(emulator.plugin_env());
        let release = promote::find_release(&config, &hosts)
            .await
            .map_err(anyhow::Error::msg)?;
        let engine = Engine::new(declare(&config, &release)?.stacks, store.clone()).parallel(parallel);
        let started = Instant::now();
        let plan = engine.plan(&hosts, false).await?;
        let preview = started.elapsed().as_secs_f64();
        let resources = plan.steps.len();
        // Of the preview, the guardrails over the whole plan.
        let (findings, rules_ms) = time_guardrails(&plan, &engine);
        anyhow::ensure!(findings == plan.findings.len(), "the guardrails answer differently");
        let (mut deploy, mut unchanged, mut unchanged_rules) =
            (String::from("-"), String::from("-"), String::from("-"));
        if targets <= deploy_up_to && !deployed {
            let started = Instant::now();
            let report = engine
                .apply_with(&plan, &hosts, &ApplyOptions::default(), &mut Vec::new())
                .await?;
            anyhow::ensure!(report.ok(), "the deploy failed: {:?}", report.failed.first());
            deploy = format!("{:.2}", started.elapsed().as_secs_f64());
        }
        if targets <= deploy_up_to || deployed {
            let mut times = Vec::new();
            let mut again = None;
            for _ in 0..no_change_runs {
                let started = Instant::now();
                let plan = engine.plan(&hosts, false).await?;
                times.push(started.elapsed().as_secs_f64());
                anyhow::ensure!(!plan.has_changes(), "a second plan has changes");
                again = Some(plan);
            }
            times.sort_by(f64::total_cmp);
            unchanged = format!("{:.2}", times[times.len() / 2]);
            if let Some(again) = again {
                unchanged_rules = format!("{:.1}", time_guardrails(&again, &engine).1);
            }
        }
        let (started_plugins, peak_plugins) = hosts.process_counts();
        hosts.stop().await;
        stop.store(true, Ordering::Relaxed);
        let peak = sampler.join().unwrap_or(0);
        println!(
            "{targets:>7} {resources:>9} {preview:>12.2} {rules_ms:>9.1} {deploy:>9} {unchanged:>12} {unchanged_rules:>9} {peak:>12} {:>17}",
            format!("{started_plugins} ({peak_plugins})")
        );
    }
    Ok(())
}
