//! Every provider's package schema validates against Pulumi's metaschema.

use std::path::PathBuf;

use palisade::host::Plugin;
use palisade_proto::pulumirpc as rpc;
use palisade_tests::{plugin_path, workspace_root};
use serde_json::Value as Json;

/// The provider packages built in this workspace.
const PACKAGES: &[&str] = &[
    "palisade-network",
    "palisade-security",
    "palisade-studio",
    "palisade-deploy",
];

fn metaschema() -> Json {
    let path = std::env::var_os("PALISADE_METASCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("../shared/reference/pulumi-package-metaschema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading Pulumi's metaschema at {} (set PALISADE_METASCHEMA): {e}",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("metaschema is JSON")
}

#[tokio::test]
async fn every_provider_schema_is_a_valid_pulumi_package_schema() {
    let validator = jsonschema::validator_for(&metaschema()).expect("metaschema compiles");
    for package in PACKAGES {
        let plugin = Plugin::start(&plugin_path(package).expect("plugin built"), &[])
            .await
            .expect("starts");
        let schema = plugin
            .client()
            .get_schema(rpc::GetSchemaRequest::default())
            .await
            .expect("schema")
            .into_inner();
        let schema: Json = serde_json::from_str(&schema.schema).expect("schema is JSON");
        let errors: Vec<String> = validator
            .iter_errors(&schema)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{package}: {errors:#?}");
        assert_eq!(schema["name"], *package);
        // The check has teeth: a broken copy is refused.
        let mut broken = schema.clone();
        broken["name"] = 5.into();
        assert!(
            !validator.is_valid(&broken),
            "{package}: the metaschema accepted a broken schema"
        );
        let resources = schema["resources"].as_object().expect("resources");
        assert!(!resources.is_empty(), "{package} offers no resources");
        for (token, resource) in resources {
            assert!(token.starts_with(&format!("{package}:index:")), "{token}");
            for required in resource["requiredInputs"].as_array().expect("requiredInputs") {
                let name = required.as_str().expect("name");
                assert!(
                    resource["inputProperties"].get(name).is_some(),
                    "{token}: required {name} is not an input"
                );
            }
        }
        plugin.stop().await;
    }
}
