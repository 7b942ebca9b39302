//! The studio provider's resources on the emulator: domain and user profile lifecycles (create,
//! read, no-op diff, update in place, replace, delete, delete again, drift) and the order AWS
//! imposes on deletes (a profile's apps and spaces first; a domain only once its profiles are gone).

use aws_sdk_sagemaker::types::{AppType, OwnershipSettings, SharingType, SpaceSharingSettings, UserSettings};
use palisade_provider_kit::diff::DiffKind;
use palisade_provider_kit::value::PropertyMap;
use palisade_tests::provider::{plain, Live, TestProvider};
use palisade_tests::{Emulator, DEFAULT_ACCOUNT, REGION};
use serde_json::{json, Value as Json};

const STUDIO: &str = "palisade-studio";
const EXEC_ROLE: &str = "arn:aws:iam::123456789012:role/sagemaker-exec";
const OTHER_ROLE: &str = "arn:aws:iam::123456789012:role/data-scientist";

async fn sagemaker(emulator: &Emulator) -> aws_sdk_sagemaker::Client {
    let credentials = aws_credential_types::Credentials::from_keys("testing", "testing", None);
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(emulator.endpoint())
        .credentials_provider(credentials)
        .load()
        .await;
    aws_sdk_sagemaker::Client::new(&config)
}

async fn setup(stack: &str) -> (Emulator, TestProvider, aws_sdk_sagemaker::Client) {
    let emulator = Emulator::start().expect("emulator");
    let provider = TestProvider::start(&emulator, STUDIO, DEFAULT_ACCOUNT, stack).await;
    let sagemaker = sagemaker(&emulator).await;
    (emulator, provider, sagemaker)
}

/// A VpcOnly domain as the reference environment declares it (moto does not check the ids).
fn domain_declaration(role: &str) -> Json {
    json!({
        "vpcId": "vpc-0a1b2c3d",
        "subnetIds": ["subnet-0aaa", "subnet-0bbb"],
        "kmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/studio-efs",
        "defaultUserSettings": {"executionRole": role, "securityGroups": ["sg-0sagemaker"]},
        "tags": {"team": "ml"},
    })
}

/// `live` as a refresh leaves it: the outputs and inputs Read returned.
fn refreshed(live: &Live, read: (PropertyMap, PropertyMap)) -> Live {
    Live {
        outputs: read.0,
        inputs: read.1,
        ..live.clone()
    }
}

