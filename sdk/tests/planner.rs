//! Planner and apply rules, with an in-process fake provider: ordering, cross-stack references,
//! replacement kinds, failure isolation, protect, cycles.

mod fake;

use std::path::PathBuf;

use fake::{Log, Thing, ThingArgs};
use palisade::engine::{Engine, EngineError, Hosts, Operation};
use palisade::stack::Options;
use palisade::{Account, Stack, StateStore};

fn store(name: &str) -> StateStore {
    let dir: PathBuf = std::env::temp_dir().join(format!("palisade-planner-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    StateStore::new(dir)
}

fn account(name: &str, id: &str) -> Account {
    Account::new(name, id, "eu-west-1")
}

fn thing(value: &str) -> ThingArgs {
    ThingArgs {
        value: value.into(),
        ..Default::default()
    }
}

async fn hosts(accounts: &[&str]) -> (Hosts, Log) {
    let (client, log) = fake::serve().await;
    let hosts = Hosts::default();
    for account in accounts {
        hosts.connect(account, "fake", client.clone()).await;
    }
    (hosts, log)
}

#[tokio::test]
async fn dependencies_come_first_whatever_the_declaration_order() {
    let (hosts, log) = hosts(&["dev"]).await;
    let mut dev = Stack::new("dev", account("dev", "111111111111"));
    // Declared last-first: c needs b, b needs a.
    let a_urn = dev.urn("fake:index:Thing", "a");
    let b_urn = dev.urn("fake:index:Thing", "b");
    dev.resource::<Thing>("c", thing(&palisade::reference::marker(&b_urn, "id")))
        .expect("c");
    dev.resource::<Thing>("b", thing(&palisade::reference::marker(&a_urn, "id")))
        .expect("b");
    dev.resource::<Thing>("a", thing("root")).expect("a");
    let engine = Engine::new(vec![dev], store("order"));
    let plan = engine.plan(&hosts, false).await.expect("plan");
    let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["a", "b", "c"]);
    let report = engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    assert!(report.ok(), "{report:?}");
    assert_eq!(log.entries(), vec!["create a id-1", "create b id-2", "create c id-3"]);
    let state = engine.load_states().expect("state");
    let c = state["dev"]
        .resources
        .iter()
        .find(|r| r.urn.ends_with("::c"))
        .expect("c");
    assert_eq!(c.inputs["value"], "id-2", "b's id flowed into c");
    assert_eq!(c.dependencies, vec![b_urn]);
}

#[tokio::test]
async fn a_reference_across_accounts_is_resolved_and_ordered() {
    let (hosts, _log) = hosts(&["dev", "prod"]).await;
    let mut dev = Stack::new("dev", account("dev", "111111111111"));
    let mut prod = Stack::new("prod", account("prod", "333333333333"));
    let role = prod.resource::<Thing>("role", thing("model-execution")).expect("role");
    dev.resource::<Thing>("grant", thing(&format!("allow {}", role.id())))
        .expect("grant");
    let engine = Engine::new(vec![dev, prod], store("cross"));
    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert_eq!(plan.steps[0].stack, "prod");
    let report = engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    assert!(report.ok(), "{report:?}");
    let state = engine.load_states().expect("state");
    assert_eq!(state["dev"].resources[0].inputs["value"], "allow id-1");
}

async fn replaced(fixed_name: bool) -> Vec<String> {
    let (hosts, log) = hosts(&["dev"]).await;
    let store = store(if fixed_name { "replace-fixed" } else { "replace-auto" });
    let declare = |key: &str| {
        let mut dev = Stack::new("dev", account("dev", "111111111111"));
        let mut args = thing("x");
        args.replace_key = Some(key.into());
        args.fixed_name = fixed_name.then(|| "fixed".to_string());
        dev.resource::<Thing>("t", args).expect("t");
        Engine::new(vec![dev], store.clone())
    };
    let first = declare("1");
    let plan = first.plan(&hosts, false).await.expect("plan");
    assert!(first.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());
    log.clear();
    let second = declare("2");
    let plan = second.plan(&hosts, false).await.expect("plan");
    assert_eq!(plan.steps[0].operation, Operation::Replace);
    assert_eq!(plan.steps[0].delete_before_replace, fixed_name);
    assert!(second.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());
    let state = second.load_states().expect("state");
    assert_eq!(state["dev"].resources[0].id, "id-2");
    log.entries()
}

#[tokio::test]
async fn replacement_creates_first_unless_the_provider_asks_to_delete_first() {
    assert_eq!(replaced(false).await, vec!["create t id-2", "delete t id-1"]);
    assert_eq!(replaced(true).await, vec!["delete t id-1", "create t id-2"]);
}

#[tokio::test]
async fn a_failure_stops_only_its_dependants() {
    let (hosts, log) = hosts(&["dev"]).await;
    let mut dev = Stack::new("dev", account("dev", "111111111111"));
    let mut broken = thing("x");
    broken.fail_create = Some(true);
    let x = dev.resource::<Thing>("x", broken).expect("x");
    dev.resource::<Thing>("y", thing(&x.id())).expect("y");
    dev.resource::<Thing>("z", thing("independent")).expect("z");
    let engine = Engine::new(vec![dev], store("isolation"));
    let plan = engine.plan(&hosts, false).await.expect("plan");
    let report = engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].0.ends_with("::x") && report.failed[0].1.contains("told to fail"),
        "{report:?}"
    );
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].0.ends_with("::y"));
    assert!(report.done.iter().any(|u| u.ends_with("::z")));
    assert!(
        log.entries().contains(&"create z id-1".to_string()),
        "{:?}",
        log.entries()
    );
    let state = engine.load_states().expect("state");
    assert_eq!(state["dev"].resources.len(), 1, "only z exists");
    assert!(state["dev"].pending.is_empty(), "the failed create is not left pending");
}

