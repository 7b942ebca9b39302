//! The policy pack (`pulumi-analyzer-policy-palisade`) driven as the Pulumi engine drives it: started
//! in the pack's folder with the engine's address and `.` as arguments, its port read from stdout,
//! then Handshake, GetPluginInfo, GetAnalyzerInfo, ConfigureStack, Configure, Analyze and
//! AnalyzeStack over gRPC.
//!
//! The stacks come from the reference environment, planned by the SDK from empty state (no AWS).
//! Pulumi would send each resource with its outputs known after an update, so every reference is
//! given a value (a name or ARN where it follows from the declaration, a made-up id otherwise), the
//! referenced resource carries it as an output, and each resource's provider is configured with its
//! account. The SDK's findings on the same plan are the expected answer: same rule, same resource,
//! same message.
//!
//! The binaries must be built first: `cargo build --workspace --all-features --bins`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};

use palisade::guardrails::{Finding, Severity, RULES};
use palisade::kit::value::{encode_struct, map_from_json, map_to_json, PropertyMap, PropertyValue};
use palisade::plan::{Operation, Plan, Step};
use palisade::reference::{marker, references, resolve};
use palisade::{Engine, Hosts, Stack, StateStore};
use palisade_proto::pulumirpc::{
    AnalyzeDiagnostic, AnalyzeRequest, AnalyzeStackRequest, AnalyzerHandshakeRequest, AnalyzerProviderResource,
    AnalyzerResource, AnalyzerStackConfigureRequest, ConfigureAnalyzerRequest, EnforcementLevel, PolicyConfig,
};
use palisade_proto::AnalyzerClient;
use palisade_tests::{built_binary, workspace_root};
use secure_mlops::{declare, Config, Release};
use serde_json::{json, Value as Json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tonic::transport::Channel;

const ANALYZER: &str = "pulumi-analyzer-policy-palisade";

/// The analyzer, started as the engine starts a policy pack's plugin.
struct Pack {
    client: AnalyzerClient<Channel>,
    _child: Child,
}

impl Pack {
    async fn start() -> Pack {
        let binary = built_binary(ANALYZER).unwrap_or_else(|error| panic!("{error}"));
        let mut child = Command::new(&binary)
            .args(["127.0.0.1:1", "."])
            .current_dir(workspace_root().join("policy/pack"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the analyzer starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .await
            .expect("reads the port line");
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("not a port line: {line:?}"));
        let client = AnalyzerClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .expect("connects");
        let mut pack = Pack { client, _child: child };
        pack.client
            .handshake(AnalyzerHandshakeRequest {
                engine_address: "127.0.0.1:1".into(),
                root_directory: Some(workspace_root().join("policy/pack").display().to_string()),
                program_directory: None,
            })
            .await
            .expect("handshake");
        pack.client
            .configure_stack(AnalyzerStackConfigureRequest {
                stack: "reference".into(),
                project: "secure-mlops".into(),
                organization: String::new(),
                dry_run: true,
            })
            .await
            .expect("configure stack");
        pack
    }

    async fn configure(&mut self, levels: &[(&str, EnforcementLevel)]) -> Result<(), tonic::Status> {
        let policy_config = levels
            .iter()
            .map(|(name, level)| {
                (
                    name.to_string(),
                    PolicyConfig {
                        enforcement_level: *level as i32,
                        properties: None,
                    },
                )
            })
            .collect();
        self.client
            .configure(ConfigureAnalyzerRequest { policy_config })
            .await
            .map(|_| ())
    }

    async fn analyze_stack(&mut self, resources: Vec<AnalyzerResource>) -> Vec<AnalyzeDiagnostic> {
        self.client
            .analyze_stack(AnalyzeStackRequest { resources })
            .await
            .expect("AnalyzeStack")
            .into_inner()
            .diagnostics
    }

    /// Analyze, once per resource, in the plan's order (as the engine calls it before each step).
    async fn analyze_each(&mut self, resources: &[AnalyzerResource]) -> Vec<AnalyzeDiagnostic> {
        let mut diagnostics = Vec::new();
        for r in resources {
            let response = self
                .client
                .analyze(AnalyzeRequest {
                    r#type: r.r#type.clone(),
                    properties: r.properties.clone(),
                    urn: r.urn.clone(),
                    name: r.name.clone(),
                    options: None,
                    provider: r.provider.clone(),
                })
                .await
                .expect("Analyze");
            diagnostics.extend(response.into_inner().diagnostics);
        }
        diagnostics
    }
}

fn reference() -> Vec<Stack> {
    declare(&Config::local(), &Release::Registered)
        .expect("the reference environment declares")
        .stacks
}

/// The SDK's plan of `stacks` from empty state.
async fn sdk_plan(stacks: Vec<Stack>) -> Plan {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "palisade-analyzer-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::SeqCst)
    ));
    let engine = Engine::new(stacks, StateStore::new(&dir));
    let hosts = Hosts::with_env(
        [
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .to_vec(),
    );
    let plan = engine.plan(&hosts, false).await;
    hosts.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let plan = plan.expect("the environment plans from empty state");
    assert_eq!(plan.failures().count(), 0, "a provider refused the environment");
    plan
}

/// The plan's resources as the engine sends them to AnalyzeStack after an update; `pulumi_stack`
/// puts them all in one Pulumi stack (else each keeps the SDK stack its URN names).
struct Deployed<'p> {
    plan: &'p Plan,
}

