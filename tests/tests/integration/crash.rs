//! The crash test (issue #14): the real `secure-mlops deploy` killed (kill -9, with its plugins) at a
//! point chosen by AWS-call count, each time on a fresh emulator, then run again to completion. AWS,
//! read through its own APIs in all three accounts, must then match the states: no duplicate (two
//! cloud resources carrying one URN), no orphan (a resource of ours, tagged or not, that no state
//! holds), nothing missing (every state resource exists), no operation left pending; and the run
//! after that makes no mutating call.
//!
//! `aimed_kills_right_after_each_create_converge` (CI) kills right after the first create of each
//! kind, with the create's answer lost (AWS made it, the program never heard). The random sweep
//! (`random_kills_converge`, ignored; `scripts/crash-sweep` runs it) kills at seeded random ranks.
//! `aimed_kills_right_after_each_delete_converge` does the same to `secure-mlops destroy` after an
//! uninterrupted deploy: killed right after the first deletion of each kind, the rerun must leave
//! nothing of the environment in AWS and no state resource, and a third destroy changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use palisade_tests::crash::{
    crash_at, crash_destroy_at, deletion, first_creates, Crash, Deployment, Killed, Point, DESTROY, RUN_TIMEOUT,
};
use palisade_tests::{Emulator, DEFAULT_ACCOUNT, REGION};
use serde_json::Value as Json;

const ACCOUNTS: [&str; 3] = [DEFAULT_ACCOUNT, "222222222222", "333333333333"];
const URN_TAG: &str = "palisade:urn";

/// A resource AWS holds: its kind (the type's last part, `Vpc`), id as Palisade records it, and
/// the URN it carries (tag, or a model package's customer metadata), if any.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Cloud {
    account: String,
    kind: String,
    id: String,
    urn: Option<String>,
}

/// AWS's view of one account, through the SDK, independent of Palisade.
struct Aws {
    account: String,
    ec2: aws_sdk_ec2::Client,
    s3: aws_sdk_s3::Client,
    kms: aws_sdk_kms::Client,
    iam: aws_sdk_iam::Client,
    sagemaker: aws_sdk_sagemaker::Client,
}

fn ec2_urn(tags: &[aws_sdk_ec2::types::Tag]) -> Option<String> {
    tags.iter()
        .find(|t| t.key() == Some(URN_TAG))
        .and_then(|t| t.value().map(str::to_string))
}