#[tokio::test]
async fn domain_lifecycle_with_update_in_place_replace_drift_and_delete() {
    let (_emulator, provider, sagemaker) = setup("studio").await;
    let declared = domain_declaration(EXEC_ROLE);
    let domain = provider.create("Domain", "studio", &declared).await.expect("create");
    let outputs = domain.outputs_json();
    assert_eq!(outputs["domainId"], json!(domain.id));
    assert_eq!(outputs["appNetworkAccessType"], "VpcOnly", "private by default");
    assert_eq!(outputs["authMode"], "IAM");
    assert_eq!(outputs["homeEfsRetention"], "Delete");
    assert!(
        outputs["arn"].as_str().is_some_and(|a| a.ends_with(&domain.id)),
        "{outputs}"
    );
    assert!(outputs["url"].as_str().is_some_and(|u| !u.is_empty()));
    assert!(outputs["homeEfsFileSystemId"].is_string());
    assert_eq!(outputs["tags"], json!({"team": "ml"}));

    // Ownership tags, in AWS directly.
    let tags = sagemaker
        .list_tags()
        .resource_arn(outputs["arn"].as_str().expect("arn"))
        .send()
        .await
        .expect("list tags");
    assert!(tags
        .tags()
        .iter()
        .any(|t| t.key() == Some("palisade:urn") && t.value() == Some(domain.urn.as_str())));

    // Read and a no-op plan.
    let (read_outputs, _) = provider.read(&domain).await.expect("exists");
    assert_eq!(plain(&read_outputs), outputs);
    let (_, changes) = provider.plan(&domain, "Domain", "studio", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // Update in place: the default execution role.
    let (news, changes) = provider
        .plan(&domain, "Domain", "studio", &domain_declaration(OTHER_ROLE))
        .await;
    assert_eq!(
        changes.detailed.get("defaultUserSettings"),
        Some(&DiffKind::Update),
        "{changes:?}"
    );
    assert!(changes.replaces.is_empty(), "{changes:?}");
    let updated = provider.update(&domain, news).await.expect("update");
    assert_eq!(updated.id, domain.id);
    assert_eq!(
        updated.outputs_json()["defaultUserSettings"]["executionRole"],
        OTHER_ROLE
    );
    let described = sagemaker
        .describe_domain()
        .domain_id(&domain.id)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        described.default_user_settings().and_then(|s| s.execution_role()),
        Some(OTHER_ROLE)
    );

    // Drift: the default role changed out of band; Read shows it, the plan puts it back in place.
    sagemaker
        .update_domain()
        .domain_id(&domain.id)
        .default_user_settings(UserSettings::builder().execution_role(EXEC_ROLE).build())
        .send()
        .await
        .expect("out-of-band change");
    let drifted = refreshed(&updated, provider.read(&updated).await.expect("exists"));
    assert_eq!(
        drifted.outputs_json()["defaultUserSettings"]["executionRole"],
        EXEC_ROLE
    );
    let (news, changes) = provider
        .plan(&drifted, "Domain", "studio", &domain_declaration(OTHER_ROLE))
        .await;
    assert_eq!(changes.detailed.get("defaultUserSettings"), Some(&DiffKind::Update));
    let repaired = provider.update(&drifted, news).await.expect("repair");
    assert_eq!(
        repaired.outputs_json()["defaultUserSettings"]["executionRole"],
        OTHER_ROLE
    );

    // Replace: another VPC (and its subnets) or another key; the plan names exactly those.
    let mut moved = domain_declaration(OTHER_ROLE);
    moved["vpcId"] = json!("vpc-0other");
    let (_, changes) = provider.plan(&repaired, "Domain", "studio", &moved).await;
    assert_eq!(changes.replaces, vec!["vpcId".to_string()]);
    let mut rekeyed = domain_declaration(OTHER_ROLE);
    rekeyed["kmsKeyId"] = json!("arn:aws:kms:us-east-1:123456789012:key/other");
    let (_, changes) = provider.plan(&repaired, "Domain", "studio", &rekeyed).await;
    assert_eq!(changes.replaces, vec!["kmsKeyId".to_string()]);
    let mut public = domain_declaration(OTHER_ROLE);
    public["appNetworkAccessType"] = json!("PublicInternetOnly");
    let (_, changes) = provider.plan(&repaired, "Domain", "studio", &public).await;
    assert_eq!(changes.replaces, vec!["appNetworkAccessType".to_string()]);
    // The retention only matters at delete: it changes in place.
    let mut retained = domain_declaration(OTHER_ROLE);
    retained["homeEfsRetention"] = json!("Retain");
    let (_, changes) = provider.plan(&repaired, "Domain", "studio", &retained).await;
    assert!(changes.replaces.is_empty(), "{changes:?}");

    // Delete waits until the domain is gone; deleting again succeeds.
    provider.delete(&repaired).await.expect("delete");
    assert!(provider.read(&repaired).await.is_none());
    provider.delete(&repaired).await.expect("delete again");
    provider.stop().await;
}

#[tokio::test]
async fn a_domain_create_interrupted_after_the_aws_call_is_adopted_not_duplicated() {
    let (_emulator, provider, sagemaker) = setup("studio-adopt").await;
    let declared = domain_declaration(EXEC_ROLE);
    let first = provider.create("Domain", "studio", &declared).await.expect("create");
    // The engine lost the answer and asks again: the same domain comes back, no name clash.
    let second = provider
        .create("Domain", "studio", &declared)
        .await
        .expect("create again");
    assert_eq!(first.id, second.id);
    let domains = sagemaker.list_domains().send().await.expect("list domains");
    assert_eq!(domains.domains().len(), 1);
    provider.delete(&second).await.expect("delete");
    provider.stop().await;
}

