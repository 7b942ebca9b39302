//! Printing plans for people (Pulumi's style, grouped by account) and for machines (JSON).

use std::io::{self, Write};

use palisade_provider_kit::value::{PropertyMap, PropertyValue};
use serde_json::{json, Value as Json};

use crate::guardrails::{self, Finding, Severity};
use crate::plan::{diff_kind_name, Operation, Plan, Step};

/// Writes `plan` for people to `out`. Unchanged resources are counted, not listed.
pub fn write_plan(out: &mut dyn Write, plan: &Plan) -> io::Result<()> {
    let names: Vec<&str> = plan.stacks.iter().map(|s| s.stack.as_str()).collect();
    writeln!(out, "Previewing {} stack(s): {}", plan.stacks.len(), names.join(", "))?;
    for note in &plan.recovered {
        writeln!(out, "  journal: {note}")?;
    }
    for stack in &plan.stacks {
        writeln!(out)?;
        writeln!(
            out,
            "{} (account {} \"{}\", {})",
            stack.stack, stack.account_id, stack.account, stack.region
        )?;
        let steps: Vec<&Step> = plan.steps.iter().filter(|s| s.stack == stack.stack).collect();
        let unchanged = steps
            .iter()
            .filter(|s| s.operation == Operation::Same && s.failures.is_empty())
            .count();
        for step in steps
            .iter()
            .filter(|s| s.operation != Operation::Same || !s.failures.is_empty())
        {
            write_step(out, step)?;
        }
        for (_, old) in plan.leftovers.iter().filter(|(s, _)| *s == stack.stack) {
            writeln!(
                out,
                "  -  {:<40} {}  left by an interrupted replacement (id {}); deleted after the other changes",
                old.token,
                old.urn.rsplit("::").next().unwrap_or_default(),
                old.id
            )?;
        }
        if unchanged > 0 {
            writeln!(out, "    {unchanged} unchanged")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "Resources:")?;
    let counts = plan.counts();
    if !plan.has_changes() {
        writeln!(out, "    no changes")?;
    }
    for (operation, count) in counts {
        let (symbol, verb) = match operation {
            Operation::Create => ("+", "to create"),
            Operation::Update => ("~", "to update"),
            Operation::Replace => ("+-", "to replace"),
            Operation::Delete => ("-", "to delete"),
            Operation::Same => (" ", "unchanged"),
        };
        writeln!(out, "    {symbol} {count} {verb}")?;
    }
    if !plan.leftovers.is_empty() {
        writeln!(
            out,
            "    - {} left by interrupted replacements, to delete",
            plan.leftovers.len()
        )?;
    }
    let failed = plan.failures().count();
    if failed > 0 {
        writeln!(out, "    {failed} error(s): fix them before `up`")?;
    }
    let losses: Vec<&Step> = plan.data_loss().collect();
    if !losses.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Data at risk: {} resource(s) would be replaced or deleted:",
            losses.len()
        )?;
        for step in &losses {
            writeln!(
                out,
                "  !  {} {} {}: loses {}",
                step.stack,
                step.operation.name(),
                step.label(),
                step.data_loss.as_deref().unwrap_or_default()
            )?;
        }
        let names = crate::plan::allow_names(&losses);
        writeln!(
            out,
            "  `up` refuses this unless the run names them: --allow-replace {}",
            names.join(" --allow-replace ")
        )?;
    }
    write_findings(out, &plan.findings)
}

/// The guardrails' findings, grouped by account.
fn write_findings(out: &mut dyn Write, findings: &[Finding]) -> io::Result<()> {
    writeln!(out)?;
    if findings.is_empty() {
        writeln!(out, "Guardrails: all {} rules pass", guardrails::RULES.len())?;
        return Ok(());
    }
    writeln!(out, "Guardrails:")?;
    for finding in findings {
        let label = match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Undecided => "undecided",
        };
        writeln!(
            out,
            "  {label:<9} {} [{} {}] {}",
            finding.rule, finding.stack, finding.account_id, finding.urn
        )?;
        writeln!(out, "            {}", finding.message)?;
        if finding.severity != Severity::Undecided {
            writeln!(out, "            fix: {}", finding.fix)?;
        }
    }
    Ok(())
}