impl Aws {
    async fn of(emulator: &Emulator, account: &str) -> Self {
        let base = || {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(REGION))
                .endpoint_url(emulator.endpoint())
        };
        let keys = aws_credential_types::Credentials::from_keys("testing", "testing", None);
        let mut config = base().credentials_provider(keys).load().await;
        if account != DEFAULT_ACCOUNT {
            let role = aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/auditor"))
                .session_name("crash-audit")
                .configure(&config)
                .build()
                .await;
            config = base().credentials_provider(role).load().await;
        }
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build();
        Self {
            account: account.to_string(),
            ec2: aws_sdk_ec2::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            kms: aws_sdk_kms::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            sagemaker: aws_sdk_sagemaker::Client::new(&config),
        }
    }

    fn cloud(&self, kind: &str, id: impl Into<String>, urn: Option<String>) -> Cloud {
        Cloud {
            account: self.account.clone(),
            kind: kind.to_string(),
            id: id.into(),
            urn,
        }
    }

    async fn sagemaker_urn(&self, arn: &str) -> Option<String> {
        let tags = self.sagemaker.list_tags().resource_arn(arn).send().await.ok()?;
        tags.tags()
            .iter()
            .find(|t| t.key() == Some(URN_TAG))
            .and_then(|t| t.value().map(str::to_string))
    }

    /// Every resource of the kinds the reference environment creates, except what the account
    /// has by default (default VPC and its subnets, default security groups, main route tables,
    /// AWS-managed keys, service-linked roles).
    async fn resources(&self) -> anyhow::Result<Vec<Cloud>> {
        let mut found = Vec::new();
        for vpc in self.ec2.describe_vpcs().send().await?.vpcs() {
            if vpc.is_default() != Some(true) {
                found.push(self.cloud("Vpc", vpc.vpc_id().unwrap_or_default(), ec2_urn(vpc.tags())));
            }
        }
        for subnet in self.ec2.describe_subnets().send().await?.subnets() {
            if subnet.default_for_az() != Some(true) {
                found.push(self.cloud("Subnet", subnet.subnet_id().unwrap_or_default(), ec2_urn(subnet.tags())));
            }
        }
        for table in self.ec2.describe_route_tables().send().await?.route_tables() {
            if !table.associations().iter().any(|a| a.main() == Some(true)) {
                let id = table.route_table_id().unwrap_or_default();
                found.push(self.cloud("RouteTable", id, ec2_urn(table.tags())));
            }
        }
        for group in self.ec2.describe_security_groups().send().await?.security_groups() {
            if group.group_name() != Some("default") {
                let id = group.group_id().unwrap_or_default();
                found.push(self.cloud("SecurityGroup", id, ec2_urn(group.tags())));
            }
        }
        for endpoint in self.ec2.describe_vpc_endpoints().send().await?.vpc_endpoints() {
            // AWS lists a deleted endpoint for a while after, in state `deleted` (lower case,
            // which the SDK does not map to its `Deleted`).
            if endpoint
                .state()
                .is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted"))
            {
                continue;
            }
            let id = endpoint.vpc_endpoint_id().unwrap_or_default();
            found.push(self.cloud("VpcEndpoint", id, ec2_urn(endpoint.tags())));
        }
        for key in self.kms.list_keys().send().await?.keys() {
            let id = key.key_id().unwrap_or_default();
            let described = self.kms.describe_key().key_id(id).send().await?;
            let Some(metadata) = described.key_metadata() else {
                continue;
            };
            let managed_by_aws = metadata.key_manager() == Some(&aws_sdk_kms::types::KeyManagerType::Aws);
            let deleting = metadata.key_state() == Some(&aws_sdk_kms::types::KeyState::PendingDeletion);
            if managed_by_aws || deleting {
                continue;
            }
            let tags = self.kms.list_resource_tags().key_id(id).send().await?;
            let urn = tags
                .tags()
                .iter()
                .find(|t| t.tag_key() == URN_TAG)
                .map(|t| t.tag_value().to_string());
            found.push(self.cloud("KmsKey", id, urn));
        }
        for role in self.iam.list_roles().send().await?.roles() {
            if role.path().starts_with("/aws-service-role/") {
                continue;
            }
            let tags = self.iam.list_role_tags().role_name(role.role_name()).send().await?;
            let urn = tags
                .tags()
                .iter()
                .find(|t| t.key() == URN_TAG)
                .map(|t| t.value().to_string());
            found.push(self.cloud("Role", role.role_name(), urn));
        }
        for bucket in self.s3.list_buckets().send().await?.buckets() {
            let name = bucket.name().unwrap_or_default();
            let urn = match self.s3.get_bucket_tagging().bucket(name).send().await {
                Ok(tags) => tags
                    .tag_set()
                    .iter()
                    .find(|t| t.key() == URN_TAG)
                    .map(|t| t.value().to_string()),
                Err(_) => None, // NoSuchTagSet: a bucket created before it was tagged
            };
            found.push(self.cloud("Bucket", name, urn));
        }
        let sagemaker = &self.sagemaker;
        for domain in sagemaker.list_domains().send().await?.domains() {
            let urn = self.sagemaker_urn(domain.domain_arn().unwrap_or_default()).await;
            found.push(self.cloud("Domain", domain.domain_id().unwrap_or_default(), urn));
        }
        for profile in sagemaker.list_user_profiles().send().await?.user_profiles() {
            let (domain, name) = (
                profile.domain_id().unwrap_or_default(),
                profile.user_profile_name().unwrap_or_default(),
            );
            let described = sagemaker
                .describe_user_profile()
                .domain_id(domain)
                .user_profile_name(name)
                .send()
                .await?;
            let urn = self
                .sagemaker_urn(described.user_profile_arn().unwrap_or_default())
                .await;
            found.push(self.cloud("UserProfile", format!("{domain}/{name}"), urn));
        }
        let groups = sagemaker.list_model_package_groups().send().await?;
        for group in groups.model_package_group_summary_list() {
            let name = group.model_package_group_name().unwrap_or_default();
            let urn = self
                .sagemaker_urn(group.model_package_group_arn().unwrap_or_default())
                .await;
            found.push(self.cloud("ModelPackageGroup", name, urn));
            let packages = sagemaker
                .list_model_packages()
                .model_package_group_name(name)
                .send()
                .await?;
            for package in packages.model_package_summary_list() {
                let arn = package.model_package_arn().unwrap_or_default();
                let described = sagemaker
                    .describe_model_package()
                    .model_package_name(arn)
                    .send()
                    .await?;
                let metadata = described
                    .customer_metadata_properties()
                    .and_then(|m| m.get(URN_TAG).cloned());
                let urn = match metadata {
                    Some(urn) => Some(urn),
                    None => self.sagemaker_urn(arn).await,
                };
                found.push(self.cloud("ModelPackage", arn, urn));
            }
        }
        for model in sagemaker.list_models().send().await?.models() {
            let urn = self.sagemaker_urn(model.model_arn().unwrap_or_default()).await;
            found.push(self.cloud("Model", model.model_name().unwrap_or_default(), urn));
        }
        for config in sagemaker.list_endpoint_configs().send().await?.endpoint_configs() {
            let urn = self
                .sagemaker_urn(config.endpoint_config_arn().unwrap_or_default())
                .await;
            let name = config.endpoint_config_name().unwrap_or_default();
            found.push(self.cloud("EndpointConfig", name, urn));
        }
        for endpoint in sagemaker.list_endpoints().send().await?.endpoints() {
            let urn = self.sagemaker_urn(endpoint.endpoint_arn().unwrap_or_default()).await;
            found.push(self.cloud("Endpoint", endpoint.endpoint_name().unwrap_or_default(), urn));
        }
        Ok(found)
    }
}

