//! VpcEndpoint: private access to an AWS service from a VPC with no route to the internet.
//!
//! Gateway endpoints (S3) attach to route tables; interface endpoints (SageMaker, STS, KMS, ...) put
//! network interfaces in subnets, behind security groups, with private DNS. The endpoint policy is
//! updated in place, and removing it restores AWS's full-access default explicitly, so that the live
//! policy never silently stays stricter (or looser) than declared.

use palisade_provider_kit::policy;
use palisade_provider_kit::prelude::*;
use palisade_provider_kit::tags::validate_tags;
use serde_json::Value as Json;

use crate::validate;

/// A VPC endpoint.
#[derive(Debug, Default, Clone, Copy)]
pub struct VpcEndpoint;

/// Inputs of a [`VpcEndpoint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct VpcEndpointArgs {
    /// The id of the VPC.
    #[property(replace, validate = validate::vpc_id)]
    pub vpc_id: String,
    /// The full service name, e.g. `com.amazonaws.eu-west-1.s3` or `aws.sagemaker.eu-west-1.notebook`.
    #[property(replace, validate = service_name)]
    pub service_name: String,
    /// `Gateway` (S3, DynamoDB) or `Interface` (everything else). Default `Interface`.
    #[property(replace, validate = endpoint_type)]
    #[serde(default = "interface")]
    pub vpc_endpoint_type: String,
    /// Route tables a gateway endpoint adds its routes to.
    #[property(set, validate = validate::route_table_ids)]
    #[serde(default)]
    pub route_table_ids: Vec<String>,
    /// Subnets an interface endpoint puts its network interfaces in (one per availability zone).
    #[property(set, validate = validate::subnet_ids)]
    #[serde(default)]
    pub subnet_ids: Vec<String>,
    /// Security groups of an interface endpoint's network interfaces.
    #[property(set, validate = validate::security_group_ids)]
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    /// Whether the service's public DNS name resolves to the endpoint inside the VPC (interface
    /// endpoints). Default true.
    #[serde(default = "enabled")]
    pub private_dns_enabled: bool,
    /// The endpoint policy (an IAM policy document). Absent: AWS's default, which allows everything.
    #[property(equivalent = policy::same, validate = policy::validate)]
    pub policy: Option<Json>,
    /// Tags to apply, besides the ownership tags Palisade adds.
    #[property(validate = validate_tags)]
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn interface() -> String {
    "Interface".into()
}

fn enabled() -> bool {
    true
}

/// Outputs of a [`VpcEndpoint`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Properties)]
#[serde(rename_all = "camelCase")]
pub struct VpcEndpointState {
    #[serde(flatten)]
    pub args: VpcEndpointArgs,
    /// The endpoint's id (`vpce-...`).
    pub vpc_endpoint_id: String,
    /// The network interfaces of an interface endpoint.
    #[serde(default)]
    pub network_interface_ids: Vec<String>,
    /// The endpoint's DNS names.
    #[serde(default)]
    pub dns_names: Vec<String>,
    /// The id of the account that owns the endpoint.
    pub owner_id: String,
    /// For a gateway endpoint: the AWS-managed prefix list of its service (`pl-...`), which security
    /// group rules name to admit traffic to it.
    #[serde(default)]
    pub prefix_list_id: Option<String>,
}

impl ResourceType for VpcEndpoint {
    const PACKAGE: &'static str = crate::PACKAGE;
    const NAME: &'static str = "VpcEndpoint";
    const DOC: &'static str = "A gateway or interface VPC endpoint with an optional policy; removing the policy \
                               restores AWS's full-access default.";
    type Inputs = VpcEndpointArgs;
    type Outputs = VpcEndpointState;

    fn validate(inputs: &VpcEndpointArgs) -> Vec<CheckFailure> {
        let mut failures = Vec::new();
        if inputs.vpc_endpoint_type == "Gateway" {
            for (property, given) in [
                ("subnetIds", !inputs.subnet_ids.is_empty()),
                ("securityGroupIds", !inputs.security_group_ids.is_empty()),
            ] {
                if given {
                    failures.push(CheckFailure::new(
                        property,
                        "only interface endpoints take this; remove it or use `Interface`",
                    ));
                }
            }
        } else if !inputs.route_table_ids.is_empty() {
            failures.push(CheckFailure::new(
                "routeTableIds",
                "only gateway endpoints take route tables; remove it or use `vpcEndpointType: Gateway`",
            ));
        }
        failures
    }
}

