//! The error type of golden-k8s.

use std::fmt;
use std::time::Duration;

/// Result with golden-k8s's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while importing, waiting, tearing down or
/// collecting golden snapshots.
///
/// Validation problems (bad names, protected namespaces, a StorageClass of
/// another driver, an object owned by someone else) are reported as
/// [`Error::Core`] with golden-core's variants (`InvalidInput`, `NotFound`,
/// `Conflict`), so callers branch on one set of kinds whatever layer found
/// the problem. Use the predicates ([`Error::is_conflict`],
/// [`Error::is_not_found`], ...) rather than matching messages.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A golden-core error: invalid input, not found, conflict, a provider
    /// failure.
    #[error(transparent)]
    Core(#[from] golden_core::Error),

    /// A Kubernetes API call failed.
    #[error(
        "Kubernetes API: {} {} {:?} failed: {source}",
        call.verb,
        call.kind,
        call.name
    )]
    Kube {
        /// The request that failed.
        call: KubeCall,
        /// The client's error.
        #[source]
        source: kube::Error,
    },

    /// An import did not become usable before its deadline.
    #[error("{0}")]
    NotReady(Box<NotReady>),

    /// Objects did not go away before the deadline (finalizers still held).
    #[error("timed out after {waited:?} waiting for {kind} to be deleted: {remaining}")]
    DeleteTimeout {
        /// The kind of object.
        kind: &'static str,
        /// How long was waited.
        waited: Duration,
        /// The objects still there, with their finalizers.
        remaining: String,
    },

    /// Some namespaces of a fan-out failed; the others succeeded.
    #[error("{} of {total} namespaces failed during {phase}: {}", failures.len(), summary(failures))]
    Incomplete {
        /// `validation`, `apply`, `wait` or `teardown`.
        phase: &'static str,
        /// How many namespaces were attempted.
        total: usize,
        /// Namespaces that completed.
        succeeded: Vec<String>,
        /// The namespaces that failed, each with its error.
        failures: Vec<NamespaceFailure>,
    },
}

/// A Kubernetes API request: what was asked of which object. The context
/// of a failed call in [`Error::Kube`], and in the errors of crates that
/// call the API beside golden-k8s (golden-controller), with the client's
/// error as the source.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KubeCall {
    /// The verb (`get`, `list`, `apply`, `delete`, `patch status`).
    pub verb: &'static str,
    /// The kind of object.
    pub kind: &'static str,
    /// `namespace/name`, the name, or the selector or scope of a list.
    pub name: String,
}

impl KubeCall {
    /// The request `verb` of the `kind` object `name`.
    pub fn new(verb: &'static str, kind: &'static str, name: impl Into<String>) -> Self {
        KubeCall {
            verb,
            kind,
            name: name.into(),
        }
    }
}

fn summary(failures: &[NamespaceFailure]) -> String {
    let mut s = String::new();
    for (i, f) in failures.iter().take(5).enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        s.push_str(&format!("{}: {}", f.namespace, f.error));
    }
    if failures.len() > 5 {
        s.push_str(&format!("; and {} more", failures.len() - 5));
    }
    s
}

/// One namespace of a fan-out that failed.
#[derive(Debug)]
pub struct NamespaceFailure {
    /// The namespace.
    pub namespace: String,
    /// Why it failed.
    pub error: Error,
}

/// Why an import was not usable at its deadline: the last state of each
/// object and the last event of the claim.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NotReady {
    /// The target namespace.
    pub namespace: String,
    /// The golden snapshot id.
    pub snapshot_id: String,
    /// How long was waited.
    pub waited: Duration,
    /// The VolumeSnapshotContent name and whether it was ready.
    pub content: ObjectState,
    /// The VolumeSnapshot name and whether it was ready.
    pub volume_snapshot: ObjectState,
    /// The PVC name and whether it was usable.
    pub claim: ObjectState,
    /// The PVC's phase (`Pending`, `Bound`, `Lost`), when seen.
    pub claim_phase: Option<String>,
    /// The newest event about the PVC: `reason: message`.
    pub claim_last_event: Option<String>,
    /// The newest event about the VolumeSnapshot: `reason: message`.
    pub snapshot_last_event: Option<String>,
    /// The last error of the watches, if they failed.
    pub watch_error: Option<String>,
}

