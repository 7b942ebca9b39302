//! IAM policy documents as property values: validated against the policy grammar and compared by
//! meaning, so that formatting, key order, statement and action order, or AWS's read-back form never
//! produce a diff.
//!
//! A policy property holds either a JSON object or a JSON string of one (as AWS returns it).

use serde_json::{Map, Value as Json};

const STATEMENT_KEYS: [&str; 10] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
    "Id",
];

/// The policy document in `value`, parsed if it is a JSON string.
pub fn parse(value: &Json) -> Result<Json, String> {
    match value {
        Json::String(text) => serde_json::from_str(text).map_err(|e| {
            format!("the policy is not valid JSON ({e}); give a policy document, as an object or its JSON text")
        }),
        other => Ok(other.clone()),
    }
}

/// A policy property as the text AWS takes (objects are serialized; strings are sent as given).
pub fn to_text(value: &Json) -> String {
    match value {
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// Checks a policy document against the IAM policy grammar; the error names the part at fault.
pub fn validate(value: &Json) -> Result<(), String> {
    let document = parse(value)?;
    let Json::Object(top) = &document else {
        return Err("a policy document is a JSON object with `Version` and `Statement`".into());
    };
    for key in top.keys() {
        if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
            return Err(format!(
                "unknown policy key `{key}`; expected `Version`, `Id` and `Statement`"
            ));
        }
    }
    match top.get("Version") {
        None | Some(Json::String(_)) if version_ok(top.get("Version")) => {}
        _ => return Err("`Version` must be \"2012-10-17\" (or the legacy \"2008-10-17\")".into()),
    }
    let statements = match top.get("Statement") {
        Some(Json::Array(items)) if !items.is_empty() => items.clone(),
        Some(object @ Json::Object(_)) => vec![object.clone()],
        _ => return Err("`Statement` must be a statement object or a non-empty list of them".into()),
    };
    for (i, statement) in statements.iter().enumerate() {
        validate_statement(statement).map_err(|reason| format!("Statement[{i}]: {reason}"))?;
    }
    Ok(())
}

fn version_ok(version: Option<&Json>) -> bool {
    matches!(version.and_then(Json::as_str), None | Some("2012-10-17" | "2008-10-17"))
}

fn validate_statement(statement: &Json) -> Result<(), String> {
    let Json::Object(fields) = statement else {
        return Err("a statement must be an object".into());
    };
    for key in fields.keys() {
        if !STATEMENT_KEYS.contains(&key.as_str()) {
            return Err(format!("unknown statement key `{key}`"));
        }
    }
    if fields.get("Sid").is_some_and(|sid| !sid.is_string()) {
        return Err("`Sid` must be a string, e.g. \"ReadReleases\"".into());
    }
    match fields.get("Effect").and_then(Json::as_str) {
        Some("Allow" | "Deny") => {}
        _ => return Err("`Effect` must be \"Allow\" or \"Deny\"".into()),
    }
    exactly_one_of(fields, "Action", "NotAction", true)?;
    exactly_one_of(fields, "Resource", "NotResource", false)?;
    exactly_one_of(fields, "Principal", "NotPrincipal", false)?;
    for key in ["Action", "NotAction", "Resource", "NotResource"] {
        if let Some(value) = fields.get(key) {
            strings(value).ok_or_else(|| format!("`{key}` must be a string or a list of strings"))?;
        }
    }
    for key in ["Principal", "NotPrincipal"] {
        match fields.get(key) {
            None | Some(Json::String(_)) if fields.get(key).and_then(Json::as_str).is_none_or(|p| p == "*") => {}
            Some(Json::Object(principals)) => {
                for (kind, ids) in principals {
                    if !matches!(kind.as_str(), "AWS" | "Service" | "Federated" | "CanonicalUser") {
                        return Err(format!(
                            "`{key}` kind `{kind}` is not one of AWS, Service, Federated, CanonicalUser"
                        ));
                    }
                    strings(ids).ok_or_else(|| format!("`{key}.{kind}` must be a string or a list of strings"))?;
                }
            }
            _ => return Err(format!("`{key}` must be \"*\" or an object such as {{\"AWS\": [...]}}")),
        }
    }
    if let Some(condition) = fields.get("Condition") {
        let Json::Object(operators) = condition else {
            return Err("`Condition` must be an object of operators".into());
        };
        for (operator, keys) in operators {
            let Json::Object(keys) = keys else {
                return Err(format!("`Condition.{operator}` must be an object of condition keys"));
            };
            for (key, values) in keys {
                let scalar = |v: &Json| matches!(v, Json::String(_) | Json::Bool(_) | Json::Number(_));
                let ok = scalar(values) || matches!(values, Json::Array(items) if items.iter().all(scalar));
                if !ok {
                    return Err(format!(
                        "`Condition.{operator}.{key}` must be a value or a list of values"
                    ));
                }
            }
        }
    }
    Ok(())
}

fn exactly_one_of(fields: &Map<String, Json>, a: &str, b: &str, required: bool) -> Result<(), String> {
    match (fields.contains_key(a), fields.contains_key(b)) {
        (true, true) => Err(format!("give `{a}` or `{b}`, not both")),
        (false, false) if required => Err(format!("`{a}` (or `{b}`) is required")),
        _ => Ok(()),
    }
}

fn strings(value: &Json) -> Option<Vec<String>> {
    match value {
        Json::String(s) => Some(vec![s.clone()]),
        Json::Array(items) => items.iter().map(|i| i.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

/// The canonical form of a policy: one-element lists and strings alike, lists sorted and deduplicated,
/// statements sorted, condition values as strings. `None` when it is not a policy document.
pub fn canonical(value: &Json) -> Option<Json> {
    let document = parse(value).ok()?;
    let Json::Object(top) = document else {
        return None;
    };
    let statements = match top.get("Statement")? {
        Json::Array(items) => items.clone(),
        object => vec![object.clone()],
    };
    let mut canonical_statements: Vec<Json> = statements.iter().map(canonical_statement).collect::<Option<_>>()?;
    canonical_statements.sort_by_key(|s| s.to_string());
    canonical_statements.dedup();
    let mut out = Map::new();
    if let Some(version) = top.get("Version") {
        out.insert("Version".into(), version.clone());
    }
    if let Some(id) = top.get("Id") {
        out.insert("Id".into(), id.clone());
    }
    out.insert("Statement".into(), Json::Array(canonical_statements));
    Some(Json::Object(out))
}

fn canonical_statement(statement: &Json) -> Option<Json> {
    let Json::Object(fields) = statement else {
        return None;
    };
    let mut out = Map::new();
    for (key, value) in fields {
        let canonical = match key.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => sorted_strings(value)?,
            "Principal" | "NotPrincipal" => match value {
                Json::Object(principals) => Json::Object(
                    principals
                        .iter()
                        .map(|(k, v)| Some((k.clone(), sorted_strings(v)?)))
                        .collect::<Option<_>>()?,
                ),
                other => other.clone(),
            },
            "Condition" => {
                let Json::Object(operators) = value else {
                    return None;
                };
                Json::Object(
                    operators
                        .iter()
                        .map(|(operator, keys)| {
                            let Json::Object(keys) = keys else {
                                return None;
                            };
                            let keys = keys
                                .iter()
                                .map(|(k, v)| Some((k.clone(), sorted_condition_values(v)?)))
                                .collect::<Option<Map<_, _>>>()?;
                            Some((operator.clone(), Json::Object(keys)))
                        })
                        .collect::<Option<_>>()?,
                )
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), canonical);
    }
    Some(Json::Object(out))
}

fn sorted_strings(value: &Json) -> Option<Json> {
    let mut items = strings(value)?;
    items.sort();
    items.dedup();
    Some(Json::Array(items.into_iter().map(Json::String).collect()))
}

fn sorted_condition_values(value: &Json) -> Option<Json> {
    let text = |v: &Json| match v {
        Json::String(s) => Some(s.clone()),
        Json::Bool(b) => Some(b.to_string()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let mut items: Vec<String> = match value {
        Json::Array(values) => values.iter().map(text).collect::<Option<_>>()?,
        other => vec![text(other)?],
    };
    items.sort();
    items.dedup();
    Some(Json::Array(items.into_iter().map(Json::String).collect()))
}

/// Whether two policies mean the same (for `#[property(equivalent = policy::same)]`).
pub fn same(a: &Json, b: &Json) -> bool {
    match (canonical(a), canonical(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn endpoint_policy() -> Json {
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "OnlyOurBuckets",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject", "s3:PutObject"],
                "Resource": ["arn:aws:s3:::data/*", "arn:aws:s3:::models/*"],
                "Condition": {"Bool": {"aws:SecureTransport": true}},
            }],
        })
    }

    #[test]
    fn accepts_a_policy_as_object_or_string() {
        assert_eq!(validate(&endpoint_policy()), Ok(()));
        assert_eq!(validate(&Json::String(endpoint_policy().to_string())), Ok(()));
    }

    #[test]
    fn refuses_what_iam_would_refuse_and_says_where() {
        let cases = [
            (json!("{not json"), "not valid JSON"),
            (json!({"Statement": []}), "non-empty list"),
            (
                json!({"Version": "2020-01-01", "Statement": {"Effect": "Allow", "Action": "*"}}),
                "`Version`",
            ),
            (
                json!({"Statement": [{"Effect": "Permit", "Action": "*"}]}),
                "Statement[0]: `Effect`",
            ),
            (
                json!({"Statement": [{"Effect": "Allow"}]}),
                "Statement[0]: `Action` (or `NotAction`) is required",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "*", "NotAction": "*"}]}),
                "not both",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "*", "Principal": {"Group": "x"}}]}),
                "kind `Group`",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "*", "Resources": "*"}]}),
                "unknown statement key `Resources`",
            ),
            (
                json!({"Statement": [{"Effect": "Allow", "Action": "*", "Condition": {"Bool": "x"}}]}),
                "`Condition.Bool`",
            ),
            (
                json!({"Statement": [{"Sid": 7, "Effect": "Allow", "Action": "*"}]}),
                "Statement[0]: `Sid` must be a string",
            ),
        ];
        for (policy, expected) in cases {
            let error = validate(&policy).expect_err("invalid");
            assert!(error.contains(expected), "{policy}: {error}");
        }
    }

    #[test]
    fn formatting_and_order_never_make_a_difference() {
        let reordered = json!({
            "Statement": {
                "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                "Resource": ["arn:aws:s3:::models/*", "arn:aws:s3:::data/*"],
                "Action": ["s3:PutObject", "s3:GetObject", "s3:GetObject"],
                "Principal": "*",
                "Effect": "Allow",
                "Sid": "OnlyOurBuckets",
            },
            "Version": "2012-10-17",
        });
        assert!(same(&endpoint_policy(), &reordered));
        let as_aws_returns_it = Json::String(serde_json::to_string_pretty(&reordered).expect("json"));
        assert!(same(&endpoint_policy(), &as_aws_returns_it));
        let single_action = json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]});
        let listed_action = json!({"Statement": [{"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}]});
        assert!(same(&single_action, &listed_action));
    }

    #[test]
    fn a_real_change_is_a_difference() {
        let mut narrower = endpoint_policy();
        narrower["Statement"][0]["Action"] = json!(["s3:GetObject"]);
        assert!(!same(&endpoint_policy(), &narrower));
        let mut denied = endpoint_policy();
        denied["Statement"][0]["Effect"] = json!("Deny");
        assert!(!same(&endpoint_policy(), &denied));
    }
}
