//! Provider errors: structured, classified once, and mapped to gRPC status in one place.

use std::time::Duration;

use crate::resource::CheckFailure;

/// Everything that can go wrong inside a provider.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The inputs are not acceptable.
    #[error("invalid input: {}", .failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    InvalidInput {
        /// Each property at fault and why.
        failures: Vec<CheckFailure>,
    },
    /// The provider configuration is not acceptable.
    #[error("provider configuration `{setting}`: {reason}")]
    Config {
        /// The setting at fault.
        setting: &'static str,
        /// What is wrong and what would be right.
        reason: String,
    },
    /// A type token this provider does not offer.
    #[error("unknown {what} `{token}`; this provider offers: {offered}")]
    UnknownType {
        /// "resource type" or "function".
        what: &'static str,
        /// The token asked for.
        token: String,
        /// The tokens offered.
        offered: String,
    },
    /// The thing named does not exist.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// What was looked for.
        kind: &'static str,
        /// Its identifier.
        id: String,
    },
    /// AWS refused or failed a call; its code and message are kept.
    #[error("{operation}: {code}: {message}")]
    Aws {
        /// The API operation, e.g. `CreateVpc`.
        operation: &'static str,
        /// AWS's error code, e.g. `DependencyViolation`.
        code: String,
        /// AWS's message, with our explanation appended where it helps.
        message: String,
    },
    /// A resource ended in a state it will not leave by itself.
    #[error("{kind} `{id}` is {state}: {reason}")]
    Failed {
        /// What failed.
        kind: &'static str,
        /// Its identifier.
        id: String,
        /// The state it is in.
        state: String,
        /// AWS's failure reason.
        reason: String,
    },
    /// A wait ran past the caller's timeout.
    #[error("timed out after {}s waiting for {waiting_for} (last state: {last_state})", .after.as_secs())]
    Timeout {
        /// What we were waiting for.
        waiting_for: String,
        /// How long we waited.
        after: Duration,
        /// The last state seen.
        last_state: String,
    },
    /// The engine asked us to stop.
    #[error("cancelled while waiting for {waiting_for}")]
    Cancelled {
        /// What we were waiting for.
        waiting_for: String,
    },
    /// The operation is not offered by this resource.
    #[error("{resource} does not support {operation}")]
    Unsupported {
        /// The resource type.
        resource: &'static str,
        /// The operation.
        operation: &'static str,
    },
    /// Stored state could not be read back into the resource's outputs.
    #[error("stored state of `{urn}` does not match {resource}: {reason}")]
    BadState {
        /// The resource's URN.
        urn: String,
        /// The resource type.
        resource: &'static str,
        /// What did not match.
        reason: String,
    },
}

/// Result of provider operations.
pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// Turns "not found" into `None`: for reads of things that may be gone, and deletes of things
/// already deleted.
pub trait OrGone<T> {
    /// `Ok(None)` when the error says the thing does not exist.
    fn or_gone(self) -> Result<Option<T>>;
}

impl<T> OrGone<T> for Result<T> {
    fn or_gone(self) -> Result<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }
}

/// What kind of AWS error a code is; each code is classified here and nowhere else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The resource does not exist (or no longer does).
    NotFound,
    /// Something else still depends on it (worth retrying while that goes away).
    DependencyViolation,
    /// The caller lacks permission.
    AccessDenied,
    /// Too many requests; worth retrying later.
    Throttled,
    /// The service or the connection failed for a moment; worth retrying.
    Transient,
    /// No connection to the endpoint could be established (refused, no such host, TLS handshake)
    /// over a few quick attempts: not worth retrying for long; the endpoint or network needs fixing.
    Unreachable,
    /// The request conflicts with the resource's current state.
    Conflict,
    /// The thing to create exists already.
    AlreadyExists,
    /// An optional setting is simply not set (a bucket without tags, encryption or a public access
    /// block): an answer, not a failure.
    NotConfigured,
    /// Anything else.
    Other,
}

