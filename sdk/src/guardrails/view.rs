//! The plan as the guardrails read it: every planned resource, with inputs in which a reference to
//! another resource reads the same whether its value is known yet or not.
//!
//! During a preview most ids and ARNs are unknown. The declared inputs still say which resource each
//! reference points at (`${palisade:<urn>#<property>}`), so the rules read those: every reference is
//! rewritten to the referenced output's value when it can be known before apply (a name given in the
//! declaration, an ARN that follows from a name, the output of a resource that already exists), and
//! is otherwise left as its marker, which then stands for that value. Two properties that refer to the
//! same output therefore read the same, and "does this policy name that role" is a string comparison.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

use palisade_deploy::{ModelPackageGroup, ModelPackageGroupArgs, ModelPackageGroupState};
use palisade_provider_kit::value::{PropertyMap, PropertyValue};
use palisade_provider_kit::ResourceType;
use palisade_security::policy_document::{bucket_arn, role_arn, Statement};
use palisade_security::{Bucket, BucketArgs, BucketState, KmsKey, KmsKeyState, Role, RoleArgs, RoleState};
use serde_json::{Map, Value as Json};

use super::policy;
use crate::plan::{Operation, Plan, Step};
use crate::reference::{marker, resolve};
use crate::stack::Stack;

/// The beginning of every reference marker (see [`crate::reference`]).
const MARKER_START: &str = "${palisade:";

/// A resource the plan creates, updates, replaces or keeps, with its stack.
#[derive(Debug)]
pub(super) struct Planned<'p> {
    pub(super) step: &'p Step,
    pub(super) stack: &'p Stack,
}

impl<'p> Planned<'p> {
    /// The type's short name (`Bucket` for `palisade-security:index:Bucket`).
    pub(super) fn kind(&self) -> &'p str {
        self.step.token.rsplit(':').next().unwrap_or_default()
    }

    pub(super) fn is(&self, kind: &str) -> bool {
        self.kind() == kind
    }

    pub(super) fn urn(&self) -> &str {
        &self.step.urn
    }

    pub(super) fn account_id(&self) -> &str {
        &self.stack.account.account_id
    }

    /// `stack/Kind/name`, as messages name a resource.
    pub(super) fn label(&self) -> String {
        format!("{}/{}/{}", self.step.stack, self.kind(), self.step.name)
    }

    /// `stack` (account `id`), as messages name where a resource lives.
    pub(super) fn place(&self) -> String {
        format!("stack `{}` (account {})", self.step.stack, self.account_id())
    }
}

/// A property as the rules read it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Input {
    /// Not given (the provider's default applies).
    Absent,
    /// Known, with references rewritten as described in the module docs.
    Known(Json),
    /// Not known until apply, and not a reference either.
    Unknown,
}

