//! Check: validate new inputs against the declarations, fill defaults, choose auto-names.
//!
//! Everything that can be checked without the cloud is checked here, in this order: property names
//! (an unknown one is named, with the closest known name), required properties, the type of each known
//! value, each property's own validator, and, once every value is known, the resource's cross-property
//! rules. Unknown values (a preview) are accepted wherever they appear. Declared defaults are filled in
//! whatever else is unknown: with every value known through serde's round trip of the typed inputs,
//! otherwise property by property from the declarations ([`fill_defaults`]), which gives the same
//! result for the known part. An unknown value stays unknown.

use std::hash::{BuildHasher, Hasher};

use serde_json::Value as Json;

use crate::resource::{AutoName, CheckFailure, ResourceType};
use crate::schema::{ObjectSpec, Properties, PropertyType};
use crate::value::{map_from_serde, map_to_json, mark_secret, secret_properties, PropertyMap, PropertyValue};

/// Input key listing the properties that Check filled in itself (auto-names), so that Diff knows a
/// name was chosen by us, not by the user.
pub const DEFAULTS_KEY: &str = "__defaults";

/// How the engine wants auto-naming done (CheckRequest.autonaming).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Autonaming {
    /// Use this name unless the user gave one.
    Propose(String),
    /// Use exactly this name.
    Enforce(String),
    /// The user must give a name.
    Disable,
}

/// What Check needs besides the resource type.
#[derive(Debug, Clone, Default)]
pub struct CheckInput {
    /// The resource's logical name (the last part of its URN).
    pub name: String,
    /// Its previous checked inputs, if it exists already.
    pub olds: PropertyMap,
    /// The new inputs.
    pub news: PropertyMap,
    /// Engine-provided randomness, stable for the resource across previews.
    pub random_seed: Vec<u8>,
    /// The engine's auto-naming instruction, if any.
    pub autonaming: Option<Autonaming>,
}

/// Checks the inputs of resource `R`; returns the checked inputs or every failure found.
pub fn check_resource<R: ResourceType>(input: CheckInput) -> Result<PropertyMap, Vec<CheckFailure>> {
    let spec = R::Inputs::object_spec();
    let CheckInput {
        name,
        olds,
        mut news,
        random_seed,
        autonaming,
    } = input;
    news.remove(DEFAULTS_KEY);
    drop_nulls(&mut news);

    let mut failures = Vec::new();
    let mut defaults = Vec::new();
    if let Some(auto) = R::AUTONAME {
        match autoname(&auto, &name, &olds, &news, &random_seed, autonaming.as_ref()) {
            Ok(Some(chosen)) => {
                news.insert(auto.property.to_string(), PropertyValue::String(chosen));
                defaults.push(auto.property);
            }
            Ok(None) => {}
            Err(failure) => failures.push(failure),
        }
    }
    failures.extend(check_object(&spec, &news, ""));
    if !failures.is_empty() {
        return Err(failures);
    }

    let mut checked = match map_to_json(&news) {
        // Every value is known: apply serde defaults and the resource's own rules.
        Some(json) => {
            let typed: R::Inputs =
                serde_json::from_value(json).map_err(|e| vec![CheckFailure::new("", e.to_string())])?;
            let failures = R::validate(&typed);
            if !failures.is_empty() {
                return Err(failures);
            }
            let json = serde_json::to_value(&typed).map_err(|e| vec![CheckFailure::new("", e.to_string())])?;
            let mut checked = map_from_serde(&json);
            let secrets = secret_properties(&news);
            mark_secret(&mut checked, secrets.iter().map(String::as_str));
            checked
        }
        // Some value is not known yet (a preview): fill in each absent property's default, so that
        // Diff sees the program's values, not deletions of every defaulted property.
        None => {
            let secrets = secret_properties(&news);
            let revealed: PropertyMap = news.iter().map(|(k, v)| (k.clone(), v.reveal())).collect();
            let mut checked = fill_defaults(&spec, &revealed);
            mark_secret(&mut checked, secrets.iter().map(String::as_str));
            checked
        }
    };
    let always_secret = spec.properties.iter().filter(|p| p.secret).map(|p| p.name);
    mark_secret(&mut checked, always_secret);
    if !defaults.is_empty() {
        let listed = defaults.iter().map(|d| PropertyValue::String(d.to_string())).collect();
        checked.insert(DEFAULTS_KEY.to_string(), PropertyValue::Array(listed));
    }
    Ok(checked)
}

