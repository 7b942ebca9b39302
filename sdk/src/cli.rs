//! The command line of a Palisade program.
//!
//! `preview [--json]`, `up [--yes] [--waive RULES] [--allow-replace NAME]`, `destroy [--yes]
//! [--allow-replace NAME]`, `refresh [--yes]`, `import NAME ID`, `graph [--mermaid]` and
//! `completions SHELL`, with `--stack a,b` to select stacks and `--parallel N` (default 16) on every
//! command. Without a command, `preview` runs. State lives in `.palisade/` (or `PALISADE_STATE_DIR`).
//! Exit codes: 0 success, 1 failure, 2 usage.
//!
//! A program with nothing of its own calls [`main`]. A program that adds commands (the way
//! `secure-mlops` adds `deploy`) declares its own clap parser, flattens [`GlobalArgs`] into it and
//! [`Command`] into its subcommands, parses first (so that `--help` and usage errors never wait for
//! the network), then hands a standard command to [`execute`].

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::num::NonZeroUsize;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::account::Account;
use crate::engine::{ApplyOptions as EngineApplyOptions, Engine, EngineError, Hosts};
use crate::guardrails;
use crate::host::HostError;
use crate::progress::LiveView;
use crate::provider::CallError;
use crate::render::{graph_dot, graph_mermaid, plan_json, write_plan};
use crate::stack::Stack;
use crate::state::StateStore;

/// The standard command line, as [`main`] parses it.
#[derive(Debug, Parser)]
#[command(
    version,
    about = "Preview and apply this program's Palisade stacks, in every account.",
    after_help = "Without a command, `preview` runs. State lives in .palisade/ (or PALISADE_STATE_DIR); RUST_LOG=debug logs every detail to stderr."
)]
pub struct Cli {
    /// Options of every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command (default: `preview`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command takes, before or after the command's name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct GlobalArgs {
    /// Only these stacks (comma-separated or repeated; default: every stack the program declares).
    #[arg(long = "stack", global = true, value_name = "NAME", value_delimiter = ',')]
    pub stacks: Vec<String>,
    /// How many provider operations run at once [default: 16].
    #[arg(long, global = true, value_name = "N")]
    pub parallel: Option<NonZeroUsize>,
}

/// The standard commands.
#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum Command {
    /// Show every change in every account, and the guardrails' findings; applies nothing.
    Preview(PreviewArgs),
    /// Preview, then apply the changes in dependency order.
    Up(ApplyArgs),
    /// Delete every resource of the selected stacks.
    Destroy(DestroyArgs),
    /// Compare the state with what exists in the accounts, and report drift.
    Refresh(RefreshArgs),
    /// Adopt an existing resource into a declaration's state (one stack: name it with --stack).
    Import(ImportArgs),
    /// Print the dependency graph (Graphviz DOT, or Mermaid).
    Graph(GraphArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions(CompletionsArgs),
}

/// `preview`'s options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct PreviewArgs {
    /// Print the plan as JSON (see plan.schema.json in the palisade crate) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `up`'s options (and those of commands built on it, such as `secure-mlops deploy`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct ApplyArgs {
    /// Apply without asking.
    #[arg(short, long)]
    pub yes: bool,
    /// Apply even though these guardrail rules find errors (comma-separated or repeated rule ids).
    #[arg(long, value_name = "RULES", value_delimiter = ',')]
    pub waive: Vec<String>,
    /// Allow replacing or deleting this resource although it holds data (repeatable; a name,
    /// `Kind name`, `stack/name` or URN).
    #[arg(long = "allow-replace", value_name = "NAME")]
    pub allow_replace: Vec<String>,
}

/// `destroy`'s options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct DestroyArgs {
    /// Delete without asking.
    #[arg(short, long)]
    pub yes: bool,
    /// Allow this declared resource to be replaced or deleted (repeatable).
    #[arg(long = "allow-replace", value_name = "NAME")]
    pub allow_replace: Vec<String>,
}

/// `refresh`'s options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct RefreshArgs {
    /// Accept what refresh finds into the state without asking.
    #[arg(short, long)]
    pub yes: bool,
}

