//! Every provider's package schema is a well-formed Pulumi package schema, checked by the project's own
//! structural rules (no file from outside the repository): type tokens are `package:module:Name`,
//! every `$ref` resolves, required properties exist, every property type is a Pulumi type, a
//! resource's outputs carry its inputs with the same types, and functions have sane inputs and
//! outputs. Each rule has teeth: a copy broken in the way the rule forbids is refused.

use palisade_tests::plugin_schema;
use serde_json::{json, Value as Json};

/// The provider packages built in this workspace.
const PACKAGES: &[&str] = &[
    "palisade-network",
    "palisade-security",
    "palisade-studio",
    "palisade-deploy",
];

/// The keys a property (or a type reference) may carry in a Pulumi package schema.
const PROPERTY_KEYS: &[&str] = &[
    "type",
    "items",
    "additionalProperties",
    "$ref",
    "oneOf",
    "plain",
    "description",
    "const",
    "default",
    "defaultInfo",
    "deprecationMessage",
    "language",
    "secret",
    "replaceOnChanges",
    "willReplaceOnChanges",
];

/// The primitive types of Pulumi's type system.
const PRIMITIVES: &[&str] = &["string", "integer", "number", "boolean"];

/// The built-in types a `$ref` may name.
const BUILT_INS: &[&str] = &[
    "pulumi.json#/Any",
    "pulumi.json#/Archive",
    "pulumi.json#/Asset",
    "pulumi.json#/Json",
];

/// Property names the engine reserves on every resource.
const RESERVED: &[&str] = &["id", "urn"];