#[tokio::test]
async fn protected_resources_are_never_deleted() {
    let (hosts, log) = hosts(&["dev"]).await;
    let store = store("protect");
    let mut dev = Stack::new("dev", account("dev", "111111111111"));
    dev.resource_with::<Thing>(
        "keep",
        thing("x"),
        Options {
            protect: true,
            ..Default::default()
        },
    )
    .expect("keep");
    let engine = Engine::new(vec![dev], store.clone());
    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert!(engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());

    // No longer declared: the delete is planned but refused.
    let emptied = Engine::new(vec![Stack::new("dev", account("dev", "111111111111"))], store.clone());
    let plan = emptied.plan(&hosts, false).await.expect("plan");
    assert_eq!(plan.steps[0].operation, Operation::Delete);
    assert!(plan.steps[0].failures[0].reason.contains("protected"));
    let report = emptied.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    assert!(!report.ok());
    let destroy = emptied.plan(&hosts, true).await.expect("plan destroy");
    assert!(destroy.failures().next().is_some(), "destroy refuses too");
    assert!(
        !log.entries().iter().any(|e| e.starts_with("delete")),
        "{:?}",
        log.entries()
    );
    assert_eq!(emptied.load_states().expect("state")["dev"].resources.len(), 1);
}

#[tokio::test]
async fn an_unchanged_declaration_plans_nothing_and_a_change_plans_one_update() {
    let (hosts, log) = hosts(&["dev"]).await;
    let store = store("same");
    let declare = |value: &str| {
        let mut dev = Stack::new("dev", account("dev", "111111111111"));
        dev.resource::<Thing>("a", thing("fixed")).expect("a");
        dev.resource::<Thing>("b", thing(value)).expect("b");
        Engine::new(vec![dev], store.clone())
    };
    let engine = declare("one");
    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert!(engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());
    log.clear();
    let plan = declare("one").plan(&hosts, false).await.expect("plan");
    assert!(!plan.has_changes());
    let plan = declare("two").plan(&hosts, false).await.expect("plan");
    let changed: Vec<_> = plan.steps.iter().filter(|s| s.operation != Operation::Same).collect();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].operation, Operation::Update);
    assert_eq!(
        changed[0].diff.get("value"),
        Some(&palisade::kit::diff::DiffKind::Update)
    );
    assert!(
        log.entries().is_empty(),
        "planning made no mutating call: {:?}",
        log.entries()
    );
}

#[tokio::test]
async fn cycles_and_dangling_references_are_named() {
    let (hosts, _log) = hosts(&["dev"]).await;
    let mut dev = Stack::new("dev", account("dev", "111111111111"));
    let a = dev.urn("fake:index:Thing", "a");
    let b = dev.urn("fake:index:Thing", "b");
    dev.resource::<Thing>("a", thing(&palisade::reference::marker(&b, "id")))
        .expect("a");
    dev.resource::<Thing>("b", thing(&palisade::reference::marker(&a, "id")))
        .expect("b");
    let error = Engine::new(vec![dev], store("cycle"))
        .plan(&hosts, false)
        .await
        .expect_err("cycle");
    assert!(matches!(error, EngineError::Cycle(_)), "{error}");

    let mut dev = Stack::new("dev", account("dev", "111111111111"));
    dev.resource::<Thing>(
        "a",
        thing(&palisade::reference::marker(
            "urn:pulumi:prod::p::fake:index:Thing::gone",
            "id",
        )),
    )
    .expect("a");
    let error = Engine::new(vec![dev], store("dangling"))
        .plan(&hosts, false)
        .await
        .expect_err("dangling");
    assert!(
        error.to_string().contains("which no stack of this program declares"),
        "{error}"
    );
}