fn service_name(value: &Json) -> Result<(), String> {
    let name = value.as_str().unwrap_or_default();
    let rest = name
        .strip_prefix("com.amazonaws.")
        .or_else(|| name.strip_prefix("aws.sagemaker."));
    let well_formed = rest.is_some_and(|rest| {
        let mut parts = rest.splitn(2, '.');
        let region = parts.next().unwrap_or_default();
        let service = parts.next().unwrap_or_default();
        region.split('-').count() >= 3 && !service.is_empty()
    });
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not an endpoint service name; expected `com.amazonaws.<region>.<service>` such as \
             `com.amazonaws.eu-west-1.sagemaker.api`"
        ))
    }
}

fn endpoint_type(value: &Json) -> Result<(), String> {
    match value.as_str() {
        Some("Gateway" | "Interface") => Ok(()),
        _ => Err(format!(
            "{value} is not an endpoint type; expected `Gateway` or `Interface`"
        )),
    }
}

/// Whether `document` is AWS's default endpoint policy (full access), which stands for "no policy".
pub fn is_default_policy(document: &Json) -> bool {
    let Some(mut canonical) = policy::canonical(document) else {
        return false;
    };
    if let Json::Object(top) = &mut canonical {
        top.remove("Version");
    }
    let full_access = serde_json::json!({
        "Statement": [{"Action": "*", "Effect": "Allow", "Principal": "*", "Resource": "*"}]
    });
    policy::canonical(&full_access) == Some(canonical)
}

#[cfg(feature = "provider")]
mod lifecycle {
    use aws_sdk_ec2::types::{ResourceType as Ec2ResourceType, VpcEndpointType};
    use aws_sdk_ec2::Client;
    use palisade_provider_kit::prelude::*;

    use super::{is_default_policy, VpcEndpoint, VpcEndpointArgs, VpcEndpointState};
    use crate::ec2;

    impl Resource for VpcEndpoint {
        async fn owned(&self, ctx: &Context, _inputs: &Self::Inputs) -> Result<Vec<String>> {
            let ec2 = ec2::client(ctx).await?;
            Ok(ec2
                .describe_vpc_endpoints()
                .filters(ec2::owned_by(&ctx.urn))
                .send()
                .await
                .map_err(|e| aws_error("DescribeVpcEndpoints", e))?
                .vpc_endpoints()
                .iter()
                .filter(|e| !is_state(e.state(), &["deleted", "deleting"]))
                .filter_map(|e| e.vpc_endpoint_id().map(str::to_string))
                .collect())
        }

        async fn create(
            &self,
            ctx: &Context,
            request: CreateRequest<VpcEndpointArgs>,
        ) -> Result<Created<VpcEndpointState>> {
            let ec2 = ec2::client(ctx).await?;
            let args = request.inputs;
            let id = {
                let interface = args.vpc_endpoint_type == "Interface";
                ec2.create_vpc_endpoint()
                    .vpc_id(&args.vpc_id)
                    .service_name(&args.service_name)
                    .vpc_endpoint_type(VpcEndpointType::from(args.vpc_endpoint_type.as_str()))
                    .set_route_table_ids(non_empty(&args.route_table_ids))
                    .set_subnet_ids(non_empty(&args.subnet_ids))
                    .set_security_group_ids(non_empty(&args.security_group_ids))
                    .set_private_dns_enabled(interface.then_some(args.private_dns_enabled))
                    .set_policy_document(args.policy.as_ref().map(palisade_provider_kit::policy::to_text))
                    .tag_specifications(ec2::tag_specification(ctx, Ec2ResourceType::VpcEndpoint, &args.tags))
                    .send()
                    .await
                    .map_err(|e| aws_error("CreateVpcEndpoint", e))?
                    .vpc_endpoint()
                    .and_then(|e| e.vpc_endpoint_id())
                    .unwrap_or_default()
                    .to_string()
            };
            wait_available(ctx, &ec2, &id).await?;
            let outputs = read(&ec2, &id).await?.ok_or(ProviderError::NotFound {
                kind: "VPC endpoint",
                id: id.clone(),
            })?;
            Ok(Created { id, outputs })
        }

