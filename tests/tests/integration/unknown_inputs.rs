//! The plan's invariant for inputs that are not known yet (issue #13 §1): with a valid program and the
//! state it produced, making any ONE input unknown (it comes from a resource being created or
//! replaced) makes Diff report that input and nothing else, and a replace only when that input
//! itself forces replacement. Before the fix, Check dropped every declared default as soon as one
//! input was unknown, so Diff reported each defaulted property as deleted, and a defaulted property
//! that forces replacement turned an update into a replace (the Studio domain, KMS keys, roles).
//!
//! Nothing here lists kinds or properties by hand: the kinds come from each provider plugin's
//! schema (every package whose crate builds a `pulumi-resource-*` plugin), the sample programs from
//! the reference environment's declarations (`secure_mlops::declare`, with and without NAT mode), and
//! the cases from the sample inputs. A kind without a sample fails the test, so a new kind cannot
//! slip by. Each sample runs twice: as the Rust SDK declares it (every field written, defaults
//! included) and with every member left out that Check fills back in unchanged (what a Pulumi
//! program writes; the form in which dropped defaults show). Check and Diff run in the real plugin
//! binaries over gRPC, as the engine calls them.

use std::collections::{BTreeMap, BTreeSet};

use palisade::host::Plugin;
use palisade::network::{FlowLog, FlowLogArgs, Vpc};
use palisade::provider::{Diffed, ProviderClient, Subject};
use palisade::reference::{referenced_urns, resolve};
use palisade::security::{KmsAlias, KmsAliasArgs, KmsKey, KmsKeyArgs};
use palisade::stack::Declared;
use palisade::Stack;
use palisade_provider_kit::check::DEFAULTS_KEY;
use palisade_provider_kit::value::{PropertyMap, PropertyValue};
use palisade_tests::{plugin_path, schema, workspace_root};
use secure_mlops::config::NatConfig;
use secure_mlops::{declare, Config, Release};
use serde_json::Value as Json;

/// Every provider package of the workspace: each provider crate that builds a
/// `pulumi-resource-<package>` plugin.
pub(super) fn packages() -> Vec<String> {
    let providers = workspace_root().join("providers");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&providers).expect("providers/ is readable") {
        let manifest = entry.expect("directory entry").path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        for line in text.lines() {
            if let Some(rest) = line.trim().strip_prefix("name = \"pulumi-resource-") {
                found.push(rest.trim_end_matches('"').to_string());
            }
        }
    }
    found.sort();
    assert!(found.len() >= 4, "found only {found:?} under {}", providers.display());
    found
}

/// The sample programs: the reference environment as `preview` declares it, the same in NAT mode
/// (internet and NAT gateways), and what the reference environment does not declare: a flow log on
/// a VPC and a key with an alias.
pub(super) fn sample_stacks() -> Vec<Stack> {
    let mut stacks = declare(&Config::local(), &Release::Registered)
        .expect("the reference environment declares")
        .stacks;
    let mut nat = Config::local();
    nat.dev.network.nat = Some(NatConfig {
        public_subnet_cidr: "10.0.100.0/24".into(),
        zone: "a".into(),
    });
    let mut nat_stacks = declare(&nat, &Release::Registered)
        .expect("the NAT-mode environment declares")
        .stacks;
    for stack in &mut nat_stacks {
        stack.name = format!("{}-nat", stack.name);
        for resource in &mut stack.resources {
            resource.urn = resource.urn.replacen("urn:pulumi:", "urn:pulumi:nat-", 1);
        }
    }
    // URNs inside the NAT copy's references must follow the rename.
    for stack in &mut nat_stacks {
        for resource in &mut stack.resources {
            resource.inputs = renamed_references(&resource.inputs);
        }
    }
    stacks.extend(nat_stacks);

    let mut logged = Stack::new("flow-logs", Config::local().dev_account()).project("unknown-inputs");
    let vpc = logged
        .resource::<Vpc>("main", palisade::network::VpcArgs::new("10.9.0.0/16"))
        .expect("declares");
    let role = format!("arn:aws:iam::{}:role/flow-logs", logged.account.account_id);
    logged
        .resource::<FlowLog>(
            "main",
            FlowLogArgs {
                vpc_id: vpc.output("vpcId"),
                log_group_name: "/palisade/flow-logs".into(),
                deliver_logs_permission_arn: role,
                traffic_type: "REJECT".into(),
                tags: BTreeMap::from([("team".into(), "platform".into())]),
            },
        )
        .expect("declares");
    let key = logged
        .resource::<KmsKey>("logs", KmsKeyArgs::new("Flow log records"))
        .expect("declares");
    logged
        .resource::<KmsAlias>(
            "logs",
            KmsAliasArgs {
                alias_name: "alias/palisade-flow-logs".into(),
                target_key_id: key.output("keyId"),
            },
        )
        .expect("declares");
    stacks.push(logged);
    stacks
}

