//! The plugin host: finds provider binaries, starts them as the Pulumi engine would, and talks to
//! them over the `pulumirpc.ResourceProvider` protocol.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;

use palisade_proto::ResourceProviderClient;
use serde_json::Value as Json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Mutex;
use tonic::transport::{Channel, Endpoint};

use palisade_provider_kit::FunctionType;

use crate::account::Account;
use crate::provider::{CallError, ProviderClient};

/// How long a plugin may take to print its port.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// What can go wrong while starting or finding a plugin.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// No binary for the package was found.
    #[error("provider plugin `{binary}` not found; looked in: {searched}. Build it with `cargo build --workspace --all-features --bins`, or set PALISADE_PLUGIN_PATH")]
    NotFound {
        /// The binary's file name.
        binary: String,
        /// Where we looked.
        searched: String,
    },
    /// The plugin could not be started or did not say its port.
    #[error("provider plugin `{binary}` did not start: {reason}")]
    Start {
        /// The binary.
        binary: String,
        /// Why.
        reason: String,
    },
    /// The plugin's port could not be dialled.
    #[error("cannot connect to provider plugin `{binary}` on port {port}: {source}")]
    Connect {
        /// The binary.
        binary: String,
        /// Its port.
        port: u16,
        /// The transport error.
        source: tonic::transport::Error,
    },
    /// A provider refused its configuration, or a function call failed.
    #[error(transparent)]
    Call(#[from] CallError),
    /// A function's arguments could not be encoded, or its answer does not match its declared result.
    #[error("{function}: {reason}")]
    Function {
        /// The function's token.
        function: String,
        /// What did not match.
        reason: String,
    },
    /// Two different accounts carry one name: one provider process serves each named account,
    /// so the second would be served with the first's configuration.
    #[error("two accounts are both named `{name}` ({first} and {second}); give each account its own name")]
    AccountNameTaken {
        /// The name.
        name: String,
        /// The account first seen with it (id and region).
        first: String,
        /// The other account (id and region).
        second: String,
    },
}

impl HostError {
    /// Whether a provider answered that what was asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, HostError::Call(call) if call.is_not_found())
    }
}

/// The file name of the plugin binary of `package` (`pulumi-resource-palisade-network`).
pub fn plugin_binary_name(package: &str) -> String {
    format!("pulumi-resource-{package}")
}

/// Finds the plugin binary of `package`: in `PALISADE_PLUGIN_PATH`, beside the running program, in
/// the cargo target directory the program was built in, then on `PATH`.
pub fn find_plugin(package: &str) -> Result<PathBuf, HostError> {
    let binary = plugin_binary_name(package);
    let mut searched = Vec::new();
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(paths) = std::env::var_os("PALISADE_PLUGIN_PATH") {
        candidates.extend(std::env::split_paths(&paths));
    }
    if let Ok(exe) = std::env::current_exe() {
        // Beside the program; for tests and examples cargo puts programs one or two levels below the
        // profile directory (`target/debug/deps`, `target/debug/examples`).
        let mut dir = exe.parent().map(Path::to_path_buf);
        for _ in 0..3 {
            if let Some(d) = dir {
                candidates.push(d.clone());
                dir = d.parent().map(Path::to_path_buf);
            }
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&paths));
    }
    for dir in candidates {
        let path = dir.join(&binary);
        if path.is_file() {
            return Ok(path);
        }
        searched.push(dir.display().to_string());
    }
    Err(HostError::NotFound {
        binary,
        searched: searched.join(", "),
    })
}

/// A running provider plugin and a client connected to it.
#[derive(Debug)]
pub struct Plugin {
    binary: String,
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    client: ResourceProviderClient<Channel>,
}

impl Plugin {
    /// Starts the plugin at `path` with extra environment `env`, exactly as the Pulumi engine does:
    /// reads the port from the first line of its stdout and dials it. Its stderr is passed through:
    /// a plugin built on the provider kit writes there only what `RUST_LOG` asks for, and a crash.
    pub async fn start(path: &Path, env: &[(String, String)]) -> Result<Self, HostError> {
        let binary = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let start_error = |reason: String| HostError::Start {
            binary: binary.clone(),
            reason,
        };
        let mut child = Command::new(path)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| start_error(e.to_string()))?;
        let stdout = child.stdout.take().ok_or_else(|| start_error("no stdout".into()))?;
        let mut first_line = String::new();
        let mut stdout = BufReader::new(stdout);
        match tokio::time::timeout(START_TIMEOUT, stdout.read_line(&mut first_line)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(Ok(_)) => return Err(start_error("it exited before printing its port".into())),
            Ok(Err(e)) => return Err(start_error(e.to_string())),
            Err(_) => return Err(start_error(format!("no port line within {}s", START_TIMEOUT.as_secs()))),
        }
        // Anything printed after the port line is passed on to stderr, never left to block the plugin.
        tokio::spawn(async move {
            let mut lines = stdout.lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{line}");
            }
        });
        let port: u16 = first_line
            .trim()
            .parse()
            .map_err(|_| start_error(format!("its first line {:?} is not a port number", first_line.trim())))?;
        let channel = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .map_err(|e| HostError::Connect {
                binary: binary.clone(),
                port,
                source: e,
            })?
            .connect()
            .await
            .map_err(|e| HostError::Connect {
                binary: binary.clone(),
                port,
                source: e,
            })?;
        let client = ResourceProviderClient::new(channel).max_decoding_message_size(64 * 1024 * 1024);
        let stdin = child.stdin.take();
        Ok(Self {
            binary,
            child,
            stdin,
            port,
            client,
        })
    }

    /// A client for the plugin (cheap to clone; calls may run concurrently).
    pub fn client(&self) -> ResourceProviderClient<Channel> {
        self.client.clone()
    }

    /// The plugin's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The plugin's binary name.
    pub fn binary(&self) -> &str {
        &self.binary
    }

    /// The plugin's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Stops the plugin: closes its stdin (the polite signal), waits briefly, then kills it.
    /// Returns whether it exited by itself.
    pub async fn stop(mut self) -> bool {
        drop(self.stdin.take());
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(_)) => true,
            _ => {
                let _ = self.child.kill().await;
                false
            }
        }
    }
}