/// The problems found in `schema`, each naming where (`resources.palisade-network:index:Vpc.inputProperties.cidrBlock`).
fn problems(schema: &Json) -> Vec<String> {
    let mut found = Vec::new();
    let mut problem = |at: &str, what: String| found.push(format!("{at}: {what}"));
    let Some(package) = schema["name"].as_str() else {
        problem("name", "missing or not a string".into());
        return found;
    };
    if !is_package_name(package) {
        problem(
            "name",
            format!("`{package}` is not lower-case letters, digits and dashes"),
        );
    }
    match schema["version"].as_str() {
        Some(version) if is_semver(version) => {}
        other => problem("version", format!("{other:?} is not a semantic version")),
    }
    for section in ["types", "resources", "functions"] {
        match &schema[section] {
            Json::Null => {}
            Json::Object(_) => {}
            _ => problem(section, "not an object".into()),
        }
    }
    let empty = serde_json::Map::new();
    let types = schema["types"].as_object().unwrap_or(&empty);
    let resources = schema["resources"].as_object().unwrap_or(&empty);
    let functions = schema["functions"].as_object().unwrap_or(&empty);
    let mut problems = Vec::new();
    let ctx = Context {
        package,
        types,
        resources,
    };

    for (token, spec) in types {
        let at = format!("types.{token}");
        ctx.token(&at, token, Case::Pascal, &mut problems);
        match spec["type"].as_str() {
            Some("object") => ctx.object(&at, spec, "properties", "required", &mut problems),
            Some(primitive) if PRIMITIVES.contains(&primitive) && spec["enum"].is_array() => {
                for (i, case) in spec["enum"].as_array().into_iter().flatten().enumerate() {
                    if case.get("value").is_none() {
                        problems.push(format!("{at}.enum[{i}]: an enum case needs a value"));
                    }
                }
            }
            other => problems.push(format!("{at}: a named type is an object or an enum, not {other:?}")),
        }
    }
    for (token, spec) in resources {
        let at = format!("resources.{token}");
        ctx.token(&at, token, Case::Pascal, &mut problems);
        if spec["description"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{at}: no description"));
        }
        ctx.object(&at, spec, "properties", "required", &mut problems);
        ctx.object(&at, spec, "inputProperties", "requiredInputs", &mut problems);
        for reserved in RESERVED {
            for section in ["properties", "inputProperties"] {
                if spec[section].get(reserved).is_some() {
                    problems.push(format!(
                        "{at}.{section}.{reserved}: `{reserved}` is reserved by the engine"
                    ));
                }
            }
        }
        // The outputs carry every input, with the same type and the same secrecy.
        for (name, input) in spec["inputProperties"].as_object().unwrap_or(&empty) {
            let Some(output) = spec["properties"].get(name) else {
                problems.push(format!("{at}.inputProperties.{name}: an input that is not an output"));
                continue;
            };
            if type_of(input) != type_of(output) {
                problems.push(format!(
                    "{at}.{name}: the input's type {} differs from the output's {}",
                    type_of(input),
                    type_of(output)
                ));
            }
            if input["secret"] == json!(true) && output["secret"] != json!(true) {
                problems.push(format!(
                    "{at}.properties.{name}: a secret input must be a secret output"
                ));
            }
        }
    }
    for (token, spec) in functions {
        let at = format!("functions.{token}");
        ctx.token(&at, token, Case::Camel, &mut problems);
        if spec["description"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{at}: no description"));
        }
        for part in ["inputs", "outputs"] {
            match &spec[part] {
                Json::Object(_) => ctx.object(
                    &format!("{at}.{part}"),
                    &spec[part],
                    "properties",
                    "required",
                    &mut problems,
                ),
                Json::Null if part == "inputs" => {}
                _ => problems.push(format!("{at}.{part}: missing or not an object")),
            }
        }
        if spec["outputs"]["properties"].as_object().is_some_and(|p| p.is_empty()) {
            problems.push(format!("{at}.outputs: a function that returns nothing"));
        }
    }
    // The provider's configuration: the same properties as `config.variables`.
    let variables = schema["config"]["variables"].as_object().unwrap_or(&empty);
    for (name, variable) in variables {
        ctx.property(&format!("config.variables.{name}"), variable, &mut problems);
    }
    if schema.get("provider").is_some() {
        ctx.object(
            "provider",
            &schema["provider"],
            "inputProperties",
            "requiredInputs",
            &mut problems,
        );
        let inputs = schema["provider"]["inputProperties"].as_object().unwrap_or(&empty);
        for name in variables.keys().filter(|n| !inputs.contains_key(*n)) {
            problems.push(format!(
                "provider.inputProperties.{name}: a configuration variable the provider does not take"
            ));
        }
    }
    found.extend(problems);
    found
}

/// What a check needs to resolve references.
struct Context<'a> {
    package: &'a str,
    types: &'a serde_json::Map<String, Json>,
    resources: &'a serde_json::Map<String, Json>,
}

#[derive(Clone, Copy)]
enum Case {
    /// `Vpc`, `ModelPackageGroup`: resources and types.
    Pascal,
    /// `getLatestApprovedModelPackage`: functions.
    Camel,
}

