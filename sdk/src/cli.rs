//! The command line of a Palisade program.
//!
//! `preview [--json]`, `up [--yes]`, `destroy [--yes]`, `refresh`, `graph [--mermaid]`,
//! `import NAME ID --stack S`, with `--stack a,b` to select stacks and `--parallel N` (default 16). State lives in `.palisade/` (or
//! `PALISADE_STATE_DIR`). Exit codes: 0 success, 1 failure, 2 usage.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use crate::engine::{Engine, Hosts};
use crate::guardrails;
use crate::render::{graph_dot, graph_mermaid, plan_json, write_plan};
use crate::stack::Stack;
use crate::state::StateStore;

const USAGE: &str =
    "usage: <program> <preview|up|destroy|refresh|graph> [--stack NAME[,NAME...]] [--yes] [--json] [--mermaid] [--parallel N] [--waive RULE[,RULE...]]\n       <program> import RESOURCE-NAME PHYSICAL-ID --stack NAME";

/// Parsed command line.
#[derive(Debug, Default, PartialEq, Eq)]
struct Args {
    command: String,
    stacks: Option<Vec<String>>,
    yes: bool,
    json: bool,
    mermaid: bool,
    parallel: Option<usize>,
    waive: Vec<String>,
    operands: Vec<String>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--stack" => {
                let names = rest
                    .next()
                    .ok_or("--stack needs a comma-separated list of stack names")?;
                parsed.stacks = Some(names.split(',').map(str::to_string).collect());
            }
            "--parallel" => {
                let n = rest.next().and_then(|n| n.parse::<usize>().ok()).filter(|n| *n > 0);
                parsed.parallel = Some(n.ok_or("--parallel needs a positive number")?);
            }
            "--waive" => {
                let rules = rest
                    .next()
                    .ok_or("--waive needs a comma-separated list of guardrail rule ids")?;
                parsed.waive.extend(rules.split(',').map(str::to_string));
            }
            "--yes" | "-y" => parsed.yes = true,
            "--json" => parsed.json = true,
            "--mermaid" => parsed.mermaid = true,
            "-h" | "--help" => parsed.command = "help".into(),
            other if parsed.command.is_empty() && !other.starts_with('-') => parsed.command = other.to_string(),
            other if parsed.command == "import" && !other.starts_with('-') => parsed.operands.push(other.to_string()),
            other => return Err(format!("unexpected argument `{other}`")),
        }
    }
    if parsed.command == "import" && parsed.operands.len() != 2 {
        return Err("import needs the declared resource's name and the physical id to adopt".into());
    }
    if parsed.command.is_empty() {
        parsed.command = "preview".into();
    }
    Ok(parsed)
}

/// Runs the command on the command line over `stacks`; returns the process exit code.
pub fn main(stacks: Vec<Stack>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let state_dir = std::env::var("PALISADE_STATE_DIR").unwrap_or_else(|_| ".palisade".into());
    let mut stdout = std::io::stdout();
    runtime.block_on(run(&args, stacks, StateStore::new(state_dir), &mut stdout))
}

