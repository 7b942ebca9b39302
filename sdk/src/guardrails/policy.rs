//! Reading policy documents: which statements allow or deny an action on a resource to a principal,
//! and under which VPC-endpoint conditions. Values are read as [`super::view`] rewrites them, so a
//! role named by reference and the role itself compare equal.

use palisade_security::policy_document::{account_root_arn, Effect, Principal, Statement};
use serde_json::Value as Json;

use super::view::Input;

/// The condition key that names the VPC endpoint a request came through.
pub(super) const SOURCE_VPCE: &str = "aws:sourceVpce";

/// The condition key that is true when an AWS service calls on a caller's behalf.
pub(super) const VIA_AWS_SERVICE: &str = "aws:ViaAWSService";

/// The statements of the policy in `input`; none when it is absent or not a policy document (the
/// provider's Check refuses those).
pub(super) fn statements(input: &Input) -> Vec<Statement> {
    match input {
        Input::Known(json) => parse(json),
        _ => Vec::new(),
    }
}

/// The statements of a policy document given as JSON (an object, or a string of one); `Version` may
/// be left out, as IAM allows. A statement that does not parse is skipped.
pub(super) fn parse(json: &Json) -> Vec<Statement> {
    let Ok(document) = palisade_provider_kit::policy::parse(json) else {
        return Vec::new();
    };
    let statements = match document.get("Statement") {
        Some(Json::Array(items)) => items.clone(),
        Some(one @ Json::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    statements
        .into_iter()
        .filter_map(|s| serde_json::from_value(s).ok())
        .collect()
}

/// Whether IAM pattern `pattern` (with `*` and `?`) matches `text`.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// Whether `text` holds an IAM wildcard.
pub(super) fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?'])
}

/// Whether the statement covers `action` (actions compare without regard to case).
pub(super) fn covers_action(statement: &Statement, action: &str) -> bool {
    let action = action.to_ascii_lowercase();
    let matches = |patterns: &Vec<String>| patterns.iter().any(|p| glob(&p.to_ascii_lowercase(), &action));
    match (&statement.action, &statement.not_action) {
        (Some(actions), _) => matches(actions),
        (None, Some(excluded)) => !matches(excluded),
        (None, None) => false,
    }
}

/// Whether the statement covers `resource` (a statement without a resource, as in key and trust
/// policies' principals-only form, covers the resource the policy is attached to).
pub(super) fn covers_resource(statement: &Statement, resource: &str) -> bool {
    match (&statement.resource, &statement.not_resource) {
        (Some(patterns), _) => patterns.iter().any(|p| glob(p, resource)),
        (None, Some(excluded)) => !excluded.iter().any(|p| glob(p, resource)),
        (None, None) => true,
    }
}

/// Whether the statement applies to everyone (`"*"`, or `{"AWS": "*"}`).
pub(super) fn applies_to_everyone(statement: &Statement) -> bool {
    match &statement.principal {
        Some(Principal::Everyone) => true,
        Some(Principal::Ids(ids)) => ids.get("AWS").is_some_and(|arns| arns.iter().any(|a| a == "*")),
        None => false,
    }
}

/// The AWS principals the statement names.
fn aws_principals(statement: &Statement) -> &[String] {
    match &statement.principal {
        Some(Principal::Ids(ids)) => ids.get("AWS").map(Vec::as_slice).unwrap_or_default(),
        _ => &[],
    }
}

/// Whether the statement names role `role_arn` of account `account_id` as a principal: by its ARN,
/// or the account as a whole (its root or its id), which lets the account's IAM decide.
pub(super) fn names_role(statement: &Statement, role_arn: &str, account_id: &str) -> bool {
    let root = account_root_arn(account_id);
    aws_principals(statement)
        .iter()
        .any(|p| p == role_arn || *p == root || p == account_id)
}

/// Whether the statement names account `account_id` or one of its principals.
pub(super) fn names_account(statement: &Statement, account_id: &str) -> bool {
    let prefix = format!("arn:aws:iam::{account_id}:");
    aws_principals(statement)
        .iter()
        .any(|p| p == account_id || p.starts_with(&prefix))
}

/// Whether the statement names service `service` (`sagemaker.amazonaws.com`) as a principal.
pub(super) fn names_service(statement: &Statement, service: &str) -> bool {
    matches!(&statement.principal, Some(Principal::Ids(ids))
        if ids.get("Service").is_some_and(|services| services.iter().any(|s| s == service)))
}

/// An Allow statement covering `action` on `resource`.
pub(super) fn allows(statement: &Statement, action: &str, resource: &str) -> bool {
    statement.effect == Effect::Allow && covers_action(statement, action) && covers_resource(statement, resource)
}

/// A Deny statement covering `action` on `resource`.
pub(super) fn denies(statement: &Statement, action: &str, resource: &str) -> bool {
    statement.effect == Effect::Deny && covers_action(statement, action) && covers_resource(statement, resource)
}

/// The values of condition `key` under any of `operators` (keys compare without regard to case,
/// as IAM's do).
pub(super) fn condition_values<'s>(statement: &'s Statement, operators: &[&str], key: &str) -> Option<&'s [String]> {
    operators.iter().find_map(|operator| {
        statement
            .condition
            .get(*operator)?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, values)| values.0.as_slice())
    })
}