/// What was last seen of one object while waiting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ObjectState {
    /// The object name.
    pub name: String,
    /// Whether the object was seen at all.
    pub seen: bool,
    /// Whether it was ready (readyToUse, or Bound / waiting for a consumer).
    pub ready: bool,
    /// `status.error.message`, for snapshot objects.
    pub error: Option<String>,
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "import of golden snapshot {} into namespace {} not usable after {:.1?}",
            self.snapshot_id, self.namespace, self.waited
        )?;
        let mut last_error: Option<&str> = None;
        for (kind, o) in [
            ("VolumeSnapshotContent", &self.content),
            ("VolumeSnapshot", &self.volume_snapshot),
        ] {
            if !o.seen {
                write!(f, "; {kind} {} not found", o.name)?;
            } else if !o.ready {
                write!(f, "; {kind} {} not readyToUse", o.name)?;
                match o.error.as_deref() {
                    Some(e) if last_error == Some(e) => write!(f, " (same error)")?,
                    Some(e) => write!(f, " (error: {e})")?,
                    None => {}
                }
                last_error = o.error.as_deref().or(last_error);
            }
        }
        if let Some(e) = &self.snapshot_last_event {
            write!(f, "; last VolumeSnapshot event: {e}")?;
        }
        if !self.claim.seen {
            write!(f, "; PersistentVolumeClaim {} not found", self.claim.name)?;
        } else if !self.claim.ready {
            write!(
                f,
                "; PersistentVolumeClaim {} is {}",
                self.claim.name,
                self.claim_phase.as_deref().unwrap_or("without a phase")
            )?;
        }
        if let Some(e) = &self.claim_last_event {
            write!(f, "; last PersistentVolumeClaim event: {e}")?;
        }
        if let Some(e) = &self.watch_error {
            write!(f, "; watch error: {e}")?;
        }
        Ok(())
    }
}

impl Error {
    pub(crate) fn kube(
        verb: &'static str,
        kind: &'static str,
        name: impl Into<String>,
        source: kube::Error,
    ) -> Self {
        Error::Kube {
            call: KubeCall::new(verb, kind, name),
            source,
        }
    }

    fn any(&self, f: &dyn Fn(&Error) -> bool) -> bool {
        match self {
            Error::Incomplete { failures, .. } => failures.iter().any(|x| x.error.any(f)),
            e => f(e),
        }
    }

    fn api_status(&self) -> Option<&kube::core::Status> {
        match self {
            Error::Kube {
                source: kube::Error::Api(s),
                ..
            } => Some(s),
            _ => None,
        }
    }

    /// Whether this is (or, for [`Error::Incomplete`], contains) a conflict:
    /// an object owned by someone else, or an API 409.
    pub fn is_conflict(&self) -> bool {
        self.any(&|e| {
            matches!(e, Error::Core(golden_core::Error::Conflict { .. }))
                || e.api_status().is_some_and(|s| s.is_conflict())
        })
    }

    /// Whether this is (or contains) a missing object.
    pub fn is_not_found(&self) -> bool {
        self.any(&|e| {
            matches!(e, Error::Core(golden_core::Error::NotFound { .. }))
                || e.api_status().is_some_and(|s| s.is_not_found())
        })
    }

    /// Whether this is (or contains) input that can never succeed.
    pub fn is_invalid_input(&self) -> bool {
        self.any(&|e| matches!(e, Error::Core(golden_core::Error::InvalidInput { .. })))
    }

    /// Whether this is (or contains) an import that did not become usable in time.
    pub fn is_not_ready(&self) -> bool {
        self.any(&|e| matches!(e, Error::NotReady(_)))
    }

