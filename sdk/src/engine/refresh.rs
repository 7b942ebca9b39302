//! Refresh: read every resource of every selected stack from its cloud and compare it with the
//! state. The result is a diff (each drifted property, old and new); the state changes only when the
//! caller commits it, after the user said yes.

use std::collections::BTreeMap;

use palisade_provider_kit::diff::DiffKind;
use palisade_provider_kit::value::PropertyValue;
use serde_json::Value as Json;

use super::{Engine, EngineError};
use crate::host::Hosts;
use crate::provider::Subject;
use crate::state::{to_wire_json, ResourceState, StackState};

/// A difference between the state and the cloud, found by refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// The stack.
    pub stack: String,
    /// The resource.
    pub urn: String,
    /// Deleted out of band.
    pub gone: bool,
    /// Properties that changed out of band, and how (relative to the state).
    pub diff: BTreeMap<String, DiffKind>,
    /// Each drifted property with its value in the state and in the cloud.
    pub properties: Vec<DriftedProperty>,
}

/// One property that changed out of band.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftedProperty {
    /// Its name.
    pub property: String,
    /// What the state holds (`null`: absent).
    pub old: Json,
    /// What the cloud has now (`null`: absent).
    pub new: Json,
}

/// What a refresh found, not yet written.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The drift, per resource.
    pub drifts: Vec<Drift>,
    /// The selected stacks' states as the cloud has them.
    states: BTreeMap<String, StackState>,
}

/// A property's value as shown to the user: secrets stay hidden.
fn shown(value: Option<&PropertyValue>) -> Json {
    match value {
        None => Json::Null,
        Some(value) if value.contains_secret() => Json::String("[secret]".into()),
        Some(value) => value.to_json().unwrap_or_else(|| Json::String("[unknown]".into())),
    }
}

impl Engine {
    /// Reads every resource of every selected stack and reports the drift; writes nothing.
    pub async fn refresh_plan(&self, hosts: &Hosts) -> Result<Refreshed, EngineError> {
        let mut states = self.load_states()?;
        let mut drifts = Vec::new();
        for stack in &self.stacks {
            let Some(state) = states.get_mut(&stack.name) else {
                continue;
            };
            for resource in state.resources.clone() {
                let client = hosts.client(&stack.account, &resource.package).await?;
                let name = resource.urn.rsplit("::").next().unwrap_or_default().to_string();
                let of = Subject {
                    urn: &resource.urn,
                    name: &name,
                    token: &resource.token,
                };
                let read = client
                    .read(of, &resource.id, &resource.output_map(), &resource.input_map())
                    .await?;
                if read.id.is_empty() {
                    state.remove(&resource.urn);
                    drifts.push(Drift {
                        stack: stack.name.clone(),
                        urn: resource.urn.clone(),
                        gone: true,
                        diff: BTreeMap::new(),
                        properties: Vec::new(),
                    });
                    continue;
                }
                let olds = resource.input_map();
                let diff = client
                    .diff(of, &resource.id, &read.outputs, &olds, &read.inputs)
                    .await?;
                if !diff.detailed.is_empty() {
                    drifts.push(Drift {
                        stack: stack.name.clone(),
                        urn: resource.urn.clone(),
                        gone: false,
                        properties: diff
                            .detailed
                            .keys()
                            .map(|property| DriftedProperty {
                                property: property.clone(),
                                old: shown(olds.get(property)),
                                new: shown(read.inputs.get(property)),
                            })
                            .collect(),
                        diff: diff.detailed,
                    });
                }
                state.upsert(ResourceState {
                    id: read.id,
                    inputs: to_wire_json(&read.inputs),
                    outputs: to_wire_json(&read.outputs),
                    ..resource
                });
            }
        }
        Ok(Refreshed { drifts, states })
    }

    /// Writes what a refresh found into the state.
    pub fn commit_refresh(&self, refreshed: &Refreshed) -> Result<(), EngineError> {
        for state in refreshed.states.values() {
            self.store.save(state)?;
        }
        Ok(())
    }

    /// Reads every resource and records what it finds: drift shows as changed properties,
    /// resources deleted out of band leave the state. The next `up` then plans to bring them back
    /// to their declarations.
    pub async fn refresh(&self, hosts: &Hosts) -> Result<Vec<Drift>, EngineError> {
        let refreshed = self.refresh_plan(hosts).await?;
        self.commit_refresh(&refreshed)?;
        Ok(refreshed.drifts)
    }
}
