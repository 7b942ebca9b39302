//! One typed client over Pulumi's resource-provider protocol. The engine and the integration tests
//! speak to provider plugins only through it, so each wire request is built in one place and every
//! answer comes back as domain types (property maps, diff kinds, check failures).

use std::collections::BTreeMap;

use palisade_proto::pulumirpc as rpc;
use palisade_proto::ResourceProviderClient;
use palisade_provider_kit::diff::DiffKind;
use palisade_provider_kit::resource::CheckFailure;
use palisade_provider_kit::value::{decode_optional, encode_struct, map_from_json, map_to_json, PropertyMap};
use serde_json::Value as Json;
use tonic::transport::Channel;

/// A provider answered a call with an error.
#[derive(Debug, thiserror::Error)]
#[error("{call} of {subject}: {}", .status.message())]
pub struct CallError {
    /// The call (`Create`).
    pub call: &'static str,
    /// The resource (URN) or provider it was about.
    pub subject: String,
    /// The provider's answer.
    pub status: tonic::Status,
}

impl CallError {
    /// The provider's message.
    pub fn message(&self) -> &str {
        self.status.message()
    }

    /// The provider's status code.
    pub fn code(&self) -> tonic::Code {
        self.status.code()
    }

    /// Whether the provider answered that what was asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        self.code() == tonic::Code::NotFound
    }
}

/// Which resource a call is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// Its URN.
    pub urn: &'a str,
    /// Its logical name.
    pub name: &'a str,
    /// Its type token.
    pub token: &'a str,
}

/// What Check answered: the checked inputs, or why they are refused.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// The checked inputs (defaults filled; unknowns stay unknown).
    pub inputs: PropertyMap,
    /// Every property at fault.
    pub failures: Vec<CheckFailure>,
}

/// What Diff answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diffed {
    /// Changed properties and how.
    pub detailed: BTreeMap<String, DiffKind>,
    /// The properties the provider named as changed, with or without saying how.
    pub properties: Vec<String>,
    /// Properties whose change forces a replacement.
    pub replaces: Vec<String>,
    /// The old resource must go before the new one is made.
    pub delete_before_replace: bool,
    /// The provider said something changed (even if it named no property).
    pub changed: bool,
}

impl Diffed {
    /// Whether the resource must be replaced.
    pub fn replaces(&self) -> bool {
        !self.replaces.is_empty() || self.detailed.values().any(|k| k.replaces())
    }
}

/// A resource as Create, Read or Update left it.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Its physical id (empty from Read: it no longer exists).
    pub id: String,
    /// Its outputs.
    pub outputs: PropertyMap,
    /// Its inputs as the provider reads them back (Read only).
    pub inputs: PropertyMap,
}

/// The typed client of one configured provider plugin. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProviderClient {
    inner: ResourceProviderClient<Channel>,
    /// What Create, Update and Delete give the provider, in seconds (zero: the provider's default).
    timeout: f64,
}

fn kind(kind: i32) -> DiffKind {
    use rpc::property_diff::Kind;
    match Kind::try_from(kind).unwrap_or(Kind::Update) {
        Kind::Add => DiffKind::Add,
        Kind::AddReplace => DiffKind::AddReplace,
        Kind::Delete => DiffKind::Delete,
        Kind::DeleteReplace => DiffKind::DeleteReplace,
        Kind::Update => DiffKind::Update,
        Kind::UpdateReplace => DiffKind::UpdateReplace,
    }
}

impl ProviderClient {
    /// Wraps a connected gRPC client.
    pub fn new(inner: ResourceProviderClient<Channel>) -> Self {
        Self { inner, timeout: 0.0 }
    }

    /// This client, giving the provider `timeout` for each Create, Update and Delete (how long it
    /// may wait for the cloud, e.g. for what still depends on a resource being deleted).
    pub fn with_timeout(self, timeout: std::time::Duration) -> Self {
        Self {
            timeout: timeout.as_secs_f64(),
            ..self
        }
    }

    /// The raw gRPC client, for protocol tests.
    pub fn raw(&self) -> ResourceProviderClient<Channel> {
        self.inner.clone()
    }

    /// Configures the provider with `config` (region, account id, access).
    pub async fn configure(&self, subject: &str, config: &Json) -> Result<(), CallError> {
        self.inner
            .clone()
            .configure(rpc::ConfigureRequest {
                args: Some(encode_struct(&map_from_json(config))),
                accept_secrets: true,
                ..Default::default()
            })
            .await
            .map_err(|status| CallError {
                call: "Configure",
                subject: subject.to_string(),
                status,
            })?;
        Ok(())
    }

    /// Check: validates `news` against `olds` (empty for a new resource), with auto-names drawn
    /// from `seed`.
    pub async fn check(
        &self,
        of: Subject<'_>,
        olds: &PropertyMap,
        news: &PropertyMap,
        seed: Vec<u8>,
    ) -> Result<Checked, CallError> {
        let checked = self
            .inner
            .clone()
            .check(rpc::CheckRequest {
                urn: of.urn.to_string(),
                olds: Some(encode_struct(olds)),
                news: Some(encode_struct(news)),
                random_seed: seed,
                name: of.name.to_string(),
                r#type: of.token.to_string(),
                ..Default::default()
            })
            .await
            .map_err(|status| error("Check", of, status))?
            .into_inner();
        Ok(Checked {
            inputs: decode_optional(checked.inputs.as_ref()),
            failures: checked
                .failures
                .into_iter()
                .map(|f| CheckFailure::new(f.property, f.reason))
                .collect(),
        })
    }