impl AwsErrorKind {
    /// Classifies an AWS error code alone.
    pub fn of(code: &str) -> Self {
        match code {
            c if c.ends_with(".NotFound") || c.ends_with("NotFound") || c.ends_with("NotFoundException") => {
                AwsErrorKind::NotFound
            }
            "NoSuchEntity" | "NoSuchBucket" | "ResourceNotFound" | "NoSuchKey" | "NoSuchBucketPolicy" => {
                AwsErrorKind::NotFound
            }
            // `BucketNotEmpty`: the bucket's objects still depend on it.
            "DependencyViolation"
            | "DeleteConflict"
            | "ResourceInUse"
            | "ResourceInUseException"
            | "BucketNotEmpty" => AwsErrorKind::DependencyViolation,
            "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthFailure" => {
                AwsErrorKind::AccessDenied
            }
            "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "SlowDown"
            | "EC2ThrottledException"
            | "PriorRequestNotComplete"
            | "BandwidthLimitExceeded"
            | "ProvisionedThroughputExceededException" => AwsErrorKind::Throttled,
            // `RequestFailed` is ours: the request got no answer from AWS (connection, timeout).
            "RequestFailed"
            | "InternalError"
            | "InternalFailure"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "RequestTimeout"
            | "RequestTimeoutException" => AwsErrorKind::Transient,
            // `ConnectionFailed` is ours too: connections to the endpoint kept failing to be
            // established (crate::aws::FailFastConnections).
            "ConnectionFailed" => AwsErrorKind::Unreachable,
            "ConflictException" | "IncorrectState" | "InvalidStateException" | "KMSInvalidStateException" => {
                AwsErrorKind::Conflict
            }
            "AlreadyExistsException"
            | "EntityAlreadyExists"
            | "BucketAlreadyOwnedByYou"
            | "BucketAlreadyExists"
            | "ResourceAlreadyExistsException"
            | "InvalidGroup.Duplicate"
            | "FlowLogAlreadyExists"
            | "RouteAlreadyExists" => AwsErrorKind::AlreadyExists,
            "NoSuchTagSet"
            | "ServerSideEncryptionConfigurationNotFoundError"
            | "NoSuchPublicAccessBlockConfiguration"
            | "OwnershipControlsNotFoundError"
            | "NoSuchLifecycleConfiguration" => AwsErrorKind::NotConfigured,
            _ => AwsErrorKind::Other,
        }
    }

    /// Classifies an AWS error by its operation, code and message: some services reuse one code for
    /// several meanings. SageMaker answers a create of a name in use with `ResourceInUse` (user
    /// profiles, domains) or with `ValidationException` "Cannot create already existing ..." (models,
    /// endpoint configurations, model package groups), and a describe of something missing with
    /// `ValidationException` "Could not find ...".
    pub fn classify(operation: &str, code: &str, message: &str) -> Self {
        let creating = operation.starts_with("Create");
        match Self::of(code) {
            AwsErrorKind::DependencyViolation if creating && code.starts_with("ResourceInUse") => {
                AwsErrorKind::AlreadyExists
            }
            AwsErrorKind::Other if code == "ValidationException" => {
                let message = message.to_ascii_lowercase();
                if message.contains("already exist") {
                    AwsErrorKind::AlreadyExists
                } else if ["could not find", "does not exist", "not found", "cannot find"]
                    .iter()
                    .any(|phrase| message.contains(phrase))
                {
                    AwsErrorKind::NotFound
                } else {
                    AwsErrorKind::Other
                }
            }
            kind => kind,
        }
    }

    /// Whether a call that failed so may succeed when simply repeated later.
    pub fn is_retryable(self) -> bool {
        matches!(self, AwsErrorKind::Throttled | AwsErrorKind::Transient)
    }
}

impl ProviderError {
    /// An invalid-input error for one property.
    pub fn invalid(property: impl Into<String>, reason: impl Into<String>) -> Self {
        ProviderError::InvalidInput {
            failures: vec![CheckFailure::new(property, reason)],
        }
    }

    /// The kind of AWS error, if this is one (classified by [`AwsErrorKind::classify`]).
    pub fn aws_kind(&self) -> Option<AwsErrorKind> {
        match self {
            ProviderError::Aws {
                operation,
                code,
                message,
            } => Some(AwsErrorKind::classify(operation, code, message)),
            _ => None,
        }
    }

