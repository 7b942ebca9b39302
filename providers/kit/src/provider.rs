//! The resource lifecycle and the registry of a provider's resources and functions.
//!
//! A resource implements [`Resource`]: `create`, `read` and `delete` are required, `update` is
//! optional (without it every change must force replacement). Each operation takes a request struct,
//! so that a field can be added without touching every resource. The registry erases the typed
//! resources behind one object-safe interface that the gRPC server drives.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::aws::AwsSession;
use crate::check::{check_resource, CheckInput, DEFAULTS_KEY};
use crate::diff::{diff_inputs, Diff};
use crate::error::{ProviderError, Result};
use crate::resource::{CheckFailure, FunctionType, ResourceType};
use crate::schema::{PackageSpec, Properties};
use crate::tags;
use crate::value::{map_from_serde, map_to_json, mark_secret, secret_properties, PropertyMap, PropertyValue};
use crate::wait::{Progress, Waiter};

/// How long a wait may last when the engine gives no timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// What every operation can use: the AWS session, the resource's identity, its deadline, and the
/// provider's cancellation signal.
#[derive(Debug, Clone)]
pub struct Context {
    session: Arc<AwsSession>,
    cancel: CancellationToken,
    deadline: Instant,
    /// The resource's URN.
    pub urn: String,
}

impl Context {
    /// A context for one operation on `urn`, bounded by `timeout` (zero: the default).
    pub fn new(session: Arc<AwsSession>, cancel: CancellationToken, urn: impl Into<String>, timeout: Duration) -> Self {
        let timeout = if timeout.is_zero() { DEFAULT_TIMEOUT } else { timeout };
        Self {
            session,
            cancel,
            deadline: Instant::now() + timeout,
            urn: urn.into(),
        }
    }

    /// An AWS client of type `C`, built once per provider process.
    pub async fn client<C>(&self, make: fn(&SdkConfig) -> C) -> Result<C>
    where
        C: Clone + Send + Sync + 'static,
    {
        self.session.client(make).await
    }

    /// The region this provider works in.
    pub async fn region(&self) -> Result<String> {
        let sdk = self.session.sdk_config().await?;
        Ok(sdk.region().map(|r| r.to_string()).unwrap_or_default())
    }

    /// The user's tags plus the ownership tags (URN and stack).
    pub fn tags(&self, user: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        tags::with_ownership(&self.urn, user)
    }

    /// Polls `look` until done, within this operation's deadline; stopped by `Cancel`.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, look: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Progress<T>>>,
    {
        self.waiter().until(what, look).await
    }

    /// Runs a delete (or another `attempt`) again, with backoff, while AWS answers that something
    /// still depends on the resource, within this operation's deadline; then returns that error.
    pub async fn while_in_use<T, F, Fut>(&self, what: &str, attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.waiter().while_in_use(what, attempt).await
    }

    fn waiter(&self) -> Waiter {
        Waiter {
            deadline: self.deadline,
            cancel: self.cancel.clone(),
            interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(10),
        }
    }
}

/// Create a resource from checked inputs.
#[derive(Debug, Clone)]
pub struct CreateRequest<I> {
    /// The resource's URN.
    pub urn: String,
    /// Its checked inputs.
    pub inputs: I,
}

/// A created resource.
#[derive(Debug, Clone)]
pub struct Created<O> {
    /// The physical id.
    pub id: String,
    /// Its outputs.
    pub outputs: O,
}

/// Read the live state of a resource (refresh, or import when there is no prior state).
#[derive(Debug, Clone)]
pub struct ReadRequest<I, O> {
    /// The physical id.
    pub id: String,
    /// The resource's URN.
    pub urn: String,
    /// Inputs from the stack's state, if any.
    pub inputs: Option<I>,
    /// Outputs from the stack's state, if any (none on import).
    pub outputs: Option<O>,
}

/// Update a resource in place.
#[derive(Debug, Clone)]
pub struct UpdateRequest<I, O> {
    /// The physical id.
    pub id: String,
    /// The resource's URN.
    pub urn: String,
    /// The current outputs.
    pub olds: O,
    /// The previous inputs, if the engine sent them.
    pub old_inputs: Option<I>,
    /// The new checked inputs.
    pub news: I,
    /// The properties that changed.
    pub diff: Diff,
}

