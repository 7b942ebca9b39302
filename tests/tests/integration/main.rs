//! Every workspace-level integration test, as one binary: the AWS SDK crates are linked once, not once
//! per file.

mod adoption;
mod analyzer;
mod bad_inputs;
mod changed_inputs;
mod cli;
mod conformance;
mod crash;
mod deploy;
mod engine;
mod many_accounts;
mod network;
mod organization;
mod pulumi_yaml;
mod read_truth;
mod schema;
mod secure_mlops;
mod security;
mod studio;
mod throttling;
mod two_environments;
mod unknown_inputs;
