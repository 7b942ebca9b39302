//! Throttling is weather, not failure (#14): the reference environment's first deploy succeeds while
//! the emulator answers 30 % of all AWS calls with AWS's throttling error (in each protocol's shape),
//! and AWS then holds exactly one resource per URN in every account: nothing was duplicated by a
//! retried create or by a lookup that failed and was read as "absent".

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use palisade::engine::Hosts;
use palisade::StateStore;
use palisade_tests::{Emulator, DEFAULT_ACCOUNT, REGION};
use secure_mlops::promote::{self, Options};
use secure_mlops::Config;

const ACCOUNTS: [&str; 3] = [DEFAULT_ACCOUNT, "222222222222", "333333333333"];

/// How many resources carry each ownership URN in `account`, through AWS's own APIs: every EC2
/// resource (DescribeTags), KMS keys (their tags), SageMaker model packages (the URN in their
/// metadata) and models, endpoint configurations and endpoints (their tags).
async fn urns_in(emulator: &Emulator, account: &str) -> BTreeMap<String, usize> {
    let base = || {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(emulator.endpoint())
    };
    let keys = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    let mut config = base().credentials_provider(keys).load().await;
    if account != DEFAULT_ACCOUNT {
        let role = aws_config::sts::AssumeRoleProvider::builder(format!("arn:aws:iam::{account}:role/auditor"))
            .session_name("audit")
            .configure(&config)
            .build()
            .await;
        config = base().credentials_provider(role).load().await;
    }
    let mut urns = BTreeMap::<String, usize>::new();
    let mut count = |urn: &str| *urns.entry(urn.to_string()).or_default() += 1;

    let ec2 = aws_sdk_ec2::Client::new(&config);
    let tagged = aws_sdk_ec2::types::Filter::builder()
        .name("key")
        .values("palisade:urn")
        .build();
    let tags = ec2.describe_tags().filters(tagged).send().await.expect("DescribeTags");
    for tag in tags.tags() {
        count(tag.value().unwrap_or_default());
    }

    let kms = aws_sdk_kms::Client::new(&config);
    for key in kms.list_keys().send().await.expect("ListKeys").keys() {
        let id = key.key_id().unwrap_or_default();
        let described = kms.describe_key().key_id(id).send().await.expect("DescribeKey");
        if described.key_metadata().and_then(|m| m.deletion_date()).is_some() {
            continue;
        }
        let tags = kms
            .list_resource_tags()
            .key_id(id)
            .send()
            .await
            .expect("ListResourceTags");
        if let Some(urn) = tags.tags().iter().find(|t| t.tag_key() == "palisade:urn") {
            count(urn.tag_value());
        }
    }

    let sagemaker = aws_sdk_sagemaker::Client::new(&config);
    let mut arns = Vec::new();
    let models = sagemaker.list_models().send().await.expect("ListModels");
    arns.extend(models.models().iter().filter_map(|m| m.model_arn().map(str::to_string)));
    let configs = sagemaker
        .list_endpoint_configs()
        .send()
        .await
        .expect("ListEndpointConfigs");
    arns.extend(
        configs
            .endpoint_configs()
            .iter()
            .filter_map(|c| c.endpoint_config_arn().map(str::to_string)),
    );
    let endpoints = sagemaker.list_endpoints().send().await.expect("ListEndpoints");
    arns.extend(
        endpoints
            .endpoints()
            .iter()
            .filter_map(|e| e.endpoint_arn().map(str::to_string)),
    );
    for arn in arns {
        let tags = sagemaker.list_tags().resource_arn(&arn).send().await.expect("ListTags");
        if let Some(urn) = tags.tags().iter().find(|t| t.key() == Some("palisade:urn")) {
            count(urn.value().unwrap_or_default());
        }
    }
    let groups = sagemaker
        .list_model_package_groups()
        .send()
        .await
        .expect("ListModelPackageGroups");
    for group in groups.model_package_group_summary_list() {
        let packages = sagemaker
            .list_model_packages()
            .model_package_group_name(group.model_package_group_name().unwrap_or_default())
            .send()
            .await
            .expect("ListModelPackages");
        for package in packages.model_package_summary_list() {
            let described = sagemaker
                .describe_model_package()
                .model_package_name(package.model_package_arn().unwrap_or_default())
                .send()
                .await
                .expect("DescribeModelPackage");
            if let Some(urn) = described
                .customer_metadata_properties()
                .and_then(|m| m.get("palisade:urn"))
            {
                count(urn);
            }
        }
    }
    urns
}

fn state_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-throttling-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_deploy_succeeds_at_30_percent_throttling_with_nothing_duplicated() {
    let emulator = Emulator::start().expect("emulator");
    let mut config = Config::local();
    config.endpoint = Some(emulator.endpoint());
    let store = StateStore::new(state_dir());
    // Backoff with jitter, without adaptive mode's own rate limit: the emulator throttles at random,
    // not because of the rate, so adaptive mode's rate only falls (the same deploy in adaptive mode,
    // the default, succeeded too, in 955 s instead of this one's).
    let mut env = emulator.plugin_env();
    env.push(("PALISADE_RETRY_MODE".to_string(), "standard".to_string()));
    let hosts = Hosts::with_env(env);
    let options = Options {
        yes: true,
        approve: true,
        waive: Vec::new(),
        allow_replace: Vec::new(),
    };

    emulator.throttle(0.3).expect("throttling on");
    let started = Instant::now();
    let mut out = Vec::new();
    let outcome = promote::deploy(&config, store, &hosts, &options, &mut out).await;
    let elapsed = started.elapsed();
    let stats = emulator.throttle(0.0).expect("throttling off");
    let output = String::from_utf8_lossy(&out);
    let outcome = outcome.unwrap_or_else(|e| panic!("the deploy failed under throttling: {e}\n{output}"));
    assert!(
        outcome.ok,
        "the first deploy must succeed at 30 % throttling:\n{output}"
    );
    eprintln!(
        "{}",
        output
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    eprintln!(
        "throttling: {} of {} calls throttled ({:.0} %); first deploy took {:.1} s",
        stats.throttled,
        stats.throttled + stats.passed,
        100.0 * stats.throttled as f64 / (stats.throttled + stats.passed).max(1) as f64,
        elapsed.as_secs_f64()
    );
    assert!(
        stats.throttled > 50,
        "the emulator must really have throttled: {stats:?}"
    );
    assert_eq!(outcome.promoted, vec!["prod".to_string()], "{output}");

    let mut total = 0;
    for account in ACCOUNTS {
        let urns = urns_in(&emulator, account).await;
        let duplicated: Vec<_> = urns.iter().filter(|(_, n)| **n > 1).collect();
        assert!(duplicated.is_empty(), "account {account}: duplicated: {duplicated:?}");
        total += urns.len();
    }
    assert!(
        total > 40,
        "the deploy made the reference environment ({total} tagged resources)"
    );
}
