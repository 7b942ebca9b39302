//! Ownership tags: every taggable resource carries its URN and stack, so that it can be found again
//! (after an interrupted create, or for import) even where AWS ignores idempotency tokens.

use std::collections::BTreeMap;

/// Tag holding the resource's Pulumi URN.
pub const URN_TAG: &str = "palisade:urn";
/// Tag holding the stack name from the URN.
pub const STACK_TAG: &str = "palisade:stack";
/// Prefix reserved for ownership tags.
pub const RESERVED_PREFIX: &str = "palisade:";

/// The stack part of a URN (`urn:pulumi:<stack>::<project>::<type>::<name>`).
pub fn stack_of(urn: &str) -> &str {
    urn.strip_prefix("urn:pulumi:")
        .and_then(|rest| rest.split("::").next())
        .unwrap_or("")
}

/// The user's tags merged with the ownership tags (ownership tags win).
pub fn with_ownership(urn: &str, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut all = user.clone();
    all.insert(URN_TAG.to_string(), urn.to_string());
    all.insert(STACK_TAG.to_string(), stack_of(urn).to_string());
    all
}

/// The tags a user set, without the ownership tags and AWS's own `aws:` tags.
pub fn user_tags<I, K, V>(all: I) -> BTreeMap<String, String>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    all.into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .filter(|(k, _)| !k.starts_with(RESERVED_PREFIX) && !k.starts_with("aws:"))
        .collect()
}

/// Keys of `old` that `new` no longer has: the tags an update removes.
pub fn removed_keys(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<String> {
    old.keys().filter(|k| !new.contains_key(*k)).cloned().collect()
}

/// Tags of `new` that `old` lacks or holds with another value: the tags an update writes.
pub fn changed_tags(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    new.iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Validator for a `tags` property: keys must not use the reserved prefixes.
pub fn validate_tags(tags: &serde_json::Value) -> Result<(), String> {
    let Some(map) = tags.as_object() else {
        return Ok(());
    };
    for key in map.keys() {
        if key.starts_with(RESERVED_PREFIX) || key.starts_with("aws:") {
            return Err(format!(
                "tag key {key:?} uses a reserved prefix (`{RESERVED_PREFIX}` is Palisade's, `aws:` is AWS's); rename it"
            ));
        }
        if key.is_empty() || key.len() > 128 {
            return Err(format!("tag key {key:?} must be 1 to 128 characters long"));
        }
    }
    for (key, value) in map {
        if value.as_str().is_some_and(|v| v.len() > 256) {
            return Err(format!("the value of tag {key:?} is longer than 256 characters"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_update_removes_the_tags_that_went_and_writes_those_added_or_changed() {
        let tags = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        let old = tags(&[("team", "ml"), ("cost", "1"), ("keep", "x")]);
        let new = tags(&[("cost", "2"), ("keep", "x"), ("owner", "ana")]);
        assert_eq!(removed_keys(&old, &new), vec!["team".to_string()]);
        assert_eq!(changed_tags(&old, &new), tags(&[("cost", "2"), ("owner", "ana")]));
        assert!(removed_keys(&new, &new).is_empty() && changed_tags(&new, &new).is_empty());
    }

    #[test]
    fn ownership_tags_carry_urn_and_stack() {
        let urn = "urn:pulumi:dev::secure-mlops::palisade-network:index:Vpc::main";
        let user = BTreeMap::from([("team".to_string(), "ml".to_string())]);
        let all = with_ownership(urn, &user);
        assert_eq!(all[URN_TAG], urn);
        assert_eq!(all[STACK_TAG], "dev");
        assert_eq!(all["team"], "ml");
        assert_eq!(user_tags(all), user);
    }

    #[test]
    fn reserved_tag_keys_are_refused() {
        assert!(validate_tags(&json!({"palisade:urn": "x"})).is_err());
        assert!(validate_tags(&json!({"aws:cloudformation": "x"})).is_err());
        assert!(validate_tags(&json!({"team": "ml"})).is_ok());
    }
}
