//! `secure-mlops`: the reference environment's command line.
//!
//! `secure-mlops deploy [--yes] [--approve-prod] [--waive RULES]` previews every account, applies
//! all but the gated promotions, smoke-tests staging, and promotes to prod when approved (flag or
//! prompt); `up` is the same command, so nothing reaches prod another way. The other commands
//! (`preview`, `destroy`, `refresh`, `import`, `graph`, with their flags) are the standard Palisade
//! command line over the same stacks. `--config FILE` reads the
//! environment from JSON (see `environment.example.json`); without it, the local emulator's three
//! accounts are used. `PALISADE_ENDPOINT` sends every call to a local emulator; state lives in
//! `PALISADE_STATE_DIR` (default `.palisade`).

use std::path::PathBuf;
use std::process::ExitCode;

use palisade::{Hosts, StateStore};
use secure_mlops::promote::{self, Options};
use secure_mlops::{declare, Config};

const USAGE: &str = "usage: secure-mlops [--config FILE] <deploy|up [--yes] [--approve-prod] [--waive RULES] | preview | destroy | refresh | import | graph> [flags]";

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let config = match load_config(&mut args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
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
    let store = StateStore::new(std::env::var("PALISADE_STATE_DIR").unwrap_or_else(|_| ".palisade".into()));
    runtime.block_on(run(config, args, store))
}

/// Takes `--config FILE` out of `args` and builds the configuration.
fn load_config(args: &mut Vec<String>) -> Result<Config, String> {
    let mut config = match args.iter().position(|a| a == "--config") {
        Some(at) => {
            let path = args.get(at + 1).cloned().ok_or("--config needs a file")?;
            args.drain(at..=at + 1);
            Config::from_file(&PathBuf::from(path)).map_err(|e| e.to_string())?
        }
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

async fn run(config: Config, args: Vec<String>, store: StateStore) -> ExitCode {
    let mut stdout = std::io::stdout();
    let mut hosts = Hosts::default();
    let code = if matches!(args.first().map(String::as_str), Some("deploy" | "up")) {
        match deploy_options(&args[1..]) {
            Ok(options) => deploy(&config, store, &hosts, &options, &mut stdout).await,
            Err(message) => {
                eprintln!("error: {message}\n{USAGE}");
                ExitCode::from(2)
            }
        }
    } else {
        // The standard commands over the same stacks; the release is looked up as for a deploy.
        // The release lookup's provider is not needed by the command, which starts its own.
        let found = promote::find_release(&config, &hosts).await;
        std::mem::take(&mut hosts).stop().await;
        let declared = match found {
            Ok(release) => declare(&config, &release).map_err(promote::PromoteError::from),
            Err(error) => Err(error),
        };
        match declared {
            Ok(environment) => palisade::cli::run(&args, environment.stacks, store, &mut stdout).await,
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        }
    };
    hosts.stop().await;
    code
}

fn deploy_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options::default();
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--yes" | "-y" => options.yes = true,
            "--approve-prod" => options.approve = true,
            "--waive" => {
                let rules = rest.next().ok_or("--waive needs a comma-separated list of rule ids")?;
                options.waive.extend(rules.split(',').map(str::to_string));
            }
            other => return Err(format!("unexpected argument `{other}` for deploy")),
        }
    }
    Ok(options)
}

async fn deploy(
    config: &Config,
    store: StateStore,
    hosts: &Hosts,
    options: &Options,
    out: &mut (dyn std::io::Write + Send),
) -> ExitCode {
    match promote::deploy(config, store.clone(), hosts, options, out).await {
        Ok(outcome) => {
            if let Err(message) = promote::summary(config, &store, out) {
                eprintln!("error: {message}");
            }
            if outcome.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
