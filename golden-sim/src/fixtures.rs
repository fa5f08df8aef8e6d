//! Small steps the tests of several crates share: watching an API from
//! its current state, and reading rendered manifests back.
//!
//! ```
//! use golden_sim::fixtures::kinds;
//! use serde_json::json;
//!
//! let docs = [json!({"kind": "Namespace"}), json!({"kind": "PersistentVolumeClaim"})];
//! assert_eq!(kinds(&docs), ["Namespace", "PersistentVolumeClaim"]);
//! ```

use std::fmt::Debug;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::api::{Api, ListParams, WatchEvent, WatchParams};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The collection's current `resourceVersion` (from a list): a watch from
/// it sees every change made after this returns.
///
/// A list without one is an error ([`kube::Error::SerdeError`], a missing
/// field), not `""`: a watch from `""` starts with every existing object,
/// which is not "from now".
pub async fn current_resource_version<K>(api: &Api<K>) -> kube::Result<String>
where
    K: Clone + DeserializeOwned + Debug,
{
    let list = api.list(&ListParams::default()).await?;
    match list.metadata.resource_version {
        Some(rv) if !rv.is_empty() => Ok(rv),
        _ => Err(kube::Error::SerdeError(serde::de::Error::missing_field(
            "metadata.resourceVersion",
        ))),
    }
}

/// A watch of `api` with `params` from its [`current_resource_version`].
pub async fn watch_from_now<K>(
    api: &Api<K>,
    params: &WatchParams,
) -> kube::Result<BoxStream<'static, kube::Result<WatchEvent<K>>>>
where
    K: Clone + DeserializeOwned + Debug + Send + 'static,
{
    let version = current_resource_version(api).await?;
    Ok(api.watch(params, &version).await?.boxed())
}

/// The `kind` of each document, in order (for a rendered bundle: its
/// apply order). Panics on a document without a string `kind`.
pub fn kinds(docs: &[Value]) -> Vec<&str> {
    docs.iter()
        .map(|d| d["kind"].as_str().expect("every document has a kind"))
        .collect()
}
