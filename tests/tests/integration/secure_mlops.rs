//! The reference environment end to end on the emulator with three accounts: deploy (preview, apply,
//! smoke test, promotion), then checks made by reading AWS's APIs directly, not Palisade's state;
//! a second run that changes nothing; a change of prod's instance count that touches only prod;
//! removing prod from the targets, which removes its grants from dev's policies; and destroy, which
//! leaves nothing of ours in any account.

use std::collections::BTreeSet;
use std::path::PathBuf;

use palisade::engine::{Engine, Hosts, Operation, Plan};
use palisade::StateStore;
use palisade_tests::{Emulator, DEFAULT_ACCOUNT, REGION};
use secure_mlops::promote::{self, Options, Outcome};
use secure_mlops::{declare, Config};
use serde_json::Value as Json;

const STAGING: &str = "222222222222";
const PROD: &str = "333333333333";

/// AWS's view of one account, through the SDK, independent of Palisade.
struct Aws {
    ec2: aws_sdk_ec2::Client,
    s3: aws_sdk_s3::Client,
    kms: aws_sdk_kms::Client,
    iam: aws_sdk_iam::Client,
    sagemaker: aws_sdk_sagemaker::Client,
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
                .session_name("audit")
                .configure(&config)
                .build()
                .await;
            config = base().credentials_provider(role).load().await;
        }
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build();
        Self {
            ec2: aws_sdk_ec2::Client::new(&config),
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            kms: aws_sdk_kms::Client::new(&config),
            iam: aws_sdk_iam::Client::new(&config),
            sagemaker: aws_sdk_sagemaker::Client::new(&config),
        }
    }

    /// The VPC ids this environment's stack created in the account (by ownership tag).
    async fn our_vpcs(&self) -> Vec<String> {
        let tagged = aws_sdk_ec2::types::Filter::builder()
            .name("tag-key")
            .values("palisade:urn")
            .build();
        let vpcs = self
            .ec2
            .describe_vpcs()
            .filters(tagged)
            .send()
            .await
            .expect("DescribeVpcs");
        vpcs.vpcs()
            .iter()
            .filter_map(|v| v.vpc_id().map(str::to_string))
            .collect()
    }

    async fn vpc_endpoint_id(&self, service: &str) -> String {
        let service_name = format!("com.amazonaws.{REGION}.{service}");
        let found = self
            .ec2
            .describe_vpc_endpoints()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("service-name")
                    .values(service_name)
                    .build(),
            )
            .send()
            .await
            .expect("DescribeVpcEndpoints");
        let ids: Vec<String> = found
            .vpc_endpoints()
            .iter()
            .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
            .collect();
        assert_eq!(ids.len(), 1, "one {service} endpoint expected: {ids:?}");
        ids[0].clone()
    }

    async fn bucket_policy(&self, bucket: &str) -> Json {
        let policy = self
            .s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .expect("GetBucketPolicy");
        serde_json::from_str(policy.policy().unwrap_or_default()).expect("policy JSON")
    }

    async fn key_with_description(&self, description: &str) -> String {
        let keys = self.kms.list_keys().send().await.expect("ListKeys");
        for key in keys.keys() {
            let id = key.key_id().unwrap_or_default();
            let described = self.kms.describe_key().key_id(id).send().await.expect("DescribeKey");
            let metadata = described.key_metadata().expect("metadata");
            if metadata.description() == Some(description)
                && metadata.key_state() == Some(&aws_sdk_kms::types::KeyState::Enabled)
            {
                return metadata.arn().unwrap_or_default().to_string();
            }
        }
        panic!("no enabled key described as {description:?}");
    }

    async fn key_policy(&self, key: &str) -> Json {
        let policy = self
            .kms
            .get_key_policy()
            .key_id(key)
            .policy_name("default")
            .send()
            .await
            .expect("GetKeyPolicy");
        serde_json::from_str(policy.policy().unwrap_or_default()).expect("key policy JSON")
    }
}

fn statements(policy: &Json) -> Vec<Json> {
    match &policy["Statement"] {
        Json::Array(items) => items.clone(),
        Json::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

fn strings(value: &Json) -> BTreeSet<String> {
    match value {
        Json::String(s) => BTreeSet::from([s.clone()]),
        Json::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => BTreeSet::new(),
    }
}

/// The AWS principals every Allow statement of `policy` grants.
fn granted(policy: &Json) -> BTreeSet<String> {
    statements(policy)
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| strings(&s["Principal"]["AWS"]))
        .filter(|p| !p.ends_with(":root"))
        .collect()
}

/// Every AWS principal every Allow statement of `policy` names, account roots included.
fn principals(policy: &Json) -> BTreeSet<String> {
    statements(policy)
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| strings(&s["Principal"]["AWS"]))
        .collect()
}

