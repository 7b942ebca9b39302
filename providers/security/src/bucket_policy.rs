//! BucketPolicy: the policy of a bucket, as a resource of its own.
//!
//! A development bucket's policy names the staging and production roles and VPC endpoints; declaring
//! it apart from the bucket keeps the graph free of cycles. Deleting it leaves the bucket without a
//! policy (S3's default: only the account's own IAM policies grant access).

use palisade_provider_kit::policy;
use palisade_provider_kit::prelude::*;
use serde_json::Value as Json;

/// The policy of an S3 bucket.
#[derive(Debug, Default, Clone, Copy)]
pub struct BucketPolicy;

/// Inputs of a [`BucketPolicy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct BucketPolicyArgs {
    /// The bucket's name.
    #[property(replace, validate = bucket_reference)]
    pub bucket: String,
    /// The bucket policy (an IAM policy document with principals).
    #[property(equivalent = policy::same, validate = policy::validate)]
    pub policy: Json,
}

/// Outputs of a [`BucketPolicy`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct BucketPolicyState {
    #[serde(flatten)]
    pub args: BucketPolicyArgs,
}

impl ResourceType for BucketPolicy {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "BucketPolicy";
    const DOC: &'static str = "The policy of an S3 bucket, kept apart from the bucket so that it can \
                               name principals and VPC endpoints that depend on the bucket.";
    type Inputs = BucketPolicyArgs;
    type Outputs = BucketPolicyState;
}

fn bucket_reference(value: &Json) -> Result<(), String> {
    let bucket = value.as_str().unwrap_or_default();
    if bucket.is_empty() || bucket.starts_with("arn:") || bucket.contains('/') {
        Err(format!(
            "{bucket:?} is not a bucket name; give the name (a Bucket's `bucket` output), not its ARN"
        ))
    } else {
        Ok(())
    }
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_s3::Client;
    use palisade_provider_kit::prelude::*;

    use super::{BucketPolicy, BucketPolicyArgs, BucketPolicyState};
    use crate::aws;

    impl Resource for BucketPolicy {
        async fn create(
            &self,
            ctx: &Context,
            request: CreateRequest<BucketPolicyArgs>,
        ) -> Result<Created<BucketPolicyState>> {
            let s3 = aws::s3(ctx).await?;
            let args = request.inputs;
            put(&s3, &args).await?;
            Ok(Created {
                id: args.bucket.clone(),
                outputs: BucketPolicyState { args },
            })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<BucketPolicyArgs, BucketPolicyState>,
        ) -> Result<Option<BucketPolicyState>> {
            let s3 = aws::s3(ctx).await?;
            let policy = s3
                .get_bucket_policy()
                .bucket(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("GetBucketPolicy", e))
                .or_gone()?;
            Ok(policy
                .and_then(|p| p.policy().map(aws::policy_from_aws))
                .map(|policy| BucketPolicyState {
                    args: BucketPolicyArgs {
                        bucket: request.id.clone(),
                        policy,
                    },
                }))
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<BucketPolicyArgs, BucketPolicyState>,
        ) -> Result<BucketPolicyState> {
            let s3 = aws::s3(ctx).await?;
            put(&s3, &request.news).await?;
            Ok(BucketPolicyState { args: request.news })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<BucketPolicyState>) -> Result<()> {
            let s3 = aws::s3(ctx).await?;
            s3.delete_bucket_policy()
                .bucket(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteBucketPolicy", e))
                .or_gone()?;
            Ok(())
        }
    }

    async fn put(s3: &Client, args: &BucketPolicyArgs) -> Result<()> {
        s3.put_bucket_policy()
            .bucket(&args.bucket)
            .policy(palisade_provider_kit::policy::to_text(&args.policy))
            .send()
            .await
            .map_err(|e| aws_error("PutBucketPolicy", e))?;
        Ok(())
    }
}