impl Input {
    /// The string, if the property is a known string.
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Input::Known(Json::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The strings of a known list (other items skipped); empty when absent.
    pub(super) fn strings(&self) -> Vec<&str> {
        match self {
            Input::Known(Json::Array(items)) => items.iter().filter_map(Json::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// Whether `text` holds no reference still waiting for its value.
pub(super) fn is_literal(text: &str) -> bool {
    !text.contains(MARKER_START)
}

/// A policy document's statements, parsed once and shared.
pub(super) type Statements = Rc<[Statement]>;

/// Positions of resources by the value of one of their outputs.
type ByValue = HashMap<String, usize>;

/// The plan's resources, ready for the rules.
pub(super) struct PlanView<'p> {
    resources: Vec<Planned<'p>>,
    by_urn: HashMap<&'p str, usize>,
    /// Positions in `resources` per kind, in plan order: rules that look for a kind per resource
    /// read only that kind's resources, not the whole plan's.
    by_kind: HashMap<&'p str, Vec<usize>>,
    /// The recorded outputs of each resource that is kept (same or updated), decoded once: rules
    /// read them per resource they judge, and decoding them at each read made a plan of kept
    /// resources cost the square of its size.
    kept_outputs: Vec<Option<PropertyMap>>,
    /// Per kind and output property, the first resource (in plan order) with each value, built at
    /// the first [`PlanView::named`] lookup: rules look resources up by id or ARN for each resource
    /// they judge, and reading every resource of the kind at each lookup made them quadratic.
    named: RefCell<HashMap<(&'static str, &'static str), Rc<ByValue>>>,
    /// What rules derive from the whole plan, by name, kept from its first use
    /// ([`PlanView::once`]).
    derived: RefCell<HashMap<&'static str, Rc<dyn Any>>>,
    /// Policy documents parsed, by resource position and property ([`PlanView::statements`]).
    policies: RefCell<HashMap<(usize, &'static str), Option<Statements>>>,
}

impl<'p> PlanView<'p> {
    /// Every step of `plan` that is not a delete, with its stack.
    pub(super) fn new(plan: &'p Plan, stacks: &'p [Stack]) -> Self {
        let resources: Vec<Planned<'p>> = plan
            .steps
            .iter()
            .filter(|step| step.operation != Operation::Delete)
            .filter_map(|step| {
                let stack = stacks.iter().find(|s| s.name == step.stack)?;
                Some(Planned { step, stack })
            })
            .collect();
        let by_urn = resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.step.urn.as_str(), i))
            .collect();
        let mut by_kind: HashMap<&'p str, Vec<usize>> = HashMap::new();
        for (i, r) in resources.iter().enumerate() {
            by_kind.entry(r.kind()).or_default().push(i);
        }
        let kept_outputs = resources
            .iter()
            .map(|r| {
                let kept = matches!(r.step.operation, Operation::Same | Operation::Update);
                r.step.old.as_ref().filter(|_| kept).map(|old| old.output_map())
            })
            .collect();
        Self {
            resources,
            by_urn,
            by_kind,
            kept_outputs,
            named: RefCell::default(),
            derived: RefCell::default(),
            policies: RefCell::default(),
        }
    }

    /// The statements of the policy document in input `property` of `resource`, parsed at the first
    /// read and kept: a policy that grows with the number of accounts (dev's bucket and key
    /// policies) is read again for every account that relies on it. `None` while the document is
    /// not known until apply.
    pub(super) fn statements(&self, resource: &Planned<'_>, property: &'static str) -> Option<Statements> {
        let parse = || match self.input(resource, property) {
            Input::Unknown => None,
            input => Some(Rc::from(policy::statements(&input))),
        };
        match self.by_urn.get(resource.urn()) {
            Some(&at) => cached(&self.policies, (at, property), parse),
            None => parse(),
        }
    }

    /// `derive(self)`, computed at the first call with `name` and kept for the others: for facts
    /// about the whole plan that a rule needs for each resource it judges.
    pub(super) fn once<T: Any>(&self, name: &'static str, derive: impl FnOnce(&Self) -> T) -> Rc<T> {
        let kept = self.derived.borrow().get(name).cloned();
        if let Some(kept) = kept.and_then(|kept| kept.downcast::<T>().ok()) {
            return kept;
        }
        let derived = Rc::new(derive(self));
        self.derived.borrow_mut().insert(name, derived.clone() as Rc<dyn Any>);
        derived
    }

    /// The resources the rules judge: planned, and accepted by their provider's Check.
    pub(super) fn judged(&self) -> impl Iterator<Item = &Planned<'p>> {
        self.resources.iter().filter(|r| r.step.failures.is_empty())
    }

    pub(super) fn find(&self, urn: &str) -> Option<&Planned<'p>> {
        self.by_urn.get(urn).map(|&i| &self.resources[i])
    }

    /// Every planned resource of type `kind`.
    pub(super) fn of_kind(&self, kind: &str) -> impl Iterator<Item = &Planned<'p>> {
        self.by_kind
            .get(kind)
            .into_iter()
            .flatten()
            .map(|&i| &self.resources[i])
    }

