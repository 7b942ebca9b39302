//! Bad input gets a clear error naming the property, never a panic or a lost resource: for every
//! resource kind of every plugin, every input at every depth (each object member and array element
//! of the reference environment's samples) is replaced by a value of the wrong JSON type, and every
//! required input is left out, one at a time. Check must answer (not fail the call), refuse the
//! program, and name the property at fault or one that contains it, with a reason; the plugin must
//! keep answering afterwards.
//!
//! The kinds, samples and required inputs come from the plugins' schemas and the reference
//! environment (`unknown_inputs`' samples), so a new kind or property is covered without a line here.

use std::collections::{BTreeMap, BTreeSet};

use palisade::provider::Subject;
use palisade_provider_kit::check::DEFAULTS_KEY;
use palisade_provider_kit::value::{PropertyMap, PropertyValue};
use serde_json::Value as Json;

use super::unknown_inputs::{sample_stacks, samples, Plugins};

/// What the schema says of a kind's inputs.
#[derive(Default)]
struct Inputs {
    required: BTreeSet<String>,
    /// Inputs that are, or hold, values of Pulumi's `Any` type (policy documents), with the depth
    /// below the input where `Any` starts: inside, any JSON is well-typed as far as the schema goes.
    any: BTreeMap<String, usize>,
}

fn schema_inputs(plugins: &Plugins) -> BTreeMap<String, Inputs> {
    let mut kinds = BTreeMap::new();
    for (token, resource) in plugins.kinds() {
        let strings = |value: &Json| -> BTreeSet<String> {
            value
                .as_array()
                .map(|items| items.iter().filter_map(Json::as_str).map(String::from).collect())
                .unwrap_or_default()
        };
        let any = resource["inputProperties"]
            .as_object()
            .expect("inputProperties")
            .iter()
            .filter_map(|(name, p)| {
                let any = |p: &Json| p["$ref"] == "pulumi.json#/Any";
                if any(p) {
                    Some((name.clone(), 0))
                } else if any(&p["additionalProperties"]) || any(&p["items"]) {
                    Some((name.clone(), 1))
                } else {
                    None
                }
            })
            .collect();
        kinds.insert(
            token.clone(),
            Inputs {
                required: strings(&resource["requiredInputs"]),
                any,
            },
        );
    }
    kinds
}

/// A place in the inputs: its top-level input, its wire path (`a.b[1].c`), how many steps below
/// the top-level input it lies, and its value.
pub(super) struct Place {
    pub(super) top: String,
    pub(super) path: String,
    pub(super) depth: usize,
    pub(super) value: PropertyValue,
}