/// `inputs` with every reference pointing at the NAT copy of the environment.
fn renamed_references(inputs: &PropertyMap) -> PropertyMap {
    fn rename(value: &PropertyValue) -> PropertyValue {
        match value {
            PropertyValue::String(text) => {
                PropertyValue::String(text.replace("${palisade:urn:pulumi:", "${palisade:urn:pulumi:nat-"))
            }
            PropertyValue::Array(items) => PropertyValue::Array(items.iter().map(rename).collect()),
            PropertyValue::Object(map) => {
                PropertyValue::Object(map.iter().map(|(k, v)| (k.clone(), rename(v))).collect())
            }
            PropertyValue::Secret(inner) => PropertyValue::Secret(Box::new(rename(inner))),
            other => other.clone(),
        }
    }
    inputs.iter().map(|(k, v)| (k.clone(), rename(v))).collect()
}

/// A stable hex string for `seed` (ids and key ids of resources that do not exist).
fn hex(seed: &str, len: usize) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::new();
    while out.len() < len {
        for byte in seed.bytes().chain(out.len().to_le_bytes()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        out.push_str(&format!("{hash:016x}"));
    }
    out.truncate(len);
    out
}

/// A plausible value of output `property` of the declared resource `of`, as AWS would return it
/// after creation: a property the resource's own checked inputs hold (names), else an id or ARN of
/// the documented shape. Outputs not covered here make the referring resource's Check fail, and
/// the failure names them.
fn plausible_output(of: &Declared, stack: &Stack, checked: Option<&PropertyMap>, property: &str) -> PropertyValue {
    if let Some(PropertyValue::String(known)) = checked.and_then(|c| c.get(property)).map(PropertyValue::reveal) {
        return PropertyValue::String(known);
    }
    let (account, region) = (&stack.account.account_id, &stack.account.region);
    let kind = of.token.rsplit(':').next().unwrap_or_default();
    let named = |name_property: &str| match checked.and_then(|c| c.get(name_property)).map(PropertyValue::reveal) {
        Some(PropertyValue::String(name)) => name,
        _ => of.name.clone(),
    };
    let uuid = {
        let h = hex(&of.urn, 32);
        format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
    };
    let id_prefix = match property {
        "vpcId" => Some("vpc"),
        "subnetId" => Some("subnet"),
        "groupId" => Some("sg"),
        "vpcEndpointId" => Some("vpce"),
        "routeTableId" => Some("rtb"),
        "internetGatewayId" => Some("igw"),
        "natGatewayId" => Some("nat"),
        "prefixListId" => Some("pl"),
        "flowLogId" => Some("fl"),
        "domainId" => Some("d"),
        _ => None,
    };
    let text = match (property, kind) {
        (_, _) if id_prefix.is_some() => format!("{}-{}", id_prefix.unwrap_or_default(), hex(&of.urn, 17)),
        ("keyId", _) => uuid,
        ("arn", "KmsKey") => format!("arn:aws:kms:{region}:{account}:key/{uuid}"),
        ("arn", "Role") => format!("arn:aws:iam::{account}:role/{}", named("roleName")),
        ("arn", "Bucket") => format!("arn:aws:s3:::{}", named("bucket")),
        ("modelPackageArn", _) => format!(
            "arn:aws:sagemaker:{region}:{account}:model-package/{}/1",
            named("modelPackageGroupName")
        ),
        ("arn", _) => format!(
            "arn:aws:sagemaker:{region}:{account}:{}/{}",
            kind.to_lowercase(),
            of.name
        ),
        _ => format!("{}-{property}", of.name),
    };
    PropertyValue::String(text)
}

/// One sample resource: its declaration, its resolved inputs, and the stack it belongs to.
pub(super) struct Sample {
    pub(super) declared: Declared,
    pub(super) stack: usize,
    pub(super) inputs: PropertyMap,
}

