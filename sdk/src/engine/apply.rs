//! Applying a plan: in dependency order, up to `parallel` operations at once; a failure stops only
//! its dependants. Before each step its inputs are resolved with the outputs known by then, checked
//! and diffed again: apply does what the preview showed or less, never more. State is written after
//! every operation, and an error of the scheduler itself lets running operations finish and records
//! them before it is reported.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::time::{Duration, Instant};

use palisade_provider_kit::value::PropertyMap;
use tokio::task::JoinSet;

use super::{seed, Engine, EngineError};
use crate::host::Hosts;
use crate::plan::{diff_kind_name, Operation, Plan, Step};
use crate::progress::{Event, Observer, Outcome as Ended, PlainLines};
use crate::provider::{CallError, ProviderClient, Subject};
use crate::reference::resolve;
use crate::state::{to_wire_json, PendingOperation, ResourceState, StackState};

/// What a run allows beyond the plan's own safety rules.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    /// Resources that hold data which the run may replace or delete, by logical name, `Kind name`,
    /// `stack/name` or URN (`--allow-replace`).
    pub allow_data_loss: Vec<String>,
    /// Every replace or delete of data is allowed (a `destroy` the user confirmed).
    pub allow_all_data_loss: bool,
}

impl ApplyOptions {
    fn allows(&self, step: &Step) -> bool {
        self.allow_all_data_loss || step.named_by(&self.allow_data_loss)
    }
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
    /// URNs whose step turned out to have nothing to do once its inputs were known.
    pub unchanged: Vec<String>,
    /// URNs applied as a lesser operation than planned (a planned replace that became an update).
    pub downgraded: Vec<(String, Operation, Operation)>,
    /// How long each operation that ran took, in seconds.
    pub seconds: HashMap<String, f64>,
}

impl ApplyReport {
    /// Whether everything succeeded.
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }

    /// The dependency graph's critical path in this run: the chain of steps, each needing the one
    /// before, whose measured durations add up to the most. No schedule can finish sooner, so the
    /// wall time of an apply divided by this says how well it used the graph's parallelism.
    /// Returns the seconds and the chain's URNs, first to last.
    pub fn critical_path(&self, plan: &Plan) -> (f64, Vec<String>) {
        let mut longest: HashMap<&str, (f64, Option<&str>)> = HashMap::new();
        // Steps come in dependency order (deletes after, in reverse order; they are measured alike).
        for step in &plan.steps {
            let own = self.seconds.get(&step.urn).copied().unwrap_or(0.0);
            let before = step
                .dependencies
                .iter()
                .filter_map(|d| longest.get(d.as_str()).map(|(t, _)| (*t, d.as_str())))
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let (start, previous) = before.map_or((0.0, None), |(t, d)| (t, Some(d)));
            longest.insert(&step.urn, (start + own, previous));
        }
        let Some((end, (total, _))) = longest.iter().max_by(|a, b| a.1 .0.total_cmp(&b.1 .0)) else {
            return (0.0, Vec::new());
        };
        let mut chain = vec![end.to_string()];
        let mut at = longest.get(end).and_then(|(_, p)| *p);
        while let Some(urn) = at {
            chain.push(urn.to_string());
            at = longest.get(urn).and_then(|(_, p)| *p);
        }
        chain.reverse();
        (*total, chain)
    }
}

/// What applying a step produced.
enum Outcome {
    /// The resource now exists with these inputs and outputs.
    Written {
        id: String,
        inputs: PropertyMap,
        outputs: PropertyMap,
        /// What was actually done.
        done: Operation,
    },
    /// Nothing needed doing after all.
    Unchanged,
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

/// Why a step did not apply.
#[derive(Debug, thiserror::Error)]
enum StepError {
    /// A provider call failed.
    #[error("{}", .0.status.message())]
    Call(#[from] CallError),
    /// Check refused the inputs known now.
    #[error("{0}")]
    Refused(String),
    /// Applying it now would do more than the preview showed.
    #[error("{0}")]
    Exceeds(String),
}

impl Engine {
    /// Applies `plan` with the default options: nothing that holds data is replaced or deleted.
    /// Progress goes to `progress`.
    pub async fn apply(
        &self,
        plan: &Plan,
        hosts: &Hosts,
        progress: &mut (dyn Write + Send),
    ) -> Result<ApplyReport, EngineError> {
        self.apply_with(plan, hosts, &ApplyOptions::default(), progress).await
    }