fn write_step(out: &mut dyn Write, step: &Step) -> io::Result<()> {
    let symbol = match step.operation {
        Operation::Create => "+",
        Operation::Update => "~",
        Operation::Replace => "+-",
        Operation::Delete => "-",
        Operation::Same => " ",
    };
    let mut suffix = String::new();
    if step.operation == Operation::Replace && step.delete_before_replace {
        suffix.push_str("  (delete before replace)");
    }
    if step.data_loss.is_some() {
        suffix.push_str("  [destroys data]");
    }
    writeln!(out, "  {symbol:<2} {:<40} {}{suffix}", step.token, step.name)?;
    for failure in &step.failures {
        writeln!(out, "      error: {failure}")?;
    }
    if !step.failures.is_empty() {
        return Ok(());
    }
    let shown: Vec<(&String, &PropertyValue)> = step.inputs.iter().filter(|(k, _)| !k.starts_with("__")).collect();
    let width = shown.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    match step.operation {
        Operation::Create => {
            for (key, value) in shown {
                writeln!(out, "      {key:<width$} : {}", show(value))?;
            }
        }
        Operation::Update | Operation::Replace => {
            let old = step.old.as_ref().map(|o| o.input_map()).unwrap_or_default();
            let width = step.diff.keys().map(String::len).max().unwrap_or(0);
            for (key, kind) in &step.diff {
                let marker = if diff_kind_name(*kind).ends_with("_REPLACE") {
                    "  [forces replacement]"
                } else {
                    ""
                };
                writeln!(out, "      {key:<width$} : {}{marker}", change(&old, &step.inputs, key))?;
            }
        }
        Operation::Delete | Operation::Same => {}
    }
    Ok(())
}

fn change(old: &PropertyMap, new: &PropertyMap, key: &str) -> String {
    match (old.get(key), new.get(key)) {
        (Some(o), Some(n)) => format!("{} => {}", show(o), show(n)),
        (None, Some(n)) => format!("(added) {}", show(n)),
        (Some(o), None) => format!("{} => (removed)", show(o)),
        (None, None) => "changed".into(),
    }
}

