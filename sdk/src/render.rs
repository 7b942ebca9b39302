//! Printing a plan for people, in Pulumi's style, grouped by account.

use std::io::{self, Write};

use palisade_provider_kit::value::PropertyValue;

use crate::preview::{Operation, Plan};

/// Writes `plan` to `out`.
pub fn write_plan(out: &mut dyn Write, plan: &Plan) -> io::Result<()> {
    let names: Vec<&str> = plan.stacks.iter().map(|s| s.stack.as_str()).collect();
    writeln!(
        out,
        "Previewing {} stack(s): {}",
        plan.stacks.len(),
        names.join(", ")
    )?;
    for stack in &plan.stacks {
        writeln!(out)?;
        writeln!(
            out,
            "{} (account {} \"{}\", {})",
            stack.stack, stack.account_id, stack.account, stack.region
        )?;
        for step in &stack.steps {
            let symbol = match step.operation {
                Operation::Create => "+",
            };
            writeln!(out, "  {symbol} {:<34} {}", step.token, step.name)?;
            if !step.failures.is_empty() {
                for failure in &step.failures {
                    writeln!(out, "      error: {failure}")?;
                }
                continue;
            }
            let width = step.inputs.keys().map(String::len).max().unwrap_or(0);
            for (key, value) in step.inputs.iter().filter(|(k, _)| !k.starts_with("__")) {
                writeln!(out, "      {key:<width$} : {}", show(value))?;
            }
        }
    }
    writeln!(out)?;
    let counts = plan.counts();
    let failed = plan.failures().count();
    writeln!(out, "Resources:")?;
    for (operation, count) in counts {
        let (symbol, verb) = match operation {
            Operation::Create => ("+", "to create"),
        };
        writeln!(out, "    {symbol} {count} {verb}")?;
    }
    if failed > 0 {
        writeln!(out, "    {failed} input error(s): fix them before `up`")?;
    }
    Ok(())
}

/// A value as shown in a preview: secrets hidden, unknowns marked.
fn show(value: &PropertyValue) -> String {
    match value {
        PropertyValue::Null => "null".into(),
        PropertyValue::Bool(b) => b.to_string(),
        PropertyValue::Number(n) => n.to_string(),
        PropertyValue::String(s) => format!("{s:?}"),
        PropertyValue::Array(items) => format!(
            "[{}]",
            items.iter().map(show).collect::<Vec<_>>().join(", ")
        ),
        PropertyValue::Object(map) | PropertyValue::Opaque(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{k}: {}", show(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PropertyValue::Secret(_) => "[secret]".into(),
        PropertyValue::Unknown => "(known after apply)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preview::{StackPlan, Step};
    use palisade_provider_kit::resource::CheckFailure;
    use palisade_provider_kit::value::map_from_json;
    use serde_json::json;

    fn golden(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
            std::fs::write(&path, actual).expect("write golden");
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
                path.display()
            )
        });
        assert_eq!(
            actual,
            expected,
            "output differs from {}; UPDATE_GOLDEN=1 rewrites it",
            path.display()
        );
    }

    #[test]
    fn preview_of_two_accounts_matches_the_golden_file() {
        let mut secret_tags =
            map_from_json(&json!({"cidrBlock": "10.0.0.0/16", "enableDnsSupport": true}));
        secret_tags.insert(
            "tags".into(),
            PropertyValue::Secret(Box::new(PropertyValue::Object(Default::default()))),
        );
        secret_tags.insert("vpcId".into(), PropertyValue::Unknown);
        let plan = Plan {
            stacks: vec![
                StackPlan {
                    stack: "dev".into(),
                    account: "dev".into(),
                    account_id: "111111111111".into(),
                    region: "eu-west-1".into(),
                    steps: vec![Step {
                        urn: "urn:pulumi:dev::p::palisade-network:index:Vpc::main".into(),
                        token: "palisade-network:index:Vpc".into(),
                        name: "main".into(),
                        operation: Operation::Create,
                        inputs: secret_tags,
                        failures: vec![],
                    }],
                },
                StackPlan {
                    stack: "staging".into(),
                    account: "staging".into(),
                    account_id: "222222222222".into(),
                    region: "eu-west-1".into(),
                    steps: vec![Step {
                        urn: "urn:pulumi:staging::p::palisade-network:index:Vpc::main".into(),
                        token: "palisade-network:index:Vpc".into(),
                        name: "main".into(),
                        operation: Operation::Create,
                        inputs: Default::default(),
                        failures: vec![CheckFailure::new(
                            "cidrBlock",
                            "\"10.0.0.0/8\" has prefix /8; AWS accepts /16 to /28",
                        )],
                    }],
                },
            ],
        };
        let mut out = Vec::new();
        write_plan(&mut out, &plan).expect("write");
        golden(
            "preview_two_accounts.txt",
            &String::from_utf8(out).expect("utf-8"),
        );
    }
}
