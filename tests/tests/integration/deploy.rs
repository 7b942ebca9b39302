//! The deploy provider's resources on the emulator: each lifecycle (create, read, no-op diff, update in
//! place where SageMaker allows one, replace, delete, delete again, drift), an endpoint moved to a new
//! configuration in place, a model in a second account built from the first account's package, and
//! getLatestApprovedModelPackage choosing among approved, rejected and pending versions.

use aws_sdk_sagemaker::types::ModelApprovalStatus;
use palisade_provider_kit::diff::DiffKind;
use palisade_tests::provider::{plain, Live, TestProvider};
use palisade_tests::{Emulator, DEFAULT_ACCOUNT, REGION};
use serde_json::{json, Value as Json};

const DEPLOY: &str = "palisade-deploy";
const STAGING: &str = "222222222222";
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1";

async fn setup() -> (Emulator, TestProvider, aws_sdk_sagemaker::Client) {
    let emulator = Emulator::start().expect("emulator");
    let provider = TestProvider::start(&emulator, DEPLOY, DEFAULT_ACCOUNT, "dev").await;
    let credentials = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(emulator.endpoint())
        .credentials_provider(credentials)
        .load()
        .await;
    let sagemaker = aws_sdk_sagemaker::Client::new(&config);
    (emulator, provider, sagemaker)
}

/// `live` as the engine holds it after a refresh.
async fn refreshed(provider: &TestProvider, live: &Live) -> Live {
    let (outputs, inputs) = provider.read(live).await.expect("exists");
    Live {
        outputs,
        inputs,
        ..live.clone()
    }
}

/// A resource policy that lets `account` read the group `group` and build models from its packages.
fn shared_with(account: &str, group: &str, actions: &[&str]) -> Json {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ShareWithTarget",
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
            "Action": actions,
            "Resource": [
                format!("arn:aws:sagemaker:{REGION}:{DEFAULT_ACCOUNT}:model-package-group/{group}"),
                format!("arn:aws:sagemaker:{REGION}:{DEFAULT_ACCOUNT}:model-package/{group}/*"),
            ],
        }],
    })
}

fn package(group: &str, version_tag: &str, status: &str) -> Json {
    json!({
        "modelPackageGroupName": group,
        "image": IMAGE,
        "modelDataUrl": format!("s3://dev-models/churn/{version_tag}/model.tar.gz"),
        "modelApprovalStatus": status,
    })
}

fn role(account: &str) -> String {
    format!("arn:aws:iam::{account}:role/model-execution")
}

async fn urn_tag_of(sagemaker: &aws_sdk_sagemaker::Client, arn: &str) -> Option<String> {
    let tags = sagemaker.list_tags().resource_arn(arn).send().await.expect("list tags");
    tags.tags()
        .iter()
        .find(|t| t.key() == Some("palisade:urn"))
        .and_then(|t| t.value().map(str::to_string))
}

/// Replaces `live` as the engine does for an auto-named resource: a fresh Check without the old
/// inputs and with a seed of the new generation (so the auto-name is chosen anew), Create of the
/// replacement, then Delete of the old one.
async fn replace_as_the_engine_does(provider: &TestProvider, live: &Live, name: &str, news: &Json) -> Live {
    let kind = live.token.rsplit(':').next().unwrap_or_default();
    let seed = format!("{name}/{}", live.id).into_bytes();
    let inputs = provider
        .check_seeded(kind, name, None, news, seed)
        .await
        .unwrap_or_else(|f| panic!("check failed: {f:?}"));
    let replacement = provider
        .create_checked(kind, name, inputs)
        .await
        .expect("create the replacement");
    provider.delete(live).await.expect("delete the replaced one");
    replacement
}

