//! Palisade's guardrails as a native Pulumi policy pack.
//!
//! The binary `pulumi-analyzer-policy-palisade` speaks `pulumirpc.Analyzer`, so that
//! `pulumi preview --policy-pack <dir>` (a folder whose `PulumiPolicy.yaml` says `runtime: palisade`)
//! judges a Pulumi stack by the very rules the Palisade SDK's preview applies:
//! [`palisade::guardrails::RULES`], run by [`palisade::guardrails::check`]. This crate only
//! translates: Pulumi's resources into the SDK's plan ([`resources`]), the rules into policies and
//! findings into diagnostics ([`pack`]), and the wire ([`service`], [`serve`]).

pub mod pack;
pub mod resources;
pub mod serve;
pub mod service;

pub use pack::{Level, PackError, Settings, PACK_NAME, PACK_VERSION};
pub use resources::AnalyzedResource;
pub use service::Guardrails;
