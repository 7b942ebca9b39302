//! Planning: every declared resource through its provider's `Check` and `Diff` against the stack's
//! state, in dependency order; whatever the state holds and nothing declares any more is deleted.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use palisade_provider_kit::resource::CheckFailure;
use palisade_provider_kit::value::PropertyMap;

use super::{dependency_order, seed, Engine, EngineError, Ordered};
use crate::guardrails;
use crate::host::Hosts;
use crate::plan::{Operation, Plan, StackInfo, Step};
use crate::provider::{ProviderClient, Subject};
use crate::reference::resolve;
use crate::stack::{Declared, Stack};
use crate::state::{ResourceState, StackState};

impl Engine {
    /// Plans every selected stack against its state. `destroy` plans the deletion of everything.
    pub async fn plan(&self, hosts: &Hosts, destroy: bool) -> Result<Plan, EngineError> {
        let mut states = self.load_states()?;
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
            leftovers: states
                .iter()
                .flat_map(|(stack, state)| {
                    state
                        .pending
                        .iter()
                        .filter_map(move |p| p.replaced.clone().map(|old| (stack.clone(), old)))
                })
                .collect(),
            ..Plan::default()
        };
        self.recover(hosts, &mut states, &mut plan).await?;

        // What the selected stacks refer to in the others comes from those stacks' state.
        let mut planned: HashMap<String, PropertyMap> = HashMap::new();
        let mut outside = BTreeSet::new();
        for stack in self
            .all
            .iter()
            .filter(|s| !self.stacks.iter().any(|t| t.name == s.name))
        {
            let state = self.load(stack)?;
            for declared in &stack.resources {
                outside.insert(declared.urn.clone());
                if let Some(resource) = state.get(&declared.urn) {
                    planned.insert(declared.urn.clone(), resource.output_map());
                }
            }
        }

