//! The default Diff: compare old and new inputs property by property, by the declared rules.
//!
//! A property's declaration says whether a change replaces the resource and how values compare
//! (exactly, as a set, or by a property-specific equivalence). Null and absent are the same. A new
//! value that is not known yet counts as a change. A replacement of a resource whose physical name the
//! user fixed must delete the old one first, since both cannot exist under one name.

use std::collections::BTreeMap;

use crate::check::DEFAULTS_KEY;
use crate::resource::AutoName;
use crate::schema::ObjectSpec;
use crate::value::{PropertyMap, PropertyValue};

/// How one property changed (Pulumi's `PropertyDiff.Kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DiffKind {
    /// Added.
    Add,
    /// Added, and that forces replacement.
    AddReplace,
    /// Removed.
    Delete,
    /// Removed, and that forces replacement.
    DeleteReplace,
    /// Changed.
    Update,
    /// Changed, and that forces replacement.
    UpdateReplace,
}

impl DiffKind {
    /// Whether this change forces replacement.
    pub fn replaces(self) -> bool {
        matches!(
            self,
            DiffKind::AddReplace | DiffKind::DeleteReplace | DiffKind::UpdateReplace
        )
    }
}

/// The outcome of comparing old and new inputs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    /// Changed properties and how.
    pub detailed: BTreeMap<String, DiffKind>,
    /// The old resource must be deleted before its replacement is created.
    pub delete_before_replace: bool,
}

impl Diff {
    /// Whether anything changed.
    pub fn has_changes(&self) -> bool {
        !self.detailed.is_empty()
    }

    /// Properties whose change forces replacement.
    pub fn replaces(&self) -> Vec<String> {
        self.detailed
            .iter()
            .filter(|(_, k)| k.replaces())
            .map(|(p, _)| p.clone())
            .collect()
    }
}

/// Compares `olds` (old inputs) with `news` (new checked inputs) by the declarations in `spec`.
/// Properties in `ignore_changes` are never reported.
pub fn diff_inputs(
    spec: &ObjectSpec,
    autoname: Option<AutoName>,
    olds: &PropertyMap,
    news: &PropertyMap,
    ignore_changes: &[String],
) -> Diff {
    let mut detailed = BTreeMap::new();
    for property in &spec.properties {
        if ignore_changes.iter().any(|ignored| ignored == property.name) {
            continue;
        }
        let old = present(olds.get(property.name));
        let new = present(news.get(property.name));
        let kind = match (old, new) {
            (None, None) => continue,
            (None, Some(_)) => DiffKind::Add,
            (Some(_), None) => DiffKind::Delete,
            (Some(old), Some(new)) => {
                let same = match (old.reveal().to_json(), new.reveal().to_json()) {
                    (Some(old), Some(new)) => property.compare.same(&old, &new),
                    // Unknown on either side: it may change.
                    _ => false,
                };
                if same {
                    continue;
                }
                DiffKind::Update
            }
        };
        let kind = match (kind, property.replace) {
            (DiffKind::Add, true) => DiffKind::AddReplace,
            (DiffKind::Delete, true) => DiffKind::DeleteReplace,
            (DiffKind::Update, true) => DiffKind::UpdateReplace,
            (kind, _) => kind,
        };
        detailed.insert(property.name.to_string(), kind);
    }

    let replacing = detailed.values().any(|k| k.replaces());
    let delete_before_replace = replacing && autoname.is_some_and(|auto| user_named(&auto, news));
    Diff {
        detailed,
        delete_before_replace,
    }
}

fn present(value: Option<&PropertyValue>) -> Option<&PropertyValue> {
    value.filter(|v| !matches!(v, PropertyValue::Null))
}

