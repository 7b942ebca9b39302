//! SageMaker rules: Studio inside the VPC with its storage under a customer key, models inside the
//! VPC and isolated, endpoint volumes under a customer key.

use serde_json::Value as Json;

use super::data::customer_key;
use super::view::Input;
use super::{Subject, Verdict};

pub(super) fn domain_vpc_only(s: &Subject<'_>) -> Verdict {
    if !s.resource.is("Domain") {
        return Verdict::Pass;
    }
    match s.plan.input(s.resource, "appNetworkAccessType") {
        Input::Known(Json::String(mode)) if mode == "VpcOnly" => Verdict::Pass,
        Input::Known(mode) => Verdict::Fail(format!(
            "`appNetworkAccessType` is {mode}: Studio's apps reach the internet outside the VPC"
        )),
        // The provider's default is VpcOnly.
        Input::Absent => Verdict::Pass,
        Input::Unknown => Verdict::Undecided("`appNetworkAccessType` is not known until apply".into()),
    }
}

pub(super) fn domain_customer_key(s: &Subject<'_>) -> Verdict {
    if !s.resource.is("Domain") {
        return Verdict::Pass;
    }
    customer_key(s.plan, s.resource, "Studio's storage")
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
    if !s.resource.is("Model") {
        return Verdict::Pass;
    }
    let mut missing = Vec::new();
    for property in ["subnetIds", "securityGroupIds"] {
        match empty_list(&s.plan.input(s.resource, property)) {
            Some(true) => missing.push(format!("no `{property}`")),
            Some(false) => {}
            None => return Verdict::Undecided(format!("`{property}` is not known until apply")),
        }
    }
    if s.plan.input(s.resource, "enableNetworkIsolation") == Input::Known(false.into()) {
        missing.push("`enableNetworkIsolation` is off".into());
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
    if !s.resource.is("EndpointConfig") {
        return Verdict::Pass;
    }
    customer_key(s.plan, s.resource, "the endpoint's storage")
}