impl Deployed<'_> {
    fn step(&self, urn: &str) -> Option<&Step> {
        self.plan.steps.iter().find(|s| s.urn == urn)
    }

    fn place(&self, step: &Step) -> (String, String) {
        let info = self
            .plan
            .stacks
            .iter()
            .find(|i| i.stack == step.stack)
            .expect("the step's stack");
        (info.account_id.clone(), info.region.clone())
    }

    /// A property as deployed: the declared value where it refers to other resources (resolved),
    /// else the checked one.
    fn input(&self, step: &Step, property: &str) -> Option<PropertyValue> {
        let declared = step.declared.as_ref().and_then(|d| d.get(property));
        match declared {
            Some(value) if !references(&[(property.to_string(), value.clone())].into()).is_empty() => {
                let wrapped: PropertyMap = [(property.to_string(), value.clone())].into();
                resolve(&wrapped, &|urn, p| Some(PropertyValue::String(self.output(urn, p)))).remove(property)
            }
            _ => step.inputs.get(property).cloned(),
        }
    }

    /// Output `property` of resource `urn` once deployed.
    fn output(&self, urn: &str, property: &str) -> String {
        let Some(step) = self.step(urn) else {
            return format!("{property}-outside-the-plan");
        };
        if let Some(PropertyValue::String(value)) = self.input(step, property) {
            return value;
        }
        let (account, region) = self.place(step);
        let text = |p: &str| self.output(urn, p);
        match (step.kind(), property) {
            ("Bucket", "arn") => format!("arn:aws:s3:::{}", text("bucket")),
            ("Role", "arn") => {
                let path = match self.input(step, "path") {
                    Some(PropertyValue::String(path)) => path,
                    _ => "/".into(),
                };
                format!("arn:aws:iam::{account}:role{path}{}", text("roleName"))
            }
            ("KmsKey", "arn") => format!("arn:aws:kms:{region}:{account}:key/{}", text("keyId")),
            ("ModelPackageGroup", "arn") => format!(
                "arn:aws:sagemaker:{region}:{account}:model-package-group/{}",
                text("modelPackageGroupName")
            ),
            ("ModelPackage", "modelPackageArn") => format!(
                "arn:aws:sagemaker:{region}:{account}:model-package/{}/1",
                text("modelPackageGroupName")
            ),
            // Ids in AWS's shapes, as a real deployment has them (a literal `vpce-` id is an endpoint
            // to the rules even where the stack does not declare it).
            (_, "vpcEndpointId") => format!("vpce-{}-{}", step.stack, step.name),
            (_, "groupId") => format!("sg-{}-{}", step.stack, step.name),
            (_, "vpcId") => format!("vpc-{}-{}", step.stack, step.name),
            (_, "subnetId") => format!("subnet-{}-{}", step.stack, step.name),
            _ => format!("{property}-of-{}-{}", step.stack, step.name),
        }
    }

    fn resources(&self, pulumi_stack: Option<&str>) -> Vec<AnalyzerResource> {
        // One Pulumi stack holds every account's resources under names of its own: the SDK
        // stack's name comes first (`dev-models`).
        let rename = |urn: &str| -> String {
            let Some(pulumi) = pulumi_stack else {
                return urn.to_string();
            };
            let parts = urn
                .strip_prefix("urn:pulumi:")
                .and_then(|rest| rest.split_once("::"))
                .and_then(|(stack, rest)| Some((stack, rest.rsplit_once("::")?)));
            match parts {
                Some((stack, (typed, name))) => format!("urn:pulumi:{pulumi}::{typed}::{stack}-{name}"),
                None => urn.to_string(),
            }
        };
        // Every output some resource refers to, by resource.
        let mut outputs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for step in &self.plan.steps {
            for (urn, property) in references(step.declared.as_ref().unwrap_or(&PropertyMap::new())) {
                outputs.entry(urn).or_default().insert(property);
            }
        }
        self.plan
            .steps
            .iter()
            .filter(|s| s.operation != Operation::Delete)
            .map(|step| {
                let mut properties: PropertyMap = step
                    .inputs
                    .keys()
                    .chain(step.declared.iter().flat_map(|d| d.keys()))
                    .filter_map(|p| Some((p.clone(), self.input(step, p)?)))
                    .collect();
                for property in outputs.get(&step.urn).into_iter().flatten() {
                    if !properties.get(property).is_some_and(PropertyValue::is_known) {
                        properties.insert(
                            property.clone(),
                            PropertyValue::String(self.output(&step.urn, property)),
                        );
                    }
                }
                let (account, region) = self.place(step);
                let provider = AnalyzerProviderResource {
                    r#type: format!("pulumi:providers:{}", step.package),
                    properties: Some(encode_struct(&map_from_json(
                        &json!({"accountId": account, "region": region, "version": "0.1.0"}),
                    ))),
                    urn: rename(&format!(
                        "urn:pulumi:{}::p::pulumi:providers:{}::{}-{}",
                        step.stack, step.package, step.stack, step.package
                    )),
                    name: format!("{}-{}", step.stack, step.package),
                };
                AnalyzerResource {
                    r#type: step.token.clone(),
                    properties: Some(encode_struct(&properties)),
                    urn: rename(&step.urn),
                    name: rename(&step.urn).rsplit("::").next().unwrap_or_default().to_string(),
                    options: None,
                    provider: Some(provider),
                    parent: String::new(),
                    dependencies: step.dependencies.iter().map(|d| rename(d)).collect(),
                    property_dependencies: Default::default(),
                }
            })
            .collect()
    }
}

