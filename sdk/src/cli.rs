//! The command line of a Palisade program: `preview` (more commands arrive with the engine).

use std::io::Write;
use std::process::ExitCode;

use crate::preview::preview;
use crate::render::write_plan;
use crate::stack::Stack;

const USAGE: &str = "usage: <program> preview [--stack NAME[,NAME...]]";

/// Runs the command given on the command line over `stacks`; returns the process exit code.
pub fn main(stacks: Vec<Stack>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(&args, stacks, &mut std::io::stdout()))
}

/// Runs `args` over `stacks`, writing to `out`.
pub async fn run(args: &[String], stacks: Vec<Stack>, out: &mut dyn Write) -> ExitCode {
    let mut command = None;
    let mut selected: Option<Vec<String>> = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--stack" => match rest.next() {
                Some(names) => selected = Some(names.split(',').map(str::to_string).collect()),
                None => return usage_error("--stack needs a comma-separated list of stack names"),
            },
            "-h" | "--help" => {
                let _ = writeln!(out, "{USAGE}");
                return ExitCode::SUCCESS;
            }
            other if command.is_none() && !other.starts_with('-') => {
                command = Some(other.to_string())
            }
            other => return usage_error(&format!("unexpected argument `{other}`")),
        }
    }
    let stacks: Vec<Stack> = match &selected {
        Some(names) => {
            if let Some(missing) = names.iter().find(|n| !stacks.iter().any(|s| &s.name == *n)) {
                let known: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
                return usage_error(&format!(
                    "no stack `{missing}`; this program declares: {}",
                    known.join(", ")
                ));
            }
            stacks
                .into_iter()
                .filter(|s| names.contains(&s.name))
                .collect()
        }
        None => stacks,
    };
    match command.as_deref() {
        Some("preview") | None => match preview(&stacks).await {
            Ok(plan) => {
                if write_plan(out, &plan).is_err() {
                    return ExitCode::FAILURE;
                }
                if plan.failures().next().is_some() {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                }
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Some(other) => usage_error(&format!(
            "`{other}` is not a command of this version; it offers `preview`"
        )),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}\n{USAGE}");
    ExitCode::from(2)
}