/// How many plugin processes may stay alive once their work is done (`PALISADE_MAX_PLUGINS`).
const MAX_IDLE_PLUGINS: usize = 24;

/// A provider process's key: the account's name and the provider package.
type Key = (String, String);

/// A running, configured plugin.
#[derive(Debug)]
struct Live {
    plugin: Plugin,
    client: ProviderClient,
}

/// Where the plugin of one key lives: empty until started, and again once stopped. Its lock is held
/// while the plugin starts or stops, so that one key never has two processes, while other keys'
/// plugins start at the same time.
type Slot = Arc<tokio::sync::Mutex<Option<Live>>>;

/// Provider processes: one per provider package per account (one per provider configuration, as
/// the Pulumi protocol expects), started and configured on first use; plugins of different accounts
/// start concurrently. The engine says when it is done with one; while more than a few are alive,
/// those it is done with are stopped, so a run over a hundred accounts holds a bounded number of
/// processes. One that is needed again is restarted.
#[derive(Debug, Default)]
pub struct Hosts {
    slots: std::sync::Mutex<BTreeMap<Key, Slot>>,
    connected: Mutex<BTreeMap<Key, ProviderClient>>,
    /// Plugins the engine is done with, oldest first.
    idle: std::sync::Mutex<Vec<Key>>,
    env: Vec<(String, String)>,
    /// The most plugins kept alive while idle ones could be stopped; 0 means the default.
    max_live: usize,
    /// How many plugin processes are alive.
    live: AtomicUsize,
    /// How many plugin processes were started, in all.
    started: AtomicUsize,
    /// The most plugin processes alive at once.
    peak: AtomicUsize,
    /// Each account name with the account first reached under it.
    accounts: std::sync::Mutex<BTreeMap<String, Account>>,
}

impl Hosts {
    /// Hosts whose plugins get `env` on top of this process's environment.
    pub fn with_env(env: Vec<(String, String)>) -> Self {
        Self { env, ..Self::default() }
    }

    /// Keeps at most `max_live` plugin processes alive while some are idle (at least one).
    pub fn max_live(mut self, max_live: usize) -> Self {
        self.max_live = max_live.max(1);
        self
    }

