//! The security provider's resources on the emulator: create, read, no-op diff, update in place,
//! replace, delete, delete again, and drift (a change made out of band shows up in Read), including
//! key and bucket policies that name roles of another emulated account.

use palisade_provider_kit::diff::DiffKind;
use palisade_tests::provider::{plain, Live, TestProvider};
use palisade_tests::{Emulator, DEFAULT_ACCOUNT, REGION};
use serde_json::{json, Value as Json};

const SECURITY: &str = "palisade-security";
const STAGING: &str = "222222222222";

async fn sdk_config(emulator: &Emulator) -> aws_config::SdkConfig {
    let credentials = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(emulator.endpoint())
        .credentials_provider(credentials)
        .load()
        .await
}

/// Direct AWS clients of the default account, to change things out of band and look at them.
struct Aws {
    kms: aws_sdk_kms::Client,
    iam: aws_sdk_iam::Client,
    s3: aws_sdk_s3::Client,
}

async fn setup() -> (Emulator, TestProvider, Aws) {
    let emulator = Emulator::start().expect("emulator");
    let provider = TestProvider::start(&emulator, SECURITY, DEFAULT_ACCOUNT, "security").await;
    let config = sdk_config(&emulator).await;
    let aws = Aws {
        kms: aws_sdk_kms::Client::new(&config),
        iam: aws_sdk_iam::Client::new(&config),
        s3: aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&config)
                .force_path_style(true)
                .build(),
        ),
    };
    (emulator, provider, aws)
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

async fn live_key_policy(aws: &Aws, key_id: &str) -> Json {
    let policy = aws
        .kms
        .get_key_policy()
        .key_id(key_id)
        .policy_name("default")
        .send()
        .await
        .expect("get key policy");
    serde_json::from_str(policy.policy().expect("policy")).expect("json")
}

fn trust(service: &str) -> Json {
    json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    })
}