/// What the audit of AWS against the states found.
#[derive(Debug, Default)]
struct Audit {
    /// URNs carried by more than one cloud resource: `(kind, urn, ids)`.
    duplicates: Vec<(String, String, Vec<String>)>,
    /// Cloud resources no state holds.
    orphans: Vec<Cloud>,
    /// State resources AWS does not hold: `(kind, urn, id)`.
    missing: Vec<(String, String, String)>,
    /// Operations still journalled: `(urn, operation)`.
    pending: Vec<(String, String)>,
    /// State resources checked against AWS.
    checked: usize,
}

impl Audit {
    fn clean(&self) -> bool {
        self.duplicates.is_empty() && self.orphans.is_empty() && self.missing.is_empty() && self.pending.is_empty()
    }
}

/// The kinds [`Aws::resources`] lists; others (policies attached to a key or bucket) have no
/// identity of their own in AWS.
const LISTED_KINDS: [&str; 15] = [
    "Vpc",
    "Subnet",
    "RouteTable",
    "SecurityGroup",
    "VpcEndpoint",
    "KmsKey",
    "Role",
    "Bucket",
    "Domain",
    "UserProfile",
    "ModelPackageGroup",
    "ModelPackage",
    "Model",
    "EndpointConfig",
    "Endpoint",
];

