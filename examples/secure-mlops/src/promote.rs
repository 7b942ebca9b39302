//! The release flow: one preview across every account, then everything except the gated stages'
//! release, a smoke test that invokes each smoke-tested endpoint, and the gated stages (prod) only
//! after an explicit approval.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};

use palisade::engine::{ApplyReport, Step};
use palisade::render::write_plan;
use palisade::{guardrails, Engine, Hosts, Operation, Plan, StateStore};
use serde_json::json;

use crate::config::Config;
use crate::environment::{declare, Environment, Release};

/// The function that finds dev's newest approved model package.
pub const LATEST_APPROVED: &str = "palisade-deploy:index:getLatestApprovedModelPackage";
/// The function that invokes an endpoint.
pub const INVOKE_ENDPOINT: &str = "palisade-deploy:index:invokeEndpoint";
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
}

/// What a deployment did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Whether every step that ran succeeded.
    pub ok: bool,
    /// Smoke tests run: stage, endpoint, the answer.
    pub smoke_tests: Vec<(String, String, String)>,
    /// The stages promoted in this run (or already current).
    pub promoted: Vec<String>,
    /// The stages waiting for approval.
    pub awaiting_approval: Vec<String>,
}

/// Finds the release: dev's newest approved package, or (in an environment that has none yet) the
/// package dev registers in this run.
pub async fn find_release(config: &Config, hosts: &Hosts) -> Result<Release, String> {
    let group = format!("{}-models", config.environment);
    match hosts
        .invoke(
            &config.dev_account(),
            LATEST_APPROVED,
            &json!({"modelPackageGroupName": group}),
        )
        .await
    {
        Ok(found) => match found["modelPackageArn"].as_str() {
            Some(arn) => Ok(Release::Approved(arn.to_string())),
            None => Err(format!("{LATEST_APPROVED} answered without a modelPackageArn: {found}")),
        },
        Err(error) if error.is_not_found() => Ok(Release::Registered),
        Err(error) => Err(format!("finding the release to deploy: {error}")),
    }
}

/// The steps held for approval: changes of the release resources in stages that require it.
fn gated(config: &Config, step: &Step) -> bool {
    let requires_approval = config
        .targets
        .iter()
        .any(|t| t.name == step.stack && t.requires_approval);
    requires_approval && step.package == "palisade-deploy" && step.operation != Operation::Same
}

fn io(error: std::io::Error) -> String {
    error.to_string()
}

