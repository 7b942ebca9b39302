//! The crash test's harness (issue #14): kill the real `secure-mlops deploy` (kill -9, the program and
//! its provider plugins) at a point chosen by AWS-call count, each time on a fresh emulator, then run
//! it again and hand the emulator and the states over for an audit.
//!
//! The point is the emulator's `crash_point` extension (`tests/emulator/extensions/crash_point.py`):
//! once the chosen mutating call has been served, it holds every further request, so nothing
//! happens between the point and the kill; the harness waits for the point, kills, then releases
//! the emulator (held requests are refused, never served).
//!
//! What AWS holds is compared with the states by the integration test `crash` (it has the AWS SDK
//! clients); this module runs the program, reads the states and picks points.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::{json, Value as Json};

use crate::{built_binary, workspace_root, Emulator};

/// Where the program is stopped: after the `after`-th mutating call (counting only `call`, when
/// given), with the answer of that call withheld from the program (`swallow`) or delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    /// The mutating call's rank, from 1.
    pub after: usize,
    /// Count only this call (`sagemaker:CreateUserProfile`), or every mutating call.
    pub call: Option<String>,
    /// AWS did the call but the program never hears its answer.
    pub swallow: bool,
}

impl std::fmt::Display for Point {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.call {
            Some(call) => write!(f, "{call} #{}", self.after)?,
            None => write!(f, "mutating call #{}", self.after)?,
        }
        f.write_str(if self.swallow {
            " (answer lost)"
        } else {
            " (answer delivered)"
        })
    }
}

/// What the emulator's crash point reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashPointState {
    /// Whether it is armed.
    pub armed: bool,
    /// Mutating calls counted since it was armed.
    pub mutating: u64,
    /// Whether the point was reached.
    pub reached: bool,
    /// The call at the point.
    pub call: Option<String>,
    /// Requests held (not served, or served and not answered).
    pub held: u64,
}

impl CrashPointState {
    fn parse(body: &str) -> anyhow::Result<Self> {
        let state: Json = serde_json::from_str(body).context("the crash point's answer is JSON")?;
        Ok(Self {
            armed: state["armed"].as_bool().unwrap_or_default(),
            mutating: state["mutating"].as_u64().unwrap_or_default(),
            reached: state["reached"].as_bool().unwrap_or_default(),
            call: state["call"].as_str().map(str::to_string),
            held: state["held"].as_u64().unwrap_or_default(),
        })
    }
}

impl Emulator {
    /// Arms the crash point (the emulator's `crash_point` extension) at `point`.
    pub fn arm_crash_point(&self, point: &Point) -> anyhow::Result<()> {
        let body = json!({"after": point.after, "call": point.call, "swallow": point.swallow});
        self.control("PUT", "/_palisade/crash-point", &body.to_string())
            .map(drop)
    }

    /// The crash point's state, after waiting up to `wait` for it to be reached.
    pub fn crash_point(&self, wait: Duration) -> anyhow::Result<CrashPointState> {
        let path = format!("/_palisade/crash-point?wait={}", wait.as_secs_f64());
        CrashPointState::parse(&self.control("GET", &path, "")?)
    }

    /// Disarms the crash point; what it held is refused, never served.
    pub fn release_crash_point(&self) -> anyhow::Result<CrashPointState> {
        CrashPointState::parse(&self.control("DELETE", "/_palisade/crash-point", "")?)
    }
}

/// The reference environment's program against one emulator, with its state in `dir`.
#[derive(Debug)]
pub struct Deployment {
    binary: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
    runs: usize,
    command: Vec<&'static str>,
}

/// What a run of the reference program does.
pub const DEPLOY: [&str; 3] = ["deploy", "--yes", "--approve-prod"];
/// Destroys everything, data included, without asking.
pub const DESTROY: [&str; 2] = ["destroy", "--yes"];

/// A finished run.
#[derive(Debug)]
pub struct Finished {
    /// Whether it exited with success.
    pub success: bool,
    /// Its wall time.
    pub elapsed: Duration,
    /// Its output (stdout and stderr).
    pub log: PathBuf,
}

impl Finished {
    /// The last `lines` lines of the output.
    pub fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// A run in progress, in its own process group (the program and its provider plugins).
#[derive(Debug)]
pub struct Running {
    child: Child,
    started: Instant,
    log: PathBuf,
}

impl Running {
    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// kill -9 of the whole process group: the program and its plugins die at once, as in a power
    /// loss, so no plugin finishes an operation the program started.
    pub fn kill(mut self) -> anyhow::Result<()> {
        let group = format!("-{}", self.child.id());
        let status = Command::new("kill")
            .args(["-KILL", "--", &group])
            .status()
            .context("running kill")?;
        if !status.success() && !self.exited() {
            bail!("kill -KILL -- {group} failed");
        }
        self.child.wait().context("reaping the killed program")?;
        Ok(())
    }

