//! The release flow: one preview across every account, then everything except the gated stages'
//! changes, a smoke test that invokes each smoke-tested endpoint, and the gated stages (prod) only
//! after an explicit approval.

use std::collections::BTreeSet;
use std::io::{self, Write};

use palisade::cli::ask;
use palisade::deploy::{GetLatestApprovedModelPackage, InvokeEndpoint, InvokeEndpointArgs, LatestApprovedArgs};
use palisade::engine::{ApplyOptions, ApplyReport, EngineError, Step};
use palisade::render::write_plan;
use palisade::stack::DeclareError;
use palisade::{guardrails, Engine, Hosts, Operation, StateStore};

use crate::config::Config;
use crate::environment::{declare, Environment, Release};

/// The sample request the smoke test sends.
pub const SAMPLE_PAYLOAD: &str = r#"{"instances": [{"features": [0.42, 1.7, 3.0, 12.5]}]}"#;

/// How the user steers a deployment.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Apply without asking.
    pub yes: bool,
    /// Promote to the stages that require approval (prod) without asking.
    pub approve: bool,
    /// Guardrail rules waived by name.
    pub waive: Vec<String>,
    /// Resources holding data that this run may replace or delete, by logical name, `Kind name`,
    /// `stack/name` or URN (`--allow-replace`, repeatable).
    pub allow_replace: Vec<String>,
}

impl Options {
    /// What the engine may do beyond the plan's own safety rules.
    fn apply_options(&self) -> ApplyOptions {
        ApplyOptions {
            allow_data_loss: self.allow_replace.clone(),
            ..ApplyOptions::default()
        }
    }
}

/// One smoke test that passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmokeTest {
    /// The stage (`staging`).
    pub stage: String,
    /// The endpoint invoked.
    pub endpoint: String,
    /// What it answered.
    pub answer: String,
}

/// What a deployment did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Whether every step that ran succeeded and every smoke test passed.
    pub ok: bool,
    /// The smoke tests that passed.
    pub smoke_tests: Vec<SmokeTest>,
    /// The gated stages that serve the release after this run.
    pub promoted: Vec<String>,
    /// The gated stages waiting for approval.
    pub awaiting_approval: Vec<String>,
}

