//! Rendering manifests as multi-document YAML for `kubectl apply -f -`.
//!
//! Pure and deterministic: the same manifests always give the same bytes
//! (fields in a fixed order, maps sorted).

use crate::manifests::ImportManifests;
use crate::{Error, Result};

/// Renders bundles as one multi-document YAML stream, each object starting
/// with `---`, in apply order per namespace.
pub fn render_yaml(bundles: &[ImportManifests]) -> Result<String> {
    let mut out = String::with_capacity(bundles.len() * 2048);
    for bundle in bundles {
        render_bundle_into(bundle, &mut out)?;
    }
    Ok(out)
}

/// Appends one bundle's documents to `out`.
pub fn render_bundle_into(bundle: &ImportManifests, out: &mut String) -> Result<()> {
    if let Some(ns) = &bundle.namespace {
        push_doc(ns, out)?;
    }
    push_doc(&bundle.content, out)?;
    push_doc(&bundle.snapshot, out)?;
    push_doc(&bundle.claim, out)?;
    Ok(())
}

fn push_doc<T: serde::Serialize>(obj: &T, out: &mut String) -> Result<()> {
    out.push_str("---\n");
    let yaml = serde_saphyr::to_string(obj).map_err(|e| {
        Error::backend(
            "manifest",
            "",
            "rendering YAML failed",
            e.to_string(),
            false,
        )
    })?;
    out.push_str(&yaml);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(())
}

/// Splits a rendered stream into its documents as JSON values (for
/// round-trip checks and for tools that post-process the YAML).
pub fn parse_yaml_documents(yaml: &str) -> Result<Vec<serde_json::Value>> {
    serde_saphyr::from_multiple::<serde_json::Value>(yaml)
        .map(|docs| docs.into_iter().filter(|d| !d.is_null()).collect())
        .map_err(|e| Error::invalid("YAML", "", e.to_string()))
}