    /// Applies `plan` with `options`, writing a plain progress line per event to `progress`.
    pub async fn apply_with(
        &self,
        plan: &Plan,
        hosts: &Hosts,
        options: &ApplyOptions,
        progress: &mut (dyn Write + Send),
    ) -> Result<ApplyReport, EngineError> {
        self.apply_observed(plan, hosts, options, &mut PlainLines(progress))
            .await
    }

    /// Applies `plan`: in dependency order, up to `parallel` at once; a failure stops only its
    /// dependants. A step that would replace or delete data the options do not allow refuses the
    /// whole plan before anything runs. State is written after every operation. Each operation's
    /// start and end goes to `progress`.
    pub async fn apply_observed(
        &self,
        plan: &Plan,
        hosts: &Hosts,
        options: &ApplyOptions,
        progress: &mut dyn Observer,
    ) -> Result<ApplyReport, EngineError> {
        let refused: Vec<&Step> = plan.data_loss().filter(|s| !options.allows(s)).collect();
        if !refused.is_empty() {
            return Err(EngineError::DataLoss {
                steps: refused
                    .iter()
                    .map(|s| {
                        format!(
                            "{} {} {} ({}: {})",
                            s.stack,
                            s.operation.name(),
                            s.label(),
                            s.name,
                            s.data_loss.as_deref().unwrap_or_default()
                        )
                    })
                    .collect(),
                names: crate::plan::allow_names(&refused),
            });
        }
        let mut states = self.load_states()?;
        for (stack, adopted) in &plan.adopted {
            if let Some(state) = states.get_mut(stack) {
                state.upsert(adopted.clone());
                state.pending.retain(|p| p.urn != adopted.urn || p.replaced.is_some());
                self.store.save(state)?;
            }
        }
        let mut run = Run {
            outputs: states
                .values()
                .flat_map(|s| s.resources.iter().map(|r| (r.urn.clone(), r.output_map())))
                .collect(),
            states,
            report: ApplyReport::default(),
            finished: HashMap::new(),
        };
        // References into stacks that are not selected read those stacks' state.
        for stack in self
            .all
            .iter()
            .filter(|s| !self.stacks.iter().any(|t| t.name == s.name))
        {
            for resource in self.load(stack)?.resources {
                run.outputs.insert(resource.urn.clone(), resource.output_map());
            }
        }
        // Steps still to finish per account and provider: at zero, its plugin may stop.
        let mut remaining: HashMap<(String, String), usize> = HashMap::new();
        for step in plan.steps.iter().filter(|s| s.operation != Operation::Same) {
            let stack = self.stack(&step.stack)?;
            *remaining
                .entry((stack.account.name.clone(), step.package.clone()))
                .or_default() += 1;
        }
        let mut started: BTreeSet<String> = BTreeSet::new();
        let in_plan: BTreeSet<&str> = plan.steps.iter().map(|s| s.urn.as_str()).collect();
        // Replaced resources, deleted last: those an earlier run left, then this run's.
        let mut replaced: Vec<(String, ResourceState)> = plan.leftovers.iter().rev().cloned().collect();
        let mut running: JoinSet<(usize, Instant, Result<Outcome, StepError>)> = JoinSet::new();
        let mut cleaned_up = false;
        // An error of the scheduler itself (state cannot be written): nothing new starts, what
        // runs finishes and is recorded, then the error is reported.
        let mut fatal: Option<EngineError> = None;

        loop {
            if fatal.is_none() {
                for (index, step) in plan.steps.iter().enumerate() {
                    if running.len() >= self.parallel || started.contains(&step.urn) {
                        continue;
                    }
                    // Deletes come last, once everything else has moved off what they delete.
                    if step.operation == Operation::Delete && !cleaned_up {
                        continue;
                    }
                    let blockers = blockers(plan, step, &in_plan);
                    if blockers.iter().any(|u| !run.finished.contains_key(u)) {
                        continue;
                    }
                    started.insert(step.urn.clone());
                    if let Some(failed) = blockers.iter().find(|u| run.finished.get(*u) == Some(&false)) {
                        run.finished.insert(step.urn.clone(), false);
                        run.report.skipped.push((step.urn.clone(), format!("{failed} failed")));
                        progress.observe(&Event::finished(
                            step,
                            step.operation,
                            Duration::ZERO,
                            Ended::Skipped(format!("{failed} failed")),
                        ));
                        continue;
                    }
                    if !step.failures.is_empty() {
                        run.finished.insert(step.urn.clone(), false);
                        let reasons: Vec<String> = step.failures.iter().map(ToString::to_string).collect();
                        run.report.failed.push((step.urn.clone(), reasons.join("; ")));
                        continue;
                    }
                    if step.operation == Operation::Same {
                        run.finished.insert(step.urn.clone(), true);
                        continue;
                    }
                    let client = match self.stack(&step.stack) {
                        Ok(stack) => hosts.client(&stack.account, &step.package).await,
                        Err(error) => {
                            fatal = Some(error);
                            break;
                        }
                    };
                    let client = match client {
                        Ok(client) => client,
                        Err(error) => {
                            run.finished.insert(step.urn.clone(), false);
                            progress.observe(&Event::finished(
                                step,
                                step.operation,
                                Duration::ZERO,
                                Ended::Failed(error.to_string()),
                            ));
                            run.report.failed.push((step.urn.clone(), error.to_string()));
                            continue;
                        }
                    };
                    let lookup =
                        |urn: &str, property: &str| run.outputs.get(urn).and_then(|o| o.get(property).cloned());
                    let resolved = step.declared.as_ref().map(|d| resolve(d, &lookup));
                    if let Err(error) = self.journal(
                        &mut run.states,
                        step,
                        PendingOperation {
                            urn: step.urn.clone(),
                            operation: step.operation.name().to_string(),
                            replaced: None,
                            inputs: (step.operation == Operation::Create).then(|| to_wire_json(&step.inputs)),
                        },
                    ) {
                        fatal = Some(error);
                        break;
                    }
                    let job = Job {
                        client,
                        step: step.clone(),
                        resolved: resolved.unwrap_or_default(),
                    };
                    progress.observe(&Event::started(step));
                    running.spawn(async move {
                        let started = Instant::now();
                        (index, started, job.run().await)
                    });
                }
            }
            let Some(joined) = running.join_next().await else {
                if cleaned_up || fatal.is_some() {
                    break;
                }
                if let Err(error) = self
                    .delete_replaced(plan, hosts, &mut run, &mut replaced, progress)
                    .await
                {
                    fatal = Some(error);
                }
                cleaned_up = true;
                continue;
            };
            let (index, began, result) = match joined {
                Ok(joined) => joined,
                Err(error) => {
                    fatal.get_or_insert(EngineError::Task(error.to_string()));
                    continue;
                }
            };
            let step = &plan.steps[index];
            if let Err(error) = run.record(step, began, result, &mut replaced, progress) {
                fatal.get_or_insert(error);
            }
            if let Ok(stack) = self.stack(&step.stack) {
                let key = (stack.account.name.clone(), step.package.clone());
                if let Some(left) = remaining.get_mut(&key) {
                    *left = left.saturating_sub(1);
                    if *left == 0 && fatal.is_none() {
                        hosts.done_with(&key.0, &key.1).await;
                    }
                }
            }
            if let Some(state) = run.states.get(&step.stack) {
                if let Err(error) = self.store.save(state) {
                    fatal.get_or_insert(error.into());
                }
            }
        }
        match fatal {
            Some(error) => Err(error),
            None => Ok(run.report),
        }
    }