    /// The planned resources of type `kind` in `stack`.
    pub(super) fn in_stack(&self, stack: &str, kind: &str) -> impl Iterator<Item = &Planned<'p>> {
        let stack = stack.to_string();
        self.of_kind(kind).filter(move |r| r.step.stack == stack)
    }

    /// The resource of type `kind` whose output `property` is `value` (as the rules read values);
    /// the first in plan order when several are.
    pub(super) fn named(&self, kind: &'static str, property: &'static str, value: &str) -> Option<&Planned<'p>> {
        let index = cached(&self.named, (kind, property), || {
            let mut index = ByValue::new();
            for &i in self.by_kind.get(kind).into_iter().flatten() {
                index.entry(self.output(self.resources[i].urn(), property)).or_insert(i);
            }
            Rc::new(index)
        });
        index.get(value).map(|&i| &self.resources[i])
    }

    /// Property `property` of `resource`. The declared value is read where it holds a reference
    /// (rewritten, see the module docs); otherwise the checked value, which has the provider's
    /// defaults and auto-names.
    pub(super) fn input(&self, resource: &Planned<'_>, property: &str) -> Input {
        let declared = resource.step.declared.as_ref().and_then(|d| d.get(property));
        let checked = resource.step.inputs.get(property);
        let declared_json = declared.and_then(PropertyValue::to_json);
        if let Some(json) = &declared_json {
            if holds_reference(json) {
                return known(self.rewrite(json, resource.urn()));
            }
        }
        match checked.map(PropertyValue::to_json) {
            Some(Some(json)) => known(json),
            Some(None) => declared_json.map(known).unwrap_or(Input::Unknown),
            None => declared_json.map(known).unwrap_or(Input::Absent),
        }
    }

    /// Whether `resource` has an input named `property`.
    fn has_input(resource: &Planned<'_>, property: &str) -> bool {
        resource.step.inputs.contains_key(property)
            || resource
                .step
                .declared
                .as_ref()
                .is_some_and(|d| d.contains_key(property))
    }

    /// The value of output `property` of the resource `urn`, as far as it can be known before apply;
    /// otherwise the reference's marker, which stands for it.
    pub(super) fn output(&self, urn: &str, property: &str) -> String {
        let Some(&index) = self.by_urn.get(urn) else {
            return marker(urn, property);
        };
        let resource = &self.resources[index];
        // An existing resource that is kept keeps its ids and ARNs.
        if let Some(kept) = &self.kept_outputs[index] {
            if !Self::has_input(resource, property) {
                if let Some(PropertyValue::String(value)) = kept.get(property) {
                    return value.clone();
                }
            }
        }
        // Outputs that repeat an input (`bucket`, `roleName`, ...).
        if let Input::Known(Json::String(value)) = self.input(resource, property) {
            return value;
        }
        self.derived(resource, property)
            .unwrap_or_else(|| marker(urn, property))
    }

    /// Outputs that follow from other properties: ARNs built from names and ids.
    fn derived(&self, resource: &Planned<'_>, property: &str) -> Option<String> {
        let account = resource.account_id();
        let region = &resource.stack.account.region;
        let urn = resource.urn();
        match (resource.kind(), property) {
            (Bucket::NAME, BucketState::ARN) => Some(bucket_arn(&self.output(urn, BucketArgs::BUCKET))),
            (Role::NAME, RoleState::ARN) => {
                let path = self.input(resource, RoleArgs::PATH);
                Some(role_arn(
                    account,
                    path.as_str().unwrap_or("/"),
                    &self.output(urn, RoleArgs::ROLE_NAME),
                ))
            }
            (KmsKey::NAME, KmsKeyState::ARN) => Some(format!(
                "arn:aws:kms:{region}:{account}:key/{}",
                self.output(urn, KmsKeyState::KEY_ID)
            )),
            (ModelPackageGroup::NAME, ModelPackageGroupState::ARN) => Some(format!(
                "arn:aws:sagemaker:{region}:{account}:model-package-group/{}",
                self.output(urn, ModelPackageGroupArgs::MODEL_PACKAGE_GROUP_NAME)
            )),
            _ => None,
        }
    }

    /// `json`, an input of the resource `own`, with every reference rewritten to the referenced
    /// output (see [`PlanView::output`]). A reference of a resource to itself stays as it is.
    fn rewrite(&self, json: &Json, own: &str) -> Json {
        let lookup = |urn: &str, property: &str| {
            let value = if urn == own {
                marker(urn, property)
            } else {
                self.output(urn, property)
            };
            Some(PropertyValue::String(value))
        };
        let wrapped: PropertyMap = [("value".to_string(), PropertyValue::from_json(json))].into();
        resolve(&wrapped, &lookup)
            .get("value")
            .and_then(PropertyValue::to_json)
            .unwrap_or(Json::Null)
    }

    /// `text` for people: each reference still waiting for its value shown as
    /// `stack/Kind/name.property`.
    pub(super) fn describe(&self, text: &str) -> String {
        if is_literal(text) {
            return text.to_string();
        }
        let lookup = |urn: &str, property: &str| {
            let shown = match self.find(urn) {
                Some(resource) => format!("{}.{property}", resource.label()),
                None => format!("{urn}.{property}"),
            };
            Some(PropertyValue::String(shown))
        };
        let wrapped: PropertyMap = [("value".to_string(), PropertyValue::String(text.to_string()))].into();
        match resolve(&wrapped, &lookup).get("value") {
            Some(PropertyValue::String(shown)) => shown.clone(),
            _ => text.to_string(),
        }
    }
}

