//! References between resources: one resource's output used in another's input, also across stacks.
//!
//! Typed arguments stay plain Rust types: a reference is a marker string,
//! `${palisade:<urn>#<property>}`, that a [`crate::stack::Resource`] hands out, one typed accessor
//! per declared output (`vpc.vpc_id()`; the format is the kit's, `palisade_provider_kit::refs`). The engine finds the
//! markers to order the graph, and replaces them with the output's value before each provider call,
//! or with "unknown" while the value is not known yet (a preview of a resource still to be created).
//! A marker may also sit inside a longer string (`arn:aws:s3:::${...}/*`).

use std::collections::BTreeSet;

use palisade_provider_kit::value::{PropertyMap, PropertyValue};

pub use palisade_provider_kit::refs::marker;
use palisade_provider_kit::refs::MARKER_OPEN as OPEN;

/// Each `(urn, property)` referenced in `text`, with the marker's byte range.
fn markers(text: &str) -> Vec<(std::ops::Range<usize>, &str, &str)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find(OPEN).map(|i| i + from) {
        let body_start = start + OPEN.len();
        let Some(end) = text[body_start..].find('}').map(|i| i + body_start) else {
            break;
        };
        if let Some((urn, property)) = text[body_start..end].rsplit_once('#') {
            found.push((start..end + 1, urn, property));
        }
        from = end + 1;
    }
    found
}

/// The URNs a property map refers to.
pub fn referenced_urns(map: &PropertyMap) -> BTreeSet<String> {
    references(map).into_iter().map(|(urn, _)| urn).collect()
}

/// Each `(urn, property)` a property map refers to, in order of appearance.
pub fn references(map: &PropertyMap) -> Vec<(String, String)> {
    fn walk(value: &PropertyValue, out: &mut Vec<(String, String)>) {
        match value {
            PropertyValue::String(text) => out.extend(
                markers(text)
                    .into_iter()
                    .map(|(_, urn, property)| (urn.to_string(), property.to_string())),
            ),
            PropertyValue::Array(items) => items.iter().for_each(|v| walk(v, out)),
            PropertyValue::Object(map) | PropertyValue::Opaque(map) => map.values().for_each(|v| walk(v, out)),
            PropertyValue::Secret(inner) => walk(inner, out),
            _ => {}
        }
    }
    let mut out = Vec::new();
    map.values().for_each(|v| walk(v, &mut out));
    out
}

/// `map` with every marker replaced by the value `lookup` gives (unknown when it gives none). A
/// secret output stays secret where it is used.
pub fn resolve(map: &PropertyMap, lookup: &dyn Fn(&str, &str) -> Option<PropertyValue>) -> PropertyMap {
    fn resolve_value(value: &PropertyValue, lookup: &dyn Fn(&str, &str) -> Option<PropertyValue>) -> PropertyValue {
        match value {
            PropertyValue::String(text) => {
                let found = markers(text);
                if found.is_empty() {
                    return value.clone();
                }
                if found.len() == 1 && found[0].0 == (0..text.len()) {
                    return lookup(found[0].1, found[0].2).unwrap_or(PropertyValue::Unknown);
                }
                // Interpolation: every part must be a known string.
                let mut out = String::new();
                let mut secret = false;
                let mut last = 0;
                for (range, urn, property) in found {
                    out.push_str(&text[last..range.start]);
                    match lookup(urn, property) {
                        Some(PropertyValue::String(s)) => out.push_str(&s),
                        Some(PropertyValue::Secret(inner)) => match *inner {
                            PropertyValue::String(s) => {
                                secret = true;
                                out.push_str(&s);
                            }
                            _ => return PropertyValue::Unknown,
                        },
                        Some(PropertyValue::Number(n)) => out.push_str(&n.to_string()),
                        _ => return PropertyValue::Unknown,
                    }
                    last = range.end;
                }
                out.push_str(&text[last..]);
                let resolved = PropertyValue::String(out);
                if secret {
                    PropertyValue::Secret(Box::new(resolved))
                } else {
                    resolved
                }
            }
            PropertyValue::Array(items) => {
                PropertyValue::Array(items.iter().map(|v| resolve_value(v, lookup)).collect())
            }
            PropertyValue::Object(map) => {
                PropertyValue::Object(map.iter().map(|(k, v)| (k.clone(), resolve_value(v, lookup))).collect())
            }
            PropertyValue::Secret(inner) => PropertyValue::Secret(Box::new(resolve_value(inner, lookup))),
            other => other.clone(),
        }
    }
    map.iter().map(|(k, v)| (k.clone(), resolve_value(v, lookup))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_provider_kit::value::map_from_json;
    use serde_json::json;

    const VPC: &str = "urn:pulumi:dev::p::palisade-network:index:Vpc::main";

    fn lookup(urn: &str, property: &str) -> Option<PropertyValue> {
        (urn == VPC && property == "vpcId").then(|| PropertyValue::String("vpc-1".into()))
    }

    #[test]
    fn whole_and_embedded_markers_resolve() {
        let map = map_from_json(&json!({
            "vpcId": marker(VPC, "vpcId"),
            "arn": format!("arn:aws:ec2:::vpc/{}", marker(VPC, "vpcId")),
            "ids": [marker(VPC, "vpcId"), "other"],
        }));
        assert_eq!(
            referenced_urns(&map).into_iter().collect::<Vec<_>>(),
            vec![VPC.to_string()]
        );
        let resolved = resolve(&map, &lookup);
        assert_eq!(resolved["vpcId"], PropertyValue::String("vpc-1".into()));
        assert_eq!(resolved["arn"], PropertyValue::String("arn:aws:ec2:::vpc/vpc-1".into()));
        assert_eq!(
            resolved["ids"],
            PropertyValue::Array(vec![
                PropertyValue::String("vpc-1".into()),
                PropertyValue::String("other".into())
            ])
        );
    }

    #[test]
    fn values_not_known_yet_are_unknown() {
        let map = map_from_json(&json!({"a": marker(VPC, "arn"), "b": format!("x-{}", marker(VPC, "arn"))}));
        let resolved = resolve(&map, &lookup);
        assert_eq!(resolved["a"], PropertyValue::Unknown);
        assert_eq!(resolved["b"], PropertyValue::Unknown);
    }
}
