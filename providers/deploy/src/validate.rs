//! Single-property checks shared by the deploy resources. Each error says what is expected.

use serde_json::Value as Json;

/// A SageMaker resource name: 1 to 63 letters, digits and hyphens, not starting or ending with one.
pub(crate) fn sagemaker_name(value: &Json) -> Result<(), String> {
    let name = value.as_str().unwrap_or_default();
    let shape =
        name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !name.starts_with('-') && !name.ends_with('-');
    if (1..=63).contains(&name.len()) && shape {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a SageMaker name: use 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen"
        ))
    }
}

/// An IAM role ARN (`arn:aws:iam::<account>:role/<name>`).
pub(crate) fn role_arn(value: &Json) -> Result<(), String> {
    let arn = value.as_str().unwrap_or_default();
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == "iam" && parts[5].starts_with("role/") {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not an IAM role ARN; give `arn:aws:iam::<account>:role/<name>` (the `arn` output of a Role)"
        ))
    }
}

/// A model package ARN (`arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>`).
pub(crate) fn model_package_arn(value: &Json) -> Result<(), String> {
    let arn = value.as_str().unwrap_or_default();
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() == 6 && parts[0] == "arn" && parts[2] == "sagemaker" && parts[5].starts_with("model-package/") {
        Ok(())
    } else {
        Err(format!(
            "{arn:?} is not a model package ARN; give `arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>` \
             (the `modelPackageArn` output of a ModelPackage or of getLatestApprovedModelPackage)"
        ))
    }
}

/// An S3 URI (`s3://bucket/key`).
pub(crate) fn s3_uri(value: &Json) -> Result<(), String> {
    let uri = value.as_str().unwrap_or_default();
    match uri.strip_prefix("s3://") {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => Ok(()),
        _ => Err(format!("{uri:?} is not an S3 URI; give `s3://<bucket>/<key>`")),
    }
}

/// A model approval status.
pub(crate) fn approval_status(value: &Json) -> Result<(), String> {
    match value.as_str().unwrap_or_default() {
        "Approved" | "Rejected" | "PendingManualApproval" => Ok(()),
        other => Err(format!(
            "{other:?} is not an approval status; use `PendingManualApproval`, `Approved` or `Rejected`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_arns() {
        assert!(sagemaker_name(&json!("model-1")).is_ok());
        assert!(sagemaker_name(&json!("-model")).is_err());
        assert!(sagemaker_name(&json!("a".repeat(64))).is_err());
        assert!(role_arn(&json!("arn:aws:iam::123456789012:role/exec")).is_ok());
        assert!(role_arn(&json!("exec")).is_err());
        assert!(model_package_arn(&json!("arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1")).is_ok());
        assert!(model_package_arn(&json!("arn:aws:sagemaker:us-east-1:123456789012:model/g")).is_err());
        assert!(s3_uri(&json!("s3://bucket/model.tar.gz")).is_ok());
        assert!(s3_uri(&json!("https://bucket")).is_err());
        assert!(approval_status(&json!("Approved")).is_ok());
        assert!(approval_status(&json!("approved")).is_err());
    }
}
