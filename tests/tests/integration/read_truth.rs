//! Reads tell the truth, for every resource kind of every provider: right after `up` (Create), a
//! `refresh` (Read, then Diff of the state's inputs against the inputs Read found) reports no drift,
//! and a following preview (Check and Diff of the declaration against the refreshed state) reports no
//! changes; with and without each optional block of the kind. The kinds come from the providers'
//! own schemas: a kind without a case fails the test. At the end everything made is deleted, newest
//! first: each delete succeeds, a second delete of the same resource (a destroy killed and resumed)
//! succeeds, and Read then finds nothing.
//!
//! Also: an endpoint update that SageMaker rolls back (InService on the old configuration with a
//! FailureReason, terraform-provider-aws #39099) is an error that names the reason, and the endpoint
//! stays on, and is read back with, its old configuration.

use std::collections::{BTreeMap, BTreeSet};

use palisade_provider_kit::diff::DiffKind;
use palisade_tests::provider::{plain, Live, TestProvider};
use palisade_tests::{plugin_schema, Emulator, DEFAULT_ACCOUNT, REGION};
use serde_json::{json, Value as Json};

const PACKAGES: [&str; 4] = [
    "palisade-network",
    "palisade-security",
    "palisade-studio",
    "palisade-deploy",
];
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1";

/// The resource kinds a provider declares (`Vpc`, `Subnet`, ...), from its schema.
async fn declared_kinds(package: &str) -> Vec<String> {
    let schema = plugin_schema(package).await.expect("the plugin answers its schema");
    let prefix = format!("{package}:index:");
    schema["resources"]
        .as_object()
        .expect("resources")
        .keys()
        .map(|token| token.strip_prefix(&prefix).unwrap_or(token).to_string())
        .collect()
}

/// The kinds whose delete puts AWS's default back instead of removing anything: a key always has a
/// policy. Every other kind must read as gone after its delete.
const RESET_ON_DELETE: [&str; 1] = ["KmsKeyPolicy"];

/// Runs the invariant over cases and collects what breaks it, so that one run reports every defect.
struct Invariant {
    providers: BTreeMap<&'static str, TestProvider>,
    covered: BTreeSet<(String, String, String)>,
    failures: Vec<String>,
    /// Every resource made, in order: `(package, kind, case, resource)`.
    created: Vec<(&'static str, String, String, Live)>,
    /// Cases whose delete put a default back rather than removing something.
    reset: Vec<String>,
}

impl Invariant {
    async fn start(emulator: &Emulator) -> Self {
        let mut providers = BTreeMap::new();
        for package in PACKAGES {
            providers.insert(
                package,
                TestProvider::start(emulator, package, DEFAULT_ACCOUNT, "truth").await,
            );
        }
        Self {
            providers,
            covered: BTreeSet::new(),
            failures: Vec::new(),
            created: Vec::new(),
            reset: Vec::new(),
        }
    }

    /// Create `kind` of `package` from `declared` (case `variant`), then refresh and preview; every
    /// departure from "no drift, no changes" is recorded. Returns the created resource, if any.
    async fn case(&mut self, package: &'static str, kind: &str, variant: &str, declared: Json) -> Option<Live> {
        let provider = &self.providers[package];
        let name = format!("{}-{variant}", kind.to_lowercase());
        let case = format!("{kind} ({variant})");
        if let Err(failures) = provider.check(kind, &name, None, &declared).await {
            self.failures
                .push(format!("{case}: check refused the declaration: {failures:?}"));
            return None;
        }
        let live = match provider.create(kind, &name, &declared).await {
            Ok(live) => live,
            Err(status) => {
                self.failures
                    .push(format!("{case}: create failed: {}", status.message()));
                return None;
            }
        };
        self.covered
            .insert((package.to_string(), kind.to_string(), variant.to_string()));
        self.created
            .push((package, kind.to_string(), case.clone(), live.clone()));

        // A preview straight after `up`: nothing to do.
        let (_, changes) = provider.plan(&live, kind, &name, &declared).await;
        if changes.changed {
            self.failures
                .push(format!("{case}: preview after up proposes {changes:?}"));
        }

        // Refresh as the engine does it: Read, then Diff of the state's inputs against what Read found.
        let Some((outputs, inputs)) = provider.read(&live).await else {
            self.failures
                .push(format!("{case}: read right after create finds nothing"));
            return Some(live);
        };
        let read_back = Live {
            outputs: outputs.clone(),
            ..live.clone()
        };
        let drift = provider.diff(&read_back, &live.inputs, &inputs).await;
        if drift.changed {
            self.failures.push(format!(
                "{case}: refresh reports drift {:?}; state inputs {}, read inputs {}",
                drift.detailed,
                plain(&live.inputs),
                plain(&inputs)
            ));
        }
        if plain(&outputs) != live.outputs_json() {
            self.failures.push(format!(
                "{case}: read outputs differ from create's: created {}, read {}",
                live.outputs_json(),
                plain(&outputs)
            ));
        }

        // The preview after the refresh: the declaration against the refreshed state.
        let refreshed = Live {
            outputs,
            inputs,
            ..live.clone()
        };
        let (_, changes) = provider.plan(&refreshed, kind, &name, &declared).await;
        if changes.changed {
            self.failures.push(format!(
                "{case}: preview after refresh proposes {:?} (replaces {:?})",
                changes.detailed, changes.replaces
            ));
        }
        Some(refreshed)
    }

