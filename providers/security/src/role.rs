//! Role: an IAM role with its trust policy, inline policies and managed policies.
//!
//! The role's name is auto-named from the resource name unless given; a fixed name makes a
//! replacement delete the old role first (IAM names are unique per account). Every part of the role
//! except its name and path is updated in place.

use palisade_provider_kit::policy;
use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;
use palisade_provider_kit::validate::require;
use serde_json::Value as Json;

/// An IAM role.
#[derive(Debug, Default, Clone, Copy)]
pub struct Role;

/// Inputs of a [`Role`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct RoleArgs {
    /// The role's name, up to 64 characters. Default: the resource name plus a random suffix.
    #[property(replace, validate = role_name)]
    pub role_name: Option<String>,
    /// The role's path, `/` (default) or `/team/.../`.
    #[property(replace, validate = role_path)]
    #[serde(default = "root_path")]
    pub path: String,
    /// Who may assume the role (the trust policy), e.g. `Statement::trust_service`.
    #[property(equivalent = policy::same, validate = policy::validate)]
    pub assume_role_policy: Json,
    /// What the role is for.
    pub description: Option<String>,
    /// Inline policies: name → policy document.
    #[property(equivalent = same_inline_policies, validate = inline_policies)]
    #[serde(default)]
    pub inline_policies: BTreeMap<String, Json>,
    /// ARNs of managed policies attached to the role.
    #[property(set, validate = managed_policy_arns)]
    #[serde(default)]
    pub managed_policy_arns: Vec<String>,
    /// ARN of the managed policy that bounds the role's permissions.
    #[property(validate = policy_arn)]
    pub permissions_boundary: Option<String>,
    /// Longest session, in seconds, 3600 (default) to 43200.
    #[property(validate = session_duration)]
    #[serde(default = "one_hour")]
    pub max_session_duration: u32,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn root_path() -> String {
    "/".into()
}

fn one_hour() -> u32 {
    3600
}

/// Outputs of a [`Role`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct RoleState {
    #[serde(flatten)]
    pub args: RoleArgs,
    /// The role's ARN.
    pub arn: String,
    /// IAM's stable unique id of the role (`AROA...`).
    pub unique_id: String,
}

impl ResourceType for Role {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "Role";
    const DOC: &'static str = "An IAM role: trust policy, inline and managed policies, permissions \
                               boundary. Tagged with its URN and stack.";
    const AUTONAME: Option<AutoName> = Some(AutoName {
        property: "roleName",
        max_len: 64,
        lowercase: false,
    });
    type Inputs = RoleArgs;
    type Outputs = RoleState;
}

fn role_name(value: &Json) -> Result<(), String> {
    let name = value.as_str().unwrap_or_default();
    let valid =
        (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    require(valid, || {
        format!("{name:?} is not a role name; use 1 to 64 letters, digits or `+=,.@_-`")
    })
}

fn role_path(value: &Json) -> Result<(), String> {
    let path = value.as_str().unwrap_or_default();
    let valid = path.starts_with('/')
        && path.ends_with('/')
        && path.len() <= 512
        && path.chars().all(|c| ('!'..='~').contains(&c));
    require(valid, || {
        format!("{path:?} is not an IAM path; it starts and ends with `/`, e.g. `/` or `/ml/`")
    })
}

fn inline_policies(value: &Json) -> Result<(), String> {
    let Some(policies) = value.as_object() else {
        return Ok(());
    };
    for (name, document) in policies {
        let valid =
            (1..=128).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
        if !valid {
            return Err(format!(
                "inline policy name {name:?} must be 1 to 128 letters, digits or `+=,.@_-`"
            ));
        }
        policy::validate(document).map_err(|reason| format!("policy {name:?}: {reason}"))?;
    }
    Ok(())
}

/// Two maps of inline policies are the same when they have the same names and each pair of
/// documents means the same.
fn same_inline_policies(a: &Json, b: &Json) -> bool {
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(name, doc)| b.get(name).is_some_and(|other| policy::same(doc, other)))
        }
        _ => a == b,
    }
}

