//! The reference environment's declarations: the dev stack (Studio, data, model registry) and one
//! stack per target account (staging, prod) that serves the released model.
//!
//! Every cross-account grant is computed from the configured target list, so adding or removing a
//! target changes dev's bucket, key and model-group policies in the same plan.

use std::collections::BTreeMap;

use palisade::deploy::{
    DataCapture, Endpoint, EndpointArgs, EndpointConfig, EndpointConfigArgs, Model, ModelArgs, ModelPackage,
    ModelPackageArgs, ModelPackageGroup, ModelPackageGroupArgs, ProductionVariant,
};
use palisade::kit::ResourceType;
use palisade::network::{
    InternetGateway, InternetGatewayArgs, NatGateway, NatGatewayArgs, Route, RouteTable, RouteTableArgs, SecurityGroup,
    SecurityGroupArgs, SecurityGroupRule, Subnet, SubnetArgs, Vpc, VpcArgs, VpcEndpoint, VpcEndpointArgs,
};
use palisade::reference::marker;
use palisade::security::policy_document::{Effect, PolicyDocument, Principal, Statement};
use palisade::security::{
    Bucket, BucketArgs, BucketPolicy, BucketPolicyArgs, KmsKey, KmsKeyArgs, KmsKeyPolicy, KmsKeyPolicyArgs, Role,
    RoleArgs,
};
use palisade::stack::DeclareError;
use palisade::studio::{DefaultUserSettings, Domain, DomainArgs, UserProfile, UserProfileArgs};
use palisade::{Options, Resource, Stack};
use serde_json::Value as Json;

use crate::config::{Config, NetworkConfig, TargetConfig};

/// The S3 actions that touch data; the VPC-endpoint deny covers these, so that managing a bucket
/// (reading its policy, say) from outside the network stays possible and nobody is locked out.
pub const S3_DATA_ACTIONS: [&str; 4] = ["s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:ListBucket*"];

/// What dev's SageMaker execution role may do in SageMaker.
pub const SAGEMAKER_WORK: [&str; 18] = [
    "sagemaker:CreateTrainingJob",
    "sagemaker:DescribeTrainingJob",
    "sagemaker:StopTrainingJob",
    "sagemaker:CreateProcessingJob",
    "sagemaker:DescribeProcessingJob",
    "sagemaker:StopProcessingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:DescribeHyperParameterTuningJob",
    "sagemaker:CreateModel",
    "sagemaker:DescribeModel",
    "sagemaker:CreateModelPackage",
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:ListModelPackages",
    "sagemaker:AddTags",
    "sagemaker:List*",
    "sagemaker:Search",
    "sagemaker:CreateExperiment",
];

/// The KMS actions that use a key's material; the VPC-endpoint deny covers these.
pub const KMS_DATA_ACTIONS: [&str; 4] = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*"];

/// The release staging and prod deploy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Release {
    /// The newest approved package of dev's group, as found before planning.
    Approved(String),
    /// No approved package exists yet, and the one dev registers in this run is approved: deploy it.
    Registered,
    /// Nothing approved: the targets get their network and roles, and no model.
    Unapproved,
}

/// The declared stacks and the handles the promotion and summary need.
#[derive(Debug, Clone)]
pub struct Environment {
    /// Dev first, then the targets in promotion order.
    pub stacks: Vec<Stack>,
    /// The model package group's name in dev.
    pub model_package_group: String,
    /// Per target: the endpoint's name.
    pub endpoints: BTreeMap<String, String>,
}

/// One private network's handles.
struct Network {
    vpc: Resource,
    subnets: Vec<Resource>,
    route_tables: Vec<Resource>,
    sagemaker: Resource,
    interface_endpoints: BTreeMap<String, Resource>,
}

impl Network {
    fn subnet_ids(&self) -> Vec<String> {
        self.subnets.iter().map(|s| s.output("subnetId")).collect()
    }

    fn kms_endpoint_id(&self) -> Option<String> {
        self.interface_endpoints.get("kms").map(|e| e.output("vpcEndpointId"))
    }
}

/// A declared target stack and what it exposes to dev's policies.
struct Target {
    stack: Stack,
    account_id: String,
    model_execution_role: String,
    s3_endpoint: String,
    kms_endpoint: Option<String>,
    endpoint_name: Option<String>,
}

/// The names shared between stacks.
fn role_name(config: &Config, role: &str) -> String {
    format!("{}-{role}", config.environment)
}

fn bucket_name(config: &Config, purpose: &str, account_id: &str) -> String {
    format!("{}-{purpose}-{account_id}", config.environment)
}