fn mandatory(diagnostics: &[AnalyzeDiagnostic]) -> Vec<&AnalyzeDiagnostic> {
    diagnostics
        .iter()
        .filter(|d| d.enforcement_level == EnforcementLevel::Mandatory as i32)
        .collect()
}

/// (rule, resource, message, fix) of each error finding, as the analyzer should report it.
fn expected(findings: &[Finding]) -> Vec<(String, String, String)> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| {
            (
                f.rule.to_string(),
                f.urn.clone(),
                format!("{}\nfix: {}", f.message, f.fix),
            )
        })
        .collect()
}

fn reported(diagnostics: &[&AnalyzeDiagnostic]) -> Vec<(String, String, String)> {
    diagnostics
        .iter()
        .map(|d| (d.policy_name.clone(), d.urn.clone(), d.message.clone()))
        .collect()
}

fn urn_of(stacks: &[Stack], stack: &str, kind: &str, name: &str) -> String {
    stacks
        .iter()
        .find(|s| s.name == stack)
        .and_then(|s| {
            s.resources
                .iter()
                .find(|r| r.name == name && r.token.ends_with(&format!(":{kind}")))
        })
        .map(|r| r.urn.clone())
        .unwrap_or_else(|| panic!("{stack} declares no {kind} `{name}`"))
}

/// Changes the declared inputs of one resource, as JSON.
fn edit(stacks: &mut [Stack], stack: &str, kind: &str, name: &str, change: impl FnOnce(&mut Json)) {
    let urn = urn_of(stacks, stack, kind, name);
    let declared = stacks
        .iter_mut()
        .flat_map(|s| s.resources.iter_mut())
        .find(|r| r.urn == urn)
        .expect("found above");
    let mut inputs = map_to_json(&declared.inputs).expect("declared inputs are plain JSON");
    change(&mut inputs);
    declared.inputs = map_from_json(&inputs);
}

fn statements(policy: &mut Json) -> &mut Vec<Json> {
    policy["Statement"].as_array_mut().expect("a list of statements")
}

fn statement<'a>(policy: &'a mut Json, sid: &str) -> &'a mut Json {
    statements(policy)
        .iter_mut()
        .find(|s| s["Sid"] == sid)
        .unwrap_or_else(|| panic!("no statement `{sid}`"))
}