#[tokio::test]
async fn check_names_the_property_and_the_fix() {
    let (_emulator, provider, _sagemaker) = setup("studio-check").await;
    let mut declared = domain_declaration(EXEC_ROLE);
    declared["homeEfsRetention"] = json!("Keep");
    let failures = provider
        .check("Domain", "studio", None, &declared)
        .await
        .expect_err("refused");
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("homeEfsRetention:") && f.contains("`Retain`")),
        "{failures:?}"
    );
    let mut declared = domain_declaration(EXEC_ROLE);
    declared["defaultUserSettings"]["securityGroups"] = json!([]);
    let failures = provider
        .check("Domain", "studio", None, &declared)
        .await
        .expect_err("refused");
    assert!(
        failures
            .iter()
            .any(|f| f.starts_with("defaultUserSettings.securityGroups:") && f.contains("VpcOnly")),
        "{failures:?}"
    );
    let failures = provider
        .check(
            "UserProfile",
            "alice",
            None,
            &json!({"domainId": "studio", "executionRole": "exec"}),
        )
        .await
        .expect_err("refused");
    assert!(failures.iter().any(|f| f.starts_with("domainId:")), "{failures:?}");
    assert!(failures.iter().any(|f| f.starts_with("executionRole:")), "{failures:?}");
    provider.stop().await;
}

#[tokio::test]
async fn user_profile_lifecycle_with_update_in_place_replace_drift_and_delete() {
    let (_emulator, provider, sagemaker) = setup("studio-profiles").await;
    let domain = provider
        .create("Domain", "studio", &domain_declaration(EXEC_ROLE))
        .await
        .expect("domain");
    let domain_id = domain.id.clone();
    let declared = json!({
        "domainId": domain_id,
        "userProfileName": "alice",
        "executionRole": EXEC_ROLE,
        "securityGroups": ["sg-0sagemaker"],
        "tags": {"user": "alice"},
    });
    let profile = provider
        .create("UserProfile", "alice", &declared)
        .await
        .expect("create");
    assert_eq!(profile.id, format!("{domain_id}/alice"));
    let outputs = profile.outputs_json();
    assert!(
        outputs["arn"].as_str().is_some_and(|a| a.contains("user-profile/")),
        "{outputs}"
    );
    assert_eq!(outputs["tags"], json!({"user": "alice"}));

    // Read and a no-op plan.
    let (read_outputs, _) = provider.read(&profile).await.expect("exists");
    assert_eq!(plain(&read_outputs), outputs);
    let (_, changes) = provider.plan(&profile, "UserProfile", "alice", &declared).await;
    assert!(!changes.changed, "{changes:?}");

    // Update in place: role and security groups.
    let mut changed = declared.clone();
    changed["executionRole"] = json!(OTHER_ROLE);
    changed["securityGroups"] = json!(["sg-0sagemaker", "sg-0extra"]);
    let (news, changes) = provider.plan(&profile, "UserProfile", "alice", &changed).await;
    assert!(changes.replaces.is_empty(), "{changes:?}");
    assert_eq!(changes.detailed.get("executionRole"), Some(&DiffKind::Update));
    assert_eq!(changes.detailed.get("securityGroups"), Some(&DiffKind::Update));
    let updated = provider.update(&profile, news).await.expect("update");
    assert_eq!(updated.outputs_json()["executionRole"], OTHER_ROLE);
    let described = sagemaker
        .describe_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("alice")
        .send()
        .await
        .expect("describe");
    let settings = described.user_settings().expect("settings");
    assert_eq!(settings.execution_role(), Some(OTHER_ROLE));
    assert_eq!(settings.security_groups().len(), 2);

    // Drift: the role changed out of band.
    sagemaker
        .update_user_profile()
        .domain_id(&domain_id)
        .user_profile_name("alice")
        .user_settings(UserSettings::builder().execution_role(EXEC_ROLE).build())
        .send()
        .await
        .expect("out-of-band change");
    let drifted = refreshed(&updated, provider.read(&updated).await.expect("exists"));
    assert_eq!(drifted.outputs_json()["executionRole"], EXEC_ROLE);
    let (news, changes) = provider.plan(&drifted, "UserProfile", "alice", &changed).await;
    assert_eq!(changes.detailed.get("executionRole"), Some(&DiffKind::Update));
    let repaired = provider.update(&drifted, news).await.expect("repair");
    assert_eq!(repaired.outputs_json()["executionRole"], OTHER_ROLE);

    // Removing the role is refused clearly: AWS cannot unset it, and a silent no-op would drift.
    let mut without_role = changed.clone();
    without_role.as_object_mut().expect("object").remove("executionRole");
    let (news, _) = provider.plan(&repaired, "UserProfile", "alice", &without_role).await;
    let refused = provider.update(&repaired, news).await.expect_err("cannot unset");
    assert!(refused.message().contains("executionRole"), "{}", refused.message());

    // Replace: another name, or another domain.
    let mut renamed = changed.clone();
    renamed["userProfileName"] = json!("bob");
    let (_, changes) = provider.plan(&repaired, "UserProfile", "alice", &renamed).await;
    assert_eq!(changes.replaces, vec!["userProfileName".to_string()]);
    let mut moved = changed.clone();
    moved["domainId"] = json!("d-elsewhere");
    let (_, changes) = provider.plan(&repaired, "UserProfile", "alice", &moved).await;
    assert_eq!(changes.replaces, vec!["domainId".to_string()]);

    // Delete, gone, delete again; then the domain can go.
    provider.delete(&repaired).await.expect("delete");
    assert!(provider.read(&repaired).await.is_none());
    provider.delete(&repaired).await.expect("delete again");
    provider.delete(&domain).await.expect("delete domain");
    provider.stop().await;
}