/// Runs `args` over `stacks` with state in `store`, writing to `out`.
pub async fn run(args: &[String], stacks: Vec<Stack>, store: StateStore, out: &mut (dyn Write + Send)) -> ExitCode {
    let args = match parse(args) {
        Ok(args) => args,
        Err(message) => return usage_error(&message),
    };
    let stacks = match &args.stacks {
        Some(names) => {
            if let Some(missing) = names.iter().find(|n| !stacks.iter().any(|s| &s.name == *n)) {
                let known: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
                return usage_error(&format!(
                    "no stack `{missing}`; this program declares: {}",
                    known.join(", ")
                ));
            }
            stacks.into_iter().filter(|s| names.contains(&s.name)).collect()
        }
        None => stacks,
    };
    let mut engine = Engine::new(stacks, store);
    if let Some(parallel) = args.parallel {
        engine = engine.parallel(parallel);
    }
    let result = match args.command.as_str() {
        "help" => {
            let _ = writeln!(out, "{USAGE}");
            return ExitCode::SUCCESS;
        }
        "graph" => match engine.graph() {
            Ok(graph) => {
                let text = if args.mermaid {
                    graph_mermaid(&graph)
                } else {
                    graph_dot(&graph)
                };
                let _ = out.write_all(text.as_bytes());
                return ExitCode::SUCCESS;
            }
            Err(error) => Err(error.to_string()),
        },
        "preview" => preview(&engine, &args, out).await,
        "up" => apply(&engine, &args, out, false).await,
        "refresh" => refresh(&engine, out).await,
        "import" => import(&engine, &args, out).await,
        "destroy" => apply(&engine, &args, out, true).await,
        other => {
            return usage_error(&format!(
                "`{other}` is not a command; use preview, up, destroy, refresh, import or graph"
            ))
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn preview(engine: &Engine, args: &Args, out: &mut (dyn Write + Send)) -> Result<bool, String> {
    let hosts = Hosts::default();
    let planned = engine.plan(&hosts, false).await;
    hosts.stop().await;
    let plan = planned.map_err(|e| e.to_string())?;
    if args.json {
        let text = serde_json::to_string_pretty(&plan_json(&plan)).map_err(|e| e.to_string())?;
        writeln!(out, "{text}").map_err(|e| e.to_string())?;
    } else {
        write_plan(out, &plan).map_err(|e| e.to_string())?;
    }
    let valid = plan.failures().next().is_none();
    Ok(valid)
}

async fn import(engine: &Engine, args: &Args, out: &mut (dyn Write + Send)) -> Result<bool, String> {
    let [name, id] = args.operands.as_slice() else {
        return Err("import needs a name and an id".into());
    };
    // `--stack` has already narrowed the engine's stacks.
    let stack = match engine.stacks() {
        [only] => only.name.clone(),
        _ => return Err("import works on one stack: name it with --stack".into()),
    };
    let hosts = Hosts::default();
    let imported = engine.import(&hosts, &stack, name, id).await;
    hosts.stop().await;
    let imported = imported.map_err(|e| e.to_string())?;
    writeln!(
        out,
        "Imported {} as {}. Run `preview` to see how the declaration differs from it.",
        imported.id, imported.urn
    )
    .map_err(|e| e.to_string())?;
    Ok(true)
}

async fn refresh(engine: &Engine, out: &mut (dyn Write + Send)) -> Result<bool, String> {
    let _locks = engine.lock().map_err(|e| e.to_string())?;
    let hosts = Hosts::default();
    let drifts = engine.refresh(&hosts).await;
    hosts.stop().await;
    let drifts = drifts.map_err(|e| e.to_string())?;
    if drifts.is_empty() {
        writeln!(out, "No drift: every resource matches its state.").map_err(|e| e.to_string())?;
    }
    for drift in &drifts {
        if drift.gone {
            writeln!(out, "{}  - {}  deleted outside Palisade", drift.stack, drift.urn).map_err(|e| e.to_string())?;
        } else {
            let changed: Vec<String> = drift.diff.keys().cloned().collect();
            writeln!(
                out,
                "{}  ~ {}  changed outside Palisade: {}",
                drift.stack,
                drift.urn,
                changed.join(", ")
            )
            .map_err(|e| e.to_string())?;
        }
    }
    Ok(true)
}

async fn apply(engine: &Engine, args: &Args, out: &mut (dyn Write + Send), destroy: bool) -> Result<bool, String> {
    let _locks = engine.lock().map_err(|e| e.to_string())?;
    let hosts = Hosts::default();
    let result = apply_locked(engine, args, out, destroy, &hosts).await;
    hosts.stop().await;
    result
}

async fn apply_locked(
    engine: &Engine,
    args: &Args,
    out: &mut (dyn Write + Send),
    destroy: bool,
    hosts: &Hosts,
) -> Result<bool, String> {
    let plan = engine.plan(hosts, destroy).await.map_err(|e| e.to_string())?;
    write_plan(out, &plan).map_err(|e| e.to_string())?;
    if plan.failures().next().is_some() {
        writeln!(out, "\nNothing was applied: fix the errors above first.").map_err(|e| e.to_string())?;
        return Ok(false);
    }
    let blocking = guardrails::blocking(&plan.findings, &args.waive);
    if !destroy && !blocking.is_empty() {
        let rules: std::collections::BTreeSet<&str> = blocking.iter().map(|f| f.rule).collect();
        let rules: Vec<&str> = rules.into_iter().collect();
        writeln!(
            out,
            "\nNothing was applied: the guardrails found {} error(s). Fix them, or waive the rules deliberately with --waive {}",
            blocking.len(),
            rules.join(",")
        )
        .map_err(|e| e.to_string())?;
        return Ok(false);
    }
    if !plan.has_changes() {
        return Ok(true);
    }
    if !args.yes && !confirm(out)? {
        writeln!(out, "\nNothing was applied (pass --yes to apply without asking).").map_err(|e| e.to_string())?;
        return Ok(false);
    }
    writeln!(out).map_err(|e| e.to_string())?;
    engine.record_waivers(&args.waive).map_err(|e| e.to_string())?;
    let report = engine.apply(&plan, hosts, out).await.map_err(|e| e.to_string())?;
    writeln!(out).map_err(|e| e.to_string())?;
    writeln!(
        out,
        "{} applied, {} failed, {} skipped",
        report.done.len(),
        report.failed.len(),
        report.skipped.len()
    )
    .map_err(|e| e.to_string())?;
    for (urn, reason) in &report.failed {
        writeln!(out, "  failed: {urn}: {reason}").map_err(|e| e.to_string())?;
    }
    Ok(report.ok())
}

fn confirm(out: &mut (dyn Write + Send)) -> Result<bool, String> {
    ask(out, "\nApply these changes?").map_err(|e| e.to_string())
}

/// Asks `question` on the terminal and waits for yes or no; without a terminal, the answer is no.
pub fn ask(out: &mut (dyn Write + Send), question: &str) -> std::io::Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    write!(out, "{question} [y/N] ")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "yes"))
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}\n{USAGE}");
    ExitCode::from(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_commands_and_flags() {
        let args = parse(&strings(&["up", "--yes", "--stack", "dev,staging", "--parallel", "4"])).expect("valid");
        assert_eq!(args.command, "up");
        assert!(args.yes);
        assert_eq!(args.stacks, Some(vec!["dev".to_string(), "staging".to_string()]));
        assert_eq!(args.parallel, Some(4));
        let args = parse(&strings(&["up", "--waive", "PAL-NET-01,PAL-KMS-01"])).expect("valid");
        assert_eq!(args.waive, vec!["PAL-NET-01".to_string(), "PAL-KMS-01".to_string()]);
        assert_eq!(parse(&[]).expect("valid").command, "preview");
        assert!(parse(&strings(&["--parallel", "0"])).is_err());
        assert!(parse(&strings(&["up", "down"])).is_err());
        let args = parse(&strings(&["import", "main", "vpc-123", "--stack", "dev"])).expect("valid");
        assert_eq!(args.operands, vec!["main".to_string(), "vpc-123".to_string()]);
        assert!(parse(&strings(&["import", "main"])).is_err());
    }
}
