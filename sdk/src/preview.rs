//! Preview: what applying the declared stacks would do, in every account, without changing anything.
//!
//! Each stack's resources go through their provider's `Check` (validation and defaults) and a
//! previewed `Create` (which touches no cloud API), just as the Pulumi engine drives them. This version
//! keeps no state yet, so every declared resource plans as a create.

use std::collections::BTreeMap;

use palisade_proto::pulumirpc as rpc;
use palisade_provider_kit::resource::CheckFailure;
use palisade_provider_kit::value::{decode_optional, encode_struct, map_from_json, PropertyMap};

use crate::host::{find_plugin, HostError, Plugin};
use crate::stack::Stack;

/// What would happen to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// It would be created.
    Create,
}

/// One planned step.
#[derive(Debug, Clone)]
pub struct Step {
    /// The resource's URN.
    pub urn: String,
    /// Its type token.
    pub token: String,
    /// Its logical name.
    pub name: String,
    /// What would happen.
    pub operation: Operation,
    /// The checked inputs (with the provider's defaults).
    pub inputs: PropertyMap,
    /// Why the provider refuses the inputs, if it does.
    pub failures: Vec<CheckFailure>,
}

/// The plan of one stack.
#[derive(Debug, Clone)]
pub struct StackPlan {
    /// The stack's name.
    pub stack: String,
    /// Its account's name.
    pub account: String,
    /// Its account id.
    pub account_id: String,
    /// Its region.
    pub region: String,
    /// Its steps, in declaration order.
    pub steps: Vec<Step>,
}

/// The plan across every stack.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// One entry per stack.
    pub stacks: Vec<StackPlan>,
}

impl Plan {
    /// Every step refused by its provider.
    pub fn failures(&self) -> impl Iterator<Item = (&Step, &CheckFailure)> {
        self.stacks
            .iter()
            .flat_map(|s| &s.steps)
            .flat_map(|step| step.failures.iter().map(move |f| (step, f)))
    }

    /// Step counts per operation (failed steps excluded).
    pub fn counts(&self) -> BTreeMap<Operation, usize> {
        let mut counts = BTreeMap::new();
        for step in self
            .stacks
            .iter()
            .flat_map(|s| &s.steps)
            .filter(|s| s.failures.is_empty())
        {
            *counts.entry(step.operation).or_default() += 1;
        }
        counts
    }
}

/// Why a preview could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// A provider plugin could not be found or started.
    #[error(transparent)]
    Host(#[from] HostError),
    /// A provider answered a call with an error.
    #[error("{call} of `{subject}` failed: {status}")]
    Provider {
        /// The call.
        call: &'static str,
        /// The resource or provider.
        subject: String,
        /// The provider's answer.
        status: tonic::Status,
    },
}

/// Previews `stacks`, starting one provider process per package per stack.
pub async fn preview(stacks: &[Stack]) -> Result<Plan, PreviewError> {
    let mut plan = Plan::default();
    for stack in stacks {
        let mut steps = Vec::new();
        let mut plugins: BTreeMap<&str, Plugin> = BTreeMap::new();
        for declared in &stack.resources {
            if !plugins.contains_key(declared.package) {
                let plugin = start_configured(declared.package, stack).await?;
                plugins.insert(declared.package, plugin);
            }
            let mut client = plugins[declared.package].client();
            let urn = stack.urn(&declared.token, &declared.name);
            let provider_error = |call, status| PreviewError::Provider {
                call,
                subject: urn.clone(),
                status,
            };
            let checked = client
                .check(rpc::CheckRequest {
                    urn: urn.clone(),
                    olds: Some(Default::default()),
                    news: Some(encode_struct(&declared.inputs)),
                    random_seed: seed_for(&urn),
                    name: declared.name.clone(),
                    r#type: declared.token.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|status| provider_error("Check", status))?
                .into_inner();
            let failures: Vec<CheckFailure> = checked
                .failures
                .into_iter()
                .map(|f| CheckFailure::new(f.property, f.reason))
                .collect();
            let inputs = decode_optional(checked.inputs.as_ref());
            if failures.is_empty() {
                client
                    .create(rpc::CreateRequest {
                        urn: urn.clone(),
                        properties: checked.inputs,
                        preview: true,
                        name: declared.name.clone(),
                        r#type: declared.token.clone(),
                        ..Default::default()
                    })
                    .await
                    .map_err(|status| provider_error("Create (preview)", status))?;
            }
            steps.push(Step {
                urn,
                token: declared.token.clone(),
                name: declared.name.clone(),
                operation: Operation::Create,
                inputs,
                failures,
            });
        }
        for (_, plugin) in plugins {
            plugin.stop().await;
        }
        plan.stacks.push(StackPlan {
            stack: stack.name.clone(),
            account: stack.account.name.clone(),
            account_id: stack.account.account_id.clone(),
            region: stack.account.region.clone(),
            steps,
        });
    }
    Ok(plan)
}

async fn start_configured(package: &str, stack: &Stack) -> Result<Plugin, PreviewError> {
    let plugin = Plugin::start(&find_plugin(package)?, &[]).await?;
    let config = map_from_json(&stack.account.provider_config());
    plugin
        .client()
        .configure(rpc::ConfigureRequest {
            args: Some(encode_struct(&config)),
            accept_secrets: true,
            ..Default::default()
        })
        .await
        .map_err(|status| PreviewError::Provider {
            call: "Configure",
            subject: format!("{package} for stack {}", stack.name),
            status,
        })?;
    Ok(plugin)
}

/// A seed stable for a URN, so that auto-names do not change between previews.
fn seed_for(urn: &str) -> Vec<u8> {
    urn.as_bytes().to_vec()
}
