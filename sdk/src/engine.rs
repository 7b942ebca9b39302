//! The engine: one plan across every selected stack, applied in dependency order, in parallel where
//! the graph allows; destroy in reverse order.
//!
//! Planning drives each resource's provider through `Check` and `Diff` against the stack's state,
//! exactly as the Pulumi engine would; a previewed `Create` gives the outputs that dependants see
//! (unknown until applied). Applying re-resolves references with real outputs, checks again, and
//! writes the state after every operation.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::time::Instant;

use palisade_proto::pulumirpc as rpc;
use palisade_proto::ResourceProviderClient;
use palisade_provider_kit::resource::CheckFailure;
use palisade_provider_kit::value::{decode_optional, encode_struct, map_from_json, map_to_json, PropertyMap};
use serde_json::Value as Json;
use tokio::sync::Mutex;
use tokio::task::JoinSet;
use tonic::transport::Channel;

use crate::account::Account;
use crate::guardrails::{self, Finding};
use crate::host::{find_plugin, HostError, Plugin};
use crate::reference::{referenced_urns, resolve};
use crate::stack::{Declared, Stack};
use crate::state::{to_wire_json, PendingOperation, ResourceState, StackLock, StackState, StateError, StateStore};

/// What would happen to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Operation {
    /// Created.
    Create,
    /// Changed in place.
    Update,
    /// Replaced by a new one (created first, unless the provider asks to delete first).
    Replace,
    /// Deleted: no longer declared.
    Delete,
    /// Nothing to do.
    Same,
}

/// One planned step.
#[derive(Debug, Clone)]
pub struct Step {
    /// The stack.
    pub stack: String,
    /// The resource's URN.
    pub urn: String,
    /// Its type token.
    pub token: String,
    /// Its logical name.
    pub name: String,
    /// Its provider package.
    pub package: String,
    /// What would happen.
    pub operation: Operation,
    /// The declared inputs (references unresolved); `None` for deletes.
    pub declared: Option<PropertyMap>,
    /// The checked inputs as planned (unknown where a dependency is not applied yet).
    pub inputs: PropertyMap,
    /// The state before, if it exists.
    pub old: Option<ResourceState>,
    /// Changed properties and how (`UPDATE`, `ADD_REPLACE`, ...).
    pub diff: BTreeMap<String, String>,
    /// The old resource goes before the new one is made.
    pub delete_before_replace: bool,
    /// URNs this resource needs first.
    pub dependencies: Vec<String>,
    /// Refuse to delete.
    pub protect: bool,
    /// Why it cannot be applied, if so.
    pub failures: Vec<CheckFailure>,
}

/// The account of a stack, as shown in plans.
#[derive(Debug, Clone)]
pub struct StackInfo {
    /// The stack.
    pub stack: String,
    /// Its account's name.
    pub account: String,
    /// The account id.
    pub account_id: String,
    /// The region.
    pub region: String,
}

/// The plan across every selected stack.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// The stacks, in declaration order.
    pub stacks: Vec<StackInfo>,
    /// Steps: creates, updates and replaces in dependency order, then deletes in reverse order.
    pub steps: Vec<Step>,
    /// What the guardrails found.
    pub findings: Vec<Finding>,
    /// Resources replaced by an earlier run that was stopped before deleting them: (stack, the old
    /// resource). Apply deletes them last.
    pub leftovers: Vec<(String, ResourceState)>,
}

impl Plan {
    /// Every refused step and why.
    pub fn failures(&self) -> impl Iterator<Item = (&Step, &CheckFailure)> {
        self.steps
            .iter()
            .flat_map(|step| step.failures.iter().map(move |f| (step, f)))
    }

    /// Step counts per operation.
    pub fn counts(&self) -> BTreeMap<Operation, usize> {
        let mut counts = BTreeMap::new();
        for step in &self.steps {
            *counts.entry(step.operation).or_default() += 1;
        }
        counts
    }

    /// Whether applying would change anything.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.operation != Operation::Same) || !self.leftovers.is_empty()
    }

    /// Splits the plan for a staged rollout into the steps to apply now and those held back: the
    /// steps `hold` selects and every step that depends on one of them, directly or not, and the
    /// deletes of whatever a held delete depends on. Findings and leftovers go with the part applied now, since the
    /// guardrails judged the whole plan.
    pub fn hold(&self, hold: impl Fn(&Step) -> bool) -> (Plan, Plan) {
        let mut held: BTreeSet<&str> = self.steps.iter().filter(|s| hold(s)).map(|s| s.urn.as_str()).collect();
        // What needs a held step is held; so is what a held delete needs (it must outlive it).
        // Steps come in dependency order, but a later pass catches any that do not.
        let deletes: BTreeSet<&str> = self
            .steps
            .iter()
            .filter(|s| s.operation == Operation::Delete)
            .map(|s| s.urn.as_str())
            .collect();
        loop {
            let before = held.len();
            for step in &self.steps {
                if step.operation == Operation::Delete {
                    if held.contains(step.urn.as_str()) {
                        held.extend(
                            step.dependencies
                                .iter()
                                .map(String::as_str)
                                .filter(|d| deletes.contains(d)),
                        );
                    }
                } else if step.dependencies.iter().any(|d| held.contains(d.as_str())) {
                    held.insert(&step.urn);
                }
            }
            if held.len() == before {
                break;
            }
        }
        let (later, now): (Vec<Step>, Vec<Step>) =
            self.steps.iter().cloned().partition(|s| held.contains(s.urn.as_str()));
        let now = Plan {
            stacks: self.stacks.clone(),
            steps: now,
            findings: self.findings.clone(),
            leftovers: self.leftovers.clone(),
        };
        let later = Plan {
            stacks: self.stacks.clone(),
            steps: later,
            findings: Vec::new(),
            leftovers: Vec::new(),
        };
        (now, later)
    }
}