/// The VPC endpoints a Deny statement exempts: the values of its `aws:sourceVpce` "not equals"
/// condition, if it has one.
pub(super) fn exempt_endpoints(statement: &Statement) -> Option<&[String]> {
    if statement.effect != Effect::Deny {
        return None;
    }
    condition_values(
        statement,
        &[
            "StringNotEquals",
            "StringNotEqualsIfExists",
            "StringNotLike",
            "StringNotLikeIfExists",
        ],
        SOURCE_VPCE,
    )
}

/// Whether a Deny statement spares requests AWS services make on a caller's behalf
/// (`aws:ViaAWSService` false), so that S3 or EFS can still use a key for the caller.
pub(super) fn spares_aws_services(statement: &Statement) -> bool {
    condition_values(statement, &["Bool", "BoolIfExists"], VIA_AWS_SERVICE)
        .is_some_and(|values| values.iter().all(|v| v.eq_ignore_ascii_case("false")))
}

/// A statement as messages name it: its Sid, or its position.
pub(super) fn statement_name(statement: &Statement, index: usize) -> String {
    match &statement.sid {
        Some(sid) => format!("statement `{sid}`"),
        None => format!("Statement[{index}]"),
    }
}

/// Whether IAM resource pattern `pattern`, which has a wildcard, could match the ARN of a role.
pub(super) fn could_match_a_role(pattern: &str) -> bool {
    const IAM: &str = "arn:aws:iam::";
    let fixed = &pattern[..pattern.find(['*', '?']).unwrap_or(pattern.len())];
    if IAM.starts_with(fixed) {
        return true;
    }
    let Some(rest) = fixed.strip_prefix(IAM) else {
        return false;
    };
    match rest.split_once(':') {
        None => true,
        Some((_, resource)) => "role/".starts_with(resource) || resource.starts_with("role/"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn iam_wildcards_match_as_aws_reads_them() {
        assert!(glob("*", "anything"));
        assert!(glob("s3:GetObject*", "s3:GetObjectVersion"));
        assert!(glob("arn:aws:s3:::b/*", "arn:aws:s3:::b/churn/model.tar.gz"));
        assert!(glob("kms:?ecrypt", "kms:Decrypt"));
        assert!(!glob("arn:aws:s3:::b/*", "arn:aws:s3:::bc/x"));
        assert!(!glob("s3:Get*", "s3:PutObject"));
    }

    #[test]
    fn only_patterns_that_reach_roles_count_as_passing_any_role() {
        assert!(could_match_a_role("*"));
        assert!(could_match_a_role("arn:aws:iam::*:role/x"));
        assert!(could_match_a_role("arn:aws:iam::111111111111:role/mlops-*"));
        assert!(could_match_a_role("arn:aws:iam::111111111111:*"));
        assert!(!could_match_a_role("arn:aws:s3:::bucket/*"));
        assert!(!could_match_a_role("arn:aws:iam::111111111111:policy/*"));
    }

    #[test]
    fn statements_are_read_for_actions_resources_principals_and_endpoint_conditions() {
        let statements = parse(&json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "Deny", "Effect": "Deny", "Principal": "*", "Action": ["kms:Decrypt", "kms:GenerateDataKey*"], "Resource": "*",
             "Condition": {"StringNotEquals": {"aws:SourceVpce": ["vpce-1"]}, "BoolIfExists": {"aws:ViaAWSService": "false"}}},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:Decrypt", "Resource": "*"},
        ]}));
        assert!(denies(&statements[0], "kms:GenerateDataKeyWithoutPlaintext", "*"));
        assert_eq!(exempt_endpoints(&statements[0]), Some(&["vpce-1".to_string()][..]));
        assert!(spares_aws_services(&statements[0]));
        assert!(applies_to_everyone(&statements[0]));
        assert!(allows(&statements[1], "KMS:decrypt", "*"));
        assert!(names_role(
            &statements[1],
            "arn:aws:iam::222222222222:role/r",
            "222222222222"
        ));
        assert!(!names_role(
            &statements[1],
            "arn:aws:iam::333333333333:role/r",
            "333333333333"
        ));
        assert_eq!(statement_name(&statements[1], 1), "Statement[1]");
    }
}