        async fn read(
            &self,
            ctx: &Context,
            request: ReadRequest<VpcEndpointArgs, VpcEndpointState>,
        ) -> Result<Option<VpcEndpointState>> {
            let mut live = read(&ec2::client(ctx).await?, &request.id).await?;
            // Private DNS means nothing for a gateway endpoint, whatever the API reports: keep
            // what was declared, so it never shows as drift.
            if let (Some(live), Some(declared)) = (live.as_mut(), request.inputs.as_ref()) {
                if live.args.vpc_endpoint_type == "Gateway" {
                    live.args.private_dns_enabled = declared.private_dns_enabled;
                }
            }
            Ok(live)
        }

        async fn update(
            &self,
            ctx: &Context,
            request: UpdateRequest<VpcEndpointArgs, VpcEndpointState>,
        ) -> Result<VpcEndpointState> {
            let ec2 = ec2::client(ctx).await?;
            let (old, new) = (&request.olds.args, &request.news);
            let added = |o: &[String], n: &[String]| {
                non_empty(&n.iter().filter(|x| !o.contains(x)).cloned().collect::<Vec<_>>())
            };
            let mut modify = ec2
                .modify_vpc_endpoint()
                .vpc_endpoint_id(&request.id)
                .set_add_route_table_ids(added(&old.route_table_ids, &new.route_table_ids))
                .set_remove_route_table_ids(added(&new.route_table_ids, &old.route_table_ids))
                .set_add_subnet_ids(added(&old.subnet_ids, &new.subnet_ids))
                .set_remove_subnet_ids(added(&new.subnet_ids, &old.subnet_ids))
                .set_add_security_group_ids(added(&old.security_group_ids, &new.security_group_ids))
                .set_remove_security_group_ids(added(&new.security_group_ids, &old.security_group_ids));
            if new.vpc_endpoint_type == "Interface" && new.private_dns_enabled != old.private_dns_enabled {
                modify = modify.private_dns_enabled(new.private_dns_enabled);
            }
            if request.diff.detailed.contains_key("policy") {
                modify = match &new.policy {
                    Some(document) => modify.policy_document(palisade_provider_kit::policy::to_text(document)),
                    // Removing the policy must restore AWS's default, not keep the old one.
                    None => modify.reset_policy(true),
                };
            }
            modify.send().await.map_err(|e| aws_error("ModifyVpcEndpoint", e))?;
            ec2::update_tags(&ec2, &request.id, &old.tags, &new.tags).await?;
            wait_available(ctx, &ec2, &request.id).await?;
            read(&ec2, &request.id).await?.ok_or(ProviderError::NotFound {
                kind: "VPC endpoint",
                id: request.id,
            })
        }

        async fn delete(&self, ctx: &Context, request: DeleteRequest<VpcEndpointState>) -> Result<()> {
            let ec2 = ec2::client(ctx).await?;
            let output = ec2
                .delete_vpc_endpoints()
                .vpc_endpoint_ids(&request.id)
                .send()
                .await
                .map_err(|e| aws_error("DeleteVpcEndpoints", e));
            if let Some(output) = output.or_gone()? {
                ec2::unsuccessful("DeleteVpcEndpoints", output.unsuccessful()).or_gone()?;
            }
            ctx.wait_until(&format!("VPC endpoint {} to be deleted", request.id), || async {
                let state = describe(&ec2, &request.id).await?.and_then(|e| e.state().cloned());
                Ok(match state {
                    None => Progress::Done(()),
                    Some(state) if is_state(Some(&state), &["deleted"]) => Progress::Done(()),
                    Some(other) => Progress::Pending(other.as_str().to_string()),
                })
            })
            .await
        }
    }

    fn non_empty(items: &[String]) -> Option<Vec<String>> {
        (!items.is_empty()).then(|| items.to_vec())
    }

    async fn wait_available(ctx: &Context, ec2: &Client, id: &str) -> Result<()> {
        ctx.wait_until(&format!("VPC endpoint {id} to become available"), || async {
            let state = describe(ec2, id)
                .await?
                .and_then(|e| e.state().map(|s| s.as_str().to_string()));
            match state.as_deref() {
                Some("available") => Ok(Progress::Done(())),
                Some(failed @ ("failed" | "rejected")) => Err(ProviderError::Failed {
                    kind: "VPC endpoint",
                    id: id.to_string(),
                    state: failed.to_string(),
                    reason: "AWS did not make the endpoint available; check the service name and the subnets' zones"
                        .into(),
                }),
                other => Ok(Progress::Pending(other.unwrap_or("not visible yet").to_string())),
            }
        })
        .await
    }

