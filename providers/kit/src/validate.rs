//! The AWS vocabulary shared by every provider: single-property checks for identifiers that more
//! than one resource takes (role ARNs, VPC, subnet and security group ids, SageMaker names). Each
//! is a `validate = ...` function of a property declaration; each error names what is expected,
//! because Check shows it to the user as is.

use serde_json::Value as Json;

/// A validator's answer: `Ok` when `valid`, else the reason (written only when needed).
pub fn require(valid: bool, reason: impl FnOnce() -> String) -> Result<(), String> {
    if valid {
        Ok(())
    } else {
        Err(reason())
    }
}

/// An IAM role ARN: `arn:<partition>:iam::<12-digit account id>:role/<path and name>` (IAM is
/// global, so the region field is empty).
pub fn role_arn(value: &Json) -> Result<(), String> {
    let arn = value.as_str().unwrap_or_default();
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = match parts.as_slice() {
        ["arn", partition, "iam", "", account, resource] => {
            partition.starts_with("aws")
                && account.len() == 12
                && account.chars().all(|c| c.is_ascii_digit())
                && resource
                    .strip_prefix("role/")
                    .is_some_and(|name| !name.is_empty() && !name.ends_with('/'))
        }
        _ => false,
    };
    require(valid, || {
        format!(
            "{arn:?} is not an IAM role ARN; expected `arn:aws:iam::<account id>:role/<name>` (the `arn` output of a Role)"
        )
    })
}

/// An AWS resource id with the given prefix (`vpc-`, `subnet-`, `sg-`, ...) followed by letters and
/// digits; `what` names the kind in the error ("a VPC").
pub fn resource_id(value: &Json, prefix: &str, what: &str) -> Result<(), String> {
    let id = value.as_str().unwrap_or_default();
    let rest = id.strip_prefix(prefix).unwrap_or_default();
    require(
        !rest.is_empty() && rest.chars().all(|c| c.is_ascii_alphanumeric()),
        || format!("{id:?} is not {what} id; expected `{prefix}` followed by letters and digits"),
    )
}

/// A VPC id (`vpc-...`).
pub fn vpc_id(value: &Json) -> Result<(), String> {
    resource_id(value, "vpc-", "a VPC")
}

/// A subnet id (`subnet-...`).
pub fn subnet_id(value: &Json) -> Result<(), String> {
    resource_id(value, "subnet-", "a subnet")
}

/// A security group id (`sg-...`).
pub fn security_group_id(value: &Json) -> Result<(), String> {
    resource_id(value, "sg-", "a security group")
}

/// A list of subnet ids (`subnet-...`).
pub fn subnet_ids(value: &Json) -> Result<(), String> {
    each(value, subnet_id)
}

/// A list of security group ids (`sg-...`).
pub fn security_group_ids(value: &Json) -> Result<(), String> {
    each(value, security_group_id)
}

/// A SageMaker resource name (domain, user profile, model, endpoint, ...): 1 to 63 letters, digits
/// and hyphens, starting and ending with a letter or digit (AWS's `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`).
pub fn sagemaker_name(value: &Json) -> Result<(), String> {
    let name = value.as_str().unwrap_or_default();
    let valid = (1..=63).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    require(valid, || {
        format!(
            "{name:?} is not a SageMaker name; use 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit"
        )
    })
}

/// An AWS Organizations organizational unit id: `ou-`, the root's 4 to 32 lowercase letters or
/// digits, `-`, then 8 to 32 lowercase letters or digits (`ou-ab12-cd34ef56`).
pub fn organizational_unit_id(value: &Json) -> Result<(), String> {
    let id = value.as_str().unwrap_or_default();
    let part = |text: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&text.len()) && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    let valid = id
        .strip_prefix("ou-")
        .and_then(|rest| rest.split_once('-'))
        .is_some_and(|(root, unit)| part(root, 4..=32) && part(unit, 8..=32));
    require(valid, || {
        format!(
            "{id:?} is not an organizational unit id; expected `ou-<4-32 lowercase letters or digits>-<8-32 lowercase letters or digits>` (`ou-ab12-cd34ef56`; `aws organizations list-organizational-units-for-parent` lists them)"
        )
    })
}