/// Delete a resource.
#[derive(Debug, Clone)]
pub struct DeleteRequest<O> {
    /// The physical id.
    pub id: String,
    /// The resource's URN.
    pub urn: String,
    /// Its last known outputs.
    pub outputs: O,
}

/// The lifecycle of a resource type against AWS.
pub trait Resource: ResourceType + Default {
    /// Ids of existing resources that an earlier create of this URN made: found by the ownership
    /// tag (its URN) where AWS takes tags at creation, else by the deterministic name in `inputs`
    /// (and that resource's ownership tag). Create adopts one of them, instead of making a
    /// duplicate, when it matches every input that forces replacement: that is what an
    /// interrupted earlier create left behind. (A resource being replaced under the same URN
    /// differs in such an input, so it is never taken.) A lookup that fails is an error, never
    /// "none". A resource of the same name that is not ours is refused here, with an error that
    /// names it. The default finds none.
    fn owned(&self, ctx: &Context, inputs: &Self::Inputs) -> impl Future<Output = Result<Vec<String>>> + Send {
        let _ = (ctx, inputs);
        async { Ok(Vec::new()) }
    }

    /// Creates the resource and returns its id and outputs.
    fn create(
        &self,
        ctx: &Context,
        request: CreateRequest<Self::Inputs>,
    ) -> impl Future<Output = Result<Created<Self::Outputs>>> + Send;

    /// The live outputs, or `None` when the resource no longer exists.
    fn read(
        &self,
        ctx: &Context,
        request: ReadRequest<Self::Inputs, Self::Outputs>,
    ) -> impl Future<Output = Result<Option<Self::Outputs>>> + Send;

    /// Changes the resource in place. The default refuses: resources without it must declare every
    /// input `replace`.
    fn update(
        &self,
        ctx: &Context,
        request: UpdateRequest<Self::Inputs, Self::Outputs>,
    ) -> impl Future<Output = Result<Self::Outputs>> + Send {
        let _ = (ctx, request);
        async {
            Err(ProviderError::Unsupported {
                resource: Self::NAME,
                operation: "update",
            })
        }
    }

    /// Deletes the resource; a resource that is already gone is not an error.
    fn delete(&self, ctx: &Context, request: DeleteRequest<Self::Outputs>) -> impl Future<Output = Result<()>> + Send;
}

/// A function offered through `Invoke`.
pub trait Function: FunctionType + Default {
    /// Runs the function.
    fn invoke(&self, ctx: &Context, args: Self::Args) -> impl Future<Output = Result<Self::Result>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Result of a Read at the wire level.
#[derive(Debug, Clone)]
pub struct ReadOutcome {
    /// Live outputs.
    pub outputs: PropertyMap,
    /// Inputs that would produce them.
    pub inputs: PropertyMap,
}

/// A resource type behind an object-safe interface.
pub(crate) trait DynResource: Send + Sync {
    fn check(&self, input: CheckInput) -> std::result::Result<PropertyMap, Vec<CheckFailure>>;
    fn diff(&self, old_inputs: &PropertyMap, news: &PropertyMap, ignore: &[String]) -> Diff;
    fn preview_outputs(&self, inputs: &PropertyMap) -> PropertyMap;
    fn create<'a>(&'a self, ctx: &'a Context, inputs: PropertyMap) -> BoxFuture<'a, Result<(String, PropertyMap)>>;
    fn read<'a>(
        &'a self,
        ctx: &'a Context,
        id: String,
        inputs: PropertyMap,
        outputs: PropertyMap,
    ) -> BoxFuture<'a, Result<Option<ReadOutcome>>>;
    /// The id of what an interrupted create of this URN with `inputs` left behind, if anything:
    /// the same lookup Create adopts by, without changing anything.
    fn find<'a>(&'a self, ctx: &'a Context, inputs: PropertyMap) -> BoxFuture<'a, Result<Option<String>>>;
    fn update<'a>(
        &'a self,
        ctx: &'a Context,
        id: String,
        olds: PropertyMap,
        old_inputs: PropertyMap,
        news: PropertyMap,
    ) -> BoxFuture<'a, Result<PropertyMap>>;
    fn delete<'a>(&'a self, ctx: &'a Context, id: String, outputs: PropertyMap) -> BoxFuture<'a, Result<()>>;
}