/// Why the engine could not plan or apply.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A provider plugin could not be found or started.
    #[error(transparent)]
    Host(#[from] HostError),
    /// State could not be read, written or locked.
    #[error(transparent)]
    State(#[from] StateError),
    /// A provider answered a call with an error.
    #[error("{call} of {subject}: {status}", status = .status.message())]
    Provider {
        /// The call.
        call: &'static str,
        /// The resource or provider.
        subject: String,
        /// The provider's answer.
        status: tonic::Status,
    },
    /// The declarations refer to each other in a circle.
    #[error("the declarations form a cycle: {0}")]
    Cycle(String),
    /// A step names a stack the engine was not given.
    #[error("no stack `{0}` is selected")]
    UnknownStack(String),
    /// An operation's task ended abnormally.
    #[error("an operation task failed: {0}")]
    Task(String),
    /// An import was asked for something the engine cannot import.
    #[error("cannot import {what}: {reason}")]
    Import {
        /// The resource (stack and name) or id.
        what: String,
        /// Why, and what to do instead.
        reason: String,
    },
    /// A reference names a resource that is not declared.
    #[error(
        "{from} refers to {to}, which no selected stack declares; select its stack too (--stack) or fix the reference"
    )]
    DanglingReference {
        /// The referring resource.
        from: String,
        /// The missing one.
        to: String,
    },
}

impl EngineError {
    /// Whether a provider answered that what was asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, EngineError::Provider { status, .. } if status.code() == tonic::Code::NotFound)
    }
}

/// Provider processes: one per provider package per account, started and configured on first use.
#[derive(Debug, Default)]
pub struct Hosts {
    plugins: Mutex<BTreeMap<(String, String), Plugin>>,
    connected: Mutex<BTreeMap<(String, String), ResourceProviderClient<Channel>>>,
    env: Vec<(String, String)>,
}

impl Hosts {
    /// Hosts whose plugins get `env` on top of this process's environment.
    pub fn with_env(env: Vec<(String, String)>) -> Self {
        Self { env, ..Self::default() }
    }

    /// Uses `client`, an already running and configured provider, for `package` in the account
    /// named `account` (in-process providers for tests and benchmarks).
    pub async fn connect(&self, account: &str, package: &str, client: ResourceProviderClient<Channel>) {
        self.connected
            .lock()
            .await
            .insert((account.to_string(), package.to_string()), client);
    }

    /// A client for `package` in `account`.
    pub async fn client(
        &self,
        account: &Account,
        package: &str,
    ) -> Result<ResourceProviderClient<Channel>, EngineError> {
        let key = (account.name.clone(), package.to_string());
        if let Some(client) = self.connected.lock().await.get(&key) {
            return Ok(client.clone());
        }
        let mut plugins = self.plugins.lock().await;
        if let Some(plugin) = plugins.get(&key) {
            return Ok(plugin.client());
        }
        let plugin = Plugin::start(&find_plugin(package)?, &self.env).await?;
        let config = map_from_json(&account.provider_config());
        plugin
            .client()
            .configure(rpc::ConfigureRequest {
                args: Some(encode_struct(&config)),
                accept_secrets: true,
                ..Default::default()
            })
            .await
            .map_err(|status| EngineError::Provider {
                call: "Configure",
                subject: format!("{package} for account {}", account.name),
                status,
            })?;
        let client = plugin.client();
        plugins.insert(key, plugin);
        Ok(client)
    }

