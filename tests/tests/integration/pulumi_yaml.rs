//! The Pulumi YAML example (`examples/pulumi-yaml/Pulumi.yaml`) checked against the provider plugins'
//! own schemas, so that it cannot drift from them: every resource type, input property, required
//! input, provider setting and `${resource.output}` it uses must be one the plugins declare.
//!
//! There is no Pulumi CLI here; this check is what keeps the example honest.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Component, Path, PathBuf};

use palisade_tests::{plugin_path, plugin_schema, workspace_root};
use serde_json::{json, Value as Json};

/// The example's folder, relative to the workspace root.
const EXAMPLE_DIR: &str = "examples/pulumi-yaml";

/// The type token of an explicit provider resource, before the package name.
const PROVIDER_TYPE: &str = "pulumi:providers:";

/// Where cargo puts the plugin binaries, relative to the workspace root; the example points there.
const PLUGIN_DIR: &str = "target/debug";

/// One thing wrong with the program: where (a path into the document, which names the resource and
/// the property) and what.
#[derive(Debug)]
struct Problem {
    at: String,
    what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.what)
    }
}

/// The example, parsed.
fn example() -> Json {
    let path = workspace_root().join(EXAMPLE_DIR).join("Pulumi.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()))
}

/// The program's resources, by name.
fn resources(program: &Json) -> impl Iterator<Item = (&String, &Json)> {
    program["resources"].as_object().into_iter().flatten()
}

/// The package a type token belongs to: `palisade-network` for `palisade-network:index:Vpc` and for
/// `pulumi:providers:palisade-network`.
fn package_of(token: &str) -> &str {
    match token.strip_prefix(PROVIDER_TYPE) {
        Some(package) => package,
        None => token.split(':').next().unwrap_or(token),
    }
}

/// The schema of every package the program's types name, from its plugin's GetSchema. A package
/// without a plugin binary is left out; the check then reports the types that name it.
async fn schemas_for(program: &Json) -> BTreeMap<String, Json> {
    let packages: BTreeSet<&str> = resources(program)
        .filter_map(|(_, resource)| resource["type"].as_str())
        .map(package_of)
        .collect();
    let mut schemas = BTreeMap::new();
    for package in packages {
        if plugin_path(package).is_err() {
            continue;
        }
        let schema = plugin_schema(package).await.expect("the plugin answers its schema");
        schemas.insert(package.to_string(), schema);
    }
    schemas
}

/// What a name at the start of an interpolation (`${name...}`) stands for.
enum Declared<'p> {
    /// A resource, with its type token.
    Resource(&'p str),
    /// A config value, with its declared type when it has one.
    Config(Option<&'p str>),
    /// A variable, or Pulumi's built-in `pulumi` (`${pulumi.stack}`).
    Other,
}

/// An interpolation `${name.property...}`: the name, the first property accessed, and whether more
/// follows (`[0]`, `.more`).
struct Reference<'t> {
    name: &'t str,
    property: Option<&'t str>,
    more: bool,
}

impl<'t> Reference<'t> {
    fn parse(expression: &'t str) -> Self {
        let split = |text: &'t str| {
            let end = text.find(['.', '[']).unwrap_or(text.len());
            (&text[..end], &text[end..])
        };
        let (name, rest) = split(expression);
        match rest.strip_prefix('.') {
            Some(access) => {
                let (property, rest) = split(access);
                Self {
                    name,
                    property: Some(property),
                    more: !rest.is_empty(),
                }
            }
            None => Self {
                name,
                property: None,
                more: !rest.is_empty(),
            },
        }
    }

    /// The reference when `text` is exactly one interpolation and nothing else.
    fn whole(text: &'t str) -> Option<Self> {
        let inner = text.strip_prefix("${")?.strip_suffix('}')?;
        (!inner.contains(['$', '{', '}'])).then(|| Self::parse(inner))
    }
}

/// The expressions of the interpolations in `text`, without their `${` and `}`. `$${` is a literal.
fn interpolations(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let escaped = rest[..start].ends_with('$');
        let after = &rest[start + 2..];
        if escaped {
            rest = after;
            continue;
        }
        let Some(end) = after.find('}') else {
            break;
        };
        found.push(&after[..end]);
        rest = &after[end + 1..];
    }
    found
}

