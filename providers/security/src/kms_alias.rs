//! KmsAlias: a friendly, stable name (`alias/ml-data`) for a KMS key, movable to another key.

use palisade_provider_kit::prelude::*;
use palisade_provider_kit::validate::require;
use serde_json::Value as Json;

use crate::kms_key_policy::key_reference;

/// An alias of a KMS key.
#[derive(Debug, Default, Clone, Copy)]
pub struct KmsAlias;

/// Inputs of a [`KmsAlias`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct KmsAliasArgs {
    /// The alias, `alias/<name>` (not `alias/aws/...`, which AWS reserves).
    #[property(replace, validate = alias_name)]
    pub alias_name: String,
    /// The id or ARN of the key the alias points to; moving it is an update in place.
    #[property(validate = key_reference)]
    pub target_key_id: String,
}

/// Outputs of a [`KmsAlias`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct KmsAliasState {
    #[serde(flatten)]
    pub args: KmsAliasArgs,
    /// The alias's ARN.
    pub arn: String,
}

impl ResourceType for KmsAlias {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "KmsAlias";
    const DOC: &'static str =
        "An alias of a KMS key; renaming replaces it, pointing it at another key updates it in place.";
    type Inputs = KmsAliasArgs;
    type Outputs = KmsAliasState;
}

fn alias_name(value: &Json) -> Result<(), String> {
    let name = value.as_str().unwrap_or_default();
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(format!(
            "{name:?} is not an alias name; it must start with `alias/`, e.g. `alias/ml-data`"
        ));
    };
    if name.starts_with("alias/aws/") {
        return Err(format!(
            "{name:?} is in the `alias/aws/` namespace, which AWS reserves for its own keys; choose another name"
        ));
    }
    let valid = !rest.is_empty()
        && name.len() <= 256
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-'));
    require(valid, || {
        format!("{name:?}: after `alias/`, use 1 to 250 letters, digits, `/`, `_` or `-`")
    })
}

/// Whether a declared key reference (id or ARN) names the key with id `key_id`.
#[cfg_attr(not(feature = "provider"), allow(dead_code))]
pub(crate) fn names_key(reference: &str, key_id: &str) -> bool {
    reference == key_id || reference.ends_with(&format!(":key/{key_id}"))
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_kms::Client;
    use palisade_provider_kit::prelude::*;

    use super::{names_key, KmsAlias, KmsAliasArgs, KmsAliasState};
    use crate::aws;

    impl Resource for KmsAlias {
        async fn create(&self, ctx: &Context, request: CreateRequest<KmsAliasArgs>) -> Result<Created<KmsAliasState>> {
            let kms = aws::kms(ctx).await?;
            let args = request.inputs;
            let created = kms
                .create_alias()
                .alias_name(&args.alias_name)
                .target_key_id(&args.target_key_id)
                .send()
                .await
                .map_err(|e| aws_error("CreateAlias", e));
            match created {
                Ok(_) => {}
                // An interrupted earlier run made it already: adopt it if it points where we want.
                Err(error) if error.aws_kind() == Some(AwsErrorKind::AlreadyExists) => {
                    match alias(&kms, &args.alias_name).await? {
                        Some((target, _)) if names_key(&args.target_key_id, &target) => {
                            aws::adopting("KMS alias", args.alias_name.clone(), &ctx.urn);
                        }
                        _ => {
                            return Err(ProviderError::name_taken(
                                "CreateAlias",
                                format_args!("alias {}", args.alias_name),
                                "points to another key",
                                "aliasName",
                            ))
                        }
                    }
                }
                Err(error) => return Err(error),
            }
            let outputs = read(&kms, &args.alias_name, Some(&args))
                .await?
                .ok_or(ProviderError::NotFound {
                    kind: "KMS alias",
                    id: args.alias_name.clone(),
                })?;
            Ok(Created {
                id: args.alias_name,
                outputs,
            })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<KmsAliasArgs, KmsAliasState>,
        ) -> Result<Option<KmsAliasState>> {
            let kms = aws::kms(ctx).await?;
            read(&kms, &request.id, request.inputs.as_ref()).await
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<KmsAliasArgs, KmsAliasState>,
        ) -> Result<KmsAliasState> {
            let kms = aws::kms(ctx).await?;
            kms.update_alias()
                .alias_name(&request.id)
                .target_key_id(&request.news.target_key_id)
                .send()
                .await
                .map_err(|e| aws_error("UpdateAlias", e))?;
            read(&kms, &request.id, Some(&request.news))
                .await?
                .ok_or(ProviderError::NotFound {
                    kind: "KMS alias",
                    id: request.id,
                })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<KmsAliasState>) -> Result<()> {
            let kms = aws::kms(ctx).await?;
            kms.delete_alias()
                .alias_name(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteAlias", e))
                .or_gone()?;
            Ok(())
        }
    }

    /// The alias's target key id and ARN, or `None` when there is no such alias.
    async fn alias(kms: &Client, name: &str) -> Result<Option<(String, String)>> {
        let mut pages = kms.list_aliases().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("ListAliases", e))?;
            if let Some(found) = page.aliases().iter().find(|a| a.alias_name() == Some(name)) {
                return Ok(Some((
                    found.target_key_id().unwrap_or_default().to_string(),
                    found.alias_arn().unwrap_or_default().to_string(),
                )));
            }
        }
        Ok(None)
    }

    async fn read(kms: &Client, name: &str, declared: Option<&KmsAliasArgs>) -> Result<Option<KmsAliasState>> {
        let Some((target, arn)) = alias(kms, name).await? else {
            return Ok(None);
        };
        // Report the target as declared (id or ARN) while it names the same key.
        let target_key_id = match declared {
            Some(d) if names_key(&d.target_key_id, &target) => d.target_key_id.clone(),
            _ => target,
        };
        Ok(Some(KmsAliasState {
            args: KmsAliasArgs {
                alias_name: name.to_string(),
                target_key_id,
            },
            arn,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn alias_names_start_with_alias_and_avoid_aws() {
        assert!(alias_name(&json!("alias/ml-data")).is_ok());
        assert!(alias_name(&json!("ml-data"))
            .expect_err("no prefix")
            .contains("must start with `alias/`"));
        assert!(alias_name(&json!("alias/aws/s3"))
            .expect_err("reserved")
            .contains("reserves"));
        assert!(alias_name(&json!("alias/")).is_err());
    }

    #[test]
    fn a_key_arn_names_its_key() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        assert!(names_key(id, id));
        assert!(names_key(&format!("arn:aws:kms:us-east-1:123456789012:key/{id}"), id));
        assert!(!names_key("other", id));
    }
}