/// `import`'s operands.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ImportArgs {
    /// The declared resource's name.
    #[arg(value_name = "RESOURCE-NAME")]
    pub name: String,
    /// The physical id of the existing resource to adopt (`vpc-0abc...`).
    #[arg(value_name = "PHYSICAL-ID")]
    pub id: String,
}

/// `graph`'s options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args)]
pub struct GraphArgs {
    /// Print a Mermaid flowchart instead of Graphviz DOT.
    #[arg(long)]
    pub mermaid: bool,
}

/// `completions`' operand.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// How `up`, `destroy` (and a program's own apply commands, such as `deploy`) may change things:
/// what the engine-calling code receives from the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// Apply without asking.
    pub yes: bool,
    /// Guardrail rules waived by id.
    pub waive: Vec<String>,
    /// Resources holding data that this run may replace or delete, by logical name, `Kind name`,
    /// `stack/name` or URN (`--allow-replace`); the engine refuses any other such step.
    pub allow_replace: Vec<String>,
}

impl From<&ApplyArgs> for ApplyOptions {
    fn from(args: &ApplyArgs) -> Self {
        Self {
            yes: args.yes,
            waive: args.waive.clone(),
            allow_replace: args.allow_replace.clone(),
        }
    }
}

impl From<&DestroyArgs> for ApplyOptions {
    fn from(args: &DestroyArgs) -> Self {
        Self {
            yes: args.yes,
            waive: Vec::new(),
            allow_replace: args.allow_replace.clone(),
        }
    }
}

/// How `refresh` may change the state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshOptions {
    /// Accept the drift found into the state without asking (`refresh --yes`).
    pub yes: bool,
}

/// Parses the command line, then runs the command over `stacks`; returns the process exit code.
/// `--help`, `--version` and usage errors answer before anything else happens.
pub fn main(stacks: Vec<Stack>) -> ExitCode {
    let cli = match parse_or_exit_code::<Cli>(std::env::args_os()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    let command = cli.command.unwrap_or(Command::Preview(PreviewArgs::default()));
    runtime.block_on(execute::<Cli>(
        &cli.global,
        command,
        stacks,
        StateStore::new(state_dir()),
        &mut stdout,
    ))
}

/// Parses `args` (the program's name first) as `P`, naming the command after the program (so that
/// `--version` and the usage lines say `private-network`, not `palisade`). Help and version are
/// printed (exit code 0); a usage error is printed with a suggestion where one fits (exit code 2).
pub fn parse_or_exit_code<P: Parser>(
    args: impl IntoIterator<Item = impl Into<std::ffi::OsString> + Clone>,
) -> Result<P, ExitCode> {
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let program = args
        .first()
        .and_then(|first| std::path::Path::new(first).file_name())
        .map(|name| name.to_string_lossy().into_owned());
    let mut command = P::command();
    if let Some(program) = program {
        command = command.name(program);
    }
    let parsed = command
        .try_get_matches_from(args)
        .and_then(|mut matches| P::from_arg_matches_mut(&mut matches));
    parsed.map_err(|error| {
        let _ = error.print();
        ExitCode::from(u8::try_from(error.exit_code()).unwrap_or(2))
    })
}

/// Where state lives: `PALISADE_STATE_DIR`, or `.palisade`.
pub fn state_dir() -> String {
    std::env::var("PALISADE_STATE_DIR").unwrap_or_else(|_| ".palisade".into())
}

/// Logs to stderr, filtered by `RUST_LOG` (nothing without it): the full chain of every error goes
/// there, while the terminal gets one or two lines.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Parses `args` (without the program's name) as the standard command line and runs it over
/// `stacks` with state in `store`, writing to `out`.
pub async fn run(args: &[String], stacks: Vec<Stack>, store: StateStore, out: &mut (dyn Write + Send)) -> ExitCode {
    let argv = std::iter::once("palisade".to_string()).chain(args.iter().cloned());
    let cli = match parse_or_exit_code::<Cli>(argv) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let command = cli.command.unwrap_or(Command::Preview(PreviewArgs::default()));
    execute::<Cli>(&cli.global, command, stacks, store, out).await
}

/// Runs a standard `command` over `stacks` with state in `store`, writing to `out`. `P` is the
/// program's parser, for `completions`. Errors are printed as one or two lines naming the account,
/// the stack, what failed and what to do; the full chain goes to the log.
pub async fn execute<P: CommandFactory>(
    global: &GlobalArgs,
    command: Command,
    stacks: Vec<Stack>,
    store: StateStore,
    out: &mut (dyn Write + Send),
) -> ExitCode {
    if let Command::Completions(args) = &command {
        completions::<P>(args.shell, out);
        return ExitCode::SUCCESS;
    }
    let places: Vec<(String, Account)> = stacks.iter().map(|s| (s.name.clone(), s.account.clone())).collect();
    if let Some(missing) = global.stacks.iter().find(|n| !stacks.iter().any(|s| &s.name == *n)) {
        let known: Vec<&str> = stacks.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "error: no stack `{missing}`; this program declares: {}",
            known.join(", ")
        );
        return ExitCode::from(2);
    }
    // The engine knows every stack: references into unselected ones are read from their state,
    // and those stacks are never changed.
    let selected = (!global.stacks.is_empty()).then_some(global.stacks.as_slice());
    let mut engine = Engine::new(stacks, store).select(selected);
    if let Some(parallel) = global.parallel {
        engine = engine.parallel(parallel.get());
    }
    let result = match command {
        Command::Graph(args) => graph(&engine, &args, out),
        Command::Preview(args) => preview(&engine, &args, out).await,
        Command::Up(args) => apply(&engine, &ApplyOptions::from(&args), out, false).await,
        Command::Destroy(args) => apply(&engine, &ApplyOptions::from(&args), out, true).await,
        Command::Refresh(args) => refresh(&engine, &RefreshOptions { yes: args.yes }, out).await,
        Command::Import(args) => import(&engine, &args, out).await,
        Command::Completions(_) => Ok(true),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            let places: Vec<(&str, &Account)> = places.iter().map(|(s, a)| (s.as_str(), a)).collect();
            report_error(&error, &places);
            ExitCode::FAILURE
        }
    }
}