/// Every declared resource with its references replaced by plausible outputs of what they refer
/// to; referenced resources are resolved first, so that their checked names flow into ARNs.
pub(super) async fn samples(stacks: &[Stack], plugins: &BTreeMap<String, ProviderClient>) -> Vec<Sample> {
    let mut by_urn: BTreeMap<String, (usize, &Declared)> = BTreeMap::new();
    for (i, stack) in stacks.iter().enumerate() {
        for declared in &stack.resources {
            by_urn.insert(declared.urn.clone(), (i, declared));
        }
    }
    let mut checked: BTreeMap<String, PropertyMap> = BTreeMap::new();
    let mut out = Vec::new();
    let mut pending: Vec<&String> = by_urn.keys().collect();
    while !pending.is_empty() {
        let ready: Vec<&String> = pending
            .iter()
            .copied()
            .filter(|urn| {
                referenced_urns(&by_urn[*urn].1.inputs)
                    .iter()
                    .all(|r| checked.contains_key(r) || !by_urn.contains_key(r))
            })
            .collect();
        // A cycle would leave nothing ready: take everything left (their names are then guessed).
        let batch = if ready.is_empty() { pending.clone() } else { ready };
        for urn in &batch {
            let (stack, declared) = by_urn[*urn];
            let lookup = |target: &str, property: &str| -> Option<PropertyValue> {
                let (target_stack, target_declared) = by_urn.get(target)?;
                Some(plausible_output(
                    target_declared,
                    &stacks[*target_stack],
                    checked.get(target),
                    property,
                ))
            };
            let inputs = resolve(&declared.inputs, &lookup);
            let client = &plugins[declared.package];
            let result = check(client, declared, None, &inputs).await;
            checked.insert((*urn).clone(), result.unwrap_or_default());
            out.push(Sample {
                declared: declared.clone(),
                stack,
                inputs,
            });
        }
        pending.retain(|urn| !batch.contains(urn));
    }
    out
}

/// Which resource a call is about.
fn subject(declared: &Declared) -> Subject<'_> {
    Subject {
        urn: &declared.urn,
        name: &declared.name,
        token: &declared.token,
    }
}

async fn check(
    client: &ProviderClient,
    declared: &Declared,
    olds: Option<&PropertyMap>,
    news: &PropertyMap,
) -> Result<PropertyMap, Vec<String>> {
    let olds = olds.cloned().unwrap_or_default();
    let seed = declared.urn.as_bytes().to_vec();
    let checked = client
        .check(subject(declared), &olds, news, seed)
        .await
        .expect("the Check call completes");
    if checked.failures.is_empty() {
        Ok(checked.inputs)
    } else {
        Err(checked
            .failures
            .into_iter()
            .map(|f| format!("{}: {}", f.property, f.reason))
            .collect())
    }
}

async fn diff(client: &ProviderClient, declared: &Declared, olds: &PropertyMap, news: &PropertyMap) -> Diffed {
    let id = format!("id-{}", declared.name);
    client
        .diff(subject(declared), &id, olds, olds, news)
        .await
        .expect("the Diff call completes")
}

/// `inputs` with every object member left out whose absence Check fills back in exactly as given:
/// the program a Pulumi user writes, who leaves defaults to the provider.
async fn without_defaults(
    client: &ProviderClient,
    declared: &Declared,
    inputs: &PropertyMap,
    checked: &PropertyMap,
) -> PropertyMap {
    let mut current = inputs.clone();
    for path in unknown_paths(inputs) {
        if !matches!(path.last(), Some(Step::Key(_))) {
            continue;
        }
        let candidate = without(&current, &path);
        if candidate == current {
            continue;
        }
        if check(client, declared, None, &candidate).await.as_ref() == Ok(checked) {
            current = candidate;
        }
    }
    current
}

/// `inputs` without the object member at `path` (unchanged when there is none).
fn without(inputs: &PropertyMap, path: &[Step]) -> PropertyMap {
    fn remove(value: &mut PropertyValue, path: &[Step]) {
        match (value, path) {
            (PropertyValue::Secret(inner), _) => remove(inner, path),
            (PropertyValue::Object(map), [Step::Key(k)]) => {
                map.remove(k);
            }
            (PropertyValue::Object(map), [Step::Key(k), rest @ ..]) => {
                if let Some(inner) = map.get_mut(k) {
                    remove(inner, rest);
                }
            }
            (PropertyValue::Array(items), [Step::Index(i), rest @ ..]) if !rest.is_empty() => {
                if let Some(inner) = items.get_mut(*i) {
                    remove(inner, rest);
                }
            }
            _ => {}
        }
    }
    let mut root = PropertyValue::Object(inputs.clone());
    remove(&mut root, path);
    match root {
        PropertyValue::Object(map) => map,
        _ => unreachable!("the root stays an object"),
    }
}

