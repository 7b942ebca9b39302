//! Stacks: the resources of one account, declared with typed arguments.

use std::collections::BTreeMap;
use std::sync::Mutex;

use palisade_provider_kit::refs::check_output;
pub use palisade_provider_kit::refs::{Referable, ResourceRef, UnknownOutput};
use palisade_provider_kit::schema::{ObjectSpec, Properties};
use palisade_provider_kit::value::{map_from_serde, PropertyMap};
use palisade_provider_kit::ResourceType;

use crate::account::Account;
use crate::reference;

/// One declared resource.
#[derive(Debug, Clone)]
pub struct Declared {
    /// Its URN.
    pub urn: String,
    /// Resources it must come after besides those its inputs refer to.
    pub depends_on: Vec<String>,
    /// Refuse to delete it.
    pub protect: bool,
    /// What replacing or deleting it destroys, for a kind that holds data and a declaration that
    /// did not opt out of its protection (`Options::allow_data_loss`).
    pub holds_data: Option<&'static str>,
    /// The provider package (`palisade-network`).
    pub package: &'static str,
    /// The type token (`palisade-network:index:Vpc`).
    pub token: String,
    /// The logical name, unique within the stack.
    pub name: String,
    /// The declared inputs.
    pub inputs: PropertyMap,
}

/// The resources of one account.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The stack's name (`dev`).
    pub name: String,
    /// The project the stack belongs to (part of every URN).
    pub project: String,
    /// The account it deploys to.
    pub account: Account,
    /// The declared resources, in declaration order.
    pub resources: Vec<Declared>,
    /// Whether the stack may route to the internet (NAT mode). Default false: internet-free, and the
    /// guardrails refuse internet and NAT gateways.
    pub internet_access: bool,
}

/// A declared resource of kind `R`, as other declarations refer to it. It derefs to the references
/// of `R`'s declared outputs, one method each, so that a misspelt output does not compile:
///
/// ```
/// # use palisade::{Account, Stack};
/// # use palisade::network::{Subnet, SubnetArgs, Vpc, VpcArgs};
/// # let mut stack = Stack::new("dev", Account::new("dev", "123456789012", "us-east-1"));
/// let vpc = stack.resource::<Vpc>("main", VpcArgs::new("10.0.0.0/16"))?;
/// stack.resource::<Subnet>("private-a", SubnetArgs::new(vpc.vpc_id(), "10.0.1.0/24", "us-east-1a"))?;
/// # Ok::<(), palisade::stack::DeclareError>(())
/// ```
///
/// An output the kind does not declare is a compile error:
///
/// ```compile_fail,E0599
/// # use palisade::{Account, Stack};
/// # use palisade::network::{Subnet, SubnetArgs, Vpc, VpcArgs};
/// # let mut stack = Stack::new("dev", Account::new("dev", "123456789012", "us-east-1"));
/// let vpc = stack.resource::<Vpc>("main", VpcArgs::new("10.0.0.0/16"))?;
/// stack.resource::<Subnet>("private-a", SubnetArgs::new(vpc.vpc_idd(), "10.0.1.0/24", "us-east-1a"))?;
/// # Ok::<(), palisade::stack::DeclareError>(())
/// ```
///
/// `output("vpcId")` (through the deref to [`ResourceRef`]) names an output by its wire name: the
/// escape hatch, checked against the kind's declaration when the resource using it is declared.
pub struct Resource<R: ResourceType> {
    refs: <R::Outputs as Referable>::Refs,
}

impl<R: ResourceType> Resource<R> {
    fn new(urn: String) -> Self {
        register::<R>();
        Self {
            refs: ResourceRef::new(urn, R::NAME, <R::Outputs as Properties>::object_spec).into(),
        }
    }

    /// The resource's URN.
    pub fn urn(&self) -> &str {
        self.refs.as_ref().urn()
    }

    /// Output `property` by its wire name (`vpcId`): the escape hatch beside the typed accessors,
    /// checked when the resource that uses it is declared.
    pub fn output(&self, property: &str) -> String {
        self.refs.as_ref().output(property)
    }

    /// The same resource, of any kind (for `depends_on` and lists of mixed kinds).
    pub fn untyped(&self) -> ResourceRef {
        self.refs.as_ref().clone()
    }
}

impl<R: ResourceType> Clone for Resource<R> {
    fn clone(&self) -> Self {
        Self {
            refs: self.refs.clone(),
        }
    }
}