    /// Whether running the same operation again may succeed (API errors
    /// 429/5xx, connection failures, timeouts). For [`Error::Incomplete`]:
    /// whether every failure is retryable.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Core(e) => e.is_retryable(),
            Error::Kube { source, .. } => match source {
                kube::Error::Api(s) => s.code == 429 || s.code >= 500 || s.is_conflict(),
                kube::Error::HyperError(_) | kube::Error::Service(_) => true,
                _ => false,
            },
            Error::NotReady(_) | Error::DeleteTimeout { .. } => true,
            Error::Incomplete { failures, .. } => {
                !failures.is_empty() && failures.iter().all(|f| f.error.is_retryable())
            }
        }
    }

    /// The per-namespace failures of an [`Error::Incomplete`], or none.
    pub fn failures(&self) -> &[NamespaceFailure] {
        match self {
            Error::Incomplete { failures, .. } => failures,
            _ => &[],
        }
    }

    /// Combines per-namespace failures: one failure is returned as itself,
    /// several as [`Error::Incomplete`].
    pub(crate) fn combine(
        phase: &'static str,
        total: usize,
        succeeded: Vec<String>,
        mut failures: Vec<NamespaceFailure>,
    ) -> Self {
        if failures.len() == 1 && total == 1 {
            return failures.pop().expect("one failure").error;
        }
        failures.sort_by(|a, b| a.namespace.cmp(&b.namespace));
        Error::Incomplete {
            phase,
            total,
            succeeded,
            failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure("m", reason)
                .with_code(code)
                .boxed(),
        )
    }

    #[test]
    fn predicates_use_codes_and_kinds() {
        let e = Error::kube(
            "apply",
            "PersistentVolumeClaim",
            "a/b",
            api(409, "Conflict"),
        );
        assert!(e.is_conflict());
        assert!(!e.is_not_found());
        let e = Error::kube("get", "PersistentVolume", "pv", api(404, "NotFound"));
        assert!(e.is_not_found());
        assert!(!e.is_retryable());
        let e = Error::kube("get", "PersistentVolume", "pv", api(500, "InternalError"));
        assert!(e.is_retryable());
        let e: Error = golden_core::Error::conflict("PersistentVolumeClaim", "a/b", "x").into();
        assert!(e.is_conflict());
    }

    #[test]
    fn incomplete_reports_each_namespace() {
        let failures = vec![
            NamespaceFailure {
                namespace: "b".into(),
                error: golden_core::Error::conflict("PersistentVolumeClaim", "b/data", "foreign")
                    .into(),
            },
            NamespaceFailure {
                namespace: "a".into(),
                error: golden_core::Error::not_found("namespace", "a").into(),
            },
        ];
        let e = Error::combine("validation", 3, vec!["c".into()], failures);
        assert!(e.is_conflict());
        assert!(e.is_not_found());
        assert!(!e.is_retryable());
        let msg = e.to_string();
        assert!(
            msg.starts_with("2 of 3 namespaces failed during validation: a:"),
            "{msg}"
        );
        assert!(msg.contains("b: conflict"), "{msg}");
    }

    #[test]
    fn not_ready_says_why() {
        let n = NotReady {
            namespace: "sandbox01".into(),
            snapshot_id: "memsnap-0001".into(),
            waited: Duration::from_secs(3),
            content: ObjectState {
                name: "sandbox01.golden-memsnap-0001".into(),
                seen: true,
                ready: false,
                error: Some("can not find snapshot for snapshotID".into()),
            },
            volume_snapshot: ObjectState {
                name: "golden-memsnap-0001".into(),
                seen: true,
                ready: false,
                error: Some("can not find snapshot for snapshotID".into()),
            },
            claim: ObjectState {
                name: "data".into(),
                seen: true,
                ..Default::default()
            },
            claim_phase: Some("Pending".into()),
            claim_last_event: Some("ProvisioningFailed: snapshot not ready".into()),
            ..Default::default()
        };
        let msg = Error::NotReady(Box::new(n)).to_string();
        assert!(
            msg.contains("can not find snapshot for snapshotID"),
            "{msg}"
        );
        assert!(msg.contains("ProvisioningFailed"), "{msg}");
        assert!(msg.contains("is Pending"), "{msg}");
    }
}
