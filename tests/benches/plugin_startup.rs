//! Benchmark: per provider plugin (release build), the time from process start to the port line, the
//! resident memory once idle and after answering `GetSchema`, and the binary's size on disk.
//! Targets: <= 2.1 ms to the port line (the peer Rust provider of issue #17), <= 8.2 MiB after
//! `GetSchema`.
//!
//! Run with `scripts/bench` (it builds the release plugins first).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use palisade_proto::pulumirpc as rpc;
use palisade_proto::ResourceProviderClient;
use palisade_tests::plugin_path;

const PACKAGES: &[&str] = &[
    "palisade-network",
    "palisade-security",
    "palisade-studio",
    "palisade-deploy",
];
const RUNS: usize = 50;

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Asks the plugin on `port` for its schema; answers the schema's length.
fn get_schema(runtime: &tokio::runtime::Runtime, port: u16) -> anyhow::Result<usize> {
    runtime.block_on(async {
        let mut client = ResourceProviderClient::connect(format!("http://127.0.0.1:{port}"))
            .await?
            .max_decoding_message_size(64 * 1024 * 1024);
        let schema = client.get_schema(rpc::GetSchemaRequest::default()).await?;
        Ok(schema.into_inner().schema.len())
    })
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    println!(
        "{:<34} {:>8} {:>10} {:>8} {:>9} {:>11} {:>8}",
        "plugin (release)", "min ms", "median ms", "p95 ms", "idle MiB", "schema MiB", "disk MB"
    );
    for package in PACKAGES {
        let path = plugin_path(package)?;
        let disk = std::fs::metadata(&path)?.len() as f64 / 1e6;
        let mut startups = Vec::with_capacity(RUNS);
        let mut rss = Vec::with_capacity(RUNS);
        let mut after_schema = Vec::with_capacity(RUNS);
        for run in 0..RUNS {
            let started = Instant::now();
            let mut child = Command::new(&path)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()?;
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
            let elapsed = started.elapsed();
            anyhow::ensure!(
                line.trim().parse::<u16>().is_ok(),
                "{package}: first line {line:?} is not a port"
            );
            startups.push(elapsed.as_secs_f64() * 1000.0);
            // Idle memory: measured on a few runs, after the plugin has settled.
            if run % 10 == 0 {
                std::thread::sleep(Duration::from_millis(500));
                if let Some(kib) = rss_kib(child.id()) {
                    rss.push(kib as f64 / 1024.0);
                }
                let port: u16 = line.trim().parse()?;
                anyhow::ensure!(get_schema(&runtime, port)? > 0, "{package}: an empty schema");
                std::thread::sleep(Duration::from_millis(100));
                if let Some(kib) = rss_kib(child.id()) {
                    after_schema.push(kib as f64 / 1024.0);
                }
            }
            drop(child.stdin.take());
            child.kill().ok();
            child.wait()?;
        }
        startups.sort_by(f64::total_cmp);
        rss.sort_by(f64::total_cmp);
        after_schema.sort_by(f64::total_cmp);
        println!(
            "{:<34} {:>8.2} {:>10.2} {:>8.2} {:>9.1} {:>11.1} {:>8.1}",
            format!("pulumi-resource-{package}"),
            startups[0],
            percentile(&startups, 0.5),
            percentile(&startups, 0.95),
            percentile(&rss, 0.5),
            percentile(&after_schema, 0.5),
            disk,
        );
    }
    Ok(())
}
