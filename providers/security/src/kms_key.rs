//! KmsKey: a customer-managed KMS key, rotated yearly by default.
//!
//! Deleting a key only schedules its deletion (after 7 to 30 days); a key pending deletion counts as
//! gone. The key's policy can be given here, or managed by a separate [`crate::KmsKeyPolicy`] when it
//! must name principals created later (roles of other accounts); then leave `policy` unset here.

use palisade_provider_kit::policy;
use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;
use serde_json::Value as Json;

/// A customer-managed KMS key.
#[derive(Debug, Default, Clone, Copy)]
pub struct KmsKey;

/// Inputs of a [`KmsKey`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct KmsKeyArgs {
    /// What the key protects (shown in the console).
    pub description: Option<String>,
    /// The key's type: `SYMMETRIC_DEFAULT` (default), `RSA_2048`, ..., `HMAC_256`, ...
    #[property(replace, validate = key_spec)]
    #[serde(default = "symmetric_default")]
    pub key_spec: String,
    /// What the key is for: `ENCRYPT_DECRYPT` (default), `SIGN_VERIFY`, `GENERATE_VERIFY_MAC`.
    #[property(replace, validate = key_usage)]
    #[serde(default = "encrypt_decrypt")]
    pub key_usage: String,
    /// Whether KMS rotates the key material every year. Default true; symmetric keys only.
    #[serde(default = "enabled")]
    pub enable_key_rotation: bool,
    /// Days between deletion and the key's actual destruction, 7 to 30. Default 30.
    #[property(validate = deletion_window)]
    #[serde(default = "thirty_days")]
    pub deletion_window_in_days: u32,
    /// The key policy (an IAM policy document). Absent: KMS's default, which lets the account's IAM
    /// policies decide; or the policy a separate `KmsKeyPolicy` manages.
    #[property(equivalent = policy::same, validate = policy::validate)]
    pub policy: Option<Json>,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn symmetric_default() -> String {
    "SYMMETRIC_DEFAULT".into()
}

fn encrypt_decrypt() -> String {
    "ENCRYPT_DECRYPT".into()
}

fn enabled() -> bool {
    true
}

fn thirty_days() -> u32 {
    30
}

impl KmsKeyArgs {
    /// A symmetric encryption key described by `description`, rotated, with KMS's default policy.
    pub fn new(description: impl Into<String>) -> Self {
        Self::default().with_description(description)
    }
}

/// Outputs of a [`KmsKey`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct KmsKeyState {
    #[serde(flatten)]
    pub args: KmsKeyArgs,
    /// The key's id (a UUID).
    pub key_id: String,
    /// The key's ARN.
    pub arn: String,
    /// The id of the account that owns the key.
    pub account_id: String,
}

impl ResourceType for KmsKey {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "KmsKey";
    const DOC: &'static str = "A customer-managed KMS key with yearly rotation on by default. Deleting \
                               it schedules its deletion after the deletion window.";
    const HOLDS_DATA: Option<&'static str> =
        Some("everything encrypted with the key becomes unreadable once AWS deletes it (after its waiting period)");
    type Inputs = KmsKeyArgs;
    type Outputs = KmsKeyState;

    fn validate(inputs: &KmsKeyArgs) -> Vec<CheckFailure> {
        let mut failures = Vec::new();
        let symmetric = inputs.key_spec == "SYMMETRIC_DEFAULT";
        if inputs.enable_key_rotation && !symmetric {
            failures.push(CheckFailure::new(
                "enableKeyRotation",
                format!(
                    "KMS rotates only symmetric encryption keys, not {}; set `enableKeyRotation: false`",
                    inputs.key_spec
                ),
            ));
        }
        let usage_fits = match inputs.key_spec.as_str() {
            "SYMMETRIC_DEFAULT" => inputs.key_usage == "ENCRYPT_DECRYPT",
            spec if spec.starts_with("HMAC_") => inputs.key_usage == "GENERATE_VERIFY_MAC",
            spec if spec.starts_with("ECC_") => inputs.key_usage == "SIGN_VERIFY",
            _ => inputs.key_usage != "GENERATE_VERIFY_MAC",
        };
        if !usage_fits {
            failures.push(CheckFailure::new(
                "keyUsage",
                format!(
                    "{} keys cannot be used for {}; choose a usage the key spec supports",
                    inputs.key_spec, inputs.key_usage
                ),
            ));
        }
        failures
    }
}

