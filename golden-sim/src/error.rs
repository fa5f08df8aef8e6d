//! Errors: the public [`SimError`] and the API server's `Status` failures.

use serde_json::{Value, json};

use crate::resources::ResourceDef;

/// Why the simulated cluster could not start or be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// Binding or serving the loopback port failed.
    #[error("simulated API server I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A seeded object was not acceptable to the API server.
    #[error("simulated API server refused {what}: {message}")]
    Rejected {
        /// What was being written.
        what: String,
        /// The API server's message.
        message: String,
    },
}

/// A failed request, answered with a `Status` body.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) code: u16,
    pub(crate) reason: &'static str,
    pub(crate) message: String,
    pub(crate) details: Option<Value>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.reason, self.code, self.message)
    }
}

/// The `details` of a failure about object `name` of `res`.
fn details(res: &ResourceDef, name: &str) -> Value {
    json!({"name": name, "group": res.group, "kind": res.plural})
}

impl ApiError {
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// The `Status` object sent as the response body.
    pub(crate) fn status(&self) -> Value {
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            s["details"] = d.clone();
        }
        s
    }

    pub(crate) fn not_found(res: &ResourceDef, name: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{}\" not found", res.qualified(), name),
        )
        .with_details(details(res, name))
    }

    pub(crate) fn already_exists(res: &ResourceDef, name: &str) -> Self {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{}\" already exists", res.qualified(), name),
        )
        .with_details(details(res, name))
    }

    pub(crate) fn modified(res: &ResourceDef, name: &str) -> Self {
        ApiError::precondition(
            res,
            name,
            "the object has been modified; please apply your changes to the latest version and try again"
                .into(),
        )
    }

    /// 409 Conflict: the operation on `name` cannot be fulfilled because
    /// of `what` (a failed precondition, a stale resourceVersion).
    pub(crate) fn precondition(res: &ResourceDef, name: &str, what: String) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{}\": {}",
                res.qualified(),
                name,
                what
            ),
        )
        .with_details(details(res, name))
    }

    /// 422 Invalid with one cause per `(field, message)`.
    pub(crate) fn invalid(res: &ResourceDef, name: &str, causes: &[(String, String)]) -> Self {
        let list: Vec<String> = causes
            .iter()
            .map(|(f, m)| {
                if f.is_empty() {
                    m.clone()
                } else {
                    format!("{f}: {m}")
                }
            })
            .collect();
        let joined = if list.len() == 1 {
            list[0].clone()
        } else {
            format!("[{}]", list.join(", "))
        };
        ApiError::new(
            422,
            "Invalid",
            format!(
                "{} \"{}\" is invalid: {}",
                res.qualified_kind(),
                name,
                joined
            ),
        )
        .with_details(json!({
            "name": name,
            "group": res.group,
            "kind": res.kind,
            "causes": causes.iter().map(|(f, m)| json!({
                "reason": "FieldValueInvalid",
                "message": m,
                "field": f,
            })).collect::<Vec<_>>(),
        }))
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    pub(crate) fn forbidden(res: &ResourceDef, name: &str, why: &str) -> Self {
        ApiError::new(
            403,
            "Forbidden",
            format!("{} \"{}\" is forbidden: {}", res.qualified(), name, why),
        )
        .with_details(details(res, name))
    }

    pub(crate) fn namespace_missing(ns: &str) -> Self {
        ApiError::new(404, "NotFound", format!("namespaces \"{ns}\" not found"))
            .with_details(json!({"name": ns, "kind": "namespaces"}))
    }

    pub(crate) fn path_not_found() -> Self {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
        .with_details(json!({}))
    }

    pub(crate) fn method_not_allowed(method: &str) -> Self {
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource: {method}"),
        )
    }

    pub(crate) fn unsupported_media(ct: &str) -> Self {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml; got {ct:?}"
            ),
        )
    }

    pub(crate) fn expired(rv: u64, oldest: u64) -> Self {
        ApiError::new(
            410,
            "Expired",
            format!("too old resource version: {rv} ({oldest})"),
        )
    }
}
