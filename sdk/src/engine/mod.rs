//! The engine: one plan across every selected stack, applied in dependency order, in parallel where
//! the graph allows; destroy in reverse order.
//!
//! One module per phase: [`planner`] drives each resource's provider through `Check` and `Diff`
//! against the stack's state, exactly as the Pulumi engine would; [`apply`] runs the plan, checking
//! and diffing each step again once its inputs are known so that it never does more than the
//! preview showed; [`refresh`] reads what the cloud has; [`import`] adopts what exists. The plan's
//! types live in [`crate::plan`], the plugin processes in [`crate::host`].

mod apply;
mod import;
mod planner;
mod refresh;

use std::collections::{BTreeMap, BTreeSet};

pub use apply::{ApplyOptions, ApplyReport};
pub use refresh::{Drift, DriftedProperty, Refreshed};

use crate::host::HostError;
pub use crate::host::Hosts;
pub use crate::plan::{Operation, Plan, StackInfo, Step};
use crate::provider::CallError;
use crate::reference::referenced_urns;
use crate::stack::{Declared, Stack};
use crate::state::{now_rfc3339, StackLock, StackState, StateError, StateStore, Waiver};

/// Why the engine could not plan or apply.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A provider plugin could not be found, started or configured.
    #[error(transparent)]
    Host(#[from] HostError),
    /// State could not be read, written or locked.
    #[error(transparent)]
    State(#[from] StateError),
    /// A provider answered a call with an error.
    #[error(transparent)]
    Provider(#[from] CallError),
    /// The declarations refer to each other in a circle.
    #[error("the declarations form a cycle: {0}")]
    Cycle(String),
    /// A step names a stack the engine was not given.
    #[error("no stack `{0}` is declared")]
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
    #[error("{from} refers to {to}, which no stack of this program declares; fix the reference")]
    DanglingReference {
        /// The referring resource.
        from: String,
        /// The missing one.
        to: String,
    },
    /// A stack's account names another region than its state's resources live in.
    #[error(
        "stack `{stack}` has its resources in {from}, but its account now names {to}; destroy the stack in {from} first (with the old region), or keep {from}"
    )]
    MovedRegion {
        /// The stack.
        stack: String,
        /// Where its resources are.
        from: String,
        /// What the program says now.
        to: String,
    },
    /// The plan replaces or deletes resources that hold data, and the run did not name them.
    #[error(
        "the plan would destroy data:\n  {}\nnothing was changed; if this is intended, rerun with --allow-replace {} (or let the declaration allow it), otherwise undo the change",
        .steps.join("\n  "),
        .names.join(" --allow-replace ")
    )]
    DataLoss {
        /// Each refused step: stack, operation, resource and what would be lost.
        steps: Vec<String>,
        /// Their logical names.
        names: Vec<String>,
    },
    /// A reference into a stack that is not selected names an output its state does not have.
    #[error(
        "{from} refers to {to} of stack `{stack}`, which is not selected and whose state has no such resource; select `{stack}` too (--stack) or apply it first"
    )]
    UnappliedReference {
        /// The referring resource.
        from: String,
        /// The resource referred to.
        to: String,
        /// Its (unselected) stack.
        stack: String,
    },
}

impl EngineError {
    /// Whether a provider answered that what was asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            EngineError::Provider(call) => call.is_not_found(),
            EngineError::Host(host) => host.is_not_found(),
            _ => false,
        }
    }
}

/// A seed stable for a URN (and a replacement generation), so auto-names do not change between runs.
fn seed(urn: &str, generation: &str) -> Vec<u8> {
    format!("{urn}{generation}").into_bytes()
}

/// A declared resource, its stack, and the URNs it needs first.
type Ordered<'a> = (&'a Stack, &'a Declared, Vec<String>);

/// Declared resources in dependency order. Of the resources ready at any point, the one declared
/// first goes first (stacks in order, then declaration order), so one stack's work is finished as
/// far as its dependencies allow before the next one's starts: each account's providers are needed
/// for a stretch of the plan, not all of it. References to `outside` URNs (resources of stacks that
/// are not selected) are not ordered: their values come from state.
fn dependency_order<'a>(
    declared: &[(&'a Stack, &'a Declared)],
    outside: &BTreeSet<String>,
) -> Result<Vec<Ordered<'a>>, EngineError> {
    let index: BTreeMap<&str, usize> = declared
        .iter()
        .enumerate()
        .map(|(i, (_, d))| (d.urn.as_str(), i))
        .collect();
    let mut dependencies: Vec<Vec<String>> = Vec::new();
    let mut waiting_for = vec![0usize; declared.len()];
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); declared.len()];
    for (i, (_, d)) in declared.iter().enumerate() {
        let mut deps: BTreeSet<String> = referenced_urns(&d.inputs);
        deps.extend(d.depends_on.iter().cloned());
        deps.retain(|u| !outside.contains(u));
        if let Some(missing) = deps.iter().find(|u| !index.contains_key(u.as_str())) {
            return Err(EngineError::DanglingReference {
                from: d.urn.clone(),
                to: missing.clone(),
            });
        }
        deps.remove(&d.urn);
        for dep in &deps {
            dependants[index[dep.as_str()]].push(i);
        }
        waiting_for[i] = deps.len();
        dependencies.push(deps.into_iter().collect());
    }
    let mut ready: BTreeSet<usize> = (0..declared.len()).filter(|&i| waiting_for[i] == 0).collect();
    let mut order = Vec::with_capacity(declared.len());
    while let Some(i) = ready.pop_first() {
        for &dependant in &dependants[i] {
            waiting_for[dependant] -= 1;
            if waiting_for[dependant] == 0 {
                ready.insert(dependant);
            }
        }
        order.push((declared[i].0, declared[i].1, dependencies[i].clone()));
    }
    if order.len() < declared.len() {
        let circle: Vec<&str> = (0..declared.len())
            .filter(|&i| waiting_for[i] > 0)
            .map(|i| declared[i].1.urn.as_str())
            .collect();
        return Err(EngineError::Cycle(circle.join(" -> ")));
    }
    Ok(order)
}

