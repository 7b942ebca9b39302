//! EC2 helpers shared by the network resources: the client, tags, lookups by ownership tag.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, ResourceType as Ec2ResourceType, Tag, TagSpecification};
use aws_sdk_ec2::Client;
use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::{self, user_tags, URN_TAG};

/// The EC2 client of this provider process.
pub(crate) async fn client(ctx: &Context) -> Result<Client> {
    ctx.client(Client::new).await
}

/// Tags to put on a new resource of `kind`: the user's plus the ownership tags.
pub(crate) fn tag_specification(
    ctx: &Context,
    kind: Ec2ResourceType,
    user: &BTreeMap<String, String>,
) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(kind)
        .set_tags(Some(to_ec2_tags(&ctx.tags(user))))
        .build()
}

pub(crate) fn to_ec2_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The user's tags among EC2's tags (ownership and `aws:` tags left out).
pub(crate) fn from_ec2_tags(tags: &[Tag]) -> BTreeMap<String, String> {
    user_tags(
        tags.iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string()))),
    )
}

/// A filter matching resources that carry `urn` in their ownership tag.
pub(crate) fn owned_by(urn: &str) -> Filter {
    Filter::builder().name(format!("tag:{URN_TAG}")).values(urn).build()
}

/// Brings a resource's user tags from `old` to `new`: removes what went, writes what changed.
pub(crate) async fn update_tags(
    ec2: &Client,
    id: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Result<()> {
    let removed: Vec<Tag> = tags::removed_keys(old, new)
        .into_iter()
        .map(|k| Tag::builder().key(k).build())
        .collect();
    if !removed.is_empty() {
        ec2.delete_tags()
            .resources(id)
            .set_tags(Some(removed))
            .send()
            .await
            .map_err(|e| aws_error("DeleteTags", e))?;
    }
    let changed = tags::changed_tags(old, new);
    if !changed.is_empty() {
        ec2.create_tags()
            .resources(id)
            .set_tags(Some(to_ec2_tags(&changed)))
            .send()
            .await
            .map_err(|e| aws_error("CreateTags", e))?;
    }
    Ok(())
}

/// Logs and returns the id of a resource an interrupted earlier run created for this URN.
pub(crate) fn adopting(kind: &str, id: String, urn: &str) -> String {
    tracing::info!(kind, id, urn, "adopting what an earlier run created");
    id
}

/// The network interfaces matching `filter`, described for an error message.
pub(crate) async fn network_interfaces(ec2: &Client, filter: Filter) -> Vec<String> {
    let Ok(output) = ec2.describe_network_interfaces().filters(filter).send().await else {
        return Vec::new();
    };
    output
        .network_interfaces()
        .iter()
        .map(|n| {
            format!(
                "network interface {} ({})",
                n.network_interface_id().unwrap_or("?"),
                n.description().filter(|d| !d.is_empty()).unwrap_or("no description")
            )
        })
        .collect()
}

/// A list of dependents for an error message.
pub(crate) fn listing(items: Vec<String>) -> String {
    if items.is_empty() {
        "nothing Palisade could list".into()
    } else {
        items.join(", ")
    }
}

/// The first failure among a batch call's unsuccessful items, as a [`ProviderError::Aws`].
pub(crate) fn unsuccessful(operation: &'static str, items: &[aws_sdk_ec2::types::UnsuccessfulItem]) -> Result<()> {
    match items.iter().find_map(|u| u.error()) {
        Some(error) => Err(ProviderError::Aws {
            operation,
            code: error.code().unwrap_or("Unknown").to_string(),
            message: error.message().unwrap_or_default().to_string(),
        }),
        None => Ok(()),
    }
}