/// Calls `visit` with the location and text of every string in `value`, keys excluded.
fn walk<'v>(value: &'v Json, at: &str, visit: &mut dyn FnMut(&str, &'v str)) {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_string()
        } else {
            format!("{at}.{key}")
        }
    };
    match value {
        Json::String(text) => visit(at, text),
        Json::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                walk(item, &format!("{at}[{index}]"), visit);
            }
        }
        Json::Object(fields) => {
            for (key, field) in fields {
                walk(field, &join(key), visit);
            }
        }
        _ => {}
    }
}

/// The names of an object's keys, for messages.
fn keys(object: &Json) -> String {
    let names: Vec<&str> = object
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    names.join(", ")
}

/// The JSON type a schema property has: `string`, `boolean`, ..., `object` for a named object type,
/// nothing for `Any`.
fn kind_of(spec: &Json) -> Option<&str> {
    match spec["$ref"].as_str() {
        Some(reference) if reference.starts_with("#/types/") => Some("object"),
        Some(_) => None,
        None => spec["type"].as_str(),
    }
}

/// `path` with `.` and `..` resolved without touching the file system.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut normal = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    normal
}

/// Checks a parsed Pulumi YAML program against package schemas.
struct Checker<'p> {
    schemas: &'p BTreeMap<String, Json>,
    names: BTreeMap<&'p str, Declared<'p>>,
    problems: Vec<Problem>,
}

/// Everything wrong with `program` given the package `schemas`; empty when it matches them.
fn check(program: &Json, schemas: &BTreeMap<String, Json>) -> Vec<Problem> {
    let mut checker = Checker {
        schemas,
        names: declared_names(program),
        problems: Vec::new(),
    };
    if program["runtime"] != "yaml" {
        checker.problem("runtime", format!("{} is not `yaml`", program["runtime"]));
    }
    checker.check_plugins(program);
    for (name, resource) in resources(program) {
        checker.check_resource(name, resource);
    }
    walk(program, "", &mut |at, text| checker.check_interpolations(at, text));
    checker.check_cycles(program);
    checker.problems
}

/// The names interpolations may start with: resources, config values, variables and `pulumi`.
fn declared_names(program: &Json) -> BTreeMap<&str, Declared<'_>> {
    let mut names = BTreeMap::from([("pulumi", Declared::Other)]);
    for (name, value) in program["config"].as_object().into_iter().flatten() {
        names.insert(name.as_str(), Declared::Config(value["type"].as_str()));
    }
    for (name, _) in program["variables"].as_object().into_iter().flatten() {
        names.insert(name.as_str(), Declared::Other);
    }
    for (name, resource) in resources(program) {
        names.insert(
            name.as_str(),
            Declared::Resource(resource["type"].as_str().unwrap_or_default()),
        );
    }
    names
}

impl<'p> Checker<'p> {
    fn problem(&mut self, at: impl Into<String>, what: impl Into<String>) {
        self.problems.push(Problem {
            at: at.into(),
            what: what.into(),
        });
    }