/// A value as shown in a preview: secrets hidden, unknowns marked.
fn show(value: &PropertyValue) -> String {
    match value {
        PropertyValue::Null => "null".into(),
        PropertyValue::Bool(b) => b.to_string(),
        PropertyValue::Number(n) => n.to_string(),
        PropertyValue::String(s) => format!("{s:?}"),
        PropertyValue::Array(items) => format!("[{}]", items.iter().map(show).collect::<Vec<_>>().join(", ")),
        PropertyValue::Object(map) | PropertyValue::Opaque(map) => {
            format!(
                "{{{}}}",
                map.iter()
                    .map(|(k, v)| format!("{k}: {}", show(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        PropertyValue::Secret(_) => "[secret]".into(),
        PropertyValue::Unknown => "(known after apply)".into(),
    }
}

/// The plan as JSON for CI: every step with its stack, URN, operation, changed properties, what it
/// would destroy of data, and errors. Secret values never appear. Every key is camelCase; the shape
/// is published as `plan.schema.json` beside this crate's manifest.
pub fn plan_json(plan: &Plan) -> Json {
    let steps: Vec<Json> = plan
        .steps
        .iter()
        .map(|step| {
            json!({
                "stack": step.stack,
                "urn": step.urn,
                "type": step.token,
                "operation": step.operation,
                "diff": step.diff.iter().map(|(k, kind)| (k.clone(), Json::from(diff_kind_name(*kind)))).collect::<serde_json::Map<_, _>>(),
                "deleteBeforeReplace": step.delete_before_replace,
                "dataLoss": step.data_loss,
                "errors": step.failures.iter().map(|f| json!({"property": f.property, "reason": f.reason})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let counts: serde_json::Map<String, Json> = plan
        .counts()
        .into_iter()
        .map(|(op, n)| {
            (
                serde_json::to_value(op)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                n.into(),
            )
        })
        .collect();
    sorted(json!({
        "stacks": plan.stacks.iter().map(|s| json!({"stack": s.stack, "account": s.account, "accountId": s.account_id, "region": s.region})).collect::<Vec<_>>(),
        "steps": steps,
        "counts": counts,
        "findings": plan.findings.iter().map(finding_json).collect::<Vec<_>>(),
        "leftovers": plan.leftovers.iter().map(|(stack, old)| json!({"stack": stack, "urn": old.urn, "type": old.token, "id": old.id})).collect::<Vec<_>>(),
    }))
}

/// A guardrail finding in the plan's JSON, with the same camelCase keys as everything else there.
fn finding_json(finding: &Finding) -> Json {
    json!({
        "rule": finding.rule,
        "severity": finding.severity,
        "stack": finding.stack,
        "accountId": finding.account_id,
        "urn": finding.urn,
        "message": finding.message,
        "fix": finding.fix,
    })
}

/// `value` with object keys in sorted order at every depth, whatever serde_json's map keeps, so
/// that the printed JSON is the same in every build.
fn sorted(value: Json) -> Json {
    match value {
        Json::Object(map) => {
            let entries: std::collections::BTreeMap<String, Json> =
                map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Json::Object(entries.into_iter().collect())
        }
        Json::Array(items) => Json::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The dependency graph in Graphviz DOT.
pub fn graph_dot(graph: &[(String, Vec<String>)]) -> String {
    let mut out = String::from("digraph palisade {\n  rankdir=LR;\n");
    for (urn, _) in graph {
        out.push_str(&format!("  \"{}\";\n", short(urn)));
    }
    for (urn, deps) in graph {
        for dep in deps {
            out.push_str(&format!("  \"{}\" -> \"{}\";\n", short(dep), short(urn)));
        }
    }
    out.push_str("}\n");
    out
}

/// The dependency graph as a Mermaid flowchart.
pub fn graph_mermaid(graph: &[(String, Vec<String>)]) -> String {
    let id = |urn: &str| short(urn).replace([':', '/', '.', '-', ' '], "_");
    let mut out = String::from("flowchart LR\n");
    for (urn, _) in graph {
        out.push_str(&format!("  {}[\"{}\"]\n", id(urn), short(urn)));
    }
    for (urn, deps) in graph {
        for dep in deps {
            out.push_str(&format!("  {} --> {}\n", id(dep), id(urn)));
        }
    }
    out
}

/// `stack/Type/name` from a URN.
fn short(urn: &str) -> String {
    let parts: Vec<&str> = urn.trim_start_matches("urn:pulumi:").split("::").collect();
    match parts.as_slice() {
        [stack, _, token, name] => format!("{stack}/{}/{name}", token.rsplit(':').next().unwrap_or(token)),
        _ => urn.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::StackInfo;
    use crate::state::{to_wire_json, ResourceState};
    use palisade_provider_kit::diff::DiffKind;
    use palisade_provider_kit::resource::CheckFailure;
    use palisade_provider_kit::value::map_from_json;
    use std::collections::BTreeMap;

    fn golden(name: &str, actual: &str) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(name);
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
            std::fs::write(&path, actual).expect("write golden");
        }
        let expected = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}; run with UPDATE_GOLDEN=1 to create it", path.display()));
        assert_eq!(
            actual,
            expected,
            "output differs from {}; UPDATE_GOLDEN=1 rewrites it",
            path.display()
        );
    }

    fn step(stack: &str, name: &str, operation: Operation) -> Step {
        Step {
            stack: stack.into(),
            urn: format!("urn:pulumi:{stack}::p::palisade-network:index:Vpc::{name}"),
            token: "palisade-network:index:Vpc".into(),
            name: name.into(),
            package: "palisade-network".into(),
            operation,
            declared: None,
            inputs: PropertyMap::new(),
            old: None,
            diff: BTreeMap::new(),
            delete_before_replace: false,
            dependencies: Vec::new(),
            protect: false,
            data_loss: None,
            holds_data: None,
            failures: Vec::new(),
        }
    }

    fn plan() -> Plan {
        let mut create = step("dev", "main", Operation::Create);
        create.inputs = map_from_json(&json!({"cidrBlock": "10.0.0.0/16", "enableDnsSupport": true}));
        create.inputs.insert(
            "tags".into(),
            PropertyValue::Secret(Box::new(PropertyValue::Object(Default::default()))),
        );
        create.inputs.insert("vpcId".into(), PropertyValue::Unknown);
        let old_inputs =
            map_from_json(&json!({"cidrBlock": "10.1.0.0/16", "enableDnsHostnames": true, "tags": {"a": "b"}}));
        let old = ResourceState {
            id: "vpc-1".into(),
            inputs: to_wire_json(&old_inputs),
            outputs: json!({}),
            ..ResourceState::default()
        };
        let mut update = step("dev", "other", Operation::Update);
        update.inputs = map_from_json(&json!({"cidrBlock": "10.1.0.0/16", "enableDnsHostnames": false}));
        update.old = Some(old.clone());
        update.diff = BTreeMap::from([
            ("enableDnsHostnames".into(), DiffKind::Update),
            ("tags".into(), DiffKind::Delete),
        ]);
        let mut replace = step("prod", "main", Operation::Replace);
        replace.inputs = map_from_json(&json!({"cidrBlock": "10.2.0.0/16"}));
        replace.old = Some(old);
        replace.diff = BTreeMap::from([("cidrBlock".into(), DiffKind::UpdateReplace)]);
        let mut bucket = step("prod", "models", Operation::Delete);
        bucket.token = "palisade-security:index:Bucket".into();
        bucket.data_loss = Some("the bucket and every object in it".into());
        let mut invalid = step("prod", "bad", Operation::Create);
        invalid.failures = vec![CheckFailure::new(
            "cidrBlock",
            "\"10.0.0.0/8\" has prefix /8; AWS accepts /16 to /28",
        )];
        Plan {
            stacks: vec![
                StackInfo {
                    stack: "dev".into(),
                    account: "dev".into(),
                    account_id: "111111111111".into(),
                    region: "eu-west-1".into(),
                },
                StackInfo {
                    stack: "prod".into(),
                    account: "prod".into(),
                    account_id: "333333333333".into(),
                    region: "eu-west-1".into(),
                },
            ],
            steps: vec![
                create,
                update,
                step("dev", "same", Operation::Same),
                replace,
                invalid,
                step("prod", "old", Operation::Delete),
                bucket,
            ],
            findings: vec![Finding {
                rule: "PAL-NET-02",
                severity: Severity::Error,
                stack: "prod".into(),
                account_id: "333333333333".into(),
                urn: "urn:pulumi:prod::p::palisade-network:index:SecurityGroup::web".into(),
                message: "ingress[0] admits 0.0.0.0/0".into(),
                fix: "admit only the group itself, other groups, or the VPC's and subnets' ranges",
            }],
            leftovers: vec![(
                "dev".into(),
                crate::state::ResourceState {
                    urn: "urn:pulumi:dev::p::palisade-deploy:index:EndpointConfig::serving".into(),
                    token: "palisade-deploy:index:EndpointConfig".into(),
                    package: "palisade-deploy".into(),
                    id: "serving-1a2b3c4".into(),
                    inputs: json!({}),
                    outputs: json!({}),
                    dependencies: Vec::new(),
                    protect: false,
                    holds_data: None,
                },
            )],
            ..Plan::default()
        }
    }

    #[test]
    fn preview_across_accounts_matches_the_golden_file() {
        let mut out = Vec::new();
        write_plan(&mut out, &plan()).expect("write");
        golden("preview_two_accounts.txt", &String::from_utf8(out).expect("utf-8"));
    }

    /// Every key at every depth, with its path.
    fn keys(value: &Json, path: &str, out: &mut Vec<String>) {
        match value {
            Json::Object(map) => {
                for (key, value) in map {
                    out.push(format!("{path}.{key}"));
                    keys(value, &format!("{path}.{key}"), out);
                }
            }
            Json::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    keys(item, &format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn json_plan_follows_the_published_schema() {
        let schema: Json = serde_json::from_str(include_str!("../plan.schema.json")).expect("the schema is JSON");
        let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
        let plan = plan_json(&plan());
        let errors: Vec<String> = validator
            .iter_errors(&plan)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "plan.schema.json refuses the plan:\n{}",
            errors.join("\n")
        );
        let mut snake = plan.clone();
        snake["findings"][0]["account_id"] = "333333333333".into();
        assert!(!validator.is_valid(&snake), "the schema accepted a snake_case key");
    }

    #[test]
    fn every_json_key_is_camel_case() {
        let mut found = Vec::new();
        keys(&plan_json(&plan()), "", &mut found);
        assert!(found.iter().any(|k| k.ends_with(".accountId")), "{found:?}");
        let wrong: Vec<&String> = found
            .iter()
            .filter(|path| {
                let key = path.rsplit('.').next().unwrap_or_default();
                !(key.starts_with(|c: char| c.is_ascii_lowercase()) && key.chars().all(|c| c.is_ascii_alphanumeric()))
            })
            .collect();
        assert!(wrong.is_empty(), "keys not in camelCase: {wrong:?}");
    }

    #[test]
    fn json_plan_matches_the_golden_file_and_hides_secrets() {
        let text = serde_json::to_string_pretty(&plan_json(&plan())).expect("json") + "\n";
        assert!(!text.contains("[secret]") && !text.contains("1b47061264138c4ac30d75fd1eb44270"));
        golden("plan.json", &text);
    }

    #[test]
    fn graphs_name_every_edge() {
        let graph = vec![
            (
                "urn:pulumi:dev::p::palisade-network:index:Vpc::main".to_string(),
                vec![],
            ),
            (
                "urn:pulumi:dev::p::palisade-network:index:Subnet::a".to_string(),
                vec!["urn:pulumi:dev::p::palisade-network:index:Vpc::main".to_string()],
            ),
        ];
        assert!(graph_dot(&graph).contains("\"dev/Vpc/main\" -> \"dev/Subnet/a\";"));
        assert!(graph_mermaid(&graph).contains("dev_Vpc_main --> dev_Subnet_a"));
    }
}