    /// Deletes everything made, newest first, the way a destroy does and the way a destroy that was
    /// killed resumes: each delete succeeds, deleting again what is already gone succeeds too, and
    /// a Read afterwards finds nothing (so a refresh drops it from the state).
    async fn delete_everything(&mut self) {
        for (package, kind, case, live) in std::mem::take(&mut self.created).into_iter().rev() {
            let provider = &self.providers[package];
            if let Err(error) = provider.delete(&live).await {
                self.failures
                    .push(format!("{case}: delete failed: {}", error.message()));
                continue;
            }
            if let Err(error) = provider.delete(&live).await {
                self.failures.push(format!(
                    "{case}: deleting it again (a destroy resumed) failed: {}",
                    error.message()
                ));
            }
            match provider.read(&live).await {
                None => {}
                // A key always has a policy: deleting a KmsKeyPolicy puts the default back. What
                // must not happen is that Read finds the deleted declaration still in force.
                Some((_, inputs))
                    if RESET_ON_DELETE.contains(&kind.as_str()) && plain(&inputs) != plain(&live.inputs) =>
                {
                    self.reset.push(case)
                }
                Some((outputs, _)) => self.failures.push(format!(
                    "{case}: read after delete still finds it as it was: {}",
                    plain(&outputs)
                )),
            }
        }
    }
}

fn id_of(live: &Option<Live>) -> String {
    live.as_ref().map(|l| l.id.clone()).expect("a prerequisite was created")
}

fn output_of(live: &Option<Live>, property: &str) -> String {
    live.as_ref()
        .and_then(|l| l.outputs_json()[property].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("a prerequisite's {property}"))
}

fn trust(service: &str) -> Json {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    })
}

fn account_root_policy() -> Json {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "AccountAdmin",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root")},
            "Action": "kms:*",
            "Resource": "*",
        }],
    })
}