/// The value `cache` holds for `key`, computed by `compute` at the first request and kept. The cache
/// is not borrowed while `compute` runs, so that may read the cache itself.
fn cached<K: Eq + Hash, V: Clone>(cache: &RefCell<HashMap<K, V>>, key: K, compute: impl FnOnce() -> V) -> V {
    if let Some(kept) = cache.borrow().get(&key) {
        return kept.clone();
    }
    let value = compute();
    cache.borrow_mut().insert(key, value.clone());
    value
}

fn known(json: Json) -> Input {
    match json {
        Json::Null => Input::Absent,
        other => Input::Known(other),
    }
}

fn holds_reference(json: &Json) -> bool {
    match json {
        Json::String(text) => !is_literal(text),
        Json::Array(items) => items.iter().any(holds_reference),
        Json::Object(map) => map.values().any(holds_reference),
        _ => false,
    }
}

/// The object in `input`, empty when absent or not an object.
pub(super) fn object(input: &Input) -> Map<String, Json> {
    match input {
        Input::Known(Json::Object(map)) => map.clone(),
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::Account;
    use crate::state::{to_wire_json, ResourceState};
    use palisade_provider_kit::value::map_from_json;
    use serde_json::json;
    use std::collections::BTreeMap;

    const BUCKET: &str = "urn:pulumi:dev::p::palisade-security:index:Bucket::models";
    const KEY: &str = "urn:pulumi:dev::p::palisade-security:index:KmsKey::s3";
    const ROLE: &str = "urn:pulumi:dev::p::palisade-security:index:Role::exec";
    const POLICY: &str = "urn:pulumi:dev::p::palisade-security:index:BucketPolicy::models";

    fn step(urn: &str, declared: Json, checked: Json) -> Step {
        let token = urn.split("::").nth(2).unwrap_or_default().to_string();
        Step {
            stack: "dev".into(),
            urn: urn.into(),
            token: token.clone(),
            name: urn.rsplit("::").next().unwrap_or_default().into(),
            package: token.split(':').next().unwrap_or_default().into(),
            operation: Operation::Create,
            declared: Some(map_from_json(&declared)),
            inputs: map_from_json(&checked),
            old: None,
            diff: BTreeMap::new(),
            delete_before_replace: false,
            dependencies: Vec::new(),
            protect: false,
            data_loss: None,
            holds_data: None,
            failures: Vec::new(),
        }
    }

    fn plan(steps: Vec<Step>) -> (Plan, Vec<Stack>) {
        let plan = Plan {
            steps,
            ..Plan::default()
        };
        (
            plan,
            vec![Stack::new("dev", Account::new("dev", "111111111111", "eu-west-1"))],
        )
    }

    #[test]
    fn references_read_as_names_and_arns_where_those_follow_from_the_declaration() {
        let (plan, stacks) = plan(vec![
            step(KEY, json!({}), json!({})),
            step(BUCKET, json!({"bucket": "models-1"}), json!({"bucket": "models-1"})),
            step(
                ROLE,
                json!({"roleName": "exec"}),
                json!({"roleName": "exec", "path": "/"}),
            ),
            step(
                POLICY,
                json!({"bucket": marker(BUCKET, "bucket"), "grants": [
                    format!("{}/*", marker(BUCKET, "arn")), marker(ROLE, "arn"), marker(KEY, "arn")
                ]}),
                json!({"bucket": "models-1"}),
            ),
        ]);
        let view = PlanView::new(&plan, &stacks);
        let policy = view.find(POLICY).expect("planned");
        assert_eq!(view.input(policy, "bucket"), Input::Known(json!("models-1")));
        assert_eq!(
            view.input(policy, "grants"),
            Input::Known(json!([
                "arn:aws:s3:::models-1/*",
                "arn:aws:iam::111111111111:role/exec",
                format!("arn:aws:kms:eu-west-1:111111111111:key/{}", marker(KEY, "keyId")),
            ]))
        );
        assert_eq!(
            view.named("Role", "arn", "arn:aws:iam::111111111111:role/exec")
                .map(|r| r.urn()),
            Some(ROLE)
        );
        assert_eq!(
            view.describe(&view.output(KEY, "arn")),
            "arn:aws:kms:eu-west-1:111111111111:key/dev/KmsKey/s3.keyId"
        );
    }

    #[test]
    fn an_existing_resource_keeps_its_ids_unless_it_is_replaced() {
        let mut key = step(KEY, json!({}), json!({}));
        key.operation = Operation::Same;
        key.old = Some(ResourceState {
            urn: KEY.into(),
            token: String::new(),
            package: String::new(),
            id: "k-1".into(),
            inputs: json!({}),
            outputs: to_wire_json(&map_from_json(&json!({"keyId": "k-1"}))),
            dependencies: Vec::new(),
            protect: false,
            holds_data: None,
        });
        let (mut plan, stacks) = plan(vec![key]);
        assert_eq!(PlanView::new(&plan, &stacks).output(KEY, "keyId"), "k-1");
        plan.steps[0].operation = Operation::Replace;
        assert_eq!(PlanView::new(&plan, &stacks).output(KEY, "keyId"), marker(KEY, "keyId"));
    }

    #[test]
    fn lookups_by_output_find_the_first_in_plan_order_and_whole_plan_facts_are_derived_once() {
        let role = |name: &str| {
            let urn = format!("urn:pulumi:dev::p::palisade-security:index:Role::{name}");
            step(
                &urn,
                json!({"roleName": "exec"}),
                json!({"roleName": "exec", "path": "/"}),
            )
        };
        let (plan, stacks) = plan(vec![role("first"), role("second")]);
        let view = PlanView::new(&plan, &stacks);
        let arn = "arn:aws:iam::111111111111:role/exec";
        for _ in 0..2 {
            assert_eq!(
                view.named("Role", "arn", arn).map(|r| r.step.name.as_str()),
                Some("first")
            );
            assert!(view
                .named("Role", "arn", "arn:aws:iam::111111111111:role/other")
                .is_none());
        }
        let calls = std::cell::Cell::new(0);
        for _ in 0..3 {
            let roles = view.once("roles", |view| {
                calls.set(calls.get() + 1);
                view.of_kind("Role").count()
            });
            assert_eq!(*roles, 2);
        }
        assert_eq!(calls.get(), 1);
    }
}