impl<R: ResourceType> std::fmt::Debug for Resource<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resource")
            .field("kind", &R::NAME)
            .field("urn", &self.urn())
            .finish()
    }
}

impl<R: ResourceType> PartialEq for Resource<R> {
    fn eq(&self, other: &Self) -> bool {
        self.urn() == other.urn()
    }
}

impl<R: ResourceType> Eq for Resource<R> {}

impl<R: ResourceType> std::ops::Deref for Resource<R> {
    type Target = <R::Outputs as Referable>::Refs;

    fn deref(&self) -> &Self::Target {
        &self.refs
    }
}

impl<R: ResourceType> From<&Resource<R>> for ResourceRef {
    fn from(resource: &Resource<R>) -> Self {
        resource.untyped()
    }
}

impl<R: ResourceType> From<Resource<R>> for ResourceRef {
    fn from(resource: Resource<R>) -> Self {
        resource.untyped()
    }
}

/// Every kind a handle was made for, by type token: what the escape hatch's names are checked
/// against. The facts are static (a kind's declared outputs); the map only gathers them, across
/// stacks, so that a reference into another stack is checked too.
static KINDS: Mutex<BTreeMap<String, Kind>> = Mutex::new(BTreeMap::new());

/// A kind's name (`Vpc`) and the declaration of its outputs.
type Kind = (&'static str, fn() -> ObjectSpec);

fn register<R: ResourceType>() {
    let mut kinds = KINDS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    kinds
        .entry(R::token())
        .or_insert((R::NAME, <R::Outputs as Properties>::object_spec));
}

/// Refuses a reference in `inputs` to an output its kind does not declare (the escape hatch's
/// misspellings, or a hand-made marker), for every kind a handle was made for.
fn check_references(name: &str, inputs: &PropertyMap) -> Result<(), DeclareError> {
    let kinds = KINDS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    for (urn, property) in reference::references(inputs) {
        // `urn:pulumi:<stack>::<project>::<token>::<name>`
        let Some(token) = urn.split("::").nth(2) else {
            continue;
        };
        if let Some((kind, outputs)) = kinds.get(token) {
            check_output(kind, &outputs(), &property).map_err(|source| DeclareError::UnknownOutput {
                name: name.to_string(),
                urn: urn.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

/// Options of a declaration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Refuse to delete the resource (also on replace and destroy).
    pub protect: bool,
    /// Resources to come after, besides those the inputs refer to (`resource.untyped()`).
    pub depends_on: Vec<ResourceRef>,
    /// Let plans replace or delete this resource although its kind holds data (keys, buckets,
    /// Studio domains and profiles, the model registry). Off by default: such a step is refused
    /// unless the run names it (`--allow-replace NAME`).
    pub allow_data_loss: bool,
}

/// A declaration the stack refused.
#[derive(Debug, thiserror::Error)]
pub enum DeclareError {
    /// Two resources of one type share a name.
    #[error("stack `{stack}` already declares a {token} named `{name}`; give each resource its own name")]
    Duplicate {
        /// The stack.
        stack: String,
        /// The type.
        token: String,
        /// The repeated name.
        name: String,
    },
    /// An input refers to an output its kind does not declare.
    #[error("`{name}` refers to {urn}: {source}")]
    UnknownOutput {
        /// The resource whose inputs hold the reference.
        name: String,
        /// The resource referred to.
        urn: String,
        /// The name and the closest declared one.
        source: UnknownOutput,
    },
    /// The arguments could not be serialized.
    #[error("the arguments of `{name}` cannot be encoded: {reason}")]
    Encode {
        /// The resource.
        name: String,
        /// Why.
        reason: String,
    },
}

impl Stack {
    /// An empty stack `name` for `account`, in project `palisade`.
    pub fn new(name: impl Into<String>, account: Account) -> Self {
        Self {
            name: name.into(),
            project: "palisade".into(),
            account,
            resources: Vec::new(),
            internet_access: false,
        }
    }

    /// Lets the stack route to the internet (NAT mode); internet-free is the default.
    pub fn allow_internet(mut self) -> Self {
        self.internet_access = true;
        self
    }

    /// Sets the project name used in URNs.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = project.into();
        self
    }

    /// Declares resource `R` named `name` with typed `args`; the handle gives its outputs to others.
    pub fn resource<R: ResourceType>(
        &mut self,
        name: impl Into<String>,
        args: R::Inputs,
    ) -> Result<Resource<R>, DeclareError> {
        self.resource_with::<R>(name, args, Options::default())
    }

    /// Declares resource `R` with options (`protect`, `depends_on`).
    pub fn resource_with<R: ResourceType>(
        &mut self,
        name: impl Into<String>,
        args: R::Inputs,
        options: Options,
    ) -> Result<Resource<R>, DeclareError> {
        let name = name.into();
        let token = R::token();
        if self.resources.iter().any(|r| r.token == token && r.name == name) {
            return Err(DeclareError::Duplicate {
                stack: self.name.clone(),
                token,
                name,
            });
        }
        let json = serde_json::to_value(&args).map_err(|e| DeclareError::Encode {
            name: name.clone(),
            reason: e.to_string(),
        })?;
        let inputs = map_from_serde(&json);
        register::<R>();
        check_references(&name, &inputs)?;
        let urn = self.urn(&token, &name);
        self.resources.push(Declared {
            urn: urn.clone(),
            depends_on: options.depends_on.iter().map(|r| r.urn().to_string()).collect(),
            protect: options.protect,
            holds_data: R::HOLDS_DATA.filter(|_| !options.allow_data_loss),
            package: R::PACKAGE,
            token,
            name,
            inputs,
        });
        Ok(Resource::new(urn))
    }

    /// A handle to resource `R` named `name` of this stack, which may be declared later (for
    /// `depends_on` or references ahead of the declaration). The engine refuses a plan in which it
    /// is never declared.
    pub fn handle<R: ResourceType>(&self, name: &str) -> Resource<R> {
        Resource::new(self.urn(&R::token(), name))
    }

    /// The URN of a resource of this stack.
    pub fn urn(&self, token: &str, name: &str) -> String {
        format!("urn:pulumi:{}::{}::{}::{}", self.name, self.project, token, name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_network::{Subnet, SubnetArgs, Vpc, VpcArgs};

    fn dev() -> Stack {
        Stack::new("dev", Account::new("dev", "123456789012", "us-east-1"))
    }

    #[test]
    fn typed_accessors_refer_to_the_declared_output() {
        let mut stack = dev();
        let vpc = stack.resource::<Vpc>("main", VpcArgs::new("10.0.0.0/16")).expect("vpc");
        assert_eq!(vpc.vpc_id(), reference::marker(vpc.urn(), "vpcId"));
        // Outputs that repeat the inputs are reachable too (the flattened inputs' accessors).
        assert_eq!(vpc.cidr_block(), reference::marker(vpc.urn(), "cidrBlock"));
        assert_eq!(vpc.untyped().kind(), "Vpc");
        let subnet = SubnetArgs::new(vpc.vpc_id(), "10.0.1.0/24", "us-east-1a");
        stack
            .resource::<Subnet>("a", subnet)
            .expect("a declared output is accepted");
    }

    #[test]
    fn a_misspelt_output_by_name_is_refused_where_it_is_used() {
        let mut other = Stack::new("staging", Account::new("staging", "222222222222", "us-east-1"));
        let vpc = other.resource::<Vpc>("main", VpcArgs::new("10.1.0.0/16")).expect("vpc");
        let mut stack = dev();
        let subnet = SubnetArgs::new(vpc.output("vpcID"), "10.0.1.0/24", "us-east-1a");
        let error = stack
            .resource::<Subnet>("a", subnet)
            .expect_err("vpcID is not declared");
        let DeclareError::UnknownOutput { name, source, .. } = &error else {
            panic!("not an unknown output: {error}");
        };
        assert_eq!(
            (name.as_str(), source.kind, source.property.as_str()),
            ("a", "Vpc", "vpcID")
        );
        assert_eq!(source.closest, Some("vpcId"));
        let text = error.to_string();
        assert!(
            text.contains("Vpc has no output `vpcID`; did you mean `vpcId`?"),
            "{text}"
        );
        assert!(stack.resources.is_empty(), "nothing is declared");
        // The escape hatch with a declared name works, also inside a longer string.
        let subnet = SubnetArgs::new(vpc.output("vpcId"), "10.0.1.0/24", "us-east-1a")
            .with_tags([("vpc".to_string(), format!("in {}", vpc.output("arn")))].into());
        stack.resource::<Subnet>("a", subnet).expect("declared names pass");
    }
}
