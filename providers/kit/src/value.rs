//! The property codec: `google.protobuf.Struct` on the wire, [`PropertyValue`] inside.
//!
//! Pulumi encodes secrets, unknowns, output values, resource references, assets and archives as
//! special objects or sentinel strings inside the Struct. Decoding turns them into variants of
//! [`PropertyValue`], so that nothing past this module sees the wire forms; encoding turns them back.
//! Decoding never fails and never panics: anything that is not a special form stays plain data.

use std::collections::{BTreeMap, BTreeSet};

use prost_types::{value::Kind, ListValue, Struct, Value};
use serde_json::{Map, Number, Value as Json};

/// Key that marks a special object.
pub const SIG_KEY: &str = "4dabf18193072939515e22adb298388d";
/// Signature of a secret.
pub const SIG_SECRET: &str = "1b47061264138c4ac30d75fd1eb44270";
/// Signature of an output value.
pub const SIG_OUTPUT: &str = "d0e6a833031e9bbcd3f4e8bde6ca49a4";
/// Signature of a resource reference.
pub const SIG_RESOURCE: &str = "5cf8f73096256a8f31e491e813e4eb8e";
/// Signature of an asset.
pub const SIG_ASSET: &str = "c44067f5952c0a294b673a41bacd8c17";
/// Signature of an archive.
pub const SIG_ARCHIVE: &str = "0def7320c3a5731c473e5ecbe6d01bc7";
/// The string that stands for a value not known until apply.
pub const UNKNOWN: &str = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/// Other sentinels Pulumi uses for unknowns of a given type; all decode to [`PropertyValue::Unknown`].
const UNKNOWN_SENTINELS: [&str; 7] = [
    UNKNOWN,
    "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",
    "3eeb2bf0-c639-47a8-9e75-3b44932eb421",
    "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",
    "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",
    "030794c1-ac77-496b-92df-f27374a8bd58",
    "e48ece36-62e2-4504-bad9-02848725956a",
];

/// A property value as the providers see it.
#[derive(Debug, Clone, PartialEq)]
pub enum PropertyValue {
    /// `null`, or absent.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number (the wire carries only doubles).
    Number(f64),
    /// A string.
    String(String),
    /// A list.
    Array(Vec<PropertyValue>),
    /// An object with string keys.
    Object(BTreeMap<String, PropertyValue>),
    /// A secret: its value must stay secret wherever it goes.
    Secret(Box<PropertyValue>),
    /// Not known yet (during a preview).
    Unknown,
    /// A resource reference, asset or archive: carried through unchanged.
    Opaque(BTreeMap<String, PropertyValue>),
}

/// An object of properties, keyed by wire name.
pub type PropertyMap = BTreeMap<String, PropertyValue>;

impl PropertyValue {
    /// Decodes one wire value.
    pub fn from_wire(value: &Value) -> Self {
        match &value.kind {
            None | Some(Kind::NullValue(_)) => PropertyValue::Null,
            Some(Kind::BoolValue(b)) => PropertyValue::Bool(*b),
            Some(Kind::NumberValue(n)) => PropertyValue::Number(*n),
            Some(Kind::StringValue(s)) if UNKNOWN_SENTINELS.contains(&s.as_str()) => PropertyValue::Unknown,
            Some(Kind::StringValue(s)) => PropertyValue::String(s.clone()),
            Some(Kind::ListValue(list)) => {
                PropertyValue::Array(list.values.iter().map(PropertyValue::from_wire).collect())
            }
            Some(Kind::StructValue(object)) => Self::from_wire_object(object),
        }
    }

    fn from_wire_object(object: &Struct) -> Self {
        let signature = match object.fields.get(SIG_KEY).and_then(|v| v.kind.as_ref()) {
            Some(Kind::StringValue(sig)) => sig.as_str(),
            _ => return PropertyValue::Object(decode_struct(object)),
        };
        let field = |name: &str| object.fields.get(name);
        match signature {
            SIG_SECRET => {
                let inner = field("value")
                    .map(PropertyValue::from_wire)
                    .unwrap_or(PropertyValue::Null);
                PropertyValue::Secret(Box::new(inner))
            }
            SIG_OUTPUT => {
                let inner = field("value")
                    .map(PropertyValue::from_wire)
                    .unwrap_or(PropertyValue::Unknown);
                let secret = matches!(
                    field("secret").and_then(|v| v.kind.as_ref()),
                    Some(Kind::BoolValue(true))
                );
                if secret {
                    PropertyValue::Secret(Box::new(inner))
                } else {
                    inner
                }
            }
            _ => PropertyValue::Opaque(decode_struct(object)),
        }
    }

