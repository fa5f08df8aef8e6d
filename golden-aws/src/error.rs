//! The one table from EC2 error codes to golden's error kinds.
//!
//! Codes and their meaning are EC2's ("Error codes for the Amazon EC2
//! API", EC2 API Reference); the snapshot limits they name are listed in
//! the crate documentation with their sources.

use std::time::Duration;

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use golden_core::Error;

/// The hint for `SnapshotCreationPerVolumeRateExceeded`: CreateSnapshot
/// calls on one volume came faster than EBS allows.
pub const PER_VOLUME_RATE_HINT: &str = "the per-volume snapshot creation rate was exceeded: EBS \
    wants about 15 s between CreateSnapshot calls on one volume (and at most 5 pending \
    snapshots per gp2/gp3/io1/io2 volume, 1 for st1/sc1); wait 15 s and run the capture again \
    (with the same capture token it resumes rather than starting another snapshot)";

/// The hint for `ConcurrentSnapshotLimitExceeded`: the volume has as many
/// pending snapshots as EBS allows.
pub const CONCURRENT_SNAPSHOTS_HINT: &str = "the volume's concurrent snapshot limit was hit: EBS \
    allows at most 5 pending snapshots per gp2/gp3/io1/io2 volume (1 for st1/sc1); wait until a \
    pending snapshot of this volume completes (or reuse it as the golden snapshot), then capture \
    again";

/// The hint for `SnapshotLimitExceeded`: the account's snapshot quota in
/// the Region is used up. Waiting does not help.
pub const SNAPSHOT_QUOTA_HINT: &str = "the account's EBS snapshot quota for this Region is used \
    up (Service Quotas, Amazon EBS, \"Snapshots per Region\"); delete snapshots nothing uses \
    (`golden gc` removes unreferenced golden snapshots) or request a quota increase, then capture \
    again";

/// The hint given when a per-account or per-Region EC2 limit is reached.
pub const RESOURCE_LIMIT_HINT: &str = "an EC2 resource limit was reached (e.g. at most 20 \
    concurrent snapshot copies per destination Region, 5 snapshots with fast snapshot restore \
    per Region); wait for running operations to finish or raise the quota";