    /// Journals `entry` in the stack's state and writes it, before the operation starts.
    fn journal(
        &self,
        states: &mut BTreeMap<String, StackState>,
        step: &Step,
        entry: PendingOperation,
    ) -> Result<(), EngineError> {
        let state = states
            .get_mut(&step.stack)
            .ok_or_else(|| EngineError::UnknownStack(step.stack.clone()))?;
        state.pending.push(entry);
        self.store.save(state)?;
        Ok(())
    }

    /// Deletes replaced resources (this run's and those earlier runs left), dependants first, once
    /// everything that used them has moved to the replacement. One that something may still use (a
    /// dependant failed, was skipped, is held, or is itself still to be deleted) stays journalled,
    /// and a later run deletes it.
    async fn delete_replaced(
        &self,
        plan: &Plan,
        hosts: &Hosts,
        run: &mut Run,
        replaced: &mut Vec<(String, ResourceState)>,
        progress: &mut dyn Observer,
    ) -> Result<(), EngineError> {
        let in_plan: BTreeSet<&str> = plan.steps.iter().map(|s| s.urn.as_str()).collect();
        for (stack_name, old) in std::mem::take(replaced).into_iter().rev() {
            // A dependant this plan deletes has not gone yet (deletes come after this), and it may
            // still use the old generation: that one waits for a later run.
            let still_used = run.states.values().flat_map(|s| s.resources.iter()).any(|r| {
                r.dependencies.contains(&old.urn)
                    && (!in_plan.contains(r.urn.as_str()) || run.finished.get(&r.urn) != Some(&true))
            });
            let dependant_failed = plan.steps.iter().any(|s| {
                s.operation != Operation::Delete
                    && s.dependencies.contains(&old.urn)
                    && run.finished.get(&s.urn) != Some(&true)
            });
            if still_used || dependant_failed {
                progress.observe(&Event::Note(format!(
                    "{stack_name}  - {}  replaced resource {} kept: something may still use it; a later run deletes it",
                    old.urn, old.id
                )));
                continue;
            }
            let stack = self.stack(&stack_name)?;
            let marker = format!("delete-replaced {}", old.id);
            let result = match hosts.client(&stack.account, &old.package).await {
                Ok(client) => delete(&client, &old).await.map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            let state = run
                .states
                .get_mut(&stack_name)
                .ok_or_else(|| EngineError::UnknownStack(stack_name.clone()))?;
            match result {
                Ok(()) => {
                    state.pending.retain(|p| !(p.urn == old.urn && p.operation == marker));
                    progress.observe(&Event::Note(format!(
                        "{stack_name}  - {}  replaced resource deleted",
                        old.urn
                    )));
                }
                Err(reason) => {
                    let reason = format!("deleting the replaced {}: {reason}", old.id);
                    progress.observe(&Event::Note(format!("{stack_name}  - {}  failed: {reason}", old.urn)));
                    run.report.failed.push((old.urn.clone(), reason));
                }
            }
            self.store.save(state)?;
        }
        Ok(())
    }
}

/// The URNs that must finish before `step`: its dependencies (for deletes: its dependants, which
/// must go first).
fn blockers(plan: &Plan, step: &Step, in_plan: &BTreeSet<&str>) -> Vec<String> {
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

/// The bookkeeping of one apply.
struct Run {
    states: BTreeMap<String, StackState>,
    outputs: HashMap<String, PropertyMap>,
    report: ApplyReport,
    /// Finished steps and whether they succeeded.
    finished: HashMap<String, bool>,
}

impl Run {
    /// Records a finished step in the state, the outputs and the report.
    fn record(
        &mut self,
        step: &Step,
        began: Instant,
        result: Result<Outcome, StepError>,
        replaced: &mut Vec<(String, ResourceState)>,
        progress: &mut dyn Observer,
    ) -> Result<(), EngineError> {
        let state = self
            .states
            .get_mut(&step.stack)
            .ok_or_else(|| EngineError::UnknownStack(step.stack.clone()))?;
        // The step's own entry ends; an earlier run's replaced resource stays journalled.
        state.pending.retain(|p| p.urn != step.urn || p.replaced.is_some());
        let elapsed = began.elapsed();
        self.report.seconds.insert(step.urn.clone(), elapsed.as_secs_f64());
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => {
                self.finished.insert(step.urn.clone(), false);
                progress.observe(&Event::finished(
                    step,
                    step.operation,
                    elapsed,
                    Ended::Failed(error.to_string()),
                ));
                self.report.failed.push((step.urn.clone(), error.to_string()));
                return Ok(());
            }
        };
        let done = match outcome {
            Outcome::Deleted => {
                state.remove(&step.urn);
                self.outputs.remove(&step.urn);
                Operation::Delete
            }
            Outcome::Unchanged => {
                self.report.unchanged.push(step.urn.clone());
                Operation::Same
            }
            Outcome::Replaced {
                id,
                inputs,
                outputs,
                old,
            } => {
                state.pending.push(PendingOperation {
                    urn: step.urn.clone(),
                    operation: format!("delete-replaced {}", old.id),
                    replaced: Some((*old).clone()),
                    inputs: None,
                });
                state.upsert(step.written(id, &inputs, &outputs));
                self.outputs.insert(step.urn.clone(), outputs);
                replaced.push((step.stack.clone(), *old));
                Operation::Replace
            }
            Outcome::Written {
                id,
                inputs,
                outputs,
                done,
            } => {
                state.upsert(step.written(id, &inputs, &outputs));
                self.outputs.insert(step.urn.clone(), outputs);
                done
            }
        };
        if done != step.operation {
            self.report.downgraded.push((step.urn.clone(), step.operation, done));
        }
        self.finished.insert(step.urn.clone(), true);
        self.report.done.push(step.urn.clone());
        progress.observe(&Event::finished(step, done, elapsed, Ended::Done));
        if done != step.operation {
            progress.observe(&Event::Note(format!(
                "{}  {} {}  planned to be {}; with the values known now, {} was enough",
                step.stack,
                done.symbol(),
                step.label(),
                step.operation.done(),
                if done == Operation::Same {
                    "nothing"
                } else {
                    done.name()
                }
            )));
        }
        Ok(())
    }
}

/// Deletes `old`; one already gone counts as deleted.
async fn delete(client: &ProviderClient, old: &ResourceState) -> Result<(), CallError> {
    let name = old.urn.rsplit("::").next().unwrap_or_default();
    client
        .delete(
            Subject {
                urn: &old.urn,
                name,
                token: &old.token,
            },
            &old.id,
            &old.output_map(),
            &old.input_map(),
        )
        .await
}

/// One step, ready to run on its own task.
struct Job {
    client: ProviderClient,
    step: Step,
    /// The declared inputs with every reference resolved to what is known now.
    resolved: PropertyMap,
}

impl Job {
    fn subject(&self) -> Subject<'_> {
        Subject {
            urn: &self.step.urn,
            name: &self.step.name,
            token: &self.step.token,
        }
    }

