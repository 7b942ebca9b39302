//! Benchmark: plan a synthetic 5,000-resource stack with no changes, against an in-process provider
//! over a real loopback socket (to isolate the engine). Targets: <= 2 s and <= 300 MB.
//!
//! Run with `cargo bench -p palisade --bench plan`.

#[path = "../tests/fake/mod.rs"]
mod fake;

use std::time::Instant;

use fake::{Thing, ThingArgs};
use palisade::engine::{Engine, Hosts};
use palisade::kit::value::map_from_json;
use palisade::state::{to_wire_json, ResourceState, StackState};
use palisade::{Account, Stack, StateStore};
use serde_json::json;

const RESOURCES: usize = 5_000;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, _log) = fake::serve().await;
        let hosts = Hosts::default();
        hosts.connect("dev", "fake", client).await;

        let dir = std::env::temp_dir().join(format!("palisade-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = StateStore::new(&dir);
        let mut stack = Stack::new("dev", Account::new("dev", "111111111111", "eu-west-1"));
        let mut state = StackState::new("palisade", "dev", "111111111111");
        let mut previous: Option<palisade::Resource<Thing>> = None;
        for i in 0..RESOURCES {
            // Every tenth resource refers to the one before it, so the graph has edges to order.
            let value = match (&previous, i % 10) {
                (Some(p), 0) => p.id(),
                _ => format!("value-{i}"),
            };
            let resolved = if value.starts_with("${") {
                format!("id-{}", i - 1)
            } else {
                value.clone()
            };
            let handle = stack
                .resource::<Thing>(
                    format!("thing-{i}"),
                    ThingArgs {
                        value,
                        ..Default::default()
                    },
                )
                .expect("declare");
            let inputs = map_from_json(&json!({"value": resolved}));
            let mut outputs = inputs.clone();
            outputs.insert(
                "id".into(),
                palisade::kit::value::PropertyValue::String(format!("id-{i}")),
            );
            state.resources.push(ResourceState {
                urn: handle.urn().to_string(),
                token: "fake:index:Thing".into(),
                package: "fake".into(),
                id: format!("id-{i}"),
                inputs: to_wire_json(&inputs),
                outputs: to_wire_json(&outputs),
                dependencies: previous
                    .iter()
                    .filter(|_| i % 10 == 0)
                    .map(|p| p.urn().to_string())
                    .collect(),
                ..ResourceState::default()
            });
            previous = Some(handle);
        }
        store.save(&state).expect("save state");
        let engine = Engine::new(vec![stack], store);

        let mut times = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            let plan = engine.plan(&hosts, false).await.expect("plan");
            times.push(started.elapsed().as_secs_f64());
            assert!(!plan.has_changes(), "the synthetic stack should plan no changes");
            assert_eq!(plan.steps.len(), RESOURCES);
        }
        times.sort_by(f64::total_cmp);
        let plan = engine.plan(&hosts, false).await.expect("plan");
        let started = Instant::now();
        let findings = palisade::guardrails::check(&plan, engine.stacks());
        let guardrails = started.elapsed().as_secs_f64();
        println!("plan of {RESOURCES} unchanged resources (in-process provider over loopback gRPC)");
        println!(
            "  best {:.3} s, median {:.3} s, worst {:.3} s",
            times[0], times[1], times[2]
        );
        println!(
            "  of which the guardrails ({} rules, {} findings): {:.1} ms",
            palisade::guardrails::RULES.len(),
            findings.len(),
            guardrails * 1000.0
        );
        println!(
            "  peak RSS of the whole process (engine + fake provider): {:.1} MiB",
            peak_rss_mib()
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
}
