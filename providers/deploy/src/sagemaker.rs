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

/// SageMaker answers a describe of something missing with `ValidationException` and a message
/// ("Could not find model ...", "... does not exist"), not with a not-found code. This turns those
/// into `None`, as `or_gone` does for proper not-found codes.
pub(crate) fn gone<T>(result: Result<T>) -> Result<Option<T>> {
    match result {
        Err(ProviderError::Aws { code, message, .. }) if code == "ValidationException" && says_missing(&message) => {
            Ok(None)
        }
        other => other.or_gone(),
    }
}

fn says_missing(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    ["could not find", "does not exist", "not found", "cannot find"]
        .iter()
        .any(|phrase| message.contains(phrase))
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