fn policy_arn(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some(arn) if arn.starts_with("arn:") && arn.contains(":policy/") => Ok(()),
        _ => Err(format!(
            "{value} is not a managed policy ARN; expected `arn:aws:iam::<account or aws>:policy/<name>`"
        )),
    }
}

fn managed_policy_arns(value: &Json) -> Result<(), String> {
    value.as_array().into_iter().flatten().try_for_each(policy_arn)
}

fn session_duration(value: &Json) -> Result<(), String> {
    match value.as_u64() {
        Some(3600..=43200) => Ok(()),
        _ => Err(format!(
            "{value} seconds is outside IAM's range; give 3600 (one hour) to 43200 (twelve hours)"
        )),
    }
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_iam::types::Tag;
    use aws_sdk_iam::Client;
    use palisade_provider_kit::policy;
    use palisade_provider_kit::prelude::*;
    use palisade_provider_kit::tags::{self, user_tags, URN_TAG};

    use super::{Role, RoleArgs, RoleState};
    use crate::aws;

    impl Resource for Role {
        async fn create(&self, ctx: &Context, request: CreateRequest<RoleArgs>) -> Result<Created<RoleState>> {
            let iam = aws::iam(ctx).await?;
            let args = request.inputs;
            let name = args
                .role_name
                .clone()
                .ok_or_else(|| ProviderError::invalid("roleName", "give the role a name"))?;
            let existing = get_role(&iam, &name).await?;
            let baseline = match existing {
                Some(role) => {
                    let ours = role.tags().iter().any(|t| t.key() == URN_TAG && t.value() == ctx.urn);
                    if !ours {
                        return Err(ProviderError::name_taken(
                            "CreateRole",
                            format_args!("a role named {name}"),
                            "Palisade did not create it",
                            "roleName",
                        ));
                    }
                    aws::adopting("IAM role", name.clone(), &ctx.urn);
                    read(&iam, &name).await?.map(|live| live.args)
                }
                None => {
                    iam.create_role()
                        .role_name(&name)
                        .path(&args.path)
                        .assume_role_policy_document(palisade_provider_kit::policy::to_text(&args.assume_role_policy))
                        .set_description(args.description.clone())
                        .max_session_duration(args.max_session_duration as i32)
                        .set_permissions_boundary(args.permissions_boundary.clone())
                        .set_tags(Some(iam_tags(&ctx.tags(&args.tags))))
                        .send()
                        .await
                        .map_err(|e| aws_error("CreateRole", e))?;
                    // Everything CreateRole set; the policies follow.
                    Some(RoleArgs {
                        inline_policies: BTreeMap::new(),
                        managed_policy_arns: Vec::new(),
                        ..args.clone()
                    })
                }
            };
            let baseline = baseline.ok_or(ProviderError::NotFound {
                kind: "IAM role",
                id: name.clone(),
            })?;
            converge(ctx, &iam, &name, &baseline, &args).await?;
            let outputs = read(&iam, &name).await?.ok_or(ProviderError::NotFound {
                kind: "IAM role",
                id: name.clone(),
            })?;
            Ok(Created { id: name, outputs })
        }

        async fn read(&self, ctx: &Context, request: ReadRequest<RoleArgs, RoleState>) -> Result<Option<RoleState>> {
            read(&aws::iam(ctx).await?, &request.id).await
        }

        async fn update(&self, ctx: &Context, request: UpdateRequest<RoleArgs, RoleState>) -> Result<RoleState> {
            let iam = aws::iam(ctx).await?;
            converge(ctx, &iam, &request.id, &request.olds.args, &request.news).await?;
            read(&iam, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "IAM role",
                id: request.id,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<RoleState>) -> Result<()> {
            let iam = aws::iam(ctx).await?;
            let name = &request.id;
            // IAM refuses to delete a role that still has policies or instance profiles: remove
            // what is live, not only what the state remembers.
            let Some(live) = read(&iam, name).await? else {
                return Ok(());
            };
            for arn in &live.args.managed_policy_arns {
                iam.detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("DetachRolePolicy", e))
                    .or_gone()?;
            }
            for policy_name in live.args.inline_policies.keys() {
                iam.delete_role_policy()
                    .role_name(name)
                    .policy_name(policy_name)
                    .send()
                    .await
                    .map_err(|e| aws_error("DeleteRolePolicy", e))
                    .or_gone()?;
            }
            let profiles = iam
                .list_instance_profiles_for_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| aws_error("ListInstanceProfilesForRole", e))
                .or_gone()?;
            for profile in profiles.iter().flat_map(|p| p.instance_profiles()) {
                iam.remove_role_from_instance_profile()
                    .role_name(name)
                    .instance_profile_name(profile.instance_profile_name())
                    .send()
                    .await
                    .map_err(|e| aws_error("RemoveRoleFromInstanceProfile", e))
                    .or_gone()?;
            }
            iam.delete_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| aws_error("DeleteRole", e))
                .or_gone()?;
            Ok(())
        }
    }

    /// Brings role `name` from `old` to `new`, property by property.
    async fn converge(ctx: &Context, iam: &Client, name: &str, old: &RoleArgs, new: &RoleArgs) -> Result<()> {
        if !policy::same(&old.assume_role_policy, &new.assume_role_policy) {
            iam.update_assume_role_policy()
                .role_name(name)
                .policy_document(palisade_provider_kit::policy::to_text(&new.assume_role_policy))
                .send()
                .await
                .map_err(|e| aws_error("UpdateAssumeRolePolicy", e))?;
        }
        if old.description != new.description || old.max_session_duration != new.max_session_duration {
            iam.update_role()
                .role_name(name)
                .description(new.description.clone().unwrap_or_default())
                .max_session_duration(new.max_session_duration as i32)
                .send()
                .await
                .map_err(|e| aws_error("UpdateRole", e))?;
        }
        if old.permissions_boundary != new.permissions_boundary {
            match &new.permissions_boundary {
                Some(arn) => {
                    iam.put_role_permissions_boundary()
                        .role_name(name)
                        .permissions_boundary(arn)
                        .send()
                        .await
                        .map_err(|e| aws_error("PutRolePermissionsBoundary", e))?;
                }
                None => {
                    iam.delete_role_permissions_boundary()
                        .role_name(name)
                        .send()
                        .await
                        .map_err(|e| aws_error("DeleteRolePermissionsBoundary", e))
                        .or_gone()?;
                }
            }
        }
        for (policy_name, document) in &new.inline_policies {
            let unchanged = old
                .inline_policies
                .get(policy_name)
                .is_some_and(|before| policy::same(before, document));
            if !unchanged {
                iam.put_role_policy()
                    .role_name(name)
                    .policy_name(policy_name)
                    .policy_document(palisade_provider_kit::policy::to_text(document))
                    .send()
                    .await
                    .map_err(|e| aws_error("PutRolePolicy", e))?;
            }
        }
        for policy_name in old.inline_policies.keys() {
            if !new.inline_policies.contains_key(policy_name) {
                iam.delete_role_policy()
                    .role_name(name)
                    .policy_name(policy_name)
                    .send()
                    .await
                    .map_err(|e| aws_error("DeleteRolePolicy", e))
                    .or_gone()?;
            }
        }
        for arn in &new.managed_policy_arns {
            if !old.managed_policy_arns.contains(arn) {
                iam.attach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("AttachRolePolicy", e))?;
            }
        }
        for arn in &old.managed_policy_arns {
            if !new.managed_policy_arns.contains(arn) {
                iam.detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| aws_error("DetachRolePolicy", e))
                    .or_gone()?;
            }
        }
        let removed = tags::removed_keys(&old.tags, &new.tags);
        if !removed.is_empty() {
            iam.untag_role()
                .role_name(name)
                .set_tag_keys(Some(removed))
                .send()
                .await
                .map_err(|e| aws_error("UntagRole", e))?;
        }
        if old.tags != new.tags {
            iam.tag_role()
                .role_name(name)
                .set_tags(Some(iam_tags(&ctx.tags(&new.tags))))
                .send()
                .await
                .map_err(|e| aws_error("TagRole", e))?;
        }
        Ok(())
    }

    async fn get_role(iam: &Client, name: &str) -> Result<Option<aws_sdk_iam::types::Role>> {
        let role = iam
            .get_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| aws_error("GetRole", e))
            .or_gone()?;
        let Some(mut role) = role.and_then(|r| r.role) else {
            return Ok(None);
        };
        // GetRole's tags are not complete everywhere; ListRoleTags is.
        let tags = iam
            .list_role_tags()
            .role_name(name)
            .send()
            .await
            .map_err(|e| aws_error("ListRoleTags", e))?;
        role.tags = Some(tags.tags().to_vec());
        Ok(Some(role))
    }

    async fn read(iam: &Client, name: &str) -> Result<Option<RoleState>> {
        let Some(role) = get_role(iam, name).await? else {
            return Ok(None);
        };
        let gone = || ProviderError::NotFound {
            kind: "IAM role",
            id: name.to_string(),
        };
        let mut inline_policies = BTreeMap::new();
        let mut names = iam.list_role_policies().role_name(name).into_paginator().items().send();
        let mut policy_names = Vec::new();
        while let Some(policy_name) = names.next().await {
            policy_names.push(policy_name.map_err(|e| aws_error("ListRolePolicies", e))?);
        }
        for policy_name in policy_names {
            let document = iam
                .get_role_policy()
                .role_name(name)
                .policy_name(&policy_name)
                .send()
                .await
                .map_err(|e| aws_error("GetRolePolicy", e))
                .or_gone()?;
            if let Some(document) = document {
                inline_policies.insert(policy_name, aws::policy_from_aws(document.policy_document()));
            }
        }
        let mut attached = iam
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send();
        let mut managed_policy_arns = Vec::new();
        while let Some(policy) = attached.next().await {
            let policy = policy
                .map_err(|e| aws_error("ListAttachedRolePolicies", e))
                .or_gone()?
                .ok_or_else(gone)?;
            managed_policy_arns.extend(policy.policy_arn().map(str::to_string));
        }
        Ok(Some(RoleState {
            args: RoleArgs {
                role_name: Some(role.role_name().to_string()),
                path: role.path().to_string(),
                assume_role_policy: role
                    .assume_role_policy_document()
                    .map(aws::policy_from_aws)
                    .unwrap_or_default(),
                description: role.description().filter(|d| !d.is_empty()).map(str::to_string),
                inline_policies,
                managed_policy_arns,
                permissions_boundary: role
                    .permissions_boundary()
                    .and_then(|b| b.permissions_boundary_arn())
                    .map(str::to_string),
                max_session_duration: role.max_session_duration().map_or(super::one_hour(), |d| d as u32),
                tags: user_tags(role.tags().iter().map(|t| (t.key(), t.value()))),
            },
            arn: role.arn().to_string(),
            unique_id: role.role_id().to_string(),
        }))
    }

    fn iam_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
        tags.iter()
            .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inline_policies_compare_by_meaning() {
        let a = json!({"read": {"Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}});
        let b = json!({"read": {"Statement": {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}}});
        assert!(same_inline_policies(&a, &b));
        let renamed = json!({"fetch": a["read"].clone()});
        assert!(!same_inline_policies(&a, &renamed));
    }

    #[test]
    fn bad_inputs_name_the_fix() {
        assert!(session_duration(&json!(60)).expect_err("short").contains("3600"));
        assert!(role_path(&json!("ml"))
            .expect_err("path")
            .contains("starts and ends with `/`"));
        assert!(policy_arn(&json!("ReadOnlyAccess"))
            .expect_err("arn")
            .contains(":policy/"));
        assert!(inline_policies(&json!({"p": {"Statement": []}}))
            .expect_err("empty")
            .contains("policy \"p\""));
        assert!(role_name(&json!("a".repeat(65))).is_err());
    }
}