    /// Diff: how checked `news` differ from the resource `id` with `old_outputs` and `old_inputs`.
    pub async fn diff(
        &self,
        of: Subject<'_>,
        id: &str,
        old_outputs: &PropertyMap,
        old_inputs: &PropertyMap,
        news: &PropertyMap,
    ) -> Result<Diffed, CallError> {
        let diff = self
            .inner
            .clone()
            .diff(rpc::DiffRequest {
                id: id.to_string(),
                urn: of.urn.to_string(),
                olds: Some(encode_struct(old_outputs)),
                news: Some(encode_struct(news)),
                old_inputs: Some(encode_struct(old_inputs)),
                name: of.name.to_string(),
                r#type: of.token.to_string(),
                ..Default::default()
            })
            .await
            .map_err(|status| error("Diff", of, status))?
            .into_inner();
        let detailed: BTreeMap<String, DiffKind> = diff
            .detailed_diff
            .iter()
            .map(|(k, v)| (k.clone(), kind(v.kind)))
            .collect();
        Ok(Diffed {
            changed: diff.changes == rpc::diff_response::DiffChanges::DiffSome as i32 || !detailed.is_empty(),
            detailed,
            properties: diff.diffs,
            replaces: diff.replaces,
            delete_before_replace: diff.delete_before_replace,
        })
    }

    /// Create (or, with `preview`, what creating would give: outputs unknown where the cloud
    /// assigns them).
    pub async fn create(&self, of: Subject<'_>, inputs: &PropertyMap, preview: bool) -> Result<Live, CallError> {
        let created = self
            .inner
            .clone()
            .create(rpc::CreateRequest {
                urn: of.urn.to_string(),
                properties: Some(encode_struct(inputs)),
                preview,
                name: of.name.to_string(),
                r#type: of.token.to_string(),
                timeout: self.timeout,
                ..Default::default()
            })
            .await
            .map_err(|status| error(if preview { "Create (preview)" } else { "Create" }, of, status))?
            .into_inner();
        Ok(Live {
            id: created.id,
            outputs: decode_optional(created.properties.as_ref()),
            inputs: PropertyMap::new(),
        })
    }

    /// Read: the resource `id` as the cloud has it now; an empty id means it is gone.
    pub async fn read(
        &self,
        of: Subject<'_>,
        id: &str,
        outputs: &PropertyMap,
        inputs: &PropertyMap,
    ) -> Result<Live, CallError> {
        let read = self
            .inner
            .clone()
            .read(rpc::ReadRequest {
                id: id.to_string(),
                urn: of.urn.to_string(),
                properties: Some(encode_struct(outputs)),
                inputs: Some(encode_struct(inputs)),
                name: of.name.to_string(),
                r#type: of.token.to_string(),
                ..Default::default()
            })
            .await
            .map_err(|status| error("Read", of, status))?
            .into_inner();
        Ok(Live {
            id: read.id,
            outputs: decode_optional(read.properties.as_ref()),
            inputs: decode_optional(read.inputs.as_ref()),
        })
    }

    /// Update the resource `id` in place to the checked `news`.
    pub async fn update(
        &self,
        of: Subject<'_>,
        id: &str,
        old_outputs: &PropertyMap,
        old_inputs: &PropertyMap,
        news: &PropertyMap,
    ) -> Result<Live, CallError> {
        let updated = self
            .inner
            .clone()
            .update(rpc::UpdateRequest {
                id: id.to_string(),
                urn: of.urn.to_string(),
                olds: Some(encode_struct(old_outputs)),
                news: Some(encode_struct(news)),
                old_inputs: Some(encode_struct(old_inputs)),
                name: of.name.to_string(),
                r#type: of.token.to_string(),
                timeout: self.timeout,
                ..Default::default()
            })
            .await
            .map_err(|status| error("Update", of, status))?
            .into_inner();
        Ok(Live {
            id: id.to_string(),
            outputs: decode_optional(updated.properties.as_ref()),
            inputs: PropertyMap::new(),
        })
    }

    /// Delete the resource `id`; one already gone counts as deleted.
    pub async fn delete(
        &self,
        of: Subject<'_>,
        id: &str,
        outputs: &PropertyMap,
        inputs: &PropertyMap,
    ) -> Result<(), CallError> {
        self.inner
            .clone()
            .delete(rpc::DeleteRequest {
                id: id.to_string(),
                urn: of.urn.to_string(),
                properties: Some(encode_struct(outputs)),
                old_inputs: Some(encode_struct(inputs)),
                name: of.name.to_string(),
                r#type: of.token.to_string(),
                timeout: self.timeout,
                ..Default::default()
            })
            .await
            .map_err(|status| error("Delete", of, status))?;
        Ok(())
    }

    /// Invoke function `token` with `args`; a refusal of the arguments is an error naming each
    /// property at fault.
    pub async fn invoke(&self, subject: &str, token: &str, args: &Json) -> Result<Json, CallError> {
        let failure = |status| CallError {
            call: "Invoke",
            subject: subject.to_string(),
            status,
        };
        let response = self
            .inner
            .clone()
            .invoke(rpc::InvokeRequest {
                tok: token.to_string(),
                args: Some(encode_struct(&map_from_json(args))),
                preview: false,
            })
            .await
            .map_err(failure)?
            .into_inner();
        if !response.failures.is_empty() {
            let reasons: Vec<String> = response
                .failures
                .into_iter()
                .map(|f| CheckFailure::new(f.property, f.reason).to_string())
                .collect();
            return Err(failure(tonic::Status::invalid_argument(reasons.join("; "))));
        }
        let result = decode_optional(response.r#return.as_ref());
        Ok(map_to_json(&result).unwrap_or_default())
    }
}

fn error(call: &'static str, of: Subject<'_>, status: tonic::Status) -> CallError {
    CallError {
        call,
        subject: of.urn.to_string(),
        status,
    }
}