#[tokio::test]
async fn kms_key_lifecycle_rotation_policy_and_drift() {
    let (_emulator, provider, aws) = setup().await;
    let declared = json!({"description": "ML data", "tags": {"team": "ml"}});
    let key = provider.create("KmsKey", "data", &declared).await.expect("create");
    let outputs = key.outputs_json();
    assert_eq!(outputs["keyId"], key.id);
    assert_eq!(outputs["enableKeyRotation"], true);
    assert_eq!(outputs["deletionWindowInDays"], 30);
    assert_eq!(outputs["tags"], json!({"team": "ml"}));
    assert_eq!(outputs["accountId"], DEFAULT_ACCOUNT);
    assert!(outputs.get("policy").is_none(), "{outputs}");

    // Rotation and ownership tags, checked in AWS directly.
    let rotation = aws
        .kms
        .get_key_rotation_status()
        .key_id(&key.id)
        .send()
        .await
        .expect("rotation");
    assert!(rotation.key_rotation_enabled());
    let tags = aws.kms.list_resource_tags().key_id(&key.id).send().await.expect("tags");
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.tag_key() == "palisade:urn" && t.tag_value() == key.urn));

    // Read and a no-op plan.
    let (read, _) = provider.read(&key).await.expect("exists");
    assert_eq!(plain(&read), outputs);
    let (_, changes) = provider.plan(&key, "KmsKey", "data", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // Update in place: description, and an inline policy.
    let account_root = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root");
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": account_root}, "Action": "kms:*", "Resource": "*"},
        ],
    });
    let updated_declaration = json!({"description": "ML data (encrypted)", "tags": {"team": "ml"}, "policy": policy});
    let (news, changes) = provider.plan(&key, "KmsKey", "data", &updated_declaration).await;
    assert_eq!(changes.detailed["description"], DiffKind::Update);
    assert_eq!(changes.detailed["policy"], DiffKind::Add);
    assert!(changes.replaces.is_empty());
    let key = provider.update(&key, news).await.expect("update");
    assert_eq!(key.outputs_json()["description"], "ML data (encrypted)");
    let live = live_key_policy(&aws, &key.id).await;
    assert_eq!(live["Statement"][0]["Sid"], "Admin");

    // The same policy written differently (one-element lists, other key order) is no change, nor
    // is AWS's read-back form of it.
    let rewritten = json!({
        "description": "ML data (encrypted)",
        "tags": {"team": "ml"},
        "policy": {
            "Statement": {"Resource": ["*"], "Action": ["kms:*"], "Principal": {"AWS": [account_root]}, "Effect": "Allow", "Sid": "Admin"},
            "Version": "2012-10-17",
        },
    });
    let (_, changes) = provider.plan(&key, "KmsKey", "data", &rewritten).await;
    assert!(!changes.changed, "{changes:?}");
    let key = refreshed(&provider, &key).await;
    let (_, changes) = provider.plan(&key, "KmsKey", "data", &rewritten).await;
    assert!(!changes.changed, "{changes:?}");

    // Replace: another key spec.
    let mut hmac = updated_declaration.clone();
    hmac["keySpec"] = "HMAC_256".into();
    hmac["keyUsage"] = "GENERATE_VERIFY_MAC".into();
    hmac["enableKeyRotation"] = false.into();
    let (_, changes) = provider.plan(&key, "KmsKey", "data", &hmac).await;
    assert_eq!(changes.detailed["keySpec"], DiffKind::UpdateReplace);
    assert!(changes.replaces.contains(&"keySpec".to_string()));

    // Drift: rotation turned off out of band; Read shows it, the update turns it back on.
    aws.kms
        .disable_key_rotation()
        .key_id(&key.id)
        .send()
        .await
        .expect("out-of-band change");
    let drifted = refreshed(&provider, &key).await;
    assert_eq!(drifted.outputs_json()["enableKeyRotation"], false);
    let (news, changes) = provider.plan(&drifted, "KmsKey", "data", &updated_declaration).await;
    assert_eq!(changes.detailed["enableKeyRotation"], DiffKind::Update);
    let repaired = provider.update(&drifted, news).await.expect("repair");
    assert_eq!(repaired.outputs_json()["enableKeyRotation"], true);

    // Delete schedules deletion; the key then reads as gone; deleting again succeeds.
    provider.delete(&repaired).await.expect("delete");
    let state = aws.kms.describe_key().key_id(&key.id).send().await.expect("describe");
    assert_eq!(
        state.key_metadata().and_then(|m| m.key_state()).map(|s| s.as_str()),
        Some("PendingDeletion")
    );
    assert!(provider.read(&repaired).await.is_none());
    provider.delete(&repaired).await.expect("delete again");
    provider.stop().await;
}

#[tokio::test]
async fn kms_key_checks_name_the_property_and_the_fix() {
    let (_emulator, provider, _aws) = setup().await;
    let failures = provider
        .check(
            "KmsKey",
            "bad",
            None,
            &json!({"deletionWindowInDays": 3, "policy": {"Statement": [{"Effect": "Permit", "Action": "*"}]}}),
        )
        .await
        .expect_err("invalid");
    let text = failures.join("\n");
    assert!(
        text.contains("deletionWindowInDays") && text.contains("7 to 30"),
        "{text}"
    );
    assert!(text.contains("policy") && text.contains("Effect"), "{text}");
    let failures = provider
        .check("KmsKey", "bad", None, &json!({"keySpec": "RSA_2048"}))
        .await
        .expect_err("rotation of an asymmetric key");
    assert!(failures.join("\n").contains("enableKeyRotation"), "{failures:?}");
    let failures = provider
        .check(
            "KmsAlias",
            "bad",
            None,
            &json!({"aliasName": "alias/aws/s3", "targetKeyId": "k"}),
        )
        .await
        .expect_err("reserved alias");
    assert!(failures.join("\n").contains("aliasName"), "{failures:?}");
    provider.stop().await;
}