const KEY_SPECS: [&str; 13] = [
    "SYMMETRIC_DEFAULT",
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
    "ECC_SECG_P256K1",
    "HMAC_224",
    "HMAC_256",
    "HMAC_384",
    "HMAC_512",
    "SM2",
];

fn key_spec(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some(spec) if KEY_SPECS.contains(&spec) => Ok(()),
        _ => Err(format!(
            "{value} is not a KMS key spec; expected one of {}",
            KEY_SPECS.join(", ")
        )),
    }
}

fn key_usage(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some("ENCRYPT_DECRYPT" | "SIGN_VERIFY" | "GENERATE_VERIFY_MAC") => Ok(()),
        _ => Err(format!(
            "{value} is not a key usage; expected ENCRYPT_DECRYPT, SIGN_VERIFY or GENERATE_VERIFY_MAC"
        )),
    }
}

fn deletion_window(value: &Json) -> Result<(), String> {
    match value.as_u64() {
        Some(7..=30) => Ok(()),
        _ => Err(format!(
            "{value} days is outside KMS's deletion window; give 7 to 30 days"
        )),
    }
}

/// A key policy: the given document, or KMS's default for `account_id`.
#[cfg_attr(not(feature = "provider"), allow(dead_code))]
pub(crate) fn key_policy_or_default(policy: Option<&Json>, account_id: &str) -> Json {
    policy
        .cloned()
        .unwrap_or_else(|| crate::policy_document::default_key_policy(account_id).to_json())
}