    async fn describe(ec2: &Client, id: &str) -> Result<Option<aws_sdk_ec2::types::VpcEndpoint>> {
        let found = ec2
            .describe_vpc_endpoints()
            .vpc_endpoint_ids(id)
            .send()
            .await
            .map_err(|e| aws_error("DescribeVpcEndpoints", e));
        Ok(found
            .or_gone()?
            .and_then(|output| output.vpc_endpoints().first().cloned()))
    }

    async fn read(ec2: &Client, id: &str) -> Result<Option<VpcEndpointState>> {
        let Some(endpoint) = describe(ec2, id).await? else {
            return Ok(None);
        };
        if is_state(endpoint.state(), &["deleted"]) {
            return Ok(None);
        }
        let strings = |items: &[String]| items.to_vec();
        let policy = endpoint
            .policy_document()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
            .filter(|document| !is_default_policy(document));
        let gateway = endpoint.vpc_endpoint_type().is_some_and(|t| t.as_str() == "Gateway");
        let prefix_list_id = match (gateway, endpoint.service_name()) {
            (true, Some(service)) => prefix_list_of(ec2, service).await?,
            _ => None,
        };
        Ok(Some(VpcEndpointState {
            args: VpcEndpointArgs {
                vpc_id: endpoint.vpc_id().unwrap_or_default().to_string(),
                service_name: endpoint.service_name().unwrap_or_default().to_string(),
                vpc_endpoint_type: endpoint
                    .vpc_endpoint_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_else(|| "Interface".into()),
                route_table_ids: strings(endpoint.route_table_ids()),
                subnet_ids: strings(endpoint.subnet_ids()),
                security_group_ids: endpoint
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id().map(str::to_string))
                    .collect(),
                private_dns_enabled: endpoint.private_dns_enabled().unwrap_or(false),
                policy,
                tags: ec2::from_ec2_tags(endpoint.tags()),
            },
            vpc_endpoint_id: id.to_string(),
            network_interface_ids: strings(endpoint.network_interface_ids()),
            dns_names: endpoint
                .dns_entries()
                .iter()
                .filter_map(|d| d.dns_name().map(str::to_string))
                .collect(),
            owner_id: endpoint.owner_id().unwrap_or_default().to_string(),
            prefix_list_id,
        }))
    }

    /// The AWS-managed prefix list named after `service` (`com.amazonaws.<region>.s3`).
    async fn prefix_list_of(ec2: &Client, service: &str) -> Result<Option<String>> {
        let lists = ec2
            .describe_managed_prefix_lists()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("prefix-list-name")
                    .values(service)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| aws_error("DescribeManagedPrefixLists", e))?;
        Ok(lists
            .prefix_lists()
            .first()
            .and_then(|l| l.prefix_list_id())
            .map(str::to_string))
    }

    /// Whether `state` is one of `states`: AWS answers VPC endpoint states in lower case (`deleted`),
    /// while the SDK's names for the same states are capitalised (`Deleted`); either counts.
    fn is_state(state: Option<&aws_sdk_ec2::types::State>, states: &[&str]) -> bool {
        state.is_some_and(|state| states.iter().any(|s| state.as_str().eq_ignore_ascii_case(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recognises_aws_default_policy_in_any_form() {
        let default = json!({"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]});
        assert!(is_default_policy(&default));
        assert!(is_default_policy(&json!(default.to_string())));
        let narrowed =
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "*"}]});
        assert!(!is_default_policy(&narrowed));
    }

    #[test]
    fn service_names_and_types_are_checked() {
        assert!(service_name(&json!("com.amazonaws.eu-west-1.sagemaker.api")).is_ok());
        assert!(service_name(&json!("aws.sagemaker.eu-west-1.notebook")).is_ok());
        assert!(service_name(&json!("s3"))
            .expect_err("short")
            .contains("com.amazonaws.<region>.<service>"));
        assert!(endpoint_type(&json!("gateway")).is_err());
    }

    #[test]
    fn gateway_and_interface_options_are_not_mixed() {
        let mut args: VpcEndpointArgs = serde_json::from_value(json!({
            "vpcId": "vpc-1", "serviceName": "com.amazonaws.eu-west-1.s3", "vpcEndpointType": "Gateway",
            "subnetIds": ["subnet-1"],
        }))
        .expect("args");
        assert_eq!(VpcEndpoint::validate(&args)[0].property, "subnetIds");
        args.vpc_endpoint_type = "Interface".into();
        args.route_table_ids = vec!["rtb-1".into()];
        assert_eq!(VpcEndpoint::validate(&args)[0].property, "routeTableIds");
    }
}