#[tokio::test]
async fn cross_account_key_policy_and_alias() {
    let (emulator, provider, aws) = setup().await;

    // The staging account's model execution role, made there by a provider for that account.
    let staging = TestProvider::start(&emulator, SECURITY, STAGING, "staging").await;
    let model_role = staging
        .create(
            "Role",
            "model-execution",
            &json!({"roleName": "model-execution", "assumeRolePolicy": trust("sagemaker.amazonaws.com")}),
        )
        .await
        .expect("staging role");
    let staging_role_arn = format!("arn:aws:iam::{STAGING}:role/model-execution");
    assert_eq!(model_role.outputs_json()["arn"], staging_role_arn);

    let key = provider
        .create("KmsKey", "models", &json!({"description": "models"}))
        .await
        .expect("key");
    let account_root = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:root");
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": account_root}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "StagingDecrypt", "Effect": "Allow", "Principal": {"AWS": [staging_role_arn]},
             "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"},
        ],
    });
    let declared = json!({"keyId": key.outputs_json()["arn"], "policy": policy});
    let key_policy = provider
        .create("KmsKeyPolicy", "models", &declared)
        .await
        .expect("key policy");
    assert_eq!(key_policy.id, key.id);
    let live = live_key_policy(&aws, &key.id).await;
    assert!(live.to_string().contains(&staging_role_arn), "{live}");

    // Read, and no diff against what AWS reads back, even with the statements reordered.
    let key_policy = refreshed(&provider, &key_policy).await;
    let mut reordered = declared.clone();
    reordered["policy"]["Statement"] = json!([policy["Statement"][1], policy["Statement"][0]]);
    let (_, changes) = provider.plan(&key_policy, "KmsKeyPolicy", "models", &reordered).await;
    assert!(!changes.changed, "{changes:?}");
    // The key itself, declared without a policy, does not report the KmsKeyPolicy's as drift.
    let (_, changes) = provider
        .plan(
            &refreshed(&provider, &key).await,
            "KmsKey",
            "models",
            &json!({"description": "models"}),
        )
        .await;
    assert!(!changes.changed, "{changes:?}");

    // Drift: the staging statement removed out of band; Read shows it; the update restores it.
    let admin_only = json!({"Version": "2012-10-17", "Statement": [policy["Statement"][0]]});
    aws.kms
        .put_key_policy()
        .key_id(&key.id)
        .policy_name("default")
        .policy(admin_only.to_string())
        .send()
        .await
        .expect("out-of-band policy");
    let drifted = refreshed(&provider, &key_policy).await;
    assert!(!drifted.outputs_json()["policy"].to_string().contains(STAGING));
    let (news, changes) = provider.plan(&drifted, "KmsKeyPolicy", "models", &declared).await;
    assert_eq!(changes.detailed["policy"], DiffKind::Update);
    assert!(changes.replaces.is_empty());
    let key_policy = provider.update(&drifted, news).await.expect("update");
    assert!(live_key_policy(&aws, &key.id)
        .await
        .to_string()
        .contains(&staging_role_arn));

    // Another key: replace.
    let mut moved = declared.clone();
    moved["keyId"] = "1234abcd-0000-0000-0000-000000000000".into();
    let (_, changes) = provider.plan(&key_policy, "KmsKeyPolicy", "models", &moved).await;
    assert_eq!(changes.detailed["keyId"], DiffKind::UpdateReplace);

    // Alias: create, no-op, move to another key in place, rename replaces, drift, delete.
    let other_key = provider
        .create("KmsKey", "models-next", &json!({"description": "next"}))
        .await
        .expect("second key");
    let alias_declared = json!({"aliasName": "alias/ml-models", "targetKeyId": key.id});
    let alias = provider
        .create("KmsAlias", "models", &alias_declared)
        .await
        .expect("alias");
    assert_eq!(alias.id, "alias/ml-models");
    assert!(alias.outputs_json()["arn"]
        .as_str()
        .expect("arn")
        .ends_with(":alias/ml-models"));
    let (_, changes) = provider.plan(&alias, "KmsAlias", "models", &alias_declared).await;
    assert!(!changes.changed, "{changes:?}");
    let retargeted = json!({"aliasName": "alias/ml-models", "targetKeyId": other_key.id});
    let (news, changes) = provider.plan(&alias, "KmsAlias", "models", &retargeted).await;
    assert_eq!(changes.detailed["targetKeyId"], DiffKind::Update);
    let alias = provider.update(&alias, news).await.expect("retarget");
    assert_eq!(alias.outputs_json()["targetKeyId"], other_key.id);
    let (_, changes) = provider
        .plan(
            &alias,
            "KmsAlias",
            "models",
            &json!({"aliasName": "alias/ml-models-v2", "targetKeyId": other_key.id}),
        )
        .await;
    assert_eq!(changes.detailed["aliasName"], DiffKind::UpdateReplace);
    aws.kms
        .update_alias()
        .alias_name("alias/ml-models")
        .target_key_id(&key.id)
        .send()
        .await
        .expect("out-of-band retarget");
    let drifted_alias = refreshed(&provider, &alias).await;
    assert_eq!(drifted_alias.outputs_json()["targetKeyId"], key.id);
    provider.delete(&drifted_alias).await.expect("delete alias");
    assert!(provider.read(&drifted_alias).await.is_none());
    provider.delete(&drifted_alias).await.expect("delete alias again");

    // Deleting the key policy puts KMS's default back: the account manages the key through IAM.
    provider.delete(&key_policy).await.expect("delete policy");
    let restored = live_key_policy(&aws, &key.id).await;
    assert!(!restored.to_string().contains(STAGING), "{restored}");
    assert!(restored.to_string().contains(&account_root), "{restored}");
    provider.delete(&key_policy).await.expect("delete policy again");
    provider.delete(&key).await.expect("delete key");
    provider
        .delete(&key_policy)
        .await
        .expect("delete policy of a deleted key");

    staging.delete(&model_role).await.expect("delete staging role");
    staging.stop().await;
    provider.stop().await;
}