/// Declares every stack of `config`, deploying `release` to the targets.
pub fn declare(config: &Config, release: &Release) -> Result<Environment, DeclareError> {
    let mut dev = Stack::new("dev", config.dev_account()).project(&config.environment);
    if config.dev.network.nat.is_some() {
        dev = dev.allow_internet();
    }
    let dev_network = network(&mut dev, config, &config.dev.network)?;
    let dev_id = config.dev.account.account_id.clone();

    // Keys: EBS volumes, Studio's EFS home directories, and S3 objects. The S3 key's policy names
    // the targets, so it is a resource of its own, declared once the targets are.
    let dev_kms_endpoints: Vec<String> = dev_network.kms_endpoint_id().into_iter().collect();
    let ebs_key = private_key(
        &mut dev,
        "ebs",
        "EBS volumes of Studio apps and jobs",
        &dev_id,
        &dev_kms_endpoints,
    )?;
    let studio_key = private_key(
        &mut dev,
        "studio",
        "Studio home directories (EFS)",
        &dev_id,
        &dev_kms_endpoints,
    )?;
    let s3_key = dev.resource::<KmsKey>("s3", KmsKeyArgs::new("Data and model artifacts in S3"))?;

    let mut data = BucketArgs::new(s3_key.output("arn"));
    data.bucket = Some(bucket_name(config, "data", &dev_id));
    let data = dev.resource::<Bucket>("data", data)?;
    let mut models = BucketArgs::new(s3_key.output("arn"));
    models.bucket = Some(bucket_name(config, "models", &dev_id));
    let models = dev.resource::<Bucket>("models", models)?;
    let data_arn = data.output("arn");
    let models_arn = models.output("arn");

    let dev_s3_endpoint = s3_gateway_endpoint(
        &mut dev,
        config,
        &dev_network,
        &[
            bucket_name(config, "data", &dev_id),
            bucket_name(config, "models", &dev_id),
        ],
    )?;

    // Roles of the dev account.
    let execution = dev.resource::<Role>(
        "sagemaker-execution",
        execution_role(
            config,
            &dev_id,
            &[&data_arn, &models_arn],
            &s3_key.output("arn"),
            &ebs_key.output("arn"),
        ),
    )?;
    dev.resource::<Role>("team-admin", team_admin_role(config, &dev_id))?;
    dev.resource::<Role>(
        "data-scientist",
        data_scientist_role(config, &dev_id, &execution.output("arn")),
    )?;

    // Studio, in VpcOnly mode with the storage key.
    let domain = dev.resource::<Domain>(
        "studio",
        DomainArgs {
            domain_name: Some(format!("{}-studio", config.environment)),
            auth_mode: "IAM".into(),
            app_network_access_type: "VpcOnly".into(),
            vpc_id: dev_network.vpc.output("vpcId"),
            subnet_ids: dev_network.subnet_ids(),
            kms_key_id: Some(studio_key.output("arn")),
            default_user_settings: DefaultUserSettings {
                execution_role: execution.output("arn"),
                security_groups: vec![dev_network.sagemaker.output("groupId")],
            },
            home_efs_retention: "Retain".into(),
            tags: BTreeMap::new(),
        },
    )?;
    for user in &config.dev.user_profiles {
        dev.resource::<UserProfile>(
            user.as_str(),
            UserProfileArgs {
                domain_id: domain.output("domainId"),
                user_profile_name: Some(user.clone()),
                execution_role: Some(execution.output("arn")),
                security_groups: vec![dev_network.sagemaker.output("groupId")],
                tags: BTreeMap::new(),
            },
        )?;
    }

    // The targets, each reading the released model from dev.
    let group_name = config.model_package_group();
    let release_arn = match release {
        Release::Approved(arn) => Some(arn.clone()),
        Release::Registered => Some(marker(&dev.urn(&ModelPackage::token(), "release"), "modelPackageArn")),
        Release::Unapproved => None,
    };
    let shared = SharedFromDev {
        models_bucket_arn: &models_arn,
        models_bucket_name: bucket_name(config, "models", &dev_id),
        s3_key_arn: s3_key.output("arn"),
        release: release_arn.as_deref(),
        dev_account_id: &dev_id,
        // A target's model needs dev's grants in place first.
        grants: vec![
            dev.handle::<BucketPolicy>("models"),
            dev.handle::<KmsKeyPolicy>("s3"),
            dev.handle::<ModelPackageGroup>("models"),
        ],
    };
    let targets = config
        .targets
        .iter()
        .map(|target| declare_target(config, target, &shared))
        .collect::<Result<Vec<Target>, DeclareError>>()?;

    // Dev's policies, which name every target.
    let target_roles: Vec<String> = targets.iter().map(|t| t.model_execution_role.clone()).collect();
    let mut s3_endpoints = vec![dev_s3_endpoint.output("vpcEndpointId")];
    s3_endpoints.extend(targets.iter().map(|t| t.s3_endpoint.clone()));
    let mut kms_endpoints = dev_kms_endpoints.clone();
    kms_endpoints.extend(targets.iter().filter_map(|t| t.kms_endpoint.clone()));

    let mut statements = vec![
        Statement::allow_account_to_manage_key(&dev_id),
        deny_key_use_outside(&kms_endpoints),
    ];
    if !target_roles.is_empty() {
        statements.push(Statement::allow_cross_account_decrypt(target_roles.clone()));
    }
    dev.resource::<KmsKeyPolicy>(
        "s3",
        KmsKeyPolicyArgs {
            key_id: s3_key.output("keyId"),
            policy: PolicyDocument::new(statements).to_json(),
        },
    )?;
    dev.resource::<BucketPolicy>(
        "data",
        bucket_policy(&data, &[dev_s3_endpoint.output("vpcEndpointId")], Vec::new()),
    )?;
    let cross_account_read = if target_roles.is_empty() {
        Vec::new()
    } else {
        vec![Statement::allow_cross_account_read(
            target_roles,
            &models.output("bucket"),
        )]
    };
    dev.resource::<BucketPolicy>("models", bucket_policy(&models, &s3_endpoints, cross_account_read))?;

    // Creating a model from a package of another account is authorised for the caller, whichever
    // role of the target account deploys; the target account's own IAM narrows that down.
    let readers: Vec<String> = targets
        .iter()
        .map(|t| palisade::security::policy_document::account_root_arn(&t.account_id))
        .collect();
    let group = dev.resource::<ModelPackageGroup>(
        "models",
        ModelPackageGroupArgs {
            model_package_group_name: Some(group_name.clone()),
            description: Some("Models promoted from dev to the target accounts".into()),
            resource_policy: (!readers.is_empty()).then(|| model_group_policy(config, &dev_id, &group_name, readers)),
            tags: BTreeMap::new(),
        },
    )?;
    dev.resource::<ModelPackage>(
        "release",
        ModelPackageArgs {
            model_package_group_name: group.output("modelPackageGroupName"),
            image: config.dev.model.image.clone(),
            model_data_url: format!("s3://{}/{}", models.output("bucket"), config.dev.model.artifact_key),
            description: Some("The model the data scientists registered for promotion".into()),
            supported_content_types: vec!["application/json".into()],
            supported_response_mime_types: vec!["application/json".into()],
            model_approval_status: config.dev.model.approval_status.clone(),
            tags: BTreeMap::new(),
        },
    )?;

    let endpoints = targets
        .iter()
        .filter_map(|t| t.endpoint_name.clone().map(|e| (t.stack.name.clone(), e)))
        .collect();
    let mut stacks = vec![dev];
    stacks.extend(targets.into_iter().map(|t| t.stack));
    Ok(Environment {
        stacks,
        model_package_group: group_name,
        endpoints,
    })
}