/// Runs the whole flow with state in `store`, writing to `out`.
pub async fn deploy(
    config: &Config,
    store: StateStore,
    hosts: &Hosts,
    options: &Options,
    out: &mut (dyn Write + Send),
) -> Result<Outcome, String> {
    let release = find_release(config, hosts).await?;
    match &release {
        Release::Approved(arn) => writeln!(out, "Release: {arn} (newest approved in dev)").map_err(io)?,
        Release::Registered => writeln!(
            out,
            "Release: the model package dev registers in this run (none approved yet)"
        )
        .map_err(io)?,
    }
    let Environment { stacks, endpoints, .. } = declare(config, &release).map_err(|e| e.to_string())?;
    let engine = Engine::new(stacks, store);
    let _locks = engine.lock().map_err(|e| e.to_string())?;

    let plan = engine.plan(hosts, false).await.map_err(|e| e.to_string())?;
    writeln!(out).map_err(io)?;
    write_plan(out, &plan).map_err(io)?;
    if plan.failures().next().is_some() {
        writeln!(out, "\nNothing was applied: fix the errors above first.").map_err(io)?;
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
        )
        .map_err(io)?;
        return Ok(Outcome::default());
    }

    let (now, held) = plan.hold(|step| gated(config, step));
    let mut outcome = Outcome {
        ok: true,
        ..Outcome::default()
    };
    if now.has_changes() {
        if !options.yes && !ask(out, "\nApply the changes above (all but the gated promotions)?")? {
            writeln!(out, "Nothing was applied (pass --yes to apply without asking).").map_err(io)?;
            return Ok(Outcome::default());
        }
        engine.record_waivers(&options.waive).map_err(|e| e.to_string())?;
        writeln!(out, "\n== Applying").map_err(io)?;
        let report = engine.apply(&now, hosts, out).await.map_err(|e| e.to_string())?;
        if !report_ok(out, &report)? {
            return Ok(Outcome::default());
        }
    }

    // The smoke tests: each smoke-tested stage must answer before anything gated goes ahead.
    for target in config.targets.iter().filter(|t| t.smoke_test) {
        let Some(endpoint) = endpoints.get(&target.name) else {
            continue;
        };
        writeln!(
            out,
            "\n== Smoke test: invoking {endpoint} in {} with a sample request",
            target.name
        )
        .map_err(io)?;
        let answer = hosts
            .invoke(
                &config.target_account(target),
                INVOKE_ENDPOINT,
                &json!({"endpointName": endpoint, "body": SAMPLE_PAYLOAD, "contentType": "application/json"}),
            )
            .await;
        match answer {
            Ok(answer) if !answer["body"].as_str().unwrap_or_default().is_empty() => {
                let body = answer["body"].as_str().unwrap_or_default().to_string();
                writeln!(out, "passed: {} answered {body}", answer["invokedProductionVariant"]).map_err(io)?;
                outcome.smoke_tests.push((target.name.clone(), endpoint.clone(), body));
            }
            Ok(answer) => {
                writeln!(
                    out,
                    "failed: the endpoint answered with an empty body ({answer}); nothing is promoted"
                )
                .map_err(io)?;
                outcome.ok = false;
                return Ok(outcome);
            }
            Err(error) => {
                writeln!(out, "failed: {error}; nothing is promoted").map_err(io)?;
                outcome.ok = false;
                return Ok(outcome);
            }
        }
    }

    // The gated stages.
    let gated_stages: BTreeSet<String> = config
        .targets
        .iter()
        .filter(|t| t.requires_approval)
        .map(|t| t.name.clone())
        .collect();
    let promotion = Plan {
        stacks: plan.stacks.clone(),
        steps: plan.steps.iter().filter(|s| held.contains(&s.urn)).cloned().collect(),
        findings: Vec::new(),
        leftovers: Vec::new(),
    };
    if promotion.steps.is_empty() {
        if !gated_stages.is_empty() {
            let stages: Vec<&str> = gated_stages.iter().map(String::as_str).collect();
            writeln!(out, "\n== {} already serves this release", stages.join(", ")).map_err(io)?;
        }
        outcome.promoted.extend(gated_stages);
        return Ok(outcome);
    }
    let stages: BTreeSet<String> = promotion.steps.iter().map(|s| s.stack.clone()).collect();
    let stages: Vec<String> = stages.into_iter().collect();
    writeln!(out, "\n== Promotion to {}", stages.join(", ")).map_err(io)?;
    for step in &promotion.steps {
        writeln!(out, "  {:?} {} ({})", step.operation, step.name, step.token).map_err(io)?;
    }
    let approved = options.approve || ask(out, &format!("Promote the release to {}?", stages.join(", ")))?;
    if !approved {
        writeln!(
            out,
            "Not promoted: run again with --approve-prod (or answer yes) to release to {}.",
            stages.join(", ")
        )
        .map_err(io)?;
        outcome.awaiting_approval = stages;
        return Ok(outcome);
    }
    let report = engine.apply(&promotion, hosts, out).await.map_err(|e| e.to_string())?;
    outcome.ok = report_ok(out, &report)?;
    if outcome.ok {
        outcome.promoted = stages;
    }
    Ok(outcome)
}

fn report_ok(out: &mut (dyn Write + Send), report: &ApplyReport) -> Result<bool, String> {
    writeln!(
        out,
        "{} applied, {} failed, {} skipped",
        report.done.len(),
        report.failed.len(),
        report.skipped.len()
    )
    .map_err(io)?;
    for (urn, reason) in &report.failed {
        writeln!(out, "  failed: {urn}: {reason}").map_err(io)?;
    }
    Ok(report.ok())
}

/// Asks on the terminal; without one, the answer is no.
fn ask(out: &mut (dyn Write + Send), question: &str) -> Result<bool, String> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    write!(out, "{question} [y/N] ").map_err(io)?;
    out.flush().map_err(io)?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(io)?;
    Ok(matches!(answer.trim(), "y" | "yes"))
}

/// A summary of what exists where, from the state.
pub fn summary(config: &Config, store: &StateStore, out: &mut (dyn Write + Send)) -> Result<(), String> {
    writeln!(out, "\n== Summary").map_err(io)?;
    let mut accounts = vec![("dev".to_string(), config.dev.account.account_id.clone())];
    accounts.extend(
        config
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.account.account_id.clone())),
    );
    for (stack, account_id) in accounts {
        let state = store.load(&stack, &account_id).map_err(|e| e.to_string())?;
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
        )
        .map_err(io)?;
        for resource in state.resources.iter().filter(|r| r.token.ends_with(":Endpoint")) {
            writeln!(
                out,
                "  endpoint {} is {} ({})",
                resource.outputs["endpointName"].as_str().unwrap_or_default(),
                resource.outputs["endpointStatus"].as_str().unwrap_or_default(),
                resource.outputs["endpointArn"].as_str().unwrap_or_default()
            )
            .map_err(io)?;
        }
    }
    Ok(())
}
