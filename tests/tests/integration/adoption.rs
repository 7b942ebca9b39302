//! Interrupted creates are adopted, never duplicated or refused (#14). For each kind: create through
//! the plugin, forget the answer (as a run killed right after AWS accepted the create would), create
//! again with the same URN; the second create returns the same id, and AWS (asked through its own
//! APIs) holds exactly one resource for that URN. A same-named resource that is not ours is refused
//! with an error naming it.

use palisade_tests::provider::{Live, TestProvider};
use palisade_tests::{Emulator, DEFAULT_ACCOUNT, REGION};
use serde_json::{json, Value as Json};

async fn sdk_config(emulator: &Emulator) -> aws_config::SdkConfig {
    let credentials = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(emulator.endpoint())
        .credentials_provider(credentials)
        .load()
        .await
}

/// Creates `kind` twice under one URN, the first answer forgotten; the second must be the same.
async fn created_twice(provider: &TestProvider, kind: &str, name: &str, declared: &Json) -> Live {
    let first = provider.create(kind, name, declared).await.expect("first create");
    let second = provider
        .create(kind, name, declared)
        .await
        .unwrap_or_else(|e| panic!("{kind}: the create after an interruption must adopt, not fail: {e}"));
    assert_eq!(
        first.id, second.id,
        "{kind}: the second create adopts the first's resource"
    );
    second
}

fn urn_filter(urn: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("tag:palisade:urn")
        .values(urn)
        .build()
}

#[tokio::test]
async fn network_kinds_adopt_by_their_urn_tag() {
    let emulator = Emulator::start().expect("emulator");
    let provider = TestProvider::start(&emulator, "palisade-network", DEFAULT_ACCOUNT, "adopt").await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk_config(&emulator).await);

    let vpc = created_twice(&provider, "Vpc", "main", &json!({"cidrBlock": "10.7.0.0/16"})).await;
    let vpcs = ec2
        .describe_vpcs()
        .filters(urn_filter(&vpc.urn))
        .send()
        .await
        .expect("vpcs");
    assert_eq!(vpcs.vpcs().len(), 1);

    let subnet = created_twice(
        &provider,
        "Subnet",
        "a",
        &json!({"vpcId": vpc.id, "cidrBlock": "10.7.1.0/24", "availabilityZone": "us-east-1a"}),
    )
    .await;
    let subnets = ec2
        .describe_subnets()
        .filters(urn_filter(&subnet.urn))
        .send()
        .await
        .expect("subnets");
    assert_eq!(subnets.subnets().len(), 1);

    let table = created_twice(&provider, "RouteTable", "private", &json!({"vpcId": vpc.id})).await;
    let tables = ec2
        .describe_route_tables()
        .filters(urn_filter(&table.urn))
        .send()
        .await
        .expect("tables");
    assert_eq!(tables.route_tables().len(), 1);

    let group = created_twice(&provider, "SecurityGroup", "sagemaker", &json!({"vpcId": vpc.id})).await;
    let groups = ec2
        .describe_security_groups()
        .filters(urn_filter(&group.urn))
        .send()
        .await
        .expect("groups");
    assert_eq!(groups.security_groups().len(), 1);

    let gateway = created_twice(&provider, "InternetGateway", "igw", &json!({"vpcId": vpc.id})).await;
    let gateways = ec2
        .describe_internet_gateways()
        .filters(urn_filter(&gateway.urn))
        .send()
        .await
        .expect("gateways");
    assert_eq!(gateways.internet_gateways().len(), 1);
    provider.stop().await;
}

#[tokio::test]
async fn security_kinds_adopt_by_urn_tag_or_name_and_a_bucket_is_tagged_as_it_is_created() {
    let emulator = Emulator::start().expect("emulator");
    let provider = TestProvider::start(&emulator, "palisade-security", DEFAULT_ACCOUNT, "adopt").await;
    let config = sdk_config(&emulator).await;
    let kms = aws_sdk_kms::Client::new(&config);
    let iam = aws_sdk_iam::Client::new(&config);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );

    // KMS keys have no name: found by the URN tag CreateKey wrote.
    let key = created_twice(&provider, "KmsKey", "data", &json!({"description": "data"})).await;
    let mut ours = 0;
    for listed in kms.list_keys().send().await.expect("keys").keys() {
        let id = listed.key_id().expect("id");
        let tags = kms.list_resource_tags().key_id(id).send().await.expect("tags");
        ours += usize::from(
            tags.tags()
                .iter()
                .any(|t| t.tag_key() == "palisade:urn" && t.tag_value() == key.urn),
        );
    }
    assert_eq!(ours, 1, "exactly one key carries the URN");

    created_twice(
        &provider,
        "KmsAlias",
        "data",
        &json!({"aliasName": "alias/adopt-data", "targetKeyId": key.id}),
    )
    .await;
    let aliases = kms.list_aliases().send().await.expect("aliases");
    let named = aliases
        .aliases()
        .iter()
        .filter(|a| a.alias_name() == Some("alias/adopt-data"));
    assert_eq!(named.count(), 1);

    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}],
    });
    created_twice(
        &provider,
        "Role",
        "execution",
        &json!({"roleName": "adopt-execution", "assumeRolePolicy": trust}),
    )
    .await;
    let roles = iam.list_roles().send().await.expect("roles");
    assert_eq!(
        roles
            .roles()
            .iter()
            .filter(|r| r.role_name() == "adopt-execution")
            .count(),
        1
    );

    let bucket = created_twice(
        &provider,
        "Bucket",
        "data",
        &json!({"bucket": "adopt-data", "kmsKeyId": key.outputs_json()["arn"]}),
    )
    .await;
    let buckets = s3.list_buckets().send().await.expect("buckets");
    assert_eq!(
        buckets
            .buckets()
            .iter()
            .filter(|b| b.name() == Some("adopt-data"))
            .count(),
        1
    );
    let tags = s3.get_bucket_tagging().bucket("adopt-data").send().await.expect("tags");
    assert!(tags
        .tag_set()
        .iter()
        .any(|t| t.key() == "palisade:urn" && t.value() == bucket.urn));

    // A bucket of that name that Palisade did not make is refused, not adopted.
    s3.create_bucket()
        .bucket("adopt-foreign")
        .send()
        .await
        .expect("foreign bucket");
    let error = provider
        .create(
            "Bucket",
            "foreign",
            &json!({"bucket": "adopt-foreign", "kmsKeyId": key.outputs_json()["arn"]}),
        )
        .await
        .expect_err("not ours");
    assert!(error.message().contains("did not create"), "{}", error.message());
    provider.stop().await;
}