    /// Calls function `token` (`palisade-deploy:index:getLatestApprovedModelPackage`) of its provider
    /// in `account` with `args`, and returns its result. A refusal of the arguments is an error naming
    /// each property at fault.
    pub async fn invoke(&self, account: &Account, token: &str, args: &Json) -> Result<Json, EngineError> {
        let package = token.split(':').next().unwrap_or_default();
        let mut client = self.client(account, package).await?;
        let failure = |status| EngineError::Provider {
            call: "Invoke",
            subject: format!("{token} in account {}", account.name),
            status,
        };
        let response = client
            .invoke(rpc::InvokeRequest {
                tok: token.to_string(),
                args: Some(encode_struct(&map_from_json(args))),
                preview: false,
            })
            .await
            .map_err(failure)?
            .into_inner();
        if !response.failures.is_empty() {
            let reasons: Vec<String> = failures_of(response.failures).iter().map(ToString::to_string).collect();
            return Err(failure(tonic::Status::invalid_argument(reasons.join("; "))));
        }
        let result = decode_optional(response.r#return.as_ref());
        Ok(map_to_json(&result).unwrap_or_default())
    }

    /// Stops every provider process.
    pub async fn stop(self) {
        for (_, plugin) in self.plugins.into_inner() {
            plugin.stop().await;
        }
    }
}

/// A seed stable for a URN (and a replacement generation), so auto-names do not change between runs.
fn seed(urn: &str, generation: &str) -> Vec<u8> {
    format!("{urn}{generation}").into_bytes()
}

fn failures_of(response: Vec<rpc::CheckFailure>) -> Vec<CheckFailure> {
    response
        .into_iter()
        .map(|f| CheckFailure::new(f.property, f.reason))
        .collect()
}

fn kind_name(kind: i32) -> String {
    rpc::property_diff::Kind::try_from(kind)
        .map(|k| k.as_str_name().to_string())
        .unwrap_or_else(|_| "UPDATE".into())
}

/// A declared resource, its stack, and the URNs it needs first.
type Ordered<'a> = (&'a Stack, &'a Declared, Vec<String>);

/// Declared resources in dependency order (Kahn's algorithm; ties keep declaration order).
fn dependency_order<'a>(declared: &[(&'a Stack, &'a Declared)]) -> Result<Vec<Ordered<'a>>, EngineError> {
    let known: BTreeSet<&str> = declared.iter().map(|(_, d)| d.urn.as_str()).collect();
    let mut dependencies: Vec<Vec<String>> = Vec::new();
    for (_, d) in declared {
        let mut deps: BTreeSet<String> = referenced_urns(&d.inputs);
        deps.extend(d.depends_on.iter().cloned());
        if let Some(missing) = deps.iter().find(|u| !known.contains(u.as_str())) {
            return Err(EngineError::DanglingReference {
                from: d.urn.clone(),
                to: missing.clone(),
            });
        }
        deps.remove(&d.urn);
        dependencies.push(deps.into_iter().collect());
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut order = Vec::new();
    let mut remaining: Vec<usize> = (0..declared.len()).collect();
    while !remaining.is_empty() {
        let ready: Vec<usize> = remaining
            .iter()
            .copied()
            .filter(|&i| dependencies[i].iter().all(|u| done.contains(u)))
            .collect();
        if ready.is_empty() {
            let circle: Vec<&str> = remaining.iter().map(|&i| declared[i].1.urn.as_str()).collect();
            return Err(EngineError::Cycle(circle.join(" -> ")));
        }
        for &i in &ready {
            done.insert(declared[i].1.urn.clone());
            order.push((declared[i].0, declared[i].1, dependencies[i].clone()));
        }
        remaining.retain(|i| !ready.contains(i));
    }
    Ok(order)
}

/// State resources in an order where dependants come before what they depend on (for deletes).
fn reverse_dependency_order(resources: Vec<(String, ResourceState)>) -> Vec<(String, ResourceState)> {
    let urns: BTreeSet<String> = resources.iter().map(|(_, r)| r.urn.clone()).collect();
    let mut remaining = resources;
    let mut order = Vec::new();
    while !remaining.is_empty() {
        // A resource can go once nothing left depends on it.
        let needed: BTreeSet<String> = remaining
            .iter()
            .flat_map(|(_, r)| r.dependencies.iter().filter(|d| urns.contains(*d)).cloned())
            .collect();
        let (free, blocked): (Vec<_>, Vec<_>) = remaining.into_iter().partition(|(_, r)| !needed.contains(&r.urn));
        if free.is_empty() {
            // A cycle in recorded dependencies: delete in recorded order rather than not at all.
            order.extend(blocked);
            break;
        }
        order.extend(free);
        remaining = blocked;
    }
    order
}

/// The engine over a set of stacks.
#[derive(Debug)]
pub struct Engine {
    stacks: Vec<Stack>,
    store: StateStore,
    parallel: usize,
}

impl Engine {
    /// An engine for `stacks` keeping state in `store`.
    pub fn new(stacks: Vec<Stack>, store: StateStore) -> Self {
        Self {
            stacks,
            store,
            parallel: 16,
        }
    }

    /// At most `parallel` operations at once (at least one).
    pub fn parallel(mut self, parallel: usize) -> Self {
        self.parallel = parallel.max(1);
        self
    }

    /// The stacks.
    pub fn stacks(&self) -> &[Stack] {
        &self.stacks
    }

    fn stack(&self, name: &str) -> Option<&Stack> {
        self.stacks.iter().find(|s| s.name == name)
    }

    /// Loads every stack's state.
    pub fn load_states(&self) -> Result<BTreeMap<String, StackState>, EngineError> {
        let mut states = BTreeMap::new();
        for stack in &self.stacks {
            states.insert(
                stack.name.clone(),
                self.store.load(&stack.name, &stack.account.account_id)?,
            );
        }
        Ok(states)
    }

    /// Locks every stack for an update.
    pub fn lock(&self) -> Result<Vec<StackLock>, EngineError> {
        self.stacks
            .iter()
            .map(|s| self.store.lock(&s.name).map_err(EngineError::from))
            .collect()
    }

    /// The dependency graph: each declared URN and the URNs it needs first.
    pub fn graph(&self) -> Result<Vec<(String, Vec<String>)>, EngineError> {
        let declared: Vec<(&Stack, &Declared)> = self
            .stacks
            .iter()
            .flat_map(|s| s.resources.iter().map(move |d| (s, d)))
            .collect();
        Ok(dependency_order(&declared)?
            .into_iter()
            .map(|(_, d, deps)| (d.urn.clone(), deps))
            .collect())
    }

    /// Plans every stack against its state. `destroy` plans the deletion of everything.
    pub async fn plan(&self, hosts: &Hosts, destroy: bool) -> Result<Plan, EngineError> {
        let states = self.load_states()?;
        let mut plan = Plan {
            stacks: self
                .stacks
                .iter()
                .map(|s| StackInfo {
                    stack: s.name.clone(),
                    account: s.account.name.clone(),
                    account_id: s.account.account_id.clone(),
                    region: s.account.region.clone(),
                })
                .collect(),
            steps: Vec::new(),
            findings: Vec::new(),
            leftovers: states
                .iter()
                .flat_map(|(stack, state)| {
                    state
                        .pending
                        .iter()
                        .filter_map(move |p| p.replaced.clone().map(|old| (stack.clone(), old)))
                })
                .collect(),
        };
        let declared: Vec<(&Stack, &Declared)> = if destroy {
            Vec::new()
        } else {
            self.stacks
                .iter()
                .flat_map(|s| s.resources.iter().map(move |d| (s, d)))
                .collect()
        };
        let mut planned: HashMap<String, PropertyMap> = HashMap::new();
        for (stack, declared, dependencies) in dependency_order(&declared)? {
            let state = &states[&stack.name];
            let old = state.get(&declared.urn).cloned();
            let lookup = |urn: &str, property: &str| planned.get(urn).and_then(|o| o.get(property).cloned());
            let resolved = resolve(&declared.inputs, &lookup);
            let mut client = hosts.client(&stack.account, declared.package).await?;
            let provider_error = |call, status| EngineError::Provider {
                call,
                subject: declared.urn.clone(),
                status,
            };
            let olds = old.as_ref().map(ResourceState::input_map).unwrap_or_default();
            let checked = client
                .check(rpc::CheckRequest {
                    urn: declared.urn.clone(),
                    olds: Some(encode_struct(&olds)),
                    news: Some(encode_struct(&resolved)),
                    random_seed: seed(&declared.urn, ""),
                    name: declared.name.clone(),
                    r#type: declared.token.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|status| provider_error("Check", status))?
                .into_inner();
            let mut step = Step {
                stack: stack.name.clone(),
                urn: declared.urn.clone(),
                token: declared.token.clone(),
                name: declared.name.clone(),
                package: declared.package.to_string(),
                operation: if old.is_some() {
                    Operation::Update
                } else {
                    Operation::Create
                },
                declared: Some(declared.inputs.clone()),
                inputs: decode_optional(checked.inputs.as_ref()),
                old: old.clone(),
                diff: BTreeMap::new(),
                delete_before_replace: false,
                dependencies,
                protect: declared.protect,
                failures: failures_of(checked.failures),
            };
            if !step.failures.is_empty() {
                step.inputs = resolved;
                planned.insert(step.urn.clone(), PropertyMap::new());
                plan.steps.push(step);
                continue;
            }
            let outputs = match &old {
                None => preview_create(&mut client, &step).await?,
                Some(old) => {
                    let diff = client
                        .diff(rpc::DiffRequest {
                            id: old.id.clone(),
                            urn: step.urn.clone(),
                            olds: Some(encode_struct(&old.output_map())),
                            news: checked.inputs.clone(),
                            old_inputs: Some(encode_struct(&old.input_map())),
                            name: step.name.clone(),
                            r#type: step.token.clone(),
                            ..Default::default()
                        })
                        .await
                        .map_err(|status| provider_error("Diff", status))?
                        .into_inner();
                    step.diff = diff
                        .detailed_diff
                        .iter()
                        .map(|(k, v)| (k.clone(), kind_name(v.kind)))
                        .collect();
                    step.delete_before_replace = diff.delete_before_replace;
                    let changed =
                        diff.changes == rpc::diff_response::DiffChanges::DiffSome as i32 || !step.diff.is_empty();
                    if !changed {
                        step.operation = Operation::Same;
                        old.output_map()
                    } else if !diff.replaces.is_empty() {
                        step.operation = Operation::Replace;
                        if step.protect {
                            step.failures.push(CheckFailure::new(
                                diff.replaces.join(", "),
                                "this change replaces a protected resource; remove `protect` first or undo the change",
                            ));
                        }
                        // A create-first replacement is checked afresh, as apply will: a new
                        // generation gets new auto-names, which dependants must see to plan their
                        // own changes. (Delete-first keeps its name.)
                        if !step.delete_before_replace {
                            let fresh = client
                                .check(rpc::CheckRequest {
                                    urn: declared.urn.clone(),
                                    olds: Some(encode_struct(&PropertyMap::new())),
                                    news: Some(encode_struct(&resolved)),
                                    random_seed: seed(&declared.urn, &old.id),
                                    name: declared.name.clone(),
                                    r#type: declared.token.clone(),
                                    ..Default::default()
                                })
                                .await
                                .map_err(|status| provider_error("Check", status))?
                                .into_inner();
                            step.failures.extend(failures_of(fresh.failures));
                            if step.failures.is_empty() {
                                step.inputs = decode_optional(fresh.inputs.as_ref());
                            }
                        }
                        preview_create(&mut client, &step).await?
                    } else {
                        let mut outputs = old.output_map();
                        outputs.extend(
                            step.inputs
                                .iter()
                                .filter(|(k, _)| !k.starts_with("__"))
                                .map(|(k, v)| (k.clone(), v.clone())),
                        );
                        outputs
                    }
                }
            };
            planned.insert(step.urn.clone(), outputs);
            plan.steps.push(step);
        }

        // Whatever the state holds and no declaration names any more is deleted, dependants first.
        let declared_urns: BTreeSet<&str> = plan.steps.iter().map(|s| s.urn.as_str()).collect();
        let gone: Vec<(String, ResourceState)> = states
            .iter()
            .flat_map(|(stack, state)| state.resources.iter().map(move |r| (stack.clone(), r.clone())))
            .filter(|(_, r)| !declared_urns.contains(r.urn.as_str()))
            .collect();
        for (stack, resource) in reverse_dependency_order(gone) {
            let failures = if resource.protect {
                vec![CheckFailure::new(
                    "",
                    "the resource is protected; remove `protect` before deleting it",
                )]
            } else {
                Vec::new()
            };
            plan.steps.push(Step {
                stack,
                urn: resource.urn.clone(),
                token: resource.token.clone(),
                name: resource.urn.rsplit("::").next().unwrap_or_default().to_string(),
                package: resource.package.clone(),
                operation: Operation::Delete,
                declared: None,
                inputs: resource.input_map(),
                dependencies: resource.dependencies.clone(),
                protect: resource.protect,
                old: Some(resource),
                diff: BTreeMap::new(),
                delete_before_replace: false,
                failures,
            });
        }
        plan.findings = guardrails::check(&plan, &self.stacks);
        Ok(plan)
    }

    /// Imports an existing resource: the declaration `name` of stack `stack` takes over the cloud
    /// resource with physical id `id`, which the provider reads. Nothing changes in the cloud; the
    /// next plan shows how the declaration differs from what was found. Refuses a declaration that
    /// already has a resource.
    pub async fn import(&self, hosts: &Hosts, stack: &str, name: &str, id: &str) -> Result<ResourceState, EngineError> {
        let what = format!("`{name}` of stack `{stack}` from id `{id}`");
        let refuse = |reason: String| EngineError::Import {
            what: what.clone(),
            reason,
        };
        let declared_stack = self
            .stack(stack)
            .ok_or_else(|| refuse(format!("no stack `{stack}` is selected")))?;
        let matching: Vec<&Declared> = declared_stack
            .resources
            .iter()
            .filter(|d| d.name == name || format!("{}::{}", d.token, d.name) == name)
            .collect();
        let declared = match matching.as_slice() {
            [one] => *one,
            [] => {
                return Err(refuse(format!(
                    "the stack declares no resource named `{name}`; declare it first"
                )))
            }
            several => {
                let tokens: Vec<String> = several.iter().map(|d| format!("{}::{}", d.token, d.name)).collect();
                return Err(refuse(format!(
                    "the name is ambiguous; give one of {}",
                    tokens.join(", ")
                )));
            }
        };
        let _lock = self.store.lock(stack)?;
        let mut state = self.store.load(stack, &declared_stack.account.account_id)?;
        if let Some(existing) = state.get(&declared.urn) {
            return Err(refuse(format!(
                "it already manages id `{}`; destroy or rename the declaration first",
                existing.id
            )));
        }
        for (other_stack, other) in self.load_states()? {
            if let Some(owner) = other.resources.iter().find(|r| r.token == declared.token && r.id == id) {
                return Err(refuse(format!(
                    "stack `{other_stack}` already manages it as {}; one resource, one owner",
                    owner.urn
                )));
            }
        }
        let mut client = hosts.client(&declared_stack.account, declared.package).await?;
        let read = client
            .read(rpc::ReadRequest {
                id: id.to_string(),
                urn: declared.urn.clone(),
                properties: Some(encode_struct(&PropertyMap::new())),
                inputs: Some(encode_struct(&PropertyMap::new())),
                name: declared.name.clone(),
                r#type: declared.token.clone(),
                ..Default::default()
            })
            .await
            .map_err(|status| EngineError::Provider {
                call: "Read",
                subject: declared.urn.clone(),
                status,
            })?
            .into_inner();
        if read.id.is_empty() {
            return Err(refuse(format!(
                "no {} with that id exists in account {}",
                declared.token, declared_stack.account.account_id
            )));
        }
        let mut dependencies: Vec<String> = referenced_urns(&declared.inputs).into_iter().collect();
        dependencies.extend(declared.depends_on.iter().cloned());
        let imported = ResourceState {
            urn: declared.urn.clone(),
            token: declared.token.clone(),
            package: declared.package.to_string(),
            id: read.id,
            inputs: to_wire_json(&decode_optional(read.inputs.as_ref())),
            outputs: to_wire_json(&decode_optional(read.properties.as_ref())),
            dependencies,
            protect: declared.protect,
        };
        state.upsert(imported.clone());
        self.store.save(&state)?;
        Ok(imported)
    }

    /// Records in each stack's state the guardrail rules waived for this run.
    pub fn record_waivers(&self, waived: &[String]) -> Result<(), EngineError> {
        for (_, mut state) in self.load_states()? {
            state.waivers = waived.to_vec();
            self.store.save(&state)?;
        }
        Ok(())
    }

    /// Applies `plan`: in dependency order, up to `parallel` at once; a failure stops only its
    /// dependants. State is written after every operation. Progress goes to `progress`.
    pub async fn apply(
        &self,
        plan: &Plan,
        hosts: &Hosts,
        progress: &mut (dyn Write + Send),
    ) -> Result<ApplyReport, EngineError> {
        let mut states = self.load_states()?;
        let mut outputs: HashMap<String, PropertyMap> = states
            .values()
            .flat_map(|s| s.resources.iter().map(|r| (r.urn.clone(), r.output_map())))
            .collect();
        let mut report = ApplyReport::default();
        let mut finished: HashMap<String, bool> = HashMap::new();
        let mut started: BTreeSet<String> = BTreeSet::new();
        let in_plan: BTreeSet<&str> = plan.steps.iter().map(|s| s.urn.as_str()).collect();
        // Replaced resources, deleted last: those an earlier run left, then this run's.
        let mut replaced: Vec<(String, ResourceState)> = plan.leftovers.iter().rev().cloned().collect();
        let mut running: JoinSet<(usize, Instant, Result<Outcome, String>)> = JoinSet::new();
        let mut cleaned_up = false;

        loop {
            // Start every step whose dependencies finished well, as capacity allows.
            for (index, step) in plan.steps.iter().enumerate() {
                if running.len() >= self.parallel || started.contains(&step.urn) {
                    continue;
                }
                // Deletes come last, once everything else has moved off what they delete.
                if step.operation == Operation::Delete && !cleaned_up {
                    continue;
                }
                let blockers = self.blockers(plan, step, &in_plan);
                if blockers.iter().any(|u| !finished.contains_key(u)) {
                    continue;
                }
                started.insert(step.urn.clone());
                if let Some(failed) = blockers.iter().find(|u| finished.get(*u) == Some(&false)) {
                    finished.insert(step.urn.clone(), false);
                    report.skipped.push((step.urn.clone(), format!("{failed} failed")));
                    let _ = writeln!(
                        progress,
                        "{}  {} {}  skipped: {failed} failed",
                        step.stack,
                        symbol(step.operation),
                        step.label()
                    );
                    continue;
                }
                if !step.failures.is_empty() {
                    finished.insert(step.urn.clone(), false);
                    let reasons: Vec<String> = step.failures.iter().map(ToString::to_string).collect();
                    report.failed.push((step.urn.clone(), reasons.join("; ")));
                    continue;
                }
                if step.operation == Operation::Same {
                    finished.insert(step.urn.clone(), true);
                    continue;
                }
                let stack = self
                    .stack(&step.stack)
                    .ok_or_else(|| EngineError::UnknownStack(step.stack.clone()))?;
                let client = hosts.client(&stack.account, &step.package).await?;
                let lookup = |urn: &str, property: &str| outputs.get(urn).and_then(|o| o.get(property).cloned());
                let resolved = step.declared.as_ref().map(|d| resolve(d, &lookup));
                let state = states
                    .get_mut(&step.stack)
                    .ok_or_else(|| EngineError::UnknownStack(step.stack.clone()))?;
                state.pending.push(PendingOperation {
                    urn: step.urn.clone(),
                    operation: format!("{:?}", step.operation).to_lowercase(),
                    replaced: None,
                });
                self.store.save(state)?;
                let job = Job {
                    client,
                    step: step.clone(),
                    resolved,
                };
                let _ = writeln!(
                    progress,
                    "{}  {} {}  {}...",
                    step.stack,
                    symbol(step.operation),
                    step.label(),
                    verb(step.operation)
                );
                running.spawn(async move {
                    let started = Instant::now();
                    (index, started, job.run().await)
                });
            }
            let Some(joined) = running.join_next().await else {
                if cleaned_up {
                    break;
                }
                self.delete_replaced(
                    plan,
                    hosts,
                    &mut states,
                    &finished,
                    &mut replaced,
                    &mut report,
                    progress,
                )
                .await?;
                cleaned_up = true;
                continue;
            };
            let (index, began, result) = joined.map_err(|e| EngineError::Task(e.to_string()))?;
            let step = &plan.steps[index];
            let state = states
                .get_mut(&step.stack)
                .ok_or_else(|| EngineError::UnknownStack(step.stack.clone()))?;
            // The step's own entry ends; an earlier run's replaced resource stays journalled.
            state.pending.retain(|p| p.urn != step.urn || p.replaced.is_some());
            let elapsed = began.elapsed().as_secs_f64();
            match result {
                Ok(outcome) => {
                    match outcome {
                        Outcome::Deleted => {
                            state.remove(&step.urn);
                            outputs.remove(&step.urn);
                        }
                        Outcome::Replaced {
                            id,
                            inputs,
                            outputs: new_outputs,
                            old,
                        } => {
                            state.pending.push(PendingOperation {
                                urn: step.urn.clone(),
                                operation: format!("delete-replaced {}", old.id),
                                replaced: Some((*old).clone()),
                            });
                            state.upsert(step.written(id, &inputs, &new_outputs));
                            outputs.insert(step.urn.clone(), new_outputs);
                            replaced.push((step.stack.clone(), *old));
                        }
                        Outcome::Written {
                            id,
                            inputs,
                            outputs: new_outputs,
                        } => {
                            state.upsert(step.written(id, &inputs, &new_outputs));
                            outputs.insert(step.urn.clone(), new_outputs);
                        }
                    }
                    finished.insert(step.urn.clone(), true);
                    report.done.push(step.urn.clone());
                    let _ = writeln!(
                        progress,
                        "{}  {} {}  {} ({elapsed:.1}s)",
                        step.stack,
                        symbol(step.operation),
                        step.label(),
                        done_verb(step.operation)
                    );
                }
                Err(reason) => {
                    finished.insert(step.urn.clone(), false);
                    let _ = writeln!(
                        progress,
                        "{}  {} {}  failed: {reason}",
                        step.stack,
                        symbol(step.operation),
                        step.label()
                    );
                    report.failed.push((step.urn.clone(), reason));
                }
            }
            self.store.save(state)?;
        }

        Ok(report)
    }

    /// Reads every resource of every stack from its cloud and records what it finds: drift shows as
    /// changed properties, resources deleted out of band leave the state. The next `up` then plans to
    /// bring them back to their declarations.
    pub async fn refresh(&self, hosts: &Hosts) -> Result<Vec<Drift>, EngineError> {
        let mut states = self.load_states()?;
        let mut drifts = Vec::new();
        for stack in &self.stacks {
            let Some(state) = states.get_mut(&stack.name) else {
                continue;
            };
            for resource in state.resources.clone() {
                let mut client = hosts.client(&stack.account, &resource.package).await?;
                let provider_error = |call, status| EngineError::Provider {
                    call,
                    subject: resource.urn.clone(),
                    status,
                };
                let read = client
                    .read(rpc::ReadRequest {
                        id: resource.id.clone(),
                        urn: resource.urn.clone(),
                        properties: Some(encode_struct(&resource.output_map())),
                        inputs: Some(encode_struct(&resource.input_map())),
                        r#type: resource.token.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|status| provider_error("Read", status))?
                    .into_inner();
                if read.id.is_empty() {
                    state.remove(&resource.urn);
                    drifts.push(Drift {
                        stack: stack.name.clone(),
                        urn: resource.urn.clone(),
                        gone: true,
                        diff: BTreeMap::new(),
                    });
                    continue;
                }
                let live_inputs = decode_optional(read.inputs.as_ref());
                let diff = client
                    .diff(rpc::DiffRequest {
                        id: resource.id.clone(),
                        urn: resource.urn.clone(),
                        olds: read.properties.clone(),
                        news: Some(encode_struct(&live_inputs)),
                        old_inputs: Some(encode_struct(&resource.input_map())),
                        r#type: resource.token.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|status| provider_error("Diff", status))?
                    .into_inner();
                let changed: BTreeMap<String, String> = diff
                    .detailed_diff
                    .iter()
                    .map(|(k, v)| (k.clone(), kind_name(v.kind)))
                    .collect();
                if !changed.is_empty() {
                    drifts.push(Drift {
                        stack: stack.name.clone(),
                        urn: resource.urn.clone(),
                        gone: false,
                        diff: changed,
                    });
                }
                state.upsert(ResourceState {
                    id: read.id,
                    inputs: to_wire_json(&live_inputs),
                    outputs: to_wire_json(&decode_optional(read.properties.as_ref())),
                    ..resource
                });
            }
            self.store.save(state)?;
        }
        Ok(drifts)
    }

    /// Deletes replaced resources (this run's and those earlier runs left), dependants first, once
    /// everything that used them has moved to the replacement. One that something may still use (a
    /// dependant failed, was skipped, is held, or is itself still to be deleted) stays journalled,
    /// and a later run deletes it.
    #[allow(clippy::too_many_arguments)]
    async fn delete_replaced(
        &self,
        plan: &Plan,
        hosts: &Hosts,
        states: &mut BTreeMap<String, StackState>,
        finished: &HashMap<String, bool>,
        replaced: &mut Vec<(String, ResourceState)>,
        report: &mut ApplyReport,
        progress: &mut (dyn Write + Send),
    ) -> Result<(), EngineError> {
        let in_plan: BTreeSet<&str> = plan.steps.iter().map(|s| s.urn.as_str()).collect();
        for (stack_name, old) in std::mem::take(replaced).into_iter().rev() {
            // A dependant this plan deletes has not gone yet (deletes come after this), and it may
            // still use the old generation: that one waits for a later run.
            let still_used = states.values().flat_map(|s| s.resources.iter()).any(|r| {
                r.dependencies.contains(&old.urn)
                    && (!in_plan.contains(r.urn.as_str()) || finished.get(&r.urn) != Some(&true))
            });
            let dependant_failed = plan.steps.iter().any(|s| {
                s.operation != Operation::Delete
                    && s.dependencies.contains(&old.urn)
                    && finished.get(&s.urn) != Some(&true)
            });
            if still_used || dependant_failed {
                let _ = writeln!(
                    progress,
                    "{stack_name}  - {}  replaced resource {} kept: something may still use it; a later run deletes it",
                    old.urn, old.id
                );
                continue;
            }
            let stack = self
                .stack(&stack_name)
                .ok_or_else(|| EngineError::UnknownStack(stack_name.clone()))?;
            let client = hosts.client(&stack.account, &old.package).await?;
            let marker = format!("delete-replaced {}", old.id);
            let urn = old.urn.clone();
            let result = Job::delete_replaced(client, old).await;
            let state = states
                .get_mut(&stack_name)
                .ok_or_else(|| EngineError::UnknownStack(stack_name.clone()))?;
            match result {
                Ok(()) => {
                    state.pending.retain(|p| !(p.urn == urn && p.operation == marker));
                    let _ = writeln!(progress, "{stack_name}  - {urn}  replaced resource deleted");
                }
                Err(reason) => {
                    let _ = writeln!(progress, "{stack_name}  - {urn}  failed: {reason}");
                    report.failed.push((urn, reason));
                }
            }
            self.store.save(state)?;
        }
        Ok(())
    }

    /// The URNs that must finish before `step`: its dependencies (for deletes: its dependants, which
    /// must go first).
    fn blockers(&self, plan: &Plan, step: &Step, in_plan: &BTreeSet<&str>) -> Vec<String> {
        if step.operation == Operation::Delete {
            plan.steps
                .iter()
                .filter(|other| other.operation == Operation::Delete && other.dependencies.contains(&step.urn))
                .map(|other| other.urn.clone())
                .collect()
        } else {
            step.dependencies
                .iter()
                .filter(|u| in_plan.contains(u.as_str()))
                .cloned()
                .collect()
        }
    }
}

fn symbol(operation: Operation) -> &'static str {
    match operation {
        Operation::Create => "+",
        Operation::Update => "~",
        Operation::Replace => "+-",
        Operation::Delete => "-",
        Operation::Same => " ",
    }
}

fn verb(operation: Operation) -> &'static str {
    match operation {
        Operation::Create => "creating",
        Operation::Update => "updating",
        Operation::Replace => "replacing",
        Operation::Delete => "deleting",
        Operation::Same => "unchanged",
    }
}

fn done_verb(operation: Operation) -> &'static str {
    match operation {
        Operation::Create => "created",
        Operation::Update => "updated",
        Operation::Replace => "replaced",
        Operation::Delete => "deleted",
        Operation::Same => "unchanged",
    }
}

async fn preview_create(client: &mut ResourceProviderClient<Channel>, step: &Step) -> Result<PropertyMap, EngineError> {
    let created = client
        .create(rpc::CreateRequest {
            urn: step.urn.clone(),
            properties: Some(encode_struct(&step.inputs)),
            preview: true,
            name: step.name.clone(),
            r#type: step.token.clone(),
            ..Default::default()
        })
        .await
        .map_err(|status| EngineError::Provider {
            call: "Create (preview)",
            subject: step.urn.clone(),
            status,
        })?
        .into_inner();
    Ok(decode_optional(created.properties.as_ref()))
}

/// What applying a step produced.
enum Outcome {
    /// The resource now exists with these inputs and outputs.
    Written {
        id: String,
        inputs: PropertyMap,
        outputs: PropertyMap,
    },
    /// The resource is gone.
    Deleted,
    /// A replacement exists; the old resource is still to be deleted, after the dependants.
    Replaced {
        id: String,
        inputs: PropertyMap,
        outputs: PropertyMap,
        old: Box<ResourceState>,
    },
}

impl Job {
    /// Deletes a replaced resource once its dependants no longer use it.
    async fn delete_replaced(client: ResourceProviderClient<Channel>, old: ResourceState) -> Result<(), String> {
        let mut job = Job {
            client,
            step: Step::placeholder(&old),
            resolved: None,
        };
        job.delete(&old)
            .await
            .map_err(|s| format!("deleting the replaced {}: {}", old.id, s.message()))
    }
}

impl Step {
    /// The state of this step's resource once written with `id`, `inputs` and `outputs`.
    fn written(&self, id: String, inputs: &PropertyMap, outputs: &PropertyMap) -> ResourceState {
        ResourceState {
            urn: self.urn.clone(),
            token: self.token.clone(),
            package: self.package.clone(),
            id,
            inputs: to_wire_json(inputs),
            outputs: to_wire_json(outputs),
            dependencies: self.dependencies.clone(),
            protect: self.protect,
        }
    }

    /// `Kind name`, as progress lines show a step (`Bucket models`).
    pub fn label(&self) -> String {
        format!("{} {}", self.token.rsplit(':').next().unwrap_or_default(), self.name)
    }

    fn placeholder(old: &ResourceState) -> Step {
        Step {
            stack: String::new(),
            urn: old.urn.clone(),
            token: old.token.clone(),
            name: String::new(),
            package: old.package.clone(),
            operation: Operation::Delete,
            declared: None,
            inputs: PropertyMap::new(),
            old: Some(old.clone()),
            diff: BTreeMap::new(),
            delete_before_replace: false,
            dependencies: Vec::new(),
            protect: false,
            failures: Vec::new(),
        }
    }
}

/// One step, ready to run on its own task.
struct Job {
    client: ResourceProviderClient<Channel>,
    step: Step,
    resolved: Option<PropertyMap>,
}

impl Job {
    async fn run(mut self) -> Result<Outcome, String> {
        let message = |status: tonic::Status| status.message().to_string();
        match self.step.operation {
            Operation::Delete => {
                let old = self.step.old.clone().ok_or("nothing to delete")?;
                self.delete(&old).await.map_err(message)?;
                Ok(Outcome::Deleted)
            }
            Operation::Create => {
                let inputs = self.check(true, "").await?;
                let (id, outputs) = self.create(&inputs).await.map_err(message)?;
                Ok(Outcome::Written { id, inputs, outputs })
            }
            Operation::Update => {
                let old = self.step.old.clone().ok_or("nothing to update")?;
                let inputs = self.check(false, "").await?;
                let updated = self
                    .client
                    .update(rpc::UpdateRequest {
                        id: old.id.clone(),
                        urn: self.step.urn.clone(),
                        olds: Some(encode_struct(&old.output_map())),
                        news: Some(encode_struct(&inputs)),
                        old_inputs: Some(encode_struct(&old.input_map())),
                        name: self.step.name.clone(),
                        r#type: self.step.token.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(message)?
                    .into_inner();
                Ok(Outcome::Written {
                    id: old.id,
                    inputs,
                    outputs: decode_optional(updated.properties.as_ref()),
                })
            }
            Operation::Replace => {
                let old = self.step.old.clone().ok_or("nothing to replace")?;
                if self.step.delete_before_replace {
                    let inputs = self.check(false, "").await?;
                    self.delete(&old).await.map_err(message)?;
                    let (id, outputs) = self.create(&inputs).await.map_err(message)?;
                    Ok(Outcome::Written { id, inputs, outputs })
                } else {
                    // A fresh check without the old inputs, so that auto-names are chosen anew.
                    let inputs = self.check(true, old.id.as_str()).await?;
                    let (id, outputs) = self.create(&inputs).await.map_err(message)?;
                    // The old one goes only after everything that uses it has moved to the new one.
                    Ok(Outcome::Replaced {
                        id,
                        inputs,
                        outputs,
                        old: Box::new(old),
                    })
                }
            }
            Operation::Same => Err("nothing to do".into()),
        }
    }

    async fn check(&mut self, fresh: bool, generation: &str) -> Result<PropertyMap, String> {
        let news = self.resolved.clone().unwrap_or_default();
        let olds = if fresh {
            PropertyMap::new()
        } else {
            self.step.old.as_ref().map(ResourceState::input_map).unwrap_or_default()
        };
        let checked = self
            .client
            .check(rpc::CheckRequest {
                urn: self.step.urn.clone(),
                olds: Some(encode_struct(&olds)),
                news: Some(encode_struct(&news)),
                random_seed: seed(&self.step.urn, generation),
                name: self.step.name.clone(),
                r#type: self.step.token.clone(),
                ..Default::default()
            })
            .await
            .map_err(|s| s.message().to_string())?
            .into_inner();
        if !checked.failures.is_empty() {
            let reasons: Vec<String> = failures_of(checked.failures).iter().map(ToString::to_string).collect();
            return Err(reasons.join("; "));
        }
        let inputs = decode_optional(checked.inputs.as_ref());
        if let Some((property, _)) = inputs.iter().find(|(_, v)| !v.is_known()) {
            return Err(format!(
                "input `{property}` is still unknown after its dependencies were applied"
            ));
        }
        Ok(inputs)
    }

    async fn create(&mut self, inputs: &PropertyMap) -> Result<(String, PropertyMap), tonic::Status> {
        let created = self
            .client
            .create(rpc::CreateRequest {
                urn: self.step.urn.clone(),
                properties: Some(encode_struct(inputs)),
                name: self.step.name.clone(),
                r#type: self.step.token.clone(),
                ..Default::default()
            })
            .await?
            .into_inner();
        Ok((created.id, decode_optional(created.properties.as_ref())))
    }

    async fn delete(&mut self, old: &ResourceState) -> Result<(), tonic::Status> {
        self.client
            .delete(rpc::DeleteRequest {
                id: old.id.clone(),
                urn: old.urn.clone(),
                properties: Some(encode_struct(&old.output_map())),
                old_inputs: Some(encode_struct(&old.input_map())),
                r#type: old.token.clone(),
                ..Default::default()
            })
            .await
            .map(|_| ())
    }
}

/// A difference between the state and the cloud, found by refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The stack.
    pub stack: String,
    /// The resource.
    pub urn: String,
    /// Deleted out of band.
    pub gone: bool,
    /// Properties that changed out of band, and how (relative to the state).
    pub diff: BTreeMap<String, String>,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// URNs applied.
    pub done: Vec<String>,
    /// URNs that failed, and why.
    pub failed: Vec<(String, String)>,
    /// URNs not tried because something they need failed.
    pub skipped: Vec<(String, String)>,
}

impl ApplyReport {
    /// Whether everything succeeded.
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }
}