    /// The most plugin processes kept alive while some are idle: as set by [`Hosts::max_live`], else
    /// `PALISADE_MAX_PLUGINS`, else 24.
    pub fn live_limit(&self) -> usize {
        if self.max_live > 0 {
            return self.max_live;
        }
        std::env::var("PALISADE_MAX_PLUGINS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(MAX_IDLE_PLUGINS)
            .max(1)
    }

    /// How many plugin processes were started so far, and the most alive at once.
    pub fn process_counts(&self) -> (usize, usize) {
        (self.started.load(Relaxed), self.peak.load(Relaxed))
    }

    /// Plugins are kept per account name: a second, different account under a name already in use
    /// is refused rather than served by the first one's plugins.
    fn claim_name(&self, account: &Account) -> Result<(), HostError> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let first = accounts.entry(account.name.clone()).or_insert_with(|| account.clone());
        if first == account {
            return Ok(());
        }
        let describe = |a: &Account| format!("account {} in {}", a.account_id, a.region);
        Err(HostError::AccountNameTaken {
            name: account.name.clone(),
            first: describe(first),
            second: describe(account),
        })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<Key, Slot>> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Key>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The engine is done with `package` in the account named `account` for now. If more plugins
    /// are alive than allowed, the longest idle ones are stopped.
    pub async fn done_with(&self, account: &str, package: &str) {
        let key = (account.to_string(), package.to_string());
        if !self.slots().contains_key(&key) {
            return;
        }
        {
            let mut idle = self.idle();
            if !idle.contains(&key) {
                idle.push(key);
            }
        }
        self.trim(self.live_limit()).await;
    }

    /// Stops the longest idle plugins while more than `keep` are alive.
    async fn trim(&self, keep: usize) {
        while self.live.load(Relaxed) > keep {
            // The oldest idle plugin no one is starting or using right now. A caller of `client`
            // takes its key off the idle list before it waits for the slot, so a plugin taken here
            // is one nobody has been handed since it went idle.
            let taken = {
                let slots = self.slots();
                let mut idle = self.idle();
                let found = idle.iter().position(|k| {
                    slots
                        .get(k)
                        .is_some_and(|slot| slot.try_lock().is_ok_and(|live| live.is_some()))
                });
                found.and_then(|i| {
                    let key = idle.remove(i);
                    slots.get(&key).and_then(|slot| slot.clone().try_lock_owned().ok())
                })
            };
            let Some(mut slot) = taken else {
                break;
            };
            if let Some(live) = slot.take() {
                self.live.fetch_sub(1, Relaxed);
                live.plugin.stop().await;
            }
        }
    }

    /// Uses `client`, an already running and configured provider, for `package` in the account
    /// named `account` (in-process providers for tests and benchmarks).
    pub async fn connect(&self, account: &str, package: &str, client: ResourceProviderClient<Channel>) {
        self.connected
            .lock()
            .await
            .insert((account.to_string(), package.to_string()), ProviderClient::new(client));
    }

    /// A configured client for `package` in `account`; starts its plugin on first use.
    pub async fn client(&self, account: &Account, package: &str) -> Result<ProviderClient, HostError> {
        self.claim_name(account)?;
        let key = (account.name.clone(), package.to_string());
        if let Some(client) = self.connected.lock().await.get(&key) {
            return Ok(client.clone());
        }
        let slot = {
            let mut slots = self.slots();
            self.idle().retain(|k| *k != key);
            slots.entry(key).or_default().clone()
        };
        let mut slot = slot.lock().await;
        if let Some(live) = slot.as_ref() {
            return Ok(live.client.clone());
        }
        // Counted as alive from here, so that plugins starting at the same time make room for each
        // other: idle ones go before the new one comes.
        self.live.fetch_add(1, Relaxed);
        self.trim(self.live_limit()).await;
        let started = async {
            let plugin = Plugin::start(&find_plugin(package)?, &self.env).await?;
            let client = ProviderClient::new(plugin.client());
            client
                .configure(
                    &format!("{package} for account {}", account.name),
                    &account.provider_config(),
                )
                .await?;
            Ok::<_, HostError>(Live { plugin, client })
        };
        let started = match started.await {
            Ok(started) => started,
            Err(error) => {
                self.live.fetch_sub(1, Relaxed);
                return Err(error);
            }
        };
        let client = started.client.clone();
        *slot = Some(started);
        self.started.fetch_add(1, Relaxed);
        self.peak.fetch_max(self.live.load(Relaxed), Relaxed);
        Ok(client)
    }

    /// Calls function `token` (`palisade-deploy:index:getLatestApprovedModelPackage`) of its provider
    /// in `account` with `args`, and returns its result. A refusal of the arguments is an error naming
    /// each property at fault.
    pub async fn invoke(&self, account: &Account, token: &str, args: &Json) -> Result<Json, HostError> {
        let package = token.split(':').next().unwrap_or_default();
        let client = self.client(account, package).await?;
        Ok(client
            .invoke(&format!("{token} in account {}", account.name), token, args)
            .await?)
    }

    /// Calls function `F` in `account` with its typed arguments, and decodes the answer into its
    /// typed result: the function's token and property names come from its declaration.
    pub async fn call<F: FunctionType>(&self, account: &Account, args: &F::Args) -> Result<F::Result, HostError> {
        let function = F::token();
        let args = serde_json::to_value(args).map_err(|e| HostError::Function {
            function: function.clone(),
            reason: format!("the arguments cannot be encoded: {e}"),
        })?;
        let answer = self.invoke(account, &function, &args).await?;
        serde_json::from_value(answer.clone()).map_err(|e| HostError::Function {
            function,
            reason: format!("the answer does not match the declared result ({e}): {answer}"),
        })
    }

    /// Stops every provider process.
    pub async fn stop(self) {
        let slots = self.slots.into_inner().unwrap_or_else(|p| p.into_inner());
        for (_, slot) in slots {
            if let Some(live) = slot.lock().await.take() {
                live.plugin.stop().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_account_under_a_name_in_use_is_refused_before_anything_starts() {
        let hosts = Hosts::default();
        let missing = "palisade-test-no-such-package";
        let dev = Account::new("dev", "111111111111", "eu-west-1");
        let first = hosts.client(&dev, missing).await.expect_err("no such plugin");
        assert!(matches!(first, HostError::NotFound { .. }), "{first}");

        let other = Account::new("dev", "222222222222", "eu-west-1");
        let error = hosts.client(&other, missing).await.expect_err("the name is dev's");
        assert_eq!(
            error.to_string(),
            "two accounts are both named `dev` (account 111111111111 in eu-west-1 and account 222222222222 in \
             eu-west-1); give each account its own name"
        );
        // The same account again is served as before.
        let again = hosts.client(&dev, missing).await.expect_err("no such plugin");
        assert!(matches!(again, HostError::NotFound { .. }), "{again}");
    }
}
