//! Rendering manifests as multi-document YAML for `kubectl apply -f -`.
//!
//! Pure and deterministic: the same manifests always give the same bytes.
//! Objects are written by serde-saphyr from their `serde::Serialize`
//! implementations, with fixed options: block style, two-space indents,
//! compact sequences (`- item` under its key), `{}` and `[]` for empty
//! collections, no folded or literal block scalars (every string stays on
//! one line, escaped), and YAML 1.1 quoting, so strings such as `yes`,
//! `on`, `null`, `007` or `1e3` are quoted for every reader.
//!
//! [`render_targets`] builds and writes one namespace at a time, so the
//! memory needed is the output plus a single bundle, however many
//! namespaces there are.

use std::fmt::Write;

use serde::Serialize;

use crate::manifests::{
    ImportManifests, ImportTarget, ManifestBuilder, check_target_namespaces, validate_target,
};
use crate::names::NamespacePolicy;
use crate::types::Snapshot;
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
pub fn render_bundle_into<W: Write + ?Sized>(bundle: &ImportManifests, out: &mut W) -> Result<()> {
    if let Some(ns) = &bundle.namespace {
        write_document(ns, out)?;
    }
    write_document(&bundle.content, out)?;
    write_document(&bundle.snapshot, out)?;
    write_document(&bundle.claim, out)?;
    Ok(())
}