/// `props` with every absent property that has a declared default set to it, at every depth the
/// values are known: inside known nested objects, arrays of objects and maps of objects. Unknown
/// values stay unknown and `null` members are dropped, so that a map with every value known comes
/// out as serde's round trip of the typed struct would make it.
pub fn fill_defaults(spec: &ObjectSpec, props: &PropertyMap) -> PropertyMap {
    let mut filled = PropertyMap::new();
    for (key, value) in props {
        if matches!(value, PropertyValue::Null) {
            continue;
        }
        let value = match spec.property(key) {
            Some(property) => fill_value(&property.ty, value),
            None => prune_nulls(value),
        };
        filled.insert(key.clone(), value);
    }
    for property in &spec.properties {
        if filled.contains_key(property.name) {
            continue;
        }
        if let Some(default) = property.default_value() {
            filled.insert(
                property.name.to_string(),
                prune_nulls(&PropertyValue::from_json(&default)),
            );
        }
    }
    filled
}

fn fill_value(ty: &PropertyType, value: &PropertyValue) -> PropertyValue {
    match (ty, value) {
        (PropertyType::Object(object), PropertyValue::Object(map)) => {
            PropertyValue::Object(fill_defaults(&(object.spec)(), map))
        }
        (PropertyType::Array(item), PropertyValue::Array(items)) => {
            PropertyValue::Array(items.iter().map(|element| fill_value(item, element)).collect())
        }
        (PropertyType::Map(item), PropertyValue::Object(map)) => PropertyValue::Object(
            map.iter()
                .filter(|(_, v)| !matches!(v, PropertyValue::Null))
                .map(|(k, v)| (k.clone(), fill_value(item, v)))
                .collect(),
        ),
        (_, PropertyValue::Secret(inner)) => PropertyValue::Secret(Box::new(fill_value(ty, inner))),
        (_, other) => prune_nulls(other),
    }
}

/// `value` without `null` object members at any depth (an absent optional field and a null one
/// mean the same).
fn prune_nulls(value: &PropertyValue) -> PropertyValue {
    match value {
        PropertyValue::Object(map) => PropertyValue::Object(
            map.iter()
                .filter(|(_, v)| !matches!(v, PropertyValue::Null))
                .map(|(k, v)| (k.clone(), prune_nulls(v)))
                .collect(),
        ),
        PropertyValue::Array(items) => PropertyValue::Array(items.iter().map(prune_nulls).collect()),
        PropertyValue::Secret(inner) => PropertyValue::Secret(Box::new(prune_nulls(inner))),
        other => other.clone(),
    }
}

/// Validates a property map against an object declaration. `path` prefixes property names in
/// failures (`ingress[0].fromPort`).
pub fn check_object(spec: &ObjectSpec, props: &PropertyMap, path: &str) -> Vec<CheckFailure> {
    let mut failures = Vec::new();
    let at = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };

    for key in props.keys() {
        if key == DEFAULTS_KEY || spec.property(key).is_some() {
            continue;
        }
        let known: Vec<&str> = spec.properties.iter().map(|p| p.name).collect();
        let reason = match closest(key, &known) {
            Some(suggestion) => format!("unknown property; did you mean `{suggestion}`?"),
            None => format!("unknown property; {} accepts: {}", spec.name, known.join(", ")),
        };
        failures.push(CheckFailure::new(at(key), reason));
    }

    for property in &spec.properties {
        let value = props.get(property.name).filter(|v| !matches!(v, PropertyValue::Null));
        match value {
            None if property.required => {
                let doc = property.doc.lines().next().unwrap_or_default();
                let reason = if doc.is_empty() {
                    format!("missing required property; give {}", property.ty.describe())
                } else {
                    format!("missing required property ({doc}); give {}", property.ty.describe())
                };
                failures.push(CheckFailure::new(at(property.name), reason));
            }
            None => {}
            Some(value) => {
                let here = at(property.name);
                let before = failures.len();
                check_value(&here, &property.ty, value, &mut failures);
                if failures.len() == before {
                    if let (Some(validate), Some(json)) = (property.validate, value.to_json()) {
                        if let Err(reason) = validate(&json) {
                            failures.push(CheckFailure::new(here, reason));
                        }
                    }
                }
            }
        }
    }
    failures
}