/// What kind of golden error an EC2 error code becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::NotFound`].
    NotFound,
    /// [`Error::PermissionDenied`].
    PermissionDenied,
    /// [`Error::Throttled`].
    Throttled,
    /// [`Error::RateLimited`] with a hint.
    RateLimited(&'static str),
    /// [`Error::InvalidInput`].
    InvalidInput,
    /// [`Error::Conflict`].
    Conflict,
    /// [`Error::Backend`]; `true` when retrying may help.
    Backend(bool),
    /// A quota that waiting does not restore: a non-retryable
    /// [`Error::Backend`] whose message carries the hint.
    Quota(&'static str),
}

/// The table: EC2 error code (and HTTP status, for codes it does not know)
/// to [`ErrorKind`]. Every EC2 error golden sees is classified here and
/// nowhere else.
pub fn classify(code: Option<&str>, http_status: Option<u16>) -> ErrorKind {
    match code.unwrap_or("") {
        "InvalidVolume.NotFound" | "InvalidSnapshot.NotFound" => ErrorKind::NotFound,
        "UnauthorizedOperation" | "AuthFailure" | "OptInRequired" => ErrorKind::PermissionDenied,
        "RequestLimitExceeded" | "Throttling" => ErrorKind::Throttled,
        "SnapshotCreationPerVolumeRateExceeded" => ErrorKind::RateLimited(PER_VOLUME_RATE_HINT),
        "ConcurrentSnapshotLimitExceeded" => ErrorKind::RateLimited(CONCURRENT_SNAPSHOTS_HINT),
        "SnapshotLimitExceeded" => ErrorKind::Quota(SNAPSHOT_QUOTA_HINT),
        "ResourceLimitExceeded" => ErrorKind::RateLimited(RESOURCE_LIMIT_HINT),
        "InvalidParameterValue"
        | "InvalidParameter"
        | "InvalidParameterCombination"
        | "MissingParameter"
        | "InvalidVolumeID.Malformed"
        | "InvalidSnapshotID.Malformed" => ErrorKind::InvalidInput,
        "InvalidSnapshot.InUse" | "IncorrectState" | "InvalidVolume.ZoneMismatch" => {
            ErrorKind::Conflict
        }
        "InternalError" | "InternalFailure" | "ServiceUnavailable" | "Unavailable" => {
            ErrorKind::Backend(true)
        }
        _ => ErrorKind::Backend(http_status.is_some_and(|s| s >= 500)),
    }
}

/// Builds the golden error for an EC2 error `code` with `message`, about
/// the resource `what` `id`.
pub fn from_code(
    code: Option<&str>,
    message: Option<&str>,
    http_status: Option<u16>,
    what: &'static str,
    id: &str,
) -> Error {
    let message = match (code, message.filter(|m| !m.is_empty())) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => format!(
            "EC2 returned an error without a code (HTTP status {})",
            http_status.map_or_else(|| "unknown".to_string(), |s| s.to_string())
        ),
    };
    let id = id.to_string();
    match classify(code, http_status) {
        ErrorKind::NotFound => Error::NotFound { what, id },
        ErrorKind::PermissionDenied => Error::PermissionDenied { what, id, message },
        ErrorKind::Throttled => Error::Throttled { what, id, message },
        ErrorKind::RateLimited(hint) => Error::RateLimited {
            what,
            id,
            hint: format!("{hint} ({message})"),
            retry_after: (code == Some("SnapshotCreationPerVolumeRateExceeded"))
                .then_some(Duration::from_secs(15)),
        },
        ErrorKind::InvalidInput => Error::InvalidInput {
            what,
            value: id,
            rule: message,
        },
        ErrorKind::Conflict => Error::Conflict {
            what,
            id,
            reason: message,
        },
        ErrorKind::Backend(retryable) => Error::Backend {
            what,
            id,
            message,
            source: None,
            retryable,
        },
        ErrorKind::Quota(hint) => Error::Backend {
            what,
            id,
            message: format!("{hint} ({message})"),
            source: None,
            retryable: false,
        },
    }
}

