//! The plan's vocabulary: what would happen to each resource, across every selected stack. The
//! engine makes plans and applies them; the guardrails and the renderer only read them.

use std::collections::{BTreeMap, BTreeSet};

use palisade_provider_kit::diff::DiffKind;
use palisade_provider_kit::resource::CheckFailure;
use palisade_provider_kit::value::PropertyMap;

use crate::guardrails::Finding;
use crate::state::{to_wire_json, ResourceState};

/// What would happen to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
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

impl Operation {
    /// The symbol previews and progress lines show (`+`, `~`, `+-`, `-`).
    pub fn symbol(self) -> &'static str {
        match self {
            Operation::Create => "+",
            Operation::Update => "~",
            Operation::Replace => "+-",
            Operation::Delete => "-",
            Operation::Same => " ",
        }
    }

    /// The verb while it runs (`creating`).
    pub fn doing(self) -> &'static str {
        match self {
            Operation::Create => "creating",
            Operation::Update => "updating",
            Operation::Replace => "replacing",
            Operation::Delete => "deleting",
            Operation::Same => "unchanged",
        }
    }

    /// The verb once done (`created`).
    pub fn done(self) -> &'static str {
        match self {
            Operation::Create => "created",
            Operation::Update => "updated",
            Operation::Replace => "replaced",
            Operation::Delete => "deleted",
            Operation::Same => "unchanged",
        }
    }

    /// The name in JSON and journals (`create`).
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Replace => "replace",
            Operation::Delete => "delete",
            Operation::Same => "same",
        }
    }

    /// How much an operation can destroy: nothing, an in-place change, or the resource itself.
    /// Apply never does something worse than the preview showed.
    pub fn severity(self) -> u8 {
        match self {
            Operation::Same => 0,
            Operation::Create | Operation::Update => 1,
            Operation::Replace | Operation::Delete => 2,
        }
    }
}

/// The Pulumi name of a property change (`UPDATE_REPLACE`), as previews and JSON show it.
pub fn diff_kind_name(kind: DiffKind) -> &'static str {
    match kind {
        DiffKind::Add => "ADD",
        DiffKind::AddReplace => "ADD_REPLACE",
        DiffKind::Delete => "DELETE",
        DiffKind::DeleteReplace => "DELETE_REPLACE",
        DiffKind::Update => "UPDATE",
        DiffKind::UpdateReplace => "UPDATE_REPLACE",
    }
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
    /// Changed properties and how.
    pub diff: BTreeMap<String, DiffKind>,
    /// The old resource goes before the new one is made.
    pub delete_before_replace: bool,
    /// URNs this resource needs first.
    pub dependencies: Vec<String>,
    /// Refuse to delete.
    pub protect: bool,
    /// For a replace or delete of a resource that holds data: what would be lost. Apply refuses
    /// such a step unless the run names it (`--allow-replace`).
    pub data_loss: Option<String>,
    /// What the kind holds, if it holds data and the declaration did not opt out (kept in state).
    pub holds_data: Option<String>,
    /// Why it cannot be applied, if so.
    pub failures: Vec<CheckFailure>,
}

impl Step {
    /// `Kind name`, as progress lines show a step (`Bucket models`).
    pub fn label(&self) -> String {
        format!("{} {}", self.kind(), self.name)
    }

    /// The kind's short name (`Bucket`).
    pub fn kind(&self) -> &str {
        self.token.rsplit(':').next().unwrap_or_default()
    }

    /// Whether `names` (logical names, `Kind name` labels or URNs) name this step.
    pub fn named_by(&self, names: &[String]) -> bool {
        names.iter().any(|n| {
            *n == self.name || *n == self.urn || *n == self.label() || *n == format!("{}/{}", self.stack, self.name)
        })
    }

