//! SageMaker as the deploy resources use it: the kit's shared SageMaker helpers (client, tags,
//! ownership lookup, endpoint status), plus adoption of resources with a fixed name.

use aws_sdk_sagemaker::Client;
use palisade_provider_kit::prelude::*;

pub(crate) use palisade_provider_kit::sagemaker::{
    client, endpoint_status, owned_tags, update_tags, urn_tag_of, user_tags_of,
};

/// Adoption of a resource with a fixed name (models, endpoint configurations, model package
/// groups): SageMaker takes no idempotency token for them, so the name is what an interrupted
/// create leaves to find. `arn` is the resource holding `name` (`None`: the name is free). Ours
/// (tagged with this URN): `[name]`, adopted. Someone else's: refused, naming it and the way out.
pub(crate) async fn owned_by_name(
    sm: &Client,
    ctx: &Context,
    kind: &'static str,
    property: &'static str,
    name: &str,
    arn: Option<String>,
) -> Result<Vec<String>> {
    let Some(arn) = arn else {
        return Ok(Vec::new());
    };
    match urn_tag_of(sm, &arn).await? {
        Some(urn) if urn == ctx.urn => Ok(vec![name.to_string()]),
        holder => Err(foreign(kind, property, name, &arn, holder.as_deref())),
    }
}

/// The error for a name held by a resource that is not this URN's.
pub(crate) fn foreign(
    kind: &'static str,
    property: &str,
    name: &str,
    arn: &str,
    holder: Option<&str>,
) -> ProviderError {
    let whose = match holder {
        Some(urn) => format!("it belongs to {urn}"),
        None => "Palisade did not create it".to_string(),
    };
    ProviderError::name_taken("Create", format_args!("a {kind} named {name} ({arn})"), whose, property)
}

/// The outcome of a create of a fixed name: `Some` when it made the resource; `None` when AWS says
/// the name exists and `lookup` (the kind's `owned`) finds it is ours (an earlier attempt of this
/// very create got through: adopt it); the lookup's refusal, or the create's error, otherwise.
pub(crate) async fn created_or_ours<T>(
    created: Result<T>,
    lookup: impl std::future::Future<Output = Result<Vec<String>>>,
) -> Result<Option<T>> {
    match created {
        Ok(output) => Ok(Some(output)),
        Err(error) if error.is_already_exists() => {
            if lookup.await?.is_empty() {
                Err(error)
            } else {
                Ok(None)
            }
        }
        Err(error) => Err(error),
    }
}