/// Validates every target, then builds and writes the bundle of each in
/// target order. Long lists are rendered in batches of 512 targets spread
/// over the machine's cores (at most 8), so memory is the output plus one
/// batch of YAML.
///
/// All or nothing: the namespace policy, duplicate namespaces, each target
/// ([`validate_target`]) and the snapshot handle are all checked before the
/// first byte is written, so bad input leaves `out` untouched. The output is
/// byte for byte what [`render_yaml`] gives for
/// [`ManifestBuilder::build_all`] of the same input.
pub fn render_targets<W: Write + ?Sized>(
    builder: &dyn ManifestBuilder,
    snapshot: &Snapshot,
    targets: &[ImportTarget],
    policy: &NamespacePolicy,
    out: &mut W,
) -> Result<()> {
    check_target_namespaces(targets, policy)?;
    for t in targets {
        validate_target(snapshot, t)?;
    }
    builder.validate_handle(&snapshot.handle)?;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_RENDER_THREADS);
    if threads < 2 || targets.len() < PARALLEL_BATCH {
        for t in targets {
            let bundle = builder.build(snapshot, t)?;
            render_bundle_into(&bundle, out)?;
        }
        return Ok(());
    }
    // Emitting dominates (serde-saphyr's per-string quoting checks), and
    // bundles are independent: each batch is split into one contiguous
    // slice per thread, rendered into its own buffer, and the buffers are
    // written in order. Memory stays bounded by one batch of output.
    let mut buffers = vec![String::new(); threads];
    for batch in targets.chunks(PARALLEL_BATCH) {
        let per_thread = batch.len().div_ceil(threads);
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .chunks(per_thread)
                .zip(buffers.iter_mut())
                .map(|(slice, buf)| {
                    buf.clear();
                    scope.spawn(move || -> Result<()> {
                        for t in slice {
                            render_bundle_into(&builder.build(snapshot, t)?, buf)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        });
        for (result, buf) in results.into_iter().zip(&buffers) {
            result?;
            out.write_str(buf)
                .map_err(|e| Error::backend("manifest", "", "writing YAML failed", e, false))?;
        }
    }
    Ok(())
}

/// Targets rendered per parallel batch (about 1.7 KB of YAML each).
const PARALLEL_BATCH: usize = 512;

/// At most this many threads render at once.
const MAX_RENDER_THREADS: usize = 8;

/// The emitter settings every document is written with (see the module
/// docs).
fn options() -> serde_saphyr::SerializerOptions {
    serde_saphyr::ser_options! {
        indent_step: 2,
        compact_list_indent: true,
        prefer_block_scalars: false,
        yaml_12: false,
    }
}

/// Appends one object as a YAML document (`---` line, then the object).
///
/// Fails for values the emitter cannot write; what was written of the
/// document before the failure stays in `out`.
pub fn write_document<T: Serialize + ?Sized, W: Write + ?Sized>(
    obj: &T,
    out: &mut W,
) -> Result<()> {
    let mut emit = || -> std::result::Result<(), serde_saphyr::ser::Error> {
        out.write_str("---\n")?;
        serde_saphyr::to_fmt_writer_with_options(&mut &mut *out, &obj, options())
    };
    emit().map_err(|e| Error::backend("manifest", "", "rendering YAML failed", e, false))
}

/// Splits a rendered stream into its documents as JSON values (for
/// round-trip checks and for tools that post-process the YAML).
///
/// Each document is parsed on its own, so a stream of any length is read
/// (serde-saphyr's safety budget applies per document, not to the whole
/// stream of a 10,000-namespace render).
pub fn parse_yaml_documents(yaml: &str) -> Result<Vec<serde_json::Value>> {
    let mut docs = Vec::new();
    let mut index = 0;
    for doc in split_documents(yaml) {
        let only_comments = doc
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "...");
        if only_comments {
            continue;
        }
        index += 1;
        let value: serde_json::Value = serde_saphyr::from_str(doc)
            .map_err(|e| Error::invalid("YAML", format!("document {index}"), e.to_string()))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// Splits a YAML stream at its document markers: a `---` at the start of a
/// line, followed by the end of the line or a space (YAML never allows that
/// inside a document's content).
fn split_documents(yaml: &str) -> Vec<&str> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut offset = 0;
    for line in yaml.split_inclusive('\n') {
        let marker = line.starts_with("---")
            && matches!(
                line.as_bytes().get(3),
                None | Some(b' ' | b'\t' | b'\n' | b'\r')
            );
        if marker {
            docs.push(&yaml[start..offset]);
            start = offset + 3;
        }
        offset += line.len();
    }
    docs.push(&yaml[start..]);
    docs
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Inner {
        name: String,
        tags: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Doc {
        text: String,
        labels: BTreeMap<String, String>,
        items: Vec<Inner>,
        nested: Vec<Vec<String>>,
        empty_map: BTreeMap<String, String>,
        empty_seq: Vec<String>,
        count: i64,
        big: u64,
        ratio: f64,
        flag: bool,
        missing: Option<String>,
    }

    const TRICKY: &[&str] = &[
        "",
        " ",
        "  leading spaces",
        "trailing ",
        "plain",
        "with: colon",
        "a:b",
        "key:",
        "\"double\" quotes",
        "'single' quotes",
        "back\\slash",
        "yes",
        "Yes",
        "YES",
        "no",
        "on",
        "Off",
        "y",
        "N",
        "true",
        "False",
        "null",
        "Null",
        "NULL",
        "~",
        "007",
        "1e3",
        "1E3",
        "0x1F",
        "0o17",
        "1_000",
        "12:30:00",
        ".inf",
        "-.inf",
        ".NaN",
        "+1",
        "-1",
        "-",
        "--",
        "---",
        "...",
        "- item",
        "? key",
        "#comment",
        "a #b",
        "a#b",
        "&anchor",
        "*alias",
        "!tag",
        "%directive",
        "@at",
        "`tick",
        "|",
        ">",
        "[a, b]",
        "{a: b}",
        "<<",
        "=",
        "2026-11-27",
        "21Gi",
        "500M",
        "100m",
        "0E",
        "1E",
        "1E3",
        "1e+3",
        "0b101",
        "1Gi2",
        "Gi",
        "line\nbreak",
        "tab\there",
        "cr\rlf",
        "trailing newline\n",
        "ünïcödé",
        "日本語",
        "emoji 🎉",
        "\u{85}nel",
        "ls\u{2028}ps\u{2029}",
        "\u{feff}bom",
        "nul\0ctl\u{1b}del\u{7f}",
        "sandbox01.golden-snap-0123456789abcdef0",
        "app.kubernetes.io/managed-by",
        "/abs/path",
        "_under",
    ];

    fn sample() -> Doc {
        let labels = TRICKY
            .iter()
            .enumerate()
            .map(|(i, s)| (s.to_string(), format!("{i}:{s}")))
            .collect();
        Doc {
            text: "multi\nline: text # not a comment".to_string(),
            labels,
            items: vec![
                Inner {
                    name: "first".to_string(),
                    tags: TRICKY.iter().map(|s| s.to_string()).collect(),
                    note: Some("yes".to_string()),
                },
                Inner {
                    name: "".to_string(),
                    tags: vec![],
                    note: None,
                },
            ],
            nested: vec![vec!["a".into(), "007".into()], vec![], vec!["-".into()]],
            empty_map: BTreeMap::new(),
            empty_seq: vec![],
            count: -42,
            big: u64::MAX,
            ratio: 1.5,
            flag: true,
            missing: None,
        }
    }

    fn emit<T: Serialize>(v: &T) -> String {
        let mut out = String::new();
        write_document(v, &mut out).unwrap();
        out
    }

    #[test]
    fn tricky_strings_read_back_as_the_same_strings() {
        for s in TRICKY {
            let yaml = emit(&BTreeMap::from([(*s, *s)]));
            let back: Vec<BTreeMap<String, String>> = serde_saphyr::from_multiple(&yaml)
                .unwrap_or_else(|e| panic!("{s:?} as {yaml:?}: {e}"));
            assert_eq!(back, vec![BTreeMap::from([(s.to_string(), s.to_string())])]);
            let values = parse_yaml_documents(&yaml).unwrap();
            assert_eq!(values, vec![serde_json::json!({ *s: *s })], "{yaml}");
            let seq = emit(&[*s]);
            let back: Vec<Vec<String>> = serde_saphyr::from_multiple(&seq).unwrap();
            assert_eq!(back, vec![vec![s.to_string()]], "{seq}");
        }
    }

    #[test]
    fn ambiguous_strings_are_quoted_and_names_are_plain() {
        for s in [
            "yes", "On", "007", "1e3", "-", "", " a", "a: b", "#x", "null", "~",
        ] {
            let yaml = emit(&BTreeMap::from([("k", s)]));
            let value = yaml.strip_prefix("---\nk: ").unwrap().trim_end();
            assert!(
                value.starts_with(['"', '\'']),
                "{s:?} must be quoted, got {yaml:?}"
            );
        }
        for s in [
            "sandbox01",
            "golden.dev/namespace",
            "ReadWriteOnce",
            "snap-0a",
            "v1",
            "21Gi",
        ] {
            assert_eq!(emit(&BTreeMap::from([("k", s)])), format!("---\nk: {s}\n"));
        }
        let long = "word ".repeat(40);
        let yaml = emit(&BTreeMap::from([("k", long.as_str()), ("m", "x\ny")]));
        assert_eq!(
            yaml.lines().count(),
            3,
            "no folding or block scalars: {yaml}"
        );
    }

    #[test]
    fn a_nested_document_round_trips_to_the_same_typed_value() {
        let doc = sample();
        let yaml = emit(&doc);
        let back: Vec<Doc> = serde_saphyr::from_multiple(&yaml).unwrap();
        assert_eq!(back, vec![doc.clone()], "{yaml}");
        let values = parse_yaml_documents(&yaml).unwrap();
        assert_eq!(values, vec![serde_json::to_value(&doc).unwrap()]);
        let typed: Doc = serde_json::from_value(values[0].clone()).unwrap();
        assert_eq!(typed, doc);
    }

    #[test]
    fn layout_is_block_style_with_two_space_indents() {
        let doc = Doc {
            text: "t".into(),
            labels: BTreeMap::from([("b".into(), "2".into()), ("a".into(), "x".into())]),
            items: vec![
                Inner {
                    name: "nm".into(),
                    tags: vec!["p".into(), "q".into()],
                    note: None,
                },
                Inner {
                    name: "m".into(),
                    tags: vec![],
                    note: None,
                },
            ],
            nested: vec![vec!["a".into(), "b".into()], vec![]],
            empty_map: BTreeMap::new(),
            empty_seq: vec![],
            count: 7,
            big: 8,
            ratio: 2.0,
            flag: false,
            missing: None,
        };
        let expected = "\
---
text: t
labels:
  a: x
  b: \"2\"
items:
- name: nm
  tags:
  - p
  - q
- name: m
  tags: []
nested:
- - a
  - b
- []
empty_map: {}
empty_seq: []
count: 7
big: 8
ratio: 2.0
flag: false
missing: null
";
        assert_eq!(emit(&doc), expected);
    }

    #[test]
    fn output_is_byte_stable() {
        let doc = sample();
        let first = emit(&doc);
        for _ in 0..3 {
            assert_eq!(emit(&doc.clone()), first);
        }
    }

    fn memory_snapshot() -> Snapshot {
        Snapshot::new("memsnap-0001", "memsnap-0001", 21 << 30)
            .with_source_pvc(crate::PvcRef::new("production", "postgres-pv-claim").unwrap())
    }

    fn memory_targets() -> Vec<ImportTarget> {
        vec![
            ImportTarget::new("sandbox01").with_create_namespace(true),
            ImportTarget::new("sandbox02")
                .with_label("team", "007")
                .with_annotation("example.com/note", "yes: really # no comment\n"),
            ImportTarget::new("sandbox03")
                .with_storage_class("gp3")
                .with_size_bytes(50 << 30),
        ]
    }

    #[test]
    fn streaming_matches_rendering_built_bundles() {
        let builder = crate::memory::InMemoryManifests::new(crate::memory::MEMORY_DRIVER);
        let snapshot = memory_snapshot();
        let targets = memory_targets();
        let policy = NamespacePolicy::default();
        let bundles = builder.build_all(&snapshot, &targets, &policy).unwrap();
        let mut streamed = String::new();
        render_targets(&builder, &snapshot, &targets, &policy, &mut streamed).unwrap();
        assert_eq!(streamed, render_yaml(&bundles).unwrap());
        assert_eq!(parse_yaml_documents(&streamed).unwrap().len(), 10);
    }

    #[test]
    fn batched_rendering_keeps_target_order_byte_for_byte() {
        // More than two batches, the last one partial, with varied targets
        // so that any reordering or lost bundle changes the bytes.
        let builder = crate::memory::InMemoryManifests::new(crate::memory::MEMORY_DRIVER);
        let snapshot = memory_snapshot();
        let targets: Vec<ImportTarget> = (0..2 * PARALLEL_BATCH + 37)
            .map(|i| {
                let t = ImportTarget::new(format!("sandbox{i:04}"));
                match i % 3 {
                    0 => t.with_create_namespace(true),
                    1 => t.with_label("team", i.to_string()),
                    _ => t.with_size_bytes((i as u64 + 20) << 30),
                }
            })
            .collect();
        let policy = NamespacePolicy::default();
        let bundles = builder.build_all(&snapshot, &targets, &policy).unwrap();
        let mut streamed = String::new();
        render_targets(&builder, &snapshot, &targets, &policy, &mut streamed).unwrap();
        assert_eq!(streamed, render_yaml(&bundles).unwrap());
    }

    #[test]
    fn streaming_writes_nothing_when_any_target_is_bad() {
        let builder = crate::memory::InMemoryManifests::new(crate::memory::MEMORY_DRIVER);
        let snapshot = memory_snapshot();
        let policy = NamespacePolicy::default().protect("production");
        let cases: Vec<(Snapshot, Vec<ImportTarget>)> = vec![
            // duplicate namespace, last in the list
            (snapshot.clone(), {
                let mut t = memory_targets();
                t.push(ImportTarget::new("sandbox01"));
                t
            }),
            // protected namespace
            (snapshot.clone(), {
                let mut t = memory_targets();
                t.push(ImportTarget::new("production"));
                t
            }),
            // invalid target (bad access mode), last in the list
            (snapshot.clone(), {
                let mut t = memory_targets();
                t.push(ImportTarget::new("sandbox09").with_access_modes(["Sometimes"]));
                t
            }),
            // invalid target first, duplicate namespace after it: the
            // namespaces are checked first, as build_all does
            (snapshot.clone(), {
                let mut t = memory_targets();
                t.insert(
                    0,
                    ImportTarget::new("sandbox09").with_access_modes(["Sometimes"]),
                );
                t.push(ImportTarget::new("sandbox02"));
                t
            }),
            // handle the driver does not accept
            (
                Snapshot::new("snap-1", "snap-1", 1 << 30)
                    .with_source_pvc(crate::PvcRef::new("production", "db").unwrap()),
                memory_targets(),
            ),
        ];
        for (snap, targets) in cases {
            let mut out = String::new();
            let err = render_targets(&builder, &snap, &targets, &policy, &mut out)
                .expect_err("bad input must be rejected");
            assert!(out.is_empty(), "nothing written on bad input, got:\n{out}");
            let built = builder.build_all(&snap, &targets, &policy).unwrap_err();
            assert_eq!(err.to_string(), built.to_string(), "{targets:?}");
        }
    }

    #[test]
    fn kubernetes_objects_with_tricky_strings_read_back_unchanged() {
        use k8s_openapi::api::core::v1::PersistentVolumeClaim;

        let builder = crate::memory::InMemoryManifests::new(crate::memory::MEMORY_DRIVER);
        let mut bundle = builder
            .build(&memory_snapshot(), &ImportTarget::new("sandbox01"))
            .unwrap();
        let tricky: BTreeMap<String, String> = TRICKY
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("example.com/k{i}"), s.to_string()))
            .chain(TRICKY.iter().map(|s| (s.to_string(), "v".to_string())))
            .collect();
        bundle.claim.metadata.annotations = Some(tricky);
        let yaml = render_yaml(std::slice::from_ref(&bundle)).unwrap();
        let docs = parse_yaml_documents(&yaml).unwrap();
        let claim: PersistentVolumeClaim = serde_json::from_value(docs[2].clone()).unwrap();
        assert_eq!(claim, bundle.claim);
        let typed: Vec<PersistentVolumeClaim> =
            serde_saphyr::from_multiple(&yaml[yaml.rfind("---\n").unwrap()..]).unwrap();
        assert_eq!(typed, vec![bundle.claim]);
    }

    #[test]
    fn unusual_values_round_trip_or_fail_without_writing() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        enum E {
            T(u8, u8),
            S { a: String },
        }
        for v in [E::T(1, 2), E::S { a: "yes".into() }] {
            let mut out = String::from("kept\n");
            match write_document(&v, &mut out) {
                Ok(()) => {
                    let back: Vec<E> = serde_saphyr::from_multiple(&out["kept\n".len()..])
                        .unwrap_or_else(|e| panic!("{out}: {e}"));
                    assert_eq!(back, vec![v]);
                }
                Err(_) => assert!(out.starts_with("kept\n")),
            }
        }
        let mut out = String::from("kept\n");
        let seq_key = BTreeMap::from([(vec![1u8], 1u8)]);
        match write_document(&seq_key, &mut out) {
            Ok(()) => {
                let back: Vec<BTreeMap<Vec<u8>, u8>> =
                    serde_saphyr::from_multiple(&out["kept\n".len()..]).unwrap();
                assert_eq!(back, vec![seq_key]);
            }
            Err(_) => assert!(out.starts_with("kept\n")),
        }
    }

    #[test]
    fn parses_long_streams_document_by_document() {
        let mut yaml = String::new();
        for i in 0..3000 {
            yaml.push_str(&format!("---\nkind: Thing\nmetadata:\n  name: t{i}\n"));
        }
        yaml.push_str("--- {inline: true}\n# trailing comment\n");
        let docs = parse_yaml_documents(&yaml).unwrap();
        assert_eq!(docs.len(), 3001);
        assert_eq!(docs[2999]["metadata"]["name"], "t2999");
        assert_eq!(docs[3000]["inline"], true);
        let e = parse_yaml_documents("---\na: 1\n---\nb: [\n").unwrap_err();
        assert!(e.to_string().contains("document 2"), "{e}");
    }
}
