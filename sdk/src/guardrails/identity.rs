//! Identity rules: who may pass which role, and what SageMaker's execution roles may create.

use palisade_provider_kit::ResourceType;
use palisade_security::policy_document::{Effect, Statement, SAGEMAKER_VPC_ACTIONS};
use palisade_security::{Role, RoleArgs, RoleState};

use super::policy::{self, could_match_a_role, covers_action, has_wildcard, names_account, names_service};
use super::view::{is_literal, Input, PlanView, Planned};
use super::{Subject, Verdict};

/// The service principal SageMaker assumes roles as.
pub(super) const SAGEMAKER: &str = "sagemaker.amazonaws.com";

/// The statements of a role's inline policies, each with its policy's name; or why they cannot be
/// read.
pub(super) fn inline_statements(plan: &PlanView<'_>, role: &Planned<'_>) -> Result<Vec<(String, Statement)>, String> {
    match plan.input(role, RoleArgs::INLINE_POLICIES) {
        Input::Known(serde_json::Value::Object(policies)) => Ok(policies
            .iter()
            .flat_map(|(name, document)| policy::parse(document).into_iter().map(move |s| (name.clone(), s)))
            .collect()),
        Input::Unknown => Err(format!(
            "the inline policies of {} are not known until apply",
            role.label()
        )),
        _ => Ok(Vec::new()),
    }
}

/// The statements of a role's trust policy, or why they cannot be read.
fn trust_statements(plan: &PlanView<'_>, role: &Planned<'_>) -> Result<Vec<Statement>, String> {
    match plan.input(role, RoleArgs::ASSUME_ROLE_POLICY) {
        Input::Unknown => Err(format!("the trust policy of {} is not known until apply", role.label())),
        policy => Ok(policy::statements(&policy)),
    }
}

fn lets_assume(statement: &Statement) -> bool {
    statement.effect == Effect::Allow && covers_action(statement, "sts:AssumeRole")
}

/// Whether `role` trusts AWS service `service`.
pub(super) fn trusts_service(plan: &PlanView<'_>, role: &Planned<'_>, service: &str) -> Result<bool, String> {
    Ok(trust_statements(plan, role)?
        .iter()
        .any(|s| lets_assume(s) && names_service(s, service)))
}

/// Whether `role` trusts account `account_id` (its root, or one of its principals).
pub(super) fn trusts_account(plan: &PlanView<'_>, role: &Planned<'_>, account_id: &str) -> Result<bool, String> {
    Ok(trust_statements(plan, role)?
        .iter()
        .any(|s| lets_assume(s) && names_account(s, account_id)))
}

/// The inline statements of `role` that allow `iam:PassRole`, with their policies' names.
pub(super) fn pass_role_grants(plan: &PlanView<'_>, role: &Planned<'_>) -> Result<Vec<(String, Statement)>, String> {
    Ok(inline_statements(plan, role)?
        .into_iter()
        .filter(|(_, s)| s.effect == Effect::Allow && covers_action(s, "iam:PassRole"))
        .collect())
}

/// The subject's `iam:PassRole` grants when it is a role; otherwise the verdict (a pass for anything
/// else, undecided when they cannot be read).
fn subject_pass_role_grants(s: &Subject<'_>) -> Result<Vec<(String, Statement)>, Verdict> {
    if !s.resource.is(Role::NAME) {
        return Err(Verdict::Pass);
    }
    pass_role_grants(s.plan, s.resource).map_err(Verdict::Undecided)
}

pub(super) fn wildcard_pass_role(s: &Subject<'_>) -> Verdict {
    let grants = match subject_pass_role_grants(s) {
        Ok(grants) => grants,
        Err(verdict) => return verdict,
    };
    for (name, statement) in &grants {
        if statement.not_resource.is_some() {
            return Verdict::Fail(format!(
                "inline policy `{name}` allows iam:PassRole on every role but those it excludes (NotResource)"
            ));
        }
        let resources = statement.resource.iter().flatten();
        if let Some(pattern) = resources.into_iter().find(|r| has_wildcard(r) && could_match_a_role(r)) {
            return Verdict::Fail(format!("inline policy `{name}` allows iam:PassRole on {pattern}"));
        }
    }
    Verdict::Pass
}

pub(super) fn execution_role_vpc_only(s: &Subject<'_>) -> Verdict {
    if !s.resource.is(Role::NAME) {
        return Verdict::Pass;
    }
    match trusts_service(s.plan, s.resource, SAGEMAKER) {
        Ok(true) => {}
        Ok(false) => return Verdict::Pass,
        Err(reason) => return Verdict::Undecided(reason),
    }
    let statements = match inline_statements(s.plan, s.resource) {
        Ok(statements) => statements,
        Err(reason) => return Verdict::Undecided(reason),
    };
    for key in ["sagemaker:VpcSubnets", "sagemaker:VpcSecurityGroupIds"] {
        let denied_without = |action: &str| {
            statements.iter().any(|(_, st)| {
                st.effect == Effect::Deny
                    && covers_action(st, action)
                    && policy::condition_values(st, &["Null"], key)
                        .is_some_and(|values| values.iter().any(|v| v.eq_ignore_ascii_case("true")))
            })
        };
        let allowed: Vec<&str> = SAGEMAKER_VPC_ACTIONS
            .into_iter()
            .filter(|action| !denied_without(action))
            .collect();
        if !allowed.is_empty() {
            return Verdict::Fail(format!(
                "the role trusts SageMaker but no inline statement denies {} without {key} (a Deny with the condition Null {key} true)",
                allowed.join(", ")
            ));
        }
    }
    Verdict::Pass
}

pub(super) fn pass_only_execution_roles(s: &Subject<'_>) -> Verdict {
    let grants = match subject_pass_role_grants(s) {
        Ok(grants) => grants,
        Err(verdict) => return verdict,
    };
    for (name, statement) in &grants {
        // Wildcards are PAL-IAM-01's; a literal ARN of no IAM role cannot name one.
        let named = statement
            .resource
            .iter()
            .flatten()
            .filter(|r| !has_wildcard(r) && (!is_literal(r) || r.starts_with("arn:aws:iam::")));
        for passed in named {
            match s.plan.named(Role::NAME, RoleState::ARN, passed) {
                Some(role) => match trusts_service(s.plan, role, SAGEMAKER) {
                    Ok(true) => {}
                    Ok(false) => {
                        return Verdict::Fail(format!(
                            "inline policy `{name}` lets it pass {}, a role SageMaker does not assume",
                            role.label()
                        ))
                    }
                    Err(reason) => return Verdict::Undecided(reason),
                },
                None if is_literal(passed) => {
                    return Verdict::Fail(format!(
                        "inline policy `{name}` lets it pass {passed}, which is no role of the environment"
                    ))
                }
                None => return Verdict::Undecided(format!("the role {passed} is not known until apply")),
            }
        }
    }
    Verdict::Pass
}