#[tokio::test]
async fn model_package_group_lifecycle_shared_policy_and_drift() {
    let (_emulator, provider, sagemaker) = setup().await;
    let read_only = ["sagemaker:DescribeModelPackageGroup", "sagemaker:ListModelPackages"];
    let declared = json!({
        "modelPackageGroupName": "churn",
        "description": "Churn models",
        "resourcePolicy": shared_with(STAGING, "churn", &read_only),
        "tags": {"team": "ml"},
    });
    let group = provider
        .create("ModelPackageGroup", "churn", &declared)
        .await
        .expect("create");
    assert_eq!(group.id, "churn");
    let outputs = group.outputs_json();
    assert_eq!(
        outputs["arn"],
        format!("arn:aws:sagemaker:{REGION}:{DEFAULT_ACCOUNT}:model-package-group/churn")
    );
    assert_eq!(outputs["tags"], json!({"team": "ml"}), "only user tags: {outputs}");
    assert_eq!(
        urn_tag_of(&sagemaker, outputs["arn"].as_str().expect("arn")).await,
        Some(group.urn.clone())
    );
    let live_policy = sagemaker
        .get_model_package_group_policy()
        .model_package_group_name("churn")
        .send()
        .await
        .expect("policy");
    assert!(live_policy.resource_policy().expect("text").contains(STAGING));

    // Read and a no-op plan.
    let (read, _) = provider.read(&group).await.expect("exists");
    assert_eq!(plain(&read), outputs);
    let (_, changes) = provider.plan(&group, "ModelPackageGroup", "churn", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // The policy and tags change in place.
    let more = [
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:ListModelPackages",
        "sagemaker:DescribeModelPackage",
    ];
    let widened = json!({
        "modelPackageGroupName": "churn",
        "description": "Churn models",
        "resourcePolicy": shared_with(STAGING, "churn", &more),
        "tags": {"team": "ml-platform"},
    });
    let (news, changes) = provider.plan(&group, "ModelPackageGroup", "churn", &widened).await;
    assert_eq!(changes.detailed["resourcePolicy"], DiffKind::Update);
    assert_eq!(changes.detailed["tags"], DiffKind::Update);
    assert!(changes.replaces.is_empty(), "{changes:?}");
    let group = provider.update(&group, news).await.expect("update");
    let refreshed_group = refreshed(&provider, &group).await;
    assert_eq!(refreshed_group.outputs_json()["tags"], json!({"team": "ml-platform"}));
    let (_, changes) = provider
        .plan(&refreshed_group, "ModelPackageGroup", "churn", &widened)
        .await;
    assert!(!changes.changed, "{changes:?}");

    // Drift: the policy removed out of band shows up, and a plan puts it back in place.
    sagemaker
        .delete_model_package_group_policy()
        .model_package_group_name("churn")
        .send()
        .await
        .expect("delete policy out of band");
    let drifted = refreshed(&provider, &group).await;
    assert!(
        drifted.outputs_json().get("resourcePolicy").is_none(),
        "{}",
        drifted.outputs_json()
    );
    let (news, changes) = provider.plan(&drifted, "ModelPackageGroup", "churn", &widened).await;
    assert_eq!(changes.detailed["resourcePolicy"], DiffKind::Add);
    let repaired = provider.update(&drifted, news).await.expect("repair");
    assert!(refreshed(&provider, &repaired).await.outputs_json()["resourcePolicy"].is_object());

    // The description cannot change in place; a fixed name deletes the old group first.
    let renamed = json!({
        "modelPackageGroupName": "churn",
        "description": "Churn models v2",
        "resourcePolicy": shared_with(STAGING, "churn", &more),
        "tags": {"team": "ml-platform"},
    });
    let (_, changes) = provider.plan(&repaired, "ModelPackageGroup", "churn", &renamed).await;
    assert_eq!(changes.replaces, vec!["description".to_string()]);
    assert!(changes.delete_before_replace);

    // Delete, and delete again.
    provider.delete(&repaired).await.expect("delete");
    assert!(provider.read(&repaired).await.is_none());
    provider.delete(&repaired).await.expect("delete again");
}

#[tokio::test]
async fn model_package_lifecycle_with_approval_in_place_and_drift() {
    let (_emulator, provider, sagemaker) = setup().await;
    let group = provider
        .create("ModelPackageGroup", "fraud", &json!({"modelPackageGroupName": "fraud"}))
        .await
        .expect("group");
    let declared = package("fraud", "v1", "PendingManualApproval");
    let version = provider
        .create("ModelPackage", "fraud-v1", &declared)
        .await
        .expect("create");
    let outputs = version.outputs_json();
    assert_eq!(outputs["modelPackageVersion"], 1);
    assert_eq!(outputs["modelPackageArn"], version.id);
    assert_eq!(outputs["modelApprovalStatus"], "PendingManualApproval");
    assert_eq!(outputs["supportedContentTypes"], json!(["application/json"]));

    let (read, _) = provider.read(&version).await.expect("exists");
    assert_eq!(plain(&read), outputs);
    let (_, changes) = provider.plan(&version, "ModelPackage", "fraud-v1", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // Approval changes in place.
    let approved = package("fraud", "v1", "Approved");
    let (news, changes) = provider.plan(&version, "ModelPackage", "fraud-v1", &approved).await;
    assert_eq!(changes.detailed["modelApprovalStatus"], DiffKind::Update);
    assert!(changes.replaces.is_empty(), "{changes:?}");
    let version = provider.update(&version, news).await.expect("approve");
    assert_eq!(version.outputs_json()["modelApprovalStatus"], "Approved");
    let live = sagemaker
        .describe_model_package()
        .model_package_name(&version.id)
        .send()
        .await
        .expect("describe");
    assert_eq!(live.model_approval_status(), Some(&ModelApprovalStatus::Approved));

    // Drift: rejected out of band.
    sagemaker
        .update_model_package()
        .model_package_arn(&version.id)
        .model_approval_status(ModelApprovalStatus::Rejected)
        .send()
        .await
        .expect("reject out of band");
    let drifted = refreshed(&provider, &version).await;
    assert_eq!(drifted.outputs_json()["modelApprovalStatus"], "Rejected");
    let (_, changes) = provider.plan(&drifted, "ModelPackage", "fraud-v1", &approved).await;
    assert_eq!(changes.detailed["modelApprovalStatus"], DiffKind::Update);

    // A new artifact is a new version: replace.
    let retrained = package("fraud", "v2", "Approved");
    let (_, changes) = provider.plan(&drifted, "ModelPackage", "fraud-v1", &retrained).await;
    assert_eq!(changes.replaces, vec!["modelDataUrl".to_string()]);
    assert!(!changes.delete_before_replace);

    // Delete, and delete again; then the empty group goes too.
    provider.delete(&drifted).await.expect("delete");
    assert!(provider.read(&drifted).await.is_none());
    provider.delete(&drifted).await.expect("delete again");
    provider.delete(&group).await.expect("delete group");
    provider.delete(&group).await.expect("delete group again");
}

#[tokio::test]
async fn latest_approved_package_is_the_newest_approved_version() {
    let (_emulator, provider, _sagemaker) = setup().await;
    provider
        .create(
            "ModelPackageGroup",
            "credit",
            &json!({"modelPackageGroupName": "credit"}),
        )
        .await
        .expect("group");
    provider
        .create("ModelPackageGroup", "empty", &json!({"modelPackageGroupName": "empty"}))
        .await
        .expect("group");
    let statuses = [
        "Approved",
        "Approved",
        "Rejected",
        "PendingManualApproval",
        "Approved",
        "Rejected",
    ];
    let mut versions = Vec::new();
    for (i, status) in statuses.iter().enumerate() {
        let name = format!("credit-v{}", i + 1);
        let created = provider
            .create("ModelPackage", &name, &package("credit", &name, status))
            .await
            .expect("package");
        assert_eq!(created.outputs_json()["modelPackageVersion"], i + 1);
        versions.push(created);
    }
    // v5 is the newest approved: v6 is rejected, v4 pending.
    let latest = provider
        .invoke(
            "getLatestApprovedModelPackage",
            &json!({"modelPackageGroupName": "credit"}),
        )
        .await
        .expect("invoke");
    assert_eq!(latest["modelPackageArn"], versions[4].id);
    assert_eq!(latest["modelPackageVersion"], 5);
    assert_eq!(latest["modelPackageGroupName"], "credit");

    // The group's ARN works too.
    let by_arn = provider
        .invoke(
            "getLatestApprovedModelPackage",
            &json!({"modelPackageGroupName": format!("arn:aws:sagemaker:{REGION}:{DEFAULT_ACCOUNT}:model-package-group/credit")}),
        )
        .await
        .expect("invoke by ARN");
    assert_eq!(by_arn["modelPackageArn"], versions[4].id);

    // Approving the pending v4 does not beat v5; approving v6 does.
    let (news, _) = provider
        .plan(
            &versions[5],
            "ModelPackage",
            "credit-v6",
            &package("credit", "credit-v6", "Approved"),
        )
        .await;
    provider.update(&versions[5], news).await.expect("approve v6");
    let latest = provider
        .invoke(
            "getLatestApprovedModelPackage",
            &json!({"modelPackageGroupName": "credit"}),
        )
        .await
        .expect("invoke");
    assert_eq!(latest["modelPackageVersion"], 6);

    // A group without an approved package is an error that names the group.
    let error = provider
        .invoke(
            "getLatestApprovedModelPackage",
            &json!({"modelPackageGroupName": "empty"}),
        )
        .await
        .expect_err("nothing approved");
    assert!(error.contains("empty") && error.contains("approved"), "{error}");
    let error = provider
        .invoke("getLatestApprovedModelPackage", &json!({"modelPackageGroupName": ""}))
        .await
        .expect_err("no group");
    assert!(error.contains("modelPackageGroupName"), "{error}");
}

fn model_from_image(data: &str) -> Json {
    json!({
        "executionRoleArn": role(DEFAULT_ACCOUNT),
        "image": IMAGE,
        "modelDataUrl": data,
        "subnetIds": ["subnet-aaa", "subnet-bbb"],
        "securityGroupIds": ["sg-123"],
        "tags": {"team": "ml"},
    })
}

#[tokio::test]
async fn model_lifecycle_isolated_by_default_replaced_on_change() {
    let (_emulator, provider, sagemaker) = setup().await;

    // Check names the property and the fix.
    let failures = provider
        .check(
            "Model",
            "scorer",
            None,
            &json!({"executionRoleArn": role(DEFAULT_ACCOUNT)}),
        )
        .await
        .expect_err("no container");
    assert!(
        failures.iter().any(|f| f.starts_with("modelPackageArn:")),
        "{failures:?}"
    );
    let failures = provider
        .check(
            "Model",
            "scorer",
            None,
            &json!({"executionRoleArn": "model-execution", "image": IMAGE}),
        )
        .await
        .expect_err("bad role");
    assert!(
        failures.iter().any(|f| f.starts_with("executionRoleArn:")),
        "{failures:?}"
    );
    let failures = provider
        .check(
            "Model",
            "scorer",
            None,
            &json!({"executionRoleArn": role(DEFAULT_ACCOUNT), "image": IMAGE, "subnetIds": ["subnet-aaa"]}),
        )
        .await
        .expect_err("half a VPC config");
    assert!(
        failures.iter().any(|f| f.starts_with("securityGroupIds:")),
        "{failures:?}"
    );

    let declared = model_from_image("s3://dev-models/scorer/model.tar.gz");
    let model = provider.create("Model", "scorer", &declared).await.expect("create");
    assert!(model.id.starts_with("scorer-"), "auto-named: {}", model.id);
    let outputs = model.outputs_json();
    assert_eq!(outputs["modelName"], model.id);
    assert_eq!(outputs["enableNetworkIsolation"], true);
    assert_eq!(outputs["subnetIds"], json!(["subnet-aaa", "subnet-bbb"]));
    assert_eq!(outputs["tags"], json!({"team": "ml"}));
    let live = sagemaker
        .describe_model()
        .model_name(&model.id)
        .send()
        .await
        .expect("describe");
    assert_eq!(live.enable_network_isolation(), Some(true));
    assert_eq!(
        live.vpc_config().map(|v| v.security_group_ids().to_vec()),
        Some(vec!["sg-123".to_string()])
    );
    assert_eq!(
        urn_tag_of(&sagemaker, live.model_arn().expect("arn")).await,
        Some(model.urn.clone())
    );

    let (read, _) = provider.read(&model).await.expect("exists");
    assert_eq!(plain(&read), outputs);
    let (_, changes) = provider.plan(&model, "Model", "scorer", &declared).await;
    assert!(!changes.changed, "{changes:?}");
    // Subnets are a set: their order is no change.
    let mut reordered = declared.clone();
    reordered["subnetIds"] = json!(["subnet-bbb", "subnet-aaa"]);
    let (_, changes) = provider.plan(&model, "Model", "scorer", &reordered).await;
    assert!(!changes.changed, "{changes:?}");

    // Any change replaces, created before the old one is deleted (the name is Palisade's).
    let (_, changes) = provider
        .plan(
            &model,
            "Model",
            "scorer",
            &model_from_image("s3://dev-models/scorer/v2/model.tar.gz"),
        )
        .await;
    assert_eq!(changes.replaces, vec!["modelDataUrl".to_string()]);
    assert!(!changes.delete_before_replace);
    let mut opened = declared.clone();
    opened["enableNetworkIsolation"] = json!(false);
    let (_, changes) = provider.plan(&model, "Model", "scorer", &opened).await;
    assert_eq!(changes.replaces, vec!["enableNetworkIsolation".to_string()]);

    // Drift: a tag added out of band shows up in Read.
    sagemaker
        .add_tags()
        .resource_arn(live.model_arn().expect("arn"))
        .tags(
            aws_sdk_sagemaker::types::Tag::builder()
                .key("owner")
                .value("someone")
                .build(),
        )
        .send()
        .await
        .expect("tag out of band");
    let drifted = refreshed(&provider, &model).await;
    assert_eq!(
        drifted.outputs_json()["tags"],
        json!({"team": "ml", "owner": "someone"})
    );
    let (_, changes) = provider.plan(&drifted, "Model", "scorer", &declared).await;
    assert_eq!(changes.replaces, vec!["tags".to_string()]);

    // The replacement gets a new name, so both exist until the old one is deleted.
    let retrained = model_from_image("s3://dev-models/scorer/v2/model.tar.gz");
    let replacement = replace_as_the_engine_does(&provider, &drifted, "scorer", &retrained).await;
    assert_ne!(replacement.id, model.id, "a replacement never reuses the name");
    assert!(replacement.id.starts_with("scorer-"), "{}", replacement.id);
    assert_eq!(
        replacement.outputs_json()["modelDataUrl"],
        "s3://dev-models/scorer/v2/model.tar.gz"
    );
    assert!(provider.read(&model).await.is_none(), "the old model is gone");
    provider.delete(&replacement).await.expect("delete the replacement");

    provider.delete(&model).await.expect("delete");
    assert!(provider.read(&model).await.is_none());
    provider.delete(&model).await.expect("delete again");
}

fn endpoint_config(model: &str, count: i64) -> Json {
    json!({
        "productionVariants": [{
            "modelName": model,
            "instanceType": "ml.m5.large",
            "initialInstanceCount": count,
            "initialVariantWeight": 0.1,
        }],
        "kmsKeyId": format!("arn:aws:kms:{REGION}:{DEFAULT_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"),
        "dataCapture": {"destinationS3Uri": "s3://dev-capture/scorer", "initialSamplingPercentage": 20},
        "tags": {"team": "ml"},
    })
}

#[tokio::test]
async fn endpoint_config_lifecycle_encrypted_with_capture_and_replaced_on_change() {
    let (_emulator, provider, sagemaker) = setup().await;
    let model = provider
        .create(
            "Model",
            "scorer",
            &model_from_image("s3://dev-models/scorer/model.tar.gz"),
        )
        .await
        .expect("model");

    let failures = provider
        .check(
            "EndpointConfig",
            "scorer",
            None,
            &json!({"productionVariants": [{"modelName": model.id, "instanceType": "m5.large", "initialInstanceCount": 0}]}),
        )
        .await
        .expect_err("bad variant");
    assert!(
        failures
            .iter()
            .any(|f| f.contains("instanceType") && f.contains("ml.m5.large")),
        "{failures:?}"
    );
    assert!(
        failures.iter().any(|f| f.contains("initialInstanceCount")),
        "{failures:?}"
    );

    let declared = endpoint_config(&model.id, 1);
    let config = provider
        .create("EndpointConfig", "scorer", &declared)
        .await
        .expect("create");
    assert!(config.id.starts_with("scorer-"), "auto-named: {}", config.id);
    let outputs = config.outputs_json();
    assert_eq!(outputs["endpointConfigName"], config.id);
    assert_eq!(outputs["productionVariants"][0]["variantName"], "AllTraffic");
    assert_eq!(outputs["productionVariants"][0]["initialVariantWeight"], 0.1);
    assert_eq!(outputs["dataCapture"]["initialSamplingPercentage"], 20);
    assert_eq!(outputs["tags"], json!({"team": "ml"}));
    let live = sagemaker
        .describe_endpoint_config()
        .endpoint_config_name(&config.id)
        .send()
        .await
        .expect("describe");
    assert!(live.kms_key_id().expect("volume key").ends_with("1234567890ab"));
    assert_eq!(
        live.data_capture_config().and_then(|c| c.destination_s3_uri()),
        Some("s3://dev-capture/scorer")
    );
    assert_eq!(
        urn_tag_of(&sagemaker, live.endpoint_config_arn().expect("arn")).await,
        Some(config.urn.clone())
    );

    let (read, _) = provider.read(&config).await.expect("exists");
    assert_eq!(plain(&read), outputs);
    let (_, changes) = provider.plan(&config, "EndpointConfig", "scorer", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // Any change replaces, and never deletes first (the name is Palisade's; it keeps the old one
    // on a plan, and the engine's fresh Check on replacement chooses a new one).
    let (news, changes) = provider
        .plan(&config, "EndpointConfig", "scorer", &endpoint_config(&model.id, 2))
        .await;
    assert_eq!(changes.replaces, vec!["productionVariants".to_string()]);
    assert!(!changes.delete_before_replace);
    assert_eq!(plain(&news)["endpointConfigName"], config.id);
    let config = replace_as_the_engine_does(&provider, &config, "scorer", &endpoint_config(&model.id, 2)).await;
    assert_ne!(
        plain(&config.outputs)["endpointConfigName"],
        outputs["endpointConfigName"]
    );
    assert_eq!(
        config.outputs_json()["productionVariants"][0]["initialInstanceCount"],
        2
    );
    let old_name = outputs["endpointConfigName"].as_str().expect("name");
    let old_gone = sagemaker
        .describe_endpoint_config()
        .endpoint_config_name(old_name)
        .send()
        .await;
    assert!(old_gone.is_err(), "the replaced configuration is deleted");

    // Drift: deleted out of band.
    sagemaker
        .delete_endpoint_config()
        .endpoint_config_name(&config.id)
        .send()
        .await
        .expect("delete out of band");
    assert!(provider.read(&config).await.is_none());
    provider.delete(&config).await.expect("delete what is already gone");
    provider.delete(&model).await.expect("delete model");
}

#[tokio::test]
async fn endpoint_moves_to_a_new_config_in_place_and_keeps_the_old_one() {
    let (_emulator, provider, sagemaker) = setup().await;
    let model = provider
        .create(
            "Model",
            "scorer",
            &model_from_image("s3://dev-models/scorer/model.tar.gz"),
        )
        .await
        .expect("model");
    let first = provider
        .create("EndpointConfig", "scorer-one", &endpoint_config(&model.id, 1))
        .await
        .expect("config one");
    let declared = json!({"endpointName": "scorer-staging", "endpointConfigName": first.id, "tags": {"team": "ml"}});
    let endpoint = provider.create("Endpoint", "scorer", &declared).await.expect("create");
    assert_eq!(endpoint.id, "scorer-staging");
    let outputs = endpoint.outputs_json();
    assert_eq!(outputs["endpointStatus"], "InService");
    assert_eq!(outputs["endpointConfigName"], first.id);
    assert_eq!(outputs["tags"], json!({"team": "ml"}));
    assert_eq!(
        urn_tag_of(&sagemaker, outputs["endpointArn"].as_str().expect("arn")).await,
        Some(endpoint.urn.clone())
    );

    let (read, _) = provider.read(&endpoint).await.expect("exists");
    assert_eq!(plain(&read), outputs);
    let (_, changes) = provider.plan(&endpoint, "Endpoint", "scorer", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // A new configuration is applied in place; the old one is not touched.
    let second = provider
        .create("EndpointConfig", "scorer-two", &endpoint_config(&model.id, 2))
        .await
        .expect("config two");
    let moved = json!({"endpointName": "scorer-staging", "endpointConfigName": second.id, "tags": {"team": "ml", "stage": "staging"}});
    let (news, changes) = provider.plan(&endpoint, "Endpoint", "scorer", &moved).await;
    assert_eq!(changes.detailed["endpointConfigName"], DiffKind::Update);
    assert!(changes.replaces.is_empty(), "{changes:?}");
    let endpoint = provider.update(&endpoint, news).await.expect("update endpoint");
    let outputs = endpoint.outputs_json();
    assert_eq!(outputs["endpointConfigName"], second.id);
    assert_eq!(outputs["endpointStatus"], "InService");
    assert_eq!(outputs["tags"], json!({"team": "ml", "stage": "staging"}));
    let live = sagemaker
        .describe_endpoint()
        .endpoint_name("scorer-staging")
        .send()
        .await
        .expect("describe");
    assert_eq!(live.endpoint_config_name(), Some(second.id.as_str()));
    assert!(
        provider.read(&first).await.is_some(),
        "the old configuration stays until the engine deletes it"
    );
    let (_, changes) = provider
        .plan(&refreshed(&provider, &endpoint).await, "Endpoint", "scorer", &moved)
        .await;
    assert!(!changes.changed, "{changes:?}");

    // Drift: moved back out of band.
    sagemaker
        .update_endpoint()
        .endpoint_name("scorer-staging")
        .endpoint_config_name(&first.id)
        .send()
        .await
        .expect("update out of band");
    let drifted = refreshed(&provider, &endpoint).await;
    assert_eq!(drifted.outputs_json()["endpointConfigName"], first.id);
    let (news, changes) = provider.plan(&drifted, "Endpoint", "scorer", &moved).await;
    assert_eq!(changes.detailed["endpointConfigName"], DiffKind::Update);
    let endpoint = provider.update(&drifted, news).await.expect("repair");
    assert_eq!(endpoint.outputs_json()["endpointConfigName"], second.id);

    // A new name replaces; a fixed name deletes the old endpoint first.
    let renamed = json!({"endpointName": "scorer-staging-2", "endpointConfigName": second.id, "tags": {"team": "ml", "stage": "staging"}});
    let (_, changes) = provider.plan(&endpoint, "Endpoint", "scorer", &renamed).await;
    assert_eq!(changes.replaces, vec!["endpointName".to_string()]);
    assert!(changes.delete_before_replace);

    // An update to a configuration that does not exist fails with SageMaker's message.
    let missing = json!({"endpointName": "scorer-staging", "endpointConfigName": "no-such-config", "tags": {"team": "ml", "stage": "staging"}});
    let (news, _) = provider.plan(&endpoint, "Endpoint", "scorer", &missing).await;
    let status = provider.update(&endpoint, news).await.expect_err("unknown config");
    assert!(status.message().contains("UpdateEndpoint"), "{}", status.message());

    provider.delete(&endpoint).await.expect("delete");
    assert!(provider.read(&endpoint).await.is_none());
    provider.delete(&endpoint).await.expect("delete again");
    for config in [&first, &second] {
        provider.delete(config).await.expect("delete config");
    }
    provider.delete(&model).await.expect("delete model");
}

#[tokio::test]
async fn invoke_endpoint_answers_only_from_an_endpoint_in_service() {
    let (_emulator, provider, _sagemaker) = setup().await;
    // No such endpoint: an error naming it (the emulator itself would answer any name).
    let error = provider
        .invoke("invokeEndpoint", &json!({"endpointName": "nowhere", "body": "{}"}))
        .await
        .expect_err("no endpoint");
    assert!(error.contains("nowhere") && error.contains("not found"), "{error}");
    let error = provider
        .invoke("invokeEndpoint", &json!({"endpointName": "-bad", "body": "{}"}))
        .await
        .expect_err("bad name");
    assert!(error.contains("endpointName"), "{error}");

    let model = provider
        .create(
            "Model",
            "scorer",
            &model_from_image("s3://dev-models/scorer/model.tar.gz"),
        )
        .await
        .expect("model");
    let config = provider
        .create("EndpointConfig", "scorer", &endpoint_config(&model.id, 1))
        .await
        .expect("config");
    provider
        .create(
            "Endpoint",
            "scorer",
            &json!({"endpointName": "scorer-smoke", "endpointConfigName": config.id}),
        )
        .await
        .expect("endpoint");
    let answer = provider
        .invoke(
            "invokeEndpoint",
            &json!({"endpointName": "scorer-smoke", "body": "{\"instances\": [[1, 2]]}"}),
        )
        .await
        .expect("invoke");
    assert_eq!(answer["endpointStatus"], "InService");
    assert!(!answer["body"].as_str().unwrap_or_default().is_empty(), "{answer}");
}

#[tokio::test]
async fn an_endpoint_left_by_an_interrupted_create_is_adopted() {
    let (_emulator, provider, sagemaker) = setup().await;
    let model = provider
        .create(
            "Model",
            "scorer",
            &model_from_image("s3://dev-models/scorer/model.tar.gz"),
        )
        .await
        .expect("model");
    let config = provider
        .create("EndpointConfig", "scorer", &endpoint_config(&model.id, 1))
        .await
        .expect("config");
    // What an interrupted create left: the endpoint exists, tagged with the URN, but no state has it.
    let urn = provider.urn("Endpoint", "scorer");
    sagemaker
        .create_endpoint()
        .endpoint_name("scorer-prod")
        .endpoint_config_name(&config.id)
        .tags(
            aws_sdk_sagemaker::types::Tag::builder()
                .key("palisade:urn")
                .value(&urn)
                .build(),
        )
        .send()
        .await
        .expect("create out of band");
    let before = sagemaker
        .describe_endpoint()
        .endpoint_name("scorer-prod")
        .send()
        .await
        .expect("describe");

    let declared = json!({"endpointName": "scorer-prod", "endpointConfigName": config.id, "tags": {"team": "ml"}});
    let endpoint = provider.create("Endpoint", "scorer", &declared).await.expect("create");
    assert_eq!(endpoint.id, "scorer-prod");
    assert_eq!(
        endpoint.outputs_json()["tags"],
        json!({"team": "ml"}),
        "brought to the inputs"
    );
    let after = sagemaker
        .describe_endpoint()
        .endpoint_name("scorer-prod")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        after.creation_time(),
        before.creation_time(),
        "adopted, not created again"
    );

    provider.delete(&endpoint).await.expect("delete");
    provider.delete(&config).await.expect("delete config");
    provider.delete(&model).await.expect("delete model");
}

#[tokio::test]
async fn staging_builds_a_model_from_the_dev_accounts_approved_package() {
    let (emulator, dev, sagemaker) = setup().await;
    let staging = TestProvider::start(&emulator, DEPLOY, STAGING, "staging").await;

    // Dev: the group shared with staging, and an approved version.
    let actions = [
        "sagemaker:DescribeModelPackageGroup",
        "sagemaker:DescribeModelPackage",
        "sagemaker:ListModelPackages",
    ];
    let group = dev
        .create(
            "ModelPackageGroup",
            "churn",
            &json!({"modelPackageGroupName": "churn", "resourcePolicy": shared_with(STAGING, "churn", &actions)}),
        )
        .await
        .expect("group");
    let policy = group.outputs_json()["resourcePolicy"].clone();
    assert_eq!(
        policy["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{STAGING}:root")
    );
    dev.create("ModelPackage", "churn-v1", &package("churn", "v1", "Approved"))
        .await
        .expect("package");
    let latest = dev
        .invoke(
            "getLatestApprovedModelPackage",
            &json!({"modelPackageGroupName": "churn"}),
        )
        .await
        .expect("latest");
    let package_arn = latest["modelPackageArn"].as_str().expect("arn").to_string();
    assert!(
        package_arn.contains(&format!(":{DEFAULT_ACCOUNT}:model-package/churn/1")),
        "{package_arn}"
    );

    // Staging: a model from dev's package, run by staging's own role.
    let declared = json!({
        "executionRoleArn": role(STAGING),
        "modelPackageArn": package_arn,
        "subnetIds": ["subnet-0staginga"],
        "securityGroupIds": ["sg-staging"],
    });
    let model = staging
        .create("Model", "churn", &declared)
        .await
        .expect("create in staging");
    let outputs = model.outputs_json();
    assert!(
        outputs["modelArn"]
            .as_str()
            .expect("arn")
            .contains(&format!(":{STAGING}:model/")),
        "{outputs}"
    );
    assert_eq!(outputs["modelPackageArn"], package_arn);
    assert_eq!(outputs["enableNetworkIsolation"], true);
    assert!(outputs.get("image").is_none(), "{outputs}");
    let (read, _) = staging.read(&model).await.expect("exists in staging");
    assert_eq!(plain(&read), outputs);
    let (_, changes) = staging.plan(&model, "Model", "churn", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // It lives in staging, not in dev.
    let in_dev = sagemaker.describe_model().model_name(&model.id).send().await;
    assert!(in_dev.is_err(), "the model must not exist in the dev account");

    staging.delete(&model).await.expect("delete in staging");
    assert!(staging.read(&model).await.is_none());
    staging.delete(&model).await.expect("delete again");
    staging.stop().await;
}