fn without_statement(policy: &mut Json, sid: &str) {
    let before = statements(policy).len();
    statements(policy).retain(|s| s["Sid"] != sid);
    assert_eq!(statements(policy).len(), before - 1, "no statement `{sid}`");
}

fn without(list: &mut Json, value: &str) {
    let items = list.as_array_mut().expect("a list");
    let before = items.len();
    items.retain(|item| item != value);
    assert_eq!(items.len(), before - 1, "{value} not in the list");
}

#[tokio::test]
async fn the_analyzer_lists_every_guardrail_as_a_policy() {
    let mut pack = Pack::start().await;
    let plugin = pack.client.get_plugin_info(()).await.expect("plugin info").into_inner();
    assert_eq!(plugin.version, env!("CARGO_PKG_VERSION"));
    let info = pack
        .client
        .get_analyzer_info(())
        .await
        .expect("analyzer info")
        .into_inner();
    assert_eq!(info.name, "palisade-guardrails");
    assert!(info.supports_config);
    let listed: Vec<(&str, i32)> = info
        .policies
        .iter()
        .map(|p| (p.name.as_str(), p.enforcement_level))
        .collect();
    let rules: Vec<(&str, i32)> = RULES
        .iter()
        .map(|r| {
            let level = match r.severity {
                Severity::Error => EnforcementLevel::Mandatory,
                _ => EnforcementLevel::Advisory,
            };
            (r.id, level as i32)
        })
        .collect();
    assert_eq!(listed, rules);
    for (policy, rule) in info.policies.iter().zip(RULES) {
        assert_eq!(policy.display_name, rule.title);
        assert!(policy.description.contains(rule.why), "{policy:?}");
        assert!(policy.message.contains(rule.fix), "{policy:?}");
    }
    // What each policy is listed at follows the pack's configuration.
    pack.configure(&[("PAL-S3-01", EnforcementLevel::Advisory)])
        .await
        .expect("configures");
    let info = pack
        .client
        .get_analyzer_info(())
        .await
        .expect("analyzer info")
        .into_inner();
    let s3 = info.policies.iter().find(|p| p.name == "PAL-S3-01").expect("listed");
    assert_eq!(s3.enforcement_level, EnforcementLevel::Advisory as i32);
}

#[tokio::test]
async fn the_reference_environment_passes_the_pack_with_no_mandatory_violation() {
    let plan = sdk_plan(reference()).await;
    assert!(plan.findings.is_empty(), "{:#?}", plan.findings);
    let deployed = Deployed { plan: &plan };
    let mut pack = Pack::start().await;

    // Every account in one Pulumi stack (one provider per account): the whole proof, nothing found.
    let resources = deployed.resources(Some("reference"));
    assert!(resources.len() > 60, "{} resources", resources.len());
    let diagnostics = pack.analyze_stack(resources.clone()).await;
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert!(pack.analyze_each(&resources).await.is_empty());

    // One Pulumi stack per account: nothing mandatory; the target stacks say plainly what the
    // cross-account proof cannot see from there.
    let all = deployed.resources(None);
    for stack in ["dev", "staging", "prod"] {
        let prefix = format!("urn:pulumi:{stack}::");
        let own: Vec<AnalyzerResource> = all.iter().filter(|r| r.urn.starts_with(&prefix)).cloned().collect();
        let diagnostics = pack.analyze_stack(own).await;
        assert!(mandatory(&diagnostics).is_empty(), "{stack}: {diagnostics:#?}");
        if stack == "dev" {
            assert!(diagnostics.is_empty(), "{diagnostics:#?}");
            continue;
        }
        assert!(!diagnostics.is_empty(), "{stack}: the proof cannot be complete here");
        for d in &diagnostics {
            // What a target's stack cannot see: the proof, and whether the dev bucket its S3
            // endpoint admits is the environment's.
            assert!(matches!(d.policy_name.as_str(), "PAL-XACCT-01" | "PAL-NET-06"), "{d:?}");
            assert_eq!(d.enforcement_level, EnforcementLevel::Advisory as i32);
            assert!(d.message.starts_with("cannot decide"), "{}", d.message);
            assert!(
                d.message.contains(if d.policy_name == "PAL-NET-06" {
                    "no stack of the plan declares"
                } else {
                    "sees one Pulumi stack at a time"
                }) && d.message.contains("123456789012"),
                "{}",
                d.message
            );
        }
    }
}