    /// This error with `note` appended to AWS's message, in parentheses (other errors unchanged):
    /// what we found out about it, e.g. what is still in the way.
    pub fn with_note(self, note: impl std::fmt::Display) -> Self {
        match self {
            ProviderError::Aws {
                operation,
                code,
                message,
            } => ProviderError::Aws {
                operation,
                code,
                message: format!("{message} ({note})"),
            },
            other => other,
        }
    }

    /// The refusal of a create whose name is held by something this resource did not create
    /// (classified as [`AwsErrorKind::AlreadyExists`]): `what` names it ("a role named r"), `why`
    /// says why it is not ours ("Palisade did not create it"), `property` is the name to change.
    pub fn name_taken(
        operation: &'static str,
        what: impl std::fmt::Display,
        why: impl std::fmt::Display,
        property: &str,
    ) -> Self {
        ProviderError::Aws {
            operation,
            code: "AlreadyExistsException".into(),
            message: format!(
                "{what} already exists and {why}; choose another `{property}`, or import the existing one"
            ),
        }
    }

    /// Whether AWS says the thing to create exists already.
    pub fn is_already_exists(&self) -> bool {
        self.aws_kind() == Some(AwsErrorKind::AlreadyExists)
    }

    /// Whether something else still depends on the resource (a delete to retry while it goes away).
    pub fn is_dependency_violation(&self) -> bool {
        self.aws_kind() == Some(AwsErrorKind::DependencyViolation)
    }

    /// Whether the caller lacks permission.
    pub fn is_access_denied(&self) -> bool {
        self.aws_kind() == Some(AwsErrorKind::AccessDenied)
    }

    /// Whether this says the thing does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ProviderError::NotFound { .. }) || self.aws_kind() == Some(AwsErrorKind::NotFound)
    }

    /// The gRPC status for this error: the one place where errors meet the wire.
    pub fn to_status(&self) -> tonic::Status {
        use tonic::Code;
        let code = match self {
            ProviderError::InvalidInput { .. } | ProviderError::Config { .. } | ProviderError::UnknownType { .. } => {
                Code::InvalidArgument
            }
            ProviderError::NotFound { .. } => Code::NotFound,
            ProviderError::Aws { .. } => match self.aws_kind().unwrap_or(AwsErrorKind::Other) {
                AwsErrorKind::NotFound => Code::NotFound,
                AwsErrorKind::DependencyViolation | AwsErrorKind::Conflict => Code::FailedPrecondition,
                AwsErrorKind::AlreadyExists => Code::AlreadyExists,
                AwsErrorKind::NotConfigured => Code::NotFound,
                AwsErrorKind::AccessDenied => Code::PermissionDenied,
                AwsErrorKind::Throttled => Code::ResourceExhausted,
                AwsErrorKind::Transient | AwsErrorKind::Unreachable => Code::Unavailable,
                AwsErrorKind::Other => Code::Unknown,
            },
            ProviderError::Failed { .. } => Code::Aborted,
            ProviderError::Timeout { .. } => Code::DeadlineExceeded,
            ProviderError::Cancelled { .. } => Code::Cancelled,
            ProviderError::Unsupported { .. } => Code::Unimplemented,
            ProviderError::BadState { .. } => Code::DataLoss,
        };
        tonic::Status::new(code, self.to_string())
    }
}