    /// Encodes one value for the wire.
    pub fn to_wire(&self) -> Value {
        let kind = match self {
            PropertyValue::Null => Kind::NullValue(0),
            PropertyValue::Bool(b) => Kind::BoolValue(*b),
            PropertyValue::Number(n) => Kind::NumberValue(*n),
            PropertyValue::String(s) => Kind::StringValue(s.clone()),
            PropertyValue::Array(items) => Kind::ListValue(ListValue {
                values: items.iter().map(PropertyValue::to_wire).collect(),
            }),
            PropertyValue::Object(map) | PropertyValue::Opaque(map) => Kind::StructValue(encode_struct(map)),
            PropertyValue::Secret(inner) => {
                let mut fields = BTreeMap::new();
                fields.insert(SIG_KEY.to_string(), string_value(SIG_SECRET));
                fields.insert("value".to_string(), inner.to_wire());
                Kind::StructValue(Struct { fields })
            }
            PropertyValue::Unknown => Kind::StringValue(UNKNOWN.to_string()),
        };
        Value { kind: Some(kind) }
    }

    /// True when no part of the value is unknown.
    pub fn is_known(&self) -> bool {
        match self {
            PropertyValue::Unknown => false,
            PropertyValue::Array(items) => items.iter().all(PropertyValue::is_known),
            PropertyValue::Object(map) => map.values().all(PropertyValue::is_known),
            PropertyValue::Secret(inner) => inner.is_known(),
            _ => true,
        }
    }

    /// True when any part of the value is secret.
    pub fn contains_secret(&self) -> bool {
        match self {
            PropertyValue::Secret(_) => true,
            PropertyValue::Array(items) => items.iter().any(PropertyValue::contains_secret),
            PropertyValue::Object(map) => map.values().any(PropertyValue::contains_secret),
            _ => false,
        }
    }

    /// The value with secret markers removed (unknowns stay unknown).
    pub fn reveal(&self) -> PropertyValue {
        match self {
            PropertyValue::Secret(inner) => inner.reveal(),
            PropertyValue::Array(items) => PropertyValue::Array(items.iter().map(PropertyValue::reveal).collect()),
            PropertyValue::Object(map) => {
                PropertyValue::Object(map.iter().map(|(k, v)| (k.clone(), v.reveal())).collect())
            }
            other => other.clone(),
        }
    }

    /// Plain JSON, with secrets revealed; `None` when any part is unknown.
    pub fn to_json(&self) -> Option<Json> {
        Some(match self {
            PropertyValue::Null => Json::Null,
            PropertyValue::Bool(b) => Json::Bool(*b),
            PropertyValue::Number(n) => number_to_json(*n),
            PropertyValue::String(s) => Json::String(s.clone()),
            PropertyValue::Array(items) => {
                Json::Array(items.iter().map(PropertyValue::to_json).collect::<Option<_>>()?)
            }
            PropertyValue::Object(map) | PropertyValue::Opaque(map) => Json::Object(
                map.iter()
                    .map(|(k, v)| Some((k.clone(), v.to_json()?)))
                    .collect::<Option<Map<_, _>>>()?,
            ),
            PropertyValue::Secret(inner) => inner.to_json()?,
            PropertyValue::Unknown => return None,
        })
    }

    /// A value from plain JSON.
    pub fn from_json(json: &Json) -> Self {
        match json {
            Json::Null => PropertyValue::Null,
            Json::Bool(b) => PropertyValue::Bool(*b),
            Json::Number(n) => PropertyValue::Number(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => PropertyValue::String(s.clone()),
            Json::Array(items) => PropertyValue::Array(items.iter().map(PropertyValue::from_json).collect()),
            Json::Object(map) => PropertyValue::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), PropertyValue::from_json(v)))
                    .collect(),
            ),
        }
    }
}

/// Integral doubles become JSON integers, so that typed integer fields deserialize.
fn number_to_json(n: f64) -> Json {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: every integer below is exact in a double.
    if n.fract() == 0.0 && n.abs() < EXACT {
        Json::Number(Number::from(n as i64))
    } else {
        Number::from_f64(n).map(Json::Number).unwrap_or(Json::Null)
    }
}

fn string_value(s: &str) -> Value {
    Value {
        kind: Some(Kind::StringValue(s.to_string())),
    }
}