/// What a target reads from dev.
struct SharedFromDev<'a> {
    models_bucket_arn: &'a str,
    models_bucket_name: String,
    s3_key_arn: String,
    /// The model package to deploy, if one is approved.
    release: Option<&'a str>,
    dev_account_id: &'a str,
    /// Dev's policies that grant the targets access to the release.
    grants: Vec<Resource>,
}

fn declare_target(config: &Config, target: &TargetConfig, dev: &SharedFromDev<'_>) -> Result<Target, DeclareError> {
    let account_id = target.account.account_id.clone();
    let mut stack = Stack::new(&target.name, config.target_account(target)).project(&config.environment);
    let net = network(&mut stack, config, &target.network)?;
    let kms_endpoints: Vec<String> = net.kms_endpoint_id().into_iter().collect();
    let storage_key = private_key(
        &mut stack,
        "storage",
        "Endpoint volumes and captured requests",
        &account_id,
        &kms_endpoints,
    )?;
    let capture_name = bucket_name(config, &format!("{}-capture", target.name), &account_id);
    let mut capture = BucketArgs::new(storage_key.output("arn"));
    capture.bucket = Some(capture_name.clone());
    let capture = stack.resource::<Bucket>("capture", capture)?;
    let s3_endpoint = s3_gateway_endpoint(
        &mut stack,
        config,
        &net,
        &[dev.models_bucket_name.clone(), capture_name],
    )?;
    stack.resource::<BucketPolicy>(
        "capture",
        bucket_policy(&capture, &[s3_endpoint.output("vpcEndpointId")], Vec::new()),
    )?;

    // The model execution role SageMaker assumes: reads the release from dev, writes logs, pulls
    // the image, and attaches to the VPC.
    let mut execution = RoleArgs::new(PolicyDocument::new([trust_sagemaker(&account_id)]).to_json());
    execution.role_name = Some(role_name(config, "model-execution"));
    execution.description = Some("Assumed by SageMaker to serve the released model".into());
    execution.inline_policies.insert(
        "read-release".into(),
        PolicyDocument::new([
            Statement::new(Effect::Allow)
                .with_sid("ReadModelArtifacts")
                .with_actions(["s3:GetObject", "s3:GetObjectVersion"])
                .with_resources([format!("{}/*", dev.models_bucket_arn)]),
            Statement::new(Effect::Allow)
                .with_sid("DecryptModelArtifacts")
                .with_actions(["kms:Decrypt", "kms:DescribeKey"])
                .with_resources([dev.s3_key_arn.clone()]),
        ])
        .to_json(),
    );
    execution.inline_policies.insert(
        "serve-in-vpc".into(),
        serving_policy(&storage_key.output("arn"), &capture.output("arn")),
    );
    let execution = stack.resource::<Role>("model-execution", execution)?;

    // The deployment role dev's pipelines assume to release models here.
    let mut deployment = RoleArgs::new(PolicyDocument::new([Statement::trust_account(dev.dev_account_id)]).to_json());
    deployment.role_name = Some(role_name(config, "deployment"));
    deployment.description = Some("Assumed from the dev account to deploy approved models".into());
    deployment
        .inline_policies
        .insert("deploy".into(), deployment_policy(&execution.output("arn")));
    stack.resource::<Role>("deployment", deployment)?;

    let endpoint_name = match dev.release {
        Some(release) => Some(serve_release(
            &mut stack,
            config,
            target,
            &Serving {
                network: &net,
                release,
                execution_role: &execution,
                storage_key: &storage_key,
                capture: &capture,
                grants: &dev.grants,
            },
        )?),
        None => None,
    };
    Ok(Target {
        stack,
        account_id,
        model_execution_role: execution.output("arn"),
        s3_endpoint: s3_endpoint.output("vpcEndpointId"),
        kms_endpoint: net.kms_endpoint_id(),
        endpoint_name,
    })
}

