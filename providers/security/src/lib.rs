//! Palisade's data-security and IAM resources: KMS keys, key policies and aliases, IAM roles, S3
//! buckets and bucket policies, a typed model of IAM policy documents, and the function
//! `listOrganizationalUnitAccounts` (the accounts of an AWS Organizations unit).
//!
//! Without feature `provider` this crate offers only the typed declarations and the policy-document
//! builders (what the SDK and user programs use); with it, the AWS calls behind each resource and the
//! `pulumi-resource-palisade-security` plugin.
//!
//! Key and bucket policies are resources of their own ([`KmsKeyPolicy`], [`BucketPolicy`]) so that a
//! development account's policies can name the roles and VPC endpoints of the staging and production
//! accounts without a cycle in the graph.

pub mod bucket;
pub mod bucket_policy;
pub mod kms_alias;
pub mod kms_key;
pub mod kms_key_policy;
pub mod organizational_unit_accounts;
pub mod policy_document;
pub mod role;

#[cfg(feature = "provider")]
mod aws;

pub use bucket::{Bucket, BucketArgs, BucketState};
pub use bucket_policy::{BucketPolicy, BucketPolicyArgs, BucketPolicyState};
pub use kms_alias::{KmsAlias, KmsAliasArgs, KmsAliasState};
pub use kms_key::{KmsKey, KmsKeyArgs, KmsKeyState};
pub use kms_key_policy::{KmsKeyPolicy, KmsKeyPolicyArgs, KmsKeyPolicyState};
pub use organizational_unit_accounts::{
    ListOrganizationalUnitAccounts, OrganizationAccount, OrganizationalUnitAccountsArgs,
    OrganizationalUnitAccountsResult,
};
pub use policy_document::{Effect, PolicyDocument, Principal, Statement};
pub use role::{Role, RoleArgs, RoleState};

/// The package name, as in type tokens (`palisade-security:index:KmsKey`).
pub const PACKAGE: &str = "palisade-security";

/// The provider with every security resource and function.
#[cfg(feature = "provider")]
pub fn provider() -> palisade_provider_kit::provider::Provider {
    palisade_provider_kit::provider::Provider::new(
        PACKAGE,
        "Palisade Security",
        "Data security and IAM for a secure ML platform: customer-managed KMS keys and their policies, \
         IAM roles, encrypted private S3 buckets and their policies.",
    )
    .resource::<KmsKey>()
    .resource::<KmsKeyPolicy>()
    .resource::<KmsAlias>()
    .resource::<Role>()
    .resource::<Bucket>()
    .resource::<BucketPolicy>()
    .function::<ListOrganizationalUnitAccounts>()
}
