//! Drives a real provider binary exactly as the Pulumi engine would (start it, read the port line,
//! dial it) through every lifecycle call, against the local AWS emulator.

use std::time::{Duration, Instant};

use palisade::host::Plugin;
use palisade_proto::prost_types::Struct;
use palisade_proto::pulumirpc::{self as rpc, diff_response::DiffChanges, property_diff::Kind};
use palisade_proto::ResourceProviderClient;
use palisade_provider_kit::value::{decode_struct, encode_struct, map_from_json, map_to_json, PropertyValue, UNKNOWN};
use palisade_tests::{plugin_path, Emulator, DEFAULT_ACCOUNT};
use serde_json::{json, Value as Json};
use tonic::transport::Channel;

const VPC: &str = "palisade-network:index:Vpc";
const URN: &str = "urn:pulumi:conformance::palisade-tests::palisade-network:index:Vpc::main";

fn wire(json: Json) -> Option<Struct> {
    Some(encode_struct(&map_from_json(&json)))
}

fn plain(value: &Option<Struct>) -> Json {
    map_to_json(&decode_struct(value.as_ref().expect("a struct"))).expect("known values")
}

async fn start_network(emulator: &Emulator) -> (Plugin, ResourceProviderClient<Channel>) {
    let plugin = Plugin::start(
        &plugin_path("palisade-network").expect("plugin built"),
        &emulator.plugin_env(),
    )
    .await
    .expect("plugin starts");
    let client = plugin.client();
    (plugin, client)
}

async fn configure(client: &mut ResourceProviderClient<Channel>, args: Json) -> rpc::ConfigureResponse {
    client
        .configure(rpc::ConfigureRequest {
            args: wire(args),
            accept_secrets: true,
            ..Default::default()
        })
        .await
        .expect("configure")
        .into_inner()
}