/// What serving the release in a target needs.
struct Serving<'a> {
    network: &'a Network,
    release: &'a str,
    execution_role: &'a Resource,
    storage_key: &'a Resource,
    capture: &'a Resource,
    grants: &'a [Resource],
}

/// The release in a target: the Model (in the VPC, isolated, created once dev's grants are in
/// place), its EndpointConfig (encrypted, with data capture) and the Endpoint. Returns the
/// endpoint's name.
fn serve_release(
    stack: &mut Stack,
    config: &Config,
    target: &TargetConfig,
    serving: &Serving<'_>,
) -> Result<String, DeclareError> {
    let Serving {
        network: net,
        release,
        execution_role: execution,
        storage_key,
        capture,
        grants,
    } = serving;
    let model = stack.resource_with::<Model>(
        "model",
        ModelArgs {
            model_name: None,
            execution_role_arn: execution.output("arn"),
            model_package_arn: Some(release.to_string()),
            image: None,
            model_data_url: None,
            environment: BTreeMap::new(),
            subnet_ids: net.subnet_ids(),
            security_group_ids: vec![net.sagemaker.output("groupId")],
            enable_network_isolation: true,
            tags: BTreeMap::new(),
        },
        Options {
            depends_on: grants.to_vec(),
            ..Options::default()
        },
    )?;
    let endpoint_config = stack.resource::<EndpointConfig>(
        "serving",
        EndpointConfigArgs {
            endpoint_config_name: None,
            production_variants: vec![ProductionVariant {
                variant_name: "AllTraffic".into(),
                model_name: model.output("modelName"),
                instance_type: target.instance_type.clone(),
                initial_instance_count: target.instance_count,
                initial_variant_weight: 1.0,
            }],
            kms_key_id: Some(storage_key.output("arn")),
            data_capture: Some(DataCapture {
                destination_s3_uri: format!("s3://{}/requests", capture.output("bucket")),
                initial_sampling_percentage: 100,
                kms_key_id: Some(storage_key.output("arn")),
            }),
            tags: BTreeMap::new(),
        },
    )?;
    let endpoint_name = format!("{}-{}", config.environment, target.name);
    stack.resource::<Endpoint>(
        "endpoint",
        EndpointArgs {
            endpoint_name: Some(endpoint_name.clone()),
            endpoint_config_name: endpoint_config.output("endpointConfigName"),
            tags: BTreeMap::new(),
        },
    )?;

    Ok(endpoint_name)
}

