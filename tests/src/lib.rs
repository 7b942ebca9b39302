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
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Counts of the emulator's `throttle` extension.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleStats {
    /// The share of calls answered with a throttling error.
    pub share: f64,
    /// Calls answered with a throttling error.
    pub throttled: u64,
    /// Calls let through to the emulator.
    pub passed: u64,
}

impl ThrottleStats {
    fn parse(body: &str) -> anyhow::Result<Self> {
        let stats: Json = serde_json::from_str(body).context("the throttle's answer is JSON")?;
        Ok(Self {
            share: stats["share"].as_f64().unwrap_or_default(),
            throttled: stats["throttled"].as_u64().unwrap_or_default(),
            passed: stats["passed"].as_u64().unwrap_or_default(),
        })
    }
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
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the emulator's port")?;
        let port: u16 = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                bail!(
                    "the emulator printed {:?} instead of its port; see its stderr above",
                    line.trim()
                );
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
        bail!(
            "the emulator did not accept connections on port {} within 5s",
            self.port
        )
    }

    /// The endpoint URL (`http://127.0.0.1:<port>`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The AWS calls the emulator served since it started or was last cleared, in order:
    /// `(call, mutating)`, e.g. `("ec2:CreateVpc", true)` (the emulator's `request_journal`).
    pub fn requests(&self) -> anyhow::Result<Vec<(String, bool)>> {
        let entries: Json = serde_json::from_str(&self.journal("GET")?).context("the request journal is JSON")?;
        Ok(entries
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|e| {
                        (
                            e["call"].as_str().unwrap_or_default().to_string(),
                            e["mutating"].as_bool().unwrap_or(true),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Forgets the calls served so far.
    pub fn clear_requests(&self) -> anyhow::Result<()> {
        self.journal("DELETE").map(drop)
    }

    /// Answers `share` (0 to 1) of the AWS calls from now on with AWS's throttling error (the
    /// emulator's `throttle` extension); returns the counts of the period that ends.
    pub fn throttle(&self, share: f64) -> anyhow::Result<ThrottleStats> {
        let body = self.control("PUT", "/_palisade/throttle", &json!({ "share": share }).to_string())?;
        ThrottleStats::parse(&body)
    }

    /// The emulator's process id (benchmarks leave its memory out of the program's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Makes every AWS call from now on wait `ms` milliseconds before it is served (the emulator's
    /// `latency` extension).
    pub fn set_latency_ms(&self, ms: u64) -> anyhow::Result<()> {
        self.control("PUT", "/_palisade/latency", &json!({ "ms": ms }).to_string())
            .map(drop)
    }

    /// How many calls were throttled and let through since throttling was last set.
    pub fn throttle_stats(&self) -> anyhow::Result<ThrottleStats> {
        let body = self.control("GET", "/_palisade/throttle", "")?;
        ThrottleStats::parse(&body)
    }

    fn journal(&self, method: &str) -> anyhow::Result<String> {
        self.control(method, "/_palisade/requests", "")
    }

    fn control(&self, method: &str, path: &str, body: &str) -> anyhow::Result<String> {
        use std::io::{Read, Write};
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).context("connecting to the emulator")?;
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .context("the emulator's answer has no body")?;
        if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
            bail!(
                "the emulator's {path} answered {}",
                head.lines().next().unwrap_or_default()
            );
        }
        Ok(body.to_string())
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
        let mut reached = palisade::Account::new("tests", account, REGION).endpoint(self.endpoint());
        if account != DEFAULT_ACCOUNT {
            reached = reached.assume_role(format!("arn:aws:iam::{account}:role/palisade-deployment"), None);
        }
        reached.provider_config()
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
    built_binary(&format!("pulumi-resource-{package}"))
}

/// The schema the plugin behind `client` answers `GetSchema` with.
pub async fn schema(
    mut client: palisade_proto::ResourceProviderClient<tonic::transport::Channel>,
) -> anyhow::Result<Json> {
    let response = client
        .get_schema(palisade_proto::pulumirpc::GetSchemaRequest::default())
        .await?
        .into_inner();
    Ok(serde_json::from_str(&response.schema)?)
}

/// The schema of `package`'s plugin, started for the question and stopped after it.
pub async fn plugin_schema(package: &str) -> anyhow::Result<Json> {
    let plugin = palisade::host::Plugin::start(&plugin_path(package)?, &[]).await?;
    let answered = schema(plugin.client()).await;
    plugin.stop().await;
    answered
}

/// A binary of this workspace (`secure-mlops`, a plugin, the analyzer) in the target directory
/// (`CARGO_TARGET_DIR`, else `target/`) under the profile these tests were built with.
pub fn built_binary(name: &str) -> anyhow::Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let path = target.join(profile).join(name);
    if !path.is_file() {
        bail!(
            "{} is missing; build it first: cargo build --workspace --all-features --bins",
            path.display()
        );
    }
    Ok(path)
}

pub mod crash;

/// A provider plugin started for tests, spoken to through the engine's typed client
/// ([`palisade::provider::ProviderClient`]), with the tests' naming of URNs and tokens, plain JSON
/// in, and a panic where a test never expects a failure.
pub mod provider {
    use std::time::Duration;

    use palisade::host::Plugin;
    use palisade::provider::{CallError, Diffed, ProviderClient, Subject};
    use palisade_provider_kit::value::{map_from_json, map_to_json, PropertyMap};
    use serde_json::Value as Json;

    use super::{plugin_path, Emulator};

    /// How long Create, Update and Delete may wait for the cloud, unless a test says otherwise.
    const TIMEOUT: Duration = Duration::from_secs(120);

    /// A configured provider plugin for one account.
    #[derive(Debug)]
    pub struct TestProvider {
        plugin: Plugin,
        client: ProviderClient,
        package: String,
        stack: String,
    }

    /// A created resource.
    #[derive(Debug, Clone)]
    pub struct Live {
        /// Its URN.
        pub urn: String,
        /// Its type token.
        pub token: String,
        /// Its logical name.
        pub name: String,
        /// Its physical id.
        pub id: String,
        /// Its checked inputs (secrets kept).
        pub inputs: PropertyMap,
        /// Its outputs (secrets kept).
        pub outputs: PropertyMap,
    }

    impl Live {
        /// The outputs as plain JSON.
        pub fn outputs_json(&self) -> Json {
            plain(&self.outputs)
        }

        fn subject(&self) -> Subject<'_> {
            Subject {
                urn: &self.urn,
                name: &self.name,
                token: &self.token,
            }
        }
    }

    /// Properties as plain JSON (secrets revealed); panics on unknowns, which tests never expect here.
    pub fn plain(value: &PropertyMap) -> Json {
        map_to_json(value).expect("known values")
    }

    impl TestProvider {
        /// Starts the plugin of `package` configured for `account` of `emulator`; URNs use `stack`.
        pub async fn start(emulator: &Emulator, package: &str, account: &str, stack: &str) -> Self {
            let plugin = Plugin::start(&plugin_path(package).expect("plugin built"), &emulator.plugin_env())
                .await
                .expect("plugin starts");
            let client = ProviderClient::new(plugin.client()).with_timeout(TIMEOUT);
            client
                .configure(package, &emulator.account_config(account))
                .await
                .expect("configure");
            Self {
                plugin,
                client,
                package: package.to_string(),
                stack: stack.to_string(),
            }
        }

        /// The token of resource `name` of this package.
        pub fn token(&self, name: &str) -> String {
            format!("{}:index:{name}", self.package)
        }

        /// The URN of `name` of type `resource`.
        pub fn urn(&self, resource: &str, name: &str) -> String {
            format!(
                "urn:pulumi:{}::palisade-tests::{}::{name}",
                self.stack,
                self.token(resource)
            )
        }

        /// Check with auto-names drawn from the name; `Err` holds `property: reason` for each failure.
        pub async fn check(
            &self,
            resource: &str,
            name: &str,
            olds: Option<&PropertyMap>,
            news: &Json,
        ) -> Result<PropertyMap, Vec<String>> {
            self.check_seeded(resource, name, olds, news, name.as_bytes().to_vec())
                .await
        }

        /// Check with auto-names drawn from `seed` (the engine gives a replacement a fresh one).
        pub async fn check_seeded(
            &self,
            resource: &str,
            name: &str,
            olds: Option<&PropertyMap>,
            news: &Json,
            seed: Vec<u8>,
        ) -> Result<PropertyMap, Vec<String>> {
            let (urn, token) = (self.urn(resource, name), self.token(resource));
            let of = Subject {
                urn: &urn,
                name,
                token: &token,
            };
            let checked = self
                .client
                .check(of, olds.unwrap_or(&PropertyMap::new()), &map_from_json(news), seed)
                .await
                .expect("check call");
            if checked.failures.is_empty() {
                Ok(checked.inputs)
            } else {
                Err(checked
                    .failures
                    .into_iter()
                    .map(|f| format!("{}: {}", f.property, f.reason))
                    .collect())
            }
        }

        /// Check then Create.
        pub async fn create(&self, resource: &str, name: &str, news: &Json) -> Result<Live, CallError> {
            let inputs = self
                .check(resource, name, None, news)
                .await
                .unwrap_or_else(|f| panic!("check failed: {f:?}"));
            self.create_checked(resource, name, inputs).await
        }

        /// Create from inputs Check gave.
        pub async fn create_checked(&self, resource: &str, name: &str, inputs: PropertyMap) -> Result<Live, CallError> {
            let mut live = Live {
                urn: self.urn(resource, name),
                token: self.token(resource),
                name: name.to_string(),
                id: String::new(),
                inputs: PropertyMap::new(),
                outputs: PropertyMap::new(),
            };
            let created = self.client.create(live.subject(), &inputs, false).await?;
            live.id = created.id;
            live.inputs = inputs;
            live.outputs = created.outputs;
            Ok(live)
        }

        /// Read; `None` when gone. Returns (outputs, inputs).
        pub async fn read(&self, live: &Live) -> Option<(PropertyMap, PropertyMap)> {
            let read = self
                .client
                .read(live.subject(), &live.id, &live.outputs, &live.inputs)
                .await
                .expect("read");
            (!read.id.is_empty()).then_some((read.outputs, read.inputs))
        }

        /// Diff of `news` (already checked) against `old_inputs`.
        pub async fn diff(&self, live: &Live, old_inputs: &PropertyMap, news: &PropertyMap) -> Diffed {
            self.client
                .diff(live.subject(), &live.id, &live.outputs, old_inputs, news)
                .await
                .expect("diff")
        }

        /// Check the new declaration against the live resource's inputs, then Diff.
        pub async fn plan(&self, live: &Live, resource: &str, name: &str, news: &Json) -> (PropertyMap, Diffed) {
            let checked = self
                .check(resource, name, Some(&live.inputs), news)
                .await
                .unwrap_or_else(|f| panic!("check failed: {f:?}"));
            let changes = self.diff(live, &live.inputs, &checked).await;
            (checked, changes)
        }

        /// Update `live` to `news` (checked inputs); returns the new state.
        pub async fn update(&self, live: &Live, news: PropertyMap) -> Result<Live, CallError> {
            let updated = self
                .client
                .update(live.subject(), &live.id, &live.outputs, &live.inputs, &news)
                .await?;
            Ok(Live {
                inputs: news,
                outputs: updated.outputs,
                ..live.clone()
            })
        }

        /// Delete.
        pub async fn delete(&self, live: &Live) -> Result<(), CallError> {
            self.delete_within(live, TIMEOUT.as_secs_f64()).await
        }

        /// Delete, giving the provider `seconds` (e.g. to wait for what still depends on it).
        pub async fn delete_within(&self, live: &Live, seconds: f64) -> Result<(), CallError> {
            let client = self.client.clone().with_timeout(Duration::from_secs_f64(seconds));
            client
                .delete(live.subject(), &live.id, &live.outputs, &live.inputs)
                .await
        }

        /// Invoke of function `name` of this package; `Err` holds the error status's message (for a
        /// refusal of the arguments, each `property: reason`).
        pub async fn invoke(&self, name: &str, args: &Json) -> Result<Json, String> {
            self.client
                .invoke(&self.package, &self.token(name), args)
                .await
                .map_err(|e| e.status.message().to_string())
        }

        /// Stops the plugin.
        pub async fn stop(self) {
            self.plugin.stop().await;
        }
    }
}