async fn check(client: &mut ResourceProviderClient<Channel>, olds: Json, news: Json) -> rpc::CheckResponse {
    client
        .check(rpc::CheckRequest {
            urn: URN.into(),
            olds: wire(olds),
            news: wire(news),
            random_seed: b"conformance-seed".to_vec(),
            name: "main".into(),
            r#type: VPC.into(),
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner()
}

async fn diff(
    client: &mut ResourceProviderClient<Channel>,
    id: &str,
    olds: &Option<Struct>,
    news: &Option<Struct>,
) -> rpc::DiffResponse {
    client
        .diff(rpc::DiffRequest {
            id: id.into(),
            urn: URN.into(),
            olds: olds.clone(),
            news: news.clone(),
            old_inputs: olds.clone(),
            name: "main".into(),
            r#type: VPC.into(),
            ..Default::default()
        })
        .await
        .expect("diff")
        .into_inner()
}

#[tokio::test]
async fn network_provider_speaks_the_pulumi_protocol_through_a_vpc_lifecycle() {
    let emulator = Emulator::start().expect("emulator");
    let (plugin, mut client) = start_network(&emulator).await;

    // Identity and schema.
    let info = client.get_plugin_info(()).await.expect("info").into_inner();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    let handshake = client
        .handshake(rpc::ProviderHandshakeRequest::default())
        .await
        .expect("handshake")
        .into_inner();
    assert!(handshake.accept_secrets);
    let schema = client
        .get_schema(rpc::GetSchemaRequest::default())
        .await
        .expect("schema")
        .into_inner();
    let schema: Json = serde_json::from_str(&schema.schema).expect("schema is JSON");
    assert_eq!(schema["name"], "palisade-network");
    assert_eq!(
        schema["resources"][VPC]["inputProperties"]["cidrBlock"]["willReplaceOnChanges"],
        true
    );

    // Provider configuration: checked, then applied without touching the network.
    let bad = client
        .check_config(rpc::CheckRequest {
            news: wire(json!({"region": "Frankfurt", "regoin": "x"})),
            ..Default::default()
        })
        .await
        .expect("check config")
        .into_inner();
    let bad: Vec<(String, String)> = bad.failures.into_iter().map(|f| (f.property, f.reason)).collect();
    assert!(
        bad.iter().any(|(p, r)| p == "region" && r.contains("eu-west-1")),
        "{bad:?}"
    );
    assert!(
        bad.iter()
            .any(|(p, r)| p == "regoin" && r.contains("did you mean `region`")),
        "{bad:?}"
    );
    let good_config = emulator.account_config(DEFAULT_ACCOUNT);
    let good = client
        .check_config(rpc::CheckRequest {
            news: wire(good_config.clone()),
            ..Default::default()
        })
        .await
        .expect("check config")
        .into_inner();
    assert!(good.failures.is_empty(), "{:?}", good.failures);
    let configured = configure(&mut client, good_config).await;
    assert!(configured.supports_preview && configured.accept_secrets);

    // Check: defaults filled; bad input named with the fix; unknowns accepted.
    let checked = check(
        &mut client,
        json!({}),
        json!({"cidrBlock": "10.20.0.0/16", "tags": {"team": "ml"}}),
    )
    .await;
    assert!(checked.failures.is_empty(), "{:?}", checked.failures);
    let inputs = checked.inputs.clone();
    assert_eq!(
        plain(&inputs),
        json!({"cidrBlock": "10.20.0.0/16", "enableDnsSupport": true, "enableDnsHostnames": true,
               "instanceTenancy": "default", "tags": {"team": "ml"}})
    );
    let rejected = check(
        &mut client,
        json!({}),
        json!({"cidrBlock": "10.20.0.1/8", "cidr": "x", "tags": {"palisade:urn": "x"}}),
    )
    .await;
    let rejected: Vec<String> = rejected
        .failures
        .iter()
        .map(|f| format!("{}: {}", f.property, f.reason))
        .collect();
    assert!(
        rejected
            .iter()
            .any(|f| f.starts_with("cidrBlock: ") && f.contains("host bits")),
        "{rejected:?}"
    );
    assert!(
        rejected.iter().any(|f| f.starts_with("cidr: unknown property")),
        "{rejected:?}"
    );
    assert!(
        rejected
            .iter()
            .any(|f| f.starts_with("tags: ") && f.contains("reserved prefix")),
        "{rejected:?}"
    );
    let missing = check(&mut client, json!({}), json!({})).await;
    assert_eq!(missing.failures[0].property, "cidrBlock");
    let with_unknown = check(&mut client, json!({}), json!({"cidrBlock": UNKNOWN})).await;
    assert!(with_unknown.failures.is_empty(), "{:?}", with_unknown.failures);

    // Create, previewed: nothing is made, computed outputs are unknown.
    let preview = client
        .create(rpc::CreateRequest {
            urn: URN.into(),
            properties: inputs.clone(),
            preview: true,
            r#type: VPC.into(),
            ..Default::default()
        })
        .await
        .expect("preview create")
        .into_inner();
    assert_eq!(preview.id, "");
    let previewed = decode_struct(preview.properties.as_ref().expect("properties"));
    assert_eq!(previewed["vpcId"], PropertyValue::Unknown);

    // Create, for real.
    let created = client
        .create(rpc::CreateRequest {
            urn: URN.into(),
            properties: inputs.clone(),
            timeout: 60.0,
            r#type: VPC.into(),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();
    assert!(created.id.starts_with("vpc-"), "{}", created.id);
    let outputs = plain(&created.properties);
    assert_eq!(outputs["vpcId"], created.id.as_str());
    assert_eq!(outputs["ownerId"], DEFAULT_ACCOUNT);
    assert_eq!(outputs["enableDnsHostnames"], true);
    assert_eq!(
        outputs["tags"],
        json!({"team": "ml"}),
        "ownership tags are not shown as user tags"
    );

    // Read gives the same state; a diff of the read inputs against the declaration is empty.
    let read = client
        .read(rpc::ReadRequest {
            id: created.id.clone(),
            urn: URN.into(),
            properties: created.properties.clone(),
            inputs: inputs.clone(),
            r#type: VPC.into(),
            ..Default::default()
        })
        .await
        .expect("read")
        .into_inner();
    assert_eq!(read.id, created.id);
    assert_eq!(plain(&read.properties), outputs);
    let same = diff(&mut client, &created.id, &read.inputs, &inputs).await;
    assert_eq!(same.changes, DiffChanges::DiffNone as i32, "{same:?}");

    // Diff kinds: a DNS change updates in place; a new CIDR replaces.
    let news = wire(
        json!({"cidrBlock": "10.20.0.0/16", "enableDnsSupport": true, "enableDnsHostnames": false,
                           "instanceTenancy": "default", "tags": {"team": "ml", "env": "dev"}}),
    );
    let update = diff(&mut client, &created.id, &inputs, &news).await;
    assert_eq!(update.changes, DiffChanges::DiffSome as i32);
    assert!(update.replaces.is_empty(), "{update:?}");
    assert_eq!(update.detailed_diff["enableDnsHostnames"].kind, Kind::Update as i32);
    assert_eq!(update.detailed_diff["tags"].kind, Kind::Update as i32);
    let moved = wire(
        json!({"cidrBlock": "10.30.0.0/16", "enableDnsSupport": true, "enableDnsHostnames": true,
                            "instanceTenancy": "default", "tags": {"team": "ml"}}),
    );
    let replace = diff(&mut client, &created.id, &inputs, &moved).await;
    assert_eq!(replace.replaces, vec!["cidrBlock".to_string()]);
    assert_eq!(replace.detailed_diff["cidrBlock"].kind, Kind::UpdateReplace as i32);
    assert!(!replace.delete_before_replace, "a VPC has no fixed name");

    // Update in place.
    let updated = client
        .update(rpc::UpdateRequest {
            id: created.id.clone(),
            urn: URN.into(),
            olds: created.properties.clone(),
            news: news.clone(),
            old_inputs: inputs.clone(),
            timeout: 60.0,
            r#type: VPC.into(),
            ..Default::default()
        })
        .await
        .expect("update")
        .into_inner();
    let updated = plain(&updated.properties);
    assert_eq!(updated["enableDnsHostnames"], false);
    assert_eq!(updated["tags"], json!({"team": "ml", "env": "dev"}));
    assert_eq!(updated["vpcId"], created.id.as_str());

    // Delete; then it reads as gone, and deleting again succeeds.
    let delete = || rpc::DeleteRequest {
        id: created.id.clone(),
        urn: URN.into(),
        properties: created.properties.clone(),
        timeout: 60.0,
        r#type: VPC.into(),
        ..Default::default()
    };
    client.delete(delete()).await.expect("delete");
    let gone = client
        .read(rpc::ReadRequest {
            id: created.id.clone(),
            urn: URN.into(),
            r#type: VPC.into(),
            ..Default::default()
        })
        .await
        .expect("read after delete")
        .into_inner();
    assert_eq!(gone.id, "", "a deleted VPC reads as gone");
    client.delete(delete()).await.expect("deleting again succeeds");

    // Unsupported calls answer UNIMPLEMENTED; unknown types are named.
    let call = client.call(rpc::CallRequest::default()).await.expect_err("no Call");
    assert_eq!(call.code(), tonic::Code::Unimplemented);
    let unknown = client
        .check(rpc::CheckRequest {
            urn: "urn:pulumi:s::p::palisade-network:index:Nope::n".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown type");
    assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
    assert!(
        unknown.message().contains("palisade-network:index:Vpc"),
        "{}",
        unknown.message()
    );

    assert!(plugin.stop().await, "the plugin exits when its stdin closes");
}

#[tokio::test]
async fn configure_makes_no_network_call_and_the_first_operation_reports_the_endpoint_error() {
    let emulator = Emulator::start().expect("emulator");
    let (plugin, mut client) = start_network(&emulator).await;

    // An endpoint that records any connection made to it.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    trap.set_nonblocking(true).expect("nonblocking");
    let trap_url = format!("http://127.0.0.1:{}", trap.local_addr().expect("addr").port());
    let started = Instant::now();
    configure(
        &mut client,
        json!({"region": "us-east-1", "endpoint": trap_url, "accountId": DEFAULT_ACCOUNT,
               "assumeRole": {"roleArn": "arn:aws:iam::210987654321:role/deployer"}}),
    )
    .await;
    let configure_time = started.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(trap.accept().is_err(), "Configure connected to the endpoint");
    assert!(
        configure_time < Duration::from_secs(1),
        "Configure took {configure_time:?}"
    );

    // A refused endpoint: Configure still succeeds; the first real call fails with a clear error.
    drop(trap);
    let checked = check(&mut client, json!({}), json!({"cidrBlock": "10.0.0.0/16"})).await;
    let error = client
        .create(rpc::CreateRequest {
            urn: URN.into(),
            properties: checked.inputs,
            timeout: 5.0,
            r#type: VPC.into(),
            ..Default::default()
        })
        .await
        .expect_err("nothing listens there");
    assert!(
        error.message().contains("AssumeRole")
            || error.message().contains("dispatch")
            || error.message().contains("connect"),
        "{}",
        error.message()
    );
    plugin.stop().await;
}

#[tokio::test]
async fn secrets_given_as_inputs_stay_secret_in_outputs() {
    let emulator = Emulator::start().expect("emulator");
    let (plugin, mut client) = start_network(&emulator).await;
    configure(&mut client, emulator.account_config(DEFAULT_ACCOUNT)).await;

    let mut news = map_from_json(&json!({"cidrBlock": "10.40.0.0/16"}));
    news.insert(
        "tags".into(),
        PropertyValue::Secret(Box::new(PropertyValue::Object(map_from_json(
            &json!({"owner": "alice"}),
        )))),
    );
    let checked = check(&mut client, json!({}), Json::Null).await; // warm-up call on an empty input
    assert!(!checked.failures.is_empty());
    let checked = client
        .check(rpc::CheckRequest {
            urn: URN.into(),
            news: Some(encode_struct(&news)),
            r#type: VPC.into(),
            ..Default::default()
        })
        .await
        .expect("check")
        .into_inner();
    assert!(matches!(
        decode_struct(checked.inputs.as_ref().expect("inputs"))["tags"],
        PropertyValue::Secret(_)
    ));
    let created = client
        .create(rpc::CreateRequest {
            urn: URN.into(),
            properties: checked.inputs,
            timeout: 60.0,
            r#type: VPC.into(),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();
    let outputs = decode_struct(created.properties.as_ref().expect("outputs"));
    assert!(
        matches!(outputs["tags"], PropertyValue::Secret(_)),
        "{:?}",
        outputs["tags"]
    );
    assert!(!matches!(outputs["vpcId"], PropertyValue::Secret(_)));
    client
        .delete(rpc::DeleteRequest {
            id: created.id,
            urn: URN.into(),
            properties: created.properties,
            r#type: VPC.into(),
            ..Default::default()
        })
        .await
        .expect("delete");
    plugin.stop().await;
}

/// Every plugin ends cleanly on SIGTERM and on SIGINT even while its parent keeps stdin open, as
/// its start contract says (a read of stdin that cannot be cancelled used to keep it alive).
#[tokio::test]
async fn every_plugin_ends_on_a_termination_signal_while_its_stdin_stays_open() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    for package in [
        "palisade-network",
        "palisade-security",
        "palisade-studio",
        "palisade-deploy",
    ] {
        for signal in ["-TERM", "-INT"] {
            let mut child = Command::new(plugin_path(package).expect("plugin built"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("start the plugin");
            let mut port = String::new();
            BufReader::new(child.stdout.take().expect("stdout"))
                .read_line(&mut port)
                .expect("port line");
            // One answered call: the plugin serves, so its signal handlers are in place.
            let mut client = ResourceProviderClient::connect(format!("http://127.0.0.1:{}", port.trim()))
                .await
                .expect("connect");
            client
                .get_schema(rpc::GetSchemaRequest::default())
                .await
                .expect("GetSchema");
            let sent = Command::new("kill")
                .args([signal, &child.id().to_string()])
                .status()
                .expect("run kill");
            assert!(sent.success(), "kill {signal} failed");
            let deadline = Instant::now() + Duration::from_secs(5);
            let status = loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    break Some(status);
                }
                if Instant::now() > deadline {
                    break None;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            };
            if status.is_none() {
                child.kill().ok();
                child.wait().ok();
            }
            let status = status.unwrap_or_else(|| panic!("{package} still runs 5 s after kill {signal}"));
            assert!(status.success(), "{package} after kill {signal}: {status}");
            // Stdin is closed only now: the plugin ended on the signal alone.
            drop(child.stdin.take());
        }
    }
}
