//! Benchmark: per provider plugin (release build), the time from process start to the port line, the
//! resident memory once idle and after answering `GetSchema`, and the binary's size on disk.
//! Targets: <= 2.1 ms to the port line (the peer Rust provider of issue #17), <= 8.2 MiB after
//! `GetSchema`.
//!
//! The binaries start in turn (one start of each per round, every other round backwards), so a machine that slows down or
//! speeds up during the run moves every figure alike. `PALISADE_STARTUP_ALSO=PATH[:PATH...]` adds
//! other plugin binaries to the rotation: an earlier build, or another project's provider, measured
//! side by side.
//!
//! Run with `scripts/bench` (it builds the release plugins first).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
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
const RUNS: usize = 100;

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

/// One binary's figures over the runs.
#[derive(Default)]
struct Figures {
    startups: Vec<f64>,
    idle: Vec<f64>,
    after_schema: Vec<f64>,
}

/// Starts `path` once and reads its port line; every tenth run also measures its memory idle and
/// after `GetSchema`.
fn start_once(runtime: &tokio::runtime::Runtime, path: &Path, run: usize, figures: &mut Figures) -> anyhow::Result<()> {
    let name = path.display();
    let started = Instant::now();
    let mut child = Command::new(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
    let elapsed = started.elapsed();
    anyhow::ensure!(
        line.trim().parse::<u16>().is_ok(),
        "{name}: first line {line:?} is not a port"
    );
    figures.startups.push(elapsed.as_secs_f64() * 1000.0);
    // Idle memory: measured on a few runs, after the plugin has settled.
    if run.is_multiple_of(10) {
        std::thread::sleep(Duration::from_millis(500));
        if let Some(kib) = rss_kib(child.id()) {
            figures.idle.push(kib as f64 / 1024.0);
        }
        let port: u16 = line.trim().parse()?;
        anyhow::ensure!(get_schema(runtime, port)? > 0, "{name}: an empty schema");
        std::thread::sleep(Duration::from_millis(100));
        if let Some(kib) = rss_kib(child.id()) {
            figures.after_schema.push(kib as f64 / 1024.0);
        }
    }
    drop(child.stdin.take());
    child.kill().ok();
    child.wait()?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut binaries: Vec<(String, PathBuf)> = Vec::new();
    for package in PACKAGES {
        binaries.push((format!("pulumi-resource-{package}"), plugin_path(package)?));
    }
    if let Some(also) = std::env::var_os("PALISADE_STARTUP_ALSO") {
        for path in std::env::split_paths(&also) {
            binaries.push((path.display().to_string(), path));
        }
    }
    let mut figures: Vec<Figures> = binaries.iter().map(|_| Figures::default()).collect();
    for run in 0..RUNS {
        // Forwards, then backwards: no binary always follows the same one.
        let mut round: Vec<usize> = (0..binaries.len()).collect();
        if !run.is_multiple_of(2) {
            round.reverse();
        }
        for i in round {
            start_once(&runtime, &binaries[i].1, run, &mut figures[i])?;
        }
    }
    println!(
        "{:<34} {:>8} {:>10} {:>8} {:>9} {:>11} {:>8}",
        "plugin (release)", "min ms", "median ms", "p95 ms", "idle MiB", "schema MiB", "disk MB"
    );
    for ((name, path), figures) in binaries.iter().zip(&mut figures) {
        let disk = std::fs::metadata(path)?.len() as f64 / 1e6;
        for values in [&mut figures.startups, &mut figures.idle, &mut figures.after_schema] {
            values.sort_by(f64::total_cmp);
        }
        println!(
            "{:<34} {:>8.2} {:>10.2} {:>8.2} {:>9.1} {:>11.1} {:>8.1}",
            name,
            figures.startups[0],
            percentile(&figures.startups, 0.5),
            percentile(&figures.startups, 0.95),
            percentile(&figures.idle, 0.5),
            percentile(&figures.after_schema, 0.5),
            disk,
        );
    }
    Ok(())
}
