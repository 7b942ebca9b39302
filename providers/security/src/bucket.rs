//! Bucket: a private S3 bucket encrypted with a customer-managed KMS key.
//!
//! Safe by default: default encryption is SSE-KMS with the given key (and an S3 bucket key, which
//! cuts KMS calls), all four public-access-block flags are on, versioning is on, and object ownership
//! is `BucketOwnerEnforced` (ACLs disabled). A bucket that still holds objects is not deleted unless
//! `forceDestroy` is set, which first removes every object version and delete marker.

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;
use serde_json::Value as Json;

/// A private, encrypted S3 bucket.
#[derive(Debug, Default, Clone, Copy)]
pub struct Bucket;

/// Inputs of a [`Bucket`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct BucketArgs {
    /// The bucket's globally unique name, 3 to 63 lower-case characters. Default: the resource name
    /// plus a random suffix.
    #[property(replace, validate = bucket_name)]
    pub bucket: Option<String>,
    /// The id or ARN of the KMS key that encrypts new objects by default (SSE-KMS).
    #[property(validate = kms_key)]
    pub kms_key_id: String,
    /// Whether S3 uses a bucket key for SSE-KMS, which cuts KMS requests and cost. Default true.
    #[serde(default = "enabled")]
    pub bucket_key_enabled: bool,
    /// Refuse new public ACLs. Default true.
    #[serde(default = "enabled")]
    pub block_public_acls: bool,
    /// Refuse bucket policies that grant public access. Default true.
    #[serde(default = "enabled")]
    pub block_public_policy: bool,
    /// Ignore existing public ACLs. Default true.
    #[serde(default = "enabled")]
    pub ignore_public_acls: bool,
    /// Restrict access under a public policy to AWS services and the owner's account. Default true.
    #[serde(default = "enabled")]
    pub restrict_public_buckets: bool,
    /// Keep every version of every object. Default true. Once on, versioning can only be suspended.
    #[serde(default = "enabled")]
    pub versioning: bool,
    /// Delete every object version and delete marker when the bucket is deleted. Default false: a
    /// bucket with objects in it is not deleted.
    #[serde(default)]
    pub force_destroy: bool,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn enabled() -> bool {
    true
}

/// Outputs of a [`Bucket`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct BucketState {
    #[serde(flatten)]
    pub args: BucketArgs,
    /// The bucket's ARN.
    pub arn: String,
    /// Who owns new objects: always `BucketOwnerEnforced` (ACLs disabled).
    pub object_ownership: String,
}

impl ResourceType for Bucket {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "Bucket";
    const DOC: &'static str = "A private S3 bucket: SSE-KMS with a customer key, public access \
                               blocked, versioned, ACLs disabled. Tagged with its URN and stack.";
    const HOLDS_DATA: Option<&'static str> = Some("the bucket and every object in it");
    const AUTONAME: Option<AutoName> = Some(AutoName {
        property: "bucket",
        max_len: 63,
        lowercase: true,
    });
    type Inputs = BucketArgs;
    type Outputs = BucketState;
}

/// The object ownership every Palisade bucket has.
pub const OBJECT_OWNERSHIP: &str = "BucketOwnerEnforced";

fn bucket_name(value: &Json) -> Result<(), String> {
    let name = value.as_str().unwrap_or_default();
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends_ok = name
        .chars()
        .next()
        .zip(name.chars().last())
        .is_some_and(|(first, last)| first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric());
    let looks_like_ip = name.split('.').count() == 4
        && name
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit()));
    if (3..=63).contains(&name.len())
        && chars_ok
        && ends_ok
        && !name.contains("..")
        && !looks_like_ip
        && !name.starts_with("xn--")
    {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid bucket name; use 3 to 63 lower-case letters, digits, `-` or `.`, \
             starting and ending with a letter or digit"
        ))
    }
}