/// The broken variants of examples/secure-mlops/tests/guardrails.rs, one per rule: (name, change).
type Variant = (&'static str, Box<dyn Fn(&mut Vec<Stack>)>);

fn variants() -> Vec<Variant> {
    vec![
        (
            "PAL-NET-02",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "dev", "SecurityGroup", "endpoints", |i| {
                    i["ingress"][0]["cidrBlocks"] = json!(["0.0.0.0/0"]);
                })
            }),
        ),
        (
            "PAL-NET-03",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "staging", "SecurityGroup", "sagemaker", |i| {
                    i["ingress"].as_array_mut().expect("rules").push(
                        json!({"protocol": "tcp", "fromPort": 443, "toPort": 443, "cidrBlocks": ["10.1.0.0/16"]}),
                    );
                })
            }),
        ),
        (
            "PAL-NET-04",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "prod", "SecurityGroup", "endpoints", |i| {
                    i["ingress"][1]["cidrBlocks"] = json!(["10.0.0.0/8"]);
                })
            }),
        ),
        (
            "PAL-S3-01",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "dev", "Bucket", "data", |i| {
                    i["kmsKeyId"] = json!("alias/aws/s3");
                })
            }),
        ),
        (
            "PAL-S3-02",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "dev", "Bucket", "models", |i| {
                    i["blockPublicPolicy"] = json!(false);
                })
            }),
        ),
        (
            "PAL-S3-03",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "dev", "BucketPolicy", "data", |i| {
                    without_statement(&mut i["policy"], "DenyInsecureTransport");
                })
            }),
        ),
        (
            "PAL-S3-04",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "prod", "BucketPolicy", "capture", |i| {
                    without_statement(&mut i["policy"], "DenyOutsideVpcEndpoints");
                })
            }),
        ),
        (
            "PAL-KMS-01",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "dev", "KmsKey", "ebs", |i| {
                    i["enableKeyRotation"] = json!(false);
                })
            }),
        ),
        (
            "PAL-KMS-02",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "staging", "KmsKey", "storage", |i| {
                    without_statement(&mut i["policy"], "DenyOutsideVpcEndpoints");
                })
            }),
        ),
        (
            "PAL-IAM-01",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "prod", "Role", "deployment", |i| {
                    statement(&mut i["inlinePolicies"]["deploy"], "PassOnlyTheModelExecutionRole")["Resource"] =
                        json!(["*"]);
                })
            }),
        ),
        (
            "PAL-IAM-02",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "staging", "Role", "model-execution", |i| {
                    without_statement(
                        &mut i["inlinePolicies"]["serve-in-vpc"],
                        "DenySageMakerWithoutVpcSecurityGroups",
                    );
                })
            }),
        ),
        (
            "PAL-IAM-03",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "staging", "Role", "deployment", |i| {
                    let pass = statement(&mut i["inlinePolicies"]["deploy"], "PassOnlyTheModelExecutionRole");
                    pass["Resource"]
                        .as_array_mut()
                        .expect("resources")
                        .push(json!("arn:aws:iam::222222222222:role/mlops-deployment"));
                })
            }),
        ),
        (
            "PAL-SM-01",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "dev", "Domain", "studio", |i| {
                    i["appNetworkAccessType"] = json!("PublicInternetOnly");
                })
            }),
        ),
        (
            "PAL-SM-02",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "dev", "Domain", "studio", |i| {
                    i.as_object_mut().expect("inputs").remove("kmsKeyId");
                })
            }),
        ),
        (
            "PAL-SM-03",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "prod", "Model", "model", |i| {
                    i["enableNetworkIsolation"] = json!(false);
                })
            }),
        ),
        (
            "PAL-SM-04",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "staging", "EndpointConfig", "serving", |i| {
                    i.as_object_mut().expect("inputs").remove("kmsKeyId");
                })
            }),
        ),
        (
            "PAL-XACCT-01",
            Box::new(|s: &mut Vec<Stack>| {
                let staging_role = marker(&urn_of(s, "staging", "Role", "model-execution"), "arn");
                edit(s, "dev", "BucketPolicy", "models", |i| {
                    let grant = statement(&mut i["policy"], "AllowCrossAccountRead");
                    without(&mut grant["Principal"]["AWS"], &staging_role);
                })
            }),
        ),
        (
            "PAL-XACCT-01",
            Box::new(|s: &mut Vec<Stack>| {
                edit(s, "prod", "Role", "deployment", |i| {
                    statement(&mut i["assumeRolePolicy"], "TrustAccount")["Principal"]["AWS"] =
                        json!(["arn:aws:iam::333333333333:root"]);
                })
            }),
        ),
    ]
}

