//! `secure-mlops`: the reference environment's command line.
//!
//! `secure-mlops deploy [--yes] [--approve-prod] [--waive RULES] [--allow-replace NAME]` previews
//! every account, applies all but the gated promotions, smoke-tests staging, and promotes to prod
//! when approved (flag or prompt); `up` is the same command, so nothing reaches prod another way.
//! The other commands (`preview`, `destroy`, `refresh`, `import`, `graph`, `completions`, with their
//! flags) are the standard Palisade command line over the same stacks. `--config FILE` reads the
//! environment from JSON (see `environment.example.json`); without it, the local emulator's three
//! accounts are used. `PALISADE_ENDPOINT` sends every call to a local emulator; state lives in
//! `PALISADE_STATE_DIR` (default `.palisade`).
//!
//! The command line is parsed before anything else: `--help`, `--version` and usage errors (exit
//! code 2) never wait for AWS.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use palisade::cli::{
    ApplyArgs, Command, CompletionsArgs, DestroyArgs, GlobalArgs, GraphArgs, ImportArgs, PreviewArgs, RefreshArgs,
};
use palisade::engine::EngineError;
use palisade::{Account, Hosts, StateStore};
use secure_mlops::organization::{self, OrganizationError, Retired};
use secure_mlops::promote::{self, Options, PromoteError};
use secure_mlops::{declare, Config};

/// The reference environment's command line.
#[derive(Debug, Parser)]
#[command(
    name = "secure-mlops",
    version,
    about = "Deploy the secure MLOps environment (dev, staging, prod) and promote its models.",
    after_help = "Without a command, `preview` runs. PALISADE_ENDPOINT sends every call to a local emulator; state lives in PALISADE_STATE_DIR (default .palisade); RUST_LOG=debug logs every detail to stderr."
)]
struct Cli {
    /// The environment's configuration (JSON, see environment.example.json) [default: the local
    /// emulator's three accounts].
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Option<SecureCommand>,
}