fn kms_key(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some(key) if !key.is_empty() => Ok(()),
        _ => Err("give the id or ARN of the KMS key that encrypts the bucket (a KmsKey's `arn`)".into()),
    }
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_s3::types::{
        BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete, ObjectIdentifier,
        ObjectOwnership, OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration,
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule, Tag, Tagging, VersioningConfiguration,
    };
    use aws_sdk_s3::Client;
    use palisade_provider_kit::prelude::*;
    use palisade_provider_kit::tags::{user_tags, URN_TAG};

    use super::{Bucket, BucketArgs, BucketState};
    use crate::aws;

    impl Resource for Bucket {
        async fn create(&self, ctx: &Context, request: CreateRequest<BucketArgs>) -> Result<Created<BucketState>> {
            let s3 = aws::s3(ctx).await?;
            let args = request.inputs;
            let name = args
                .bucket
                .clone()
                .ok_or_else(|| ProviderError::invalid("bucket", "give the bucket a name"))?;
            match live_tags(&s3, &name).await? {
                Some(tags) if tags.get(URN_TAG) == Some(&ctx.urn) => {
                    aws::adopting("S3 bucket", name.clone(), &ctx.urn);
                }
                Some(_) => {
                    return Err(ProviderError::name_taken(
                        "CreateBucket",
                        format_args!("bucket {name}"),
                        "Palisade did not create it",
                        "bucket",
                    ))
                }
                None => {
                    let region = ctx.region().await?;
                    // The ownership tags go in the create call itself: the bucket never exists
                    // untagged, so an interruption at any point is adopted by the next run.
                    let configuration = CreateBucketConfiguration::builder()
                        // us-east-1 is the one region that takes no location constraint.
                        .set_location_constraint(
                            (region != "us-east-1").then(|| BucketLocationConstraint::from(region.as_str())),
                        )
                        .set_tags(Some(s3_tags(ctx, &args.tags)?))
                        .build();
                    s3.create_bucket()
                        .bucket(&name)
                        .create_bucket_configuration(configuration)
                        .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                        .send()
                        .await
                        .map_err(|e| aws_error("CreateBucket", e))?;
                }
            }
            configure(ctx, &s3, &name, &args).await?;
            let outputs = read(&s3, &name, Some(&args)).await?.ok_or(ProviderError::NotFound {
                kind: "S3 bucket",
                id: name.clone(),
            })?;
            Ok(Created { id: name, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<BucketArgs, BucketState>,
        ) -> Result<Option<BucketState>> {
            let s3 = aws::s3(ctx).await?;
            let declared = request.inputs.or(request.outputs.map(|o| o.args));
            read(&s3, &request.id, declared.as_ref()).await
        }

        async fn update(&self, ctx: &Context, request: UpdateRequest<BucketArgs, BucketState>) -> Result<BucketState> {
            let s3 = aws::s3(ctx).await?;
            configure(ctx, &s3, &request.id, &request.news).await?;
            read(&s3, &request.id, Some(&request.news))
                .await?
                .ok_or(ProviderError::NotFound {
                    kind: "S3 bucket",
                    id: request.id,
                })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<BucketState>) -> Result<()> {
            let s3 = aws::s3(ctx).await?;
            let name = &request.id;
            if request.outputs.args.force_destroy {
                empty(&s3, name).await?;
            }
            let deleted = s3
                .delete_bucket()
                .bucket(name)
                .send()
                .await
                .map_err(|e| aws_error("DeleteBucket", e));
            match deleted.or_gone() {
                Ok(_) => Ok(()),
                Err(error) if error.is_dependency_violation() => Err(error.with_note(format_args!(
                    "bucket {name} still holds objects; empty it, or set `forceDestroy: true` (and apply \
                     that) to have Palisade delete every object version with it"
                ))),
                Err(other) => Err(other),
            }
        }
    }

    /// Applies every setting of `args` to bucket `name`; each call is idempotent.
    async fn configure(ctx: &Context, s3: &Client, name: &str, args: &BucketArgs) -> Result<()> {
        s3.put_bucket_ownership_controls()
            .bucket(name)
            .ownership_controls(
                OwnershipControls::builder()
                    .rules(
                        OwnershipControlsRule::builder()
                            .object_ownership(ObjectOwnership::BucketOwnerEnforced)
                            .build()
                            .map_err(build_error)?,
                    )
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(|e| aws_error("PutBucketOwnershipControls", e))?;
        s3.put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(args.block_public_acls)
                    .block_public_policy(args.block_public_policy)
                    .ignore_public_acls(args.ignore_public_acls)
                    .restrict_public_buckets(args.restrict_public_buckets)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("PutPublicAccessBlock", e))?;
        let by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::AwsKms)
            .kms_master_key_id(&args.kms_key_id)
            .build()
            .map_err(build_error)?;
        s3.put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(by_default)
                            .bucket_key_enabled(args.bucket_key_enabled)
                            .build(),
                    )
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(|e| aws_error("PutBucketEncryption", e))?;
        let live_versioning = versioning(s3, name).await?;
        if live_versioning != Some(args.versioning) {
            // A bucket that never had versioning needs no "Suspended".
            if args.versioning || live_versioning.is_some() {
                let status = if args.versioning {
                    BucketVersioningStatus::Enabled
                } else {
                    BucketVersioningStatus::Suspended
                };
                s3.put_bucket_versioning()
                    .bucket(name)
                    .versioning_configuration(VersioningConfiguration::builder().status(status).build())
                    .send()
                    .await
                    .map_err(|e| aws_error("PutBucketVersioning", e))?;
            }
        }
        put_tags(ctx, s3, name, &args.tags).await
    }

    /// The user's tags plus the ownership tags, in S3's shape.
    fn s3_tags(ctx: &Context, user: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
        ctx.tags(user)
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().map_err(build_error))
            .collect()
    }

    async fn put_tags(ctx: &Context, s3: &Client, name: &str, user: &BTreeMap<String, String>) -> Result<()> {
        let tags = s3_tags(ctx, user)?;
        s3.put_bucket_tagging()
            .bucket(name)
            .tagging(
                Tagging::builder()
                    .set_tag_set(Some(tags))
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(|e| aws_error("PutBucketTagging", e))?;
        Ok(())
    }

    fn build_error(error: aws_sdk_s3::error::BuildError) -> ProviderError {
        ProviderError::invalid("", error.to_string())
    }

    /// The bucket's tags; `None` when there is no such bucket.
    async fn live_tags(s3: &Client, name: &str) -> Result<Option<BTreeMap<String, String>>> {
        let tagging = s3
            .get_bucket_tagging()
            .bucket(name)
            .send()
            .await
            .map_err(|e| aws_error("GetBucketTagging", e));
        match tagging {
            Ok(output) => Ok(Some(
                output
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect(),
            )),
            Err(error) if error.aws_kind() == Some(AwsErrorKind::NotConfigured) => Ok(Some(BTreeMap::new())),
            Err(error) => error_or_gone(error),
        }
    }

    fn error_or_gone<T>(error: ProviderError) -> Result<Option<T>> {
        if error.is_not_found() {
            Ok(None)
        } else {
            Err(error)
        }
    }

    /// Versioning: `Some(true)` enabled, `Some(false)` suspended, `None` never enabled.
    async fn versioning(s3: &Client, name: &str) -> Result<Option<bool>> {
        let output = s3
            .get_bucket_versioning()
            .bucket(name)
            .send()
            .await
            .map_err(|e| aws_error("GetBucketVersioning", e))?;
        Ok(output.status().map(|s| *s == BucketVersioningStatus::Enabled))
    }

    async fn read(s3: &Client, name: &str, declared: Option<&BucketArgs>) -> Result<Option<BucketState>> {
        let Some(tags) = live_tags(s3, name).await? else {
            return Ok(None);
        };
        let encryption = s3
            .get_bucket_encryption()
            .bucket(name)
            .send()
            .await
            .map_err(|e| aws_error("GetBucketEncryption", e));
        let rule = match encryption {
            Ok(output) => output
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first().cloned()),
            Err(error) if error.aws_kind() == Some(AwsErrorKind::NotConfigured) => None,
            Err(error) => return error_or_gone(error),
        };
        let by_default = rule.as_ref().and_then(|r| r.apply_server_side_encryption_by_default());
        let kms_key_id = by_default
            .filter(|d| *d.sse_algorithm() == ServerSideEncryption::AwsKms)
            .and_then(|d| d.kms_master_key_id())
            .unwrap_or_default()
            .to_string();
        let block = s3
            .get_public_access_block()
            .bucket(name)
            .send()
            .await
            .map_err(|e| aws_error("GetPublicAccessBlock", e));
        let block = match block {
            Ok(output) => output.public_access_block_configuration().cloned(),
            Err(error) if error.aws_kind() == Some(AwsErrorKind::NotConfigured) => None,
            Err(error) => return error_or_gone(error),
        };
        let flag = |f: fn(&PublicAccessBlockConfiguration) -> Option<bool>| block.as_ref().and_then(f).unwrap_or(false);
        let ownership = s3
            .get_bucket_ownership_controls()
            .bucket(name)
            .send()
            .await
            .map_err(|e| aws_error("GetBucketOwnershipControls", e));
        let object_ownership = match ownership {
            Ok(output) => output
                .ownership_controls()
                .and_then(|c| c.rules().first())
                .map(|r| r.object_ownership().as_str().to_string())
                .unwrap_or_default(),
            Err(error) if error.aws_kind() == Some(AwsErrorKind::NotConfigured) => String::new(),
            Err(error) => return error_or_gone(error),
        };
        Ok(Some(BucketState {
            args: BucketArgs {
                bucket: Some(name.to_string()),
                kms_key_id,
                bucket_key_enabled: rule.as_ref().and_then(|r| r.bucket_key_enabled()).unwrap_or(false),
                block_public_acls: flag(PublicAccessBlockConfiguration::block_public_acls),
                block_public_policy: flag(PublicAccessBlockConfiguration::block_public_policy),
                ignore_public_acls: flag(PublicAccessBlockConfiguration::ignore_public_acls),
                restrict_public_buckets: flag(PublicAccessBlockConfiguration::restrict_public_buckets),
                versioning: versioning(s3, name).await?.unwrap_or(false),
                // Palisade's own setting; S3 knows nothing of it.
                force_destroy: declared.is_some_and(|d| d.force_destroy),
                tags: user_tags(tags),
            },
            arn: format!("arn:aws:s3:::{name}"),
            object_ownership,
        }))
    }

    /// Deletes every object version and delete marker in bucket `name`, a page at a time.
    async fn empty(s3: &Client, name: &str) -> Result<()> {
        loop {
            let listed = s3
                .list_object_versions()
                .bucket(name)
                .max_keys(1000)
                .send()
                .await
                .map_err(|e| aws_error("ListObjectVersions", e));
            let Some(listed) = listed.or_gone()? else {
                return Ok(());
            };
            let versions = listed.versions().iter().map(|v| (v.key(), v.version_id()));
            let markers = listed.delete_markers().iter().map(|m| (m.key(), m.version_id()));
            let objects = versions
                .chain(markers)
                .filter_map(|(key, version)| {
                    ObjectIdentifier::builder()
                        .set_key(key.map(str::to_string))
                        .set_version_id(version.map(str::to_string))
                        .build()
                        .ok()
                })
                .collect::<Vec<_>>();
            if objects.is_empty() {
                return Ok(());
            }
            let deleted = s3
                .delete_objects()
                .bucket(name)
                .delete(
                    Delete::builder()
                        .set_objects(Some(objects))
                        .quiet(true)
                        .build()
                        .map_err(build_error)?,
                )
                .send()
                .await
                .map_err(|e| aws_error("DeleteObjects", e))?;
            if let Some(failed) = deleted.errors().first() {
                return Err(ProviderError::Aws {
                    operation: "DeleteObjects",
                    code: failed.code().unwrap_or("Unknown").to_string(),
                    message: format!(
                        "could not delete {} (version {}) while emptying bucket {name}: {}",
                        failed.key().unwrap_or("?"),
                        failed.version_id().unwrap_or("?"),
                        failed.message().unwrap_or_default()
                    ),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(bucket_name(&json!("ml-data-1a2b3c4")).is_ok());
        for bad in ["ML-data", "ab", "-data", "data-", "a..b", "192.168.1.1", "xn--data"] {
            assert!(bucket_name(&json!(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn new_buckets_are_private_encrypted_and_versioned() {
        let args: BucketArgs =
            serde_json::from_value(json!({"kmsKeyId": "arn:aws:kms:us-east-1:1:key/k"})).expect("defaults");
        assert_eq!(args, BucketArgs::new("arn:aws:kms:us-east-1:1:key/k"));
        assert!(args.block_public_acls && args.restrict_public_buckets && args.versioning);
        assert!(!args.force_destroy);
    }
}