/// A function behind an object-safe interface.
pub(crate) trait DynFunction: Send + Sync {
    fn invoke<'a>(&'a self, ctx: &'a Context, args: PropertyMap) -> BoxFuture<'a, Result<PropertyMap>>;
}

struct Typed<R>(R);

fn typed<T: DeserializeOwned>(urn: &str, resource: &'static str, map: &PropertyMap) -> Result<T> {
    let mut plain = map.clone();
    plain.remove(DEFAULTS_KEY);
    let json = map_to_json(&plain).ok_or_else(|| ProviderError::BadState {
        urn: urn.to_string(),
        resource,
        reason: "it holds values that are not known yet".into(),
    })?;
    serde_json::from_value(json).map_err(|e| ProviderError::BadState {
        urn: urn.to_string(),
        resource,
        reason: e.to_string(),
    })
}

fn inputs_typed<R: ResourceType>(urn: &str, map: &PropertyMap) -> Result<R::Inputs> {
    typed::<R::Inputs>(urn, R::NAME, map).map_err(|error| match error {
        ProviderError::BadState { reason, .. } => ProviderError::invalid("", reason),
        other => other,
    })
}

/// Outputs as a property map: secret wherever the inputs were secret or the declaration says so.
fn encode_outputs<O: serde::Serialize + Properties>(outputs: &O, secret_like: &PropertyMap) -> Result<PropertyMap> {
    let json = serde_json::to_value(outputs).map_err(|e| ProviderError::invalid("", e.to_string()))?;
    let mut map = map_from_serde(&json);
    let secrets = secret_properties(secret_like);
    mark_secret(&mut map, secrets.iter().map(String::as_str));
    let declared = O::object_spec();
    mark_secret(
        &mut map,
        declared.properties.iter().filter(|p| p.secret).map(|p| p.name),
    );
    Ok(map)
}

/// The input properties found in `outputs`, for Read's answer.
fn inputs_from_outputs<R: ResourceType>(outputs: &PropertyMap, old_inputs: &PropertyMap) -> PropertyMap {
    let spec = R::Inputs::object_spec();
    let mut inputs: PropertyMap = outputs
        .iter()
        .filter(|(k, _)| spec.property(k).is_some())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(defaults) = old_inputs.get(DEFAULTS_KEY) {
        inputs.insert(DEFAULTS_KEY.to_string(), defaults.clone());
    }
    inputs
}

impl<R: Resource> Typed<R> {
    /// The resource an interrupted create left for this URN, if any: one of `owned`'s candidates
    /// that still exists and matches every input that forces replacement. Returns its id, its live
    /// outputs and how it differs from `inputs`.
    async fn left_behind(
        &self,
        ctx: &Context,
        inputs: &PropertyMap,
        typed_inputs: &R::Inputs,
    ) -> Result<Option<(String, R::Outputs, Diff)>> {
        for id in self.0.owned(ctx, typed_inputs).await? {
            let request = ReadRequest {
                id: id.clone(),
                urn: ctx.urn.clone(),
                inputs: None,
                outputs: None,
            };
            let Some(live) = self.0.read(ctx, request).await? else {
                continue;
            };
            let live_map = encode_outputs(&live, inputs)?;
            let live_inputs = inputs_from_outputs::<R>(&live_map, &PropertyMap::new());
            let diff = self.diff(&live_inputs, inputs, &[]);
            if !diff.replaces().is_empty() {
                continue;
            }
            return Ok(Some((id, live, diff)));
        }
        Ok(None)
    }

