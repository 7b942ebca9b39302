//! `pulumirpc.Analyzer` over the pack: wire types in, [`AnalyzedResource`]s to the guardrails,
//! [`Violation`]s back out as diagnostics.

use std::collections::BTreeMap;
use std::sync::Mutex;

use palisade::guardrails::{Severity, RULES};
use palisade::kit::config::ProviderConfig;
use palisade::kit::value::{decode_optional, PropertyMap, PropertyValue};
use palisade_proto::pulumirpc::{
    AnalyzeDiagnostic, AnalyzeRequest, AnalyzeResponse, AnalyzeStackRequest, AnalyzerHandshakeRequest,
    AnalyzerHandshakeResponse, AnalyzerInfo, AnalyzerProviderResource, AnalyzerResource, AnalyzerStackConfigureRequest,
    AnalyzerStackConfigureResponse, ConfigureAnalyzerRequest, EnforcementLevel, PluginInfo, PolicyConfigSchema,
    PolicyInfo,
};
use palisade_proto::Analyzer;
use serde_json::Value as Json;
use tonic::{Request, Response, Status};

use crate::pack::{self, Level, PolicyConfig, Settings, Violation, CROSS_ACCOUNT_RULE, PACK_NAME, PACK_VERSION};
use crate::resources::{self, AnalyzedResource};

/// The analyzer: the pack's settings, as the engine configured them.
#[derive(Debug, Default)]
pub struct Guardrails {
    settings: Mutex<Settings>,
}

impl Guardrails {
    fn settings(&self) -> Settings {
        self.settings
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }
}

fn level_to_wire(level: Level) -> EnforcementLevel {
    match level {
        Level::Advisory => EnforcementLevel::Advisory,
        Level::Mandatory => EnforcementLevel::Mandatory,
        Level::Disabled => EnforcementLevel::Disabled,
    }
}

fn level_from_wire(level: i32) -> Result<Level, &'static str> {
    match EnforcementLevel::try_from(level) {
        Ok(EnforcementLevel::Advisory) => Ok(Level::Advisory),
        Ok(EnforcementLevel::Mandatory) => Ok(Level::Mandatory),
        Ok(EnforcementLevel::Disabled) => Ok(Level::Disabled),
        Ok(EnforcementLevel::Remediate) => Err("remediate"),
        Err(_) => Err("unknown"),
    }
}

/// The account and region a provider is configured with.
fn place(provider: Option<&AnalyzerProviderResource>) -> (Option<String>, Option<String>) {
    let config = decode_optional(provider.and_then(|p| p.properties.as_ref()));
    let text = |name: &str| match config.get(name).map(PropertyValue::reveal) {
        Some(PropertyValue::String(s)) if !s.is_empty() => Some(s),
        _ => None,
    };
    (text(ProviderConfig::ACCOUNT_ID), text(ProviderConfig::REGION))
}

fn name_of(name: &str, urn: &str) -> String {
    if name.is_empty() {
        urn.rsplit("::").next().unwrap_or_default().to_string()
    } else {
        name.to_string()
    }
}

impl From<&AnalyzerResource> for AnalyzedResource {
    fn from(r: &AnalyzerResource) -> Self {
        let (account_id, region) = place(r.provider.as_ref());
        Self {
            urn: r.urn.clone(),
            token: r.r#type.clone(),
            name: name_of(&r.name, &r.urn),
            properties: decode_optional(r.properties.as_ref()),
            dependencies: r.dependencies.clone(),
            account_id,
            region,
        }
    }
}

impl From<&AnalyzeRequest> for AnalyzedResource {
    fn from(r: &AnalyzeRequest) -> Self {
        // The resource as AnalyzeStack shows it, less the dependencies Analyze is not told.
        let resource = AnalyzerResource {
            r#type: r.r#type.clone(),
            properties: r.properties.clone(),
            urn: r.urn.clone(),
            name: r.name.clone(),
            provider: r.provider.clone(),
            ..Default::default()
        };
        Self::from(&resource)
    }
}

fn diagnostic(v: Violation) -> AnalyzeDiagnostic {
    AnalyzeDiagnostic {
        policy_name: v.policy.to_string(),
        policy_pack_name: PACK_NAME.to_string(),
        policy_pack_version: PACK_VERSION.to_string(),
        description: v.description.to_string(),
        message: v.message,
        tags: Vec::new(),
        enforcement_level: level_to_wire(v.level) as i32,
        urn: v.urn,
    }
}

fn json_struct(map: &BTreeMap<String, Json>) -> prost_types::Struct {
    let properties: PropertyMap = map
        .iter()
        .map(|(k, v)| (k.clone(), PropertyValue::from_json(v)))
        .collect();
    palisade::kit::value::encode_struct(&properties)
}