#[tokio::test]
async fn a_profile_is_deleted_after_its_apps_and_spaces_and_a_domain_with_profiles_is_refused() {
    let (_emulator, provider, sagemaker) = setup("studio-order").await;
    let domain = provider
        .create("Domain", "studio", &domain_declaration(EXEC_ROLE))
        .await
        .expect("domain");
    let profile = provider
        .create(
            "UserProfile",
            "carol",
            &json!({"domainId": domain.id, "userProfileName": "carol"}),
        )
        .await
        .expect("profile");
    for (app_type, name) in [
        (AppType::JupyterServer, "default"),
        (AppType::KernelGateway, "datascience"),
    ] {
        sagemaker
            .create_app()
            .domain_id(&domain.id)
            .user_profile_name("carol")
            .app_type(app_type)
            .app_name(name)
            .send()
            .await
            .expect("create app");
    }
    // A private space the profile owns, with an app of its own.
    sagemaker
        .create_space()
        .domain_id(&domain.id)
        .space_name("carol-lab")
        .ownership_settings(OwnershipSettings::builder().owner_user_profile_name("carol").build())
        .space_sharing_settings(
            SpaceSharingSettings::builder()
                .sharing_type(SharingType::Private)
                .build(),
        )
        .send()
        .await
        .expect("create space");
    sagemaker
        .create_app()
        .domain_id(&domain.id)
        .space_name("carol-lab")
        .app_type(AppType::JupyterLab)
        .app_name("default")
        .send()
        .await
        .expect("create space app");
    // AWS's own rule, as the emulator keeps it: a profile with apps cannot be deleted directly.
    let refused = sagemaker
        .delete_user_profile()
        .domain_id(&domain.id)
        .user_profile_name("carol")
        .send()
        .await;
    assert!(refused.is_err());

    // Deleting the domain while the profile exists fails, saying which profiles hold it.
    let error = provider.delete(&domain).await.expect_err("domain has a profile");
    assert_eq!(error.code(), tonic::Code::FailedPrecondition, "{error:?}");
    assert!(error.message().contains("carol"), "{}", error.message());
    assert!(provider.read(&domain).await.is_some(), "the domain is still there");

    // The provider deletes the apps, waits for them, then the profile.
    provider.delete(&profile).await.expect("delete profile with apps");
    let apps = sagemaker
        .list_apps()
        .domain_id_equals(&domain.id)
        .user_profile_name_equals("carol")
        .send()
        .await
        .expect("list apps");
    assert_eq!(apps.apps().len(), 2, "deleted apps stay listed for a while");
    assert!(apps
        .apps()
        .iter()
        .all(|a| a.status() == Some(&aws_sdk_sagemaker::types::AppStatus::Deleted)));
    let spaces = sagemaker
        .list_spaces()
        .domain_id_equals(&domain.id)
        .send()
        .await
        .expect("list spaces");
    assert!(spaces.spaces().is_empty(), "the owned space went first: {spaces:?}");
    let space_apps = sagemaker
        .list_apps()
        .domain_id_equals(&domain.id)
        .space_name_equals("carol-lab")
        .send()
        .await
        .expect("list space apps");
    assert!(space_apps
        .apps()
        .iter()
        .all(|a| a.status() == Some(&aws_sdk_sagemaker::types::AppStatus::Deleted)));
    assert!(provider.read(&profile).await.is_none());

    // Now the domain goes.
    provider.delete(&domain).await.expect("delete domain");
    assert!(provider.read(&domain).await.is_none());
    provider.stop().await;
}