#[tokio::test]
async fn role_lifecycle_policies_and_drift() {
    let (_emulator, provider, aws) = setup().await;
    let read_data = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}],
    });
    let declared = json!({
        "assumeRolePolicy": trust("sagemaker.amazonaws.com"),
        "description": "SageMaker execution",
        "inlinePolicies": {"read-data": read_data},
        "managedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"],
        "maxSessionDuration": 7200,
        "tags": {"team": "ml"},
    });
    let role = provider
        .create("Role", "sagemaker-execution", &declared)
        .await
        .expect("create");
    let outputs = role.outputs_json();
    let name = outputs["roleName"].as_str().expect("auto-named").to_string();
    assert!(name.starts_with("sagemaker-execution-"), "{name}");
    assert_eq!(role.id, name);
    assert_eq!(outputs["arn"], format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/{name}"));
    assert_eq!(outputs["maxSessionDuration"], 7200);
    assert_eq!(outputs["tags"], json!({"team": "ml"}));
    let attached = aws
        .iam
        .list_attached_role_policies()
        .role_name(&name)
        .send()
        .await
        .expect("attached");
    assert_eq!(attached.attached_policies().len(), 1);
    let tags = aws.iam.list_role_tags().role_name(&name).send().await.expect("tags");
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == "palisade:urn" && t.value() == role.urn));

    // Read back (IAM's URL-encoded documents) and no-op plans.
    let role = refreshed(&provider, &role).await;
    assert_eq!(
        plain(&role.outputs)["inlinePolicies"]["read-data"]["Statement"][0]["Effect"],
        "Allow"
    );
    let (_, changes) = provider.plan(&role, "Role", "sagemaker-execution", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // Update in place: trust policy, inline policies, managed policies, session duration.
    let write_models = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::models/*"}],
    });
    let changed = json!({
        "assumeRolePolicy": trust("events.amazonaws.com"),
        "description": "SageMaker execution",
        "inlinePolicies": {"write-models": write_models},
        "managedPolicyArns": ["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"],
        "maxSessionDuration": 3600,
        "tags": {"team": "ml", "env": "dev"},
    });
    let (news, changes) = provider.plan(&role, "Role", "sagemaker-execution", &changed).await;
    for property in [
        "assumeRolePolicy",
        "inlinePolicies",
        "managedPolicyArns",
        "maxSessionDuration",
        "tags",
    ] {
        assert_eq!(changes.detailed[property], DiffKind::Update, "{property}: {changes:?}");
    }
    assert!(changes.replaces.is_empty());
    let role = provider.update(&role, news).await.expect("update");
    let outputs = role.outputs_json();
    assert_eq!(
        outputs["inlinePolicies"]
            .as_object()
            .expect("map")
            .keys()
            .collect::<Vec<_>>(),
        vec!["write-models"]
    );
    assert_eq!(
        outputs["managedPolicyArns"],
        json!(["arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"])
    );
    assert!(outputs["assumeRolePolicy"].to_string().contains("events.amazonaws.com"));
    assert_eq!(outputs["tags"], json!({"team": "ml", "env": "dev"}));

    // Drift: an inline policy added out of band; Read shows it; the update removes it.
    aws.iam
        .put_role_policy()
        .role_name(&name)
        .policy_name("backdoor")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
                .to_string(),
        )
        .send()
        .await
        .expect("out-of-band policy");
    let drifted = refreshed(&provider, &role).await;
    assert!(drifted.outputs_json()["inlinePolicies"].get("backdoor").is_some());
    let (news, changes) = provider.plan(&drifted, "Role", "sagemaker-execution", &changed).await;
    assert_eq!(changes.detailed["inlinePolicies"], DiffKind::Update);
    let repaired = provider.update(&drifted, news).await.expect("repair");
    assert!(repaired.outputs_json()["inlinePolicies"].get("backdoor").is_none());

    // Replace: a new path; an auto-named role is created before the old one goes...
    let mut moved = changed.clone();
    moved["path"] = "/ml/".into();
    let (_, changes) = provider.plan(&repaired, "Role", "sagemaker-execution", &moved).await;
    assert_eq!(changes.detailed["path"], DiffKind::UpdateReplace);
    assert!(!changes.delete_before_replace);

    // ...but a role with a fixed name must be deleted first.
    let fixed = provider
        .create(
            "Role",
            "pipelines",
            &json!({"roleName": "ml-pipelines", "assumeRolePolicy": trust("sagemaker.amazonaws.com")}),
        )
        .await
        .expect("fixed name");
    let (_, changes) = provider
        .plan(
            &fixed,
            "Role",
            "pipelines",
            &json!({"roleName": "ml-pipelines", "path": "/ml/", "assumeRolePolicy": trust("sagemaker.amazonaws.com")}),
        )
        .await;
    assert_eq!(changes.detailed["path"], DiffKind::UpdateReplace);
    assert!(changes.delete_before_replace);
    // A create interrupted after CreateRole is adopted on the retry, not refused.
    let again = provider
        .create(
            "Role",
            "pipelines",
            &json!({"roleName": "ml-pipelines", "assumeRolePolicy": trust("sagemaker.amazonaws.com")}),
        )
        .await
        .expect("adopted");
    assert_eq!(again.id, fixed.id);

    // Delete (policies first), then it is gone, and deleting again succeeds.
    provider.delete(&repaired).await.expect("delete");
    assert!(provider.read(&repaired).await.is_none());
    provider.delete(&repaired).await.expect("delete again");
    provider.delete(&fixed).await.expect("delete fixed");
    provider.stop().await;
}

#[tokio::test]
async fn bucket_lifecycle_encryption_drift_and_force_destroy() {
    let (_emulator, provider, aws) = setup().await;
    let key = provider
        .create("KmsKey", "data", &json!({"description": "data"}))
        .await
        .expect("key");
    let key_arn = key.outputs_json()["arn"].clone();
    let declared = json!({"kmsKeyId": key_arn, "tags": {"team": "ml"}});
    let bucket = provider.create("Bucket", "Data", &declared).await.expect("create");
    let name = bucket.id.clone();
    assert!(name.starts_with("data-"), "auto-named in lower case: {name}");
    let outputs = bucket.outputs_json();
    assert_eq!(outputs["kmsKeyId"], key_arn);
    assert_eq!(outputs["bucketKeyEnabled"], true);
    assert_eq!(outputs["blockPublicPolicy"], true);
    assert_eq!(outputs["versioning"], true);
    assert_eq!(outputs["objectOwnership"], "BucketOwnerEnforced");
    assert_eq!(outputs["arn"], format!("arn:aws:s3:::{name}"));
    assert_eq!(outputs["tags"], json!({"team": "ml"}));

    // In S3 directly: SSE-KMS with our key, and the ownership tags.
    let encryption = aws
        .s3
        .get_bucket_encryption()
        .bucket(&name)
        .send()
        .await
        .expect("encryption");
    let rule = &encryption
        .server_side_encryption_configuration()
        .expect("configured")
        .rules()[0];
    let by_default = rule.apply_server_side_encryption_by_default().expect("default");
    assert_eq!(by_default.sse_algorithm().as_str(), "aws:kms");
    assert_eq!(by_default.kms_master_key_id(), key_arn.as_str());
    let tagging = aws.s3.get_bucket_tagging().bucket(&name).send().await.expect("tags");
    assert!(tagging
        .tag_set()
        .iter()
        .any(|t| t.key() == "palisade:urn" && t.value() == bucket.urn));

    // Read and a no-op plan.
    let bucket = refreshed(&provider, &bucket).await;
    let (_, changes) = provider.plan(&bucket, "Bucket", "Data", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // Drift: the public access block removed out of band; Read shows it; the update restores it.
    aws.s3
        .delete_public_access_block()
        .bucket(&name)
        .send()
        .await
        .expect("out-of-band change");
    let drifted = refreshed(&provider, &bucket).await;
    assert_eq!(drifted.outputs_json()["blockPublicAcls"], false);
    let (news, changes) = provider.plan(&drifted, "Bucket", "Data", &declared).await;
    assert_eq!(changes.detailed["blockPublicAcls"], DiffKind::Update);
    let bucket = provider.update(&drifted, news).await.expect("repair");
    assert_eq!(bucket.outputs_json()["blockPublicAcls"], true);

    // Update in place: tags; replace: another name.
    let retagged = json!({"kmsKeyId": key_arn, "tags": {"team": "ml", "env": "dev"}});
    let (news, changes) = provider.plan(&bucket, "Bucket", "Data", &retagged).await;
    assert_eq!(changes.detailed["tags"], DiffKind::Update);
    let bucket = provider.update(&bucket, news).await.expect("retag");
    assert_eq!(bucket.outputs_json()["tags"], json!({"team": "ml", "env": "dev"}));
    let (_, changes) = provider
        .plan(
            &bucket,
            "Bucket",
            "Data",
            &json!({"bucket": "palisade-other-name", "kmsKeyId": key_arn}),
        )
        .await;
    assert_eq!(changes.detailed["bucket"], DiffKind::UpdateReplace);
    assert!(changes.delete_before_replace);

    // Objects (two versions of one, and a delete marker) keep the bucket unless forceDestroy is set.
    for body in ["v1", "v2"] {
        aws.s3
            .put_object()
            .bucket(&name)
            .key("train.csv")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("put object");
    }
    aws.s3
        .delete_object()
        .bucket(&name)
        .key("train.csv")
        .send()
        .await
        .expect("delete marker");
    let refused = provider.delete(&bucket).await.expect_err("not empty");
    assert!(refused.message().contains("forceDestroy"), "{refused}");
    let mut destroyable = retagged.clone();
    destroyable["forceDestroy"] = true.into();
    let (news, changes) = provider.plan(&bucket, "Bucket", "Data", &destroyable).await;
    assert_eq!(changes.detailed["forceDestroy"], DiffKind::Update);
    let bucket = provider.update(&bucket, news).await.expect("force destroy");
    provider.delete(&bucket).await.expect("delete");
    assert!(provider.read(&bucket).await.is_none());
    provider.delete(&bucket).await.expect("delete again");
    provider.delete(&key).await.expect("delete key");
    provider.stop().await;
}

#[tokio::test]
async fn bucket_policy_for_another_account_through_vpc_endpoints() {
    let (_emulator, provider, aws) = setup().await;
    let key = provider
        .create("KmsKey", "models", &json!({"description": "models"}))
        .await
        .expect("key");
    let bucket = provider
        .create(
            "Bucket",
            "models",
            &json!({"bucket": "palisade-models", "kmsKeyId": key.outputs_json()["arn"]}),
        )
        .await
        .expect("bucket");
    let staging_role = format!("arn:aws:iam::{STAGING}:role/model-execution");
    let policy = json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": ["arn:aws:s3:::palisade-models", "arn:aws:s3:::palisade-models/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "StagingRead", "Effect": "Allow", "Principal": {"AWS": staging_role},
             "Action": ["s3:GetObject", "s3:ListBucket"],
             "Resource": ["arn:aws:s3:::palisade-models", "arn:aws:s3:::palisade-models/*"]},
        ],
    });
    let declared = json!({"bucket": bucket.id, "policy": policy});
    let bucket_policy = provider
        .create("BucketPolicy", "models", &declared)
        .await
        .expect("create");
    assert_eq!(bucket_policy.id, "palisade-models");
    let live = aws
        .s3
        .get_bucket_policy()
        .bucket("palisade-models")
        .send()
        .await
        .expect("policy");
    assert!(live.policy().expect("text").contains(&staging_role));

    // Read, and no diff against AWS's form of the same policy.
    let bucket_policy = refreshed(&provider, &bucket_policy).await;
    let (_, changes) = provider.plan(&bucket_policy, "BucketPolicy", "models", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // Update in place: only through the staging VPC endpoint.
    let mut narrowed = declared.clone();
    narrowed["policy"]["Statement"][1]["Condition"] = json!({"StringEquals": {"aws:sourceVpce": "vpce-0staging"}});
    let (news, changes) = provider.plan(&bucket_policy, "BucketPolicy", "models", &narrowed).await;
    assert_eq!(changes.detailed["policy"], DiffKind::Update);
    let bucket_policy = provider.update(&bucket_policy, news).await.expect("update");

    // Drift: the policy replaced out of band.
    aws.s3
        .put_bucket_policy()
        .bucket("palisade-models")
        .policy(json!({"Version": "2012-10-17", "Statement": [policy["Statement"][0]]}).to_string())
        .send()
        .await
        .expect("out-of-band policy");
    let drifted = refreshed(&provider, &bucket_policy).await;
    assert!(!drifted.outputs_json()["policy"].to_string().contains(STAGING));
    let (_, changes) = provider.plan(&drifted, "BucketPolicy", "models", &narrowed).await;
    assert_eq!(changes.detailed["policy"], DiffKind::Update);

    // Another bucket: replace.
    let mut moved = narrowed.clone();
    moved["bucket"] = "palisade-elsewhere".into();
    let (_, changes) = provider.plan(&drifted, "BucketPolicy", "models", &moved).await;
    assert_eq!(changes.detailed["bucket"], DiffKind::UpdateReplace);

    // Delete, gone, delete again.
    provider.delete(&drifted).await.expect("delete");
    assert!(provider.read(&drifted).await.is_none());
    provider.delete(&drifted).await.expect("delete again");
    provider.delete(&bucket).await.expect("delete bucket");
    provider.delete(&key).await.expect("delete key");
    provider.stop().await;
}

#[tokio::test]
async fn an_interrupted_key_create_is_adopted_but_a_replacement_is_not() {
    let (_emulator, provider, aws) = setup().await;
    let declared = json!({"description": "ebs"});
    let first = provider.create("KmsKey", "ebs", &declared).await.expect("create");
    // The engine lost the answer and asks again: the same key comes back, rotation still on.
    let again = provider.create("KmsKey", "ebs", &declared).await.expect("create again");
    assert_eq!(again.id, first.id);
    assert_eq!(again.outputs_json()["enableKeyRotation"], true);
    // A replacement under the same URN (another key spec) is a new key, not the old one.
    let replacement = provider
        .create(
            "KmsKey",
            "ebs",
            &json!({"description": "ebs", "keySpec": "HMAC_256", "keyUsage": "GENERATE_VERIFY_MAC", "enableKeyRotation": false}),
        )
        .await
        .expect("replacement");
    assert_ne!(replacement.id, first.id);
    let listed = aws.kms.list_keys().send().await.expect("list");
    assert_eq!(listed.keys().len(), 2);
    provider.delete(&first).await.expect("delete old");
    provider.delete(&replacement).await.expect("delete new");
    provider.stop().await;
}