fn check_value(path: &str, ty: &PropertyType, value: &PropertyValue, failures: &mut Vec<CheckFailure>) {
    let value = match value {
        PropertyValue::Secret(inner) => inner.as_ref(),
        other => other,
    };
    let mismatch = |failures: &mut Vec<CheckFailure>| {
        failures.push(CheckFailure::new(
            path,
            format!("expected {}, got {}", ty.describe(), describe_value(value)),
        ));
    };
    match (ty, value) {
        (_, PropertyValue::Unknown) | (PropertyType::Any, _) => {}
        (PropertyType::String, PropertyValue::String(_)) | (PropertyType::Boolean, PropertyValue::Bool(_)) => {}
        (PropertyType::Number, PropertyValue::Number(n)) if n.is_finite() => {}
        (PropertyType::Integer, PropertyValue::Number(n)) if n.fract() == 0.0 && n.is_finite() => {}
        (PropertyType::Array(item), PropertyValue::Array(items)) => {
            for (i, element) in items.iter().enumerate() {
                check_value(&format!("{path}[{i}]"), item, element, failures);
            }
        }
        (PropertyType::Map(item), PropertyValue::Object(map)) => {
            for (key, element) in map {
                check_value(&format!("{path}.{key}"), item, element, failures);
            }
        }
        (PropertyType::Object(object), PropertyValue::Object(map)) => {
            failures.extend(check_object(&(object.spec)(), map, path));
        }
        _ => mismatch(failures),
    }
}

fn describe_value(value: &PropertyValue) -> String {
    match value {
        PropertyValue::Null => "null".into(),
        PropertyValue::Bool(b) => format!("boolean {b}"),
        PropertyValue::Number(n) => format!("number {n}"),
        PropertyValue::String(s) => format!("string {s:?}"),
        PropertyValue::Array(_) => "a list".into(),
        PropertyValue::Object(_) => "an object".into(),
        PropertyValue::Secret(_) => "a secret".into(),
        PropertyValue::Unknown => "an unknown value".into(),
        PropertyValue::Opaque(_) => "a resource reference or asset".into(),
    }
}

fn drop_nulls(map: &mut PropertyMap) {
    map.retain(|_, v| !matches!(v, PropertyValue::Null));
}

/// Chooses the physical name when the user gave none. `Ok(None)`: the user's name stands.
fn autoname(
    auto: &AutoName,
    name: &str,
    olds: &PropertyMap,
    news: &PropertyMap,
    seed: &[u8],
    mode: Option<&Autonaming>,
) -> Result<Option<String>, CheckFailure> {
    if news.contains_key(auto.property) {
        return Ok(None);
    }
    let fits = |candidate: String| -> Result<Option<String>, CheckFailure> {
        if candidate.len() > auto.max_len {
            return Err(CheckFailure::new(
                auto.property,
                format!(
                    "the proposed name {candidate:?} is longer than {} characters; give a shorter `{}`",
                    auto.max_len, auto.property
                ),
            ));
        }
        Ok(Some(candidate))
    };
    match mode {
        Some(Autonaming::Disable) => {
            return Err(CheckFailure::new(
                auto.property,
                format!(
                    "auto-naming is disabled for this stack; give `{}` explicitly",
                    auto.property
                ),
            ))
        }
        Some(Autonaming::Enforce(proposed)) | Some(Autonaming::Propose(proposed)) => {
            return fits(proposed.clone());
        }
        None => {}
    }
    // Keep the name chosen for an earlier version of this resource: renaming would replace it.
    let chosen_before = match olds.get(DEFAULTS_KEY) {
        Some(PropertyValue::Array(items)) => items.contains(&PropertyValue::String(auto.property.to_string())),
        _ => false,
    };
    if chosen_before {
        if let Some(PropertyValue::String(old)) = olds.get(auto.property) {
            return Ok(Some(old.clone()));
        }
    }
    const SUFFIX_LEN: usize = 7;
    let mut prefix: String = name.chars().take(auto.max_len.saturating_sub(SUFFIX_LEN + 1)).collect();
    if auto.lowercase {
        prefix = prefix.to_lowercase();
    }
    Ok(Some(format!("{prefix}-{}", random_suffix(seed, SUFFIX_LEN))))
}

