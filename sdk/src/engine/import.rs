//! Import: a declaration takes over a resource that exists already, read by its provider.

use super::{Engine, EngineError};
use crate::host::Hosts;
use crate::provider::Subject;
use crate::reference::referenced_urns;
use crate::stack::Declared;
use crate::state::{to_wire_json, ResourceState};

impl Engine {
    /// Imports an existing resource: the declaration `name` of stack `stack` takes over the cloud
    /// resource with physical id `id`, which the provider reads. Nothing changes in the cloud; the
    /// next plan shows how the declaration differs from what was found. Refuses a declaration that
    /// already has a resource, and an id another declaration manages.
    pub async fn import(&self, hosts: &Hosts, stack: &str, name: &str, id: &str) -> Result<ResourceState, EngineError> {
        let what = format!("`{name}` of stack `{stack}` from id `{id}`");
        let refuse = |reason: String| EngineError::Import {
            what: what.clone(),
            reason,
        };
        let declared_stack = self
            .stacks
            .iter()
            .find(|s| s.name == stack)
            .ok_or_else(|| refuse(format!("no stack `{stack}` is selected")))?;
        let matching: Vec<&Declared> = declared_stack
            .resources
            .iter()
            .filter(|d| d.name == name || format!("{}::{}", d.token, d.name) == name)
            .collect();
        let declared = match matching.as_slice() {
            [one] => *one,
            [] => {
                return Err(refuse(format!(
                    "the stack declares no resource named `{name}`; declare it first"
                )))
            }
            several => {
                let tokens: Vec<String> = several.iter().map(|d| format!("{}::{}", d.token, d.name)).collect();
                return Err(refuse(format!(
                    "the name is ambiguous; give one of {}",
                    tokens.join(", ")
                )));
            }
        };
        let _lock = self.store.lock(&declared_stack.project, stack)?;
        let mut state = self.load(declared_stack)?;
        if let Some(existing) = state.get(&declared.urn) {
            return Err(refuse(format!(
                "it already manages id `{}`; destroy or rename the declaration first",
                existing.id
            )));
        }
        for (other_stack, other) in self.load_states()? {
            if let Some(owner) = other.resources.iter().find(|r| r.token == declared.token && r.id == id) {
                return Err(refuse(format!(
                    "stack `{other_stack}` already manages it as {}; one resource, one owner",
                    owner.urn
                )));
            }
        }
        let client = hosts.client(&declared_stack.account, declared.package).await?;
        let of = Subject {
            urn: &declared.urn,
            name: &declared.name,
            token: &declared.token,
        };
        let read = client.read(of, id, &Default::default(), &Default::default()).await?;
        if read.id.is_empty() {
            return Err(refuse(format!(
                "no {} with that id exists in account {}",
                declared.token, declared_stack.account.account_id
            )));
        }
        let mut dependencies: Vec<String> = referenced_urns(&declared.inputs).into_iter().collect();
        dependencies.extend(declared.depends_on.iter().cloned());
        let imported = ResourceState {
            urn: declared.urn.clone(),
            token: declared.token.clone(),
            package: declared.package.to_string(),
            id: read.id,
            inputs: to_wire_json(&read.inputs),
            outputs: to_wire_json(&read.outputs),
            dependencies,
            protect: declared.protect,
            holds_data: declared.holds_data.map(str::to_string),
        };
        state.upsert(imported.clone());
        self.store.save(&state)?;
        Ok(imported)
    }
}