#[tokio::test]
async fn a_replaced_resource_is_deleted_only_after_its_dependants_moved_to_the_new_one() {
    let (hosts, log) = hosts(&["dev"]).await;
    let store = store("replace-order");
    let declare = |key: &str| {
        let mut dev = Stack::new("dev", account("dev", "111111111111"));
        let mut config = thing("config");
        config.replace_key = Some(key.into());
        let config = dev.resource::<Thing>("config", config).expect("config");
        dev.resource::<Thing>("endpoint", thing(&config.id()))
            .expect("endpoint");
        Engine::new(vec![dev], store.clone())
    };
    let first = declare("1");
    let plan = first.plan(&hosts, false).await.expect("plan");
    assert!(first.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());
    log.clear();
    let second = declare("2");
    let plan = second.plan(&hosts, false).await.expect("plan");
    assert!(second.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());
    assert_eq!(
        log.entries(),
        vec!["create config id-3", "update endpoint", "delete config id-1"]
    );
    assert!(second.load_states().expect("state")["dev"].pending.is_empty());
}

#[tokio::test]
async fn holding_a_step_holds_everything_that_needs_it() {
    let (hosts, _log) = hosts(&["dev", "prod"]).await;
    let mut dev = Stack::new("dev", account("dev", "111111111111"));
    let mut prod = Stack::new("prod", account("prod", "333333333333"));
    let network = prod.resource::<Thing>("network", thing("vpc")).expect("network");
    let model = prod.resource::<Thing>("model", thing(&network.id())).expect("model");
    prod.resource::<Thing>("endpoint", thing(&model.id()))
        .expect("endpoint");
    dev.resource::<Thing>("grant", thing(&network.id())).expect("grant");
    let engine = Engine::new(vec![dev, prod], store("hold"));
    let plan = engine.plan(&hosts, false).await.expect("plan");

    let (now, later) = plan.hold(|step| step.name == "model");
    let names = |plan: &palisade::Plan| plan.steps.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&now), vec!["network", "grant"]);
    assert_eq!(names(&later), vec!["model", "endpoint"]);

    // Applying the part not held leaves the held resources for later, and they apply then.
    assert!(engine.apply(&now, &hosts, &mut Vec::new()).await.expect("apply").ok());
    assert!(engine.apply(&later, &hosts, &mut Vec::new()).await.expect("apply").ok());
    let again = engine.plan(&hosts, false).await.expect("plan");
    assert!(!again.has_changes());
}

#[tokio::test]
async fn a_replaced_resource_left_by_an_interrupted_run_is_deleted_by_the_next() {
    let (hosts, log) = hosts(&["dev"]).await;
    let store = store("leftover");
    let mut dev = Stack::new("dev", account("dev", "111111111111"));
    dev.resource::<Thing>("t", thing("x")).expect("t");
    let engine = Engine::new(vec![dev], store.clone());
    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert!(engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());

    // A run that replaced `t` and was killed before deleting the old one leaves this journal entry.
    let mut state = store.load("palisade", "dev", "111111111111").expect("state");
    let mut old = state.resources[0].clone();
    old.id = "id-old".into();
    state.pending.push(palisade::state::PendingOperation {
        urn: old.urn.clone(),
        operation: "delete-replaced id-old".into(),
        replaced: Some(old),
        inputs: None,
    });
    store.save(&state).expect("save");
    log.clear();

    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert_eq!(plan.leftovers.len(), 1);
    assert!(plan.has_changes(), "a leftover is a change to apply");
    let mut shown = Vec::new();
    palisade::render::write_plan(&mut shown, &plan).expect("render");
    let shown = String::from_utf8(shown).expect("utf-8");
    assert!(
        shown.contains("left by an interrupted replacement (id id-old)"),
        "{shown}"
    );

    assert!(engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());
    assert_eq!(log.entries(), vec!["delete t id-old"]);
    let state = store.load("palisade", "dev", "111111111111").expect("state");
    assert!(state.pending.is_empty(), "{:?}", state.pending);
    assert_eq!(state.resources[0].id, "id-1", "the live resource is untouched");
    assert!(!engine.plan(&hosts, false).await.expect("plan").has_changes());
}