    /// Finds a resource an interrupted create left for this URN and brings it to `inputs`.
    async fn adopt(
        &self,
        ctx: &Context,
        inputs: &PropertyMap,
        typed_inputs: &R::Inputs,
    ) -> Result<Option<(String, PropertyMap)>> {
        let Some((id, live, diff)) = self.left_behind(ctx, inputs, typed_inputs).await? else {
            return Ok(None);
        };
        tracing::info!(urn = %ctx.urn, %id, "adopting the resource an interrupted create left behind");
        let outputs = if diff.has_changes() {
            let request = UpdateRequest {
                id: id.clone(),
                urn: ctx.urn.clone(),
                olds: live,
                old_inputs: None,
                news: typed_inputs.clone(),
                diff,
            };
            self.0.update(ctx, request).await?
        } else {
            live
        };
        Ok(Some((id, encode_outputs(&outputs, inputs)?)))
    }
}

impl<R: Resource> DynResource for Typed<R> {
    fn check(&self, input: CheckInput) -> std::result::Result<PropertyMap, Vec<CheckFailure>> {
        check_resource::<R>(input)
    }

    fn diff(&self, old_inputs: &PropertyMap, news: &PropertyMap, ignore: &[String]) -> Diff {
        diff_inputs(&R::Inputs::object_spec(), R::AUTONAME, old_inputs, news, ignore)
    }

    fn preview_outputs(&self, inputs: &PropertyMap) -> PropertyMap {
        let mut outputs = inputs.clone();
        outputs.remove(DEFAULTS_KEY);
        for property in R::Outputs::object_spec().properties {
            outputs
                .entry(property.name.to_string())
                .or_insert(PropertyValue::Unknown);
        }
        outputs
    }

    fn create<'a>(&'a self, ctx: &'a Context, inputs: PropertyMap) -> BoxFuture<'a, Result<(String, PropertyMap)>> {
        Box::pin(async move {
            let typed_inputs = inputs_typed::<R>(&ctx.urn, &inputs)?;
            if let Some(adopted) = self.adopt(ctx, &inputs, &typed_inputs).await? {
                return Ok(adopted);
            }
            let request = CreateRequest {
                urn: ctx.urn.clone(),
                inputs: typed_inputs,
            };
            let created = self.0.create(ctx, request).await?;
            Ok((created.id, encode_outputs(&created.outputs, &inputs)?))
        })
    }

    fn find<'a>(&'a self, ctx: &'a Context, inputs: PropertyMap) -> BoxFuture<'a, Result<Option<String>>> {
        Box::pin(async move {
            let typed_inputs = inputs_typed::<R>(&ctx.urn, &inputs)?;
            Ok(self
                .left_behind(ctx, &inputs, &typed_inputs)
                .await?
                .map(|(id, _, _)| id))
        })
    }

    fn read<'a>(
        &'a self,
        ctx: &'a Context,
        id: String,
        inputs: PropertyMap,
        outputs: PropertyMap,
    ) -> BoxFuture<'a, Result<Option<ReadOutcome>>> {
        Box::pin(async move {
            // On import there is no prior state; stale state that no longer parses is treated alike.
            let typed_inputs = if inputs.is_empty() {
                None
            } else {
                typed(&ctx.urn, R::NAME, &inputs).ok()
            };
            let typed_outputs = if outputs.is_empty() {
                None
            } else {
                typed(&ctx.urn, R::NAME, &outputs).ok()
            };
            let request = ReadRequest {
                id,
                urn: ctx.urn.clone(),
                inputs: typed_inputs,
                outputs: typed_outputs,
            };
            let Some(live) = self.0.read(ctx, request).await? else {
                return Ok(None);
            };
            let mut secret_like = inputs.clone();
            secret_like.extend(outputs.clone());
            let live = encode_outputs(&live, &secret_like)?;
            let live_inputs = inputs_from_outputs::<R>(&live, &inputs);
            Ok(Some(ReadOutcome {
                outputs: live,
                inputs: live_inputs,
            }))
        })
    }

    fn update<'a>(
        &'a self,
        ctx: &'a Context,
        id: String,
        olds: PropertyMap,
        old_inputs: PropertyMap,
        news: PropertyMap,
    ) -> BoxFuture<'a, Result<PropertyMap>> {
        Box::pin(async move {
            let baseline = if old_inputs.is_empty() { &olds } else { &old_inputs };
            let diff = self.diff(baseline, &news, &[]);
            let request = UpdateRequest {
                id,
                urn: ctx.urn.clone(),
                olds: typed(&ctx.urn, R::NAME, &olds)?,
                old_inputs: if old_inputs.is_empty() {
                    None
                } else {
                    typed(&ctx.urn, R::NAME, &old_inputs).ok()
                },
                news: inputs_typed::<R>(&ctx.urn, &news)?,
                diff,
            };
            let outputs = self.0.update(ctx, request).await?;
            encode_outputs(&outputs, &news)
        })
    }

    fn delete<'a>(&'a self, ctx: &'a Context, id: String, outputs: PropertyMap) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let request = DeleteRequest {
                id,
                urn: ctx.urn.clone(),
                outputs: typed(&ctx.urn, R::NAME, &outputs)?,
            };
            self.0.delete(ctx, request).await
        })
    }
}

