//! What the studio resources share: the SageMaker client, tags as SageMaker takes them, and the
//! ownership lookup.

use std::collections::BTreeMap;

use aws_sdk_sagemaker::types::Tag;
use aws_sdk_sagemaker::Client;
use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::{user_tags, URN_TAG};

/// The SageMaker client of this provider process.
pub(crate) async fn client(ctx: &Context) -> Result<Client> {
    ctx.client(Client::new).await
}

/// The user's tags plus the ownership tags, as SageMaker takes them.
pub(crate) fn tags(ctx: &Context, user: &BTreeMap<String, String>) -> Vec<Tag> {
    ctx.tags(user)
        .into_iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

/// The user's tags of the resource `arn` (ownership and `aws:` tags left out).
pub(crate) async fn read_tags(sagemaker: &Client, arn: &str) -> Result<BTreeMap<String, String>> {
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
        all.extend(page.tags().iter().map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        }));
        next = page.next_token().map(str::to_string);
        if next.is_none() {
            return Ok(user_tags(all));
        }
    }
}

/// Whether the resource `arn` carries the ownership tag of `urn`. A resource gone meanwhile does not.
pub(crate) async fn has_ownership_tag(sagemaker: &Client, arn: &str, urn: &str) -> Result<bool> {
    let mut next = None;
    loop {
        let page = sagemaker
            .list_tags()
            .resource_arn(arn)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| aws_error("ListTags", e));
        let Some(page) = page.or_gone()? else {
            return Ok(false);
        };
        if page
            .tags()
            .iter()
            .any(|t| t.key() == Some(URN_TAG) && t.value() == Some(urn))
        {
            return Ok(true);
        }
        next = page.next_token().map(str::to_string);
        if next.is_none() {
            return Ok(false);
        }
    }
}

/// Brings the user's tags of `arn` from `old` to `new`; the ownership tags are never touched.
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
    let changed: Vec<Tag> = new
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    if !changed.is_empty() {
        sagemaker
            .add_tags()
            .resource_arn(arn)
            .set_tags(Some(changed))
            .send()
            .await
            .map_err(|e| aws_error("AddTags", e))?;
    }
    Ok(())
}