#[tokio::test]
async fn every_kind_reads_back_as_declared_with_and_without_its_optional_blocks() {
    let emulator = Emulator::start().expect("emulator");
    let mut run = Invariant::start(&emulator).await;
    let net = "palisade-network";
    let sec = "palisade-security";
    let studio = "palisade-studio";
    let deploy = "palisade-deploy";

    // Network.
    let vpc = run
        .case(net, "Vpc", "minimal", json!({"cidrBlock": "10.20.0.0/16"}))
        .await;
    run.case(
        net,
        "Vpc",
        "dns-off-dedicated-tagged",
        json!({
            "cidrBlock": "10.21.0.0/16", "enableDnsSupport": false, "enableDnsHostnames": false,
            "instanceTenancy": "dedicated", "tags": {"team": "ml"},
        }),
    )
    .await;
    let vpc_id = id_of(&vpc);
    let subnet_a = run
        .case(
            net,
            "Subnet",
            "minimal",
            json!({"vpcId": vpc_id, "cidrBlock": "10.20.1.0/24", "availabilityZone": "us-east-1a"}),
        )
        .await;
    let subnet_b = run
        .case(
            net,
            "Subnet",
            "tagged",
            json!({"vpcId": vpc_id, "cidrBlock": "10.20.2.0/24", "availabilityZone": "us-east-1b", "tags": {"tier": "private"}}),
        )
        .await;
    let (subnet_a, subnet_b) = (id_of(&subnet_a), id_of(&subnet_b));
    let group = run
        .case(net, "SecurityGroup", "minimal", json!({"vpcId": vpc_id}))
        .await;
    let group_id = id_of(&group);
    run.case(
        net,
        "SecurityGroup",
        "named-with-rules",
        json!({
            "vpcId": vpc_id, "groupName": "truth-endpoints", "description": "Interface endpoints",
            "ingress": [
                {"protocol": "-1", "self": true, "description": "members talk to each other"},
                {"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.20.0.0/16"]},
                {"protocol": "tcp", "fromPort": 2049, "toPort": 2049, "securityGroupIds": [group_id]},
            ],
            "egress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.20.0.0/16"]}],
            "tags": {"team": "ml"},
        }),
    )
    .await;
    run.case(
        net,
        "SecurityGroup",
        "ingress-only",
        json!({"vpcId": vpc_id, "ingress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.20.0.0/16"]}]}),
    )
    .await;
    let detached = run.case(net, "InternetGateway", "detached", json!({})).await;
    let _ = detached;
    let gateway = run
        .case(
            net,
            "InternetGateway",
            "attached-tagged",
            json!({"vpcId": vpc_id, "tags": {"team": "ml"}}),
        )
        .await;
    let nat = run
        .case(net, "NatGateway", "public", json!({"subnetId": subnet_a}))
        .await;
    run.case(
        net,
        "NatGateway",
        "private-tagged",
        json!({"subnetId": subnet_b, "connectivityType": "private", "tags": {"team": "ml"}}),
    )
    .await;
    let table = run.case(net, "RouteTable", "minimal", json!({"vpcId": vpc_id})).await;
    run.case(
        net,
        "RouteTable",
        "routes-subnets-tags",
        json!({
            "vpcId": vpc_id,
            "routes": [
                {"destinationCidrBlock": "0.0.0.0/0", "natGatewayId": id_of(&nat)},
                {"destinationCidrBlock": "192.168.0.0/16", "gatewayId": id_of(&gateway)},
            ],
            "subnetIds": [subnet_b],
            "tags": {"tier": "private"},
        }),
    )
    .await;
    let table_id = id_of(&table);
    let s3_gateway = run
        .case(
            net,
            "VpcEndpoint",
            "gateway",
            json!({"vpcId": vpc_id, "serviceName": format!("com.amazonaws.{REGION}.s3"), "vpcEndpointType": "Gateway", "routeTableIds": [table_id]}),
        )
        .await;
    run.case(
        net,
        "VpcEndpoint",
        "gateway-with-policy-tags",
        json!({
            "vpcId": vpc_id, "serviceName": format!("com.amazonaws.{REGION}.dynamodb"), "vpcEndpointType": "Gateway",
            "routeTableIds": [table_id],
            "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "dynamodb:GetItem", "Resource": "*"}]},
            "tags": {"team": "ml"},
        }),
    )
    .await;
    run.case(
        net,
        "VpcEndpoint",
        "interface",
        json!({"vpcId": vpc_id, "serviceName": format!("com.amazonaws.{REGION}.sagemaker.api"), "subnetIds": [subnet_a, subnet_b], "securityGroupIds": [group_id]}),
    )
    .await;
    run.case(
        net,
        "VpcEndpoint",
        "interface-no-private-dns-no-groups",
        json!({"vpcId": vpc_id, "serviceName": format!("com.amazonaws.{REGION}.sts"), "subnetIds": [subnet_a], "privateDnsEnabled": false}),
    )
    .await;
    run.case(
        net,
        "SecurityGroup",
        "egress-to-prefix-list",
        json!({
            "vpcId": vpc_id,
            "egress": [{"protocol": "tcp", "fromPort": 443, "toPort": 443, "prefixListIds": [output_of(&s3_gateway, "prefixListId")], "description": "S3 through the gateway endpoint"}],
        }),
    )
    .await;
    let flow_role = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/flow-logs");
    run.case(
        net,
        "FlowLog",
        "minimal",
        json!({"vpcId": vpc_id, "logGroupName": "/truth/flow", "deliverLogsPermissionArn": flow_role}),
    )
    .await;
    run.case(
        net,
        "FlowLog",
        "rejects-tagged",
        json!({"vpcId": vpc_id, "logGroupName": "/truth/rejects", "deliverLogsPermissionArn": flow_role, "trafficType": "REJECT", "tags": {"team": "ml"}}),
    )
    .await;

    // Security.
    let key = run.case(sec, "KmsKey", "minimal", json!({})).await;
    let key_arn = output_of(&key, "arn");
    run.case(
        sec,
        "KmsKey",
        "described-policy-no-rotation-tagged",
        json!({
            "description": "Studio storage", "enableKeyRotation": false, "deletionWindowInDays": 7,
            "policy": account_root_policy(), "tags": {"team": "ml"},
        }),
    )
    .await;
    run.case(
        sec,
        "KmsKeyPolicy",
        "by-id",
        json!({"keyId": id_of(&key), "policy": account_root_policy()}),
    )
    .await;
    run.case(
        sec,
        "KmsKeyPolicy",
        "by-arn",
        json!({"keyId": key_arn, "policy": account_root_policy()}),
    )
    .await;
    run.case(
        sec,
        "KmsAlias",
        "minimal",
        json!({"aliasName": "alias/truth-data", "targetKeyId": id_of(&key)}),
    )
    .await;
    let role = run
        .case(
            sec,
            "Role",
            "minimal",
            json!({"assumeRolePolicy": trust("sagemaker.amazonaws.com")}),
        )
        .await;
    let role_arn = output_of(&role, "arn");
    run.case(
        sec,
        "Role",
        "full",
        json!({
            "roleName": "truth-data-scientist", "path": "/palisade/", "description": "Data scientists",
            "assumeRolePolicy": trust("sagemaker.amazonaws.com"),
            "inlinePolicies": {"read-data": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::truth-data/*"}]}},
            "managedPolicyArns": ["arn:aws:iam::aws:policy/AmazonSageMakerFullAccess"],
            "permissionsBoundary": "arn:aws:iam::aws:policy/PowerUserAccess",
            "maxSessionDuration": 7200,
            "tags": {"team": "ml"},
        }),
    )
    .await;
    let bucket = run.case(sec, "Bucket", "minimal", json!({"kmsKeyId": key_arn})).await;
    run.case(
        sec,
        "Bucket",
        "named-all-settings-off-tagged",
        json!({
            "bucket": "truth-scratch", "kmsKeyId": key_arn, "bucketKeyEnabled": false,
            "blockPublicAcls": false, "blockPublicPolicy": false, "ignorePublicAcls": false,
            "restrictPublicBuckets": false, "versioning": false, "forceDestroy": true, "tags": {"team": "ml"},
        }),
    )
    .await;
    let bucket_name = id_of(&bucket);
    run.case(
        sec,
        "BucketPolicy",
        "tls-only",
        json!({
            "bucket": bucket_name,
            "policy": {"Version": "2012-10-17", "Statement": [{
                "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [format!("arn:aws:s3:::{bucket_name}"), format!("arn:aws:s3:::{bucket_name}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }]},
        }),
    )
    .await;

    // Studio.
    let domain = run
        .case(
            studio,
            "Domain",
            "minimal",
            json!({"vpcId": vpc_id, "subnetIds": [subnet_a, subnet_b], "defaultUserSettings": {"executionRole": role_arn, "securityGroups": [group_id]}}),
        )
        .await;
    run.case(
        studio,
        "Domain",
        "public-internet-no-groups",
        json!({"vpcId": vpc_id, "subnetIds": [subnet_b], "appNetworkAccessType": "PublicInternetOnly", "defaultUserSettings": {"executionRole": role_arn}}),
    )
    .await;
    run.case(
        studio,
        "Domain",
        "named-encrypted-full",
        json!({
            "domainName": "truth-studio", "vpcId": vpc_id, "subnetIds": [subnet_a],
            "authMode": "IAM", "appNetworkAccessType": "VpcOnly", "kmsKeyId": key_arn,
            "defaultUserSettings": {"executionRole": role_arn, "securityGroups": [group_id]},
            "homeEfsRetention": "Delete", "tags": {"team": "ml"},
        }),
    )
    .await;
    let domain_id = id_of(&domain);
    run.case(studio, "UserProfile", "minimal", json!({"domainId": domain_id}))
        .await;
    run.case(
        studio,
        "UserProfile",
        "named-role-groups-tagged",
        json!({
            "domainId": domain_id, "userProfileName": "alice", "executionRole": role_arn,
            "securityGroups": [group_id], "tags": {"user": "alice"},
        }),
    )
    .await;

    // Deploy.
    run.case(deploy, "ModelPackageGroup", "minimal", json!({})).await;
    run.case(
        deploy,
        "ModelPackageGroup",
        "described-shared-tagged",
        json!({
            "modelPackageGroupName": "truth-churn", "description": "Churn models",
            "resourcePolicy": {"Version": "2012-10-17", "Statement": [{
                "Sid": "ShareWithStaging", "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
                "Action": ["sagemaker:DescribeModelPackageGroup", "sagemaker:ListModelPackages"],
                "Resource": format!("arn:aws:sagemaker:{REGION}:{DEFAULT_ACCOUNT}:model-package-group/truth-churn"),
            }]},
            "tags": {"team": "ml"},
        }),
    )
    .await;
    run.case(
        deploy,
        "ModelPackage",
        "minimal",
        json!({"modelPackageGroupName": "truth-churn", "image": IMAGE, "modelDataUrl": "s3://truth-models/churn/v1/model.tar.gz"}),
    )
    .await;
    let package = run
        .case(
            deploy,
            "ModelPackage",
            "approved-described-tagged",
            json!({
                "modelPackageGroupName": "truth-churn", "image": IMAGE,
                "modelDataUrl": "s3://truth-models/churn/v2/model.tar.gz", "description": "v2",
                "supportedContentTypes": ["text/csv"], "supportedResponseMimeTypes": ["text/csv"],
                "modelApprovalStatus": "Approved", "tags": {"team": "ml"},
            }),
        )
        .await;
    let model = run
        .case(
            deploy,
            "Model",
            "image",
            json!({"executionRoleArn": role_arn, "image": IMAGE}),
        )
        .await;
    run.case(
        deploy,
        "Model",
        "image-data-vpc-env-open-tagged",
        json!({
            "modelName": "truth-scorer", "executionRoleArn": role_arn, "image": IMAGE,
            "modelDataUrl": "s3://truth-models/churn/v1/model.tar.gz", "environment": {"MODE": "batch"},
            "subnetIds": [subnet_a, subnet_b], "securityGroupIds": [group_id],
            "enableNetworkIsolation": false, "tags": {"team": "ml"},
        }),
    )
    .await;
    run.case(
        deploy,
        "Model",
        "from-package",
        json!({"executionRoleArn": role_arn, "modelPackageArn": output_of(&package, "modelPackageArn")}),
    )
    .await;
    let model_name = id_of(&model);
    let variant = json!([{"modelName": model_name, "instanceType": "ml.m5.large"}]);
    let config = run
        .case(
            deploy,
            "EndpointConfig",
            "minimal",
            json!({"productionVariants": variant}),
        )
        .await;
    run.case(
        deploy,
        "EndpointConfig",
        "encrypted",
        json!({"productionVariants": variant, "kmsKeyId": key_arn}),
    )
    .await;
    run.case(
        deploy,
        "EndpointConfig",
        "capture",
        json!({"productionVariants": variant, "dataCapture": {"destinationS3Uri": "s3://truth-capture/scorer"}}),
    )
    .await;
    run.case(
        deploy,
        "EndpointConfig",
        "capture-encrypted",
        json!({"productionVariants": variant, "dataCapture": {"destinationS3Uri": "s3://truth-capture/encrypted", "kmsKeyId": key_arn}}),
    )
    .await;
    run.case(
        deploy,
        "EndpointConfig",
        "full",
        json!({
            "endpointConfigName": "truth-scorer-full",
            "productionVariants": [
                {"variantName": "blue", "modelName": model_name, "instanceType": "ml.m5.large", "initialInstanceCount": 2, "initialVariantWeight": 0.1},
                {"variantName": "green", "modelName": model_name, "instanceType": "ml.c5.xlarge", "initialVariantWeight": 0.9},
            ],
            "kmsKeyId": key_arn,
            "dataCapture": {"destinationS3Uri": "s3://truth-capture/full", "initialSamplingPercentage": 20, "kmsKeyId": key_arn},
            "tags": {"team": "ml"},
        }),
    )
    .await;
    let config_name = id_of(&config);
    run.case(
        deploy,
        "Endpoint",
        "minimal",
        json!({"endpointConfigName": config_name}),
    )
    .await;
    run.case(
        deploy,
        "Endpoint",
        "named-tagged",
        json!({"endpointName": "truth-scorer", "endpointConfigName": config_name, "tags": {"team": "ml"}}),
    )
    .await;

    let made = run.created.len();
    run.delete_everything().await;

    // Every declared kind has at least one case that ran.
    let mut uncovered = Vec::new();
    for package in PACKAGES {
        for kind in declared_kinds(package).await {
            if !run.covered.iter().any(|(p, k, _)| p == package && *k == kind) {
                uncovered.push(format!("{package}:{kind}"));
            }
        }
    }
    let kinds: BTreeSet<_> = run.covered.iter().map(|(p, k, _)| (p.clone(), k.clone())).collect();
    eprintln!(
        "read truth: {} (kind, variant) cases over {} kinds; {made} resources deleted, twice, and read as \
         gone (reset to a default instead: {:?})",
        run.covered.len(),
        kinds.len(),
        run.reset
    );
    for provider in std::mem::take(&mut run.providers).into_values() {
        provider.stop().await;
    }
    assert!(uncovered.is_empty(), "kinds without a read-truth case: {uncovered:?}");
    assert!(
        run.failures.is_empty(),
        "{} case(s) break the invariant:\n{}",
        run.failures.len(),
        run.failures.join("\n")
    );
}

/// The emulator's tag for an endpoint configuration that an update cannot move to: SageMaker rolls
/// the update back (tests/emulator/extensions/sagemaker_update_endpoint.py).
const ROLLS_BACK: &str = "palisade-emulator:update-rolls-back";

#[tokio::test]
async fn an_endpoint_update_that_sagemaker_rolls_back_fails_and_keeps_the_old_configuration() {
    let emulator = Emulator::start().expect("emulator");
    let provider = TestProvider::start(&emulator, "palisade-deploy", DEFAULT_ACCOUNT, "rollback").await;
    let role = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/model-execution");
    let model = provider
        .create("Model", "scorer", &json!({"executionRoleArn": role, "image": IMAGE}))
        .await
        .expect("model");
    let config = |tags: Json| json!({"productionVariants": [{"modelName": model.id, "instanceType": "ml.m5.large"}], "tags": tags});
    let first = provider
        .create("EndpointConfig", "scorer-one", &config(json!({})))
        .await
        .expect("first config");
    let reason = "The primary container for production variant AllTraffic did not pass the ping health check.";
    let doomed = provider
        .create("EndpointConfig", "scorer-two", &config(json!({ROLLS_BACK: reason})))
        .await
        .expect("second config");
    let declared = json!({"endpointName": "rollback-scorer", "endpointConfigName": first.id});
    let endpoint = provider
        .create("Endpoint", "scorer", &declared)
        .await
        .expect("endpoint");

    // The preview shows a move in place; the update fails with SageMaker's reason.
    let moved = json!({"endpointName": "rollback-scorer", "endpointConfigName": doomed.id});
    let (news, changes) = provider.plan(&endpoint, "Endpoint", "scorer", &moved).await;
    assert_eq!(changes.detailed.get("endpointConfigName"), Some(&DiffKind::Update));
    assert!(changes.replaces.is_empty(), "{changes:?}");
    let status = provider
        .update(&endpoint, news)
        .await
        .expect_err("an update rolled back to the old configuration is not a success");
    let message = status.message();
    assert!(
        message.contains(reason),
        "the error names SageMaker's reason: {message}"
    );
    assert!(
        message.contains(&format!("`{}`, not `{}`", first.id, doomed.id)),
        "the error names the configuration still served and the one refused: {message}"
    );

    // The endpoint runs, and reads back with, the old configuration: the state the engine kept
    // (the old one, since the update failed) shows no drift, and the next preview proposes the move
    // again rather than believing it happened.
    let (outputs, inputs) = provider.read(&endpoint).await.expect("endpoint exists");
    assert_eq!(plain(&outputs)["endpointConfigName"], first.id.as_str());
    assert_eq!(plain(&outputs)["endpointStatus"], "InService");
    let drift = provider.diff(&endpoint, &endpoint.inputs, &inputs).await;
    assert!(!drift.changed, "{drift:?}");
    let refreshed = Live {
        outputs,
        inputs,
        ..endpoint.clone()
    };
    let (_, changes) = provider.plan(&refreshed, "Endpoint", "scorer", &moved).await;
    assert_eq!(changes.detailed.get("endpointConfigName"), Some(&DiffKind::Update));

    // Control: a configuration the endpoint can run is taken, and read back.
    let healthy = provider
        .create("EndpointConfig", "scorer-three", &config(json!({"team": "ml"})))
        .await
        .expect("third config");
    let fixed = json!({"endpointName": "rollback-scorer", "endpointConfigName": healthy.id});
    let (news, _) = provider.plan(&refreshed, "Endpoint", "scorer", &fixed).await;
    let updated = provider
        .update(&refreshed, news)
        .await
        .expect("update to a healthy configuration");
    assert_eq!(updated.outputs_json()["endpointConfigName"], healthy.id.as_str());
    let (outputs, _) = provider.read(&updated).await.expect("endpoint exists");
    assert_eq!(plain(&outputs)["endpointConfigName"], healthy.id.as_str());
    provider.stop().await;
}
