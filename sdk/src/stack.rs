//! Stacks: the resources of one account, declared with typed arguments.

use palisade_provider_kit::value::{map_from_serde, PropertyMap};
use palisade_provider_kit::ResourceType;

use crate::account::Account;

/// One declared resource.
#[derive(Debug, Clone)]
pub struct Declared {
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
        }
    }

    /// Sets the project name used in URNs.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = project.into();
        self
    }

    /// Declares resource `R` named `name` with typed `args`.
    pub fn resource<R: ResourceType>(
        &mut self,
        name: impl Into<String>,
        args: R::Inputs,
    ) -> Result<&mut Self, DeclareError> {
        let name = name.into();
        let token = R::token();
        if self
            .resources
            .iter()
            .any(|r| r.token == token && r.name == name)
        {
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
        self.resources.push(Declared {
            package: R::PACKAGE,
            token,
            name,
            inputs,
        });
        Ok(self)
    }

    /// The URN of a resource of this stack.
    pub fn urn(&self, token: &str, name: &str) -> String {
        format!(
            "urn:pulumi:{}::{}::{}::{}",
            self.name, self.project, token, name
        )
    }
}