    /// Waits for the run to end, at most `timeout` (then it is killed and an error returned).
    pub fn wait(mut self, timeout: Duration) -> anyhow::Result<Finished> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Finished {
                    success: status.success(),
                    elapsed: self.started.elapsed(),
                    log: self.log,
                });
            }
            if self.started.elapsed() > timeout {
                let log = self.log.clone();
                self.kill()?;
                bail!("the run did not end within {timeout:?}; see {}", log.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Deployment {
    /// A deployment of the reference environment against `emulator`, state and logs in `dir`
    /// (emptied first).
    pub fn new(emulator: &Emulator, dir: &Path) -> anyhow::Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut env = emulator.plugin_env();
        env.retain(|(k, _)| k != "AWS_SESSION_TOKEN");
        env.push(("PALISADE_ENDPOINT".into(), emulator.endpoint()));
        env.push(("PALISADE_STATE_DIR".into(), dir.join("state").display().to_string()));
        Ok(Self {
            binary: built_binary("secure-mlops")?,
            dir: dir.to_path_buf(),
            env,
            runs: 0,
            command: DEPLOY.to_vec(),
        })
    }

    /// Makes the following runs `command` (e.g. [`DESTROY`]) instead of [`DEPLOY`].
    pub fn runs(&mut self, command: &[&'static str]) -> &mut Self {
        self.command = command.to_vec();
        self
    }

    /// The state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// Starts `secure-mlops` with the command (deploy unless told otherwise) in its own process group.
    pub fn start(&mut self) -> anyhow::Result<Running> {
        use std::os::unix::process::CommandExt as _;
        self.runs += 1;
        let log = self.dir.join(format!("run-{}.log", self.runs));
        let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new(&self.binary)
            .args(&self.command)
            .current_dir(workspace_root())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        Ok(Running {
            child,
            started: Instant::now(),
            log,
        })
    }

    /// Runs the command to its end.
    pub fn run(&mut self, timeout: Duration) -> anyhow::Result<Finished> {
        self.start()?.wait(timeout)
    }

    /// Every stack's state as written (`<project>/<stack>.json`).
    pub fn states(&self) -> anyhow::Result<Vec<Json>> {
        let mut states = Vec::new();
        let root = self.state_dir();
        for project in std::fs::read_dir(&root).with_context(|| format!("reading {}", root.display()))? {
            let project = project?.path();
            if !project.is_dir() {
                continue;
            }
            for file in std::fs::read_dir(&project)? {
                let file = file?.path();
                if file.extension().is_some_and(|e| e == "json") {
                    let text = std::fs::read_to_string(&file)?;
                    states.push(serde_json::from_str(&text).with_context(|| format!("parsing {}", file.display()))?);
                }
            }
        }
        Ok(states)
    }
}

/// How the killed run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Killed {
    /// Killed at the point.
    AtPoint,
    /// It ended before the point was reached (the point lies beyond the deploy).
    EndedBefore,
}

/// One crash: the killed run, the rerun and the run after it, on a fresh emulator kept for the audit.
/// For a destroy, the environment was deployed first, uninterrupted.
#[derive(Debug)]
pub struct Crash {
    /// The emulator, with everything the runs made.
    pub emulator: Emulator,
    /// The deployment (its states).
    pub deployment: Deployment,
    /// The point.
    pub point: Point,
    /// Whether it was killed there.
    pub killed: Killed,
    /// The call at the point.
    pub call: Option<String>,
    /// The first rerun.
    pub rerun: Finished,
    /// The run after the rerun (only when the rerun succeeded).
    pub after: Option<Finished>,
    /// The mutating calls the run after the rerun made.
    pub mutating_after: Vec<String>,
    /// Wall time of the whole crash (emulator start included).
    pub elapsed: Duration,
}

/// Longest a single run may take.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Kills the reference deploy at `point` on a fresh emulator, reruns it, then runs it once more
/// with the request journal cleared. State and logs go to `dir`.
pub fn crash_at(point: &Point, dir: &Path) -> anyhow::Result<Crash> {
    let started = Instant::now();
    let emulator = Emulator::start()?;
    let deployment = Deployment::new(&emulator, dir)?;
    crash_run(emulator, deployment, point, started)
}

/// Deploys the reference environment on a fresh emulator, then kills its destroy at `point` (counted
/// from the destroy's first mutating call), reruns the destroy, then runs it once more with the
/// request journal cleared.
pub fn crash_destroy_at(point: &Point, dir: &Path) -> anyhow::Result<Crash> {
    let started = Instant::now();
    let emulator = Emulator::start()?;
    let mut deployment = Deployment::new(&emulator, dir)?;
    let deployed = deployment.run(RUN_TIMEOUT)?;
    if !deployed.success {
        bail!("the deploy before the destroy failed:\n{}", deployed.tail(20));
    }
    deployment.runs(&DESTROY);
    crash_run(emulator, deployment, point, started)
}

/// Arms `point`, starts the deployment's command, kills it there, then reruns it twice.
fn crash_run(emulator: Emulator, mut deployment: Deployment, point: &Point, started: Instant) -> anyhow::Result<Crash> {
    emulator.arm_crash_point(point)?;
    let mut running = deployment.start()?;
    let killed = loop {
        let state = emulator.crash_point(Duration::from_millis(500))?;
        if state.reached {
            running.kill()?;
            break Killed::AtPoint;
        }
        if running.exited() {
            // Reached at the very end, or not at all.
            let state = emulator.crash_point(Duration::ZERO)?;
            running.wait(RUN_TIMEOUT)?;
            break if state.reached {
                Killed::AtPoint
            } else {
                Killed::EndedBefore
            };
        }
        if running.started.elapsed() > RUN_TIMEOUT {
            running.kill()?;
            bail!("the point {point} was not reached within {RUN_TIMEOUT:?}");
        }
    };
    let call = emulator.release_crash_point()?.call;
    let rerun = deployment.run(RUN_TIMEOUT)?;
    let mut after = None;
    let mut mutating_after = Vec::new();
    if rerun.success {
        emulator.clear_requests()?;
        after = Some(deployment.run(RUN_TIMEOUT)?);
        mutating_after = emulator
            .requests()?
            .into_iter()
            .filter(|(_, mutating)| *mutating)
            .map(|(call, _)| call)
            .collect();
    }
    Ok(Crash {
        emulator,
        deployment,
        point: point.clone(),
        killed,
        call,
        rerun,
        after,
        mutating_after,
        elapsed: started.elapsed(),
    })
}

/// The name of a create in the request journal: the action (`ec2:CreateVpc`), or `s3:CreateBucket`
/// for S3's `PUT /<bucket>/` with no query.
pub fn create_operation(call: &str) -> Option<String> {
    let (service, action) = call.split_once(':')?;
    if action.starts_with("Create") {
        return Some(call.to_string());
    }
    let path = action.strip_prefix("PUT /")?.strip_suffix("/?")?;
    (service == "s3" && !path.is_empty() && !path.contains('/')).then(|| "s3:CreateBucket".to_string())
}

/// The name of a deletion in the request journal (the mutating calls of a destroy): its action
/// (`ec2:DeleteVpc`, `kms:ScheduleKeyDeletion`), or for S3's REST calls `s3:DeleteBucket` and
/// `s3:DeleteBucket?<sub-resource>` (the journal names those by method and path).
pub fn deletion(call: &str) -> Option<String> {
    let (service, action) = call.split_once(':')?;
    if action.starts_with("Delete") || action.starts_with("ScheduleKeyDeletion") || action.starts_with("Detach") {
        return Some(call.to_string());
    }
    let rest = action.strip_prefix("DELETE /")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let bucket_only = !path.trim_end_matches('/').contains('/');
    (service == "s3" && bucket_only).then(|| format!("s3:DeleteBucket?{query}"))
}

/// From the journal of an uninterrupted deploy (`(call, mutating)` in order), each distinct create
/// operation with the rank (among mutating calls, from 1) of its first occurrence.
pub fn first_creates(journal: &[(String, bool)]) -> Vec<(String, usize)> {
    let mut seen = Vec::<(String, usize)>::new();
    let mutating = journal.iter().filter(|(_, m)| *m).map(|(c, _)| c);
    for (rank, call) in mutating.enumerate() {
        if let Some(create) = create_operation(call) {
            if !seen.iter().any(|(c, _)| *c == create) {
                seen.push((create, rank + 1));
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_are_found_by_action_and_bucket_put() {
        assert_eq!(create_operation("ec2:CreateVpc").as_deref(), Some("ec2:CreateVpc"));
        assert_eq!(
            create_operation("s3:PUT /mlops-data-123456789012/?").as_deref(),
            Some("s3:CreateBucket")
        );
        assert_eq!(create_operation("s3:PUT /mlops-data-123456789012/?tagging"), None);
        assert_eq!(create_operation("ec2:AuthorizeSecurityGroupIngress"), None);
    }

    #[test]
    fn deletions_are_found_by_action_and_bucket_delete() {
        assert_eq!(deletion("ec2:DeleteVpc").as_deref(), Some("ec2:DeleteVpc"));
        assert_eq!(
            deletion("kms:ScheduleKeyDeletion").as_deref(),
            Some("kms:ScheduleKeyDeletion")
        );
        assert_eq!(
            deletion("s3:DELETE /mlops-data-1/?").as_deref(),
            Some("s3:DeleteBucket?")
        );
        assert_eq!(
            deletion("s3:DELETE /mlops-data-1/?policy").as_deref(),
            Some("s3:DeleteBucket?policy")
        );
        assert_eq!(deletion("s3:DELETE /mlops-data-1/model.tar.gz?"), None);
        assert_eq!(deletion("ec2:CreateVpc"), None);
    }

    #[test]
    fn first_creates_rank_mutating_calls_only() {
        let journal: Vec<(String, bool)> = [
            ("sts:GetCallerIdentity", false),
            ("ec2:CreateVpc", true),
            ("ec2:DescribeVpcs", false),
            ("ec2:ModifyVpcAttribute", true),
            ("ec2:CreateVpc", true),
            ("s3:PUT /b/?", true),
        ]
        .into_iter()
        .map(|(c, m)| (c.to_string(), m))
        .collect();
        assert_eq!(
            first_creates(&journal),
            vec![("ec2:CreateVpc".to_string(), 1), ("s3:CreateBucket".to_string(), 4)]
        );
    }
}