    /// The state of this step's resource once written with `id`, `inputs` and `outputs`.
    pub fn written(&self, id: String, inputs: &PropertyMap, outputs: &PropertyMap) -> ResourceState {
        ResourceState {
            urn: self.urn.clone(),
            token: self.token.clone(),
            package: self.package.clone(),
            id,
            inputs: to_wire_json(inputs),
            outputs: to_wire_json(outputs),
            dependencies: self.dependencies.clone(),
            protect: self.protect,
            holds_data: self.holds_data.clone(),
        }
    }

    /// A delete of `old` in `stack` (no longer declared, or a replaced generation).
    pub fn delete(stack: &str, old: &ResourceState) -> Step {
        Step {
            stack: stack.to_string(),
            urn: old.urn.clone(),
            token: old.token.clone(),
            name: old.urn.rsplit("::").next().unwrap_or_default().to_string(),
            package: old.package.clone(),
            operation: Operation::Delete,
            declared: None,
            inputs: old.input_map(),
            old: Some(old.clone()),
            diff: BTreeMap::new(),
            delete_before_replace: false,
            dependencies: old.dependencies.clone(),
            protect: old.protect,
            data_loss: old.holds_data.clone(),
            holds_data: old.holds_data.clone(),
            failures: Vec::new(),
        }
    }
}

/// How a run names `steps` for `--allow-replace`: the logical name where it is unique among them,
/// else `stack/name`; each once.
pub fn allow_names(steps: &[&Step]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for step in steps {
        let clashes = steps
            .iter()
            .filter(|s| s.name == step.name && s.stack != step.stack)
            .count()
            > 0;
        let name = if clashes {
            format!("{}/{}", step.stack, step.name)
        } else {
            step.name.clone()
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
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
    /// What the journal of an interrupted earlier run said, and how it was resolved.
    pub recovered: Vec<String>,
    /// Resources an interrupted earlier run created and the providers found again: (stack, the
    /// resource). Apply records them in the state before anything else.
    pub adopted: Vec<(String, ResourceState)>,
}

impl Plan {
    /// Every refused step and why.
    pub fn failures(&self) -> impl Iterator<Item = (&Step, &CheckFailure)> {
        self.steps
            .iter()
            .flat_map(|step| step.failures.iter().map(move |f| (step, f)))
    }

    /// Steps that would destroy data (a replace or delete of a resource that holds it).
    pub fn data_loss(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.data_loss.is_some())
    }

    /// Step counts per operation.
    pub fn counts(&self) -> BTreeMap<Operation, usize> {
        let mut counts = BTreeMap::new();
        for step in &self.steps {
            *counts.entry(step.operation).or_default() += 1;
        }
        counts
    }

    /// Whether applying would change anything. Adopting what an interrupted run created counts:
    /// only apply records it in the state, so a plan with nothing else to do must still be applied.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.operation != Operation::Same)
            || !self.leftovers.is_empty()
            || !self.adopted.is_empty()
    }

    /// Splits the plan for a staged rollout into the steps to apply now and those held back: the
    /// steps `hold` selects and every step that depends on one of them, directly or not, and the
    /// deletes of whatever a held delete depends on. Findings and leftovers go with the part
    /// applied now, since the guardrails judged the whole plan.
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
            recovered: self.recovered.clone(),
            adopted: self.adopted.clone(),
        };
        let later = Plan {
            stacks: self.stacks.clone(),
            steps: later,
            ..Plan::default()
        };
        (now, later)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_that_only_adopts_has_changes() {
        // Killed right after the last create of a stack (issue #14's crash test): the next run
        // finds the resource and has nothing else to do there; unless this counts as a change,
        // nothing applies it and the state never records the resource.
        let mut plan = Plan::default();
        assert!(!plan.has_changes());
        plan.adopted.push((
            "staging".to_string(),
            ResourceState {
                urn: "urn:pulumi:staging::mlops::palisade-deploy:index:Endpoint::endpoint".to_string(),
                id: "mlops-staging".to_string(),
                ..ResourceState::default()
            },
        ));
        assert!(plan.has_changes());
    }
}