struct TypedFunction<F>(F);

impl<F: Function> DynFunction for TypedFunction<F> {
    fn invoke<'a>(&'a self, ctx: &'a Context, args: PropertyMap) -> BoxFuture<'a, Result<PropertyMap>> {
        Box::pin(async move {
            let spec = F::Args::object_spec();
            let failures = crate::check::check_object(&spec, &args, "");
            if !failures.is_empty() {
                return Err(ProviderError::InvalidInput { failures });
            }
            let json = map_to_json(&args).ok_or_else(|| ProviderError::invalid("", "arguments are not known yet"))?;
            let typed_args: F::Args =
                serde_json::from_value(json).map_err(|e| ProviderError::invalid("", e.to_string()))?;
            let result = self.0.invoke(ctx, typed_args).await?;
            encode_outputs(&result, &args)
        })
    }
}

/// A provider: its package description and the resources and functions it serves.
pub struct Provider {
    pub(crate) package: PackageSpec,
    pub(crate) resources: BTreeMap<String, Box<dyn DynResource>>,
    pub(crate) functions: BTreeMap<String, Box<dyn DynFunction>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("package", &self.package.name)
            .field("resources", &self.resources.keys().collect::<Vec<_>>())
            .field("functions", &self.functions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Provider {
    /// A provider for `package` (name, version, description) with no resources yet.
    pub fn new(name: &'static str, display_name: &'static str, description: &'static str) -> Self {
        Self {
            package: PackageSpec {
                name,
                display_name,
                version: env!("CARGO_PKG_VERSION"),
                description,
                config: crate::config::ProviderConfig::object_spec(),
                resources: Vec::new(),
                functions: Vec::new(),
            },
            resources: BTreeMap::new(),
            functions: BTreeMap::new(),
        }
    }

    /// Adds resource type `R`.
    pub fn resource<R: Resource>(mut self) -> Self {
        debug_assert_eq!(R::PACKAGE, self.package.name, "{} belongs to another package", R::NAME);
        let token = self.package.token(R::NAME);
        self.package.resources.push(R::schema());
        self.resources.insert(token, Box::new(Typed(R::default())));
        self
    }

    /// Adds function `F`.
    pub fn function<F: Function>(mut self) -> Self {
        debug_assert_eq!(F::PACKAGE, self.package.name, "{} belongs to another package", F::NAME);
        let token = self.package.token(F::NAME);
        self.package.functions.push(F::schema());
        self.functions.insert(token, Box::new(TypedFunction(F::default())));
        self
    }

    /// The package description.
    pub fn package(&self) -> &PackageSpec {
        &self.package
    }

    pub(crate) fn resource_for(&self, token: &str) -> Result<&dyn DynResource> {
        offered(&self.resources, "resource type", token).map(|r| r.as_ref())
    }

    pub(crate) fn function_for(&self, token: &str) -> Result<&dyn DynFunction> {
        offered(&self.functions, "function", token).map(|f| f.as_ref())
    }
}

/// The entry of `token` among those the provider offers, or an error that lists them.
fn offered<'a, T>(entries: &'a BTreeMap<String, T>, what: &'static str, token: &str) -> Result<&'a T> {
    entries.get(token).ok_or_else(|| ProviderError::UnknownType {
        what,
        token: token.to_string(),
        offered: entries.keys().cloned().collect::<Vec<_>>().join(", "),
    })
}