#[cfg(feature = "provider")]
pub(crate) mod lifecycle {
    use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType, Tag};
    use aws_sdk_kms::Client;
    use palisade_provider_kit::policy;
    use palisade_provider_kit::prelude::*;
    use palisade_provider_kit::tags::{self, user_tags, URN_TAG};

    use super::{key_policy_or_default, KmsKey, KmsKeyArgs, KmsKeyState};
    use crate::aws;

    impl Resource for KmsKey {
        /// Keys tagged with this URN and not pending deletion. KMS cannot filter by tag, so this
        /// lists the account's keys and their tags (only on create).
        async fn owned(&self, ctx: &Context, _inputs: &Self::Inputs) -> Result<Vec<String>> {
            let kms = aws::kms(ctx).await?;
            let mut owned = Vec::new();
            let mut pages = kms.list_keys().into_paginator().send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("ListKeys", e))?;
                for id in page.keys().iter().filter_map(|k| k.key_id()) {
                    // Keys whose policy refuses us ListResourceTags are not ours, and a key deleted
                    // meanwhile is no one's; any other failure (throttling that outlasted the retry
                    // budget included) is an error: reading it as "not ours" would make a second key.
                    let listed = kms
                        .list_resource_tags()
                        .key_id(id)
                        .send()
                        .await
                        .map_err(|e| aws_error("ListResourceTags", e));
                    let tags = match listed {
                        Ok(tags) => tags,
                        Err(error) if error.is_access_denied() || error.is_not_found() => continue,
                        Err(error) => return Err(error),
                    };
                    let ours = tags
                        .tags()
                        .iter()
                        .any(|t| t.tag_key() == URN_TAG && t.tag_value() == ctx.urn);
                    if ours && describe(&kms, id).await?.is_some() {
                        owned.push(id.to_string());
                    }
                }
            }
            Ok(owned)
        }

        async fn create(&self, ctx: &Context, request: CreateRequest<KmsKeyArgs>) -> Result<Created<KmsKeyState>> {
            let kms = aws::kms(ctx).await?;
            let args = request.inputs;
            let id = kms
                .create_key()
                .set_description(args.description.clone())
                .key_spec(KeySpec::from(args.key_spec.as_str()))
                .key_usage(KeyUsageType::from(args.key_usage.as_str()))
                .set_policy(args.policy.as_ref().map(palisade_provider_kit::policy::to_text))
                .set_tags(Some(kms_tags(&ctx.tags(&args.tags))))
                .send()
                .await
                .map_err(|e| aws_error("CreateKey", e))?
                .key_metadata()
                .map(|m| m.key_id().to_string())
                .unwrap_or_default();
            // Converge what CreateKey does not set (rotation).
            let live = read(&kms, &id, Some(&args)).await?.ok_or(ProviderError::NotFound {
                kind: "KMS key",
                id: id.clone(),
            })?;
            converge(ctx, &kms, &live, &args).await?;
            let outputs = read(&kms, &id, Some(&args)).await?.ok_or(ProviderError::NotFound {
                kind: "KMS key",
                id: id.clone(),
            })?;
            Ok(Created { id, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<KmsKeyArgs, KmsKeyState>,
        ) -> Result<Option<KmsKeyState>> {
            let kms = aws::kms(ctx).await?;
            let declared = request.inputs.or(request.outputs.map(|o| o.args));
            read(&kms, &request.id, declared.as_ref()).await
        }

        async fn update(&self, ctx: &Context, request: UpdateRequest<KmsKeyArgs, KmsKeyState>) -> Result<KmsKeyState> {
            let kms = aws::kms(ctx).await?;
            converge(ctx, &kms, &request.olds, &request.news).await?;
            read(&kms, &request.id, Some(&request.news))
                .await?
                .ok_or(ProviderError::NotFound {
                    kind: "KMS key",
                    id: request.id,
                })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<KmsKeyState>) -> Result<()> {
            let kms = aws::kms(ctx).await?;
            let scheduled = kms
                .schedule_key_deletion()
                .key_id(&request.id)
                .pending_window_in_days(request.outputs.args.deletion_window_in_days as i32)
                .send()
                .await
                .map_err(|e| aws_error("ScheduleKeyDeletion", e));
            match scheduled.or_gone() {
                Ok(_) => Ok(()),
                // Already pending deletion: what we asked for.
                Err(error) if error.aws_kind() == Some(AwsErrorKind::Conflict) => {
                    match describe(&kms, &request.id).await? {
                        None => Ok(()),
                        Some(_) => Err(error),
                    }
                }
                Err(error) => Err(error),
            }
        }
    }

    /// Brings the key from `live` to `new`: description, rotation, policy and tags.
    async fn converge(ctx: &Context, kms: &Client, live: &KmsKeyState, new: &KmsKeyArgs) -> Result<()> {
        let id = &live.key_id;
        let old = &live.args;
        if old.description != new.description {
            kms.update_key_description()
                .key_id(id)
                .description(new.description.clone().unwrap_or_default())
                .send()
                .await
                .map_err(|e| aws_error("UpdateKeyDescription", e))?;
        }
        if old.enable_key_rotation != new.enable_key_rotation {
            if new.enable_key_rotation {
                kms.enable_key_rotation()
                    .key_id(id)
                    .send()
                    .await
                    .map_err(|e| aws_error("EnableKeyRotation", e))?;
            } else {
                kms.disable_key_rotation()
                    .key_id(id)
                    .send()
                    .await
                    .map_err(|e| aws_error("DisableKeyRotation", e))?;
            }
        }
        let policy_changed = match (&old.policy, &new.policy) {
            (Some(a), Some(b)) => !policy::same(a, b),
            (None, None) => false,
            _ => true,
        };
        if policy_changed {
            put_key_policy(kms, id, &key_policy_or_default(new.policy.as_ref(), &live.account_id)).await?;
        }
        let removed = tags::removed_keys(&old.tags, &new.tags);
        if !removed.is_empty() {
            kms.untag_resource()
                .key_id(id)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(|e| aws_error("UntagResource", e))?;
        }
        // Tagging is idempotent; the ownership tags are rewritten too (an adopted key keeps them).
        kms.tag_resource()
            .key_id(id)
            .set_tags(Some(kms_tags(&ctx.tags(&new.tags))))
            .send()
            .await
            .map_err(|e| aws_error("TagResource", e))?;
        Ok(())
    }

    /// Writes a key policy (KMS keeps exactly one, named `default`).
    pub(crate) async fn put_key_policy(kms: &Client, key_id: &str, policy: &Json) -> Result<()> {
        kms.put_key_policy()
            .key_id(key_id)
            .policy_name("default")
            .policy(palisade_provider_kit::policy::to_text(policy))
            .send()
            .await
            .map_err(|e| aws_error("PutKeyPolicy", e))?;
        Ok(())
    }

    use serde_json::Value as Json;

    /// The key's live policy.
    pub(crate) async fn key_policy(kms: &Client, key_id: &str) -> Result<Option<Json>> {
        let policy = kms
            .get_key_policy()
            .key_id(key_id)
            .policy_name("default")
            .send()
            .await
            .map_err(|e| aws_error("GetKeyPolicy", e))
            .or_gone()?;
        Ok(policy.and_then(|p| p.policy().map(aws::policy_from_aws)))
    }

    /// The key's metadata, or `None` when it is gone or pending deletion.
    pub(crate) async fn describe(kms: &Client, key_id: &str) -> Result<Option<aws_sdk_kms::types::KeyMetadata>> {
        let described = kms
            .describe_key()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeKey", e))
            .or_gone()?;
        Ok(described.and_then(|d| d.key_metadata().cloned()).filter(|m| {
            !matches!(
                m.key_state(),
                Some(KeyState::PendingDeletion | KeyState::PendingReplicaDeletion)
            )
        }))
    }

    /// The live key. `declared` (the inputs in state) decides whether the policy is reported: a key
    /// declared without a policy may have it managed by a `KmsKeyPolicy`, which is no drift.
    async fn read(kms: &Client, key_id: &str, declared: Option<&KmsKeyArgs>) -> Result<Option<KmsKeyState>> {
        let Some(metadata) = describe(kms, key_id).await? else {
            return Ok(None);
        };
        let id = metadata.key_id().to_string();
        let key_spec = metadata
            .key_spec()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(super::symmetric_default);
        let rotation = if key_spec == "SYMMETRIC_DEFAULT" {
            kms.get_key_rotation_status()
                .key_id(&id)
                .send()
                .await
                .map_err(|e| aws_error("GetKeyRotationStatus", e))?
                .key_rotation_enabled()
        } else {
            false
        };
        let policy = match declared {
            Some(KmsKeyArgs { policy: None, .. }) => None,
            _ => key_policy(kms, &id).await?,
        };
        let tags = kms
            .list_resource_tags()
            .key_id(&id)
            .send()
            .await
            .map_err(|e| aws_error("ListResourceTags", e))?;
        Ok(Some(KmsKeyState {
            args: KmsKeyArgs {
                description: metadata.description().filter(|d| !d.is_empty()).map(str::to_string),
                key_spec,
                key_usage: metadata
                    .key_usage()
                    .map(|u| u.as_str().to_string())
                    .unwrap_or_else(super::encrypt_decrypt),
                enable_key_rotation: rotation,
                // KMS keeps no deletion window until deletion is scheduled; it is Palisade's setting.
                deletion_window_in_days: declared
                    .map(|d| d.deletion_window_in_days)
                    .unwrap_or_else(super::thirty_days),
                policy,
                tags: user_tags(
                    tags.tags()
                        .iter()
                        .map(|t| (t.tag_key().to_string(), t.tag_value().to_string())),
                ),
            },
            arn: metadata.arn().unwrap_or_default().to_string(),
            account_id: metadata.aws_account_id().unwrap_or_default().to_string(),
            key_id: id,
        }))
    }

    fn kms_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
        tags.iter()
            .filter_map(|(k, v)| Tag::builder().tag_key(k).tag_value(v).build().ok())
            .collect()
    }
}
