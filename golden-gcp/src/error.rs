//! The one table that maps Compute Engine errors to [`golden_core::Error`].
//!
//! Compute returns errors as `{"error": {"code": 404, "message": ..., "errors":
//! [{"reason": "notFound", ...}]}}` without a gRPC status string, so the
//! client's status code stays `Unknown`: the table branches on the HTTP
//! status and the error reasons. Long-running operations report errors as
//! `error.errors[].code` (`RESOURCE_NOT_FOUND`, ...) plus
//! `httpErrorStatusCode`, and go through the same table.

use std::time::Duration;

use golden_core::{BoxError, Error};
use google_cloud_compute_v1::model::Operation;
use google_cloud_gax::error::rpc::StatusDetails;

/// How long GCE asks between snapshots of one disk.
pub const SNAPSHOT_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// The operation-error code of the snapshot frequency limit.
pub const RATE_EXCEEDED_CODE: &str = "RESOURCE_OPERATION_RATE_EXCEEDED";

/// What the failing call was about, for the error message.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// Kind of resource (`disk`, `snapshot`, `image`).
    pub(crate) what: &'static str,
    /// Its path or name.
    pub(crate) id: String,
    /// Which resource a 404 is about when it is not `what` (the source disk
    /// of an insert).
    pub(crate) missing: Option<(&'static str, String)>,
    /// The disk whose snapshot frequency a rate-limit error is about.
    pub(crate) disk: Option<String>,
}

impl Ctx {
    pub(crate) fn new(what: &'static str, id: impl Into<String>) -> Self {
        Ctx {
            what,
            id: id.into(),
            missing: None,
            disk: None,
        }
    }

    /// A 404 names `what`/`id` rather than the context's resource.
    pub(crate) fn missing(mut self, what: &'static str, id: impl Into<String>) -> Self {
        self.missing = Some((what, id.into()));
        self
    }

    /// Rate-limit errors are about the snapshot frequency of `disk`.
    pub(crate) fn disk(mut self, disk: impl Into<String>) -> Self {
        self.disk = Some(disk.into());
        self
    }
}

/// A Compute error, whatever it came from.
#[derive(Debug)]
pub(crate) struct ApiError {
    /// The HTTP status, when the error came from an HTTP response.
    pub(crate) status: Option<u16>,
    /// `errors[].reason` (HTTP) or `errors[].code` (operations).
    pub(crate) reasons: Vec<String>,
    /// The service's message.
    pub(crate) message: String,
    /// Whether the request never got an answer (connection, timeout).
    pub(crate) transport: bool,
    /// The underlying error.
    pub(crate) source: Option<BoxError>,
}

impl ApiError {
    /// From a client error.
    pub(crate) fn from_client(err: google_cloud_gax::error::Error) -> Self {
        let status = err.http_status_code();
        let (reasons, message) = match err.status() {
            Some(s) => (
                s.details
                    .iter()
                    .filter_map(|d| match d {
                        StatusDetails::ErrorInfo(info) if !info.reason.is_empty() => {
                            Some(info.reason.clone())
                        }
                        _ => None,
                    })
                    .collect(),
                s.message.clone(),
            ),
            None => (Vec::new(), err.to_string()),
        };
        let transport = err.is_io()
            || err.is_timeout()
            || err.is_connect()
            || err.is_transport()
            || err.is_exhausted();
        ApiError {
            status,
            reasons,
            message,
            transport,
            source: Some(Box::new(err)),
        }
    }

    /// From a finished operation, when it carries an error.
    pub(crate) fn from_operation(op: &Operation) -> Option<Self> {
        let errors = op
            .error
            .as_ref()
            .map(|e| e.errors.as_slice())
            .unwrap_or(&[]);
        if errors.is_empty() && op.http_error_status_code.is_none() {
            return None;
        }
        let reasons = errors.iter().filter_map(|e| e.code.clone()).collect();
        let mut message = errors
            .iter()
            .filter_map(|e| e.message.clone())
            .collect::<Vec<_>>()
            .join("; ");
        if message.is_empty() {
            message = op
                .http_error_message
                .clone()
                .unwrap_or_else(|| "the operation failed".to_string());
        }
        Some(ApiError {
            status: op
                .http_error_status_code
                .and_then(|c| u16::try_from(c).ok()),
            reasons,
            message,
            transport: false,
            source: None,
        })
    }

    fn has_reason(&self, candidates: &[&str]) -> bool {
        self.reasons
            .iter()
            .any(|r| candidates.iter().any(|c| r.eq_ignore_ascii_case(c)))
    }
}

