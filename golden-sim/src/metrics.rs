//! Request counting, latency injection and fault injection.

use std::collections::BTreeMap;
use std::time::Duration;

/// Injected latency added before each request is answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Latency {
    /// Answer at once.
    #[default]
    None,
    /// The same delay for every request.
    Fixed(Duration),
    /// A delay per Kubernetes verb (`get`, `list`, `watch`, `create`,
    /// `update`, `patch`, `delete`); verbs not listed are answered at once.
    PerVerb(BTreeMap<String, Duration>),
}

impl Latency {
    /// The delay for a request with this verb.
    pub fn for_verb(&self, verb: &str) -> Duration {
        match self {
            Latency::None => Duration::ZERO,
            Latency::Fixed(d) => *d,
            Latency::PerVerb(m) => m.get(verb).copied().unwrap_or(Duration::ZERO),
        }
    }
}

/// Counts of API requests by Kubernetes verb and plural resource name
/// (discovery and other non-resource requests count under verb `get` and
/// resource `""`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestCounts {
    counts: BTreeMap<(String, String), u64>,
    objects_read: u64,
}

impl RequestCounts {
    pub(crate) fn add_objects_read(&mut self, n: u64) {
        self.objects_read += n;
    }

    /// Objects returned by get and list requests (a list's items, a found
    /// object; a 404 returns none). Watch events are not counted.
    pub fn objects_read(&self) -> u64 {
        self.objects_read
    }

    pub(crate) fn add(&mut self, verb: &str, resource: &str) {
        *self
            .counts
            .entry((verb.to_string(), resource.to_string()))
            .or_default() += 1;
    }

    /// Requests with this verb on this resource (`"persistentvolumeclaims"`).
    pub fn get(&self, verb: &str, resource: &str) -> u64 {
        self.counts
            .get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Requests with this verb on any resource.
    pub fn verb(&self, verb: &str) -> u64 {
        self.counts
            .iter()
            .filter(|((v, _), _)| v == verb)
            .map(|(_, n)| n)
            .sum()
    }

    /// create + update + patch + delete.
    pub fn writes(&self) -> u64 {
        ["create", "update", "patch", "delete", "deletecollection"]
            .iter()
            .map(|v| self.verb(v))
            .sum()
    }

    /// get + list on resources (discovery is not counted).
    pub fn reads(&self) -> u64 {
        self.counts
            .iter()
            .filter(|((v, r), _)| (v == "get" || v == "list") && !r.is_empty())
            .map(|(_, n)| n)
            .sum()
    }

    /// Watch requests started.
    pub fn watches(&self) -> u64 {
        self.verb("watch")
    }

    /// Every request, discovery included.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// All counts by `(verb, resource)`.
    pub fn by_verb_resource(&self) -> &BTreeMap<(String, String), u64> {
        &self.counts
    }
}

/// A failure injected into the next `times` requests that match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Only requests with this verb; any verb when `None`.
    pub verb: Option<String>,
    /// Only requests on this plural resource; any when `None`.
    pub resource: Option<String>,
    /// Only requests naming this object; any when `None`.
    pub name: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// How many matching requests fail.
    pub times: usize,
}

impl Fault {
    /// A fault of `kind` for the next `times` requests of any kind.
    pub fn new(kind: FaultKind, times: usize) -> Self {
        Fault {
            verb: None,
            resource: None,
            name: None,
            kind,
            times,
        }
    }

    /// Restricts the fault to one verb.
    pub fn with_verb(mut self, verb: impl Into<String>) -> Self {
        self.verb = Some(verb.into());
        self
    }

    /// Restricts the fault to one plural resource name.
    pub fn with_resource(mut self, resource: impl Into<String>) -> Self {
        self.resource = Some(resource.into());
        self
    }

    /// Restricts the fault to one object name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub(crate) fn matches(&self, verb: &str, resource: &str, name: Option<&str>) -> bool {
        self.times > 0
            && self.verb.as_deref().is_none_or(|v| v == verb)
            && self.resource.as_deref().is_none_or(|r| r == resource)
            && self.name.as_deref().is_none_or(|n| Some(n) == name)
    }
}

/// The failure a [`Fault`] injects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// 429 TooManyRequests with a `Retry-After` header.
    TooManyRequests {
        /// Seconds in `Retry-After` and in the Status details.
        retry_after_secs: u64,
    },
    /// 500 InternalError.
    InternalError,
    /// 409 Conflict ("the object has been modified").
    Conflict,
    /// The connection is closed without any response.
    DropConnection,
}
