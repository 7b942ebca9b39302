//! The programs' command lines as a user meets them, running the real binaries: help, usage errors
//! (answered before any network call, exit code 2), and the one- or two-line errors for a missing
//! credential, an unreachable endpoint, an account mismatch and AWS's AccessDenied. Printed output is
//! compared with the files in tests/golden/; `UPDATE_GOLDEN=1` rewrites them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use palisade_tests::{built_binary, workspace_root, Emulator};
use serde_json::Value as Json;

fn program(name: &str) -> PathBuf {
    built_binary(name).unwrap_or_else(|error| panic!("{error}"))
}

/// A scratch directory under the target directory, empty.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `secure-mlops ARGS` with a clean environment: no AWS settings from this machine, an empty home
/// directory (no shared credentials or config), no instance metadata, state in a scratch directory; `env` on top.
fn secure_mlops(name: &str, args: &[&str], env: &[(&str, String)]) -> Output {
    let home = scratch(name);
    let mut command = Command::new(program("secure-mlops"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("PALISADE_STATE_DIR", home.join("state"))
        .env("PALISADE_RETRY_SECONDS", "2")
        .stdin(Stdio::null());
    for (key, value) in env {
        command.env(key, value);
    }
    let started = Instant::now();
    let output = command.output().expect("secure-mlops runs");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "secure-mlops {args:?} took {:?}",
        started.elapsed()
    );
    output
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Compares `actual` with tests/golden/NAME; `UPDATE_GOLDEN=1` rewrites the file.
fn golden(name: &str, actual: &str) {
    let path = workspace_root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden");
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1 to create it", path.display()));
    assert_eq!(
        actual,
        expected,
        "output differs from {}; UPDATE_GOLDEN=1 rewrites it",
        path.display()
    );
}

/// No Rust `Debug` dump and no multi-line chain reaches the terminal.
fn assert_plain(stderr: &str) {
    for marker in [
        "Error {",
        "Some(",
        "kind:",
        "source:",
        "DispatchFailure",
        "ConnectorError",
        "{ ",
    ] {
        assert!(
            !stderr.contains(marker),
            "a Debug dump on the terminal ({marker}):\n{stderr}"
        );
    }
}

#[test]
fn help_and_version_answer_at_once() {
    let help = secure_mlops("help", &["--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    golden("secure-mlops-help.txt", &text(&help.stdout));
    let deploy = secure_mlops("deploy-help", &["deploy", "--help"], &[]);
    assert_eq!(deploy.status.code(), Some(0));
    golden("secure-mlops-deploy-help.txt", &text(&deploy.stdout));
    let preview = secure_mlops("preview-help", &["preview", "--help"], &[]);
    assert_eq!(preview.status.code(), Some(0));
    golden("secure-mlops-preview-help.txt", &text(&preview.stdout));
    let version = secure_mlops("version", &["--version"], &[]);
    assert_eq!(version.status.code(), Some(0));
    assert_eq!(
        text(&version.stdout),
        format!("secure-mlops {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// The SDK's standard command line, as a program without commands of its own gets it, is named
/// after the program.
#[test]
fn the_standard_command_line_helps_under_the_programs_name() {
    let help = Command::new(program("private-network"))
        .arg("--help")
        .output()
        .expect("private-network runs");
    assert_eq!(help.status.code(), Some(0));
    golden("private-network-help.txt", &text(&help.stdout));
    let up = Command::new(program("private-network"))
        .args(["up", "--help"])
        .output()
        .expect("private-network runs");
    assert_eq!(up.status.code(), Some(0));
    golden("private-network-up-help.txt", &text(&up.stdout));
    let version = Command::new(program("private-network"))
        .arg("--version")
        .output()
        .expect("private-network runs");
    assert!(
        text(&version.stdout).starts_with("private-network "),
        "{}",
        text(&version.stdout)
    );
}

/// Usage errors say what is wrong with a suggestion, exit 2, and touch no network: the endpoint
/// given would refuse every connection, and the answer is only the usage error.
#[test]
fn usage_errors_exit_2_without_touching_the_network() {
    let nowhere = [("PALISADE_ENDPOINT", closed_port_endpoint())];
    for (name, args) in [
        ("bogus-flag", &["--bogus"][..]),
        ("preview-jsn", &["preview", "--jsn"]),
        ("unknown-command", &["prevew"]),
        ("parallel-zero", &["preview", "--parallel", "0"]),
        ("import-missing-id", &["import", "main"]),
        ("deploy-stack", &["deploy", "--stack", "dev"]),
    ] {
        let output = secure_mlops(name, args, &nowhere);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", text(&output.stderr));
        assert!(output.stdout.is_empty(), "{args:?}: {}", text(&output.stdout));
        let stderr = text(&output.stderr);
        assert_plain(&stderr);
        golden(&format!("usage-{name}.txt"), &stderr);
    }
}

#[test]
fn shell_completions_are_printed() {
    let output = secure_mlops("completions", &["completions", "bash"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let script = text(&output.stdout);
    for word in ["secure-mlops", "deploy", "preview", "--approve-prod", "--allow-replace"] {
        assert!(script.contains(word), "the bash completions lack {word}");
    }
}

#[test]
fn a_configuration_with_an_unknown_field_names_its_path() {
    let dir = scratch("config");
    let example = std::fs::read_to_string(workspace_root().join("examples/secure-mlops/environment.example.json"))
        .expect("example configuration");
    let mut config: Json = serde_json::from_str(&example).expect("JSON");
    config["targets"][1]["instanceCnt"] = 2.into();
    // The error names a column: written with sorted keys, the file is the same whether or not the
    // build's serde_json keeps insertion order (which depends on the crates built alongside).
    config.sort_all_objects();
    let path = dir.join("environment.json");
    std::fs::write(&path, config.to_string()).expect("write");
    let output = secure_mlops(
        "config-unknown-field",
        &["--config", path.to_str().expect("utf-8"), "preview"],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    golden("config-unknown-field.txt", &stderr);
}

/// An endpoint on a loopback port nothing listens on.
fn closed_port_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// A stand-in for AWS on a loopback port that answers every request with `status` and `body`.
/// Returns the endpoint.
fn fake_aws(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut request = vec![0; length];
                let _ = reader.read_exact(&mut request);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    format!("http://127.0.0.1:{port}")
}

const TEST_CREDENTIALS: [(&str, &str); 2] = [("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")];

fn with_credentials(endpoint: String) -> Vec<(&'static str, String)> {
    let mut env: Vec<(&str, String)> = TEST_CREDENTIALS.iter().map(|(k, v)| (*k, v.to_string())).collect();
    env.push(("PALISADE_ENDPOINT", endpoint));
    env
}

/// Runs `secure-mlops preview` in `env` and checks that it fails with one or two plain lines, the
/// same as tests/golden/NAME once the endpoint's port is replaced by PORT.
fn preview_fails_plainly(name: &str, env: &[(&str, String)]) {
    let output = secure_mlops(name, &["preview"], env);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert_plain(&stderr);
    assert!(
        (1..=2).contains(&stderr.lines().count()),
        "more than two lines on the terminal:\n{stderr}"
    );
    let endpoint = env
        .iter()
        .find(|(k, _)| *k == "PALISADE_ENDPOINT")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let port = endpoint.rsplit(':').next().unwrap_or_default().to_string();
    let stable = if port.is_empty() {
        stderr
    } else {
        stderr.replace(&port, "PORT")
    };
    golden(name, &stable);
}

#[test]
fn a_missing_credential_says_which_account_and_what_to_do() {
    preview_fails_plainly(
        "error-no-credentials.txt",
        &[("PALISADE_ENDPOINT", closed_port_endpoint())],
    );
}

/// With the default retry budget (minutes, for throttling), a refused connection still fails in
/// seconds: connection failures get a few quick attempts only.
#[test]
fn an_unreachable_endpoint_says_which_account_and_what_to_do() {
    let mut env = with_credentials(closed_port_endpoint());
    env.push(("PALISADE_RETRY_SECONDS", "300".to_string()));
    let started = Instant::now();
    preview_fails_plainly("error-unreachable.txt", &env);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "an unreachable endpoint took {:?} to fail",
        started.elapsed()
    );
}

/// The provider plugins' own warnings (here the AWS SDK's, about a config file that is not there)
/// reach the terminal only when RUST_LOG asks for them; the error itself still does.
#[test]
fn plugin_warnings_stay_off_the_terminal_unless_rust_log_asks() {
    let mut env = with_credentials(closed_port_endpoint());
    env.push(("AWS_CONFIG_FILE", "/nonexistent/palisade/aws-config".to_string()));
    let warning = "config file overridden via environment variable not found";

    let quiet = secure_mlops("plugin-warnings-quiet", &["preview"], &env);
    assert_eq!(quiet.status.code(), Some(1));
    let stderr = text(&quiet.stderr);
    assert!(!stderr.contains(warning) && !stderr.contains("WARN"), "{stderr}");
    assert!(stderr.starts_with("error: cannot reach "), "{stderr}");
    assert_eq!(stderr.lines().count(), 2, "{stderr}");

    env.push(("RUST_LOG", "warn".to_string()));
    let logged = secure_mlops("plugin-warnings-logged", &["preview"], &env);
    assert_eq!(logged.status.code(), Some(1));
    let stderr = text(&logged.stderr);
    assert!(
        stderr.contains(warning),
        "RUST_LOG=warn shows the plugins' warnings:\n{stderr}"
    );
}

#[test]
fn access_denied_says_which_account_and_what_to_do() {
    let endpoint = fake_aws(
        "403 Forbidden",
        "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:GetCallerIdentity</Message></Error><RequestId>r-1</RequestId></ErrorResponse>",
    );
    preview_fails_plainly("error-access-denied.txt", &with_credentials(endpoint));
}

#[test]
fn an_account_mismatch_says_which_account_and_what_to_do() {
    let endpoint = fake_aws(
        "200 OK",
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::999999999999:user/ci</Arn><UserId>AIDAEXAMPLE</UserId><Account>999999999999</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
    );
    preview_fails_plainly("error-account-mismatch.txt", &with_credentials(endpoint));
}

/// `preview --json` of the reference environment, from empty state against the emulator, follows
/// the plan's published schema (sdk/plan.schema.json), and every key in it is camelCase.
#[test]
fn preview_json_follows_the_plan_schema() {
    let emulator = Emulator::start().expect("emulator");
    let mut env = with_credentials(emulator.endpoint());
    env.push(("AWS_REGION", palisade_tests::REGION.to_string()));
    // The emulator's first answers can take a few seconds; the other tests' 2 s budget is too short.
    env.push(("PALISADE_RETRY_SECONDS", "120".to_string()));
    let output = secure_mlops("preview-json", &["preview", "--json"], &env);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let plan: Json = serde_json::from_slice(&output.stdout).expect("preview --json prints JSON");
    let schema: Json = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("sdk/plan.schema.json")).expect("plan.schema.json"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&plan)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "preview --json breaks plan.schema.json:\n{}",
        errors.join("\n")
    );
    assert!(
        plan["steps"].as_array().is_some_and(|s| !s.is_empty()),
        "the reference environment plans steps"
    );
    // The check has teeth: the old snake_case key is refused.
    let mut broken = plan.clone();
    if let Some(finding) = broken["stacks"][0].as_object_mut() {
        let id = finding.remove("accountId").expect("accountId");
        finding.insert("account_id".into(), id);
    }
    assert!(!validator.is_valid(&broken), "the schema accepted a snake_case key");
}

/// The self-containment check (CI's first step) refuses a path outside the repository.
#[test]
fn the_self_containment_check_refuses_outside_paths() {
    let root = workspace_root();
    let check = root.join("scripts/check-self-contained");
    let clean = Command::new(&check).current_dir(&root).output().expect("runs");
    assert!(clean.status.success(), "{}", text(&clean.stderr));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("self-contained-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let probe = dir.join("probe.rs");
    // Spelled in pieces so that this file does not trip the check itself.
    let outside = format!("{}/shared/reference/x.json", "..");
    std::fs::write(
        &probe,
        format!("fn f() -> std::path::PathBuf {{ workspace_root().join(\"{outside}\") }}\n"),
    )
    .expect("write");
    let relative = probe
        .strip_prefix(&root)
        .expect("the target dir is inside the repository");
    let refused = Command::new(&check)
        .arg(relative)
        .current_dir(&root)
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains(&outside), "{}", text(&refused.stderr));
}
