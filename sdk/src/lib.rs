//! Palisade: declare dev, staging and prod account stacks in Rust, preview every change in every
//! account, and apply it.
//!
//! This crate never links the AWS SDK: it drives the provider plugins (`pulumi-resource-palisade-*`)
//! over Pulumi's resource-provider protocol, exactly as the Pulumi engine would.

pub mod account;
pub mod cli;
pub mod engine;
pub mod guardrails;
pub mod host;
pub mod plan;
pub mod progress;
pub mod provider;
pub mod reference;
pub mod render;
pub mod stack;
pub mod state;

pub use account::{Access, Account};
pub use engine::{Engine, Hosts};
pub use palisade_deploy as deploy;
pub use palisade_network as network;
pub use palisade_provider_kit as kit;
pub use palisade_security as security;
pub use palisade_studio as studio;
pub use plan::{Operation, Plan};
pub use stack::{Options, Resource, ResourceRef, Stack};
pub use state::StateStore;