/// Writes the completion script of parser `P` for `shell` to `out`.
pub fn completions<P: CommandFactory>(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut command = P::command();
    let name = command.get_name().to_string();
    clap_complete::generate(shell, &mut command, name, out);
}

/// Why a command could not finish.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The engine failed (a provider, the state, the declarations).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Writing the output failed.
    #[error("writing the output: {0}")]
    Io(#[from] std::io::Error),
    /// The command cannot run as asked; the message says what to do.
    #[error("{0}")]
    Usage(String),
}

/// Prints `error` as one or two lines on stderr (see [`explain`]) and its full text to the log.
pub fn report_error(error: &CliError, places: &[(&str, &Account)]) {
    tracing::error!(error = %error, "command failed");
    let text = match error {
        CliError::Engine(error) => explain(error, places),
        other => other.to_string(),
    };
    eprintln!("error: {text}");
}

/// What went wrong with an engine call, in one or two lines: which account and stack, what failed,
/// and what to do. `places` are the program's stacks and their accounts, to name them.
pub fn explain(error: &EngineError, places: &[(&str, &Account)]) -> String {
    match error {
        EngineError::Provider(call) | EngineError::Host(HostError::Call(call)) => explain_call(call, places),
        other => other.to_string(),
    }
}

/// [`explain`] for a provider's refusal of a call.
pub fn explain_call(error: &CallError, places: &[(&str, &Account)]) -> String {
    let CallError { call, subject, status } = error;
    let message = status.message();
    let (stack, account) = place_of(subject, places);
    let whom = match (&stack, account) {
        (Some(stack), Some(account)) => format!("account {} ({}), stack {stack}", account.name, account.account_id),
        (None, Some(account)) => format!("account {} ({})", account.name, account.account_id),
        (Some(stack), None) => format!("stack {stack}"),
        (None, None) => subject.clone(),
    };
    match classify(status) {
        Trouble::NoCredentials => format!(
            "no AWS credentials for {whom}: set AWS_PROFILE, give the account a profile or a role in the configuration, or run scripts/demo for the local emulator"
        ),
        Trouble::Unreachable => {
            let endpoint = account
                .and_then(|a| a.endpoint.clone())
                .unwrap_or_else(|| "AWS's public endpoint".into());
            format!(
                "cannot reach {endpoint} for {whom} ({call} of {}): {}\n  fix: check the network and the endpoint (PALISADE_ENDPOINT or the configuration's `endpoint`); scripts/demo starts the local emulator",
                short_subject(subject),
                unreachable_cause(message)
            )
        }
        Trouble::AccountMismatch => format!(
            "{whom}: {}\n  fix: correct the account id in the configuration, or use credentials of that account (AWS_PROFILE, or the account's profile or role in the configuration)",
            mismatch_sentence(message)
        ),
        Trouble::AccessDenied => format!(
            "AWS denied {call} of {} in {whom}: {}\n  fix: grant the deploying identity this permission, or reach the account through a role that has it (the account's role in the configuration)",
            short_subject(subject),
            without_debug(first_line(message))
        ),
        Trouble::Other => format!(
            "{call} of {} in {whom}: {}",
            short_subject(subject),
            without_debug(first_line(message))
        ),
    }
}

