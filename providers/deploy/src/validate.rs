//! Single-property checks shared by the deploy resources. Each error says what is expected. Names,
//! role ARNs and network ids come from the kit's shared vocabulary.

use palisade_provider_kit::validate::require;
use serde_json::Value as Json;

pub(crate) use palisade_provider_kit::validate::{role_arn, sagemaker_name, security_group_ids, subnet_ids};

/// A model package ARN (`arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>`).
pub(crate) fn model_package_arn(value: &Json) -> Result<(), String> {
    let arn = value.as_str().unwrap_or_default();
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid =
        parts.len() == 6 && parts[0] == "arn" && parts[2] == "sagemaker" && parts[5].starts_with("model-package/");
    require(valid, || {
        format!(
            "{arn:?} is not a model package ARN; give `arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>` \
             (the `modelPackageArn` output of a ModelPackage or of getLatestApprovedModelPackage)"
        )
    })
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
    fn model_package_arn_wants_a_sagemaker_model_package() {
        assert!(model_package_arn(&json!("arn:aws:sagemaker:us-east-1:123456789012:model-package/g/1")).is_ok());
        assert!(
            model_package_arn(&json!("arn:aws:sagemaker:us-east-1:123456789012:model/g"))
                .expect_err("a model")
                .contains("is not a model package ARN")
        );
    }

    #[test]
    fn s3_uri_wants_s3_scheme_and_bucket() {
        assert!(s3_uri(&json!("s3://bucket/model.tar.gz")).is_ok());
        assert!(s3_uri(&json!("s3:///key")).is_err());
        assert!(s3_uri(&json!("https://bucket"))
            .expect_err("https")
            .contains("give `s3://<bucket>/<key>`"));
    }

    #[test]
    fn approval_status_wants_one_of_three() {
        assert!(approval_status(&json!("Approved")).is_ok());
        assert!(approval_status(&json!("approved")).is_err());
    }
}
