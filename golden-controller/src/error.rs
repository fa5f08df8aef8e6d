//! The crate's one error type.

/// An error of the controller: what was being done, to which object, and
/// why it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A Kubernetes API request failed.
    #[error("{} {} {}: {source}", call.verb, call.kind, call.name)]
    Kube {
        /// The request (`get`, `patch status`, `list`) and its object
        /// (`namespace/name`, or what a list selected).
        call: golden_k8s::KubeCall,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A golden-k8s operation (import, teardown, capture, gc) failed.
    #[error("{what}: {source}")]
    Golden {
        /// The operation and its object (`import of GoldenClaim team-a/orders`).
        what: String,
        /// The library's error, which says what to fix.
        #[source]
        source: Box<golden_k8s::Error>,
    },
    /// The provider of a GoldenSnapshot could not be built.
    #[error(
        "the {kind:?} provider of GoldenSnapshot {golden}: {message}; check spec.provider and \
         the controller's cloud credentials"
    )]
    Provider {
        /// The GoldenSnapshot.
        golden: String,
        /// The provider kind asked for.
        kind: golden_core::api::v1alpha1::ProviderKind,
        /// What the factory reported.
        message: String,
    },
    /// A cloud call (adopting a snapshot) failed.
    #[error("{what}: {source}")]
    Cloud {
        /// The call and its object.
        what: String,
        /// The provider's error.
        #[source]
        source: golden_core::Error,
    },
    /// Adding or removing the claim finalizer failed.
    #[error("the {finalizer} finalizer of GoldenClaim {claim}: {message}")]
    Finalizer {
        /// The finalizer's name.
        finalizer: &'static str,
        /// The claim, `namespace/name`.
        claim: String,
        /// What failed.
        message: String,
    },
    /// The controller's configuration cannot run.
    #[error("invalid controller configuration: {0}")]
    Config(String),
    /// Leader election failed (the Lease could not be read or written), or
    /// this replica lost the Lease: it stops at once so that its
    /// Deployment restarts it as a candidate.
    #[error("leader election: {0}")]
    Lease(#[from] crate::lease::LeaseError),
    /// This replica held the Lease and lost it; it stopped writing.
    #[error(
        "lost the leader Lease {lease}: another replica leads now, or the API server could not          be reached within the renew deadline; this replica stopped (restart it to stand as a          candidate again)"
    )]
    LeadershipLost {
        /// The Lease, `namespace/name`.
        lease: String,
    },
    /// The health and metrics server could not start or failed.
    #[error("the health and metrics server on {addr}: {source}")]
    Serve {
        /// The address it was to listen on.
        addr: std::net::SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A watch of the controller ended with an error.
    #[error("the {controller} controller: {message}")]
    Runtime {
        /// `GoldenClaim` or `GoldenSnapshot`.
        controller: &'static str,
        /// What failed.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn kube(call: golden_k8s::KubeCall, source: kube::Error) -> Self {
        Error::Kube { call, source }
    }

    pub(crate) fn golden(what: impl Into<String>, source: golden_k8s::Error) -> Self {
        Error::Golden {
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// A short, stable label for metrics (`kube`, `golden`, `provider`...).
    pub fn metric_reason(&self) -> &'static str {
        match self {
            Error::Kube { .. } => "kube",
            Error::Golden { .. } => "golden",
            Error::Provider { .. } => "provider",
            Error::Cloud { .. } => "cloud",
            Error::Finalizer { .. } => "finalizer",
            Error::Config(_) => "config",
            Error::Runtime { .. } => "runtime",
            Error::Lease(_) | Error::LeadershipLost { .. } => "lease",
            Error::Serve { .. } => "serve",
        }
    }
}
