//! AWS clients for one provider process: built lazily on first use, then shared.
//!
//! `Configure` only stores the settings. The first resource operation loads the AWS configuration
//! (region, credentials chain, endpoint override, role to assume), checks the account id when one was
//! configured, and caches the result; every client is built once from it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Mutex;

use aws_config::{sts::AssumeRoleProvider, BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::sync::OnceCell;

use crate::config::ProviderConfig;
use crate::error::{ProviderError, Result};

/// The AWS side of one configured provider.
pub struct AwsSession {
    config: ProviderConfig,
    sdk: OnceCell<SdkConfig>,
    clients: Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

impl std::fmt::Debug for AwsSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsSession")
            .field("config", &self.config)
            .field("loaded", &self.sdk.initialized())
            .finish()
    }
}

impl AwsSession {
    /// A session for `config`. Makes no network call.
    pub fn new(config: ProviderConfig) -> Self {
        Self {
            config,
            sdk: OnceCell::new(),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The configuration this session was made from.
    pub fn config(&self) -> &ProviderConfig {
        &self.config
    }

    /// The loaded AWS configuration (loaded and checked on first call).
    pub async fn sdk_config(&self) -> Result<&SdkConfig> {
        self.sdk.get_or_try_init(|| load(&self.config)).await
    }

    /// A client of type `C`, made once with `make` and shared afterwards.
    pub async fn client<C>(&self, make: fn(&SdkConfig) -> C) -> Result<C>
    where
        C: Clone + Send + Sync + 'static,
    {
        if let Some(client) = self.cached::<C>() {
            return Ok(client);
        }
        let client = make(self.sdk_config().await?);
        let mut clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = clients
            .entry(TypeId::of::<C>())
            .or_insert_with(|| Box::new(client.clone()));
        Ok(entry.downcast_ref::<C>().cloned().unwrap_or(client))
    }

    fn cached<C: Clone + 'static>(&self) -> Option<C> {
        let clients = self.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        clients
            .get(&TypeId::of::<C>())
            .and_then(|c| c.downcast_ref::<C>())
            .cloned()
    }
}

async fn load(config: &ProviderConfig) -> Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &config.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    if let Some(profile) = &config.profile {
        loader = loader.profile_name(profile);
    }
    let mut sdk = loader.load().await;
    if sdk.region().is_none() {
        return Err(ProviderError::Config {
            setting: "region",
            reason: "no AWS region is configured; set `region` or AWS_REGION".into(),
        });
    }

    if let Some(role) = &config.assume_role {
        let mut provider = AssumeRoleProvider::builder(role.role_arn.clone())
            .session_name(role.session_name.clone().unwrap_or_else(|| "palisade".into()))
            .configure(&sdk);
        if let Some(external_id) = &role.external_id {
            provider = provider.external_id(external_id.clone());
        }
        let credentials = provider.build().await;
        sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(credentials))
            .build();
    }

    if let Some(expected) = &config.account_id {
        let sts = aws_sdk_sts::Client::new(&sdk);
        let identity = sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_error("GetCallerIdentity", e))?;
        let actual = identity.account().unwrap_or_default();
        if actual != expected {
            return Err(ProviderError::Config {
                setting: "accountId",
                reason: format!(
                    "the credentials reach account {actual}, not the configured {expected}; \
                     fix `accountId` or the credentials (profile, role to assume)"
                ),
            });
        }
    }
    Ok(sdk)
}

/// Turns an AWS SDK error into a [`ProviderError::Aws`], keeping AWS's code and message.
pub fn aws_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> ProviderError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &error {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            ProviderError::Aws {
                operation,
                code: inner.code().unwrap_or("Unknown").to_string(),
                message: inner.message().unwrap_or_default().to_string(),
            }
        }
        other => ProviderError::Aws {
            operation,
            code: "RequestFailed".into(),
            message: format!("{}", aws_smithy_types::error::display::DisplayErrorContext(other)),
        },
    }
}