/// Decodes a Struct of properties.
pub fn decode_struct(object: &Struct) -> PropertyMap {
    object
        .fields
        .iter()
        .map(|(k, v)| (k.clone(), PropertyValue::from_wire(v)))
        .collect()
}

/// Decodes an optional Struct (absent is empty).
pub fn decode_optional(object: Option<&Struct>) -> PropertyMap {
    object.map(decode_struct).unwrap_or_default()
}

/// Encodes properties as a Struct.
pub fn encode_struct(map: &PropertyMap) -> Struct {
    Struct {
        fields: map.iter().map(|(k, v)| (k.clone(), v.to_wire())).collect(),
    }
}

/// Plain JSON of a property map, secrets revealed; `None` when any value is unknown.
pub fn map_to_json(map: &PropertyMap) -> Option<Json> {
    PropertyValue::Object(map.clone()).to_json()
}

/// A property map from what serde made of a typed struct: `null` members dropped at every depth,
/// since an absent optional field and a `null` one mean the same.
pub fn map_from_serde(json: &Json) -> PropertyMap {
    fn prune(value: PropertyValue) -> PropertyValue {
        match value {
            PropertyValue::Object(map) => PropertyValue::Object(
                map.into_iter()
                    .filter(|(_, v)| !matches!(v, PropertyValue::Null))
                    .map(|(k, v)| (k, prune(v)))
                    .collect(),
            ),
            PropertyValue::Array(items) => PropertyValue::Array(items.into_iter().map(prune).collect()),
            other => other,
        }
    }
    match prune(PropertyValue::from_json(json)) {
        PropertyValue::Object(map) => map,
        _ => PropertyMap::new(),
    }
}

/// A property map from a JSON object (anything else gives an empty map).
pub fn map_from_json(json: &Json) -> PropertyMap {
    match PropertyValue::from_json(json) {
        PropertyValue::Object(map) => map,
        _ => PropertyMap::new(),
    }
}

/// Top-level property names whose values hold a secret anywhere inside.
pub fn secret_properties(map: &PropertyMap) -> BTreeSet<String> {
    map.iter()
        .filter(|(_, v)| v.contains_secret())
        .map(|(k, _)| k.clone())
        .collect()
}