    async fn run(self) -> Result<Outcome, StepError> {
        match self.step.operation {
            Operation::Delete => {
                let old = self
                    .step
                    .old
                    .as_ref()
                    .ok_or(StepError::Refused("nothing to delete".into()))?;
                delete(&self.client, old).await?;
                Ok(Outcome::Deleted)
            }
            Operation::Create => {
                let inputs = self.check(&PropertyMap::new(), "").await?;
                let created = self.client.create(self.subject(), &inputs, false).await?;
                Ok(Outcome::Written {
                    id: created.id,
                    inputs,
                    outputs: created.outputs,
                    done: Operation::Create,
                })
            }
            Operation::Update | Operation::Replace => {
                let old = self.step.old.clone().ok_or(StepError::Refused(
                    "nothing to change: the resource has no state".into(),
                ))?;
                self.change(old).await
            }
            Operation::Same => Ok(Outcome::Unchanged),
        }
    }

    /// An update or replace, decided again with the inputs known now. It may turn out to be less
    /// than planned (a replace that is now an update, or nothing); never more.
    async fn change(self, old: ResourceState) -> Result<Outcome, StepError> {
        let inputs = self.check(&old.input_map(), "").await?;
        let diff = self
            .client
            .diff(self.subject(), &old.id, &old.output_map(), &old.input_map(), &inputs)
            .await?;
        let now = if !diff.changed {
            Operation::Same
        } else if diff.replaces() {
            Operation::Replace
        } else {
            Operation::Update
        };
        let planned = self.step.operation;
        let deletes_first_now =
            now == Operation::Replace && diff.delete_before_replace && !self.step.delete_before_replace;
        if now.severity() > planned.severity() || deletes_first_now {
            let changed: Vec<String> = diff
                .detailed
                .iter()
                .map(|(p, k)| format!("{p} ({})", diff_kind_name(*k)))
                .collect();
            let what = if deletes_first_now {
                "delete it before creating its replacement".to_string()
            } else {
                format!("{} it", now.name())
            };
            return Err(StepError::Exceeds(format!(
                "with the values known now this would {what} (changes: {}), which the preview did not show; nothing was changed: run preview again and review the new plan",
                changed.join(", ")
            )));
        }
        match now {
            Operation::Same => Ok(Outcome::Unchanged),
            Operation::Update => {
                let updated = self
                    .client
                    .update(self.subject(), &old.id, &old.output_map(), &old.input_map(), &inputs)
                    .await?;
                Ok(Outcome::Written {
                    id: old.id,
                    inputs,
                    outputs: updated.outputs,
                    done: Operation::Update,
                })
            }
            _ if diff.delete_before_replace => {
                delete(&self.client, &old).await?;
                let created = self.client.create(self.subject(), &inputs, false).await?;
                Ok(Outcome::Written {
                    id: created.id,
                    inputs,
                    outputs: created.outputs,
                    done: Operation::Replace,
                })
            }
            _ => {
                // A fresh check without the old inputs, so that auto-names are chosen anew.
                let inputs = self.check(&PropertyMap::new(), &old.id).await?;
                let created = self.client.create(self.subject(), &inputs, false).await?;
                // The old one goes only after everything that uses it has moved to the new one.
                Ok(Outcome::Replaced {
                    id: created.id,
                    inputs,
                    outputs: created.outputs,
                    old: Box::new(old),
                })
            }
        }
    }

    /// Checks the resolved inputs against `olds`; every input must be known by now.
    async fn check(&self, olds: &PropertyMap, generation: &str) -> Result<PropertyMap, StepError> {
        let checked = self
            .client
            .check(self.subject(), olds, &self.resolved, seed(&self.step.urn, generation))
            .await?;
        if !checked.failures.is_empty() {
            let reasons: Vec<String> = checked.failures.iter().map(ToString::to_string).collect();
            return Err(StepError::Refused(reasons.join("; ")));
        }
        if let Some((property, _)) = checked.inputs.iter().find(|(_, v)| !v.is_known()) {
            return Err(StepError::Refused(format!(
                "input `{property}` is still unknown after its dependencies were applied"
            )));
        }
        Ok(checked.inputs)
    }
}