impl Context<'_> {
    /// A token `package:module:Name` of this package.
    fn token(&self, at: &str, token: &str, case: Case, problems: &mut Vec<String>) {
        let parts: Vec<&str> = token.split(':').collect();
        let [package, module, name] = parts.as_slice() else {
            problems.push(format!("{at}: the token `{token}` is not package:module:Name"));
            return;
        };
        if *package != self.package {
            problems.push(format!(
                "{at}: the token's package `{package}` is not `{}`",
                self.package
            ));
        }
        if module.is_empty() || !module.chars().all(|c| c.is_ascii_alphanumeric() || "_/-.".contains(c)) {
            problems.push(format!("{at}: the token's module `{module}` is not a module name"));
        }
        let first_ok = match case {
            Case::Pascal => name.starts_with(|c: char| c.is_ascii_uppercase()),
            Case::Camel => name.starts_with(|c: char| c.is_ascii_lowercase()),
        };
        if !first_ok || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            let expected = match case {
                Case::Pascal => "PascalCase",
                Case::Camel => "camelCase",
            };
            problems.push(format!("{at}: the token's name `{name}` is not {expected}"));
        }
    }

    /// An object spec: a `properties` map of valid properties and a `required` list naming them.
    fn object(&self, at: &str, spec: &Json, properties: &str, required: &str, problems: &mut Vec<String>) {
        let props = match &spec[properties] {
            Json::Object(props) => props.clone(),
            Json::Null => serde_json::Map::new(),
            _ => {
                problems.push(format!("{at}.{properties}: not an object"));
                serde_json::Map::new()
            }
        };
        for (name, property) in &props {
            if !is_property_name(name) {
                problems.push(format!("{at}.{properties}.{name}: not a camelCase property name"));
            }
            self.property(&format!("{at}.{properties}.{name}"), property, problems);
        }
        match &spec[required] {
            Json::Null => {}
            Json::Array(names) => {
                for (i, name) in names.iter().enumerate() {
                    match name.as_str() {
                        Some(name) if props.contains_key(name) => {}
                        Some(name) => problems.push(format!(
                            "{at}.{required}[{i}]: `{name}` is required but is not among the {properties}"
                        )),
                        None => problems.push(format!("{at}.{required}[{i}]: not a property name")),
                    }
                }
            }
            _ => problems.push(format!("{at}.{required}: not a list of property names")),
        }
    }

    /// A property: a Pulumi type, with only the keys Pulumi knows.
    fn property(&self, at: &str, property: &Json, problems: &mut Vec<String>) {
        let Some(fields) = property.as_object() else {
            problems.push(format!("{at}: not an object"));
            return;
        };
        for key in fields.keys().filter(|k| !PROPERTY_KEYS.contains(&k.as_str())) {
            problems.push(format!("{at}: unknown key `{key}`"));
        }
        for flag in ["secret", "willReplaceOnChanges", "replaceOnChanges", "plain"] {
            if fields.get(flag).is_some_and(|v| !v.is_boolean()) {
                problems.push(format!("{at}.{flag}: not a boolean"));
            }
        }
        if let Some(description) = fields.get("description") {
            if !description.is_string() {
                problems.push(format!("{at}.description: not a string"));
            }
        }
        self.type_reference(at, property, problems);
    }

    /// A type: a primitive, an array of a type, a map of a type, or a resolving `$ref`.
    fn type_reference(&self, at: &str, ty: &Json, problems: &mut Vec<String>) {
        if let Some(choices) = ty.get("oneOf") {
            match choices.as_array() {
                Some(choices) if choices.len() >= 2 => {
                    for (i, choice) in choices.iter().enumerate() {
                        self.type_reference(&format!("{at}.oneOf[{i}]"), choice, problems);
                    }
                }
                _ => problems.push(format!("{at}.oneOf: needs at least two types")),
            }
            return;
        }
        match (ty.get("$ref"), ty.get("type")) {
            (Some(reference), None) => self.resolve(at, reference, problems),
            (Some(_), Some(_)) => problems.push(format!("{at}: both `$ref` and `type`")),
            (None, None) => problems.push(format!("{at}: neither `type` nor `$ref`")),
            (None, Some(kind)) => match kind.as_str() {
                Some(primitive) if PRIMITIVES.contains(&primitive) => {}
                Some("array") => match ty.get("items") {
                    Some(items) => self.type_reference(&format!("{at}.items"), items, problems),
                    None => problems.push(format!("{at}: an array without `items`")),
                },
                Some("object") => match ty.get("additionalProperties") {
                    Some(values) => self.type_reference(&format!("{at}.additionalProperties"), values, problems),
                    None => problems.push(format!(
                        "{at}: an inline object needs `additionalProperties` (a map), or a `$ref` to a named type"
                    )),
                },
                _ => problems.push(format!("{at}: `{kind}` is not a Pulumi type")),
            },
        }
    }

    /// A `$ref`: a built-in, or a type or resource of this package.
    fn resolve(&self, at: &str, reference: &Json, problems: &mut Vec<String>) {
        let Some(reference) = reference.as_str() else {
            problems.push(format!("{at}.$ref: not a string"));
            return;
        };
        if BUILT_INS.contains(&reference) {
            return;
        }
        let resolved = if let Some(token) = reference.strip_prefix("#/types/") {
            self.types.get(token).is_some_and(|t| !t.is_null())
        } else if let Some(token) = reference.strip_prefix("#/resources/") {
            self.resources.contains_key(token)
        } else {
            false
        };
        if !resolved {
            problems.push(format!("{at}.$ref: `{reference}` does not resolve"));
        }
    }
}