/// The table: HTTP status and error reason -> [`golden_core::Error`].
///
/// | status / reason                                             | error            |
/// |-------------------------------------------------------------|------------------|
/// | `RESOURCE_OPERATION_RATE_EXCEEDED`, "Too frequent operations" | `RateLimited`  |
/// | 429, `rateLimitExceeded`, `userRateLimitExceeded`           | `Throttled`      |
/// | 404, `notFound`, `RESOURCE_NOT_FOUND`                       | `NotFound`       |
/// | 403, `forbidden`, `insufficientPermissions`                 | `PermissionDenied` |
/// | 409, `alreadyExists`, `RESOURCE_ALREADY_EXISTS`             | `Conflict`       |
/// | 412, `conditionNotMet`                                      | `Conflict`       |
/// | 400, `invalid`, `badRequest`, `resourceNotReady`            | `InvalidInput`   |
/// | 5xx, no answer                                              | `Backend` (retryable) |
/// | anything else                                               | `Backend`        |
pub(crate) fn map_error(ctx: &Ctx, e: ApiError) -> Error {
    let what = ctx.what;
    let id = ctx.id.clone();
    let frequency = e.has_reason(&[RATE_EXCEEDED_CODE])
        || e.message
            .contains("Too frequent operations from the source resource");
    if frequency {
        let disk = ctx.disk.clone().unwrap_or_else(|| id.clone());
        return Error::RateLimited {
            what: "disk",
            id: disk,
            hint: format!(
                "Compute Engine's snapshot frequency limit was hit: a disk can be snapshotted at \
                 most once per 10 minutes, in bursts of at most 6 per hour. Retry in 10 minutes \
                 (or reuse the latest golden snapshot). The service said: {}",
                e.message
            ),
            retry_after: Some(SNAPSHOT_INTERVAL),
        };
    }
    if e.has_reason(&[
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "RATE_LIMIT_EXCEEDED",
    ]) || e.status == Some(429)
    {
        return Error::Throttled {
            what,
            id,
            message: e.message,
        };
    }
    if e.has_reason(&["notFound", "RESOURCE_NOT_FOUND"]) || e.status == Some(404) {
        return match &ctx.missing {
            Some((w, i)) => Error::not_found(w, i.clone()),
            None => Error::not_found(what, id),
        };
    }
    if e.has_reason(&[
        "forbidden",
        "insufficientPermissions",
        "accessNotConfigured",
    ]) || e.status == Some(403)
        || e.status == Some(401)
    {
        return Error::PermissionDenied {
            what,
            id,
            message: e.message,
        };
    }
    if e.has_reason(&["alreadyExists", "RESOURCE_ALREADY_EXISTS"]) || e.status == Some(409) {
        return Error::conflict(
            what,
            id,
            format!(
                "it exists already; choose another name or delete it first ({})",
                e.message
            ),
        );
    }
    if e.has_reason(&["conditionNotMet"]) || e.status == Some(412) {
        return Error::conflict(
            what,
            id,
            format!(
                "it changed while being updated; read it again and retry ({})",
                e.message
            ),
        );
    }
    if e.has_reason(&[
        "invalid",
        "badRequest",
        "resourceNotReady",
        "invalidParameter",
    ]) || e.status == Some(400)
    {
        return Error::invalid(what, id, e.message);
    }
    let retryable = e.transport || e.status.is_some_and(|s| s >= 500);
    let message = match e.status {
        Some(s) => format!("Compute Engine answered {s}: {}", e.message),
        None if e.reasons.is_empty() => e.message,
        None => format!("{} ({})", e.message, e.reasons.join(", ")),
    };
    Error::Backend {
        what,
        id,
        message,
        source: e.source,
        retryable,
    }
}

/// Maps a client error through [`map_error`].
pub(crate) fn from_client(ctx: &Ctx, err: google_cloud_gax::error::Error) -> Error {
    map_error(ctx, ApiError::from_client(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: Option<u16>, reason: &str, message: &str) -> ApiError {
        ApiError {
            status,
            reasons: if reason.is_empty() {
                vec![]
            } else {
                vec![reason.to_string()]
            },
            message: message.to_string(),
            transport: false,
            source: None,
        }
    }

    #[test]
    fn the_table() {
        let ctx = Ctx::new("snapshot", "golden-a").disk("projects/p/zones/z/disks/d");
        type Check = fn(&Error) -> bool;
        let cases: Vec<(ApiError, Check)> = vec![
            (api(Some(404), "notFound", "gone"), |e| {
                matches!(
                    e,
                    Error::NotFound {
                        what: "snapshot",
                        ..
                    }
                )
            }),
            (api(None, "RESOURCE_NOT_FOUND", "gone"), |e| {
                matches!(e, Error::NotFound { .. })
            }),
            (api(Some(403), "forbidden", "no"), |e| {
                matches!(e, Error::PermissionDenied { .. })
            }),
            (api(Some(403), "rateLimitExceeded", "slow"), |e| {
                matches!(e, Error::Throttled { .. })
            }),
            (api(Some(409), "alreadyExists", "dup"), |e| {
                matches!(e, Error::Conflict { .. })
            }),
            (api(Some(429), "", "slow"), |e| {
                matches!(e, Error::Throttled { .. })
            }),
            (api(Some(400), "invalid", "bad"), |e| {
                matches!(e, Error::InvalidInput { .. })
            }),
            (
                api(None, RATE_EXCEEDED_CODE, "Operation rate exceeded"),
                |e| {
                    matches!(
                        e,
                        Error::RateLimited {
                            what: "disk",
                            retry_after: Some(_),
                            ..
                        }
                    )
                },
            ),
            (api(Some(503), "backendError", "later"), |e| {
                e.is_retryable()
            }),
            (api(Some(500), "", "oops"), |e| {
                matches!(
                    e,
                    Error::Backend {
                        retryable: true,
                        ..
                    }
                )
            }),
        ];
        for (input, check) in cases {
            let shown = format!("{input:?}");
            let e = map_error(&ctx, input);
            assert!(check(&e), "{shown} -> {e:?}");
            assert!(
                e.to_string().contains("golden-a") || e.to_string().contains("disks/d"),
                "names the resource: {e}"
            );
        }
    }

    #[test]
    fn missing_source_is_named() {
        let ctx = Ctx::new("snapshot", "golden-a").missing("disk", "projects/p/zones/z/disks/d");
        let e = map_error(&ctx, api(Some(404), "notFound", "gone"));
        assert_eq!(
            e.to_string(),
            "disk \"projects/p/zones/z/disks/d\" not found"
        );
    }
}