/// Maps an SDK error from a call about `what` `id` to a golden error.
///
/// Service errors go through [`classify`]; transport failures (timeouts,
/// connection errors, unreadable responses) become retryable
/// [`Error::Backend`]s. Retries have already happened inside the SDK by
/// the time an error gets here.
pub fn map_sdk_error<E>(err: SdkError<E, HttpResponse>, what: &'static str, id: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &err {
        SdkError::ServiceError(ctx) => {
            let status = Some(ctx.raw().status().as_u16());
            let mut mapped = from_code(ctx.err().code(), ctx.err().message(), status, what, id);
            if let Error::Backend { source, .. } = &mut mapped {
                *source = Some(Box::new(err));
            }
            mapped
        }
        SdkError::ConstructionFailure(_) => Error::backend(
            what,
            id,
            "could not build the EC2 request",
            Box::new(err) as golden_core::BoxError,
            false,
        ),
        _ => {
            let message = format!("EC2 call failed: {}", error_chain(&err));
            Error::backend(
                what,
                id,
                message,
                Box::new(err) as golden_core::BoxError,
                true,
            )
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(code: &str) -> Error {
        from_code(
            Some(code),
            Some("the message"),
            Some(400),
            "snapshot",
            "snap-0123abcd",
        )
    }

    #[test]
    fn table_maps_every_listed_code() {
        type Check = fn(&Error) -> bool;
        let cases: &[(&str, Check)] = &[
            ("InvalidVolume.NotFound", |e| {
                matches!(e, Error::NotFound { .. })
            }),
            ("InvalidSnapshot.NotFound", |e| {
                matches!(e, Error::NotFound { .. })
            }),
            ("UnauthorizedOperation", |e| {
                matches!(e, Error::PermissionDenied { .. })
            }),
            ("AuthFailure", |e| {
                matches!(e, Error::PermissionDenied { .. })
            }),
            ("RequestLimitExceeded", |e| {
                matches!(e, Error::Throttled { .. })
            }),
            ("Throttling", |e| matches!(e, Error::Throttled { .. })),
            ("SnapshotCreationPerVolumeRateExceeded", |e| {
                matches!(
                    e,
                    Error::RateLimited {
                        retry_after: Some(_),
                        ..
                    }
                )
            }),
            ("ResourceLimitExceeded", |e| {
                matches!(e, Error::RateLimited { .. })
            }),
            ("InvalidParameterValue", |e| {
                matches!(e, Error::InvalidInput { .. })
            }),
            ("InvalidSnapshot.InUse", |e| {
                matches!(e, Error::Conflict { .. })
            }),
            ("InternalError", |e| {
                matches!(
                    e,
                    Error::Backend {
                        retryable: true,
                        ..
                    }
                )
            }),
            ("SomethingNew", |e| {
                matches!(
                    e,
                    Error::Backend {
                        retryable: false,
                        ..
                    }
                )
            }),
        ];
        for (code, check) in cases {
            let e = map(code);
            assert!(check(&e), "{code} -> {e:?}");
            assert!(
                e.to_string().contains("snap-0123abcd"),
                "{code}: the error names the resource: {e}"
            );
        }
    }

    #[test]
    fn messages_carry_code_and_text() {
        let e = map("UnauthorizedOperation");
        let s = e.to_string();
        assert!(
            s.contains("UnauthorizedOperation") && s.contains("the message"),
            "{s}"
        );
        let e = map("SnapshotCreationPerVolumeRateExceeded");
        assert!(e.to_string().contains("5 pending snapshots per"), "{e}");
        assert!(e.is_retryable());
        assert!(map("RequestLimitExceeded").is_retryable());
        assert!(!map("InvalidSnapshot.NotFound").is_retryable());
    }

    #[test]
    fn snapshot_limit_codes_say_which_limit_and_what_to_do() {
        let e = map("ConcurrentSnapshotLimitExceeded");
        let s = e.to_string();
        assert!(
            matches!(
                e,
                Error::RateLimited {
                    retry_after: None,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(
            s.contains("concurrent snapshot limit") && s.contains("wait until"),
            "{s}"
        );
        assert!(e.is_retryable());

        let e = map("SnapshotCreationPerVolumeRateExceeded");
        let s = e.to_string();
        assert!(
            matches!(e, Error::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(15)),
            "{e:?}"
        );
        assert!(
            s.contains("creation rate") && s.contains("wait 15 s"),
            "{s}"
        );

        let e = map("SnapshotLimitExceeded");
        let s = e.to_string();
        assert!(
            matches!(
                e,
                Error::Backend {
                    retryable: false,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!e.is_retryable(), "waiting does not restore a quota");
        assert!(
            s.contains("snapshot quota") && s.contains("golden gc") && s.contains("quota increase"),
            "{s}"
        );
        for code in [
            "ConcurrentSnapshotLimitExceeded",
            "SnapshotCreationPerVolumeRateExceeded",
            "SnapshotLimitExceeded",
        ] {
            let s = map(code).to_string();
            assert!(s.contains(code) && s.contains("snap-0123abcd"), "{s}");
        }
    }

    #[test]
    fn unknown_codes_follow_the_http_status() {
        let e = from_code(Some("Weird"), None, Some(503), "volume", "vol-0123abcd");
        assert!(e.is_retryable());
        let e = from_code(None, None, Some(502), "volume", "vol-0123abcd");
        assert!(e.is_retryable(), "{e}");
        assert!(e.to_string().contains("502"), "{e}");
        let e = from_code(Some("Weird"), None, Some(400), "volume", "vol-0123abcd");
        assert!(!e.is_retryable());
    }
}