/// True when the physical name is the user's own, not one Check chose.
fn user_named(auto: &AutoName, news: &PropertyMap) -> bool {
    let chosen_by_check = match news.get(DEFAULTS_KEY) {
        Some(PropertyValue::Array(items)) => items.contains(&PropertyValue::String(auto.property.to_string())),
        _ => false,
    };
    present(news.get(auto.property)).is_some() && !chosen_by_check
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Properties;
    use crate::value::map_from_json;
    use serde::{Deserialize, Serialize};
    use serde_json::{json, Value as Json};

    fn same_ignoring_case(a: &Json, b: &Json) -> bool {
        a.as_str().map(str::to_lowercase) == b.as_str().map(str::to_lowercase)
    }

    #[derive(Debug, Clone, Serialize, Deserialize, Properties)]
    #[serde(rename_all = "camelCase")]
    struct Args {
        #[property(replace)]
        name: Option<String>,
        #[property(replace)]
        cidr_block: Option<String>,
        description: Option<String>,
        #[property(set)]
        ports: Option<Vec<u16>>,
        #[property(equivalent = same_ignoring_case)]
        mode: Option<String>,
    }

    const AUTO: Option<AutoName> = Some(AutoName {
        property: "name",
        max_len: 64,
        lowercase: false,
    });

    fn diff(old: Json, new: Json) -> Diff {
        diff_inputs(
            &Args::object_spec(),
            AUTO,
            &map_from_json(&old),
            &map_from_json(&new),
            &[],
        )
    }

    #[test]
    fn no_change_is_no_diff_even_with_nulls_and_secrets() {
        let d = diff(json!({"description": "x", "ports": null}), json!({"description": "x"}));
        assert!(!d.has_changes());
        let mut news = map_from_json(&json!({}));
        news.insert(
            "description".into(),
            PropertyValue::Secret(Box::new(PropertyValue::String("x".into()))),
        );
        let d = diff_inputs(
            &Args::object_spec(),
            AUTO,
            &map_from_json(&json!({"description": "x"})),
            &news,
            &[],
        );
        assert!(!d.has_changes());
    }

    #[test]
    fn kinds_follow_the_declarations() {
        let d = diff(
            json!({"cidrBlock": "10.0.0.0/16", "description": "a", "mode": "x"}),
            json!({"cidrBlock": "10.1.0.0/16", "ports": [1], "name": "n"}),
        );
        assert_eq!(d.detailed["cidrBlock"], DiffKind::UpdateReplace);
        assert_eq!(d.detailed["description"], DiffKind::Delete);
        assert_eq!(d.detailed["ports"], DiffKind::Add);
        assert_eq!(d.detailed["name"], DiffKind::AddReplace);
        assert_eq!(d.detailed["mode"], DiffKind::Delete);
        assert_eq!(d.replaces(), vec!["cidrBlock".to_string(), "name".to_string()]);
        let d = diff(json!({"cidrBlock": "10.0.0.0/16"}), json!({}));
        assert_eq!(d.detailed["cidrBlock"], DiffKind::DeleteReplace);
    }

    #[test]
    fn sets_and_equivalences_ignore_what_does_not_matter() {
        assert!(!diff(json!({"ports": [1, 2]}), json!({"ports": [2, 1]})).has_changes());
        assert!(!diff(json!({"mode": "VpcOnly"}), json!({"mode": "vpconly"})).has_changes());
        assert_eq!(
            diff(json!({"ports": [1]}), json!({"ports": [1, 3]})).detailed["ports"],
            DiffKind::Update
        );
    }

    #[test]
    fn unknown_new_values_are_changes() {
        let mut news = map_from_json(&json!({}));
        news.insert("cidrBlock".into(), PropertyValue::Unknown);
        let d = diff_inputs(
            &Args::object_spec(),
            AUTO,
            &map_from_json(&json!({"cidrBlock": "x"})),
            &news,
            &[],
        );
        assert_eq!(d.detailed["cidrBlock"], DiffKind::UpdateReplace);
    }

    #[test]
    fn an_unknown_is_a_change_of_its_own_property_only() {
        let olds = map_from_json(&json!({"name": "a", "cidrBlock": "x", "description": "d", "ports": [1, 2]}));
        let mut news = olds.clone();
        news.insert(
            "ports".into(),
            PropertyValue::Array(vec![PropertyValue::Number(1.0), PropertyValue::Unknown]),
        );
        let d = diff_inputs(&Args::object_spec(), AUTO, &olds, &news, &[]);
        assert_eq!(d.detailed, BTreeMap::from([("ports".to_string(), DiffKind::Update)]));
        assert!(!d.delete_before_replace, "no replace, so nothing to delete first");

        news = olds.clone();
        news.insert("description".into(), PropertyValue::Unknown);
        let d = diff_inputs(&Args::object_spec(), AUTO, &olds, &news, &[]);
        assert_eq!(
            d.detailed,
            BTreeMap::from([("description".to_string(), DiffKind::Update)])
        );
        assert!(d.replaces().is_empty());
    }

    #[test]
    fn ignore_changes_hides_a_property() {
        let d = diff_inputs(
            &Args::object_spec(),
            AUTO,
            &map_from_json(&json!({"description": "a"})),
            &map_from_json(&json!({"description": "b"})),
            &["description".to_string()],
        );
        assert!(!d.has_changes());
    }

    #[test]
    fn a_fixed_name_deletes_before_replacing_but_an_autoname_does_not() {
        let fixed = diff(
            json!({"name": "a", "cidrBlock": "x"}),
            json!({"name": "a", "cidrBlock": "y"}),
        );
        assert!(fixed.delete_before_replace);
        let auto = diff(
            json!({"name": "a-1", "cidrBlock": "x", DEFAULTS_KEY: ["name"]}),
            json!({"name": "a-1", "cidrBlock": "y", DEFAULTS_KEY: ["name"]}),
        );
        assert!(!auto.delete_before_replace);
        let update_only = diff(
            json!({"name": "a", "description": "x"}),
            json!({"name": "a", "description": "y"}),
        );
        assert!(!update_only.delete_before_replace);
    }
}