/// Hex characters derived from the engine's seed (stable for a resource), or fresh randomness when the
/// caller sent none.
fn random_suffix(seed: &[u8], len: usize) -> String {
    let mut hash: u64 = if seed.is_empty() {
        std::collections::hash_map::RandomState::new().build_hasher().finish()
    } else {
        // FNV-1a: small, deterministic, and good enough to spread the seed over a few hex digits.
        seed.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let mut out = String::with_capacity(len);
    for _ in 0..len {
        out.push(char::from_digit((hash & 0xf) as u32, 16).unwrap_or('0'));
        hash = hash.rotate_right(4) ^ 0x9e37_79b9_7f4a_7c15;
    }
    out
}

/// The known name closest to `key`, if it is plausibly a typo or a different case convention.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let squash = |s: &str| s.replace(['_', '-'], "").to_lowercase();
    let wanted = squash(key);
    if let Some(exact) = known.iter().find(|k| squash(k) == wanted) {
        return Some(exact);
    }
    known
        .iter()
        .map(|k| (edit_distance(&squash(k), &wanted), *k))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(previous + 1).min(row[j] + 1);
        }
    }
    row[b.len()]
}

/// Plain JSON of `map` or a failure naming the first unknown property.
pub fn require_known(map: &PropertyMap) -> Result<Json, CheckFailure> {
    map_to_json(map).ok_or_else(|| {
        let unknown = map
            .iter()
            .find(|(_, v)| !v.is_known())
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        CheckFailure::new(
            unknown,
            "value is not known yet; it must be known before this operation",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Properties;
    use crate::value::map_from_json;
    use serde::{Deserialize, Serialize};
    use serde_json::json;

    fn cidr(value: &Json) -> Result<(), String> {
        match value.as_str() {
            Some(s) if s.contains('/') => Ok(()),
            _ => Err("expected a CIDR block such as 10.0.0.0/16".into()),
        }
    }

    #[derive(Debug, Clone, Serialize, Deserialize, Properties)]
    #[serde(rename_all = "camelCase")]
    struct Rule {
        /// Port.
        port: u16,
        /// Protocol.
        #[serde(default = "tcp")]
        protocol: String,
        /// Sources.
        #[serde(default)]
        sources: Vec<String>,
        /// A note.
        note: Option<String>,
    }

    fn tcp() -> String {
        "tcp".into()
    }

    /// A thing with a name.
    #[derive(Debug, Clone, Serialize, Deserialize, Properties)]
    #[serde(rename_all = "camelCase")]
    struct ThingArgs {
        /// Physical name.
        #[property(replace)]
        thing_name: Option<String>,
        /// The network range.
        #[property(replace, validate = cidr)]
        cidr_block: String,
        /// Turned on unless said otherwise.
        #[serde(default = "yes")]
        enabled: bool,
        /// Rules.
        #[serde(default)]
        #[property(set)]
        rules: Vec<Rule>,
        /// A password.
        #[property(secret)]
        password: Option<String>,
    }

    fn yes() -> bool {
        true
    }

    struct Thing;
    impl ResourceType for Thing {
        const PACKAGE: &'static str = "test";
        const NAME: &'static str = "Thing";
        const DOC: &'static str = "A thing.";
        const AUTONAME: Option<AutoName> = Some(AutoName {
            property: "thingName",
            max_len: 20,
            lowercase: true,
        });
        type Inputs = ThingArgs;
        type Outputs = ThingArgs;
        fn validate(inputs: &ThingArgs) -> Vec<CheckFailure> {
            if inputs.rules.len() > 2 {
                return vec![CheckFailure::new("rules", "at most 2 rules")];
            }
            Vec::new()
        }
    }

    fn input(news: Json) -> CheckInput {
        CheckInput {
            name: "MyThing".into(),
            news: map_from_json(&news),
            random_seed: vec![1, 2, 3],
            ..Default::default()
        }
    }

    #[test]
    fn fills_serde_defaults_and_an_autoname_from_the_seed() {
        let checked = check_resource::<Thing>(input(json!({"cidrBlock": "10.0.0.0/16"}))).expect("valid");
        let name = match &checked["thingName"] {
            PropertyValue::String(s) => s.clone(),
            other => panic!("unexpected {other:?}"),
        };
        assert!(
            name.starts_with("mything-") && name.len() == "mything-".len() + 7,
            "{name}"
        );
        assert_eq!(checked["enabled"], PropertyValue::Bool(true));
        assert_eq!(
            checked[DEFAULTS_KEY],
            PropertyValue::Array(vec![PropertyValue::String("thingName".into())])
        );
        // Same seed, same name.
        let again = check_resource::<Thing>(input(json!({"cidrBlock": "10.0.0.0/16"}))).expect("valid");
        assert_eq!(again["thingName"], checked["thingName"]);
    }

    #[test]
    fn keeps_an_earlier_autoname_and_respects_a_given_name() {
        let mut req = input(json!({"cidrBlock": "10.0.0.0/16"}));
        req.olds = map_from_json(&json!({"thingName": "old-1234567", DEFAULTS_KEY: ["thingName"]}));
        let checked = check_resource::<Thing>(req).expect("valid");
        assert_eq!(checked["thingName"], PropertyValue::String("old-1234567".into()));

        let checked =
            check_resource::<Thing>(input(json!({"cidrBlock": "10.0.0.0/16", "thingName": "mine"}))).expect("valid");
        assert_eq!(checked["thingName"], PropertyValue::String("mine".into()));
        assert!(!checked.contains_key(DEFAULTS_KEY));
    }

    #[test]
    fn follows_the_engines_autonaming_options() {
        let mut req = input(json!({"cidrBlock": "10.0.0.0/16"}));
        req.autonaming = Some(Autonaming::Enforce("exact-name".into()));
        let checked = check_resource::<Thing>(req).expect("valid");
        assert_eq!(checked["thingName"], PropertyValue::String("exact-name".into()));

        let mut req = input(json!({"cidrBlock": "10.0.0.0/16"}));
        req.autonaming = Some(Autonaming::Disable);
        let failures = check_resource::<Thing>(req).expect_err("name required");
        assert_eq!(failures[0].property, "thingName");
    }

    #[test]
    fn names_unknown_and_missing_properties_and_suggests_the_right_one() {
        let failures =
            check_resource::<Thing>(input(json!({"cidr_block": "10.0.0.0/16", "colour": 1}))).expect_err("bad");
        let text: Vec<String> = failures.iter().map(ToString::to_string).collect();
        assert!(
            text.contains(&"cidr_block: unknown property; did you mean `cidrBlock`?".to_string()),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.starts_with("colour: unknown property; ThingArgs accepts: thingName, cidrBlock")),
            "{text:?}"
        );
        assert!(
            text.contains(&"cidrBlock: missing required property (The network range.); give a string".to_string()),
            "{text:?}"
        );
    }

    #[test]
    fn type_errors_and_validators_name_the_nested_property() {
        let failures = check_resource::<Thing>(input(json!({
            "cidrBlock": "10.0.0.0",
            "enabled": "yes",
            "rules": [{"port": 80}, {"port": 1.5}, {"prot": 3}],
        })))
        .expect_err("bad");
        let text: Vec<String> = failures.iter().map(ToString::to_string).collect();
        assert!(
            text.contains(&"cidrBlock: expected a CIDR block such as 10.0.0.0/16".to_string()),
            "{text:?}"
        );
        assert!(
            text.contains(&"enabled: expected a boolean, got string \"yes\"".to_string()),
            "{text:?}"
        );
        assert!(
            text.contains(&"rules[1].port: expected an integer, got number 1.5".to_string()),
            "{text:?}"
        );
        assert!(
            text.contains(&"rules[2].prot: unknown property; did you mean `port`?".to_string()),
            "{text:?}"
        );
    }

    #[test]
    fn cross_property_rules_run_once_everything_is_known() {
        let failures = check_resource::<Thing>(input(json!({
            "cidrBlock": "10.0.0.0/16",
            "rules": [{"port": 1}, {"port": 2}, {"port": 3}],
        })))
        .expect_err("too many");
        assert_eq!(failures, vec![CheckFailure::new("rules", "at most 2 rules")]);
    }

    #[test]
    fn unknowns_pass_and_secrets_stay_secret() {
        let mut news = map_from_json(&json!({"thingName": "n"}));
        news.insert("cidrBlock".into(), PropertyValue::Unknown);
        news.insert("password".into(), PropertyValue::String("p".into()));
        let checked = check_resource::<Thing>(CheckInput {
            news,
            ..Default::default()
        })
        .expect("unknowns are fine");
        assert_eq!(checked["cidrBlock"], PropertyValue::Unknown);
        assert!(
            matches!(checked["password"], PropertyValue::Secret(_)),
            "declared secret"
        );

        let mut news = map_from_json(&json!({"thingName": "n", "cidrBlock": "10.0.0.0/8"}));
        news.insert(
            "rules".into(),
            PropertyValue::Secret(Box::new(PropertyValue::Array(vec![]))),
        );
        let checked = check_resource::<Thing>(CheckInput {
            news,
            ..Default::default()
        })
        .expect("valid");
        assert!(matches!(checked["rules"], PropertyValue::Secret(_)), "user secret kept");
    }

    fn known(news: Json) -> PropertyMap {
        map_from_json(&news)
    }

    #[test]
    fn defaults_fill_in_while_other_inputs_are_unknown() {
        let mut news = known(json!({"thingName": "n", "rules": [{"port": 80}, {"port": 443, "protocol": "udp"}]}));
        news.insert("cidrBlock".into(), PropertyValue::Unknown);
        let checked = check_resource::<Thing>(CheckInput {
            news,
            ..Default::default()
        })
        .expect("unknowns are fine");
        assert_eq!(checked["cidrBlock"], PropertyValue::Unknown, "an unknown stays unknown");
        assert_eq!(
            checked["enabled"],
            PropertyValue::Bool(true),
            "a missing property gets its default"
        );
        let rules = map_from_json(&json!({"rules": [
            {"port": 80, "protocol": "tcp", "sources": []},
            {"port": 443, "protocol": "udp", "sources": []},
        ]}));
        assert_eq!(checked["rules"], rules["rules"], "defaults inside known nested objects");
        assert!(!checked.contains_key("password"), "an absent Option has no default");
    }

    #[test]
    fn an_unknown_defaulted_property_stays_unknown_at_any_depth() {
        let mut rule = known(json!({"port": 80}));
        rule.insert("protocol".into(), PropertyValue::Unknown);
        let mut news = known(json!({"cidrBlock": "10.0.0.0/16", "thingName": "n"}));
        news.insert("enabled".into(), PropertyValue::Unknown);
        news.insert(
            "rules".into(),
            PropertyValue::Array(vec![PropertyValue::Object(rule), PropertyValue::Unknown]),
        );
        let checked = check_resource::<Thing>(CheckInput {
            news,
            ..Default::default()
        })
        .expect("unknowns are fine");
        assert_eq!(checked["enabled"], PropertyValue::Unknown);
        let PropertyValue::Array(rules) = &checked["rules"] else {
            panic!("rules: {:?}", checked["rules"]);
        };
        let PropertyValue::Object(first) = &rules[0] else {
            panic!("rule: {:?}", rules[0]);
        };
        assert_eq!(first["protocol"], PropertyValue::Unknown);
        assert_eq!(
            first["sources"],
            PropertyValue::Array(vec![]),
            "its other defaults are filled"
        );
        assert_eq!(rules[1], PropertyValue::Unknown, "an unknown element stays unknown");
    }

    #[test]
    fn filling_defaults_agrees_with_the_serde_round_trip_on_known_inputs() {
        for news in [
            json!({"thingName": "n", "cidrBlock": "10.0.0.0/16"}),
            json!({"thingName": "n", "cidrBlock": "10.0.0.0/16", "enabled": false, "password": null}),
            json!({"thingName": "n", "cidrBlock": "10.0.0.0/16", "rules": [{"port": 1, "note": null}, {"port": 2, "sources": ["a"], "note": "x"}]}),
        ] {
            let through_serde = check_resource::<Thing>(input(news.clone())).expect("valid");
            let mut filled = fill_defaults(&ThingArgs::object_spec(), &known(news.clone()));
            mark_secret(&mut filled, ["password"]);
            assert_eq!(filled, through_serde, "{news}");
        }
    }

    #[test]
    fn secrets_stay_secret_while_defaults_are_filled() {
        let mut news = known(json!({"thingName": "n"}));
        news.insert("cidrBlock".into(), PropertyValue::Unknown);
        news.insert("password".into(), PropertyValue::String("p".into()));
        news.insert(
            "rules".into(),
            PropertyValue::Array(vec![PropertyValue::Object(
                [(
                    "port".to_string(),
                    PropertyValue::Secret(Box::new(PropertyValue::Number(22.0))),
                )]
                .into(),
            )]),
        );
        let checked = check_resource::<Thing>(CheckInput {
            news,
            ..Default::default()
        })
        .expect("valid");
        assert!(
            matches!(checked["password"], PropertyValue::Secret(_)),
            "declared secret"
        );
        let PropertyValue::Secret(rules) = &checked["rules"] else {
            panic!("a property holding a secret is secret: {:?}", checked["rules"]);
        };
        assert_eq!(
            **rules,
            known(json!({"r": [{"port": 22, "protocol": "tcp", "sources": []}]}))["r"]
        );
    }

    #[test]
    fn primitive_defaults_appear_in_the_schema() {
        let spec = ThingArgs::object_spec();
        assert_eq!(
            spec.property("enabled").and_then(|p| p.default_value()),
            Some(json!(true))
        );
        assert_eq!(spec.property("rules").and_then(|p| p.default_value()), Some(json!([])));
        assert_eq!(spec.property("password").and_then(|p| p.default_value()), None);
    }

    #[test]
    fn long_names_are_truncated_to_fit() {
        let mut req = input(json!({"cidrBlock": "10.0.0.0/16"}));
        req.name = "a-very-long-logical-resource-name".into();
        let checked = check_resource::<Thing>(req).expect("valid");
        match &checked["thingName"] {
            PropertyValue::String(s) => assert_eq!(s.len(), 20, "{s}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn arb_property() -> impl proptest::strategy::Strategy<Value = PropertyValue> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(PropertyValue::Null),
            Just(PropertyValue::Unknown),
            any::<bool>().prop_map(PropertyValue::Bool),
            any::<f64>().prop_map(PropertyValue::Number),
            ".{0,12}".prop_map(PropertyValue::String),
        ];
        leaf.prop_recursive(3, 32, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(PropertyValue::Array),
                prop::collection::btree_map("[a-zA-Z_]{1,10}", inner.clone(), 0..4).prop_map(PropertyValue::Object),
                inner.prop_map(|v| PropertyValue::Secret(Box::new(v))),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn check_never_panics_on_arbitrary_input(
            news in proptest::collection::btree_map(
                proptest::prop_oneof!["[a-zA-Z_]{1,10}", proptest::strategy::Just("cidrBlock".to_string()),
                    proptest::strategy::Just("rules".to_string()), proptest::strategy::Just("thingName".to_string())],
                arb_property(),
                0..6,
            ),
            seed in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8),
        ) {
            let input = CheckInput { name: "n".into(), news, random_seed: seed, ..Default::default() };
            let _ = check_resource::<Thing>(input);
        }
    }
}