async fn audit(emulator: &Emulator, states: &[Json]) -> anyhow::Result<Audit> {
    let mut cloud = Vec::new();
    for account in ACCOUNTS {
        cloud.extend(Aws::of(emulator, account).await.resources().await?);
    }
    let mut audit = Audit::default();
    // (account, kind, id) of every state resource.
    let mut held = BTreeSet::new();
    for state in states {
        let account = state["accountId"].as_str().unwrap_or_default().to_string();
        for resource in state["resources"].as_array().into_iter().flatten() {
            let kind = resource["type"]
                .as_str()
                .unwrap_or_default()
                .rsplit(':')
                .next()
                .unwrap_or_default();
            if !LISTED_KINDS.contains(&kind) {
                continue;
            }
            let id = resource["id"].as_str().unwrap_or_default().to_string();
            let urn = resource["urn"].as_str().unwrap_or_default().to_string();
            audit.checked += 1;
            if !cloud
                .iter()
                .any(|c| c.account == account && c.kind == kind && c.id == id)
            {
                audit.missing.push((kind.to_string(), urn, id.clone()));
            }
            held.insert((account.clone(), kind.to_string(), id));
        }
        for pending in state["pending"].as_array().into_iter().flatten() {
            audit.pending.push((
                pending["urn"].as_str().unwrap_or_default().to_string(),
                pending["operation"].as_str().unwrap_or_default().to_string(),
            ));
        }
    }
    let mut by_urn: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for resource in &cloud {
        if let Some(urn) = &resource.urn {
            by_urn
                .entry((resource.kind.clone(), urn.clone()))
                .or_default()
                .push(resource.id.clone());
        }
        if !held.contains(&(resource.account.clone(), resource.kind.clone(), resource.id.clone())) {
            audit.orphans.push(resource.clone());
        }
    }
    audit.duplicates = by_urn
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|((kind, urn), ids)| (kind, urn, ids))
        .collect();
    Ok(audit)
}

/// One crash, judged.
#[derive(Debug)]
struct Verdict {
    point: Point,
    killed: Killed,
    call: Option<String>,
    rerun_succeeded: bool,
    audit: Audit,
    mutating_after: Vec<String>,
    seconds: f64,
    rerun_tail: String,
    /// Resources the states hold after the runs.
    state_resources: usize,
}

impl Verdict {
    fn converged(&self) -> bool {
        self.rerun_succeeded && self.audit.clean() && self.mutating_after.is_empty()
    }

    fn line(&self) -> String {
        let at = match self.killed {
            Killed::AtPoint => format!("killed after {}", self.call.as_deref().unwrap_or("?")),
            Killed::EndedBefore => "ended before the point".to_string(),
        };
        format!(
            "{}: {at}; rerun {}; {} checked, {} duplicates, {} orphans, {} missing, {} pending; {} mutating calls after; {:.1}s",
            self.point,
            if self.rerun_succeeded { "ok" } else { "FAILED" },
            self.audit.checked,
            self.audit.duplicates.len(),
            self.audit.orphans.len(),
            self.audit.missing.len(),
            self.audit.pending.len(),
            self.mutating_after.len(),
            self.seconds,
        )
    }

    fn details(&self) -> String {
        let mut text = self.line();
        for (kind, urn, ids) in &self.audit.duplicates {
            text += &format!("\n  duplicate {kind} {urn}: {ids:?}");
        }
        for orphan in &self.audit.orphans {
            text += &format!(
                "\n  orphan {} {} in {} (urn {:?})",
                orphan.kind, orphan.id, orphan.account, orphan.urn
            );
        }
        for (kind, urn, id) in &self.audit.missing {
            text += &format!("\n  missing {kind} {id} ({urn})");
        }
        for (urn, operation) in &self.audit.pending {
            text += &format!("\n  pending {operation} {urn}");
        }
        if !self.mutating_after.is_empty() {
            text += &format!("\n  mutating calls on the run after: {:?}", self.mutating_after);
        }
        if !self.rerun_succeeded {
            text += &format!("\n  the rerun's last lines:\n{}", self.rerun_tail);
        }
        text
    }
}

fn judge(crash: Crash) -> anyhow::Result<Verdict> {
    let states = crash.deployment.states()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let audit = runtime.block_on(audit(&crash.emulator, &states))?;
    Ok(Verdict {
        point: crash.point,
        killed: crash.killed,
        call: crash.call,
        rerun_succeeded: crash.rerun.success && crash.after.as_ref().is_some_and(|a| a.success),
        audit,
        mutating_after: crash.mutating_after,
        seconds: crash.elapsed.as_secs_f64(),
        rerun_tail: crash.rerun.tail(15),
        state_resources: states
            .iter()
            .map(|s| s["resources"].as_array().map_or(0, Vec::len))
            .sum(),
    })
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("palisade-crash-{}-{name}", std::process::id()))
}

