//! What a resource type declares, independent of the cloud calls behind it.
//!
//! [`ResourceType`] is all that the SDK and user programs need: a name, typed inputs and outputs, and
//! the pure validation rules. The lifecycle (`Resource`, in `provider`) is only compiled into the
//! provider binaries.

use serde::{de::DeserializeOwned, Serialize};

use crate::schema::{Properties, ResourceSchema};

/// A resource type: its name, its typed inputs and outputs, and its validation rules.
pub trait ResourceType: Send + Sync + 'static {
    /// The package that offers it (`palisade-network`).
    const PACKAGE: &'static str;
    /// Name within the package (`Vpc` becomes `palisade-network:index:Vpc`).
    const NAME: &'static str;
    /// What the resource is, for the schema and the docs.
    const DOC: &'static str;
    /// How the physical name is chosen when the user gives none, if the resource has one.
    const AUTONAME: Option<AutoName> = None;
    /// For a kind that holds data (a key, a bucket, a home volume, a registry): what replacing or
    /// deleting one destroys, in a reviewer's words. Engines protect such resources by default.
    const HOLDS_DATA: Option<&'static str> = None;

    /// The typed inputs.
    type Inputs: Properties + Serialize + DeserializeOwned + Clone + Send + Sync + 'static;
    /// The typed outputs (the inputs plus what the cloud assigns); a declared resource's handle
    /// refers to them by name through their generated `Refs`.
    type Outputs: Properties + crate::refs::Referable + Serialize + DeserializeOwned + Clone + Send + Sync + 'static;

    /// Cross-property checks on fully known inputs. Each failure names the property and the fix.
    /// Single-property checks belong beside the property (`#[property(validate = ...)]`).
    fn validate(inputs: &Self::Inputs) -> Vec<CheckFailure> {
        let _ = inputs;
        Vec::new()
    }

    /// The type token (`palisade-network:index:Vpc`).
    fn token() -> String {
        format!("{}:index:{}", Self::PACKAGE, Self::NAME)
    }

    /// The resource's schema entry.
    fn schema() -> ResourceSchema {
        ResourceSchema {
            name: Self::NAME,
            doc: Self::DOC,
            inputs: Self::Inputs::object_spec(),
            outputs: Self::Outputs::object_spec(),
        }
    }
}

/// A function offered through `Invoke`.
pub trait FunctionType: Send + Sync + 'static {
    /// The package that offers it.
    const PACKAGE: &'static str;
    /// Name within the package (`getLatestApprovedModelPackage`).
    const NAME: &'static str;
    /// What the function returns.
    const DOC: &'static str;
    /// Typed arguments.
    type Args: Properties + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// Typed result.
    type Result: Properties + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The function's token (`palisade-deploy:index:getLatestApprovedModelPackage`).
    fn token() -> String {
        format!("{}:index:{}", Self::PACKAGE, Self::NAME)
    }

    /// The function's schema entry.
    fn schema() -> ResourceSchema {
        ResourceSchema {
            name: Self::NAME,
            doc: Self::DOC,
            inputs: Self::Args::object_spec(),
            outputs: Self::Result::object_spec(),
        }
    }
}

/// How a physical name is made when the user gives none (Pulumi's auto-naming).
#[derive(Debug, Clone, Copy)]
pub struct AutoName {
    /// The input property holding the name.
    pub property: &'static str,
    /// AWS's limit on the name's length.
    pub max_len: usize,
    /// Lower-case only (S3 buckets).
    pub lowercase: bool,
}

/// One reason the inputs are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// The property at fault (wire name; empty for the whole resource).
    pub property: String,
    /// What is wrong and what would be right.
    pub reason: String,
}

impl CheckFailure {
    /// A failure of `property`.
    pub fn new(property: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            property: property.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.property.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.property, self.reason)
        }
    }
}
