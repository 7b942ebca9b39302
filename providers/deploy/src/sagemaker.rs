//! SageMaker helpers shared by the deploy resources: the client, tags, and how SageMaker says
//! "not found".

use std::collections::BTreeMap;

use aws_sdk_sagemaker::types::{EndpointStatus, Tag};
use aws_sdk_sagemaker::Client;
use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::{user_tags, URN_TAG};

/// The SageMaker client of this provider process.
pub(crate) async fn client(ctx: &Context) -> Result<Client> {
    ctx.client(Client::new).await
}

/// The user's tags plus the ownership tags, in SageMaker's shape.
pub(crate) fn owned_tags(ctx: &Context, user: &BTreeMap<String, String>) -> Vec<Tag> {
    to_tags(&ctx.tags(user))
}

fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// `None` when the thing is gone. SageMaker answers a describe of something missing with
/// `ValidationException` and a message ("Could not find model ...", "... does not exist"); the kit's
/// error classification reads those as not-found, so this is `or_gone`.
pub(crate) fn gone<T>(result: Result<T>) -> Result<Option<T>> {
    result.or_gone()
}

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
pub(crate) fn foreign(kind: &'static str, property: &str, name: &str, arn: &str, holder: Option<&str>) -> ProviderError {
    let whose = match holder {
        Some(urn) => format!("it belongs to {urn}"),
        None => "Palisade did not create it".to_string(),
    };
    ProviderError::Aws {
        operation: "Create",
        code: "AlreadyExistsException".into(),
        message: format!(
            "a {kind} named {name} already exists ({arn}) and {whose}; choose another `{property}`, or \
             import the existing one"
        ),
    }
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

/// The user's tags on `arn` (ownership and `aws:` tags left out).
pub(crate) async fn user_tags_of(sagemaker: &Client, arn: &str) -> Result<BTreeMap<String, String>> {
    let mut all = Vec::new();
    let mut next = None;
    loop {
        let page = sagemaker
            .list_tags()
            .resource_arn(arn)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| aws_error("ListTags", e))?;
        all.extend(
            page.tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))),
        );
        next = page.next_token().map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    Ok(user_tags(all))
}

/// The ownership (URN) tag on `arn`, if any; `None` too when the resource went away meanwhile.
pub(crate) async fn urn_tag_of(sagemaker: &Client, arn: &str) -> Result<Option<String>> {
    let listed = sagemaker
        .list_tags()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("ListTags", e));
    Ok(gone(listed)?.and_then(|page| {
        page.tags()
            .iter()
            .find(|t| t.key() == Some(URN_TAG))
            .and_then(|t| t.value().map(str::to_string))
    }))
}

/// Brings the user's tags on `arn` from `old` to `new`.
pub(crate) async fn update_tags(
    sagemaker: &Client,
    arn: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Result<()> {
    let removed: Vec<String> = old.keys().filter(|k| !new.contains_key(*k)).cloned().collect();
    if !removed.is_empty() {
        sagemaker
            .delete_tags()
            .resource_arn(arn)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(|e| aws_error("DeleteTags", e))?;
    }
    let changed: BTreeMap<String, String> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !changed.is_empty() {
        sagemaker
            .add_tags()
            .resource_arn(arn)
            .set_tags(Some(to_tags(&changed)))
            .send()
            .await
            .map_err(|e| aws_error("AddTags", e))?;
    }
    Ok(())
}

/// An endpoint's status and failure reason; `None` when it does not exist.
pub(crate) async fn endpoint_status(sm: &Client, name: &str) -> Result<Option<(EndpointStatus, Option<String>)>> {
    let described = sm
        .describe_endpoint()
        .endpoint_name(name)
        .send()
        .await
        .map_err(|e| aws_error("DescribeEndpoint", e));
    Ok(gone(described)?.map(|e| {
        (
            e.endpoint_status().cloned().unwrap_or(EndpointStatus::Creating),
            e.failure_reason().filter(|r| !r.is_empty()).map(str::to_string),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sagemaker_validation_messages_about_missing_things_mean_gone() {
        let throttled = ProviderError::Aws {
            operation: "DescribeModel",
            code: "ThrottlingException".into(),
            message: "Rate exceeded".into(),
        };
        assert!(gone::<()>(Err(throttled)).is_err(), "a throttled lookup is not 'gone'");
        let missing = ProviderError::Aws {
            operation: "DescribeModel",
            code: "ValidationException".into(),
            message: "Could not find model \"m\".".into(),
        };
        assert!(matches!(gone::<()>(Err(missing)), Ok(None)));
        let bad = ProviderError::Aws {
            operation: "CreateModel",
            code: "ValidationException".into(),
            message: "1 validation error detected".into(),
        };
        assert!(gone::<()>(Err(bad)).is_err());
    }
}