        let declared: Vec<(&Stack, &Declared)> = if destroy {
            Vec::new()
        } else {
            self.stacks
                .iter()
                .flat_map(|s| s.resources.iter().map(move |d| (s, d)))
                .collect()
        };
        let order = dependency_order(&declared, &outside)?;
        // A reference into a stack that is not selected needs that stack's state to hold it.
        for (_, declared, _) in &order {
            if let Some(missing) = crate::reference::referenced_urns(&declared.inputs)
                .into_iter()
                .find(|u| outside.contains(u) && !planned.contains_key(u))
            {
                let owner = self
                    .all
                    .iter()
                    .find(|s| s.resources.iter().any(|d| d.urn == missing))
                    .map(|s| s.name.clone())
                    .unwrap_or_default();
                return Err(EngineError::UnappliedReference {
                    from: declared.urn.clone(),
                    to: missing,
                    stack: owner,
                });
            }
        }
        plan.steps = self.plan_in_order(hosts, &order, &states, planned).await?;
        // Whatever the state holds and no declaration names any more is deleted, dependants first.
        let declared_urns: BTreeSet<&str> = plan.steps.iter().map(|s| s.urn.as_str()).collect();
        let gone: Vec<(String, ResourceState)> = states
            .iter()
            .flat_map(|(stack, state)| state.resources.iter().map(move |r| (stack.clone(), r.clone())))
            .filter(|(_, r)| !declared_urns.contains(r.urn.as_str()))
            .collect();
        for (stack, resource) in reverse_dependency_order(gone) {
            let mut step = Step::delete(&stack, &resource);
            if resource.protect {
                step.failures.push(CheckFailure::new(
                    "",
                    "the resource is protected; remove `protect` before deleting it",
                ));
            }
            plan.steps.push(step);
        }
        plan.findings = guardrails::check(&plan, &self.stacks);
        Ok(plan)
    }

    /// Plans the declared resources of `order` (a dependency order): up to `parallel` at once,
    /// each as soon as what it refers to is planned, the earliest in `order` first, so that one
    /// account's work is finished before the next one's starts as far as the graph allows. A
    /// resource of an account whose provider is not in use waits while the hosts' limit of live
    /// plugins is reached (unless nothing else runs); a provider is handed back to the hosts once
    /// its last resource is planned. The steps come back in `order`, whatever order they finished
    /// in: every step depends only on the outputs of what it refers to.
    async fn plan_in_order(
        &self,
        hosts: &Hosts,
        order: &[Ordered<'_>],
        states: &BTreeMap<String, StackState>,
        mut planned: HashMap<String, PropertyMap>,
    ) -> Result<Vec<Step>, EngineError> {
        type Key<'k> = (&'k str, &'k str);
        let key_of = |i: usize| -> Key<'_> { (order[i].0.account.name.as_str(), order[i].1.package) };
        let position: HashMap<&str, usize> = order
            .iter()
            .enumerate()
            .map(|(i, (_, d, _))| (d.urn.as_str(), i))
            .collect();
        let mut waiting_for = vec![0usize; order.len()];
        let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); order.len()];
        for (i, (_, _, dependencies)) in order.iter().enumerate() {
            for dependency in dependencies {
                if let Some(&at) = position.get(dependency.as_str()) {
                    dependants[at].push(i);
                    waiting_for[i] += 1;
                }
            }
        }
        // Resources still to plan per account and provider: at zero, its plugin may stop.
        let mut remaining: HashMap<Key<'_>, usize> = HashMap::new();
        for i in 0..order.len() {
            *remaining.entry(key_of(i)).or_default() += 1;
        }
        let limit = hosts.live_limit();
        let mut in_use: BTreeSet<Key<'_>> = BTreeSet::new();
        let mut ready: BTreeSet<usize> = (0..order.len()).filter(|&i| waiting_for[i] == 0).collect();
        let mut steps: Vec<Option<Step>> = (0..order.len()).map(|_| None).collect();
        // The resources being planned, polled together on this task (they borrow the hosts and the
        // declarations): their plugins start, and their calls run, concurrently.
        let mut running: Vec<Planning<'_>> = Vec::new();
        // The failure of the earliest resource in `order` that failed; nothing new starts after one.
        let mut failed: Option<(usize, EngineError)> = None;
        loop {
            if failed.is_none() {
                let mut launch = Vec::new();
                for &i in &ready {
                    if running.len() + launch.len() >= self.parallel {
                        break;
                    }
                    let key = key_of(i);
                    let idle = running.is_empty() && launch.is_empty();
                    if in_use.contains(&key) || in_use.len() < limit || idle {
                        in_use.insert(key);
                        launch.push(i);
                    }
                }
                for i in launch {
                    ready.remove(&i);
                    let (stack, declared, dependencies) = &order[i];
                    let old = states[&stack.name].get(&declared.urn).cloned();
                    let lookup = |urn: &str, property: &str| planned.get(urn).and_then(|o| o.get(property).cloned());
                    let resolved = resolve(&declared.inputs, &lookup);
                    running.push(Box::pin(async move {
                        let planned = async {
                            let client = hosts.client(&stack.account, declared.package).await?;
                            plan_declared(&client, &stack.name, declared, dependencies.clone(), old, resolved).await
                        };
                        (i, planned.await)
                    }));
                }
            }
            if running.is_empty() {
                break;
            }
            let (i, result) = std::future::poll_fn(|cx| {
                let done = running
                    .iter_mut()
                    .enumerate()
                    .find_map(|(at, planning)| match planning.as_mut().poll(cx) {
                        Poll::Ready(result) => Some((at, result)),
                        Poll::Pending => None,
                    });
                match done {
                    Some((at, result)) => {
                        drop(running.swap_remove(at));
                        Poll::Ready(result)
                    }
                    None => Poll::Pending,
                }
            })
            .await;
            match result {
                Ok((step, outputs)) => {
                    planned.insert(step.urn.clone(), outputs);
                    steps[i] = Some(step);
                    for &dependant in &dependants[i] {
                        waiting_for[dependant] -= 1;
                        if waiting_for[dependant] == 0 {
                            ready.insert(dependant);
                        }
                    }
                    let key = key_of(i);
                    if let Some(left) = remaining.get_mut(&key) {
                        *left -= 1;
                        if *left == 0 {
                            in_use.remove(&key);
                            hosts.done_with(key.0, key.1).await;
                        }
                    }
                }
                Err(error) => {
                    if failed.as_ref().is_none_or(|(at, _)| i < *at) {
                        failed = Some((i, error));
                    }
                }
            }
        }
        if let Some((_, error)) = failed {
            return Err(error);
        }
        Ok(steps.into_iter().flatten().collect())
    }

    /// Settles what the journal says an earlier, interrupted run was doing. A create that may have
    /// reached the cloud is looked up by the provider (`Read` without an id finds a resource by its
    /// URN tag or deterministic name): found, it is adopted into the state; absent, the entry goes.
    /// An interrupted update or delete is simply planned again (both are idempotent: the update
    /// converges on the declaration, and deleting what is gone succeeds).
    async fn recover(
        &self,
        hosts: &Hosts,
        states: &mut BTreeMap<String, StackState>,
        plan: &mut Plan,
    ) -> Result<(), EngineError> {
        for stack in &self.stacks {
            let Some(state) = states.get_mut(&stack.name) else {
                continue;
            };
            let pending: Vec<_> = state.pending.iter().filter(|p| p.replaced.is_none()).cloned().collect();
            for entry in pending {
                let name = entry.urn.rsplit("::").next().unwrap_or_default().to_string();
                let token = entry.urn.rsplit("::").nth(1).unwrap_or_default().to_string();
                if entry.operation != Operation::Create.name() || state.get(&entry.urn).is_some() {
                    plan.recovered.push(format!(
                        "{}: an earlier run was interrupted during {} of {name}; it is planned again",
                        stack.name, entry.operation
                    ));
                    continue;
                }
                let package = token.split(':').next().unwrap_or_default().to_string();
                let client = hosts.client(&stack.account, &package).await?;
                let inputs = entry
                    .inputs
                    .as_ref()
                    .map(crate::state::from_wire_json)
                    .unwrap_or_default();
                let of = Subject {
                    urn: &entry.urn,
                    name: &name,
                    token: &token,
                };
                match client.read(of, "", &PropertyMap::new(), &inputs).await {
                    Ok(found) if !found.id.is_empty() => {
                        let adopted = ResourceState {
                            urn: entry.urn.clone(),
                            token: token.clone(),
                            package,
                            id: found.id.clone(),
                            inputs: crate::state::to_wire_json(if found.inputs.is_empty() {
                                &inputs
                            } else {
                                &found.inputs
                            }),
                            outputs: crate::state::to_wire_json(&found.outputs),
                            ..ResourceState::default()
                        };
                        plan.recovered.push(format!(
                            "{}: an interrupted create of {name} had made {}; it is adopted",
                            stack.name, found.id
                        ));
                        plan.adopted.push((stack.name.clone(), adopted.clone()));
                        state.upsert(adopted);
                    }
                    Ok(_) => plan.recovered.push(format!(
                        "{}: an interrupted create of {name} left nothing behind",
                        stack.name
                    )),
                    // A provider that cannot look a resource up without its id adopts it on
                    // create instead, by the same URN tag or name.
                    Err(_) => plan.recovered.push(format!(
                        "{}: an interrupted create of {name} is created again; the provider adopts what it finds",
                        stack.name
                    )),
                }
            }
        }
        Ok(())
    }
}

