//! What the providers that call SageMaker share (studio and deploy; behind feature `sagemaker`, so
//! that the others never link its SDK): the client, tags in SageMaker's shape, the ownership lookup
//! by URN tag, and an endpoint's status. "Gone" needs nothing of its own: SageMaker answers a
//! describe of something missing with `ValidationException` "Could not find ...", which
//! [`AwsErrorKind::classify`] reads as not-found, so [`OrGone::or_gone`] covers it.

use std::collections::BTreeMap;

use aws_sdk_sagemaker::types::{EndpointStatus, Tag};
use aws_sdk_sagemaker::Client;

use crate::prelude::*;
use crate::tags::{self, user_tags, URN_TAG};

/// The SageMaker client of this provider process.
pub async fn client(ctx: &Context) -> Result<Client> {
    ctx.client(Client::new).await
}

/// The user's tags plus the ownership tags, in SageMaker's shape.
pub fn owned_tags(ctx: &Context, user: &BTreeMap<String, String>) -> Vec<Tag> {
    to_tags(&ctx.tags(user))
}

fn to_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

/// Every tag on `arn`, all pages.
async fn all_tags(sagemaker: &Client, arn: &str) -> Result<Vec<(String, String)>> {
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
            return Ok(all);
        }
    }
}

/// The user's tags on `arn` (ownership and `aws:` tags left out).
pub async fn user_tags_of(sagemaker: &Client, arn: &str) -> Result<BTreeMap<String, String>> {
    Ok(user_tags(all_tags(sagemaker, arn).await?))
}

/// The ownership (URN) tag on `arn`, if any; `None` too when the resource went away meanwhile.
pub async fn urn_tag_of(sagemaker: &Client, arn: &str) -> Result<Option<String>> {
    let tags = all_tags(sagemaker, arn).await.or_gone()?.unwrap_or_default();
    Ok(tags.into_iter().find(|(key, _)| key == URN_TAG).map(|(_, urn)| urn))
}

/// Whether `arn` carries the ownership tag of `urn` (a resource gone meanwhile does not).
pub async fn has_ownership_tag(sagemaker: &Client, arn: &str, urn: &str) -> Result<bool> {
    Ok(urn_tag_of(sagemaker, arn).await?.as_deref() == Some(urn))
}

/// Brings the user's tags on `arn` from `old` to `new`; the ownership tags are never touched.
pub async fn update_tags(
    sagemaker: &Client,
    arn: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Result<()> {
    let removed = tags::removed_keys(old, new);
    if !removed.is_empty() {
        sagemaker
            .delete_tags()
            .resource_arn(arn)
            .set_tag_keys(Some(removed))
            .send()
            .await
            .map_err(|e| aws_error("DeleteTags", e))?;
    }
    let changed = tags::changed_tags(old, new);
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
pub async fn endpoint_status(sagemaker: &Client, name: &str) -> Result<Option<(EndpointStatus, Option<String>)>> {
    let described = sagemaker
        .describe_endpoint()
        .endpoint_name(name)
        .send()
        .await
        .map_err(|e| aws_error("DescribeEndpoint", e));
    Ok(described.or_gone()?.map(|e| {
        (
            e.endpoint_status().cloned().unwrap_or(EndpointStatus::Creating),
            e.failure_reason().filter(|r| !r.is_empty()).map(str::to_string),
        )
    }))
}