/// A private network: VPC, one private subnet per zone, their route table (with a route through
/// NAT only in NAT mode), the SageMaker and endpoint security groups, and the interface endpoints.
fn network(stack: &mut Stack, config: &Config, net: &NetworkConfig) -> Result<Network, DeclareError> {
    let vpc = stack.resource::<Vpc>("main", VpcArgs::new(&net.vpc_cidr))?;
    let vpc_id = vpc.output("vpcId");
    let mut subnets = Vec::new();
    for subnet in &net.subnets {
        subnets.push(stack.resource::<Subnet>(
            format!("private-{}", subnet.zone),
            SubnetArgs {
                vpc_id: vpc_id.clone(),
                cidr_block: subnet.cidr.clone(),
                availability_zone: format!("{}{}", config.region, subnet.zone),
                tags: BTreeMap::new(),
            },
        )?);
    }
    let mut private_routes = Vec::new();
    let mut route_tables = Vec::new();
    if let Some(nat) = &net.nat {
        let gateway = stack.resource::<InternetGateway>(
            "internet",
            InternetGatewayArgs {
                vpc_id: Some(vpc_id.clone()),
                tags: BTreeMap::new(),
            },
        )?;
        let public = stack.resource::<Subnet>(
            format!("public-{}", nat.zone),
            SubnetArgs {
                vpc_id: vpc_id.clone(),
                cidr_block: nat.public_subnet_cidr.clone(),
                availability_zone: format!("{}{}", config.region, nat.zone),
                tags: BTreeMap::new(),
            },
        )?;
        let translator = stack.resource::<NatGateway>(
            "nat",
            NatGatewayArgs {
                subnet_id: public.output("subnetId"),
                connectivity_type: "public".into(),
                tags: BTreeMap::new(),
            },
        )?;
        route_tables.push(stack.resource::<RouteTable>(
            "public",
            RouteTableArgs {
                vpc_id: vpc_id.clone(),
                routes: vec![Route {
                    destination_cidr_block: "0.0.0.0/0".into(),
                    gateway_id: Some(gateway.output("internetGatewayId")),
                    nat_gateway_id: None,
                }],
                subnet_ids: vec![public.output("subnetId")],
                tags: BTreeMap::new(),
            },
        )?);
        private_routes.push(Route {
            destination_cidr_block: "0.0.0.0/0".into(),
            gateway_id: None,
            nat_gateway_id: Some(translator.output("natGatewayId")),
        });
    }
    let private = stack.resource::<RouteTable>(
        "private",
        RouteTableArgs {
            vpc_id: vpc_id.clone(),
            routes: private_routes,
            subnet_ids: subnets.iter().map(|s| s.output("subnetId")).collect(),
            tags: BTreeMap::new(),
        },
    )?;
    route_tables.insert(0, private);

    // SageMaker's group admits only itself. Out, it reaches its members, the interface endpoints
    // (HTTPS inside the VPC) and S3 through the gateway endpoint (HTTPS to S3's prefix list; the
    // gateway endpoint is declared with the buckets it admits, after this group).
    let members = rule("-1", 0, 0, "members of the group talk to each other").members();
    let s3_prefix_list = stack.handle::<VpcEndpoint>("s3").output("prefixListId");
    let sagemaker = stack.resource::<SecurityGroup>(
        "sagemaker",
        SecurityGroupArgs {
            group_name: None,
            description: "SageMaker Studio, jobs and models: members only".into(),
            vpc_id: vpc_id.clone(),
            ingress: vec![members.clone()],
            egress: vec![
                members,
                rule("tcp", 443, 443, "HTTPS to the interface endpoints").admitting_cidrs(vec![net.vpc_cidr.clone()]),
                rule("tcp", 443, 443, "HTTPS to S3 through the gateway endpoint")
                    .admitting_prefix_lists(vec![s3_prefix_list]),
            ],
            tags: BTreeMap::new(),
        },
    )?;
    // The endpoints' group admits HTTPS from SageMaker's group and the private subnets, and NFS
    // (EFS, Studio's home directories) from the subnets.
    let subnet_cidrs: Vec<String> = net.subnets.iter().map(|s| s.cidr.clone()).collect();
    let endpoints_group = stack.resource::<SecurityGroup>(
        "endpoints",
        SecurityGroupArgs {
            group_name: None,
            description: "VPC interface endpoints: HTTPS from SageMaker and the private subnets".into(),
            vpc_id: vpc_id.clone(),
            ingress: vec![
                rule("tcp", 443, 443, "HTTPS from SageMaker").admitting_groups(vec![sagemaker.output("groupId")]),
                rule("tcp", 443, 443, "HTTPS from the private subnets").admitting_cidrs(subnet_cidrs.clone()),
                rule("tcp", 2049, 2049, "NFS (EFS) from the private subnets").admitting_cidrs(subnet_cidrs),
            ],
            egress: Vec::new(),
            tags: BTreeMap::new(),
        },
    )?;
    let mut interface_endpoints = BTreeMap::new();
    for service in &net.interface_endpoints {
        let endpoint = stack.resource::<VpcEndpoint>(
            service.as_str(),
            VpcEndpointArgs {
                vpc_id: vpc_id.clone(),
                service_name: palisade::network::endpoint_service_name(&config.region, service),
                vpc_endpoint_type: "Interface".into(),
                route_table_ids: Vec::new(),
                subnet_ids: subnets.iter().map(|s| s.output("subnetId")).collect(),
                security_group_ids: vec![endpoints_group.output("groupId")],
                private_dns_enabled: true,
                policy: None,
                tags: BTreeMap::new(),
            },
        )?;
        interface_endpoints.insert(service.clone(), endpoint);
    }
    Ok(Network {
        vpc,
        subnets,
        route_tables,
        sagemaker,
        interface_endpoints,
    })
}

/// A security-group rule, narrowed by one of its builders.
fn rule(protocol: &str, from_port: i32, to_port: i32, description: &str) -> SecurityGroupRule {
    SecurityGroupRule {
        protocol: protocol.into(),
        from_port,
        to_port,
        cidr_blocks: Vec::new(),
        security_group_ids: Vec::new(),
        prefix_list_ids: Vec::new(),
        self_referencing: false,
        description: Some(description.into()),
    }
}

trait RuleSource {
    fn members(self) -> Self;
    fn admitting_cidrs(self, cidrs: Vec<String>) -> Self;
    fn admitting_groups(self, groups: Vec<String>) -> Self;
    fn admitting_prefix_lists(self, lists: Vec<String>) -> Self;
}

impl RuleSource for SecurityGroupRule {
    fn members(mut self) -> Self {
        self.self_referencing = true;
        self
    }

    fn admitting_cidrs(mut self, cidrs: Vec<String>) -> Self {
        self.cidr_blocks = cidrs;
        self
    }

    fn admitting_groups(mut self, groups: Vec<String>) -> Self {
        self.security_group_ids = groups;
        self
    }

    fn admitting_prefix_lists(mut self, lists: Vec<String>) -> Self {
        self.prefix_list_ids = lists;
        self
    }
}