/// One resource being planned: its position in the order, and its step and outputs.
type Planning<'a> = Pin<Box<dyn Future<Output = (usize, Result<(Step, PropertyMap), EngineError>)> + Send + 'a>>;

/// Plans one declared resource against its state: Check, then Diff (or a previewed Create).
/// Returns the step and the outputs dependants see (unknown where not yet known).
async fn plan_declared(
    client: &ProviderClient,
    stack: &str,
    declared: &Declared,
    dependencies: Vec<String>,
    old: Option<ResourceState>,
    resolved: PropertyMap,
) -> Result<(Step, PropertyMap), EngineError> {
    let of = Subject {
        urn: &declared.urn,
        name: &declared.name,
        token: &declared.token,
    };
    let olds = old.as_ref().map(ResourceState::input_map).unwrap_or_default();
    let checked = client.check(of, &olds, &resolved, seed(&declared.urn, "")).await?;
    let mut step = Step {
        stack: stack.to_string(),
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
        inputs: checked.inputs,
        old: old.clone(),
        diff: BTreeMap::new(),
        delete_before_replace: false,
        dependencies,
        protect: declared.protect,
        data_loss: None,
        holds_data: declared.holds_data.map(str::to_string),
        failures: checked.failures,
    };
    if !step.failures.is_empty() {
        step.inputs = resolved;
        return Ok((step, PropertyMap::new()));
    }
    let Some(old) = old else {
        let preview = client.create(of, &step.inputs, true).await?;
        return Ok((step, preview.outputs));
    };
    let diff = client
        .diff(of, &old.id, &old.output_map(), &old.input_map(), &step.inputs)
        .await?;
    step.diff = diff.detailed.clone();
    step.delete_before_replace = diff.delete_before_replace;
    if !diff.changed {
        step.operation = Operation::Same;
        return Ok((step, old.output_map()));
    }
    if !diff.replaces() {
        let mut outputs = old.output_map();
        outputs.extend(
            step.inputs
                .iter()
                .filter(|(k, _)| !k.starts_with("__"))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        return Ok((step, outputs));
    }
    step.operation = Operation::Replace;
    step.data_loss = step.holds_data.clone();
    if step.protect {
        let forcing: BTreeSet<&str> = diff
            .detailed
            .iter()
            .filter(|(_, k)| k.replaces())
            .map(|(p, _)| p.as_str())
            .chain(diff.replaces.iter().map(String::as_str))
            .collect();
        step.failures.push(CheckFailure::new(
            forcing.into_iter().collect::<Vec<_>>().join(", "),
            "this change replaces a protected resource; remove `protect` first or undo the change",
        ));
    }
    // A create-first replacement is checked afresh, as apply will: a new generation gets new
    // auto-names, which dependants must see to plan their own changes. (Delete-first keeps its
    // name.)
    if !step.delete_before_replace {
        let fresh = client
            .check(of, &PropertyMap::new(), &resolved, seed(&declared.urn, &old.id))
            .await?;
        step.failures.extend(fresh.failures);
        if step.failures.is_empty() {
            step.inputs = fresh.inputs;
        }
    }
    let preview = client.create(of, &step.inputs, true).await?;
    Ok((step, preview.outputs))
}

/// State resources in an order where dependants come before what they depend on (for deletes).
pub(super) fn reverse_dependency_order(resources: Vec<(String, ResourceState)>) -> Vec<(String, ResourceState)> {
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
