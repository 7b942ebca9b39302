//! The `pulumirpc.ResourceProvider` gRPC service over a [`Provider`].
//!
//! Wire types stop here: requests are decoded into property maps and typed requests, answers are
//! encoded back, and errors become gRPC statuses through `ProviderError::to_status` only.

use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use palisade_proto::prost_types::Struct;
use palisade_proto::pulumirpc::{
    self as rpc, check_request::autonaming_options::Mode, diff_response::DiffChanges, property_diff::Kind,
};
use palisade_proto::ResourceProvider;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::aws::AwsSession;
use crate::check::{check_object, Autonaming, CheckInput};
use crate::config::{diff_config, merge_config_inputs, ProviderConfig};
use crate::diff::{Diff, DiffKind};
use crate::error::ProviderError;
use crate::provider::{Context, Provider};
use crate::resource::CheckFailure;
use crate::schema::Properties;
use crate::value::{decode_optional, encode_struct, PropertyMap};

/// The gRPC service of one provider process.
pub struct ProviderService {
    provider: Arc<Provider>,
    session: RwLock<Arc<AwsSession>>,
    cancel: CancellationToken,
    schema: OnceLock<String>,
}

impl std::fmt::Debug for ProviderService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderService")
            .field("provider", &self.provider)
            .finish()
    }
}

impl ProviderService {
    /// A service for `provider`, using the ambient AWS environment until `Configure` says otherwise.
    pub fn new(provider: Provider) -> Self {
        Self {
            provider: Arc::new(provider),
            session: RwLock::new(Arc::new(AwsSession::new(ProviderConfig::default()))),
            cancel: CancellationToken::new(),
            schema: OnceLock::new(),
        }
    }

    /// The package schema as JSON text (rendered once).
    pub fn schema_json(&self) -> &str {
        self.schema
            .get_or_init(|| self.provider.package().to_schema().to_string())
    }

    fn context(&self, urn: &str, timeout_seconds: f64) -> Context {
        let session = self.session.read().unwrap_or_else(|p| p.into_inner()).clone();
        let timeout = if timeout_seconds.is_finite() && timeout_seconds > 0.0 {
            Duration::from_secs_f64(timeout_seconds.min(1e9))
        } else {
            Duration::ZERO
        };
        Context::new(session, self.cancel.clone(), urn, timeout)
    }
}

/// The type token of a request: its `type` field, else the type part of its URN.
fn type_token<'a>(urn: &'a str, type_field: &'a str) -> &'a str {
    if !type_field.is_empty() {
        return type_field;
    }
    let qualified = urn.split("::").nth(2).unwrap_or_default();
    qualified.rsplit('$').next().unwrap_or(qualified)
}

/// The logical name of a request: its `name` field, else the last part of its URN.
fn logical_name<'a>(urn: &'a str, name_field: &'a str) -> &'a str {
    if !name_field.is_empty() {
        return name_field;
    }
    urn.rsplit("::").next().unwrap_or_default()
}

fn failures_to_wire(failures: Vec<CheckFailure>) -> Vec<rpc::CheckFailure> {
    failures
        .into_iter()
        .map(|f| rpc::CheckFailure {
            property: f.property,
            reason: f.reason,
        })
        .collect()
}

fn wire(map: &PropertyMap) -> Option<Struct> {
    Some(encode_struct(map))
}

fn diff_to_wire(diff: &Diff) -> rpc::DiffResponse {
    let kind = |k: DiffKind| match k {
        DiffKind::Add => Kind::Add,
        DiffKind::AddReplace => Kind::AddReplace,
        DiffKind::Delete => Kind::Delete,
        DiffKind::DeleteReplace => Kind::DeleteReplace,
        DiffKind::Update => Kind::Update,
        DiffKind::UpdateReplace => Kind::UpdateReplace,
    };
    rpc::DiffResponse {
        replaces: diff.replaces(),
        stables: Vec::new(),
        delete_before_replace: diff.delete_before_replace,
        changes: if diff.has_changes() {
            DiffChanges::DiffSome
        } else {
            DiffChanges::DiffNone
        } as i32,
        diffs: diff.detailed.keys().cloned().collect(),
        detailed_diff: diff
            .detailed
            .iter()
            .map(|(path, k)| {
                (
                    path.clone(),
                    rpc::PropertyDiff {
                        kind: kind(*k) as i32,
                        input_diff: true,
                    },
                )
            })
            .collect(),
        has_detailed_diff: true,
    }
}