#[tonic::async_trait]
impl Analyzer for Guardrails {
    async fn analyze(&self, request: Request<AnalyzeRequest>) -> Result<Response<AnalyzeResponse>, Status> {
        let resource = AnalyzedResource::from(request.get_ref());
        let settings = self.settings();
        // One resource, judged alone, by the rules that need nothing else; what cannot be decided
        // yet is left to AnalyzeStack, which sees the whole stack.
        let diagnostics = resources::judge(std::slice::from_ref(&resource), &settings)
            .iter()
            .filter(|f| f.urn == resource.urn && f.severity != Severity::Undecided)
            .filter(|f| pack::PER_RESOURCE_RULES.contains(&f.rule))
            .filter_map(|f| pack::violation(f, &settings))
            .map(diagnostic)
            .collect();
        Ok(Response::new(AnalyzeResponse { diagnostics }))
    }

    async fn analyze_stack(&self, request: Request<AnalyzeStackRequest>) -> Result<Response<AnalyzeResponse>, Status> {
        let resources: Vec<AnalyzedResource> = request.get_ref().resources.iter().map(AnalyzedResource::from).collect();
        let settings = self.settings();
        let accounts = resources::accounts(&resources);
        let scope = format!(
            "a policy pack sees one Pulumi stack at a time, and this one holds account(s) {} only: judge the other account's side in its own stack, or preview every account together with the Palisade SDK",
            accounts.into_iter().collect::<Vec<_>>().join(", ")
        );
        let mut violations: Vec<Violation> = resources::judge(&resources, &settings)
            .iter()
            .filter_map(|f| {
                let mut v = pack::violation(f, &settings)?;
                if f.rule == CROSS_ACCOUNT_RULE && f.severity == Severity::Undecided {
                    v.message = format!("{}\n{scope}", v.message);
                }
                Some(v)
            })
            .collect();
        if let Some(rule) = RULES.iter().find(|r| r.id == CROSS_ACCOUNT_RULE) {
            if settings.level(rule) != Level::Disabled {
                for (urn, bucket) in resources::artifacts_out_of_sight(&resources) {
                    violations.push(Violation {
                        policy: rule.id,
                        description: rule.title,
                        message: format!(
                            "cannot decide \"{}\": the model's artifact lies in bucket `{bucket}`, which this stack does not declare, so whether its bucket and key policies admit this account is not judged here\n{scope}",
                            rule.title
                        ),
                        level: Level::Advisory,
                        urn,
                    });
                }
            }
        }
        Ok(Response::new(AnalyzeResponse {
            diagnostics: violations.into_iter().map(diagnostic).collect(),
        }))
    }

    async fn get_analyzer_info(&self, _: Request<()>) -> Result<Response<AnalyzerInfo>, Status> {
        let settings = self.settings();
        let policies = RULES
            .iter()
            .map(|rule| {
                let schema = pack::config_schema(rule);
                PolicyInfo {
                    name: rule.id.to_string(),
                    display_name: rule.title.to_string(),
                    description: format!("{}: {}", rule.title, rule.why),
                    message: format!("fix: {}", rule.fix),
                    enforcement_level: level_to_wire(settings.level(rule)) as i32,
                    config_schema: Some(PolicyConfigSchema {
                        properties: Some(json_struct(&schema)),
                        required: Vec::new(),
                    }),
                }
            })
            .collect();
        Ok(Response::new(AnalyzerInfo {
            name: PACK_NAME.to_string(),
            display_name: "Palisade guardrails".to_string(),
            policies,
            version: PACK_VERSION.to_string(),
            supports_config: true,
            initial_config: Default::default(),
        }))
    }

    async fn get_plugin_info(&self, _: Request<()>) -> Result<Response<PluginInfo>, Status> {
        Ok(Response::new(PluginInfo {
            version: PACK_VERSION.to_string(),
        }))
    }

    async fn configure(&self, request: Request<ConfigureAnalyzerRequest>) -> Result<Response<()>, Status> {
        let config: BTreeMap<String, PolicyConfig> = request
            .get_ref()
            .policy_config
            .iter()
            .map(|(name, c)| {
                let properties = decode_optional(c.properties.as_ref())
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.to_json()?)))
                    // The engine puts the level among the properties too.
                    .filter(|(k, _)| k != "enforcementLevel")
                    .collect();
                let policy = PolicyConfig {
                    level: level_from_wire(c.enforcement_level),
                    properties,
                };
                (name.clone(), policy)
            })
            .collect();
        let settings = Settings::from_config(&config).map_err(|e| Status::invalid_argument(e.to_string()))?;
        match self.settings.lock() {
            Ok(mut current) => *current = settings,
            Err(poisoned) => *poisoned.into_inner() = settings,
        }
        Ok(Response::new(()))
    }

    async fn handshake(
        &self,
        _: Request<AnalyzerHandshakeRequest>,
    ) -> Result<Response<AnalyzerHandshakeResponse>, Status> {
        Ok(Response::new(AnalyzerHandshakeResponse {}))
    }

    async fn configure_stack(
        &self,
        _: Request<AnalyzerStackConfigureRequest>,
    ) -> Result<Response<AnalyzerStackConfigureResponse>, Status> {
        // The stack's name comes with every URN, and its accounts with every resource's provider.
        Ok(Response::new(AnalyzerStackConfigureResponse {}))
    }
}
