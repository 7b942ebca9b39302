//! SageMaker rules: Studio inside the VPC with its storage under a customer key, models inside the
//! VPC and isolated, endpoint volumes under a customer key.

use palisade_deploy::{EndpointConfig, EndpointConfigArgs, Model, ModelArgs};
use palisade_provider_kit::ResourceType;
use palisade_studio::{Domain, DomainArgs};
use serde_json::Value as Json;

use super::data::customer_key;
use super::view::Input;
use super::{Subject, Verdict};

pub(super) fn domain_vpc_only(s: &Subject<'_>) -> Verdict {
    if !s.resource.is(Domain::NAME) {
        return Verdict::Pass;
    }
    const MODE: &str = DomainArgs::APP_NETWORK_ACCESS_TYPE;
    match s.plan.input(s.resource, MODE) {
        Input::Known(Json::String(mode)) if mode == "VpcOnly" => Verdict::Pass,
        Input::Known(mode) => Verdict::Fail(format!(
            "`{MODE}` is {mode}: Studio's apps reach the internet outside the VPC"
        )),
        // The provider's default is VpcOnly.
        Input::Absent => Verdict::Pass,
        Input::Unknown => Verdict::Undecided(format!("`{MODE}` is not known until apply")),
    }
}

pub(super) fn domain_customer_key(s: &Subject<'_>) -> Verdict {
    if !s.resource.is(Domain::NAME) {
        return Verdict::Pass;
    }
    customer_key(s.plan, s.resource, DomainArgs::KMS_KEY_ID, "Studio's storage")
}

/// Whether a list property is known to be empty (`Some(true)`), known to hold items, or unknown.
fn empty_list(input: &Input) -> Option<bool> {
    match input {
        Input::Known(Json::Array(items)) => Some(items.is_empty()),
        Input::Known(_) | Input::Absent => Some(true),
        Input::Unknown => None,
    }
}

pub(super) fn model_in_vpc_isolated(s: &Subject<'_>) -> Verdict {
    if !s.resource.is(Model::NAME) {
        return Verdict::Pass;
    }
    let mut missing = Vec::new();
    for property in [ModelArgs::SUBNET_IDS, ModelArgs::SECURITY_GROUP_IDS] {
        match empty_list(&s.plan.input(s.resource, property)) {
            Some(true) => missing.push(format!("no `{property}`")),
            Some(false) => {}
            None => return Verdict::Undecided(format!("`{property}` is not known until apply")),
        }
    }
    if s.plan.input(s.resource, ModelArgs::ENABLE_NETWORK_ISOLATION) == Input::Known(false.into()) {
        missing.push(format!("`{}` is off", ModelArgs::ENABLE_NETWORK_ISOLATION));
    }
    if missing.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(format!(
            "{}: the model container is not confined to the VPC",
            missing.join(", ")
        ))
    }
}

pub(super) fn endpoint_config_key(s: &Subject<'_>) -> Verdict {
    if !s.resource.is(EndpointConfig::NAME) {
        return Verdict::Pass;
    }
    customer_key(
        s.plan,
        s.resource,
        EndpointConfigArgs::KMS_KEY_ID,
        "the endpoint's storage",
    )
}