/// Configuration set on the command line (`pulumi config set`) may carry an object as JSON text;
/// such values are taken as the object they spell.
fn objects_from_json_text(map: PropertyMap) -> PropertyMap {
    map.into_iter()
        .map(|(key, value)| match &value {
            crate::value::PropertyValue::String(text) if text.trim_start().starts_with('{') => {
                match serde_json::from_str::<serde_json::Value>(text) {
                    Ok(json @ serde_json::Value::Object(_)) => (key, crate::value::PropertyValue::from_json(&json)),
                    _ => (key, value),
                }
            }
            _ => (key, value),
        })
        .collect()
}

fn without_engine_keys(mut map: PropertyMap) -> PropertyMap {
    for engine_key in ["version", "pluginDownloadURL"] {
        map.remove(engine_key);
    }
    map
}

type ListStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<rpc::ListResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ResourceProvider for ProviderService {
    async fn handshake(
        &self,
        _request: Request<rpc::ProviderHandshakeRequest>,
    ) -> Result<Response<rpc::ProviderHandshakeResponse>, Status> {
        Ok(Response::new(rpc::ProviderHandshakeResponse {
            accept_secrets: true,
            accept_resources: false,
            accept_outputs: false,
            supports_autonaming_configuration: true,
            accepts_byte_string: false,
            accepts_outputs_in_invoke: false,
            accepts_outputs_in_call: false,
            accepts_outputs_in_check: false,
        }))
    }

    async fn parameterize(
        &self,
        _request: Request<rpc::ParameterizeRequest>,
    ) -> Result<Response<rpc::ParameterizeResponse>, Status> {
        Err(Status::unimplemented(
            "Parameterize is not supported: Palisade packages are not parameterized",
        ))
    }

    async fn get_schema(
        &self,
        request: Request<rpc::GetSchemaRequest>,
    ) -> Result<Response<rpc::GetSchemaResponse>, Status> {
        let request = request.into_inner();
        if !request.subpackage_name.is_empty() {
            return Err(Status::not_found(format!(
                "no subpackage `{}` in this provider",
                request.subpackage_name
            )));
        }
        Ok(Response::new(rpc::GetSchemaResponse {
            schema: self.schema_json().to_string(),
        }))
    }

    async fn check_config(&self, request: Request<rpc::CheckRequest>) -> Result<Response<rpc::CheckResponse>, Status> {
        let request = request.into_inner();
        let news = objects_from_json_text(decode_optional(request.news.as_ref()));
        let failures = check_object(&ProviderConfig::object_spec(), &without_engine_keys(news.clone()), "");
        Ok(Response::new(if failures.is_empty() {
            rpc::CheckResponse {
                inputs: wire(&news),
                failures: Vec::new(),
            }
        } else {
            rpc::CheckResponse {
                inputs: None,
                failures: failures_to_wire(failures),
            }
        }))
    }

    async fn diff_config(&self, request: Request<rpc::DiffRequest>) -> Result<Response<rpc::DiffResponse>, Status> {
        let request = request.into_inner();
        let olds = match &request.old_inputs {
            Some(old_inputs) if !old_inputs.fields.is_empty() => decode_optional(Some(old_inputs)),
            _ => decode_optional(request.olds.as_ref()),
        };
        let news = decode_optional(request.news.as_ref());
        // A changed account or region replaces every resource the provider manages (see diff_config).
        let diff = diff_config(&olds, &news, &request.ignore_changes);
        Ok(Response::new(diff_to_wire(&diff)))
    }

    async fn configure(
        &self,
        request: Request<rpc::ConfigureRequest>,
    ) -> Result<Response<rpc::ConfigureResponse>, Status> {
        let request = request.into_inner();
        let args = objects_from_json_text(decode_optional(request.args.as_ref()));
        let merged = merge_config_inputs(&request.variables, &args).map_err(|reason| ProviderError::Config {
            setting: "args",
            reason,
        })?;
        let failures = check_object(
            &ProviderConfig::object_spec(),
            &crate::value::map_from_json(&merged),
            "",
        );
        if !failures.is_empty() {
            return Err(ProviderError::InvalidInput { failures }.into());
        }
        let config: ProviderConfig = serde_json::from_value(merged).map_err(|e| ProviderError::Config {
            setting: "args",
            reason: e.to_string(),
        })?;
        tracing::info!(?config, "configured");
        // No network call here: the session loads credentials on first use.
        *self.session.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(AwsSession::new(config));
        Ok(Response::new(rpc::ConfigureResponse {
            accept_secrets: true,
            supports_preview: true,
            accept_resources: false,
            accept_outputs: false,
            supports_autonaming_configuration: true,
        }))
    }

    async fn invoke(&self, request: Request<rpc::InvokeRequest>) -> Result<Response<rpc::InvokeResponse>, Status> {
        let request = request.into_inner();
        let function = self.provider.function_for(&request.tok)?;
        let ctx = self.context("", 0.0);
        match function.invoke(&ctx, decode_optional(request.args.as_ref())).await {
            Ok(result) => Ok(Response::new(rpc::InvokeResponse {
                r#return: wire(&result),
                failures: Vec::new(),
            })),
            Err(ProviderError::InvalidInput { failures }) => Ok(Response::new(rpc::InvokeResponse {
                r#return: None,
                failures: failures_to_wire(failures),
            })),
            Err(other) => Err(other.into()),
        }
    }

    async fn call(&self, _request: Request<rpc::CallRequest>) -> Result<Response<rpc::CallResponse>, Status> {
        Err(Status::unimplemented(
            "Call is not supported: Palisade resources have no methods",
        ))
    }

    async fn check(&self, request: Request<rpc::CheckRequest>) -> Result<Response<rpc::CheckResponse>, Status> {
        let request = request.into_inner();
        let resource = self.provider.resource_for(type_token(&request.urn, &request.r#type))?;
        let autonaming = request
            .autonaming
            .as_ref()
            .map(|options| match Mode::try_from(options.mode) {
                Ok(Mode::Enforce) => Autonaming::Enforce(options.proposed_name.clone()),
                Ok(Mode::Disable) => Autonaming::Disable,
                _ => Autonaming::Propose(options.proposed_name.clone()),
            });
        // An empty proposal means "no opinion": fall back to our own naming.
        let autonaming = autonaming.filter(|a| !matches!(a, Autonaming::Propose(name) if name.is_empty()));
        let input = CheckInput {
            name: logical_name(&request.urn, &request.name).to_string(),
            olds: decode_optional(request.olds.as_ref()),
            news: decode_optional(request.news.as_ref()),
            random_seed: request.random_seed,
            autonaming,
        };
        Ok(Response::new(match resource.check(input) {
            Ok(inputs) => rpc::CheckResponse {
                inputs: wire(&inputs),
                failures: Vec::new(),
            },
            Err(failures) => rpc::CheckResponse {
                inputs: None,
                failures: failures_to_wire(failures),
            },
        }))
    }

    async fn diff(&self, request: Request<rpc::DiffRequest>) -> Result<Response<rpc::DiffResponse>, Status> {
        let request = request.into_inner();
        let resource = self.provider.resource_for(type_token(&request.urn, &request.r#type))?;
        let olds = match &request.old_inputs {
            Some(old_inputs) if !old_inputs.fields.is_empty() => decode_optional(Some(old_inputs)),
            _ => decode_optional(request.olds.as_ref()),
        };
        let news = decode_optional(request.news.as_ref());
        Ok(Response::new(diff_to_wire(&resource.diff(
            &olds,
            &news,
            &request.ignore_changes,
        ))))
    }

    async fn create(&self, request: Request<rpc::CreateRequest>) -> Result<Response<rpc::CreateResponse>, Status> {
        let request = request.into_inner();
        let resource = self.provider.resource_for(type_token(&request.urn, &request.r#type))?;
        let inputs = decode_optional(request.properties.as_ref());
        if request.preview {
            return Ok(Response::new(rpc::CreateResponse {
                id: String::new(),
                properties: wire(&resource.preview_outputs(&inputs)),
                refresh_before_update: false,
            }));
        }
        let ctx = self.context(&request.urn, request.timeout);
        let (id, outputs) = resource.create(&ctx, inputs).await?;
        tracing::info!(urn = %request.urn, %id, "created");
        Ok(Response::new(rpc::CreateResponse {
            id,
            properties: wire(&outputs),
            refresh_before_update: false,
        }))
    }

    async fn read(&self, request: Request<rpc::ReadRequest>) -> Result<Response<rpc::ReadResponse>, Status> {
        let request = request.into_inner();
        let resource = self.provider.resource_for(type_token(&request.urn, &request.r#type))?;
        let ctx = self.context(&request.urn, request.timeout);
        let inputs = decode_optional(request.inputs.as_ref());
        // Without an id, Read looks for what an interrupted create of this URN left behind (the
        // engine settles its journal this way); with neither id nor inputs there is nothing to go by.
        let id = if !request.id.is_empty() {
            request.id.clone()
        } else if inputs.is_empty() {
            return Err(ProviderError::invalid(
                "id",
                "Read needs the physical id of the resource, or the inputs it was created with",
            )
            .into());
        } else {
            match resource.find(&ctx, inputs).await? {
                Some(id) => id,
                None => {
                    return Ok(Response::new(rpc::ReadResponse {
                        id: String::new(),
                        properties: None,
                        inputs: None,
                        refresh_before_update: false,
                    }))
                }
            }
        };
        let outcome = resource
            .read(
                &ctx,
                id.clone(),
                decode_optional(request.inputs.as_ref()),
                decode_optional(request.properties.as_ref()),
            )
            .await?;
        Ok(Response::new(match outcome {
            Some(outcome) => rpc::ReadResponse {
                id,
                properties: wire(&outcome.outputs),
                inputs: wire(&outcome.inputs),
                refresh_before_update: false,
            },
            // Gone: an empty id tells the engine to drop it from the state.
            None => rpc::ReadResponse {
                id: String::new(),
                properties: None,
                inputs: None,
                refresh_before_update: false,
            },
        }))
    }

    type ListStream = ListStream;

    async fn list(&self, _request: Request<rpc::ListRequest>) -> Result<Response<Self::ListStream>, Status> {
        Err(Status::unimplemented("List is not supported yet"))
    }

    async fn update(&self, request: Request<rpc::UpdateRequest>) -> Result<Response<rpc::UpdateResponse>, Status> {
        let request = request.into_inner();
        let resource = self.provider.resource_for(type_token(&request.urn, &request.r#type))?;
        let olds = decode_optional(request.olds.as_ref());
        let news = decode_optional(request.news.as_ref());
        if request.preview {
            let mut preview = olds;
            preview.extend(news.into_iter().filter(|(k, _)| k != crate::check::DEFAULTS_KEY));
            return Ok(Response::new(rpc::UpdateResponse {
                properties: wire(&preview),
                refresh_before_update: false,
            }));
        }
        let ctx = self.context(&request.urn, request.timeout);
        let outputs = resource
            .update(
                &ctx,
                request.id.clone(),
                olds,
                decode_optional(request.old_inputs.as_ref()),
                news,
            )
            .await?;
        tracing::info!(urn = %request.urn, id = %request.id, "updated");
        Ok(Response::new(rpc::UpdateResponse {
            properties: wire(&outputs),
            refresh_before_update: false,
        }))
    }

    async fn delete(&self, request: Request<rpc::DeleteRequest>) -> Result<Response<()>, Status> {
        let request = request.into_inner();
        let resource = self.provider.resource_for(type_token(&request.urn, &request.r#type))?;
        let ctx = self.context(&request.urn, request.timeout);
        resource
            .delete(&ctx, request.id.clone(), decode_optional(request.properties.as_ref()))
            .await?;
        tracing::info!(urn = %request.urn, id = %request.id, "deleted");
        Ok(Response::new(()))
    }

    async fn construct(
        &self,
        _request: Request<rpc::ConstructRequest>,
    ) -> Result<Response<rpc::ConstructResponse>, Status> {
        Err(Status::unimplemented(
            "Construct is not supported: Palisade offers no component resources",
        ))
    }

    async fn cancel(&self, _request: Request<()>) -> Result<Response<()>, Status> {
        tracing::info!("cancel requested: stopping waits in flight");
        self.cancel.cancel();
        Ok(Response::new(()))
    }

    async fn get_plugin_info(&self, _request: Request<()>) -> Result<Response<rpc::PluginInfo>, Status> {
        Ok(Response::new(rpc::PluginInfo {
            version: self.provider.package().version.to_string(),
        }))
    }

    async fn attach(&self, _request: Request<rpc::PluginAttach>) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("Attach is not supported"))
    }

    async fn get_mapping(
        &self,
        _request: Request<rpc::GetMappingRequest>,
    ) -> Result<Response<rpc::GetMappingResponse>, Status> {
        Err(Status::unimplemented("GetMapping is not supported"))
    }

    async fn get_mappings(
        &self,
        _request: Request<rpc::GetMappingsRequest>,
    ) -> Result<Response<rpc::GetMappingsResponse>, Status> {
        Err(Status::unimplemented("GetMappings is not supported"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_objects_given_as_json_text_are_objects() {
        let map = crate::value::map_from_json(&serde_json::json!({
            "assumeRole": "{\"roleArn\": \"arn:aws:iam::222222222222:role/d\"}",
            "region": "eu-west-1",
        }));
        let map = objects_from_json_text(map);
        assert!(matches!(map["assumeRole"], crate::value::PropertyValue::Object(_)));
        assert_eq!(map["region"], crate::value::PropertyValue::String("eu-west-1".into()));
    }

    #[test]
    fn type_and_name_come_from_fields_or_the_urn() {
        let urn = "urn:pulumi:dev::proj::palisade-network:index:Vpc::main";
        assert_eq!(type_token(urn, ""), "palisade-network:index:Vpc");
        assert_eq!(type_token(urn, "x:index:Y"), "x:index:Y");
        assert_eq!(logical_name(urn, ""), "main");
        let nested = "urn:pulumi:dev::proj::parent:index:P$palisade-network:index:Subnet::a";
        assert_eq!(type_token(nested, ""), "palisade-network:index:Subnet");
    }
}