    /// The schema entry of a resource type (a provider's own entry for `pulumi:providers:...`).
    fn spec_of(&self, token: &str) -> Option<&'p Json> {
        let schema = self.schemas.get(package_of(token))?;
        if token.starts_with(PROVIDER_TYPE) {
            schema.get("provider")
        } else {
            schema["resources"].get(token)
        }
    }

    /// Every package the program uses has an entry in `plugins.providers` that points at the folder
    /// cargo builds the plugins into.
    fn check_plugins(&mut self, program: &Json) {
        let example_dir = workspace_root().join(EXAMPLE_DIR);
        let expected = lexically_normal(&workspace_root().join(PLUGIN_DIR));
        let entries = program["plugins"]["providers"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let used: BTreeSet<&str> = resources(program)
            .filter_map(|(_, resource)| resource["type"].as_str())
            .map(package_of)
            .collect();
        for package in used {
            let Some(index) = entries.iter().position(|entry| entry["name"] == package) else {
                self.problem(
                    "plugins.providers",
                    format!("no entry for `{package}`; the engine would look for it on PATH and in its plugin cache"),
                );
                continue;
            };
            let path = entries[index]["path"].as_str().unwrap_or_default();
            let resolved = lexically_normal(&example_dir.join(path));
            if resolved != expected {
                self.problem(
                    format!("plugins.providers[{index}].path"),
                    format!(
                        "`{path}` is {}, not {}, where cargo builds the plugins",
                        resolved.display(),
                        expected.display()
                    ),
                );
            }
        }
    }

    fn check_resource(&mut self, name: &str, resource: &'p Json) {
        let at = format!("resources.{name}");
        let Some(token) = resource["type"].as_str() else {
            self.problem(format!("{at}.type"), "missing");
            return;
        };
        let package = package_of(token);
        let Some(schema) = self.schemas.get(package) else {
            self.problem(
                format!("{at}.type"),
                format!(
                    "`{token}`: package `{package}` has no plugin binary (build them with `cargo build --workspace \
                     --all-features --bins`, or correct the name)"
                ),
            );
            return;
        };
        let Some(spec) = self.spec_of(token) else {
            self.problem(
                format!("{at}.type"),
                format!(
                    "`{token}` is not a resource of `{package}`; it offers {}",
                    keys(&schema["resources"])
                ),
            );
            return;
        };
        self.check_object(
            &format!("{at}.properties"),
            &resource["properties"],
            &spec["inputProperties"],
            &spec["requiredInputs"],
            schema,
        );
        if !token.starts_with(PROVIDER_TYPE) {
            self.check_provider_option(&at, resource, package);
        }
    }

    /// Every resource names its explicit provider, of its own package, so that nothing is created in
    /// whatever account the ambient credentials happen to reach.
    fn check_provider_option(&mut self, at: &str, resource: &Json, package: &str) {
        let at = format!("{at}.options.provider");
        let wanted = format!("{PROVIDER_TYPE}{package}");
        let Some(text) = resource["options"]["provider"].as_str() else {
            self.problem(at, format!("missing; name a `{wanted}` resource"));
            return;
        };
        let named = Reference::whole(text).filter(|r| r.property.is_none() && !r.more);
        let fits = named.is_some_and(|r| matches!(self.names.get(r.name), Some(Declared::Resource(t)) if *t == wanted));
        if !fits {
            self.problem(at, format!("`{text}` is not a `{wanted}` resource"));
        }
    }

    /// `given` (an object, or nothing) has only the `properties` of the schema, and every one of
    /// `required`; each value has the property's type.
    fn check_object(&mut self, at: &str, given: &Json, properties: &Json, required: &Json, schema: &Json) {
        let empty = serde_json::Map::new();
        let fields = match given {
            Json::Null => &empty,
            Json::Object(fields) => fields,
            other => {
                self.problem(at, format!("{other} is not an object"));
                return;
            }
        };
        for (key, value) in fields {
            let at = format!("{at}.{key}");
            match properties.get(key) {
                Some(spec) => self.check_value(&at, value, spec, schema),
                None => self.problem(at, format!("not an input here; the inputs are {}", keys(properties))),
            }
        }
        for name in required.as_array().into_iter().flatten().filter_map(Json::as_str) {
            if !fields.contains_key(name) {
                self.problem(format!("{at}.{name}"), "required, but missing");
            }
        }
    }

    /// `value` has the type `spec` declares, as far as a value written in YAML shows it.
    fn check_value(&mut self, at: &str, value: &Json, spec: &Json, schema: &Json) {
        let expected = kind_of(spec);
        if let Some(found) = self.expression_kind(value) {
            if let (Some(expected), Some(found)) = (expected, found) {
                let fits = expected == found || (expected == "number" && found == "integer");
                if !fits {
                    self.problem(at, format!("{value} is a {found}, but the property is a {expected}"));
                }
            }
            return;
        }
        if let Some(token) = spec["$ref"].as_str().and_then(|r| r.strip_prefix("#/types/")) {
            let object_type = &schema["types"][token];
            if !value.is_object() {
                self.problem(at, format!("{value} is not an object of type `{token}`"));
                return;
            }
            self.check_object(at, value, &object_type["properties"], &object_type["required"], schema);
            return;
        }
        let fits = match expected {
            None => true,
            Some("string") => value.is_string(),
            Some("boolean") => value.is_boolean(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("array") => value.is_array(),
            Some("object") => value.is_object(),
            Some(_) => true,
        };
        if !fits {
            let expected = expected.unwrap_or_default();
            self.problem(at, format!("{value} is not a {expected}"));
            return;
        }
        match value {
            Json::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.check_value(&format!("{at}[{index}]"), item, &spec["items"], schema);
                }
            }
            Json::Object(fields) => {
                for (key, field) in fields {
                    self.check_value(&format!("{at}.{key}"), field, &spec["additionalProperties"], schema);
                }
            }
            _ => {}
        }
    }

    /// For a value the engine computes (an interpolation or a `fn::` call): `Some` with its type
    /// when known. `None` for a plain value.
    fn expression_kind(&self, value: &Json) -> Option<Option<&'p str>> {
        match value {
            Json::String(text) if !interpolations(text).is_empty() => {
                let Some(reference) = Reference::whole(text) else {
                    // Text around the interpolations: the result is a string.
                    return Some(Some("string"));
                };
                if reference.more {
                    return Some(None);
                }
                Some(match (self.names.get(reference.name), reference.property) {
                    (Some(Declared::Config(kind)), None) => *kind,
                    (Some(Declared::Resource(token)), Some(property)) => self
                        .spec_of(token)
                        .and_then(|spec| spec["properties"].get(property))
                        .and_then(kind_of),
                    _ => None,
                })
            }
            Json::Object(fields) if fields.len() == 1 && fields.keys().all(|k| k.starts_with("fn::")) => Some(None),
            _ => None,
        }
    }

    /// Every interpolation in `text` starts with a declared name; one that reads a resource's
    /// property reads an output of that resource's type.
    fn check_interpolations(&mut self, at: &str, text: &str) {
        for expression in interpolations(text) {
            let reference = Reference::parse(expression);
            let token = match self.names.get(reference.name) {
                None => {
                    self.problem(
                        at,
                        format!(
                            "`${{{expression}}}`: `{}` is not a resource, config value or variable of the program",
                            reference.name
                        ),
                    );
                    continue;
                }
                Some(Declared::Resource(token)) => *token,
                Some(_) => continue,
            };
            let (Some(property), Some(spec)) = (reference.property, self.spec_of(token)) else {
                continue;
            };
            // A provider resource has no outputs of its own beyond its inputs.
            let outputs = if token.starts_with(PROVIDER_TYPE) {
                &spec["inputProperties"]
            } else {
                &spec["properties"]
            };
            if outputs.get(property).is_none() {
                self.problem(
                    at,
                    format!(
                        "`${{{expression}}}`: `{}` ({token}) has no output `{property}`; its outputs are {}",
                        reference.name,
                        keys(outputs)
                    ),
                );
            }
        }
    }

    /// No resource depends on itself, through its own interpolations or others'.
    fn check_cycles(&mut self, program: &'p Json) {
        let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (name, resource) in resources(program) {
            let mut needs = BTreeSet::new();
            walk(resource, "", &mut |_, text| {
                for expression in interpolations(text) {
                    let needed = Reference::parse(expression).name;
                    if matches!(self.names.get(needed), Some(Declared::Resource(_))) {
                        needs.insert(needed);
                    }
                }
            });
            edges.insert(name.as_str(), needs);
        }
        let mut done = BTreeSet::new();
        for start in edges.keys() {
            if let Some(cycle) = find_cycle(start, &edges, &mut Vec::new(), &mut done) {
                let members: BTreeSet<&str> = cycle.iter().copied().collect();
                for member in members {
                    self.problem(
                        format!("resources.{member}"),
                        format!("on a dependency cycle: {}", cycle.join(" -> ")),
                    );
                }
                return;
            }
        }
    }
}