#[tokio::test]
async fn a_replaced_resource_is_kept_while_a_dependant_failed_to_move_and_deletes_run_last() {
    let (hosts, log) = hosts(&["dev"]).await;
    let store = store("keep-replaced");
    let declare = |key: &str, fail_update: bool, with_extra: bool| {
        let mut dev = Stack::new("dev", account("dev", "111111111111"));
        let mut base = thing("base");
        base.replace_key = Some(key.into());
        let base = dev.resource::<Thing>("base", base).expect("base");
        let mut user = thing(&base.id());
        user.fail_update = Some(fail_update);
        dev.resource::<Thing>("user", user).expect("user");
        if with_extra {
            dev.resource::<Thing>("extra", thing("x")).expect("extra");
        }
        Engine::new(vec![dev], store.clone())
    };
    let first = declare("1", false, true);
    let plan = first.plan(&hosts, false).await.expect("plan");
    assert!(first.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());
    log.clear();

    // `base` is replaced, `user` fails to move onto the replacement, `extra` goes away: the old
    // base stays (journalled), and the delete of `extra` runs after everything else.
    let second = declare("2", true, false);
    let plan = second.plan(&hosts, false).await.expect("plan");
    let report = second.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let entries = log.entries();
    assert_eq!(
        entries.first().map(String::as_str),
        Some("create base id-4"),
        "{entries:?}"
    );
    assert_eq!(
        entries.last().map(String::as_str),
        Some("delete extra id-2"),
        "{entries:?}"
    );
    assert!(!entries.iter().any(|e| e == "delete base id-1"), "{entries:?}");
    let state = store.load("palisade", "dev", "111111111111").expect("state");
    assert!(
        state.pending.iter().any(|p| p.operation == "delete-replaced id-1"),
        "{:?}",
        state.pending
    );

    // Once the dependant moves, the next run deletes the old base.
    log.clear();
    let third = declare("2", false, false);
    let plan = third.plan(&hosts, false).await.expect("plan");
    assert_eq!(plan.leftovers.len(), 1);
    assert!(third.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());
    assert_eq!(log.entries(), vec!["update user", "delete base id-1"]);
}

#[tokio::test]
async fn import_refuses_a_resource_another_declaration_manages() {
    let (hosts, _log) = hosts(&["dev"]).await;
    let mut dev = Stack::new("dev", account("dev", "111111111111"));
    dev.resource::<Thing>("owner", thing("x")).expect("owner");
    dev.resource::<Thing>("newcomer", thing("x")).expect("newcomer");
    let engine = Engine::new(vec![dev], store("import-owned"));
    let plan = engine.plan(&hosts, false).await.expect("plan");
    let (owner_first, _) = plan.hold(|s| s.name == "newcomer");
    assert!(engine
        .apply(&owner_first, &hosts, &mut Vec::new())
        .await
        .expect("apply")
        .ok());
    let error = engine
        .import(&hosts, "dev", "newcomer", "id-1")
        .await
        .expect_err("id-1 belongs to owner");
    assert!(error.to_string().contains("already manages it as"), "{error}");
    assert!(error.to_string().contains("::owner"), "{error}");
}

#[tokio::test]
async fn holding_a_delete_holds_the_deletes_of_what_it_needs() {
    let (hosts, _log) = hosts(&["dev"]).await;
    let store = store("hold-deletes");
    let mut dev = Stack::new("dev", account("dev", "111111111111"));
    let network = dev.resource::<Thing>("network", thing("vpc")).expect("network");
    dev.resource::<Thing>("group", thing(&network.id())).expect("group");
    dev.resource::<Thing>("other", thing("x")).expect("other");
    let engine = Engine::new(vec![dev], store.clone());
    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert!(engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply").ok());

    // Nothing declared any more: three deletes. Holding the group's holds the network's too, which
    // must outlive it; the unrelated delete goes now.
    let empty = Engine::new(vec![Stack::new("dev", account("dev", "111111111111"))], store);
    let plan = empty.plan(&hosts, false).await.expect("plan");
    let (now, later) = plan.hold(|step| step.name == "group");
    let names = |plan: &palisade::Plan| plan.steps.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&now), vec!["other"]);
    let mut held = names(&later);
    held.sort();
    assert_eq!(held, vec!["group", "network"]);
}