/// Every place in `inputs`, at every depth.
pub(super) fn places(inputs: &PropertyMap) -> Vec<Place> {
    fn walk(top: &str, path: String, depth: usize, value: &PropertyValue, out: &mut Vec<Place>) {
        out.push(Place {
            top: top.to_string(),
            path: path.clone(),
            depth,
            value: value.clone(),
        });
        match value.reveal() {
            PropertyValue::Object(map) => {
                for (key, inner) in &map {
                    walk(top, format!("{path}.{key}"), depth + 1, inner, out);
                }
            }
            PropertyValue::Array(items) => {
                for (i, inner) in items.iter().enumerate() {
                    walk(top, format!("{path}[{i}]"), depth + 1, inner, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (key, value) in inputs {
        if key != DEFAULTS_KEY {
            walk(key, key.clone(), 0, value, &mut out);
        }
    }
    out
}

/// A value of another JSON type than `value` (`None` for values that have no type yet).
fn wrongly_typed(value: &PropertyValue) -> Option<PropertyValue> {
    Some(match value {
        PropertyValue::Secret(inner) => PropertyValue::Secret(Box::new(wrongly_typed(inner)?)),
        PropertyValue::String(_) => PropertyValue::Number(7.0),
        PropertyValue::Number(_) => PropertyValue::String("seven".into()),
        PropertyValue::Bool(_) => PropertyValue::String("yes".into()),
        PropertyValue::Array(_) => PropertyValue::String("not-a-list".into()),
        PropertyValue::Object(_) => PropertyValue::String("not-an-object".into()),
        _ => return None,
    })
}

/// `inputs` with the value at `path` (as [`paths`] names it) replaced by `replacement`.
pub(super) fn replaced(inputs: &PropertyMap, path: &str, replacement: &PropertyValue) -> PropertyMap {
    fn set(value: &mut PropertyValue, here: &str, path: &str, replacement: &PropertyValue) -> bool {
        if here == path {
            *value = replacement.clone();
            return true;
        }
        match value {
            PropertyValue::Secret(inner) => set(inner, here, path, replacement),
            PropertyValue::Object(map) => map
                .iter_mut()
                .any(|(key, inner)| set(inner, &format!("{here}.{key}"), path, replacement)),
            PropertyValue::Array(items) => items
                .iter_mut()
                .enumerate()
                .any(|(i, inner)| set(inner, &format!("{here}[{i}]"), path, replacement)),
            _ => false,
        }
    }
    let mut out = inputs.clone();
    let found = out.iter_mut().any(|(key, value)| set(value, key, path, replacement));
    assert!(found, "{path} is a path of the sample");
    out
}

/// Whether the failure's `property` is `path` or contains it (`vpcConfig` for `vpcConfig.subnets[0]`).
fn names(property: &str, path: &str) -> bool {
    path == property
        || path
            .strip_prefix(property)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

#[tokio::test]
async fn every_wrongly_typed_or_missing_input_of_every_kind_is_refused_naming_it() {
    let plugins = Plugins::start().await;
    let kinds = schema_inputs(&plugins);
    let clients = &plugins.clients;
    let stacks = sample_stacks();
    let samples = samples(&stacks, clients).await;

    let mut violations = Vec::new();
    let mut covered: BTreeMap<&str, usize> = BTreeMap::new();
    let mut seen_reasons = BTreeSet::new();
    for sample in &samples {
        let declared = &sample.declared;
        let client = &clients[declared.package];
        let inputs = &kinds[&declared.token];
        let of = Subject {
            urn: &declared.urn,
            name: &declared.name,
            token: &declared.token,
        };
        let what = format!("{} {}", declared.token, declared.name);
        let mut cases: Vec<(String, String, PropertyMap)> = Vec::new();
        for Place {
            top,
            path,
            depth,
            value,
        } in places(&sample.inputs)
        {
            // Inside an `Any` value every JSON value is well-typed as far as the schema goes (a
            // policy's `Action` is a string or a list); the value itself is still checked.
            if inputs.any.get(&top).is_some_and(|any| depth > *any) {
                continue;
            }
            if let Some(wrong) = wrongly_typed(&value) {
                let news = replaced(&sample.inputs, &path, &wrong);
                cases.push((path, format!("given {wrong:?}"), news));
            }
        }
        for required in &inputs.required {
            let mut without = sample.inputs.clone();
            if without.remove(required).is_some() {
                cases.push((required.clone(), "left out".into(), without));
            }
        }
        for (path, how, news) in cases {
            *covered.entry(declared.token.as_str()).or_default() += 1;
            let case = format!("{what}: {path} {how}");
            match client
                .check(of, &PropertyMap::new(), &news, declared.urn.as_bytes().to_vec())
                .await
            {
                Err(error) => violations.push(format!("{case}: the Check call failed: {error}")),
                Ok(checked) if checked.failures.is_empty() => {
                    violations.push(format!("{case}: accepted"));
                }
                Ok(checked) => {
                    let named = checked
                        .failures
                        .iter()
                        .any(|f| names(&f.property, &path) && !f.reason.trim().is_empty());
                    if !named {
                        violations.push(format!("{case}: the failures do not name it: {:?}", checked.failures));
                    }
                    seen_reasons.extend(
                        checked
                            .failures
                            .iter()
                            .take(1)
                            .map(|f| format!("{}: {}", f.property, f.reason)),
                    );
                }
            }
        }
    }
    // Still answering: no case took a plugin down.
    for (package, client) in clients {
        assert!(
            client
                .raw()
                .get_schema(palisade_proto::pulumirpc::GetSchemaRequest::default())
                .await
                .is_ok(),
            "the {package} plugin stopped answering"
        );
    }
    assert!(
        plugins.stop().await.into_iter().all(|running| running),
        "a plugin exited on its own"
    );
    let missing: Vec<&String> = kinds.keys().filter(|k| !covered.contains_key(k.as_str())).collect();
    assert!(missing.is_empty(), "kinds without a sample: {missing:?}");
    let cases: usize = covered.values().sum();
    assert!(
        violations.is_empty(),
        "{} of {cases} cases fail:\n{}",
        violations.len(),
        violations.join("\n")
    );
    eprintln!(
        "{cases} (kind, bad input) cases over {} kinds; e.g.\n{}",
        covered.len(),
        seen_reasons.iter().take(12).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(cases > 500, "only {cases} cases");
}