/// The S3 gateway endpoint: routes S3 through the private route tables and admits only `buckets`
/// (and the regional bucket ECR keeps image layers in, which pulling an inference image needs).
/// The buckets are named, not referenced: the endpoint comes before the buckets and everything that
/// uses the network, SageMaker's security group included (it admits the endpoint's prefix list).
fn s3_gateway_endpoint(
    stack: &mut Stack,
    config: &Config,
    net: &Network,
    buckets: &[String],
) -> Result<Resource, DeclareError> {
    let mut resources: Vec<String> = buckets
        .iter()
        .map(|name| palisade::security::policy_document::bucket_arn(name))
        .flat_map(|arn| [arn.clone(), format!("{arn}/*")])
        .collect();
    resources.push(format!("arn:aws:s3:::prod-{}-starport-layer-bucket/*", config.region));
    let policy = PolicyDocument::new([Statement::new(Effect::Allow)
        .with_sid("EnvironmentBucketsOnly")
        .with_principal(Principal::Everyone)
        .with_actions(["s3:*"])
        .with_resources(resources)]);
    stack.resource::<VpcEndpoint>(
        "s3",
        VpcEndpointArgs {
            vpc_id: net.vpc.output("vpcId"),
            service_name: palisade::network::endpoint_service_name(&config.region, "s3"),
            vpc_endpoint_type: "Gateway".into(),
            route_table_ids: net.route_tables.iter().map(|t| t.output("routeTableId")).collect(),
            subnet_ids: Vec::new(),
            security_group_ids: Vec::new(),
            private_dns_enabled: false,
            policy: Some(policy.to_json()),
            tags: BTreeMap::new(),
        },
    )
}

/// Denies using a key's material except through `endpoints`. AWS services are exempt: those acting
/// for a caller (S3, EFS: `aws:ViaAWSService`), those acting as themselves
/// (`aws:PrincipalIsAWSService`), and EC2's own role that decrypts EBS volumes when an instance
/// starts.
fn deny_key_use_outside(endpoints: &[String]) -> Statement {
    Statement::deny_outside_vpc_endpoints(KMS_DATA_ACTIONS, ["*"], endpoints.to_vec())
        .with_condition("BoolIfExists", "aws:PrincipalIsAWSService", ["false"])
        .with_condition(
            "ArnNotLikeIfExists",
            "aws:PrincipalArn",
            ["arn:aws:iam::*:role/aws:ec2-infrastructure"],
        )
}

/// A customer-managed key whose policy is set at creation: the account manages it, and its material
/// is used only through the stack's KMS endpoint.
fn private_key(
    stack: &mut Stack,
    name: &str,
    description: &str,
    account_id: &str,
    kms_endpoints: &[String],
) -> Result<Resource, DeclareError> {
    let mut key = KmsKeyArgs::new(description);
    let mut statements = vec![Statement::allow_account_to_manage_key(account_id)];
    if !kms_endpoints.is_empty() {
        statements.push(deny_key_use_outside(kms_endpoints));
    }
    key.policy = Some(PolicyDocument::new(statements).to_json());
    stack.resource::<KmsKey>(name, key)
}

/// A bucket policy: TLS only, data reachable only through `endpoints`, plus `grants`.
fn bucket_policy(bucket: &Resource, endpoints: &[String], grants: Vec<Statement>) -> BucketPolicyArgs {
    let arn = bucket.output("arn");
    let everything = [arn.clone(), format!("{arn}/*")];
    let mut statements = vec![
        Statement::deny_insecure_transport(["s3:*"], everything.clone()),
        Statement::deny_outside_vpc_endpoints(S3_DATA_ACTIONS, everything, endpoints.to_vec()),
    ];
    statements.extend(grants);
    BucketPolicyArgs {
        bucket: bucket.output("bucket"),
        policy: PolicyDocument::new(statements).to_json(),
    }
}

/// Lets SageMaker assume a role, only on behalf of the role's own account (no confused deputy).
fn trust_sagemaker(account_id: &str) -> Statement {
    Statement::trust_service("sagemaker.amazonaws.com").with_condition(
        "StringEquals",
        "aws:SourceAccount",
        [account_id],
    )
}

fn allow(sid: &str, actions: &[&str], resources: &[&str]) -> Statement {
    Statement::new(Effect::Allow)
        .with_sid(sid)
        .with_actions(actions.iter().copied())
        .with_resources(resources.iter().copied())
}