/// How one point is crashed: [`crash_at`] (a deploy) or [`crash_destroy_at`].
type CrashFn = fn(&Point, &std::path::Path) -> anyhow::Result<Crash>;

/// Runs `points` on `workers` threads (each on its own emulator), in order of the list.
fn sweep(points: Vec<Point>, workers: usize, crash: CrashFn) -> Vec<Verdict> {
    let queue = std::sync::Mutex::new(points.into_iter().enumerate().collect::<Vec<_>>());
    let verdicts = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| loop {
                let Some((index, point)) = queue.lock().expect("queue").pop() else {
                    break;
                };
                let dir = scratch(&format!("point-{index}"));
                let verdict = crash(&point, &dir).and_then(judge);
                match verdict {
                    Ok(verdict) => {
                        eprintln!("crash point {}", verdict.details());
                        if verdict.converged() {
                            let _ = std::fs::remove_dir_all(&dir);
                        } else {
                            eprintln!("  logs and states kept in {}", dir.display());
                        }
                        verdicts.lock().expect("verdicts").push((index, verdict));
                    }
                    Err(error) => panic!("crash point {point}: {error:#}"),
                }
            });
        }
    });
    let mut verdicts = verdicts.into_inner().expect("verdicts");
    verdicts.sort_by_key(|(index, _)| *index);
    verdicts.into_iter().map(|(_, v)| v).collect()
}

fn workers() -> usize {
    std::env::var("PALISADE_CRASH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(2)
}

/// The create of each kind the reference environment makes, as the request journal names it.
const CREATES: [&str; 15] = [
    "ec2:CreateVpc",
    "ec2:CreateSubnet",
    "ec2:CreateRouteTable",
    "ec2:CreateSecurityGroup",
    "ec2:CreateVpcEndpoint",
    "kms:CreateKey",
    "iam:CreateRole",
    "s3:CreateBucket",
    "sagemaker:CreateDomain",
    "sagemaker:CreateUserProfile",
    "sagemaker:CreateModelPackageGroup",
    "sagemaker:CreateModelPackage",
    "sagemaker:CreateModel",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:CreateEndpoint",
];

#[test]
fn aimed_kills_right_after_each_create_converge() {
    let points = CREATES
        .iter()
        .map(|call| Point {
            after: 1,
            call: Some(call.to_string()),
            swallow: true,
        })
        .collect();
    let verdicts = sweep(points, workers(), crash_at);
    let failed: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.converged())
        .map(Verdict::details)
        .collect();
    for verdict in &verdicts {
        // 68 resources of the listed kinds in the three accounts: the audit is not vacuous.
        assert!(verdict.audit.checked >= 60, "{}", verdict.details());
        assert_eq!(
            verdict.killed,
            Killed::AtPoint,
            "{}: the deploy no longer makes this call; update CREATES",
            verdict.point
        );
    }
    assert!(
        failed.is_empty(),
        "{} of {} kills did not converge:\n{}",
        failed.len(),
        verdicts.len(),
        failed.join("\n")
    );
}

