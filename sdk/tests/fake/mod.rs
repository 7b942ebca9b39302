//! An in-process fake provider over a real socket on 127.0.0.1:0, for planner tests and benchmarks.
//!
//! Resource `fake:index:Thing`: Check accepts any declared `ThingArgs`; Diff compares inputs, and a
//! changed `replaceKey` forces replacement (delete first when `fixedName` is set); Create fails when
//! `failCreate` is set; `opaquePreview` makes a previewed create's outputs unknown, as a real
//! provider's computed outputs are. Read without an id finds what Create made for that URN (the
//! adoption of an interrupted create). `fake:index:Vault` is the same thing, declared to hold data.
//! Every mutating call is logged, in order.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use palisade::kit::value::{decode_optional, encode_struct, PropertyMap, PropertyValue};
use palisade::kit::{Properties, ResourceType};
use palisade_proto::pulumirpc as rpc;
use palisade_proto::{ResourceProvider, ResourceProviderClient, ResourceProviderServer};
use serde::{Deserialize, Serialize};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// The fake resource type.
pub struct Thing;

/// Its inputs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct ThingArgs {
    /// Any value.
    pub value: String,
    /// Changing it replaces the thing.
    pub replace_key: Option<String>,
    /// A fixed physical name: replacement must delete first.
    pub fixed_name: Option<String>,
    /// Make Create fail.
    pub fail_create: Option<bool>,
    /// Make Update fail.
    pub fail_update: Option<bool>,
    /// A previewed Create answers every output unknown.
    pub opaque_preview: Option<bool>,
}

/// Its outputs.
#[derive(Debug, Clone, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct ThingState {
    #[serde(flatten)]
    pub args: ThingArgs,
    /// The assigned id.
    pub id: String,
}

impl ResourceType for Thing {
    const PACKAGE: &'static str = "fake";
    const NAME: &'static str = "Thing";
    const DOC: &'static str = "A fake thing.";
    type Inputs = ThingArgs;
    type Outputs = ThingState;
}

/// A fake kind that holds data, so plans protect it.
pub struct Vault;

impl ResourceType for Vault {
    const PACKAGE: &'static str = "fake";
    const NAME: &'static str = "Vault";
    const DOC: &'static str = "A fake thing that holds data.";
    const HOLDS_DATA: Option<&'static str> = Some("the vault's contents");
    type Inputs = ThingArgs;
    type Outputs = ThingState;
}

/// A kind of a package no plugin serves: starting its provider fails.
pub struct Elsewhere;

impl ResourceType for Elsewhere {
    const PACKAGE: &'static str = "fake-elsewhere";
    const NAME: &'static str = "Elsewhere";
    const DOC: &'static str = "A fake thing whose provider cannot be started.";
    type Inputs = ThingArgs;
    type Outputs = ThingState;
}

/// Shared record of what the fake was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn entries(&self) -> Vec<String> {
        self.0.lock().expect("log").clone()
    }
    fn push(&self, entry: String) {
        self.0.lock().expect("log").push(entry);
    }
    pub fn clear(&self) {
        self.0.lock().expect("log").clear();
    }
}

struct Fake {
    log: Log,
    next: AtomicU64,
    /// What Create made, by URN: its id and outputs.
    made: Mutex<BTreeMap<String, (String, PropertyMap)>>,
}

fn name(urn: &str) -> &str {
    urn.rsplit("::").next().unwrap_or_default()
}