/// A step into a value: an object member or an array element.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// The paths to make unknown in `inputs`: each top-level input, each member or element of an
/// object or array input, and each member of an object inside an array input.
fn unknown_paths(inputs: &PropertyMap) -> Vec<Vec<Step>> {
    fn children(value: &PropertyValue) -> Vec<Step> {
        match value.reveal() {
            PropertyValue::Object(map) => map.keys().map(|k| Step::Key(k.clone())).collect(),
            PropertyValue::Array(items) => (0..items.len()).map(Step::Index).collect(),
            _ => Vec::new(),
        }
    }
    fn child(value: &PropertyValue, step: &Step) -> Option<PropertyValue> {
        match (value.reveal(), step) {
            (PropertyValue::Object(map), Step::Key(k)) => map.get(k).cloned(),
            (PropertyValue::Array(items), Step::Index(i)) => items.get(*i).cloned(),
            _ => None,
        }
    }
    let mut paths = Vec::new();
    for (key, value) in inputs {
        if key == DEFAULTS_KEY {
            continue;
        }
        paths.push(vec![Step::Key(key.clone())]);
        for first in children(value) {
            paths.push(vec![Step::Key(key.clone()), first.clone()]);
            let Some(inner) = child(value, &first) else { continue };
            if let (Step::Index(_), PropertyValue::Object(_)) = (&first, inner.reveal()) {
                for second in children(&inner) {
                    paths.push(vec![Step::Key(key.clone()), first.clone(), second]);
                }
            }
        }
    }
    paths
}

/// `inputs` with the value at `path` replaced by an unknown.
fn with_unknown(inputs: &PropertyMap, path: &[Step]) -> PropertyMap {
    fn set(value: &mut PropertyValue, path: &[Step]) {
        let Some((step, rest)) = path.split_first() else {
            *value = PropertyValue::Unknown;
            return;
        };
        let target = match value {
            PropertyValue::Secret(inner) => return set(inner, path),
            PropertyValue::Object(map) => match step {
                Step::Key(k) => map.get_mut(k),
                Step::Index(_) => None,
            },
            PropertyValue::Array(items) => match step {
                Step::Index(i) => items.get_mut(*i),
                Step::Key(_) => None,
            },
            _ => None,
        };
        if let Some(target) = target {
            set(target, rest);
        }
    }
    let mut root = PropertyValue::Object(inputs.clone());
    set(&mut root, path);
    match root {
        PropertyValue::Object(map) => map,
        _ => unreachable!("the root stays an object"),
    }
}