/// Applies `check` to each item of a list (or to a lone value).
pub fn each(value: &Json, check: impl Fn(&Json) -> Result<(), String>) -> Result<(), String> {
    match value {
        Json::Array(items) => items.iter().try_for_each(check),
        other => check(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn role_arn_wants_iam_a_twelve_digit_account_and_a_role_name() {
        assert!(role_arn(&json!("arn:aws:iam::123456789012:role/exec")).is_ok());
        assert!(role_arn(&json!("arn:aws:iam::123456789012:role/service-role/exec")).is_ok());
        assert!(role_arn(&json!("arn:aws-us-gov:iam::123456789012:role/exec")).is_ok());
        for wrong in [
            "exec",
            "arn:aws:iam::1:role/exec",
            "arn:aws:iam::123456789012:user/exec",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam:us-east-1:123456789012:role/exec",
            "arn:aws:sts::123456789012:role/exec",
        ] {
            assert_eq!(
                role_arn(&json!(wrong)).expect_err(wrong),
                format!(
                    "{wrong:?} is not an IAM role ARN; expected `arn:aws:iam::<account id>:role/<name>` (the `arn` output of a Role)"
                )
            );
        }
        assert!(role_arn(&json!(12)).is_err());
    }

    #[test]
    fn resource_id_wants_the_prefix_and_letters_and_digits() {
        assert!(resource_id(&json!("pl-63a5400a"), "pl-", "a prefix list").is_ok());
        assert!(resource_id(&json!("pl-"), "pl-", "a prefix list").is_err());
        assert!(resource_id(&json!("pl-a_b"), "pl-", "a prefix list").is_err());
        assert_eq!(
            resource_id(&json!("rtb-1"), "pl-", "a prefix list").expect_err("wrong kind"),
            "\"rtb-1\" is not a prefix list id; expected `pl-` followed by letters and digits"
        );
    }

    #[test]
    fn vpc_id_wants_vpc_prefix() {
        assert!(vpc_id(&json!("vpc-0123456789abcdef0")).is_ok());
        assert_eq!(
            vpc_id(&json!("subnet-1")).expect_err("wrong kind"),
            "\"subnet-1\" is not a VPC id; expected `vpc-` followed by letters and digits"
        );
        assert!(vpc_id(&json!("vpc-")).is_err());
    }

    #[test]
    fn subnet_id_wants_subnet_prefix() {
        assert!(subnet_id(&json!("subnet-0aaa")).is_ok());
        assert!(subnet_id(&json!("vpc-0aaa"))
            .expect_err("wrong kind")
            .contains("is not a subnet id"));
    }

    #[test]
    fn security_group_id_wants_sg_prefix() {
        assert!(security_group_id(&json!("sg-0abc")).is_ok());
        assert!(security_group_id(&json!("sg-a b"))
            .expect_err("space")
            .contains("is not a security group id; expected `sg-`"));
    }

    #[test]
    fn subnet_ids_checks_every_item() {
        assert!(subnet_ids(&json!(["subnet-1", "subnet-2"])).is_ok());
        assert_eq!(
            subnet_ids(&json!(["subnet-1", "sg-2"])).expect_err("second is a group"),
            "\"sg-2\" is not a subnet id; expected `subnet-` followed by letters and digits"
        );
    }

    #[test]
    fn security_group_ids_checks_every_item() {
        assert!(security_group_ids(&json!(["sg-1", "sg-2"])).is_ok());
        assert!(security_group_ids(&json!(["sg-1", "subnet-2"])).is_err());
        assert!(security_group_ids(&json!([])).is_ok());
    }

    #[test]
    fn sagemaker_name_follows_aws_pattern() {
        assert!(sagemaker_name(&json!("ml-studio-1")).is_ok());
        assert!(sagemaker_name(&json!("a".repeat(63))).is_ok());
        for wrong in ["", "-model", "model-", "under_score", &"a".repeat(64)] {
            assert!(
                sagemaker_name(&json!(wrong))
                    .expect_err(wrong)
                    .contains("is not a SageMaker name; use 1 to 63 letters, digits and hyphens"),
                "{wrong}"
            );
        }
    }

    #[test]
    fn organizational_unit_id_wants_ou_a_root_part_and_a_unit_part() {
        assert!(organizational_unit_id(&json!("ou-ab12-cd34ef56")).is_ok());
        assert!(organizational_unit_id(&json!("ou-laig-niutn2gb")).is_ok());
        for wrong in [
            "",
            "ou-ab12",
            "ou-ab1-cd34ef56",
            "ou-ab12-cd34ef5",
            "ou-AB12-cd34ef56",
            "r-ab12",
            "ou-ab12-cd34ef56-",
            "ab12-cd34ef56",
        ] {
            assert!(
                organizational_unit_id(&json!(wrong))
                    .expect_err(wrong)
                    .starts_with(&format!("{wrong:?} is not an organizational unit id; expected `ou-")),
                "{wrong}"
            );
        }
        assert!(organizational_unit_id(&json!(7)).is_err());
    }

    #[test]
    fn each_applies_to_lists_and_lone_values() {
        assert!(each(&json!("vpc-1"), vpc_id).is_ok());
        assert!(each(&json!(["vpc-1", "vpc-2"]), vpc_id).is_ok());
        assert!(each(&json!(["vpc-1", "x"]), vpc_id).is_err());
    }
}