#[tonic::async_trait]
impl ResourceProvider for Fake {
    async fn handshake(
        &self,
        _: Request<rpc::ProviderHandshakeRequest>,
    ) -> Result<Response<rpc::ProviderHandshakeResponse>, Status> {
        Ok(Response::new(rpc::ProviderHandshakeResponse {
            accept_secrets: true,
            ..Default::default()
        }))
    }
    async fn parameterize(
        &self,
        _: Request<rpc::ParameterizeRequest>,
    ) -> Result<Response<rpc::ParameterizeResponse>, Status> {
        Err(Status::unimplemented("no"))
    }
    async fn get_schema(&self, _: Request<rpc::GetSchemaRequest>) -> Result<Response<rpc::GetSchemaResponse>, Status> {
        Ok(Response::new(rpc::GetSchemaResponse { schema: "{}".into() }))
    }
    async fn check_config(&self, r: Request<rpc::CheckRequest>) -> Result<Response<rpc::CheckResponse>, Status> {
        Ok(Response::new(rpc::CheckResponse {
            inputs: r.into_inner().news,
            failures: vec![],
        }))
    }
    async fn diff_config(&self, _: Request<rpc::DiffRequest>) -> Result<Response<rpc::DiffResponse>, Status> {
        Ok(Response::new(rpc::DiffResponse::default()))
    }
    async fn configure(&self, _: Request<rpc::ConfigureRequest>) -> Result<Response<rpc::ConfigureResponse>, Status> {
        Ok(Response::new(rpc::ConfigureResponse {
            accept_secrets: true,
            supports_preview: true,
            ..Default::default()
        }))
    }
    async fn invoke(&self, _: Request<rpc::InvokeRequest>) -> Result<Response<rpc::InvokeResponse>, Status> {
        Err(Status::unimplemented("no"))
    }
    async fn call(&self, _: Request<rpc::CallRequest>) -> Result<Response<rpc::CallResponse>, Status> {
        Err(Status::unimplemented("no"))
    }
    async fn check(&self, r: Request<rpc::CheckRequest>) -> Result<Response<rpc::CheckResponse>, Status> {
        let news = decode_optional(r.into_inner().news.as_ref());
        let failures = match news.get("value") {
            Some(PropertyValue::String(_)) | Some(PropertyValue::Unknown) => vec![],
            _ => vec![rpc::CheckFailure {
                property: "value".into(),
                reason: "expected a string".into(),
            }],
        };
        Ok(Response::new(rpc::CheckResponse {
            inputs: Some(encode_struct(&news)),
            failures,
        }))
    }
    async fn diff(&self, r: Request<rpc::DiffRequest>) -> Result<Response<rpc::DiffResponse>, Status> {
        let r = r.into_inner();
        let olds = decode_optional(r.old_inputs.as_ref());
        let news = decode_optional(r.news.as_ref());
        let mut detailed = BTreeMap::new();
        let keys: std::collections::BTreeSet<&String> = olds.keys().chain(news.keys()).collect();
        for key in keys {
            if olds.get(key) != news.get(key) || news.get(key) == Some(&PropertyValue::Unknown) {
                let kind = if key == "replaceKey" {
                    rpc::property_diff::Kind::UpdateReplace
                } else {
                    rpc::property_diff::Kind::Update
                };
                detailed.insert(
                    key.clone(),
                    rpc::PropertyDiff {
                        kind: kind as i32,
                        input_diff: true,
                    },
                );
            }
        }
        let replaces: Vec<String> = detailed.keys().filter(|k| *k == "replaceKey").cloned().collect();
        Ok(Response::new(rpc::DiffResponse {
            delete_before_replace: !replaces.is_empty() && news.contains_key("fixedName"),
            replaces,
            changes: if detailed.is_empty() { 1 } else { 2 },
            diffs: detailed.keys().cloned().collect(),
            detailed_diff: detailed.into_iter().collect(),
            has_detailed_diff: true,
            stables: vec![],
        }))
    }
    async fn create(&self, r: Request<rpc::CreateRequest>) -> Result<Response<rpc::CreateResponse>, Status> {
        let r = r.into_inner();
        let mut outputs: PropertyMap = decode_optional(r.properties.as_ref());
        if r.preview {
            if outputs.get("opaquePreview") == Some(&PropertyValue::Bool(true)) {
                for value in outputs.values_mut() {
                    *value = PropertyValue::Unknown;
                }
            }
            outputs.insert("id".into(), PropertyValue::Unknown);
            return Ok(Response::new(rpc::CreateResponse {
                id: String::new(),
                properties: Some(encode_struct(&outputs)),
                refresh_before_update: false,
            }));
        }
        if outputs.get("failCreate") == Some(&PropertyValue::Bool(true)) {
            self.log.push(format!("create-failed {}", name(&r.urn)));
            return Err(Status::internal("the fake was told to fail"));
        }
        let id = format!("id-{}", self.next.fetch_add(1, Ordering::SeqCst));
        outputs.insert("id".into(), PropertyValue::String(id.clone()));
        self.log.push(format!("create {} {id}", name(&r.urn)));
        self.made
            .lock()
            .expect("made")
            .insert(r.urn.clone(), (id.clone(), outputs.clone()));
        Ok(Response::new(rpc::CreateResponse {
            id,
            properties: Some(encode_struct(&outputs)),
            refresh_before_update: false,
        }))
    }
    async fn read(&self, r: Request<rpc::ReadRequest>) -> Result<Response<rpc::ReadResponse>, Status> {
        let r = r.into_inner();
        if r.id.is_empty() {
            // Find what an interrupted create made, as real providers do by URN tag.
            let made = self.made.lock().expect("made").get(&r.urn).cloned();
            let (id, outputs) = made.unwrap_or_default();
            return Ok(Response::new(rpc::ReadResponse {
                id,
                properties: Some(encode_struct(&outputs)),
                inputs: r.inputs,
                refresh_before_update: false,
            }));
        }
        Ok(Response::new(rpc::ReadResponse {
            id: r.id,
            properties: r.properties,
            inputs: r.inputs,
            refresh_before_update: false,
        }))
    }
    type ListStream = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<rpc::ListResponse, Status>> + Send>>;
    async fn list(&self, _: Request<rpc::ListRequest>) -> Result<Response<Self::ListStream>, Status> {
        Err(Status::unimplemented("no"))
    }
    async fn update(&self, r: Request<rpc::UpdateRequest>) -> Result<Response<rpc::UpdateResponse>, Status> {
        let r = r.into_inner();
        let mut outputs = decode_optional(r.olds.as_ref());
        outputs.extend(decode_optional(r.news.as_ref()));
        if outputs.get("failUpdate") == Some(&PropertyValue::Bool(true)) {
            self.log.push(format!("update-failed {}", name(&r.urn)));
            return Err(Status::internal("the fake was told to fail"));
        }
        self.log.push(format!("update {}", name(&r.urn)));
        Ok(Response::new(rpc::UpdateResponse {
            properties: Some(encode_struct(&outputs)),
            refresh_before_update: false,
        }))
    }
    async fn delete(&self, r: Request<rpc::DeleteRequest>) -> Result<Response<()>, Status> {
        let r = r.into_inner();
        self.log.push(format!("delete {} {}", name(&r.urn), r.id));
        Ok(Response::new(()))
    }
    async fn construct(&self, _: Request<rpc::ConstructRequest>) -> Result<Response<rpc::ConstructResponse>, Status> {
        Err(Status::unimplemented("no"))
    }
    async fn cancel(&self, _: Request<()>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }
    async fn get_plugin_info(&self, _: Request<()>) -> Result<Response<rpc::PluginInfo>, Status> {
        Ok(Response::new(rpc::PluginInfo {
            version: "0.0.0".into(),
        }))
    }
    async fn attach(&self, _: Request<rpc::PluginAttach>) -> Result<Response<()>, Status> {
        Err(Status::unimplemented("no"))
    }
    async fn get_mapping(
        &self,
        _: Request<rpc::GetMappingRequest>,
    ) -> Result<Response<rpc::GetMappingResponse>, Status> {
        Err(Status::unimplemented("no"))
    }
    async fn get_mappings(
        &self,
        _: Request<rpc::GetMappingsRequest>,
    ) -> Result<Response<rpc::GetMappingsResponse>, Status> {
        Err(Status::unimplemented("no"))
    }
}

/// Serves a fake provider on 127.0.0.1:0; returns a client and the call log.
pub async fn serve() -> (ResourceProviderClient<Channel>, Log) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let log = Log::default();
    let fake = Fake {
        log: log.clone(),
        next: AtomicU64::new(1),
        made: Mutex::new(BTreeMap::new()),
    };
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(ResourceProviderServer::new(fake))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)))
            .await
            .expect("serve");
    });
    let client = ResourceProviderClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .expect("connect");
    (client, log)
}
