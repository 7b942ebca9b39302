//! The shared runtime of Palisade's resource providers.
//!
//! Always available (no AWS SDK): property declarations and schema generation ([`schema`]), the
//! property codec ([`value`]), Check ([`check`]), the default Diff ([`diff`]), provider configuration
//! ([`config`]), ownership tags ([`tags`]), the shared AWS validators ([`validate`]) and errors
//! ([`error`]). With feature `server`: the resource lifecycle ([`provider`]), the gRPC service
//! ([`server`]), the plugin start contract ([`plugin`]), lazily built AWS clients ([`aws`]) and
//! waiters ([`wait`]). With feature `sagemaker` (only the providers that call SageMaker turn it on):
//! SageMaker's tags, ownership lookup and endpoint status ([`sagemaker`]).

// The derive refers to this crate by name; this makes that name work inside the crate too.
extern crate self as palisade_provider_kit;

pub mod check;
pub mod config;
pub mod diff;
pub mod error;
pub mod policy;
pub mod refs;
pub mod resource;
pub mod schema;
pub mod tags;
pub mod validate;
pub mod value;

#[cfg(feature = "server")]
pub mod aws;
#[cfg(feature = "server")]
pub mod plugin;
#[cfg(feature = "server")]
pub mod provider;
#[cfg(feature = "sagemaker")]
pub mod sagemaker;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod wait;

pub use error::{ProviderError, Result};
pub use resource::{AutoName, CheckFailure, FunctionType, ResourceType};
pub use schema::{Properties, SchemaType};

/// Everything a resource file needs.
pub mod prelude {
    pub use crate::resource::{AutoName, CheckFailure, FunctionType, ResourceType};
    pub use crate::schema::Properties;
    pub use serde::{Deserialize, Serialize};
    pub use std::collections::BTreeMap;

    #[cfg(feature = "server")]
    pub use crate::{
        aws::aws_error,
        error::{AwsErrorKind, OrGone, ProviderError, Result},
        provider::{Context, CreateRequest, Created, DeleteRequest, Function, ReadRequest, Resource, UpdateRequest},
        wait::Progress,
    };
    #[cfg(feature = "server")]
    pub use aws_config::SdkConfig;
}
