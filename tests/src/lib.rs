//! The local AWS emulator harness for Palisade's integration tests.
//!
//! [`Emulator::start`] runs moto's server (pinned in `tests/emulator/requirements.txt`, extended by
//! `tests/emulator/extensions`) on a free loopback port and stops it when dropped. It hands out the
//! provider configuration for the default account and for any other account, which is reached by
//! assuming a role there: moto maps the returned credentials to that account.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context as _};
use serde_json::{json, Value as Json};

/// The account moto uses for plain credentials.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// The region the tests use.
pub const REGION: &str = "us-east-1";

/// The workspace's root directory.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// A running emulator; stopped on drop.
#[derive(Debug)]
pub struct Emulator {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
}

impl Emulator {
    /// Starts the emulator on a free port and waits until it accepts connections.
    pub fn start() -> anyhow::Result<Self> {
        let python = python()?;
        let script = workspace_root().join("tests/emulator/palisade_emulator.py");
        let mut child = Command::new(&python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} {}", python.display(), script.display()))?;
        let stdout = child.stdout.take().context("emulator stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).context("reading the emulator's port")?;
        let port: u16 = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                bail!("the emulator printed {:?} instead of its port; see its stderr above", line.trim());
            }
        };
        let stdin = child.stdin.take();
        let emulator = Self { child, stdin, port };
        emulator.wait_until_answering()?;
        Ok(emulator)
    }

    fn wait_until_answering(&self) -> anyhow::Result<()> {
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("the emulator did not accept connections on port {} within 5s", self.port)
    }

    /// The endpoint URL (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Environment for a provider plugin: fake static credentials, no instance metadata lookups, no
    /// shared config files from the machine.
    pub fn plugin_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_SESSION_TOKEN", "testing"),
            ("AWS_REGION", REGION),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Provider configuration (`Configure` args) for `account`: the default account directly, any
    /// other by assuming a role in it.
    pub fn account_config(&self, account: &str) -> Json {
        let mut config = json!({"region": REGION, "endpoint": self.endpoint(), "accountId": account});
        if account != DEFAULT_ACCOUNT {
            config["assumeRole"] = json!({
                "roleArn": format!("arn:aws:iam::{account}:role/palisade-deployment"),
                "sessionName": "palisade-tests",
            });
        }
        config
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python that has moto: `PALISADE_PYTHON`, else the workspace's `.venv`.
fn python() -> anyhow::Result<PathBuf> {
    let python = std::env::var_os("PALISADE_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    let has_moto = Command::new(&python)
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !has_moto {
        bail!(
            "the AWS emulator (moto) is not installed for {}. Run `scripts/test`, or: \
             python3 -m venv .venv && .venv/bin/pip install -r tests/emulator/requirements.txt \
             (or point PALISADE_PYTHON at a Python that has it)",
            python.display()
        );
    }
    Ok(python)
}

/// The path of a provider plugin binary built in this workspace's target directory.
pub fn plugin_path(package: &str) -> anyhow::Result<PathBuf> {
    let binary = format!("pulumi-resource-{package}");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let path = target.join(profile).join(&binary);
    if !path.is_file() {
        bail!(
            "{} is missing; build the provider plugins first: cargo build --workspace --all-features --bins",
            path.display()
        );
    }
    Ok(path)
}