fn describe(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => out.push_str(&format!(".{k}")),
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Every provider plugin of the workspace ([`packages`]), started as the engine starts them, with
/// the package schemas they answer.
pub(super) struct Plugins {
    /// A client per package.
    pub(super) clients: BTreeMap<String, ProviderClient>,
    /// Each package's schema.
    pub(super) schemas: Vec<Json>,
    running: Vec<Plugin>,
}

impl Plugins {
    pub(super) async fn start() -> Self {
        let mut plugins = Self {
            clients: BTreeMap::new(),
            schemas: Vec::new(),
            running: Vec::new(),
        };
        for package in packages() {
            let plugin = Plugin::start(&plugin_path(&package).expect("plugin built"), &[])
                .await
                .expect("plugin starts");
            let client = ProviderClient::new(plugin.client());
            plugins
                .schemas
                .push(schema(client.raw()).await.expect("the plugin answers its schema"));
            plugins.clients.insert(package, client);
            plugins.running.push(plugin);
        }
        plugins
    }

    /// Each resource kind's `resource` schema, by type token, over all packages.
    pub(super) fn kinds(&self) -> impl Iterator<Item = (&String, &Json)> {
        self.schemas
            .iter()
            .flat_map(|schema| schema["resources"].as_object().expect("resources"))
    }

    /// Stops every plugin; whether each was still running.
    pub(super) async fn stop(self) -> Vec<bool> {
        let mut stopped = Vec::new();
        for plugin in self.running {
            stopped.push(plugin.stop().await);
        }
        stopped
    }
}

/// Which input properties of each resource kind force replacement, from the plugins' schemas.
pub(super) fn replacing_inputs(plugins: &Plugins) -> BTreeMap<String, BTreeSet<String>> {
    plugins
        .kinds()
        .map(|(token, resource)| {
            let replacing = resource["inputProperties"]
                .as_object()
                .expect("inputProperties")
                .iter()
                .filter(|(_, p)| p["willReplaceOnChanges"] == Json::Bool(true))
                .map(|(name, _)| name.clone())
                .collect();
            (token.clone(), replacing)
        })
        .collect()
}

#[tokio::test]
async fn one_unknown_input_changes_only_that_input_for_every_kind() {
    let started = Plugins::start().await;
    let kinds = replacing_inputs(&started);
    let plugins = &started.clients;
    let stacks = sample_stacks();
    let samples = samples(&stacks, plugins).await;

    let mut violations = Vec::new();
    let mut cases = 0usize;
    let mut omitting = 0usize;
    let mut covered: BTreeMap<String, usize> = BTreeMap::new();
    for sample in &samples {
        let declared = &sample.declared;
        let client = &plugins[declared.package];
        let what = format!("{} {} ({})", declared.token, declared.name, stacks[sample.stack].name);
        let old = match check(client, declared, None, &sample.inputs).await {
            Ok(old) => old,
            Err(failures) => {
                violations.push(format!("{what}: the sample program does not check: {failures:?}"));
                continue;
            }
        };
        let again = check(client, declared, Some(&old), &sample.inputs)
            .await
            .unwrap_or_default();
        let unchanged = diff(client, declared, &old, &again).await;
        if !unchanged.properties.is_empty() {
            violations.push(format!(
                "{what}: the unchanged program diffs: {:?}",
                unchanged.properties
            ));
            continue;
        }
        let replacing = kinds.get(&declared.token).cloned().unwrap_or_default();
        // The Rust SDK writes every field, defaults included; a Pulumi program leaves defaults out.
        // Both must hold the invariant, and the second is where dropped defaults show.
        let minimal = without_defaults(client, declared, &sample.inputs, &old).await;
        let mut programs = vec![("as declared", sample.inputs.clone())];
        if minimal != sample.inputs {
            omitting += 1;
            programs.push(("defaults left out", minimal));
        }
        for (form, program) in &programs {
            for path in unknown_paths(program) {
                let Some(Step::Key(top)) = path.first() else { continue };
                cases += 1;
                *covered.entry(declared.token.clone()).or_default() += 1;
                let case = format!("{what}, {form}, with {} unknown", describe(&path));
                let news = with_unknown(program, &path);
                let new = match check(client, declared, Some(&old), &news).await {
                    Ok(new) => new,
                    Err(failures) => {
                        violations.push(format!("{case}: Check refused: {failures:?}"));
                        continue;
                    }
                };
                let found = diff(client, declared, &old, &new).await;
                let reported: BTreeSet<&String> = found.properties.iter().chain(found.detailed.keys()).collect();
                if reported != BTreeSet::from([top]) {
                    violations.push(format!(
                        "{case}: Diff reports {:?}, expected exactly [{top}]",
                        found.detailed
                    ));
                }
                let expected_replaces: Vec<String> = if replacing.contains(top) {
                    vec![top.clone()]
                } else {
                    Vec::new()
                };
                if found.replaces != expected_replaces {
                    violations.push(format!(
                        "{case}: Diff replaces {:?}, expected {expected_replaces:?}",
                        found.replaces
                    ));
                }
                if found.delete_before_replace && expected_replaces.is_empty() {
                    violations.push(format!("{case}: delete-before-replace without a replace"));
                }
            }
        }
    }
    let packages = plugins.len();
    started.stop().await;

    let missing: Vec<&String> = kinds.keys().filter(|k| !covered.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "kinds without a sample program (declare them in the reference environment or in sample_stacks): {missing:?}"
    );
    assert!(
        violations.is_empty(),
        "{} of {cases} cases fail:\n{}",
        violations.len(),
        violations.join("\n")
    );
    // Most kinds have a defaulted property that the reference environment leaves at its default.
    assert!(
        omitting * 2 > samples.len(),
        "only {omitting} of {} samples have a default to leave out",
        samples.len()
    );
    eprintln!(
        "{cases} (kind, unknown input) cases over {} kinds of {} packages, {omitting} of {} samples also \
         without their defaults: {covered:?}",
        kinds.len(),
        packages,
        samples.len()
    );
    // Each kind of the reference environment alone gives more than this.
    assert!(cases > 500, "only {cases} cases");
}