/// Dev's SageMaker execution role: the data and models buckets, the S3 and EBS keys, and no job or
/// model outside the VPC.
fn execution_role(config: &Config, account_id: &str, buckets: &[&str], s3_key: &str, ebs_key: &str) -> RoleArgs {
    let mut role = RoleArgs::new(PolicyDocument::new([trust_sagemaker(account_id)]).to_json());
    role.role_name = Some(role_name(config, "sagemaker-execution"));
    role.description = Some("Assumed by Studio, jobs and pipelines in the dev account".into());
    let objects: Vec<String> = buckets.iter().map(|b| format!("{b}/*")).collect();
    let buckets: Vec<String> = buckets.iter().map(|b| (*b).to_string()).collect();
    let data = PolicyDocument::new([
        Statement::new(Effect::Allow)
            .with_sid("ListEnvironmentBuckets")
            .with_actions(["s3:ListBucket"])
            .with_resources(buckets),
        Statement::new(Effect::Allow)
            .with_sid("ReadWriteEnvironmentObjects")
            .with_actions(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"])
            .with_resources(objects),
        Statement::new(Effect::Allow)
            .with_sid("UseEnvironmentKeys")
            .with_actions([
                "kms:Decrypt",
                "kms:Encrypt",
                "kms:GenerateDataKey",
                "kms:DescribeKey",
                "kms:CreateGrant",
            ])
            .with_resources([s3_key.to_string(), ebs_key.to_string()]),
    ]);
    role.inline_policies.insert("environment-data".into(), data.to_json());
    // The work of Studio users and pipelines: jobs, models and registering packages. Not approving
    // them (UpdateModelPackage), not changing who may read the registry, not opening other users'
    // Studio.
    let own_arn =
        palisade::security::policy_document::role_arn(account_id, "/", &role_name(config, "sagemaker-execution"));
    let sagemaker = PolicyDocument::new([
        allow("RunJobsAndRegisterModels", &SAGEMAKER_WORK, &["*"]),
        allow("PassItselfToSageMaker", &["iam:PassRole"], &[&own_arn]).with_condition(
            "StringEquals",
            "iam:PassedToService",
            ["sagemaker.amazonaws.com"],
        ),
    ])
    .with(Statement::deny_sagemaker_without_vpc());
    role.inline_policies
        .insert("sagemaker-in-vpc".into(), sagemaker.to_json());
    role
}

fn team_admin_role(config: &Config, account_id: &str) -> RoleArgs {
    let mut role = RoleArgs::new(PolicyDocument::new([Statement::trust_account(account_id)]).to_json());
    role.role_name = Some(role_name(config, "team-admin"));
    role.description = Some("Administers the ML team's Studio domain and user profiles".into());
    let admin = PolicyDocument::new([allow(
        "ManageStudio",
        &[
            "sagemaker:CreateUserProfile",
            "sagemaker:UpdateUserProfile",
            "sagemaker:DeleteUserProfile",
            "sagemaker:Describe*",
            "sagemaker:List*",
            "sagemaker:UpdateModelPackage",
        ],
        &["*"],
    )]);
    role.inline_policies.insert("studio-admin".into(), admin.to_json());
    role
}

fn data_scientist_role(config: &Config, account_id: &str, execution_role: &str) -> RoleArgs {
    let mut role = RoleArgs::new(PolicyDocument::new([Statement::trust_account(account_id)]).to_json());
    role.role_name = Some(role_name(config, "data-scientist"));
    role.description = Some("Opens Studio and works inside it".into());
    let work = PolicyDocument::new([
        allow(
            "OpenStudio",
            &[
                "sagemaker:CreatePresignedDomainUrl",
                "sagemaker:Describe*",
                "sagemaker:List*",
            ],
            &["*"],
        ),
        allow("PassOnlyTheExecutionRole", &["iam:PassRole"], &[execution_role]),
    ]);
    role.inline_policies.insert("studio-user".into(), work.to_json());
    role
}

/// What the model execution role needs to serve from inside the VPC.
fn serving_policy(storage_key: &str, capture_bucket: &str) -> Json {
    PolicyDocument::new([
        allow(
            "AttachToTheVpc",
            &[
                "ec2:CreateNetworkInterface",
                "ec2:CreateNetworkInterfacePermission",
                "ec2:DeleteNetworkInterface",
                "ec2:DeleteNetworkInterfacePermission",
                "ec2:DescribeNetworkInterfaces",
                "ec2:DescribeVpcs",
                "ec2:DescribeDhcpOptions",
                "ec2:DescribeSubnets",
                "ec2:DescribeSecurityGroups",
            ],
            &["*"],
        ),
        allow(
            "PullInferenceImages",
            &[
                "ecr:GetAuthorizationToken",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            &["*"],
        ),
        allow(
            "WriteLogs",
            &[
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "cloudwatch:PutMetricData",
            ],
            &["*"],
        ),
        allow(
            "UseStorageKey",
            &[
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:GenerateDataKey",
                "kms:CreateGrant",
                "kms:DescribeKey",
            ],
            &[storage_key],
        ),
        allow("CaptureRequests", &["s3:PutObject"], &[&format!("{capture_bucket}/*")]),
    ])
    .with(Statement::deny_sagemaker_without_vpc())
    .to_json()
}

/// The deployment role: manage models and endpoints, and pass only the model execution role.
fn deployment_policy(execution_role: &str) -> Json {
    PolicyDocument::new([
        allow(
            "DeployModels",
            &[
                "sagemaker:CreateModel",
                "sagemaker:DeleteModel",
                "sagemaker:DescribeModel",
                "sagemaker:CreateEndpointConfig",
                "sagemaker:DeleteEndpointConfig",
                "sagemaker:DescribeEndpointConfig",
                "sagemaker:CreateEndpoint",
                "sagemaker:UpdateEndpoint",
                "sagemaker:DeleteEndpoint",
                "sagemaker:DescribeEndpoint",
                "sagemaker:InvokeEndpoint",
                "sagemaker:DescribeModelPackage",
                "sagemaker:AddTags",
                "sagemaker:ListTags",
            ],
            &["*"],
        ),
        allow("PassOnlyTheModelExecutionRole", &["iam:PassRole"], &[execution_role]),
    ])
    .with(Statement::deny_sagemaker_without_vpc())
    .to_json()
}

/// The model package group's resource policy: the target accounts may read the group and its
/// packages and create models from them, nothing more (no approving, no registering).
fn model_group_policy(config: &Config, account_id: &str, group: &str, readers: Vec<String>) -> Json {
    let group_arn = format!(
        "arn:aws:sagemaker:{}:{account_id}:model-package-group/{group}",
        config.region
    );
    let packages_arn = format!(
        "arn:aws:sagemaker:{}:{account_id}:model-package/{group}/*",
        config.region
    );
    PolicyDocument::new([Statement::new(Effect::Allow)
        .with_sid("TargetsReadReleases")
        .with_principal(Principal::aws(readers))
        .with_actions([
            "sagemaker:DescribeModelPackageGroup",
            "sagemaker:DescribeModelPackage",
            "sagemaker:ListModelPackages",
            "sagemaker:CreateModel",
        ])
        .with_resources([group_arn, packages_arn])])
    .to_json()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NatConfig;

    fn kinds(stack: &Stack) -> Vec<&str> {
        stack
            .resources
            .iter()
            .map(|r| r.token.rsplit(':').next().unwrap_or_default())
            .collect()
    }

    fn inputs_text(stack: &Stack, kind: &str, name: &str) -> String {
        let declared = stack
            .resources
            .iter()
            .find(|r| r.token.ends_with(&format!(":{kind}")) && r.name == name)
            .unwrap_or_else(|| panic!("{kind} {name} declared"));
        format!("{:?}", declared.inputs)
    }

    #[test]
    fn the_default_environment_is_three_internet_free_stacks() {
        let environment = declare(&Config::local(), &Release::Registered).expect("declares");
        let names: Vec<&str> = environment.stacks.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["dev", "staging", "prod"]);
        for stack in &environment.stacks {
            assert!(!stack.internet_access, "{}", stack.name);
            let kinds = kinds(stack);
            assert!(!kinds.contains(&"InternetGateway") && !kinds.contains(&"NatGateway"));
        }
        assert_eq!(environment.endpoints["prod"], "mlops-prod");
        // The release is dev's registered package until one is approved.
        let model = inputs_text(&environment.stacks[1], "Model", "model");
        assert!(model.contains("ModelPackage::release#modelPackageArn"), "{model}");
    }

    #[test]
    fn without_an_approved_release_the_targets_serve_nothing() {
        let environment = declare(&Config::local(), &Release::Unapproved).expect("declares");
        assert!(environment.endpoints.is_empty());
        for target in &environment.stacks[1..] {
            let kinds = kinds(target);
            assert!(kinds.contains(&"Role") && kinds.contains(&"Vpc"), "{kinds:?}");
            assert!(!kinds.contains(&"Model") && !kinds.contains(&"Endpoint"), "{kinds:?}");
        }
    }

    #[test]
    fn nat_mode_gives_dev_a_way_out() {
        let mut config = Config::local();
        config.dev.network.nat = Some(NatConfig {
            public_subnet_cidr: "10.0.100.0/24".into(),
            zone: "a".into(),
        });
        let environment = declare(&config, &Release::Registered).expect("declares");
        let dev = &environment.stacks[0];
        assert!(dev.internet_access);
        let kinds = kinds(dev);
        assert!(kinds.contains(&"InternetGateway") && kinds.contains(&"NatGateway"));
        let private = inputs_text(dev, "RouteTable", "private");
        assert!(
            private.contains("0.0.0.0/0") && private.contains("NatGateway::nat#natGatewayId"),
            "{private}"
        );
        assert!(!environment.stacks[1].internet_access);
    }

    #[test]
    fn dev_grants_follow_the_target_list() {
        let mut config = Config::local();
        let approved =
            Release::Approved("arn:aws:sagemaker:us-east-1:123456789012:model-package/mlops-models/1".into());
        let both = declare(&config, &approved).expect("declares");
        let policy = inputs_text(&both.stacks[0], "BucketPolicy", "models");
        assert!(policy.contains("urn:pulumi:staging::mlops::palisade-security:index:Role::model-execution#arn"));
        assert!(policy.contains("urn:pulumi:prod::mlops::palisade-security:index:Role::model-execution#arn"));

        config.targets.truncate(1);
        let staging_only = declare(&config, &approved).expect("declares");
        assert_eq!(staging_only.stacks.len(), 2);
        for (kind, name) in [("BucketPolicy", "models"), ("KmsKeyPolicy", "s3")] {
            let text = inputs_text(&staging_only.stacks[0], kind, name);
            assert!(text.contains("urn:pulumi:staging::"), "{kind}: {text}");
            assert!(!text.contains("urn:pulumi:prod::"), "{kind} still names prod: {text}");
        }
        let group = inputs_text(&staging_only.stacks[0], "ModelPackageGroup", "models");
        assert!(group.contains("arn:aws:iam::222222222222:root"), "{group}");
        assert!(!group.contains("333333333333"), "the group still names prod: {group}");
        let model = inputs_text(&staging_only.stacks[1], "Model", "model");
        assert!(model.contains("model-package/mlops-models/1"), "{model}");

        config.targets.clear();
        let alone = declare(&config, &approved).expect("declares");
        let group = inputs_text(&alone.stacks[0], "ModelPackageGroup", "models");
        assert!(!group.contains("resourcePolicy"), "no targets, no sharing: {group}");
    }
}
