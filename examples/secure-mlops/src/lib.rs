//! The reference environment: a secure multi-account MLOps platform on SageMaker, as one Palisade
//! program.
//!
//! Dev holds Studio (VpcOnly, its storage encrypted with a customer key), the data and models
//! buckets, the roles and the model registry; staging and prod serve the released model from their
//! own private networks, reading the artifact from dev through their VPC endpoints. A release goes
//! to staging, is smoke-tested there, and reaches prod only after an explicit approval. The targets
//! are listed in the configuration or taken from an AWS Organizations organizational unit
//! ([`organization`]).

pub mod config;
pub mod environment;
pub mod organization;
pub mod promote;

pub use config::Config;
pub use environment::{declare, Environment, Release};