/// What kind of trouble a provider's answer reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trouble {
    NoCredentials,
    Unreachable,
    AccountMismatch,
    AccessDenied,
    Other,
}

/// Classifies a provider's answer by its gRPC code, then by the AWS SDK's wording where the code
/// is shared (a failed request is `Unavailable` whether the credentials or the network failed).
fn classify(status: &tonic::Status) -> Trouble {
    let message = status.message();
    let lower = message.to_ascii_lowercase();
    if lower.contains("the credentials reach account") {
        return Trouble::AccountMismatch;
    }
    if lower.contains("credentials")
        && (lower.contains("no credentials")
            || lower.contains("credentialsnotloaded")
            || lower.contains("failed to load credentials")
            || lower.contains("loading credentials"))
    {
        return Trouble::NoCredentials;
    }
    if status.code() == tonic::Code::PermissionDenied {
        return Trouble::AccessDenied;
    }
    if lower.contains("dispatch failure")
        || lower.contains("no success within the retry budget")
        || lower.contains("timed out")
        || lower.contains("connection refused")
        || lower.contains("error trying to connect")
        || lower.contains("dns error")
        || lower.contains("failed to lookup address")
    {
        return Trouble::Unreachable;
    }
    Trouble::Other
}

/// The stack and account a provider call's subject names: `... for account dev`, `... in account
/// dev`, or a URN `urn:pulumi:STACK::...`.
fn place_of<'a>(subject: &str, places: &[(&'a str, &'a Account)]) -> (Option<String>, Option<&'a Account>) {
    if let Some(stack) = subject
        .strip_prefix("urn:pulumi:")
        .and_then(|rest| rest.split("::").next())
    {
        let account = places.iter().find(|(s, _)| *s == stack).map(|(_, a)| *a);
        return (Some(stack.to_string()), account);
    }
    if let Some((_, name)) = subject.rsplit_once(" account ") {
        let account = places.iter().find(|(_, a)| a.name == name).map(|(_, a)| *a);
        let stacks: Vec<&str> = places.iter().filter(|(_, a)| a.name == name).map(|(s, _)| *s).collect();
        let stack = (!stacks.is_empty()).then(|| stacks.join(", "));
        return (stack, account);
    }
    (None, None)
}

/// A URN shortened to `Kind name`; anything else as it is, without its account.
fn short_subject(subject: &str) -> String {
    if subject.starts_with("urn:pulumi:") {
        let parts: Vec<&str> = subject.split("::").collect();
        if let [.., token, name] = parts.as_slice() {
            return format!("{} {name}", token.rsplit(':').next().unwrap_or_default());
        }
    }
    match subject
        .rsplit_once(" for account ")
        .or_else(|| subject.rsplit_once(" in account "))
    {
        Some((what, _)) => what.to_string(),
        None => subject.to_string(),
    }
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default().trim()
}

/// Why an endpoint could not be reached, in words (the SDK's chain goes to the log).
fn unreachable_cause(message: &str) -> &'static str {
    let lower = message.to_ascii_lowercase();
    if lower.contains("connection refused") {
        "the connection was refused"
    } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
        "the host name does not resolve"
    } else if lower.contains("retry budget") || lower.contains("timed out") || lower.contains("timeout") {
        "no answer within the retry budget (PALISADE_RETRY_SECONDS)"
    } else {
        "the request failed before AWS answered"
    }
}