/// A type's identity, without its documentation and flags.
fn type_of(property: &Json) -> Json {
    let mut ty = serde_json::Map::new();
    for key in ["type", "$ref", "items", "additionalProperties", "oneOf"] {
        if let Some(value) = property.get(key) {
            let value = match key {
                "items" | "additionalProperties" => type_of(value),
                _ => value.clone(),
            };
            ty.insert(key.into(), value);
        }
    }
    Json::Object(ty)
}

fn is_package_name(name: &str) -> bool {
    !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn is_property_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_semver(version: &str) -> bool {
    let core = version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

async fn schema_of(package: &str) -> Json {
    plugin_schema(package).await.expect("the plugin answers its schema")
}

#[tokio::test]
async fn every_provider_schema_is_a_well_formed_pulumi_package_schema() {
    for package in PACKAGES {
        let schema = schema_of(package).await;
        assert_eq!(schema["name"], *package);
        let found = problems(&schema);
        assert!(found.is_empty(), "{package}:\n{}", found.join("\n"));
        let resources = schema["resources"].as_object().expect("resources");
        assert!(!resources.is_empty(), "{package} offers no resources");
        for token in resources.keys() {
            assert!(token.starts_with(&format!("{package}:index:")), "{token}");
        }
    }
}

/// Each rule refuses the defect it is there for, reported at its path.
#[tokio::test]
async fn the_structural_check_refuses_each_kind_of_defect() {
    let schema = schema_of("palisade-network").await;
    let vpc = "palisade-network:index:Vpc";
    assert!(
        schema["resources"].get(vpc).is_some(),
        "the network package declares {vpc}"
    );
    let some_type = schema["types"]
        .as_object()
        .and_then(|t| t.keys().next().cloned())
        .expect("the network package declares a named type");
    let some_input = schema["resources"][vpc]["inputProperties"]
        .as_object()
        .and_then(|p| p.keys().next().cloned())
        .expect("Vpc has inputs");

    type Break = Box<dyn Fn(&mut Json)>;
    let cases: Vec<(&str, Break, String)> = vec![
        (
            "a token that is not package:module:Name",
            Box::new(move |s: &mut Json| {
                let r = s["resources"][vpc].take();
                s["resources"]["palisade-network:Vpc"] = r;
            }),
            "resources.palisade-network:Vpc: the token `palisade-network:Vpc` is not package:module:Name".into(),
        ),
        (
            "a token of another package",
            Box::new(move |s: &mut Json| {
                let r = s["resources"][vpc].take();
                s["resources"]["aws:index:Vpc"] = r;
            }),
            "the token's package `aws` is not `palisade-network`".into(),
        ),
        (
            "a resource name that is not PascalCase",
            Box::new(move |s: &mut Json| {
                let r = s["resources"][vpc].take();
                s["resources"]["palisade-network:index:vpc"] = r;
            }),
            "the token's name `vpc` is not PascalCase".into(),
        ),
        (
            "a $ref that does not resolve",
            Box::new(move |s: &mut Json| {
                s["resources"][vpc]["properties"]["dangling"] = json!({"$ref": "#/types/palisade-network:index:Nowhere"});
            }),
            format!("resources.{vpc}.properties.dangling.$ref: `#/types/palisade-network:index:Nowhere` does not resolve"),
        ),
        (
            "a required input that is not an input",
            Box::new(move |s: &mut Json| {
                s["resources"][vpc]["requiredInputs"] = json!(["cidrBlok"]);
            }),
            format!("resources.{vpc}.requiredInputs[0]: `cidrBlok` is required but is not among the inputProperties"),
        ),
        (
            "a type that is not a Pulumi type",
            Box::new(move |s: &mut Json| {
                s["resources"][vpc]["properties"]["size"] = json!({"type": "int64"});
            }),
            format!("resources.{vpc}.properties.size: `\"int64\"` is not a Pulumi type"),
        ),
        (
            "an array without items",
            Box::new(move |s: &mut Json| {
                s["resources"][vpc]["properties"]["list"] = json!({"type": "array"});
            }),
            format!("resources.{vpc}.properties.list: an array without `items`"),
        ),
        (
            "an input the outputs lack",
            Box::new({
                let some_input = some_input.clone();
                move |s: &mut Json| {
                    s["resources"][vpc]["properties"][&some_input].take();
                    if let Some(p) = s["resources"][vpc]["properties"].as_object_mut() {
                        p.remove(&some_input);
                    }
                }
            }),
            format!("resources.{vpc}.inputProperties.{some_input}: an input that is not an output"),
        ),
        (
            "an input whose output has another type",
            Box::new({
                let some_input = some_input.clone();
                move |s: &mut Json| {
                    s["resources"][vpc]["properties"][&some_input] = json!({"type": "number"});
                    s["resources"][vpc]["inputProperties"][&some_input] = json!({"type": "boolean"});
                }
            }),
            format!("resources.{vpc}.{some_input}: the input's type {{\"type\":\"boolean\"}} differs from the output's {{\"type\":\"number\"}}"),
        ),
        (
            "a reserved property",
            Box::new(move |s: &mut Json| {
                s["resources"][vpc]["properties"]["id"] = json!({"type": "string"});
            }),
            format!("resources.{vpc}.properties.id: `id` is reserved by the engine"),
        ),
        (
            "an unknown key on a property",
            Box::new(move |s: &mut Json| {
                s["resources"][vpc]["properties"]["odd"] = json!({"type": "string", "required": true});
            }),
            format!("resources.{vpc}.properties.odd: unknown key `required`"),
        ),
        (
            "a named type that is not an object",
            Box::new({
                let some_type = some_type.clone();
                move |s: &mut Json| {
                    s["types"][&some_type]["type"] = json!("array");
                }
            }),
            format!("types.{some_type}: a named type is an object or an enum, not Some(\"array\")"),
        ),
        (
            "a function without outputs",
            Box::new(|s: &mut Json| {
                s["functions"]["palisade-network:index:getNothing"] = json!({"description": "x", "inputs": {"properties": {}}});
            }),
            "functions.palisade-network:index:getNothing.outputs: missing or not an object".into(),
        ),
        (
            "a function whose required input is not an input",
            Box::new(|s: &mut Json| {
                s["functions"]["palisade-network:index:getThing"] = json!({
                    "description": "x",
                    "inputs": {"properties": {"name": {"type": "string"}}, "required": ["nam"]},
                    "outputs": {"properties": {"arn": {"type": "string"}}},
                });
            }),
            "functions.palisade-network:index:getThing.inputs.required[0]: `nam` is required but is not among the properties".into(),
        ),
        (
            "a version that is not semver",
            Box::new(|s: &mut Json| s["version"] = json!("1.0")),
            "version: Some(\"1.0\") is not a semantic version".into(),
        ),
    ];
    for (what, break_it, expected) in cases {
        let mut broken = schema.clone();
        break_it(&mut broken);
        let found = problems(&broken);
        assert!(
            found.iter().any(|p| p.contains(&expected)),
            "{what}: expected a problem containing {expected:?}, found:\n{}",
            found.join("\n")
        );
    }
}
