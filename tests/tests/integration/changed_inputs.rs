//! A plan changes only what the program changed: for every resource kind of every plugin, every
//! input at every depth of the reference environment's samples is changed, one at a time, to
//! another value Check accepts (a character, a number, a flag or a list element different). Diff
//! must then report exactly the top-level input that holds it, and a replacement exactly when the
//! plugin's schema says that input forces one (`willReplaceOnChanges`), so the preview, the
//! schema Pulumi users read and what apply does agree.
//!
//! `unknown_inputs` holds the same invariant for values not known yet; this one for known values.

use std::collections::{BTreeMap, BTreeSet};

use palisade::provider::Subject;
use palisade_provider_kit::value::{PropertyMap, PropertyValue};

use super::bad_inputs::{places, replaced, Place};
use super::unknown_inputs::{replacing_inputs, sample_stacks, samples, Plugins};

/// Other values of the same type as `value`, nearest first: a string with one character changed
/// for another of its class (digits stay digits, so ids, CIDRs and ARNs keep their shape), a number
/// one up or down, the other flag, a list without its last element.
fn neighbours(value: &PropertyValue) -> Vec<PropertyValue> {
    match value {
        PropertyValue::Secret(inner) => neighbours(inner)
            .into_iter()
            .map(|v| PropertyValue::Secret(Box::new(v)))
            .collect(),
        PropertyValue::String(text) => {
            let chars: Vec<char> = text.chars().collect();
            let mut out = Vec::new();
            for i in (0..chars.len()).rev() {
                let other = match chars[i] {
                    '0'..='8' | 'a'..='y' | 'A'..='Y' => char::from(chars[i] as u8 + 1),
                    '9' | 'z' | 'Z' => char::from(chars[i] as u8 - 1),
                    _ => continue,
                };
                let mut changed = chars.clone();
                changed[i] = other;
                out.push(PropertyValue::String(changed.into_iter().collect()));
                if out.len() == 4 {
                    break;
                }
            }
            out
        }
        PropertyValue::Number(n) => [n + 1.0, n - 1.0, n * 2.0]
            .into_iter()
            .filter(|m| *m != *n)
            .map(PropertyValue::Number)
            .collect(),
        PropertyValue::Bool(b) => vec![PropertyValue::Bool(!b)],
        PropertyValue::Array(items) if items.len() > 1 => {
            vec![PropertyValue::Array(items[..items.len() - 1].to_vec())]
        }
        _ => Vec::new(),
    }
}

#[tokio::test]
async fn changing_one_input_changes_only_that_input_and_replaces_exactly_as_the_schema_says() {
    let plugins = Plugins::start().await;
    let kinds = replacing_inputs(&plugins);
    let clients = &plugins.clients;
    let stacks = sample_stacks();
    let samples = samples(&stacks, clients).await;

    let mut violations = Vec::new();
    let mut covered: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut no_valid_neighbour, mut normalised) = (0usize, 0usize);
    for sample in &samples {
        let declared = &sample.declared;
        let client = &clients[declared.package];
        let forcing = &kinds[&declared.token];
        let of = Subject {
            urn: &declared.urn,
            name: &declared.name,
            token: &declared.token,
        };
        let seed = || declared.urn.as_bytes().to_vec();
        let what = format!("{} {}", declared.token, declared.name);
        let old = match client.check(of, &PropertyMap::new(), &sample.inputs, seed()).await {
            Ok(checked) if checked.failures.is_empty() => checked.inputs,
            other => {
                violations.push(format!("{what}: the sample does not check: {other:?}"));
                continue;
            }
        };
        for Place { top, path, value, .. } in places(&sample.inputs) {
            // The first neighbour Check accepts, and what Check makes of it.
            let mut accepted = None;
            for candidate in neighbours(&value) {
                let news = replaced(&sample.inputs, &path, &candidate);
                if let Ok(checked) = client.check(of, &old, &news, seed()).await {
                    if checked.failures.is_empty() {
                        accepted = Some((candidate, checked.inputs));
                        break;
                    }
                }
            }
            let Some((candidate, new)) = accepted else {
                no_valid_neighbour += 1;
                continue;
            };
            if new == old {
                // Check made the user's change disappear: the plan would show nothing for it.
                normalised += 1;
                violations.push(format!(
                    "{what}: {path} changed to {candidate:?} is accepted and checks to the old inputs"
                ));
                continue;
            }
            *covered.entry(declared.token.as_str()).or_default() += 1;
            let case = format!("{what}: {path} changed to {candidate:?}");
            let id = format!("id-{}", declared.name);
            let found = match client.diff(of, &id, &old, &old, &new).await {
                Ok(found) => found,
                Err(error) => {
                    violations.push(format!("{case}: the Diff call failed: {error}"));
                    continue;
                }
            };
            let reported: BTreeSet<&String> = found.detailed.keys().collect();
            if reported != BTreeSet::from([&top]) || !found.changed {
                violations.push(format!(
                    "{case}: Diff reports {:?}, expected exactly [{top}]",
                    found.detailed
                ));
            }
            let expected: Vec<String> = if forcing.contains(&top) {
                vec![top.clone()]
            } else {
                Vec::new()
            };
            if found.replaces != expected {
                violations.push(format!(
                    "{case}: Diff replaces {:?}, expected {expected:?}",
                    found.replaces
                ));
            }
        }
    }
    plugins.stop().await;
    let missing: Vec<&String> = kinds.keys().filter(|k| !covered.contains_key(k.as_str())).collect();
    assert!(missing.is_empty(), "kinds with no input changed: {missing:?}");
    let cases: usize = covered.values().sum();
    assert!(
        violations.is_empty(),
        "{} of {cases} cases fail:\n{}",
        violations.len(),
        violations.join("\n")
    );
    eprintln!(
        "{cases} (kind, changed input) cases over {} kinds; {no_valid_neighbour} places had no neighbour \
         Check accepts, {normalised} changes Check normalised away: {covered:?}",
        covered.len()
    );
    assert!(cases > 500, "only {cases} cases");
}