impl From<ProviderError> for tonic::Status {
    fn from(error: ProviderError) -> Self {
        error.to_status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_codes_are_classified() {
        assert_eq!(AwsErrorKind::of("InvalidVpcID.NotFound"), AwsErrorKind::NotFound);
        assert_eq!(AwsErrorKind::of("NoSuchEntity"), AwsErrorKind::NotFound);
        assert_eq!(
            AwsErrorKind::of("DependencyViolation"),
            AwsErrorKind::DependencyViolation
        );
        assert_eq!(AwsErrorKind::of("UnauthorizedOperation"), AwsErrorKind::AccessDenied);
        assert_eq!(AwsErrorKind::of("InvalidParameterValue"), AwsErrorKind::Other);
        assert_eq!(AwsErrorKind::of("NoSuchTagSet"), AwsErrorKind::NotConfigured);
        assert_eq!(
            AwsErrorKind::of("ServerSideEncryptionConfigurationNotFoundError"),
            AwsErrorKind::NotConfigured
        );
        assert_eq!(AwsErrorKind::of("EntityAlreadyExists"), AwsErrorKind::AlreadyExists);
        for throttled in ["ThrottlingException", "Throttling", "RequestLimitExceeded", "SlowDown"] {
            assert_eq!(AwsErrorKind::of(throttled), AwsErrorKind::Throttled, "{throttled}");
            assert!(AwsErrorKind::of(throttled).is_retryable());
        }
        assert!(AwsErrorKind::of("RequestFailed").is_retryable());
        assert!(!AwsErrorKind::of("AccessDenied").is_retryable());
        assert_eq!(AwsErrorKind::of("ConnectionFailed"), AwsErrorKind::Unreachable);
        assert!(
            !AwsErrorKind::of("ConnectionFailed").is_retryable(),
            "an endpoint that cannot be connected to is not weather"
        );
    }

    #[test]
    fn sagemaker_codes_are_classified_by_operation_and_message() {
        let kind = AwsErrorKind::classify;
        assert_eq!(
            kind("CreateUserProfile", "ResourceInUse", "UserProfile u already exists"),
            AwsErrorKind::AlreadyExists
        );
        assert_eq!(
            kind("DeleteDomain", "ResourceInUse", "Domain has user profiles"),
            AwsErrorKind::DependencyViolation
        );
        assert_eq!(
            kind(
                "CreateModel",
                "ValidationException",
                "Cannot create already existing model \"m\"."
            ),
            AwsErrorKind::AlreadyExists
        );
        assert_eq!(
            kind("DescribeModel", "ValidationException", "Could not find model \"m\"."),
            AwsErrorKind::NotFound
        );
        assert_eq!(
            kind("CreateModel", "ValidationException", "1 validation error detected"),
            AwsErrorKind::Other
        );
        let throttled = ProviderError::Aws {
            operation: "ListResourceTags",
            code: "ThrottlingException".into(),
            message: "Rate exceeded".into(),
        };
        assert!(!throttled.is_not_found() && !throttled.is_access_denied());
    }

    #[test]
    fn a_bucket_not_empty_is_a_dependency_violation() {
        let error = ProviderError::Aws {
            operation: "DeleteBucket",
            code: "BucketNotEmpty".into(),
            message: "The bucket you tried to delete is not empty".into(),
        };
        assert!(error.is_dependency_violation());
        assert_eq!(error.to_status().code(), tonic::Code::FailedPrecondition);
    }

    #[test]
    fn a_name_taken_is_already_exists_and_names_the_way_out() {
        let error = ProviderError::name_taken("CreateRole", "a role named r", "Palisade did not create it", "roleName");
        assert!(error.is_already_exists());
        assert_eq!(
            error.to_string(),
            "CreateRole: AlreadyExistsException: a role named r already exists and Palisade did not create it; \
             choose another `roleName`, or import the existing one"
        );
    }

    #[test]
    fn or_gone_reads_sagemaker_validation_messages_about_missing_things() {
        let aws = |operation, code: &str, message: &str| {
            Err::<(), _>(ProviderError::Aws {
                operation,
                code: code.into(),
                message: message.into(),
            })
        };
        assert!(matches!(
            aws("DescribeModel", "ValidationException", "Could not find model \"m\".").or_gone(),
            Ok(None)
        ));
        assert!(aws("DescribeModel", "ThrottlingException", "Rate exceeded")
            .or_gone()
            .is_err());
        assert!(aws("CreateModel", "ValidationException", "1 validation error detected")
            .or_gone()
            .is_err());
    }

    #[test]
    fn statuses_keep_the_aws_code_and_message() {
        let error = ProviderError::Aws {
            operation: "DeleteVpc",
            code: "DependencyViolation".into(),
            message: "The vpc has dependencies".into(),
        };
        let status = error.to_status();
        assert_eq!(status.code(), tonic::Code::FailedPrecondition);
        assert_eq!(
            status.message(),
            "DeleteVpc: DependencyViolation: The vpc has dependencies"
        );
        let invalid = ProviderError::invalid("cidrBlock", "expected a CIDR block");
        assert_eq!(invalid.to_status().code(), tonic::Code::InvalidArgument);
        assert_eq!(invalid.to_string(), "invalid input: cidrBlock: expected a CIDR block");
    }
}
