//! What the unit tests of the lifecycle share: a Context that makes no network call.

use std::sync::Arc;
use std::time::Duration;

use palisade_provider_kit::aws::AwsSession;
use palisade_provider_kit::config::ProviderConfig;
use palisade_provider_kit::provider::Context;
use tokio_util::sync::CancellationToken;

/// A context whose waits give up after `timeout`.
pub(crate) fn context(timeout: Duration) -> Context {
    Context::new(
        Arc::new(AwsSession::new(ProviderConfig::default())),
        CancellationToken::new(),
        "urn:pulumi:test::palisade-tests::palisade-studio:index:Domain::studio",
        timeout,
    )
}
