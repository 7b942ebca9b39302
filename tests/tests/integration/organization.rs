//! Targets from an AWS Organizations organizational unit, end to end on the emulator through the
//! real `secure-mlops` binary and its provider plugins: an organization whose management account is
//! dev, an OU of three accounts made and moved into it through Organizations' API, the environment
//! deployed with `"targets": {"organizationalUnit": ...}`. A fourth account joins the OU: the
//! preview shows exactly one new target stack and, in dev, updates of the three grants (models
//! bucket policy, S3 key policy, model package group policy) and nothing else anywhere; it is
//! applied. Then one account leaves: the preview shows the grants updated again, no stack of it, and
//! says how to retire it; `destroy --stack <it>` then deletes what it holds in its account.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use palisade_tests::{built_binary, Emulator, DEFAULT_ACCOUNT, REGION};
use serde_json::{json, Value as Json};

const PROJECT: &str = "orgs";
/// Dev's grants to the targets: what joining or leaving the OU changes in dev.
const GRANTS: [&str; 3] = [
    "palisade-security:index:BucketPolicy::models",
    "palisade-security:index:KmsKeyPolicy::s3",
    "palisade-deploy:index:ModelPackageGroup::models",
];

fn program(name: &str) -> PathBuf {
    built_binary(name).unwrap_or_else(|error| panic!("{error}"))
}

async fn aws_config(emulator: &Emulator, account: &str) -> aws_config::SdkConfig {
    let base = || {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(emulator.endpoint())
    };
    let keys = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    let config = base().credentials_provider(keys).load().await;
    if account == DEFAULT_ACCOUNT {
        return config;
    }
    let role = aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/auditor"))
        .session_name("organization-audit")
        .configure(&config)
        .build()
        .await;
    base().credentials_provider(role).load().await
}

/// The organization, as its management account (the emulator's default account, dev) sees it.
struct Organization {
    client: aws_sdk_organizations::Client,
    root: String,
    unit: String,
}

impl Organization {
    async fn create(emulator: &Emulator) -> Self {
        let client = aws_sdk_organizations::Client::new(&aws_config(emulator, DEFAULT_ACCOUNT).await);
        client
            .create_organization()
            .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
            .send()
            .await
            .expect("CreateOrganization");
        let roots = client.list_roots().send().await.expect("ListRoots");
        let root = roots.roots()[0].id().expect("root id").to_string();
        let unit = client
            .create_organizational_unit()
            .parent_id(&root)
            .name("ml-targets")
            .send()
            .await
            .expect("CreateOrganizationalUnit");
        let unit = unit
            .organizational_unit()
            .and_then(|u| u.id())
            .expect("OU id")
            .to_string();
        Self { client, root, unit }
    }

    /// Creates an account named `name` and moves it into the OU; its id.
    async fn join(&self, name: &str) -> String {
        let created = self
            .client
            .create_account()
            .account_name(name)
            .email(format!("{name}@example.com"))
            .send()
            .await
            .expect("CreateAccount");
        let request = created
            .create_account_status()
            .and_then(|s| s.id())
            .expect("request id")
            .to_string();
        let status = self
            .client
            .describe_create_account_status()
            .create_account_request_id(request)
            .send()
            .await
            .expect("DescribeCreateAccountStatus");
        let id = status
            .create_account_status()
            .and_then(|s| s.account_id())
            .expect("account id")
            .to_string();
        self.move_account(&id, &self.root, &self.unit).await;
        id
    }

    async fn move_account(&self, id: &str, from: &str, to: &str) {
        self.client
            .move_account()
            .account_id(id)
            .source_parent_id(from)
            .destination_parent_id(to)
            .send()
            .await
            .expect("MoveAccount");
    }
}

/// The environment: dev as in the reference, the targets from `unit`.
fn configuration(unit: &str) -> Json {
    let network = |octet: u8| {
        json!({
            "vpcCidr": format!("10.{octet}.0.0/16"),
            "subnets": [
                {"cidr": format!("10.{octet}.1.0/24"), "zone": "a"},
                {"cidr": format!("10.{octet}.2.0/24"), "zone": "b"}
            ]
        })
    };
    json!({
        "environment": PROJECT,
        "region": REGION,
        "dev": {
            "account": {"accountId": DEFAULT_ACCOUNT},
            "network": network(0),
            "model": {
                "image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                "artifactKey": "churn/model.tar.gz"
            }
        },
        "targets": {
            "organizationalUnit": unit,
            "template": {"network": network(1), "instanceCount": 1, "requiresApproval": false}
        }
    })
}