#[tokio::test]
async fn a_user_profile_is_adopted_by_its_name_and_a_foreign_one_is_refused() {
    let emulator = Emulator::start().expect("emulator");
    let provider = TestProvider::start(&emulator, "palisade-studio", DEFAULT_ACCOUNT, "adopt").await;
    let sagemaker = aws_sdk_sagemaker::Client::new(&sdk_config(&emulator).await);
    let role = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/studio-execution");
    let domain = created_twice(
        &provider,
        "Domain",
        "studio",
        &json!({
            "vpcId": "vpc-0a1b2c3d",
            "subnetIds": ["subnet-0aaa", "subnet-0bbb"],
            "defaultUserSettings": {"executionRole": role, "securityGroups": ["sg-0sagemaker"]},
        }),
    )
    .await;
    assert_eq!(
        sagemaker.list_domains().send().await.expect("domains").domains().len(),
        1
    );

    let declared = json!({"domainId": domain.id, "userProfileName": "alice", "executionRole": role});
    // Killed right after CreateUserProfile: every later deploy failed with ResourceInUse.
    let profile = created_twice(&provider, "UserProfile", "alice", &declared).await;
    assert_eq!(profile.id, format!("{}/alice", domain.id));
    let profiles = sagemaker
        .list_user_profiles()
        .domain_id_equals(&domain.id)
        .send()
        .await
        .expect("profiles");
    assert_eq!(profiles.user_profiles().len(), 1);

    // Another declaration naming the same profile is refused with the way out.
    let error = provider
        .create("UserProfile", "alice-again", &declared)
        .await
        .expect_err("not this URN's profile");
    assert!(error.message().contains("did not create it"), "{}", error.message());
    assert!(error.message().contains("userProfileName"), "{}", error.message());
    provider.stop().await;
}

#[tokio::test]
async fn deploy_kinds_adopt_by_name_or_by_the_urn_in_a_package_s_metadata() {
    let emulator = Emulator::start().expect("emulator");
    let provider = TestProvider::start(&emulator, "palisade-deploy", DEFAULT_ACCOUNT, "adopt").await;
    let sagemaker = aws_sdk_sagemaker::Client::new(&sdk_config(&emulator).await);
    let image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/churn:1";

    created_twice(
        &provider,
        "ModelPackageGroup",
        "churn",
        &json!({"modelPackageGroupName": "churn"}),
    )
    .await;
    let groups = sagemaker.list_model_package_groups().send().await.expect("groups");
    assert_eq!(groups.model_package_group_summary_list().len(), 1);

    // Killed right after CreateModelPackage: the rerun registered a second package.
    let package = created_twice(
        &provider,
        "ModelPackage",
        "churn-v1",
        &json!({
            "modelPackageGroupName": "churn",
            "image": image,
            "modelDataUrl": "s3://dev-models/churn/1/model.tar.gz",
            "modelApprovalStatus": "Approved",
        }),
    )
    .await;
    let packages = sagemaker
        .list_model_packages()
        .model_package_group_name("churn")
        .send()
        .await
        .expect("packages");
    assert_eq!(packages.model_package_summary_list().len(), 1);

    let role = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:role/model-execution");
    let model = created_twice(
        &provider,
        "Model",
        "churn",
        &json!({"modelName": "churn", "executionRoleArn": role, "modelPackageArn": package.id}),
    )
    .await;
    let models = sagemaker.list_models().send().await.expect("models");
    assert_eq!(models.models().len(), 1);

    created_twice(
        &provider,
        "EndpointConfig",
        "churn",
        &json!({
            "endpointConfigName": "churn",
            "productionVariants": [{"modelName": model.id, "instanceType": "ml.m5.large", "initialInstanceCount": 1}],
        }),
    )
    .await;
    let configs = sagemaker.list_endpoint_configs().send().await.expect("configs");
    assert_eq!(configs.endpoint_configs().len(), 1);

    // A model of the same name made outside Palisade is refused, and left as it was.
    sagemaker
        .create_model()
        .model_name("foreign")
        .execution_role_arn(&role)
        .primary_container(
            aws_sdk_sagemaker::types::ContainerDefinition::builder()
                .image(image)
                .build(),
        )
        .send()
        .await
        .expect("foreign model");
    let error = provider
        .create(
            "Model",
            "foreign",
            &json!({"modelName": "foreign", "executionRoleArn": role, "image": image}),
        )
        .await
        .expect_err("not ours");
    assert!(error.message().contains("did not create it"), "{}", error.message());
    assert!(error.message().contains("modelName"), "{}", error.message());
    let foreign = sagemaker
        .describe_model()
        .model_name("foreign")
        .send()
        .await
        .expect("still there");
    assert!(
        foreign.enable_network_isolation() != Some(true),
        "the foreign model was not overwritten"
    );
    provider.stop().await;
}