#[tokio::test]
async fn each_broken_variant_yields_its_rule_with_the_sdks_message() {
    let mut pack = Pack::start().await;
    for (rule, break_it) in variants() {
        let mut stacks = reference();
        break_it(&mut stacks);
        let plan = sdk_plan(stacks).await;
        let expected = expected(&plan.findings);
        assert!(
            expected.iter().any(|(r, _, _)| r == rule),
            "{rule}: the SDK's findings: {:#?}",
            plan.findings
        );
        let resources = Deployed { plan: &plan }.resources(None);
        let diagnostics = pack.analyze_stack(resources.clone()).await;
        assert_eq!(reported(&mandatory(&diagnostics)), expected, "{rule}: {diagnostics:#?}");
        for d in &diagnostics {
            assert_eq!(d.policy_pack_name, "palisade-guardrails");
            let title = RULES.iter().find(|r| r.id == d.policy_name).map(|r| r.title);
            assert_eq!(Some(d.description.as_str()), title);
        }
        // The rules that judge a resource on its own catch it before it is created too.
        let each = pack.analyze_each(&resources).await;
        let mut per_resource: Vec<(String, String, String)> = expected
            .iter()
            .filter(|(r, _, _)| palisade_policy::pack::PER_RESOURCE_RULES.contains(&r.as_str()))
            .cloned()
            .collect();
        let mut caught = reported(&mandatory(&each));
        per_resource.sort();
        caught.sort();
        assert_eq!(caught, per_resource, "{rule} per resource: {each:#?}");
    }
}

#[tokio::test]
async fn the_packs_configuration_disables_or_downgrades_a_rule() {
    let mut stacks = reference();
    edit(&mut stacks, "dev", "KmsKey", "ebs", |i| {
        i["enableKeyRotation"] = json!(false)
    });
    edit(&mut stacks, "dev", "Bucket", "models", |i| {
        i["blockPublicPolicy"] = json!(false)
    });
    let plan = sdk_plan(stacks).await;
    let resources = Deployed { plan: &plan }.resources(None);
    let mut pack = Pack::start().await;
    let rules = |d: &[AnalyzeDiagnostic]| -> Vec<(String, i32)> {
        d.iter().map(|d| (d.policy_name.clone(), d.enforcement_level)).collect()
    };
    let mandatory_level = EnforcementLevel::Mandatory as i32;
    let advisory_level = EnforcementLevel::Advisory as i32;
    assert_eq!(
        rules(&pack.analyze_stack(resources.clone()).await),
        [
            ("PAL-S3-02".to_string(), mandatory_level),
            ("PAL-KMS-01".to_string(), mandatory_level)
        ]
    );

    pack.configure(&[
        ("PAL-KMS-01", EnforcementLevel::Disabled),
        ("PAL-S3-02", EnforcementLevel::Advisory),
    ])
    .await
    .expect("configures");
    assert_eq!(
        rules(&pack.analyze_stack(resources.clone()).await),
        [("PAL-S3-02".to_string(), advisory_level)]
    );
    assert_eq!(
        rules(&pack.analyze_each(&resources).await),
        [("PAL-S3-02".to_string(), advisory_level)]
    );

    // `all` sets every policy; a policy's own entry wins.
    pack.configure(&[
        ("all", EnforcementLevel::Disabled),
        ("PAL-KMS-01", EnforcementLevel::Mandatory),
    ])
    .await
    .expect("configures");
    assert_eq!(
        rules(&pack.analyze_stack(resources.clone()).await),
        [("PAL-KMS-01".to_string(), mandatory_level)]
    );

    // What the pack cannot honour is refused, naming the policy and the fix.
    let remediate = pack
        .configure(&[("PAL-S3-02", EnforcementLevel::Remediate)])
        .await
        .expect_err("refused");
    assert_eq!(remediate.code(), tonic::Code::InvalidArgument);
    assert!(remediate.message().contains("PAL-S3-02") && remediate.message().contains("`disabled`"));
    let unknown = pack
        .configure(&[("PAL-S3-99", EnforcementLevel::Disabled)])
        .await
        .expect_err("refused");
    assert!(unknown.message().contains("PAL-S3-99"), "{}", unknown.message());
}
