//! AWS clients for one provider process: built lazily on first use, then shared.
//!
//! `Configure` only stores the settings. The first resource operation loads the AWS configuration
//! (region, credentials chain, endpoint override, role to assume), checks the account id when one was
//! configured, and caches the result; every client is built once from it.
//!
//! Throttling is weather, not failure: every call (credential loading and waiters' looks included,
//! as they go through the same configuration) is retried in the SDK's adaptive mode, which slows the
//! client down when AWS throttles it, with jittered exponential backoff, until a budget measured in
//! time runs out ([`RetryBudget`], `PALISADE_RETRY_SECONDS`), not after a fixed number of attempts.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
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

/// Environment variable: how many seconds one AWS call may keep retrying throttling and transient
/// errors before it fails.
pub const RETRY_SECONDS_ENV: &str = "PALISADE_RETRY_SECONDS";

/// Environment variable: `adaptive` (the default: the client also slows its own sending rate when
/// throttled) or `standard` (backoff only).
pub const RETRY_MODE_ENV: &str = "PALISADE_RETRY_MODE";

/// How long and how patiently every AWS call retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    /// The whole of one call, all its attempts and pauses included.
    pub per_call: Duration,
    /// The first pause (before jitter); it doubles with each attempt.
    pub initial_backoff: Duration,
    /// The longest pause between two attempts.
    pub max_backoff: Duration,
    /// Whether the client also limits its own sending rate after throttling.
    pub adaptive: bool,
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self {
            per_call: Duration::from_secs(300),
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(20),
            adaptive: true,
        }
    }
}

impl RetryBudget {
    /// The default budget, with `per_call` from `PALISADE_RETRY_SECONDS` when that is set.
    pub fn from_env() -> Result<Self> {
        let mut budget = Self::from_setting(std::env::var(RETRY_SECONDS_ENV).ok().as_deref())?;
        match std::env::var(RETRY_MODE_ENV).ok().as_deref().map(str::trim) {
            None | Some("") | Some("adaptive") => {}
            Some("standard") => budget.adaptive = false,
            Some(other) => {
                return Err(ProviderError::Config {
                    setting: RETRY_MODE_ENV,
                    reason: format!("{other:?} is not a retry mode; use `adaptive` or `standard`"),
                })
            }
        }
        Ok(budget)
    }

    fn from_setting(seconds: Option<&str>) -> Result<Self> {
        let mut budget = Self::default();
        if let Some(text) = seconds.map(str::trim).filter(|t| !t.is_empty()) {
            let seconds: u64 = text
                .parse()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| ProviderError::Config {
                    setting: RETRY_SECONDS_ENV,
                    reason: format!("{text:?} is not a whole number of seconds above zero; e.g. 300"),
                })?;
            budget.per_call = Duration::from_secs(seconds);
        }
        Ok(budget)
    }

    /// Adaptive retry (client-side rate limiting when throttled) with jittered exponential backoff.
    /// Attempts are not what ends it: the attempt count is effectively unbounded, and the
    /// operation timeout of [`Self::timeout_config`] ends a call that has not succeeded in time.
    pub fn retry_config(&self) -> RetryConfig {
        let mode = if self.adaptive {
            RetryConfig::adaptive()
        } else {
            RetryConfig::standard()
        };
        mode.with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    /// The time budget of one call, all attempts included.
    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder().operation_timeout(self.per_call).build()
    }
}

/// High enough never to be what stops a call within any time budget (at most one attempt per
/// backoff pause).
const MAX_ATTEMPTS: u32 = 100_000;

async fn load(config: &ProviderConfig) -> Result<SdkConfig> {
    let budget = RetryBudget::from_env()?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(budget.retry_config())
        .timeout_config(budget.timeout_config());
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
        SdkError::TimeoutError(_) => ProviderError::Aws {
            operation,
            code: "RequestFailed".into(),
            message: format!(
                "no success within the retry budget (AWS kept throttling or failing the call); \
                 raise {RETRY_SECONDS_ENV} (seconds) to wait longer: {}",
                aws_smithy_types::error::display::DisplayErrorContext(&error)
            ),
        },
        other => ProviderError::Aws {
            operation,
            code: "RequestFailed".into(),
            message: format!("{}", aws_smithy_types::error::display::DisplayErrorContext(other)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::retry::RetryMode;

    #[test]
    fn retries_adaptively_within_a_time_budget() {
        let budget = RetryBudget::from_setting(Some("90")).expect("valid");
        assert_eq!(budget.per_call, Duration::from_secs(90));
        let retry = budget.retry_config();
        assert_eq!(retry.mode(), RetryMode::Adaptive);
        assert!(
            retry.max_attempts() >= 1000,
            "attempts must not be what ends the retrying"
        );
        assert_eq!(
            budget.timeout_config().operation_timeout(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            RetryBudget::from_setting(None).expect("default"),
            RetryBudget::default()
        );
        let error = RetryBudget::from_setting(Some("soon")).expect_err("not a number");
        assert!(error.to_string().contains(RETRY_SECONDS_ENV), "{error}");
        assert!(RetryBudget::from_setting(Some("0")).is_err());
    }
}
