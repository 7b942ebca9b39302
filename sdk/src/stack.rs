//! Stacks: the resources of one account, declared with typed arguments.

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

/// A declared resource, as other declarations refer to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    urn: String,
}

impl Resource {
    /// The resource's URN.
    pub fn urn(&self) -> &str {
        &self.urn
    }

    /// Output `property` (wire name, e.g. `vpcId`), to use as another resource's input; it may be
    /// embedded in a longer string. The engine orders the graph by these references.
    pub fn output(&self, property: &str) -> String {
        reference::marker(&self.urn, property)
    }
}

/// Options of a declaration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Refuse to delete the resource (also on replace and destroy).
    pub protect: bool,
    /// Resources to come after, besides those the inputs refer to.
    pub depends_on: Vec<Resource>,
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
    ) -> Result<Resource, DeclareError> {
        self.resource_with::<R>(name, args, Options::default())
    }

    /// Declares resource `R` with options (`protect`, `depends_on`).
    pub fn resource_with<R: ResourceType>(
        &mut self,
        name: impl Into<String>,
        args: R::Inputs,
        options: Options,
    ) -> Result<Resource, DeclareError> {
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
        let urn = self.urn(&token, &name);
        self.resources.push(Declared {
            urn: urn.clone(),
            depends_on: options.depends_on.iter().map(|r| r.urn.clone()).collect(),
            protect: options.protect,
            holds_data: R::HOLDS_DATA.filter(|_| !options.allow_data_loss),
            package: R::PACKAGE,
            token,
            name,
            inputs,
        });
        Ok(Resource { urn })
    }

    /// A handle to resource `R` named `name` of this stack, which may be declared later (for
    /// `depends_on` or references ahead of the declaration). The engine refuses a plan in which it
    /// is never declared.
    pub fn handle<R: ResourceType>(&self, name: &str) -> Resource {
        Resource {
            urn: self.urn(&R::token(), name),
        }
    }

    /// The URN of a resource of this stack.
    pub fn urn(&self, token: &str, name: &str) -> String {
        format!("urn:pulumi:{}::{}::{}::{}", self.name, self.project, token, name)
    }
}