/// `message` without the Rust `Debug` rendering that error chains append
/// (`... after 2s (TimeoutError(TimeoutError { .. }))`): people read the words, the log keeps the rest.
fn without_debug(message: &str) -> &str {
    let bytes = message.as_bytes();
    for (at, _) in message.match_indices('(') {
        let rest = &message[at + 1..];
        let name_len = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).count();
        let after = &rest[name_len..];
        let debug_like = name_len > 0
            && rest.starts_with(|c: char| c.is_ascii_uppercase())
            && (after.starts_with('(') || after.starts_with(" {"));
        if debug_like && at > 0 && bytes[at - 1] == b' ' {
            return message[..at].trim_end();
        }
    }
    message
}

/// `the credentials reach account X, not the configured Y` out of the provider's message.
fn mismatch_sentence(message: &str) -> String {
    let start = message.find("the credentials reach account").unwrap_or(0);
    let rest = &message[start..];
    rest.split(';').next().unwrap_or(rest).trim().to_string()
}

fn graph(engine: &Engine, args: &GraphArgs, out: &mut (dyn Write + Send)) -> Result<bool, CliError> {
    let graph = engine.graph()?;
    let text = if args.mermaid {
        graph_mermaid(&graph)
    } else {
        graph_dot(&graph)
    };
    out.write_all(text.as_bytes())?;
    Ok(true)
}

async fn preview(engine: &Engine, args: &PreviewArgs, out: &mut (dyn Write + Send)) -> Result<bool, CliError> {
    let hosts = Hosts::default();
    let planned = engine.plan(&hosts, false).await;
    hosts.stop().await;
    let plan = planned?;
    if args.json {
        let text = serde_json::to_string_pretty(&plan_json(&plan)).map_err(std::io::Error::other)?;
        writeln!(out, "{text}")?;
    } else {
        write_plan(out, &plan)?;
    }
    let valid = plan.failures().next().is_none();
    Ok(valid)
}

async fn import(engine: &Engine, args: &ImportArgs, out: &mut (dyn Write + Send)) -> Result<bool, CliError> {
    // `--stack` has already narrowed the engine's stacks.
    let stack = match engine.stacks() {
        [only] => only.name.clone(),
        _ => {
            return Err(CliError::Usage(
                "import works on one stack: name it with --stack".into(),
            ))
        }
    };
    let hosts = Hosts::default();
    let imported = engine.import(&hosts, &stack, &args.name, &args.id).await;
    hosts.stop().await;
    let imported = imported?;
    writeln!(
        out,
        "Imported {} as {}. Run `preview` to see how the declaration differs from it.",
        imported.id, imported.urn
    )?;
    Ok(true)
}

async fn refresh(engine: &Engine, options: &RefreshOptions, out: &mut (dyn Write + Send)) -> Result<bool, CliError> {
    let _locks = engine.lock()?;
    let hosts = Hosts::default();
    let refreshed = engine.refresh_plan(&hosts).await;
    hosts.stop().await;
    let refreshed = refreshed?;
    if refreshed.drifts.is_empty() {
        writeln!(out, "No drift: every resource matches its state.")?;
        return Ok(true);
    }
    for drift in &refreshed.drifts {
        if drift.gone {
            writeln!(out, "{}  - {}  deleted outside Palisade", drift.stack, drift.urn)?;
        } else {
            let changed: Vec<&str> = drift.diff.keys().map(String::as_str).collect();
            writeln!(
                out,
                "{}  ~ {}  changed outside Palisade: {}",
                drift.stack,
                drift.urn,
                changed.join(", ")
            )?;
            for property in &drift.properties {
                writeln!(
                    out,
                    "      {} : {} => {}",
                    property.property, property.old, property.new
                )?;
            }
        }
    }
    if !options.yes && !ask(out, "\nWrite what refresh found into the state?")? {
        writeln!(
            out,
            "\nThe state is unchanged (pass --yes to write the drift into it without asking)."
        )?;
        return Ok(true);
    }
    engine.commit_refresh(&refreshed)?;
    writeln!(
        out,
        "\nThe state now records what the accounts have; `preview` shows how to return to the declarations."
    )?;
    Ok(true)
}