/// `secure-mlops ARGS --config CONFIG` against the emulator, with state in `home`; it must succeed.
fn secure_mlops(emulator: &Emulator, home: &Path, config: &Path, args: &[&str]) -> Output {
    let output = run(emulator, home, config, args);
    assert!(
        output.status.success(),
        "secure-mlops {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn run(emulator: &Emulator, home: &Path, config: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(program("secure-mlops"));
    command
        .args(args)
        .arg("--config")
        .arg(config)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("PALISADE_STATE_DIR", home.join("state"))
        .env("PALISADE_ENDPOINT", emulator.endpoint())
        .envs(emulator.plugin_env())
        .stdin(Stdio::null());
    command.output().expect("secure-mlops runs")
}

/// The preview's changes: per stack, each changed resource (`type::name`) and its operation.
fn changes(output: &Output) -> BTreeMap<String, BTreeMap<String, String>> {
    let plan: Json = serde_json::from_slice(&output.stdout).expect("the preview is JSON");
    let mut changes: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for stack in plan["stacks"].as_array().expect("stacks") {
        changes
            .entry(stack["stack"].as_str().expect("name").to_string())
            .or_default();
    }
    for step in plan["steps"].as_array().expect("steps") {
        let operation = step["operation"].as_str().expect("operation");
        if operation == "same" {
            continue;
        }
        let urn = step["urn"].as_str().expect("urn");
        let resource = urn.split("::").skip(2).collect::<Vec<_>>().join("::");
        changes
            .entry(step["stack"].as_str().expect("stack").to_string())
            .or_default()
            .insert(resource, operation.to_string());
    }
    changes
}

fn grants_updated() -> BTreeMap<String, String> {
    GRANTS.iter().map(|g| (g.to_string(), "update".to_string())).collect()
}

/// The VPCs of this environment (by their URN tag) in `account`.
async fn our_vpcs(emulator: &Emulator, account: &str) -> usize {
    let ec2 = aws_sdk_ec2::Client::new(&aws_config(emulator, account).await);
    let vpcs = ec2.describe_vpcs().send().await.expect("DescribeVpcs");
    vpcs.vpcs()
        .iter()
        .filter(|vpc| {
            vpc.tags().iter().any(|t| {
                t.key() == Some("palisade:urn") && t.value().is_some_and(|v| v.contains(&format!("::{PROJECT}::")))
            })
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn targets_follow_an_organizational_unit_as_accounts_join_and_leave() {
    let started = Instant::now();
    let emulator = Emulator::start().expect("emulator");
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("organization-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    std::fs::create_dir_all(&home).expect("home");

    let organization = Organization::create(&emulator).await;
    let alpha = organization.join("Team Alpha").await;
    let beta = organization.join("team-beta").await;
    let gamma = organization.join("team-gamma").await;
    let config = home.join("environment.json");

    // A unit the organization does not have: refused before anything is planned, naming the
    // property and what to check.
    std::fs::write(&config, configuration("ou-zzzz-zzzzzzzz").to_string()).expect("config");
    let refused = run(&emulator, &home, &config, &["preview"]);
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{error}");
    assert!(
        error.contains("configuration `targets.organizationalUnit`: listing the accounts of ou-zzzz-zzzzzzzz")
            && error.contains(
                "organizationalUnitId: the organization has no organizational unit `ou-zzzz-zzzzzzzz`; check the id"
            ),
        "{error}"
    );

    std::fs::write(&config, configuration(&organization.unit).to_string()).expect("config");

    let deployed = secure_mlops(&emulator, &home, &config, &["deploy", "--yes", "--approve-prod"]);
    let summary = String::from_utf8_lossy(&deployed.stdout);
    for (stack, account) in [("team-alpha", &alpha), ("team-beta", &beta), ("team-gamma", &gamma)] {
        assert!(
            summary.contains(&format!("{stack} (account {account}, {REGION})")),
            "{stack} deployed to {account}: {summary}"
        );
        assert_eq!(our_vpcs(&emulator, account).await, 1, "{stack}'s VPC in {account}");
    }
    let deploy_seconds = started.elapsed().as_secs_f64();

    // A fourth account joins: one new target stack, dev's three grants updated, nothing else.
    let delta = organization.join("team-delta").await;
    let preview = secure_mlops(&emulator, &home, &config, &["preview", "--json"]);
    let planned = changes(&preview);
    let stacks: BTreeSet<&str> = planned.keys().map(String::as_str).collect();
    assert_eq!(
        stacks,
        BTreeSet::from(["dev", "team-alpha", "team-beta", "team-delta", "team-gamma"])
    );
    assert_eq!(planned["dev"], grants_updated(), "dev: only the grants change");
    for unchanged in ["team-alpha", "team-beta", "team-gamma"] {
        assert!(
            planned[unchanged].is_empty(),
            "{unchanged} changes: {:?}",
            planned[unchanged]
        );
    }
    let new_stack = &planned["team-delta"];
    assert!(new_stack.len() > 10, "the new target's whole stack: {new_stack:?}");
    assert!(
        new_stack.values().all(|op| op == "create"),
        "the new target's stack is only created: {new_stack:?}"
    );
    let plan: Json = serde_json::from_slice(&preview.stdout).expect("JSON");
    let delta_stack = plan["stacks"]
        .as_array()
        .expect("stacks")
        .iter()
        .find(|s| s["stack"] == "team-delta")
        .expect("team-delta");
    assert_eq!(
        delta_stack["accountId"],
        json!(delta),
        "the new stack is the joined account's"
    );
    secure_mlops(&emulator, &home, &config, &["deploy", "--yes", "--approve-prod"]);
    assert_eq!(our_vpcs(&emulator, &delta).await, 1, "team-delta's VPC in {delta}");

    // team-beta leaves: dev's grants change again, its stack is not planned (nothing in it or any
    // other stack changes), and the preview says how to retire it.
    organization
        .move_account(&beta, &organization.unit, &organization.root)
        .await;
    let preview = secure_mlops(&emulator, &home, &config, &["preview", "--json"]);
    let planned = changes(&preview);
    assert!(!planned.contains_key("team-beta"), "{:?}", planned.keys());
    assert_eq!(planned["dev"], grants_updated(), "dev: only the grants change");
    for unchanged in ["team-alpha", "team-gamma", "team-delta"] {
        assert!(
            planned[unchanged].is_empty(),
            "{unchanged} changes: {:?}",
            planned[unchanged]
        );
    }
    let notes = String::from_utf8_lossy(&preview.stderr);
    let retire = format!(
        "note: target `team-beta` (account {beta}) left {}: its stack is no longer declared and its ",
        organization.unit
    );
    assert!(notes.contains(&retire), "{notes}");
    assert!(
        notes.contains("resources still exist; retire it with `secure-mlops destroy --stack team-beta`"),
        "{notes}"
    );

    // The grants no longer name team-beta once applied; the retire command deletes its stack.
    secure_mlops(&emulator, &home, &config, &["deploy", "--yes", "--approve-prod"]);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&aws_config(&emulator, DEFAULT_ACCOUNT).await)
            .force_path_style(true)
            .build(),
    );
    let policy = s3
        .get_bucket_policy()
        .bucket(format!("{PROJECT}-models-{DEFAULT_ACCOUNT}"))
        .send()
        .await
        .expect("GetBucketPolicy");
    let policy = policy.policy().unwrap_or_default();
    assert!(
        !policy.contains(&beta),
        "the models bucket still names team-beta: {policy}"
    );
    for stays in [&alpha, &gamma, &delta] {
        assert!(
            policy.contains(stays.as_str()),
            "the models bucket names {stays}: {policy}"
        );
    }
    assert_eq!(
        our_vpcs(&emulator, &beta).await,
        1,
        "nothing in team-beta was touched yet"
    );
    let destroyed = secure_mlops(&emulator, &home, &config, &["destroy", "--yes", "--stack", "team-beta"]);
    let report = String::from_utf8_lossy(&destroyed.stdout);
    assert!(report.contains(" 0 failed"), "{report}");
    assert_eq!(our_vpcs(&emulator, &beta).await, 0, "team-beta's VPC is gone: {report}");
    if let Ok(text) = std::fs::read_to_string(home.join(format!("state/{PROJECT}/team-beta.json"))) {
        let state: Json = serde_json::from_str(&text).expect("JSON");
        assert_eq!(state["resources"], json!([]), "team-beta's state is empty");
    }
    let after = secure_mlops(&emulator, &home, &config, &["preview", "--json"]);
    assert!(
        !String::from_utf8_lossy(&after.stderr).contains("team-beta"),
        "a retired stack is no longer mentioned"
    );
    assert!(changes(&after).values().all(BTreeMap::is_empty), "nothing left to do");
    eprintln!(
        "organization test: first deploy {deploy_seconds:.1}s, whole test {:.1}s",
        started.elapsed().as_secs_f64()
    );
}