/// The engine over the stacks of one program, some of them selected.
#[derive(Debug)]
pub struct Engine {
    /// Every stack the program declares.
    all: Vec<Stack>,
    /// The selected ones: planned, applied, refreshed. The others are only read from state.
    stacks: Vec<Stack>,
    store: StateStore,
    parallel: usize,
}

impl Engine {
    /// An engine for `stacks` (all selected) keeping state in `store`.
    pub fn new(stacks: Vec<Stack>, store: StateStore) -> Self {
        Self {
            all: stacks.clone(),
            stacks,
            store,
            parallel: 16,
        }
    }

    /// Selects the stacks named `names`; the others are never changed, and references into them
    /// are read from their state's outputs (as Pulumi's stack references are). `None` selects all.
    pub fn select(mut self, names: Option<&[String]>) -> Self {
        if let Some(names) = names {
            self.stacks = self.all.iter().filter(|s| names.contains(&s.name)).cloned().collect();
        }
        self
    }

    /// At most `parallel` operations at once (at least one).
    pub fn parallel(mut self, parallel: usize) -> Self {
        self.parallel = parallel.max(1);
        self
    }

    /// The selected stacks.
    pub fn stacks(&self) -> &[Stack] {
        &self.stacks
    }

    /// The state store.
    pub fn store(&self) -> &StateStore {
        &self.store
    }

    fn stack(&self, name: &str) -> Result<&Stack, EngineError> {
        self.stacks
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| EngineError::UnknownStack(name.to_string()))
    }

    /// Loads the state of one stack. Its resources live in one region: a stack whose account now
    /// names another region is refused (its resources would be planned against the wrong region's
    /// provider, never replaced).
    fn load(&self, stack: &Stack) -> Result<StackState, EngineError> {
        let mut state = self
            .store
            .load(&stack.project, &stack.name, &stack.account.account_id)?;
        if state.region.is_empty() {
            state.region = stack.account.region.clone();
        } else if state.region != stack.account.region {
            return Err(EngineError::MovedRegion {
                stack: stack.name.clone(),
                from: state.region,
                to: stack.account.region.clone(),
            });
        }
        Ok(state)
    }

    /// Loads every selected stack's state.
    pub fn load_states(&self) -> Result<BTreeMap<String, StackState>, EngineError> {
        self.stacks
            .iter()
            .map(|stack| Ok((stack.name.clone(), self.load(stack)?)))
            .collect()
    }

    /// Locks every selected stack for an update; the locks are held until dropped.
    pub fn lock(&self) -> Result<Vec<StackLock>, EngineError> {
        self.stacks
            .iter()
            .map(|s| self.store.lock(&s.project, &s.name).map_err(EngineError::from))
            .collect()
    }

    /// The dependency graph: each declared URN and the URNs it needs first.
    pub fn graph(&self) -> Result<Vec<(String, Vec<String>)>, EngineError> {
        let declared: Vec<(&Stack, &Declared)> = self
            .all
            .iter()
            .flat_map(|s| s.resources.iter().map(move |d| (s, d)))
            .collect();
        Ok(dependency_order(&declared, &BTreeSet::new())?
            .into_iter()
            .map(|(_, d, deps)| (d.urn.clone(), deps))
            .collect())
    }

    /// Records in each selected stack's state the guardrail rules waived for this run, with the
    /// time; earlier runs' waivers stay.
    pub fn record_waivers(&self, waived: &[String]) -> Result<(), EngineError> {
        if waived.is_empty() {
            return Ok(());
        }
        let at = now_rfc3339();
        for (_, mut state) in self.load_states()? {
            state.waivers.extend(waived.iter().map(|rule| Waiver {
                rule: rule.clone(),
                at: at.clone(),
            }));
            self.store.save(&state)?;
        }
        Ok(())
    }
}