async fn apply(
    engine: &Engine,
    options: &ApplyOptions,
    out: &mut (dyn Write + Send),
    destroy: bool,
) -> Result<bool, CliError> {
    let _locks = engine.lock()?;
    let hosts = Hosts::default();
    let result = apply_locked(engine, options, out, destroy, &hosts).await;
    hosts.stop().await;
    result
}

async fn apply_locked(
    engine: &Engine,
    options: &ApplyOptions,
    out: &mut (dyn Write + Send),
    destroy: bool,
    hosts: &Hosts,
) -> Result<bool, CliError> {
    let plan = engine.plan(hosts, destroy).await?;
    write_plan(out, &plan)?;
    if plan.failures().next().is_some() {
        writeln!(out, "\nNothing was applied: fix the errors above first.")?;
        return Ok(false);
    }
    let blocking = guardrails::blocking(&plan.findings, &options.waive);
    if !destroy && !blocking.is_empty() {
        let rules: BTreeSet<&str> = blocking.iter().map(|f| f.rule).collect();
        let rules: Vec<&str> = rules.into_iter().collect();
        writeln!(
            out,
            "\nNothing was applied: the guardrails found {} error(s). Fix them, or waive the rules deliberately with --waive {}",
            blocking.len(),
            rules.join(",")
        )?;
        return Ok(false);
    }
    if !plan.has_changes() {
        return Ok(true);
    }
    if !options.yes && !ask(out, "\nApply these changes?")? {
        writeln!(out, "\nNothing was applied (pass --yes to apply without asking).")?;
        return Ok(false);
    }
    writeln!(out)?;
    engine.record_waivers(&options.waive)?;
    let engine_options = EngineApplyOptions {
        allow_data_loss: options.allow_replace.clone(),
        // A destroy the user confirmed (above) may delete data.
        allow_all_data_loss: destroy,
    };
    let report = if std::io::stdout().is_terminal() {
        let mut live = LiveView::for_plan(&plan);
        let report = engine.apply_observed(&plan, hosts, &engine_options, &mut live).await;
        live.finish();
        report?
    } else {
        engine.apply_with(&plan, hosts, &engine_options, out).await?
    };
    writeln!(out)?;
    writeln!(
        out,
        "{} applied, {} failed, {} skipped",
        report.done.len(),
        report.failed.len(),
        report.skipped.len()
    )?;
    for (urn, reason) in &report.failed {
        writeln!(out, "  failed: {urn}: {}", first_line(reason))?;
    }
    Ok(report.ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("palisade").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_commands_and_flags() {
        let cli = parse(&["up", "--yes", "--stack", "dev,staging", "--parallel", "4"]).expect("valid");
        assert_eq!(cli.global.stacks, vec!["dev".to_string(), "staging".to_string()]);
        assert_eq!(cli.global.parallel, NonZeroUsize::new(4));
        let Some(Command::Up(up)) = cli.command else {
            panic!("up expected");
        };
        assert!(up.yes);
        // Global options come before the command too.
        let cli = parse(&["--stack", "dev", "preview", "--json"]).expect("valid");
        assert_eq!(cli.global.stacks, vec!["dev".to_string()]);
        assert_eq!(cli.command, Some(Command::Preview(PreviewArgs { json: true })));
        let cli = parse(&[
            "up",
            "--waive",
            "PAL-NET-01,PAL-KMS-01",
            "--allow-replace",
            "a",
            "--allow-replace",
            "b",
        ])
        .expect("valid");
        let Some(Command::Up(up)) = cli.command else {
            panic!("up expected");
        };
        let options = ApplyOptions::from(&up);
        assert_eq!(options.waive, vec!["PAL-NET-01".to_string(), "PAL-KMS-01".to_string()]);
        assert_eq!(options.allow_replace, vec!["a".to_string(), "b".to_string()]);
        let cli = parse(&["destroy", "-y", "--allow-replace", "models"]).expect("valid");
        assert_eq!(
            cli.command,
            Some(Command::Destroy(DestroyArgs {
                yes: true,
                allow_replace: vec!["models".into()]
            }))
        );
        assert_eq!(
            parse(&["refresh", "--yes"]).expect("valid").command,
            Some(Command::Refresh(RefreshArgs { yes: true }))
        );
        assert_eq!(parse(&[]).expect("valid").command, None);
        let cli = parse(&["import", "main", "vpc-123", "--stack", "dev"]).expect("valid");
        assert_eq!(
            cli.command,
            Some(Command::Import(ImportArgs {
                name: "main".into(),
                id: "vpc-123".into()
            }))
        );
        assert_eq!(
            parse(&["graph", "--mermaid"]).expect("valid").command,
            Some(Command::Graph(GraphArgs { mermaid: true }))
        );
    }

    #[test]
    fn usage_errors_are_refused_with_exit_code_2_and_suggestions() {
        for args in [
            &["--parallel", "0"][..],
            &["up", "down"],
            &["import", "main"],
            &["preview", "--jsn"],
            &["--bogus"],
            &["prevew"],
        ] {
            let error = parse(args).expect_err("a usage error");
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
        let typo = parse(&["preview", "--jsn"]).expect_err("a usage error").to_string();
        assert!(typo.contains("--json"), "suggests --json: {typo}");
        let typo = parse(&["prevew"]).expect_err("a usage error").to_string();
        assert!(typo.contains("preview"), "suggests preview: {typo}");
    }

    fn status(code: tonic::Code, message: &str) -> EngineError {
        EngineError::Provider(CallError {
            call: "Check",
            subject: "urn:pulumi:dev::p::palisade-network:index:Vpc::main".into(),
            status: tonic::Status::new(code, message),
        })
    }

    #[test]
    fn errors_name_the_account_and_stack_and_what_to_do() {
        let dev = Account::new("dev", "123456789012", "us-east-1");
        let places = [("dev", &dev)];
        let denied = explain(
            &status(
                tonic::Code::PermissionDenied,
                "CreateVpc: UnauthorizedOperation: You are not authorized",
            ),
            &places,
        );
        assert_eq!(
            denied,
            "AWS denied Check of Vpc main in account dev (123456789012), stack dev: CreateVpc: UnauthorizedOperation: You are not authorized\n  fix: grant the deploying identity this permission, or reach the account through a role that has it (the account's role in the configuration)"
        );
        let configure = EngineError::Host(HostError::Call(CallError {
            call: "Configure",
            subject: "palisade-network for account dev".into(),
            status: tonic::Status::unavailable(
                "GetCallerIdentity: RequestFailed: dispatch failure: other: no credentials in the credential provider chain",
            ),
        }));
        assert_eq!(
            explain(&configure, &places),
            "no AWS credentials for account dev (123456789012), stack dev: set AWS_PROFILE, give the account a profile or a role in the configuration, or run scripts/demo for the local emulator"
        );
        let mismatch = status(
            tonic::Code::InvalidArgument,
            "provider configuration `accountId`: the credentials reach account 999999999999, not the configured 123456789012; fix `accountId` or the credentials (profile, role to assume)",
        );
        assert!(explain(&mismatch, &places).starts_with(
            "account dev (123456789012), stack dev: the credentials reach account 999999999999, not the configured 123456789012\n  fix: "
        ));
        assert!(denied.lines().count() <= 2, "{denied}");
        let timeout = status(
            tonic::Code::Unavailable,
            "GetCallerIdentity: RequestFailed: no success within the retry budget: operation timeout occurred after 2s (TimeoutError(TimeoutError { source: MaybeTimeoutError { kind: Operation } }))",
        );
        let text = explain(&timeout, &places);
        assert!(text.starts_with("cannot reach AWS's public endpoint for account dev (123456789012), stack dev (Check of Vpc main): no answer within the retry budget"), "{text}");
        assert!(!text.contains('{'), "{text}");
    }

    #[test]
    fn debug_renderings_are_cut_from_messages() {
        assert_eq!(
            without_debug("operation timeout occurred after 2s (TimeoutError(TimeoutError { source: x }))"),
            "operation timeout occurred after 2s"
        );
        assert_eq!(
            without_debug("CreateVpc: InvalidParameterValue: bad cidr (10.0.0.0/33)"),
            "CreateVpc: InvalidParameterValue: bad cidr (10.0.0.0/33)"
        );
        assert_eq!(without_debug("x (DispatchFailure { source })"), "x");
    }
}
