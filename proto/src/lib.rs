//! The `pulumirpc` resource-provider and analyzer (policy pack) protocols, wire compatible with Pulumi.
//!
//! Generated at build time from `proto/pulumi/*.proto`. Everything else in Palisade converts these
//! wire types into its own domain types at the edge and never passes them further in.

#![allow(unreachable_pub, missing_docs, clippy::all)]

/// Messages and the `ResourceProvider` and `Analyzer` services of package `pulumirpc`.
pub mod pulumirpc {
    tonic::include_proto!("pulumirpc");
}

pub use prost_types;
pub use pulumirpc::analyzer_client::AnalyzerClient;
pub use pulumirpc::analyzer_server::{Analyzer, AnalyzerServer};
pub use pulumirpc::resource_provider_client::ResourceProviderClient;
pub use pulumirpc::resource_provider_server::{ResourceProvider, ResourceProviderServer};