/// The endpoint ids a Deny statement with an `aws:sourceVpce` condition admits, if there is one.
fn vpce_deny(policy: &Json) -> Option<BTreeSet<String>> {
    statements(policy)
        .iter()
        .filter(|s| s["Effect"] == "Deny")
        .find_map(|s| {
            let admitted = &s["Condition"]["StringNotEquals"]["aws:sourceVpce"];
            (!admitted.is_null()).then(|| strings(admitted))
        })
}

fn denies_plain_http(policy: &Json) -> bool {
    statements(policy)
        .iter()
        .any(|s| s["Effect"] == "Deny" && strings(&s["Condition"]["Bool"]["aws:SecureTransport"]).contains("false"))
}

fn role_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

fn state_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("palisade-secure-mlops-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

struct Run {
    config: Config,
    store: StateStore,
    hosts: Hosts,
}

impl Run {
    async fn deploy(&self, config: &Config, approve: bool) -> (Outcome, String) {
        let mut out = Vec::new();
        let options = Options {
            yes: true,
            approve,
            waive: Vec::new(),
            allow_replace: Vec::new(),
        };
        let outcome = promote::deploy(config, self.store.clone(), &self.hosts, &options, &mut out)
            .await
            .expect("deploy runs");
        (outcome, String::from_utf8_lossy(&out).into_owned())
    }

    async fn refresh(&self, config: &Config) -> Vec<palisade::engine::Drift> {
        let release = promote::find_release(config, &self.hosts).await.expect("release");
        let environment = declare(config, &release).expect("declares");
        Engine::new(environment.stacks, self.store.clone())
            .refresh(&self.hosts)
            .await
            .expect("refresh")
    }

    async fn plan(&self, config: &Config) -> Plan {
        let release = promote::find_release(config, &self.hosts).await.expect("release");
        let environment = declare(config, &release).expect("declares");
        Engine::new(environment.stacks, self.store.clone())
            .plan(&self.hosts, false)
            .await
            .expect("plans")
    }
}

fn changes(plan: &Plan) -> Vec<(String, String, Operation)> {
    plan.steps
        .iter()
        .filter(|s| s.operation != Operation::Same)
        .map(|s| {
            (
                s.stack.clone(),
                s.token.rsplit(':').next().unwrap_or_default().to_string(),
                s.operation,
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reference_environment_deploys_promotes_and_is_what_it_claims() {
    let emulator = Emulator::start().expect("emulator");
    let mut config = Config::local();
    config.endpoint = Some(emulator.endpoint());
    let run = Run {
        config: config.clone(),
        store: StateStore::new(state_dir()),
        hosts: Hosts::with_env(emulator.plugin_env()),
    };

    let dev = Aws::of(&emulator, DEFAULT_ACCOUNT).await;
    let staging = Aws::of(&emulator, STAGING).await;
    let prod = Aws::of(&emulator, PROD).await;
    let endpoints = |aws: &Aws| {
        let sagemaker = aws.sagemaker.clone();
        async move {
            let listed = sagemaker.list_endpoints().send().await.expect("ListEndpoints");
            listed
                .endpoints()
                .iter()
                .map(|e| e.endpoint_name().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        }
    };

    // Without approval: everything but prod's release, and the smoke test against staging.
    let (outcome, output) = run.deploy(&run.config, false).await;
    assert!(outcome.ok, "{output}");
    assert!(output.contains("Previewing 3 stack(s): dev, staging, prod"), "{output}");
    assert_eq!(outcome.smoke_tests.len(), 1, "{output}");
    assert_eq!(outcome.smoke_tests[0].endpoint, "mlops-staging");
    assert!(outcome.promoted.is_empty(), "{output}");
    assert_eq!(outcome.awaiting_approval, vec!["prod".to_string()], "{output}");
    assert_eq!(endpoints(&staging).await, vec!["mlops-staging".to_string()]);
    assert!(endpoints(&prod).await.is_empty(), "prod was released without approval");

    // Approved: prod gets the release, after staging's smoke test.
    let (outcome, output) = run.deploy(&run.config, true).await;
    assert!(outcome.ok, "{output}");
    assert_eq!(outcome.promoted, vec!["prod".to_string()], "{output}");
    let smoke = output.find("== Smoke test").expect("smoke test ran");
    let promotion = output.find("== Promotion to prod").expect("promotion ran");
    assert!(
        smoke < promotion,
        "prod was promoted before staging's smoke test:\n{output}"
    );
    assert_eq!(endpoints(&prod).await, vec!["mlops-prod".to_string()]);

    // Studio: VpcOnly, its storage encrypted with the customer key made for it.
    let domains = dev.sagemaker.list_domains().send().await.expect("ListDomains");
    assert_eq!(domains.domains().len(), 1);
    let domain_id = domains.domains()[0].domain_id().unwrap_or_default();
    let domain = dev
        .sagemaker
        .describe_domain()
        .domain_id(domain_id)
        .send()
        .await
        .expect("DescribeDomain");
    assert_eq!(domain.app_network_access_type().map(|t| t.as_str()), Some("VpcOnly"));
    let studio_key = dev.key_with_description("Studio home directories (EFS)").await;
    assert_eq!(domain.kms_key_id(), Some(studio_key.as_str()));

    for (name, account) in [("dev", &dev), ("staging", &staging), ("prod", &prod)] {
        let vpcs = account.our_vpcs().await;
        assert_eq!(vpcs.len(), 1, "{name}: one VPC of ours");
        // Internet-free: no internet gateway attached, no route out.
        let gateways = account
            .ec2
            .describe_internet_gateways()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("attachment.vpc-id")
                    .values(&vpcs[0])
                    .build(),
            )
            .send()
            .await
            .expect("DescribeInternetGateways");
        assert!(
            gateways.internet_gateways().is_empty(),
            "{name} has an internet gateway"
        );
        let in_vpc = aws_sdk_ec2::types::Filter::builder()
            .name("vpc-id")
            .values(&vpcs[0])
            .build();
        let tables = account
            .ec2
            .describe_route_tables()
            .filters(in_vpc.clone())
            .send()
            .await
            .expect("DescribeRouteTables");
        for table in tables.route_tables() {
            for route in table.routes() {
                assert_ne!(
                    route.destination_cidr_block(),
                    Some("0.0.0.0/0"),
                    "{name}: a default route"
                );
            }
        }
        // No security group admits the whole internet.
        let groups = account
            .ec2
            .describe_security_groups()
            .filters(in_vpc)
            .send()
            .await
            .expect("DescribeSecurityGroups");
        for group in groups.security_groups() {
            for permission in group.ip_permissions() {
                for range in permission.ip_ranges() {
                    assert_ne!(
                        range.cidr_ip(),
                        Some("0.0.0.0/0"),
                        "{name}: {:?} is open",
                        group.group_id()
                    );
                }
                for range in permission.ipv6_ranges() {
                    assert_ne!(
                        range.cidr_ipv6(),
                        Some("::/0"),
                        "{name}: {:?} is open",
                        group.group_id()
                    );
                }
            }
        }
        // Every key of ours rotates.
        let keys = account.kms.list_keys().send().await.expect("ListKeys");
        assert!(!keys.keys().is_empty(), "{name}: no keys");
        for key in keys.keys() {
            let id = key.key_id().unwrap_or_default();
            let rotation = account
                .kms
                .get_key_rotation_status()
                .key_id(id)
                .send()
                .await
                .expect("GetKeyRotationStatus");
            assert!(rotation.key_rotation_enabled(), "{name}: key {id} does not rotate");
        }
    }

    // SageMaker's group goes out only to its members, the VPC (interface endpoints) and S3's prefix
    // list (the gateway endpoint): nothing to the internet at large.
    for (name, account) in [("dev", &dev), ("staging", &staging), ("prod", &prod)] {
        let vpc = account.our_vpcs().await.remove(0);
        let groups = account
            .ec2
            .describe_security_groups()
            .filters(aws_sdk_ec2::types::Filter::builder().name("vpc-id").values(vpc).build())
            .send()
            .await
            .expect("DescribeSecurityGroups");
        let sagemaker = groups
            .security_groups()
            .iter()
            .find(|g| g.description() == Some("SageMaker Studio, jobs and models: members only"))
            .unwrap_or_else(|| panic!("{name}: SageMaker's group"));
        let s3_list = account
            .ec2
            .describe_managed_prefix_lists()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("prefix-list-name")
                    .values(format!("com.amazonaws.{REGION}.s3"))
                    .build(),
            )
            .send()
            .await
            .expect("DescribeManagedPrefixLists");
        let s3_list = s3_list.prefix_lists()[0]
            .prefix_list_id()
            .unwrap_or_default()
            .to_string();
        let egress = sagemaker.ip_permissions_egress();
        let lists: Vec<&str> = egress
            .iter()
            .flat_map(|p| p.prefix_list_ids())
            .filter_map(|l| l.prefix_list_id())
            .collect();
        assert_eq!(lists, vec![s3_list.as_str()], "{name}");
        let ranges: Vec<&str> = egress
            .iter()
            .flat_map(|p| p.ip_ranges())
            .filter_map(|r| r.cidr_ip())
            .collect();
        assert!(
            !ranges.contains(&"0.0.0.0/0"),
            "{name}: SageMaker may reach the internet: {ranges:?}"
        );
    }

    // Buckets: SSE-KMS with the customer key, TLS only, data only through the VPC endpoints.
    let s3_key = dev.key_with_description("Data and model artifacts in S3").await;
    let dev_s3_endpoint = dev.vpc_endpoint_id("s3").await;
    let staging_s3_endpoint = staging.vpc_endpoint_id("s3").await;
    let prod_s3_endpoint = prod.vpc_endpoint_id("s3").await;
    for bucket in ["mlops-data-123456789012", "mlops-models-123456789012"] {
        let encryption = dev
            .s3
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
            .expect("GetBucketEncryption");
        let rule = &encryption
            .server_side_encryption_configuration()
            .expect("encryption configured")
            .rules()[0];
        let default = rule
            .apply_server_side_encryption_by_default()
            .expect("default encryption");
        assert_eq!(default.sse_algorithm().as_str(), "aws:kms", "{bucket}");
        assert_eq!(default.kms_master_key_id(), Some(s3_key.as_str()), "{bucket}");
        let policy = dev.bucket_policy(bucket).await;
        assert!(denies_plain_http(&policy), "{bucket}: {policy}");
        let admitted = vpce_deny(&policy).unwrap_or_else(|| panic!("{bucket}: no VPC endpoint deny: {policy}"));
        assert!(admitted.contains(&dev_s3_endpoint), "{bucket}: {policy}");
    }

    // Cross-account grants name exactly the targets' model execution roles, through their endpoints.
    let execution_roles = BTreeSet::from([
        role_arn(STAGING, "mlops-model-execution"),
        role_arn(PROD, "mlops-model-execution"),
    ]);
    let models_policy = dev.bucket_policy("mlops-models-123456789012").await;
    assert_eq!(granted(&models_policy), execution_roles, "{models_policy}");
    assert_eq!(
        vpce_deny(&models_policy).expect("deny"),
        BTreeSet::from([dev_s3_endpoint.clone(), staging_s3_endpoint, prod_s3_endpoint]),
    );
    assert!(granted(&dev.bucket_policy("mlops-data-123456789012").await).is_empty());
    let key_policy = dev.key_policy(&s3_key).await;
    assert_eq!(granted(&key_policy), execution_roles, "{key_policy}");
    let kms_endpoints = BTreeSet::from([
        dev.vpc_endpoint_id("kms").await,
        staging.vpc_endpoint_id("kms").await,
        prod.vpc_endpoint_id("kms").await,
    ]);
    assert_eq!(vpce_deny(&key_policy).expect("key deny"), kms_endpoints, "{key_policy}");
    let group_policy = dev
        .sagemaker
        .get_model_package_group_policy()
        .model_package_group_name("mlops-models")
        .send()
        .await
        .expect("GetModelPackageGroupPolicy");
    let group_policy: Json = serde_json::from_str(group_policy.resource_policy().unwrap_or_default()).expect("JSON");
    assert_eq!(
        principals(&group_policy),
        BTreeSet::from([
            format!("arn:aws:iam::{STAGING}:root"),
            format!("arn:aws:iam::{PROD}:root")
        ]),
        "{group_policy}"
    );

    // The targets: the released model in the VPC and isolated; encrypted endpoint configs; the
    // deployment role trusts dev and passes only the model execution role.
    for (name, account, account_id, count) in [("staging", &staging, STAGING, 1), ("prod", &prod, PROD, 2)] {
        let models = account.sagemaker.list_models().send().await.expect("ListModels");
        assert_eq!(models.models().len(), 1, "{name}");
        let model = account
            .sagemaker
            .describe_model()
            .model_name(models.models()[0].model_name().unwrap_or_default())
            .send()
            .await
            .expect("DescribeModel");
        assert_eq!(model.enable_network_isolation(), Some(true), "{name}");
        let vpc = model.vpc_config().expect("model VPC config");
        assert_eq!(vpc.subnets().len(), 2, "{name}");
        assert_eq!(vpc.security_group_ids().len(), 1, "{name}");
        assert_eq!(
            model.execution_role_arn(),
            Some(role_arn(account_id, "mlops-model-execution").as_str())
        );
        let endpoint = account
            .sagemaker
            .describe_endpoint()
            .endpoint_name(format!("mlops-{name}"))
            .send()
            .await
            .expect("DescribeEndpoint");
        assert_eq!(endpoint.endpoint_status().map(|s| s.as_str()), Some("InService"));
        let config = account
            .sagemaker
            .describe_endpoint_config()
            .endpoint_config_name(endpoint.endpoint_config_name().unwrap_or_default())
            .send()
            .await
            .expect("DescribeEndpointConfig");
        assert!(config.kms_key_id().is_some_and(|k| !k.is_empty()), "{name}: no KMS key");
        assert_eq!(config.production_variants()[0].initial_instance_count(), Some(count));
        let deployment = account
            .iam
            .get_role()
            .role_name("mlops-deployment")
            .send()
            .await
            .expect("GetRole");
        let trust = deployment
            .role()
            .and_then(|r| r.assume_role_policy_document())
            .unwrap_or_default();
        let trust = policy_json(trust);
        assert!(
            strings(&statements(&trust)[0]["Principal"]["AWS"])
                .contains(&format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root")),
            "{trust}"
        );
        let deploy = account
            .iam
            .get_role_policy()
            .role_name("mlops-deployment")
            .policy_name("deploy")
            .send()
            .await
            .expect("GetRolePolicy");
        let deploy = policy_json(deploy.policy_document());
        let passes: Vec<BTreeSet<String>> = statements(&deploy)
            .iter()
            .filter(|s| s["Effect"] == "Allow" && strings(&s["Action"]).contains("iam:PassRole"))
            .map(|s| strings(&s["Resource"]))
            .collect();
        assert_eq!(
            passes,
            vec![BTreeSet::from([role_arn(account_id, "mlops-model-execution")])]
        );
    }

    // A second run changes nothing: it plans no change, and AWS sees no call that changes anything
    // (the release lookup and the smoke test only read and invoke).
    let plan = run.plan(&run.config).await;
    assert!(changes(&plan).is_empty(), "second run: {:?}", changes(&plan));
    let so_far = emulator.requests().expect("journal");
    assert!(
        so_far.contains(&("ec2:CreateVpc".to_string(), true)),
        "the journal missed the creates"
    );
    emulator.clear_requests().expect("journal");
    let (outcome, output) = run.deploy(&run.config, true).await;
    assert!(
        outcome.ok && output.contains("prod already serves this release"),
        "{output}"
    );
    let calls = emulator.requests().expect("journal");
    assert!(
        calls.iter().any(|(call, _)| call == "sagemaker:InvokeEndpoint"),
        "{calls:?}"
    );
    let mutating: Vec<&String> = calls.iter().filter(|(_, m)| *m).map(|(c, _)| c).collect();
    assert!(mutating.is_empty(), "a second run changed things: {mutating:?}");

    // Prod's instance count: only prod changes (a new endpoint config, and the endpoint moved onto it).
    let mut bigger = run.config.clone();
    bigger.targets[1].instance_count = 3;
    let plan = run.plan(&bigger).await;
    let planned = changes(&plan);
    assert!(!planned.is_empty());
    assert!(planned.iter().all(|(stack, _, _)| stack == "prod"), "{planned:?}");
    assert_eq!(
        planned
            .iter()
            .map(|(_, kind, op)| (kind.as_str(), *op))
            .collect::<Vec<_>>(),
        vec![("EndpointConfig", Operation::Replace), ("Endpoint", Operation::Update)],
    );

    // A release that fails staging's smoke test goes no further: staging's endpoint is gone (deleted
    // behind Palisade's back), so the new prod configuration waits.
    staging
        .sagemaker
        .delete_endpoint()
        .endpoint_name("mlops-staging")
        .send()
        .await
        .expect("DeleteEndpoint");
    let (outcome, output) = run.deploy(&bigger, true).await;
    assert!(!outcome.ok && outcome.promoted.is_empty(), "{output}");
    assert!(
        output.contains("failed:") && output.contains("nothing is promoted"),
        "{output}"
    );
    assert!(!output.contains("== Promotion"), "{output}");
    let prod_config = |aws: &Aws| {
        let sagemaker = aws.sagemaker.clone();
        async move {
            let endpoint = sagemaker
                .describe_endpoint()
                .endpoint_name("mlops-prod")
                .send()
                .await
                .expect("DescribeEndpoint");
            let config = sagemaker
                .describe_endpoint_config()
                .endpoint_config_name(endpoint.endpoint_config_name().unwrap_or_default())
                .send()
                .await
                .expect("DescribeEndpointConfig");
            config.production_variants()[0].initial_instance_count()
        }
    };
    assert_eq!(
        prod_config(&prod).await,
        Some(2),
        "prod changed although the smoke test failed"
    );

    // Refresh reads every resource back from AWS: all match the state except the missing endpoint.
    // The next run brings it back, tests it, and promotes.
    let drifts = run.refresh(&bigger).await;
    let drifted: Vec<(&str, bool)> = drifts.iter().map(|d| (d.urn.as_str(), d.gone)).collect();
    assert_eq!(
        drifted,
        vec![(
            "urn:pulumi:staging::mlops::palisade-deploy:index:Endpoint::endpoint",
            true
        )],
        "{drifts:?}"
    );
    let (outcome, output) = run.deploy(&bigger, true).await;
    assert!(outcome.ok && outcome.promoted == vec!["prod".to_string()], "{output}");
    assert_eq!(endpoints(&staging).await, vec!["mlops-staging".to_string()]);
    let endpoint = prod
        .sagemaker
        .describe_endpoint()
        .endpoint_name("mlops-prod")
        .send()
        .await
        .expect("DescribeEndpoint");
    let configs = prod
        .sagemaker
        .list_endpoint_configs()
        .send()
        .await
        .expect("ListEndpointConfigs");
    assert_eq!(configs.endpoint_configs().len(), 1, "the replaced config is deleted");
    let config = prod
        .sagemaker
        .describe_endpoint_config()
        .endpoint_config_name(endpoint.endpoint_config_name().unwrap_or_default())
        .send()
        .await
        .expect("DescribeEndpointConfig");
    assert_eq!(config.production_variants()[0].initial_instance_count(), Some(3));

    // Prod leaves the target list: dev's grants follow.
    let mut without_prod = bigger.clone();
    without_prod.targets.truncate(1);
    let (outcome, output) = run.deploy(&without_prod, true).await;
    assert!(outcome.ok, "{output}");
    let staging_only = BTreeSet::from([role_arn(STAGING, "mlops-model-execution")]);
    let models_policy = dev.bucket_policy("mlops-models-123456789012").await;
    assert_eq!(granted(&models_policy), staging_only, "{models_policy}");
    assert_eq!(
        vpce_deny(&models_policy).expect("deny"),
        BTreeSet::from([dev_s3_endpoint.clone(), staging.vpc_endpoint_id("s3").await]),
    );
    let group_policy = dev
        .sagemaker
        .get_model_package_group_policy()
        .model_package_group_name("mlops-models")
        .send()
        .await
        .expect("GetModelPackageGroupPolicy");
    let group_policy: Json = serde_json::from_str(group_policy.resource_policy().unwrap_or_default()).expect("JSON");
    assert_eq!(
        principals(&group_policy),
        BTreeSet::from([format!("arn:aws:iam::{STAGING}:root")])
    );
    let key_policy = dev.key_policy(&s3_key).await;
    assert_eq!(granted(&key_policy), staging_only);
    assert_eq!(
        vpce_deny(&key_policy).expect("key deny"),
        BTreeSet::from([dev.vpc_endpoint_id("kms").await, staging.vpc_endpoint_id("kms").await]),
    );

    // Destroy everything, prod included.
    let release = promote::find_release(&bigger, &run.hosts).await.expect("release");
    let environment = declare(&bigger, &release).expect("declares");
    let engine = Engine::new(environment.stacks, run.store.clone());
    let plan = engine.plan(&run.hosts, true).await.expect("destroy plan");
    let mut progress = Vec::new();
    // A destroy the user confirmed may delete what holds data; without that, it is refused.
    let refused = engine
        .apply(&plan, &run.hosts, &mut progress)
        .await
        .expect_err("data is protected");
    assert!(refused.to_string().contains("--allow-replace"), "{refused}");
    let confirmed = palisade::engine::ApplyOptions {
        allow_all_data_loss: true,
        ..Default::default()
    };
    let report = engine
        .apply_with(&plan, &run.hosts, &confirmed, &mut progress)
        .await
        .expect("destroy");
    assert!(report.ok(), "{}", String::from_utf8_lossy(&progress));
    for (name, account) in [("dev", &dev), ("staging", &staging), ("prod", &prod)] {
        assert!(account.our_vpcs().await.is_empty(), "{name}: a VPC is left");
        // (moto keeps tags of deleted resources in DescribeTags, so each kind is described.)
        let ours = || {
            aws_sdk_ec2::types::Filter::builder()
                .name("tag-key")
                .values("palisade:urn")
                .build()
        };
        let ec2 = &account.ec2;
        let mut left = Vec::new();
        let subnets = ec2
            .describe_subnets()
            .filters(ours())
            .send()
            .await
            .expect("DescribeSubnets");
        left.extend(subnets.subnets().iter().filter_map(|x| x.subnet_id()));
        let groups = ec2
            .describe_security_groups()
            .filters(ours())
            .send()
            .await
            .expect("DescribeSecurityGroups");
        left.extend(groups.security_groups().iter().filter_map(|x| x.group_id()));
        let tables = ec2
            .describe_route_tables()
            .filters(ours())
            .send()
            .await
            .expect("DescribeRouteTables");
        left.extend(tables.route_tables().iter().filter_map(|x| x.route_table_id()));
        let endpoints = ec2
            .describe_vpc_endpoints()
            .filters(ours())
            .send()
            .await
            .expect("DescribeVpcEndpoints");
        left.extend(
            endpoints
                .vpc_endpoints()
                .iter()
                // moto says `deleted`, AWS's model `Deleted`.
                .filter(|x| !x.state().is_some_and(|s| s.as_str().eq_ignore_ascii_case("deleted")))
                .filter_map(|x| x.vpc_endpoint_id()),
        );
        assert!(left.is_empty(), "{name}: EC2 resources left: {left:?}");
        let roles = account.iam.list_roles().send().await.expect("ListRoles");
        let ours: Vec<&str> = roles
            .roles()
            .iter()
            .map(|r| r.role_name())
            .filter(|n| n.starts_with("mlops-"))
            .collect();
        assert!(ours.is_empty(), "{name}: roles left: {ours:?}");
        let buckets = account.s3.list_buckets().send().await.expect("ListBuckets");
        assert!(
            buckets
                .buckets()
                .iter()
                .all(|b| !b.name().unwrap_or_default().starts_with("mlops-")),
            "{name}: a bucket is left"
        );
        let keys = account.kms.list_keys().send().await.expect("ListKeys");
        for key in keys.keys() {
            let described = account
                .kms
                .describe_key()
                .key_id(key.key_id().unwrap_or_default())
                .send()
                .await
                .expect("DescribeKey");
            let state = described.key_metadata().and_then(|m| m.key_state()).cloned();
            assert_eq!(state, Some(aws_sdk_kms::types::KeyState::PendingDeletion), "{name}");
        }
        assert!(account
            .sagemaker
            .list_models()
            .send()
            .await
            .expect("ListModels")
            .models()
            .is_empty());
        assert!(account
            .sagemaker
            .list_endpoints()
            .send()
            .await
            .expect("ListEndpoints")
            .endpoints()
            .is_empty());
        assert!(account
            .sagemaker
            .list_domains()
            .send()
            .await
            .expect("ListDomains")
            .domains()
            .is_empty());
        assert!(account
            .sagemaker
            .list_model_package_groups()
            .send()
            .await
            .expect("ListModelPackageGroups")
            .model_package_group_summary_list()
            .is_empty());
    }
    run.hosts.stop().await;
}

/// A policy document as IAM returns it: JSON, URL-encoded in AWS's answers.
fn policy_json(text: &str) -> Json {
    serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(&decode(text)))
        .unwrap_or_else(|e| panic!("policy {text:?} is not JSON: {e}"))
}

fn decode(text: &str) -> String {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