/// A small deterministic generator (SplitMix64): the sweep's points follow from its seed alone.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The random sweep: `PALISADE_CRASH_POINTS` points (default 50), seeded by `PALISADE_CRASH_SEED`
/// (default 14), among the mutating calls of one uninterrupted deploy; answer lost or delivered at
/// random. Prints one line per point and the figures. Run by `scripts/crash-sweep`.
#[test]
#[ignore = "minutes long; scripts/crash-sweep runs it"]
fn random_kills_converge() {
    let count: usize = std::env::var("PALISADE_CRASH_POINTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let seed: u64 = std::env::var("PALISADE_CRASH_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(14);

    // One uninterrupted deploy: how many mutating calls there are, and where each kind's create is.
    let emulator = Emulator::start().expect("emulator");
    let dir = scratch("reference");
    let mut deployment = Deployment::new(&emulator, &dir).expect("deployment");
    let reference = deployment.run(RUN_TIMEOUT).expect("reference deploy");
    assert!(
        reference.success,
        "the uninterrupted deploy failed:\n{}",
        reference.tail(20)
    );
    let journal = emulator.requests().expect("journal");
    let total = journal.iter().filter(|(_, m)| *m).count();
    eprintln!(
        "uninterrupted deploy: {:.1}s, {} AWS calls, {total} mutating; first creates: {:?}",
        reference.elapsed.as_secs_f64(),
        journal.len(),
        first_creates(&journal)
    );
    drop(emulator);
    let _ = std::fs::remove_dir_all(&dir);

    let mut random = SplitMix(seed);
    let points: Vec<Point> = (0..count)
        .map(|_| Point {
            after: 1 + (random.next() % total as u64) as usize,
            call: None,
            swallow: random.next().is_multiple_of(2),
        })
        .collect();
    let verdicts = sweep(points, workers(), crash_at);

    let converged = verdicts.iter().filter(|v| v.converged()).count();
    let killed = verdicts.iter().filter(|v| v.killed == Killed::AtPoint).count();
    let sum = |f: fn(&Verdict) -> usize| verdicts.iter().map(f).sum::<usize>();
    let seconds: f64 = verdicts.iter().map(|v| v.seconds).sum();
    eprintln!(
        "\ncrash sweep (seed {seed}, {count} points, {total} mutating calls per deploy): {converged} of {} converged on the first rerun ({killed} killed at the point); {} duplicates, {} orphans, {} missing, {} pending; {} mutating calls on the run after; {:.1}s per point",
        verdicts.len(),
        sum(|v| v.audit.duplicates.len()),
        sum(|v| v.audit.orphans.len()),
        sum(|v| v.audit.missing.len()),
        sum(|v| v.audit.pending.len()),
        sum(|v| v.mutating_after.len()),
        seconds / verdicts.len().max(1) as f64,
    );
    let failed: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.converged())
        .map(Verdict::details)
        .collect();
    assert!(failed.is_empty(), "not converged:\n{}", failed.join("\n"));
}

#[test]
fn aimed_kills_right_after_each_delete_converge() {
    // One uninterrupted deploy and destroy: which deletions the destroy makes, each kind's first.
    let emulator = Emulator::start().expect("emulator");
    let dir = scratch("destroy-reference");
    let mut deployment = Deployment::new(&emulator, &dir).expect("deployment");
    let deployed = deployment.run(RUN_TIMEOUT).expect("reference deploy");
    assert!(deployed.success, "the deploy failed:\n{}", deployed.tail(20));
    emulator.clear_requests().expect("journal cleared");
    let destroyed = deployment.runs(&DESTROY).run(RUN_TIMEOUT).expect("reference destroy");
    assert!(
        destroyed.success,
        "the uninterrupted destroy failed:\n{}",
        destroyed.tail(20)
    );
    let journal = emulator.requests().expect("journal");
    let mut kinds = BTreeSet::new();
    let points: Vec<Point> = journal
        .iter()
        .filter(|(_, mutating)| *mutating)
        .filter_map(|(call, _)| {
            let operation = deletion(call)?;
            kinds.insert(operation).then(|| Point {
                after: 1,
                call: Some(call.clone()),
                swallow: true,
            })
        })
        .collect();
    drop(emulator);
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "uninterrupted destroy: {:.1}s, {} mutating calls; first deletion of each kind: {kinds:?}",
        destroyed.elapsed.as_secs_f64(),
        journal.iter().filter(|(_, m)| *m).count()
    );
    assert!(points.len() >= 12, "only {} kinds of deletion: {kinds:?}", points.len());

    let verdicts = sweep(points, workers(), crash_destroy_at);
    for verdict in &verdicts {
        assert_eq!(verdict.killed, Killed::AtPoint, "{}", verdict.details());
        // Destroyed: no state holds anything, so the audit's "no orphan" means nothing is left.
        assert_eq!(verdict.state_resources, 0, "{}", verdict.details());
    }
    let failed: Vec<String> = verdicts
        .iter()
        .filter(|v| !v.converged())
        .map(Verdict::details)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} kills during destroy did not converge:\n{}",
        failed.len(),
        verdicts.len(),
        failed.join("\n")
    );
}