/// Why a deployment could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum PromoteError {
    /// Planning, applying or a provider call failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The environment could not be declared.
    #[error(transparent)]
    Declare(#[from] DeclareError),
    /// Writing the report failed.
    #[error("writing the report: {0}")]
    Io(#[from] io::Error),
}

/// Finds the release: dev's newest approved package; in an environment that has none yet, the
/// package dev registers in this run if the configuration approves it; otherwise none.
pub async fn find_release(config: &Config, hosts: &Hosts) -> Result<Release, PromoteError> {
    let group = config.model_package_group();
    let found = hosts
        .call::<GetLatestApprovedModelPackage>(&config.dev_account(), &LatestApprovedArgs::new(group))
        .await;
    match found {
        Ok(found) => Ok(Release::Approved(found.model_package_arn)),
        Err(error) if error.is_not_found() && config.dev.model.approval_status == "Approved" => Ok(Release::Registered),
        Err(error) if error.is_not_found() => Ok(Release::Unapproved),
        Err(error) => Err(EngineError::from(error).into()),
    }
}

/// The steps held for approval in a stage that requires it: the release (model, endpoint
/// configuration, endpoint) and anything that would replace or delete a resource serving it.
fn gated(config: &Config, step: &Step) -> bool {
    let requires_approval = config
        .targets
        .iter()
        .any(|t| t.name == step.stack && t.requires_approval);
    let release = step.package == palisade::deploy::PACKAGE;
    let destructive = matches!(step.operation, Operation::Replace | Operation::Delete);
    requires_approval && step.operation != Operation::Same && (release || destructive)
}

/// Runs the whole flow with state in `store`, writing to `out`.
pub async fn deploy(
    config: &Config,
    store: StateStore,
    hosts: &Hosts,
    options: &Options,
    out: &mut (dyn Write + Send),
) -> Result<Outcome, PromoteError> {
    let release = find_release(config, hosts).await?;
    match &release {
        Release::Approved(arn) => writeln!(out, "Release: {arn} (newest approved in dev)")?,
        Release::Registered => writeln!(out, "Release: the model package dev registers in this run")?,
        Release::Unapproved => writeln!(
            out,
            "Release: none approved yet; the targets get their network and roles, no model"
        )?,
    }
    let Environment { stacks, endpoints, .. } = declare(config, &release)?;
    let engine = Engine::new(stacks, store);
    let _locks = engine.lock()?;

    let plan = engine.plan(hosts, false).await?;
    writeln!(out)?;
    write_plan(out, &plan)?;
    if plan.failures().next().is_some() {
        writeln!(out, "\nNothing was applied: fix the errors above first.")?;
        return Ok(Outcome::default());
    }
    let blocking = guardrails::blocking(&plan.findings, &options.waive);
    if !blocking.is_empty() {
        let rules: BTreeSet<&str> = blocking.iter().map(|f| f.rule).collect();
        writeln!(
            out,
            "\nNothing was applied: the guardrails found {} error(s). Fix them, or waive rules deliberately with --waive {}",
            blocking.len(),
            rules.into_iter().collect::<Vec<_>>().join(",")
        )?;
        return Ok(Outcome::default());
    }

    let (now, promotion) = plan.hold(|step| gated(config, step));
    let mut outcome = Outcome {
        ok: true,
        ..Outcome::default()
    };
    if now.has_changes() {
        if !options.yes && !ask(out, "\nApply the changes above (all but the gated promotions)?")? {
            writeln!(out, "Nothing was applied (pass --yes to apply without asking).")?;
            return Ok(Outcome::default());
        }
        engine.record_waivers(&options.waive)?;
        writeln!(out, "\n== Applying")?;
        let report = engine.apply_with(&now, hosts, &options.apply_options(), out).await?;
        if !report_ok(out, &report)? {
            return Ok(Outcome::default());
        }
    }

    // The smoke tests: each smoke-tested stage must answer before anything gated goes ahead.
    for target in config.targets.iter().filter(|t| t.smoke_test) {
        let Some(endpoint) = endpoints.get(&target.name) else {
            writeln!(
                out,
                "\n== No smoke test in {}: no release is deployed there",
                target.name
            )?;
            continue;
        };
        writeln!(
            out,
            "\n== Smoke test: invoking {endpoint} in {} with a sample request",
            target.name
        )?;
        let request = InvokeEndpointArgs::new(endpoint, SAMPLE_PAYLOAD);
        let answer = hosts
            .call::<InvokeEndpoint>(&config.target_account(target), &request)
            .await;
        match answer {
            Ok(answer) if !answer.body.is_empty() => {
                let variant = answer.invoked_production_variant.as_deref().unwrap_or("its variant");
                writeln!(out, "passed: {variant} answered {}", answer.body)?;
                outcome.smoke_tests.push(SmokeTest {
                    stage: target.name.clone(),
                    endpoint: endpoint.clone(),
                    answer: answer.body,
                });
            }
            Ok(answer) => {
                writeln!(
                    out,
                    "failed: the endpoint answered with an empty body (status {}); nothing is promoted",
                    answer.endpoint_status
                )?;
                outcome.ok = false;
                return Ok(outcome);
            }
            Err(error) => {
                writeln!(out, "failed: {error}; nothing is promoted")?;
                outcome.ok = false;
                return Ok(outcome);
            }
        }
    }

    // The gated stages.
    let gated_stages: BTreeSet<&str> = config
        .targets
        .iter()
        .filter(|t| t.requires_approval && endpoints.contains_key(&t.name))
        .map(|t| t.name.as_str())
        .collect();
    if !promotion.has_changes() {
        if !gated_stages.is_empty() {
            let stages: Vec<&str> = gated_stages.iter().copied().collect();
            writeln!(out, "\n== {} already serves this release", stages.join(", "))?;
        }
        outcome.promoted = gated_stages.into_iter().map(str::to_string).collect();
        return Ok(outcome);
    }
    let stages: BTreeSet<String> = promotion.steps.iter().map(|s| s.stack.clone()).collect();
    let stages: Vec<String> = stages.into_iter().collect();
    writeln!(out, "\n== Promotion to {}", stages.join(", "))?;
    for step in &promotion.steps {
        writeln!(out, "  {} {} ({})", step.operation.name(), step.name, step.token)?;
    }
    let approved = options.approve || ask(out, &format!("Promote the release to {}?", stages.join(", ")))?;
    if !approved {
        writeln!(
            out,
            "Not promoted: run again with --approve-prod (or answer yes) to release to {}.",
            stages.join(", ")
        )?;
        outcome.awaiting_approval = stages;
        return Ok(outcome);
    }
    engine.record_waivers(&options.waive)?;
    let report = engine
        .apply_with(&promotion, hosts, &options.apply_options(), out)
        .await?;
    outcome.ok = report_ok(out, &report)?;
    if outcome.ok {
        outcome.promoted = stages;
    }
    Ok(outcome)
}

fn report_ok(out: &mut (dyn Write + Send), report: &ApplyReport) -> io::Result<bool> {
    writeln!(
        out,
        "{} applied, {} failed, {} skipped",
        report.done.len(),
        report.failed.len(),
        report.skipped.len()
    )?;
    for (urn, reason) in &report.failed {
        writeln!(out, "  failed: {urn}: {reason}")?;
    }
    Ok(report.ok())
}

/// A summary of what exists where, from the state.
pub fn summary(config: &Config, store: &StateStore, out: &mut (dyn Write + Send)) -> Result<(), PromoteError> {
    writeln!(out, "\n== Summary")?;
    let mut accounts = vec![("dev".to_string(), config.dev.account.account_id.clone())];
    accounts.extend(
        config
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.account.account_id.clone())),
    );
    for (stack, account_id) in accounts {
        let state = store
            .load(&config.environment, &stack, &account_id)
            .map_err(EngineError::from)?;
        let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
        for resource in &state.resources {
            *kinds
                .entry(resource.token.rsplit(':').next().unwrap_or_default())
                .or_default() += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
        writeln!(
            out,
            "{stack} (account {account_id}, {}): {} resources: {}",
            config.region,
            state.resources.len(),
            kinds.join(", ")
        )?;
        for resource in state.resources.iter().filter(|r| r.token.ends_with(":Endpoint")) {
            writeln!(
                out,
                "  endpoint {} is {} ({})",
                resource.outputs["endpointName"].as_str().unwrap_or_default(),
                resource.outputs["endpointStatus"].as_str().unwrap_or_default(),
                resource.outputs["endpointArn"].as_str().unwrap_or_default()
            )?;
        }
    }
    Ok(())
}
