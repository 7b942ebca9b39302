//! Plans a reviewer can trust, with an in-process fake provider: apply re-decides each step with
//! the values known then and never does more than the preview showed; data is never destroyed
//! unless the run names it; two projects in one state directory never touch each other; a stack
//! selected alone reads its references from the other stacks' state; an interrupted create is
//! settled from the journal; waivers accumulate.

mod fake;

use std::path::PathBuf;

use fake::{Elsewhere, Log, Thing, ThingArgs, Vault};
use palisade::engine::{ApplyOptions, Engine, EngineError, Hosts, Operation};
use palisade::stack::Options;
use palisade::state::PendingOperation;
use palisade::{Account, Stack, StateStore};

fn store(name: &str) -> StateStore {
    let dir: PathBuf = std::env::temp_dir().join(format!("palisade-trust-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    StateStore::new(dir)
}

fn dev() -> Stack {
    Stack::new("dev", Account::new("dev", "111111111111", "eu-west-1"))
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

async fn up(engine: &Engine, hosts: &Hosts) -> palisade::engine::ApplyReport {
    let plan = engine.plan(hosts, false).await.expect("plan");
    let report = engine.apply(&plan, hosts, &mut Vec::new()).await.expect("apply");
    assert!(report.ok(), "{report:?}");
    report
}

fn operation_of(plan: &palisade::Plan, name: &str) -> Operation {
    plan.steps.iter().find(|s| s.name == name).expect(name).operation
}

/// `a` is replaced; its dependants refer to its outputs, which the preview cannot know. Once `a`
/// exists again its `value` is what it was, so the dependant planned as a replace needs nothing,
/// and the one with a real change of its own is updated in place, not replaced.
#[tokio::test]
async fn a_dependency_replaced_under_its_dependants_changes_them_only_as_much_as_the_known_values_need() {
    let (hosts, log) = hosts(&["dev"]).await;
    let declare = |replace_key: &str, b_value: &str| {
        let mut dev = dev();
        let a = dev
            .resource::<Thing>(
                "a",
                ThingArgs {
                    value: "kept".into(),
                    replace_key: Some(replace_key.into()),
                    opaque_preview: Some(true),
                    ..Default::default()
                },
            )
            .expect("a");
        for (name, value) in [("b", "same"), ("c", b_value)] {
            dev.resource::<Thing>(
                name,
                ThingArgs {
                    value: value.into(),
                    replace_key: Some(a.value()),
                    ..Default::default()
                },
            )
            .expect(name);
        }
        dev
    };
    let store = store("replace-under");
    up(&Engine::new(vec![declare("1", "old")], store.clone()), &hosts).await;
    log.clear();

    let engine = Engine::new(vec![declare("2", "new")], store);
    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert_eq!(operation_of(&plan, "a"), Operation::Replace);
    assert_eq!(
        operation_of(&plan, "b"),
        Operation::Replace,
        "the preview cannot know a's new value: replaceKey may change"
    );
    assert_eq!(operation_of(&plan, "c"), Operation::Replace);
    let report = engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    assert!(report.ok(), "{report:?}");
    let entries = log.entries();
    assert!(entries.iter().any(|e| e.starts_with("create a ")), "{entries:?}");
    assert!(
        !entries
            .iter()
            .any(|e| e.starts_with("create b ") || e.starts_with("delete b ") || e == "update b"),
        "b needed nothing once a's value was known: {entries:?}"
    );
    assert!(
        entries.contains(&"update c".to_string()),
        "c was updated in place: {entries:?}"
    );
    assert!(
        !entries
            .iter()
            .any(|e| e.starts_with("create c ") || e.starts_with("delete c ")),
        "c was not replaced: {entries:?}"
    );
    assert!(report.unchanged.iter().any(|u| u.ends_with("::b")));
    assert!(report
        .downgraded
        .iter()
        .any(|(u, planned, done)| u.ends_with("::c") && *planned == Operation::Replace && *done == Operation::Update));
    // And the state agrees: a second plan has nothing to do.
    let again = engine.plan(&hosts, false).await.expect("plan");
    assert!(!again.has_changes(), "{:?}", again.counts());
}

/// A step the preview showed as an update, which with the values known at apply would replace
/// its resource, is refused: nothing is created or deleted, and the message says to preview again.
#[tokio::test]
async fn apply_refuses_a_step_that_would_now_do_more_than_the_preview_showed() {
    let (hosts, log) = hosts(&["dev"]).await;
    let store = store("exceeds");
    let mut first = dev();
    first
        .resource::<Thing>(
            "t",
            ThingArgs {
                value: "v".into(),
                replace_key: Some("1".into()),
                ..Default::default()
            },
        )
        .expect("t");
    up(&Engine::new(vec![first], store.clone()), &hosts).await;
    log.clear();

    let mut second = dev();
    second
        .resource::<Thing>(
            "t",
            ThingArgs {
                value: "v".into(),
                replace_key: Some("2".into()),
                ..Default::default()
            },
        )
        .expect("t");
    let engine = Engine::new(vec![second], store);
    let mut plan = engine.plan(&hosts, false).await.expect("plan");
    assert_eq!(plan.steps[0].operation, Operation::Replace);
    // A preview that showed less (an update) than applying would do.
    plan.steps[0].operation = Operation::Update;
    let report = engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    let (_, reason) = report.failed.first().expect("refused");
    assert!(reason.contains("which the preview did not show"), "{reason}");
    assert!(reason.contains("run preview again"), "{reason}");
    assert!(reason.contains("replaceKey (UPDATE_REPLACE)"), "{reason}");
    assert!(log.entries().is_empty(), "nothing changed: {:?}", log.entries());
}

#[tokio::test]
async fn replacing_or_deleting_data_is_refused_unless_the_run_names_it() {
    let (hosts, log) = hosts(&["dev"]).await;
    let store = store("data");
    let declare = |key: &str, allow: bool| {
        let mut dev = dev();
        dev.resource_with::<Vault>(
            "vault",
            ThingArgs {
                value: "v".into(),
                replace_key: Some(key.into()),
                ..Default::default()
            },
            Options {
                allow_data_loss: allow,
                ..Options::default()
            },
        )
        .expect("vault");
        dev.resource::<Thing>("plain", thing(key)).expect("plain");
        dev
    };
    up(&Engine::new(vec![declare("1", false)], store.clone()), &hosts).await;
    log.clear();

    let engine = Engine::new(vec![declare("2", false)], store.clone());
    let plan = engine.plan(&hosts, false).await.expect("plan");
    let vault = plan.steps.iter().find(|s| s.name == "vault").expect("vault");
    assert_eq!(vault.operation, Operation::Replace);
    assert_eq!(vault.data_loss.as_deref(), Some("the vault's contents"));
    assert!(
        plan.steps
            .iter()
            .find(|s| s.name == "plain")
            .expect("plain")
            .data_loss
            .is_none(),
        "a kind without data is not marked"
    );
    let refused = engine.apply(&plan, &hosts, &mut Vec::new()).await.expect_err("refused");
    assert!(matches!(refused, EngineError::DataLoss { .. }), "{refused}");
    let message = refused.to_string();
    assert!(
        message.contains("dev replace Vault vault (vault: the vault's contents)"),
        "{message}"
    );
    assert!(message.contains("--allow-replace vault"), "{message}");
    assert!(
        log.entries().is_empty(),
        "nothing at all was applied: {:?}",
        log.entries()
    );

    let allowed = ApplyOptions {
        allow_data_loss: vec!["vault".into()],
        ..ApplyOptions::default()
    };
    let report = engine
        .apply_with(&plan, &hosts, &allowed, &mut Vec::new())
        .await
        .expect("named");
    assert!(report.ok(), "{report:?}");
    assert!(
        log.entries().iter().any(|e| e.starts_with("delete vault ")),
        "{:?}",
        log.entries()
    );

    // A declaration that opts out is not protected; deleting a protected one is marked too.
    let opted_out = Engine::new(vec![declare("3", true)], store.clone());
    let plan = opted_out.plan(&hosts, false).await.expect("plan");
    assert!(plan.data_loss().next().is_none());
    let destroy = Engine::new(vec![declare("2", false)], store)
        .plan(&hosts, true)
        .await
        .expect("destroy plan");
    let marked: Vec<&str> = destroy.data_loss().map(|s| s.name.as_str()).collect();
    assert_eq!(marked, vec!["vault"], "destroy lists what holds data");
}

#[tokio::test]
async fn two_projects_with_the_same_stack_names_never_touch_each_other() {
    let (hosts, log) = hosts(&["dev"]).await;
    let store = store("projects");
    let env = |project: &str, names: &[&str]| {
        let mut dev = dev().project(project);
        for name in names {
            dev.resource::<Thing>(*name, thing(project)).expect("thing");
        }
        dev
    };
    up(&Engine::new(vec![env("blue", &["a", "b", "c"])], store.clone()), &hosts).await;
    let green = Engine::new(vec![env("green", &["a"])], store.clone());
    let plan = green.plan(&hosts, false).await.expect("plan");
    assert_eq!(plan.counts().get(&Operation::Delete), None, "{:?}", plan.counts());
    assert_eq!(plan.counts().get(&Operation::Create), Some(&1));
    up(&green, &hosts).await;
    log.clear();

    let destroyed = green.plan(&hosts, true).await.expect("destroy plan");
    assert_eq!(destroyed.steps.len(), 1, "green's destroy deletes green's one resource");
    green.apply(&destroyed, &hosts, &mut Vec::new()).await.expect("destroy");
    assert_eq!(log.entries().len(), 1, "{:?}", log.entries());
    let blue = Engine::new(vec![env("blue", &["a", "b", "c"])], store);
    assert!(
        !blue.plan(&hosts, false).await.expect("plan").has_changes(),
        "blue untouched"
    );
}

#[tokio::test]
async fn a_stack_selected_alone_reads_its_references_from_the_other_stacks_state() {
    let (hosts, log) = hosts(&["dev", "prod"]).await;
    let store = store("select");
    let declare = |prod_value: &str| {
        let mut dev = dev();
        let shared = dev.resource::<Thing>("shared", thing("from-dev")).expect("shared");
        let mut prod = Stack::new("prod", Account::new("prod", "333333333333", "eu-west-1"));
        prod.resource::<Thing>(
            "user",
            ThingArgs {
                value: prod_value.into(),
                replace_key: Some(shared.id()),
                ..Default::default()
            },
        )
        .expect("user");
        vec![dev, prod]
    };
    let only_prod = Some(&["prod".to_string()][..]);
    let unapplied = Engine::new(declare("v"), store.clone()).select(only_prod);
    let error = unapplied.plan(&hosts, false).await.expect_err("dev has no state yet");
    assert!(matches!(error, EngineError::UnappliedReference { .. }), "{error}");
    assert!(error.to_string().contains("select `dev` too"), "{error}");

    up(&Engine::new(declare("v"), store.clone()), &hosts).await;
    log.clear();
    let engine = Engine::new(declare("changed"), store).select(only_prod);
    let plan = engine.plan(&hosts, false).await.expect("prod alone plans");
    assert!(plan.steps.iter().all(|s| s.stack == "prod"), "dev is not planned");
    assert_eq!(
        plan.steps[0].operation,
        Operation::Update,
        "dev's id came from its state, not unknown"
    );
    let report = engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    assert!(report.ok(), "{report:?}");
    assert_eq!(log.entries(), vec!["update user"]);
}

#[tokio::test]
async fn an_interrupted_create_is_found_again_from_the_journal_and_adopted() {
    let (hosts, log) = hosts(&["dev"]).await;
    let store = store("journal");
    let mut declared = dev();
    declared.resource::<Thing>("made", thing("v")).expect("made");
    let engine = Engine::new(vec![declared], store.clone());
    let plan = engine.plan(&hosts, false).await.expect("plan");
    up(&engine, &hosts).await;

    // Simulate a run killed after `made`'s create reached the cloud and before the state recorded
    // it: the journal has the create, the state has nothing.
    let mut state = store.load("palisade", "dev", "111111111111").expect("state");
    state.resources.clear();
    for step in &plan.steps {
        state.pending.push(PendingOperation {
            urn: step.urn.clone(),
            operation: "create".into(),
            replaced: None,
            inputs: Some(palisade::state::to_wire_json(&step.inputs)),
        });
    }
    store.save(&state).expect("save");
    log.clear();

    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert!(
        plan.recovered
            .iter()
            .any(|r| r.contains("interrupted create of made had made id-1; it is adopted")),
        "{:?}",
        plan.recovered
    );
    assert_eq!(
        operation_of(&plan, "made"),
        Operation::Same,
        "adopted, so nothing to create"
    );
    let report = engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    assert!(report.ok(), "{report:?}");
    assert!(log.entries().is_empty(), "no second create: {:?}", log.entries());
    let state = store.load("palisade", "dev", "111111111111").expect("state");
    assert_eq!(state.resources.len(), 1, "recorded");
    assert!(state.pending.is_empty(), "the journal is settled: {:?}", state.pending);
}

#[tokio::test]
async fn an_interrupted_create_that_left_nothing_is_created_once() {
    let (hosts, log) = hosts(&["dev"]).await;
    let store = store("journal-absent");
    let mut declared = dev();
    let urn = declared.urn("fake:index:Thing", "t");
    declared.resource::<Thing>("t", thing("v")).expect("t");
    let mut state = store.load("palisade", "dev", "111111111111").expect("state");
    state.pending.push(PendingOperation {
        urn,
        operation: "create".into(),
        replaced: None,
        inputs: None,
    });
    store.save(&state).expect("save");
    let engine = Engine::new(vec![declared], store.clone());
    let plan = engine.plan(&hosts, false).await.expect("plan");
    assert!(
        plan.recovered.iter().any(|r| r.contains("left nothing behind")),
        "{:?}",
        plan.recovered
    );
    assert_eq!(plan.steps[0].operation, Operation::Create);
    engine.apply(&plan, &hosts, &mut Vec::new()).await.expect("apply");
    assert_eq!(log.entries(), vec!["create t id-1"]);
    assert!(store
        .load("palisade", "dev", "111111111111")
        .expect("state")
        .pending
        .is_empty());
}

#[tokio::test]
async fn waivers_accumulate_with_their_time() {
    let mut declared = dev();
    declared.resource::<Thing>("t", thing("v")).expect("t");
    let store = store("waivers");
    let engine = Engine::new(vec![declared], store.clone());
    engine.record_waivers(&["PAL-NET-01".into()]).expect("first");
    engine.record_waivers(&["PAL-KMS-01".into()]).expect("second");
    let state = store.load("palisade", "dev", "111111111111").expect("state");
    let rules: Vec<&str> = state.waivers.iter().map(|w| w.rule.as_str()).collect();
    assert_eq!(rules, vec!["PAL-NET-01", "PAL-KMS-01"]);
    assert!(state.waivers.iter().all(|w| w.at.ends_with('Z')), "{:?}", state.waivers);
}

#[tokio::test]
async fn a_second_run_on_the_same_stack_is_refused_naming_the_holder() {
    let mut declared = dev();
    declared.resource::<Thing>("t", thing("v")).expect("t");
    let engine = Engine::new(vec![declared], store("lock"));
    let held = engine.lock().expect("first");
    let error = engine.lock().expect_err("second").to_string();
    assert!(error.contains(&format!("process {}", std::process::id())), "{error}");
    drop(held);
    engine.lock().expect("released");
}

#[tokio::test]
async fn a_stack_whose_account_moved_region_is_refused_not_planned() {
    let (hosts, _log) = hosts(&["dev"]).await;
    let store = store("region");
    let mut declared = dev();
    declared.resource::<Thing>("t", thing("v")).expect("t");
    up(&Engine::new(vec![declared], store.clone()), &hosts).await;
    let mut moved = Stack::new("dev", Account::new("dev", "111111111111", "us-east-1"));
    moved.resource::<Thing>("t", thing("v")).expect("t");
    let error = Engine::new(vec![moved], store)
        .plan(&hosts, false)
        .await
        .expect_err("refused");
    assert!(matches!(error, EngineError::MovedRegion { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("in eu-west-1, but its account now names us-east-1"),
        "{error}"
    );
}

/// A provider that cannot be started at apply fails its own steps (and skips their dependants);
/// everything else runs to its end and is recorded.
#[tokio::test]
async fn a_provider_that_fails_to_start_fails_only_its_steps() {
    let (client, log) = fake::serve().await;
    let planning = Hosts::default();
    planning.connect("dev", "fake", client.clone()).await;
    planning.connect("dev", "fake-elsewhere", client.clone()).await;
    // At apply, the plugin of `fake-elsewhere` is nowhere to be found.
    let applying = Hosts::default();
    applying.connect("dev", "fake", client).await;

    let store = store("no-plugin");
    let mut declared = dev();
    let lost = declared.resource::<Elsewhere>("lost", thing("v")).expect("lost");
    declared
        .resource::<Thing>("needs-lost", thing(&lost.id()))
        .expect("needs-lost");
    declared.resource::<Thing>("fine", thing("v")).expect("fine");
    let engine = Engine::new(vec![declared], store.clone());
    let plan = engine.plan(&planning, false).await.expect("plan");
    let report = engine
        .apply(&plan, &applying, &mut Vec::new())
        .await
        .expect("apply runs to its end");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(
        report.failed[0].1.contains("pulumi-resource-fake-elsewhere"),
        "{report:?}"
    );
    assert!(
        report.skipped.iter().any(|(u, _)| u.ends_with("::needs-lost")),
        "{report:?}"
    );
    assert_eq!(log.entries(), vec!["create fine id-1"]);
    let state = store.load("palisade", "dev", "111111111111").expect("state");
    assert_eq!(state.resources.len(), 1, "the finished create is recorded");
    assert!(
        state.pending.iter().all(|p| !p.urn.ends_with("::fine")),
        "its journal entry is settled"
    );
}