/// The commands: `deploy` (also `up`) and the standard ones.
#[derive(Debug, Subcommand)]
enum SecureCommand {
    /// Preview every account, apply all but the gated promotions, smoke-test staging, then promote
    /// to prod when approved.
    #[command(visible_alias = "up")]
    Deploy(DeployArgs),
    /// Show every change in every account, and the guardrails' findings; applies nothing.
    Preview(PreviewArgs),
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

/// `deploy`'s options.
#[derive(Debug, Args)]
struct DeployArgs {
    #[command(flatten)]
    apply: ApplyArgs,
    /// Promote to the stages that require approval (prod) without asking.
    #[arg(long = "approve-prod")]
    approve_prod: bool,
}

impl SecureCommand {
    /// The standard command this is, or `None` for `deploy`.
    fn standard(self) -> Result<Command, DeployArgs> {
        Ok(match self {
            SecureCommand::Deploy(args) => return Err(args),
            SecureCommand::Preview(args) => Command::Preview(args),
            SecureCommand::Destroy(args) => Command::Destroy(args),
            SecureCommand::Refresh(args) => Command::Refresh(args),
            SecureCommand::Import(args) => Command::Import(args),
            SecureCommand::Graph(args) => Command::Graph(args),
            SecureCommand::Completions(args) => Command::Completions(args),
        })
    }
}

fn main() -> ExitCode {
    let cli = match palisade::cli::parse_or_exit_code::<Cli>(std::env::args_os()) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    palisade::cli::init_logging();
    let command = cli.command.unwrap_or(SecureCommand::Preview(PreviewArgs::default()));
    if let SecureCommand::Completions(args) = &command {
        palisade::cli::completions::<Cli>(args.shell, &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    if let SecureCommand::Deploy(_) = &command {
        if !cli.global.stacks.is_empty() || cli.global.parallel.is_some() {
            eprintln!(
                "error: deploy runs the whole release across every account; --stack and --parallel are for preview, destroy, refresh, import and graph"
            );
            return ExitCode::from(2);
        }
    }
    let config = match load_config(cli.config.as_deref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let store = StateStore::new(palisade::cli::state_dir());
    runtime.block_on(run(config, cli.global, command, store))
}

/// Reads the configuration from `path`, or the local one; `PALISADE_ENDPOINT` overrides its endpoint.
fn load_config(path: Option<&std::path::Path>) -> Result<Config, String> {
    let mut config = match path {
        Some(path) => Config::from_file(path).map_err(|e| e.to_string())?,
        None => {
            let local = Config::local();
            local.validate().map_err(|e| e.to_string())?;
            local
        }
    };
    if let Ok(endpoint) = std::env::var("PALISADE_ENDPOINT") {
        config.endpoint = Some(endpoint);
    }
    Ok(config)
}

/// Every stack's name and account, to name them in error messages.
fn places(config: &Config) -> Vec<(String, Account)> {
    let mut places = vec![("dev".to_string(), config.dev_account())];
    places.extend(
        config
            .targets
            .iter()
            .map(|t| (t.name.clone(), config.target_account(t))),
    );
    places
}

/// Prints `error` in one or two lines (the full chain goes to the log).
fn report(config: &Config, error: &PromoteError) {
    tracing::error!(error = %error, "secure-mlops failed");
    let places = places(config);
    let places: Vec<(&str, &Account)> = places.iter().map(|(s, a)| (s.as_str(), a)).collect();
    let text = match error {
        PromoteError::Engine(error) => palisade::cli::explain(error, &places),
        other => other.to_string(),
    };
    eprintln!("error: {text}");
}

async fn run(config: Config, global: GlobalArgs, command: SecureCommand, store: StateStore) -> ExitCode {
    let mut stdout = std::io::stdout();
    let mut hosts = Hosts::default();
    // Every command works on the same targets: an organizational unit's are looked up first.
    // Its own plugins, stopped once done: the management account's provider must never serve a
    // stack whose account happens to have the same name.
    let management = config.management_account();
    let lookup = Hosts::default();
    let resolved = organization::resolve(config, &lookup, &store).await;
    lookup.stop().await;
    let config = match resolved {
        Ok(config) => config,
        Err(error) => {
            tracing::error!(error = %error, "resolving the targets failed");
            let text = match error {
                // Said as every provider failure is: which account, what failed, what to do.
                OrganizationError::Lookup { unit, source, .. } => format!(
                    "configuration `targets.organizationalUnit`: listing the accounts of {unit}: {}",
                    palisade::cli::explain(&EngineError::from(source), &[(management.name.as_str(), &management)])
                ),
                other => other.to_string(),
            };
            eprintln!("error: {text}");
            hosts.stop().await;
            return ExitCode::FAILURE;
        }
    };
    // Stacks no longer declared whose resources still exist: named, with how to retire them; one
    // that `--stack` names is declared again, empty, so that `destroy --stack` deletes what it holds.
    let retired = match organization::retired(&config, &store) {
        Ok(retired) => retired,
        Err(error) => {
            eprintln!("error: {error}");
            hosts.stop().await;
            return ExitCode::FAILURE;
        }
    };
    for unused in config.unused_overrides() {
        eprintln!("note: {unused}");
    }
    let (selected, unselected): (Vec<Retired>, Vec<Retired>) =
        retired.into_iter().partition(|r| global.stacks.contains(&r.stack));
    for retired in &unselected {
        eprintln!("note: {}", retired.note(&config));
    }
    let code = match command.standard() {
        Err(deploy) => {
            let options = Options {
                yes: deploy.apply.yes,
                approve: deploy.approve_prod,
                waive: deploy.apply.waive,
                allow_replace: deploy.apply.allow_replace,
            };
            run_deploy(&config, store, &hosts, &options, &mut stdout).await
        }
        Ok(command) => {
            // The standard commands over the same stacks; the release is looked up as for a deploy.
            // The release lookup's provider is not needed by the command, which starts its own.
            let found = promote::find_release(&config, &hosts).await;
            std::mem::take(&mut hosts).stop().await;
            let declared = match found {
                Ok(release) => declare(&config, &release).map_err(PromoteError::from),
                Err(error) => Err(error),
            };
            match declared {
                Ok(mut environment) => {
                    // Only `destroy` acts on a retired stack: any other command would plan the
                    // deletion of everything in it without saying so.
                    let destroying = matches!(command, Command::Destroy(_));
                    let mut refused = false;
                    for retired in &selected {
                        match retired.stack(&config) {
                            Some(stack) if destroying => environment.stacks.push(stack),
                            Some(_) => {
                                eprintln!("error: {}; no other command acts on it", retired.note(&config));
                                refused = true;
                            }
                            None => eprintln!("note: {}", retired.note(&config)),
                        }
                    }
                    if refused {
                        ExitCode::FAILURE
                    } else {
                        palisade::cli::execute::<Cli>(&global, command, environment.stacks, store, &mut stdout).await
                    }
                }
                Err(error) => {
                    report(&config, &error);
                    ExitCode::FAILURE
                }
            }
        }
    };
    hosts.stop().await;
    code
}

async fn run_deploy(
    config: &Config,
    store: StateStore,
    hosts: &Hosts,
    options: &Options,
    out: &mut (dyn std::io::Write + Send),
) -> ExitCode {
    match promote::deploy(config, store.clone(), hosts, options, out).await {
        Ok(outcome) => {
            if let Err(error) = promote::summary(config, &store, out) {
                report(config, &error);
            }
            if outcome.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            report(config, &error);
            ExitCode::FAILURE
        }
    }
}