/// Marks the named top-level properties secret (once; already-secret values are left as they are).
pub fn mark_secret<'a>(map: &mut PropertyMap, names: impl IntoIterator<Item = &'a str>) {
    for name in names {
        if let Some(value) = map.get_mut(name) {
            if !matches!(value, PropertyValue::Secret(_) | PropertyValue::Null) {
                let revealed = value.reveal();
                *value = PropertyValue::Secret(Box::new(revealed));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn wire(json: Json) -> Struct {
        encode_struct(&map_from_json(&json))
    }

    #[test]
    fn plain_values_round_trip() {
        let json = json!({"a": 1, "b": [true, null, "x"], "c": {"d": 2.5}});
        let decoded = decode_struct(&wire(json.clone()));
        assert_eq!(map_to_json(&decoded), Some(json));
    }

    #[test]
    fn secrets_decode_and_encode_with_the_signature() {
        let secret = json!({SIG_KEY: SIG_SECRET, "value": "hunter2"});
        let decoded = decode_struct(&wire(json!({"password": secret})));
        assert_eq!(
            decoded["password"],
            PropertyValue::Secret(Box::new(PropertyValue::String("hunter2".into())))
        );
        let encoded = encode_struct(&decoded);
        assert_eq!(
            map_to_json(&decode_struct(&encoded)),
            Some(json!({"password": "hunter2"}))
        );
        let reencoded = PropertyValue::from_wire(&encoded.fields["password"]);
        assert!(matches!(reencoded, PropertyValue::Secret(_)));
        assert_eq!(
            secret_properties(&decoded).into_iter().collect::<Vec<_>>(),
            vec!["password"]
        );
    }

    #[test]
    fn every_unknown_sentinel_decodes_as_unknown_and_encodes_as_the_string_sentinel() {
        for sentinel in UNKNOWN_SENTINELS {
            let decoded = decode_struct(&wire(json!({"x": sentinel})));
            assert_eq!(decoded["x"], PropertyValue::Unknown);
            assert!(map_to_json(&decoded).is_none());
        }
        let encoded = PropertyValue::Unknown.to_wire();
        assert_eq!(encoded.kind, Some(Kind::StringValue(UNKNOWN.into())));
    }

    #[test]
    fn output_values_become_their_value_unknown_or_secret() {
        let known = json!({SIG_KEY: SIG_OUTPUT, "value": "vpc-1", "dependencies": ["urn:a"]});
        let unknown = json!({SIG_KEY: SIG_OUTPUT, "dependencies": ["urn:a"]});
        let secret = json!({SIG_KEY: SIG_OUTPUT, "value": 3, "secret": true});
        let decoded = decode_struct(&wire(json!({"a": known, "b": unknown, "c": secret})));
        assert_eq!(decoded["a"], PropertyValue::String("vpc-1".into()));
        assert_eq!(decoded["b"], PropertyValue::Unknown);
        assert_eq!(
            decoded["c"],
            PropertyValue::Secret(Box::new(PropertyValue::Number(3.0)))
        );
    }

    #[test]
    fn nulls_and_missing_kinds_are_null() {
        let mut object = Struct::default();
        object.fields.insert("empty".into(), Value { kind: None });
        object.fields.insert(
            "null".into(),
            Value {
                kind: Some(Kind::NullValue(0)),
            },
        );
        let decoded = decode_struct(&object);
        assert_eq!(decoded["empty"], PropertyValue::Null);
        assert_eq!(decoded["null"], PropertyValue::Null);
    }

    #[test]
    fn resource_references_and_assets_pass_through_unchanged() {
        let reference = json!({SIG_KEY: SIG_RESOURCE, "urn": "urn:pulumi:dev::p::t::n", "id": "x"});
        let asset = json!({SIG_KEY: SIG_ASSET, "text": "hello"});
        let object = wire(json!({"r": reference, "a": asset}));
        let decoded = decode_struct(&object);
        assert!(matches!(decoded["r"], PropertyValue::Opaque(_)));
        assert_eq!(encode_struct(&decoded), object);
    }

    #[test]
    fn integral_numbers_become_json_integers() {
        assert_eq!(PropertyValue::Number(16.0).to_json(), Some(json!(16)));
        assert_eq!(PropertyValue::Number(0.5).to_json(), Some(json!(0.5)));
        assert_eq!(PropertyValue::Number(f64::NAN).to_json(), Some(Json::Null));
    }

    #[test]
    fn serde_nulls_are_dropped_at_every_depth() {
        let map = map_from_serde(&json!({"a": null, "b": [{"c": null, "d": 1}], "e": {"f": null}}));
        assert_eq!(map_to_json(&map), Some(json!({"b": [{"d": 1}], "e": {}})));
    }

    #[test]
    fn marking_secret_wraps_once() {
        let mut map = map_from_json(&json!({"a": "x", "b": "y"}));
        mark_secret(&mut map, ["a"]);
        mark_secret(&mut map, ["a"]);
        assert_eq!(
            map["a"],
            PropertyValue::Secret(Box::new(PropertyValue::String("x".into())))
        );
        assert_eq!(map["b"], PropertyValue::String("y".into()));
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value { kind: None }),
            Just(Value {
                kind: Some(Kind::NullValue(0))
            }),
            any::<bool>().prop_map(|b| Value {
                kind: Some(Kind::BoolValue(b))
            }),
            any::<f64>().prop_map(|n| Value {
                kind: Some(Kind::NumberValue(n))
            }),
            prop_oneof![
                ".*".prop_map(|s: String| s),
                Just(UNKNOWN.to_string()),
                Just(SIG_SECRET.to_string()),
                Just(SIG_OUTPUT.to_string()),
                Just(SIG_KEY.to_string()),
            ]
            .prop_map(|s| Value {
                kind: Some(Kind::StringValue(s))
            }),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            let key = prop_oneof![
                "[a-z]{1,6}".prop_map(|s: String| s),
                Just(SIG_KEY.to_string()),
                Just("value".to_string()),
                Just("secret".to_string()),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(|values| Value {
                    kind: Some(Kind::ListValue(ListValue { values }))
                }),
                prop::collection::btree_map(key, inner, 0..6).prop_map(|fields| Value {
                    kind: Some(Kind::StructValue(Struct { fields }))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_structs_never_panics_and_re_decodes_the_same(value in arb_value()) {
            let decoded = PropertyValue::from_wire(&value);
            let _ = decoded.to_json();
            let _ = decoded.is_known();
            let _ = decoded.reveal();
            // Encoding is canonical: decoding what we encoded gives back the same value.
            let again = PropertyValue::from_wire(&decoded.to_wire());
            // NaN is never equal to itself; compare through the wire bytes instead.
            prop_assert_eq!(format!("{:?}", again.to_wire()), format!("{:?}", decoded.to_wire()));
        }
    }
}
