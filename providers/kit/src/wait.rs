//! Waiting for AWS to finish: bounded by the caller's timeout and stopped by `Cancel`.
//!
//! Each look is an AWS call, retried on throttling by the client's own budget (see `aws`); what is
//! waited for here is AWS's progress, and, on delete, for what still depends on a resource to go.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::error::{ProviderError, Result};

/// One look at the thing being waited for.
#[derive(Debug)]
pub enum Progress<T> {
    /// Finished, with its result.
    Done(T),
    /// Not yet; the state it is in.
    Pending(String),
}

/// How long and how often to wait.
#[derive(Debug, Clone)]
pub struct Waiter {
    /// Give up at this instant.
    pub deadline: Instant,
    /// Stop early when this is cancelled.
    pub cancel: CancellationToken,
    /// First pause between looks; doubles up to `max_interval`.
    pub interval: Duration,
    /// Longest pause between looks.
    pub max_interval: Duration,
}

impl Waiter {
    /// Polls `look` until it is done, the deadline passes or the wait is cancelled. `what` says what
    /// is awaited, for the error messages (e.g. "VPC vpc-123 to become available").
    pub async fn until<T, F, Fut>(&self, what: &str, mut look: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Progress<T>>>,
    {
        let started = Instant::now();
        let mut interval = self.interval;
        loop {
            let state = match look().await? {
                Progress::Done(value) => return Ok(value),
                Progress::Pending(state) => state,
            };
            tracing::debug!(what, state, "waiting");
            let now = Instant::now();
            if now >= self.deadline {
                return Err(ProviderError::Timeout {
                    waiting_for: what.to_string(),
                    after: now - started,
                    last_state: state,
                });
            }
            self.back_off(what, &mut interval, now).await?;
        }
    }
}

impl Waiter {
    /// Sleeps `interval` (at most until the deadline) and doubles it up to the longest; a
    /// cancellation ends the wait for `what`.
    async fn back_off(&self, what: &str, interval: &mut Duration, now: Instant) -> Result<()> {
        let pause = (*interval).min(self.deadline - now);
        tokio::select! {
            _ = self.cancel.cancelled() => {
                return Err(ProviderError::Cancelled { waiting_for: what.to_string() });
            }
            _ = tokio::time::sleep(pause) => {}
        }
        *interval = (*interval * 2).min(self.max_interval);
        Ok(())
    }

    /// Runs `attempt` and repeats it, with backoff, while it fails because something else still
    /// depends on the resource (`DependencyViolation`, `ResourceInUse` on delete: on AWS, network
    /// interfaces outlive the endpoint or NAT gateway that made them for minutes). At the deadline
    /// it returns that last error, for the caller to name what is in the way; any other error at
    /// once.
    pub async fn while_in_use<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut interval = self.interval;
        loop {
            let error = match attempt().await {
                Ok(value) => return Ok(value),
                Err(error) if error.is_dependency_violation() => error,
                Err(error) => return Err(error),
            };
            let now = Instant::now();
            if now >= self.deadline {
                return Err(error);
            }
            tracing::info!(what, %error, "still in use; retrying");
            self.back_off(what, &mut interval, now).await?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn waiter(timeout: Duration) -> Waiter {
        Waiter {
            deadline: Instant::now() + timeout,
            cancel: CancellationToken::new(),
            interval: Duration::from_millis(5),
            max_interval: Duration::from_millis(20),
        }
    }

    #[tokio::test]
    async fn returns_when_done() {
        let looks = AtomicU32::new(0);
        let result = waiter(Duration::from_secs(5))
            .until("a thing", || async {
                let n = looks.fetch_add(1, Ordering::SeqCst);
                Ok(if n < 3 {
                    Progress::Pending("pending".into())
                } else {
                    Progress::Done(n)
                })
            })
            .await;
        assert_eq!(result.expect("done"), 3);
    }

    #[tokio::test]
    async fn times_out_with_the_last_state() {
        let error = waiter(Duration::from_millis(30))
            .until("VPC vpc-1 to become available", || async {
                Ok(Progress::<()>::Pending("pending".into()))
            })
            .await
            .expect_err("never done");
        assert!(
            matches!(&error, ProviderError::Timeout { last_state, .. } if last_state == "pending"),
            "{error}"
        );
        assert!(error.to_string().contains("VPC vpc-1 to become available"), "{error}");
    }

    fn in_use() -> ProviderError {
        ProviderError::Aws {
            operation: "DeleteSubnet",
            code: "DependencyViolation".into(),
            message: "The subnet has dependencies".into(),
        }
    }

    #[tokio::test]
    async fn retries_a_delete_while_something_depends_on_it() {
        let tries = AtomicU32::new(0);
        waiter(Duration::from_secs(5))
            .while_in_use("subnet-1 to be deleted", || async {
                match tries.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => Err(in_use()),
                    _ => Ok(()),
                }
            })
            .await
            .expect("deleted once the dependant went");
        assert_eq!(tries.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_at_the_deadline_with_the_last_error_and_fails_other_errors_at_once() {
        let error = waiter(Duration::from_millis(30))
            .while_in_use("subnet-1 to be deleted", || async { Err::<(), _>(in_use()) })
            .await
            .expect_err("always in use");
        assert!(error.is_dependency_violation(), "{error}");
        let tries = AtomicU32::new(0);
        let error = waiter(Duration::from_secs(5))
            .while_in_use("subnet-1 to be deleted", || async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(ProviderError::invalid("x", "y"))
            })
            .await
            .expect_err("not retried");
        assert!(matches!(error, ProviderError::InvalidInput { .. }));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn stops_when_cancelled() {
        let waiter = waiter(Duration::from_secs(60));
        let cancel = waiter.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            cancel.cancel();
        });
        let error = waiter
            .until("a thing", || async { Ok(Progress::<()>::Pending("creating".into())) })
            .await
            .expect_err("cancelled");
        assert!(matches!(error, ProviderError::Cancelled { .. }));
    }
}
