//! KmsKeyPolicy: the policy of an existing key, as a resource of its own.
//!
//! A development key's policy names the staging and production roles and VPC endpoints; those depend
//! on the key's ARN in turn. Declaring the policy apart from the key breaks that cycle. Deleting it
//! does not leave the key without a policy (which AWS does not allow anyway): KMS's default policy,
//! which lets the key's own account manage it through IAM, is put back.

use palisade_provider_kit::policy;
use palisade_provider_kit::prelude::*;
use serde_json::Value as Json;

/// The policy of a KMS key.
#[derive(Debug, Default, Clone, Copy)]
pub struct KmsKeyPolicy;

/// Inputs of a [`KmsKeyPolicy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct KmsKeyPolicyArgs {
    /// The key's id or ARN.
    #[property(replace, validate = key_reference)]
    pub key_id: String,
    /// The key policy (an IAM policy document). Keep a statement that lets the account manage the
    /// key (`Statement::allow_account_to_manage_key`), or the key becomes unmanageable.
    #[property(equivalent = policy::same, validate = policy::validate)]
    pub policy: Json,
}

/// Outputs of a [`KmsKeyPolicy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct KmsKeyPolicyState {
    #[serde(flatten)]
    pub args: KmsKeyPolicyArgs,
    /// The key's ARN.
    pub key_arn: String,
}

impl ResourceType for KmsKeyPolicy {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "KmsKeyPolicy";
    const DOC: &'static str = "The policy of a KMS key, kept apart from the key so that it can name \
                               principals that depend on the key. Deleting it restores KMS's default \
                               key policy.";
    type Inputs = KmsKeyPolicyArgs;
    type Outputs = KmsKeyPolicyState;
}

/// Checks a reference to a KMS key: a key id or key ARN (not an alias, whose target can move).
pub(crate) fn key_reference(value: &Json) -> Result<(), String> {
    let key = value.as_str().unwrap_or_default();
    if key.is_empty() {
        return Err("give the key's id or ARN (the `keyId` or `arn` output of a KmsKey)".into());
    }
    if key.starts_with("alias/") || key.contains(":alias/") {
        return Err(format!(
            "{key:?} is an alias; give the key's id or ARN, whose target cannot move"
        ));
    }
    Ok(())
}

#[cfg(feature = "provider")]
mod lifecycle {
    use palisade_provider_kit::prelude::*;

    use super::{KmsKeyPolicy, KmsKeyPolicyArgs, KmsKeyPolicyState};
    use crate::aws;
    use crate::kms_key::lifecycle::{describe, key_policy, put_key_policy};
    use crate::policy_document::default_key_policy;

    impl Resource for KmsKeyPolicy {
        async fn create(
            &self,
            ctx: &Context,
            request: CreateRequest<KmsKeyPolicyArgs>,
        ) -> Result<Created<KmsKeyPolicyState>> {
            let kms = aws::kms(ctx).await?;
            let args = request.inputs;
            let metadata = describe(&kms, &args.key_id).await?.ok_or(ProviderError::NotFound {
                kind: "KMS key",
                id: args.key_id.clone(),
            })?;
            put_key_policy(&kms, metadata.key_id(), &args.policy).await?;
            Ok(Created {
                id: metadata.key_id().to_string(),
                outputs: KmsKeyPolicyState {
                    key_arn: metadata.arn().unwrap_or_default().to_string(),
                    args,
                },
            })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<KmsKeyPolicyArgs, KmsKeyPolicyState>,
        ) -> Result<Option<KmsKeyPolicyState>> {
            let kms = aws::kms(ctx).await?;
            let Some(metadata) = describe(&kms, &request.id).await? else {
                return Ok(None);
            };
            let Some(policy) = key_policy(&kms, &request.id).await? else {
                return Ok(None);
            };
            // Keep the key reference as declared (id or ARN).
            let key_id = request
                .inputs
                .map(|i| i.key_id)
                .unwrap_or_else(|| metadata.key_id().to_string());
            Ok(Some(KmsKeyPolicyState {
                args: KmsKeyPolicyArgs { key_id, policy },
                key_arn: metadata.arn().unwrap_or_default().to_string(),
            }))
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<KmsKeyPolicyArgs, KmsKeyPolicyState>,
        ) -> Result<KmsKeyPolicyState> {
            let kms = aws::kms(ctx).await?;
            put_key_policy(&kms, &request.id, &request.news.policy).await?;
            Ok(KmsKeyPolicyState {
                args: request.news,
                key_arn: request.olds.key_arn,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<KmsKeyPolicyState>) -> Result<()> {
            let kms = aws::kms(ctx).await?;
            // A key that is gone or pending deletion needs no policy.
            let Some(metadata) = describe(&kms, &request.id).await? else {
                return Ok(());
            };
            let account = metadata.aws_account_id().unwrap_or_default();
            let restored = put_key_policy(&kms, &request.id, &default_key_policy(account).to_json()).await;
            match restored {
                Err(error) if error.is_not_found() => Ok(()),
                other => other,
            }
        }
    }
}
