//! Single-property checks shared by the studio resources; each error says what is expected.

use serde_json::Value as Json;

/// A Studio domain or user profile name: 1 to 63 letters, digits and hyphens, starting with a
/// letter or digit (AWS's pattern).
pub fn studio_name(value: &Json) -> Result<(), String> {
    let name = value.as_str().unwrap_or_default();
    let well_formed = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !name.ends_with('-');
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "{value} is not a Studio name; use 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit"
        ))
    }
}

/// An IAM role ARN (`arn:aws:iam::123456789012:role/name`).
pub fn role_arn(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some(arn) if arn.starts_with("arn:") && arn.contains(":iam::") && arn.contains(":role/") => Ok(()),
        _ => Err(format!(
            "{value} is not an IAM role ARN; expected `arn:aws:iam::<account>:role/<name>`"
        )),
    }
}

/// Up to 5 security group ids (`sg-...`), as Studio allows.
pub fn security_group_ids(value: &Json) -> Result<(), String> {
    let ids = value.as_array().map(Vec::as_slice).unwrap_or_default();
    if ids.len() > 5 {
        return Err(format!("{} security groups given; Studio allows at most 5", ids.len()));
    }
    for id in ids {
        if !id.as_str().is_some_and(|s| s.starts_with("sg-")) {
            return Err(format!("{id} is not a security group id; expected `sg-...`"));
        }
    }
    Ok(())
}

/// 1 to 16 subnet ids (`subnet-...`).
pub fn subnet_ids(value: &Json) -> Result<(), String> {
    let ids = value.as_array().map(Vec::as_slice).unwrap_or_default();
    if ids.is_empty() || ids.len() > 16 {
        return Err("give 1 to 16 subnet ids (private subnets of `vpcId`, in different AZs)".into());
    }
    for id in ids {
        if !id.as_str().is_some_and(|s| s.starts_with("subnet-")) {
            return Err(format!("{id} is not a subnet id; expected `subnet-...`"));
        }
    }
    Ok(())
}

/// A VPC id (`vpc-...`).
pub fn vpc_id(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some(id) if id.starts_with("vpc-") => Ok(()),
        _ => Err(format!("{value} is not a VPC id; expected `vpc-...`")),
    }
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
    fn studio_names_follow_aws_pattern() {
        assert!(studio_name(&json!("ml-studio-1")).is_ok());
        assert!(studio_name(&json!("-bad")).is_err());
        assert!(studio_name(&json!("under_score")).is_err());
        assert!(studio_name(&json!("x".repeat(64))).is_err());
    }

    #[test]
    fn ids_and_arns_are_checked() {
        assert!(role_arn(&json!("arn:aws:iam::123456789012:role/exec")).is_ok());
        assert!(role_arn(&json!("exec")).is_err());
        assert!(security_group_ids(&json!(["sg-1", "sg-2"])).is_ok());
        assert!(security_group_ids(&json!(["sg-1", "sg-2", "sg-3", "sg-4", "sg-5", "sg-6"])).is_err());
        assert!(subnet_ids(&json!([])).is_err());
        assert!(subnet_ids(&json!(["subnet-1"])).is_ok());
        assert!(vpc_id(&json!("vpc-1")).is_ok());
    }
}
