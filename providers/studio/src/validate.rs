//! Single-property checks shared by the studio resources; each error says what is expected. Names,
//! role ARNs and ids that other providers take too come from the kit's shared vocabulary; Studio's
//! own limits (how many groups and subnets) are added here.

use palisade_provider_kit::validate;
use serde_json::Value as Json;

pub use palisade_provider_kit::validate::{role_arn, sagemaker_name, vpc_id};

/// Up to 5 security group ids (`sg-...`), as Studio allows.
pub fn security_group_ids(value: &Json) -> Result<(), String> {
    let count = value.as_array().map_or(0, Vec::len);
    if count > 5 {
        return Err(format!("{count} security groups given; Studio allows at most 5"));
    }
    validate::security_group_ids(value)
}

/// 1 to 16 subnet ids (`subnet-...`).
pub fn subnet_ids(value: &Json) -> Result<(), String> {
    let count = value.as_array().map_or(0, Vec::len);
    if count == 0 || count > 16 {
        return Err("give 1 to 16 subnet ids (private subnets of `vpcId`, in different AZs)".into());
    }
    validate::subnet_ids(value)
}

/// A Studio domain id (`d-...`).
pub fn domain_id(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some(id) if id.starts_with("d-") && id.len() > 2 => Ok(()),
        _ => Err(format!(
            "{value} is not a Studio domain id; give the `domainId` output of a Domain (`d-...`)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn security_group_ids_allow_at_most_five_well_formed_ids() {
        assert!(security_group_ids(&json!(["sg-1", "sg-2"])).is_ok());
        assert_eq!(
            security_group_ids(&json!(["sg-1", "sg-2", "sg-3", "sg-4", "sg-5", "sg-6"])).expect_err("six"),
            "6 security groups given; Studio allows at most 5"
        );
        assert!(security_group_ids(&json!(["sg-1", "subnet-2"]))
            .expect_err("not a group")
            .contains("is not a security group id"));
    }

    #[test]
    fn subnet_ids_want_one_to_sixteen_well_formed_ids() {
        assert!(subnet_ids(&json!(["subnet-1"])).is_ok());
        assert!(subnet_ids(&json!([]))
            .expect_err("none")
            .contains("give 1 to 16 subnet ids"));
        assert!(subnet_ids(&json!(["subnet-1", "sg-1"]))
            .expect_err("not a subnet")
            .contains("is not a subnet id"));
    }

    #[test]
    fn domain_id_wants_d_prefix() {
        assert!(domain_id(&json!("d-abc123")).is_ok());
        assert!(domain_id(&json!("d-")).is_err());
    }
}
