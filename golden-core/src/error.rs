//! The one error type of golden-core, shared by every backend.

use std::time::Duration;

/// A boxed error from a lower layer (an SDK, an HTTP client, a parser).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result with golden's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in golden.
///
/// Every variant names the resource it is about, so a message read on its own
/// tells what failed and, where one exists, how to fix it. Backends map their
/// provider's error codes to these variants in one table each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input that can never succeed: a bad name, handle, size or option.
    #[error("invalid {what} {value:?}: {rule}")]
    InvalidInput {
        /// What the value is (`namespace`, `snapshot handle`, ...).
        what: &'static str,
        /// The offending value as given.
        value: String,
        /// The rule it breaks and, where possible, the accepted form.
        rule: String,
    },
    /// The resource does not exist.
    #[error("{what} {id:?} not found")]
    NotFound {
        /// Kind of resource (`volume`, `snapshot`, `PersistentVolumeClaim`, ...).
        what: &'static str,
        /// Its id or name.
        id: String,
    },
    /// The credentials in use may not do this.
    #[error("permission denied on {what} {id:?}: {message}")]
    PermissionDenied {
        /// Kind of resource.
        what: &'static str,
        /// Its id or name.
        id: String,
        /// The provider's message.
        message: String,
    },
    /// The provider throttled the call (API rate limits); retry later.
    #[error("throttled by the provider while working on {what} {id:?}: {message}")]
    Throttled {
        /// Kind of resource.
        what: &'static str,
        /// Its id or name.
        id: String,
        /// The provider's message.
        message: String,
    },
    /// A provider quota on how often something may happen was hit
    /// (snapshots per volume, per disk and hour, ...).
    #[error("rate limit on {what} {id:?}: {hint}")]
    RateLimited {
        /// Kind of resource.
        what: &'static str,
        /// Its id or name.
        id: String,
        /// Which limit, and when to try again.
        hint: String,
        /// How long to wait before retrying, when known.
        retry_after: Option<Duration>,
    },
    /// The resource exists already, or is owned by someone else.
    #[error("conflict on {what} {id:?}: {reason}")]
    Conflict {
        /// Kind of resource.
        what: &'static str,
        /// Its id or name.
        id: String,
        /// Why it conflicts and how to resolve it.
        reason: String,
    },
    /// The snapshot failed in the cloud.
    #[error("snapshot {id:?} failed: {reason}")]
    SnapshotFailed {
        /// The snapshot id.
        id: String,
        /// The provider's reason.
        reason: String,
    },
    /// A wait ran past its deadline.
    #[error("timed out after {waited:?} waiting for {what} {id:?}: {last_state}")]
    Timeout {
        /// Kind of resource.
        what: &'static str,
        /// Its id or name.
        id: String,
        /// How long was waited.
        waited: Duration,
        /// The last state seen, and why it was not done.
        last_state: String,
    },
    /// The operation is not supported by this backend.
    #[error("{operation} is not supported by {backend}")]
    Unsupported {
        /// The operation.
        operation: &'static str,
        /// The backend.
        backend: &'static str,
    },
    /// Any other failure of the provider or the cluster, with its cause.
    #[error("{what} {id:?}: {message}")]
    Backend {
        /// Kind of resource.
        what: &'static str,
        /// Its id or name.
        id: String,
        /// What was being done.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
        /// Whether repeating the call may succeed.
        retryable: bool,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(what: &'static str, value: impl Into<String>, rule: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            value: value.into(),
            rule: rule.into(),
        }
    }

    /// Shorthand for [`Error::NotFound`].
    pub fn not_found(what: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            what,
            id: id.into(),
        }
    }

    /// Shorthand for [`Error::Conflict`].
    pub fn conflict(what: &'static str, id: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Conflict {
            what,
            id: id.into(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::Backend`] with a cause.
    pub fn backend(
        what: &'static str,
        id: impl Into<String>,
        message: impl Into<String>,
        source: impl Into<BoxError>,
        retryable: bool,
    ) -> Self {
        Error::Backend {
            what,
            id: id.into(),
            message: message.into(),
            source: Some(source.into()),
            retryable,
        }
    }

    /// Whether repeating the same call later may succeed.
    ///
    /// This is the single place that decides retryability; callers never
    /// inspect messages.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Throttled { .. } | Error::RateLimited { .. } | Error::Timeout { .. } => true,
            Error::Backend { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// Whether this is [`Error::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryability_is_decided_by_kind() {
        assert!(
            Error::Throttled {
                what: "snapshot",
                id: "s".into(),
                message: "slow down".into()
            }
            .is_retryable()
        );
        assert!(!Error::not_found("volume", "vol-1").is_retryable());
        assert!(!Error::invalid("namespace", "A", "lowercase").is_retryable());
    }

    #[test]
    fn messages_name_the_resource() {
        let e = Error::not_found("volume", "vol-0abc");
        assert_eq!(e.to_string(), "volume \"vol-0abc\" not found");
        let e = Error::invalid("namespace", "Bad", "must be lowercase");
        assert!(e.to_string().contains("\"Bad\""));
    }
}