/// A path from `node` back to a resource already on `path`, depth first.
fn find_cycle<'n>(
    node: &'n str,
    edges: &BTreeMap<&'n str, BTreeSet<&'n str>>,
    path: &mut Vec<&'n str>,
    done: &mut BTreeSet<&'n str>,
) -> Option<Vec<&'n str>> {
    if let Some(start) = path.iter().position(|on_path| *on_path == node) {
        let mut cycle = path[start..].to_vec();
        cycle.push(node);
        return Some(cycle);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node);
    for next in edges.get(node).into_iter().flatten() {
        if let Some(cycle) = find_cycle(next, edges, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(node);
    None
}

#[tokio::test]
async fn the_pulumi_yaml_example_matches_the_provider_schemas() {
    let program = example();
    let schemas = schemas_for(&program).await;
    for package in ["palisade-network", "palisade-security"] {
        assert!(
            schemas.contains_key(package),
            "the example no longer uses {package}, or its plugin is not built"
        );
    }
    let problems: Vec<String> = check(&program, &schemas).iter().map(Problem::to_string).collect();
    assert!(
        problems.is_empty(),
        "{EXAMPLE_DIR}/Pulumi.yaml does not match the providers' schemas:\n{}",
        problems.join("\n")
    );
}

/// A mistake made in a copy of the example, and where it must be reported, with a word the report
/// must contain.
type Mistake = (&'static str, fn(&mut Json), &'static [(&'static str, &'static str)]);

fn set(program: &mut Json, pointer: &str, value: Json) {
    *program
        .pointer_mut(pointer)
        .unwrap_or_else(|| panic!("the example has {pointer}")) = value;
}

fn rename(program: &mut Json, object: &str, from: &str, to: &str) {
    let fields = program
        .pointer_mut(object)
        .and_then(Json::as_object_mut)
        .unwrap_or_else(|| panic!("the example has {object}"));
    let value = fields
        .remove(from)
        .unwrap_or_else(|| panic!("the example has {object}/{from}"));
    fields.insert(to.to_string(), value);
}

const MISTAKES: &[Mistake] = &[
    (
        "a misspelled input",
        |p| rename(p, "/resources/vpc/properties", "cidrBlock", "cidrBlok"),
        &[
            ("resources.vpc.properties.cidrBlok", "not an input"),
            ("resources.vpc.properties.cidrBlock", "required"),
        ],
    ),
    (
        "a misspelled output",
        |p| set(p, "/resources/privateSubnetA/properties/vpcId", json!("${vpc.vpcID}")),
        &[("resources.privateSubnetA.properties.vpcId", "no output `vpcID`")],
    ),
    (
        "a string for a boolean",
        |p| set(p, "/resources/vpc/properties/enableDnsSupport", json!("yes")),
        &[("resources.vpc.properties.enableDnsSupport", "boolean")],
    ),
    (
        "a value of the wrong type",
        |p| set(p, "/resources/vpc/properties/enableDnsHostnames", json!("${region}")),
        &[("resources.vpc.properties.enableDnsHostnames", "is a string")],
    ),
    (
        "a misspelled field of a nested type",
        |p| {
            rename(
                p,
                "/resources/sagemakerSecurityGroup/properties/ingress/0",
                "self",
                "slef",
            )
        },
        &[(
            "resources.sagemakerSecurityGroup.properties.ingress[0].slef",
            "not an input",
        )],
    ),
    (
        "an unknown resource type",
        |p| set(p, "/resources/dataKey/type", json!("palisade-security:index:KmsKeys")),
        &[("resources.dataKey.type", "KmsKeys")],
    ),
    (
        "a misspelled provider setting",
        |p| rename(p, "/resources/devNetwork/properties", "accountId", "acountId"),
        &[("resources.devNetwork.properties.acountId", "not an input")],
    ),
    (
        "the other package's provider",
        |p| set(p, "/resources/dataBucket/options/provider", json!("${devNetwork}")),
        &[(
            "resources.dataBucket.options.provider",
            "pulumi:providers:palisade-security",
        )],
    ),
    (
        "an undeclared name",
        |p| {
            set(
                p,
                "/resources/s3Endpoint/properties/serviceName",
                json!("com.amazonaws.${regoin}.s3"),
            )
        },
        &[("resources.s3Endpoint.properties.serviceName", "`regoin`")],
    ),
    (
        "a dependency cycle",
        |p| {
            set(
                p,
                "/resources/vpc/properties/tags/palisade-environment",
                json!("${privateSubnetA.subnetId}"),
            )
        },
        &[("resources.vpc", "cycle"), ("resources.privateSubnetA", "cycle")],
    ),
    (
        "a plugin the engine cannot find",
        |p| set(p, "/plugins/providers/1/name", json!("palisade-securty")),
        &[("plugins.providers", "palisade-security")],
    ),
];

#[tokio::test]
async fn mistakes_in_the_example_are_reported_at_their_resource_and_property() {
    let program = example();
    let schemas = schemas_for(&program).await;
    for (mistake, make, reports) in MISTAKES {
        let mut broken = program.clone();
        make(&mut broken);
        let problems = check(&broken, &schemas);
        for (at, word) in *reports {
            assert!(
                problems.iter().any(|p| p.at == *at && p.what.contains(word)),
                "{mistake}: nothing at {at} saying {word:?}; reported:\n{}",
                problems.iter().map(Problem::to_string).collect::<Vec<_>>().join("\n")
            );
        }
    }
}
