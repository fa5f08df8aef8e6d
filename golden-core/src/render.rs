//! Rendering manifests as multi-document YAML for `kubectl apply -f -`.
//!
//! Pure and deterministic: the same manifests always give the same bytes.
//! Objects are written by a small block-style YAML emitter driven directly
//! by their `serde::Serialize` implementations: maps as `key: value` in the
//! order the fields are serialised, sequences as `- item`, nested maps
//! indented by two spaces, `{}` and `[]` for empty collections.
//!
//! Strings are written plain only when no YAML 1.1 or 1.2 reader could take
//! them for anything but a string (letters, digits, `.`, `_`, `/`, `-`,
//! starting with a letter, `_` or `/`, and not a word such as `yes`, `on` or
//! `null`; or a whole number with a quantity suffix such as `21Gi`);
//! everything else is double-quoted with JSON-style escapes, which
//! YAML reads the same way.
//!
//! [`render_targets`] builds and writes one namespace at a time, so the
//! memory needed is the output plus a single bundle, however many
//! namespaces there are.

use std::fmt::{self, Write};

use serde::Serialize;
use serde::ser::{self, Impossible};

use crate::manifests::{ImportManifests, ImportTarget, ManifestBuilder, validate_target};
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
/// turn, so only one bundle is held at a time.
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
    let mut seen = std::collections::HashSet::with_capacity(targets.len());
    for t in targets {
        policy.check_target(&t.namespace)?;
        if !seen.insert(t.namespace.as_str()) {
            return Err(Error::invalid(
                "target namespace",
                &t.namespace,
                "listed twice; each namespace gets one import",
            ));
        }
        validate_target(snapshot, t)?;
    }
    drop(seen);
    builder.validate_handle(&snapshot.handle)?;
    for t in targets {
        let bundle = builder.build(snapshot, t)?;
        render_bundle_into(&bundle, out)?;
    }
    Ok(())
}

/// Appends one object as a YAML document (`---` line, then the object).
///
/// Fails for values the emitter does not write: byte strings, tuple and
/// struct enum variants, and maps whose keys are not scalars.
pub fn write_document<T: Serialize + ?Sized, W: Write + ?Sized>(
    obj: &T,
    out: &mut W,
) -> Result<()> {
    let mut emit = || -> std::result::Result<(), EmitError> {
        out.write_str("---\n")?;
        obj.serialize(ValueSer {
            out: &mut *out,
            pos: Pos::Doc,
        })
    };
    emit().map_err(|e| Error::backend("manifest", "", "rendering YAML failed", e.0, false))
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

/// Whether `s` can be written as a plain YAML scalar and still be read back
/// as this very string by YAML 1.1 and 1.2 readers.
fn is_plain_safe(s: &str) -> bool {
    let b = s.as_bytes();
    let Some((&first, rest)) = b.split_first() else {
        return false;
    };
    if first.is_ascii_digit() {
        return is_plain_quantity(b);
    }
    if !(first.is_ascii_alphabetic() || first == b'_' || first == b'/') {
        return false;
    }
    if !rest
        .iter()
        .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'/' | b'-'))
    {
        return false;
    }
    // Booleans and nulls of YAML 1.1 and 1.2, in any case. Numbers, `~`,
    // `.inf` and `.nan` cannot start with a letter, `_` or `/`.
    const WORDS: [&str; 9] = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"];
    !(s.len() <= 5 && WORDS.iter().any(|w| s.eq_ignore_ascii_case(w)))
}

/// Whether `b` is a whole number with one Kubernetes quantity suffix
/// (`21Gi`, `500M`, `100m`): never a number, date or time in YAML 1.1 or 1.2,
/// which all need a digit, `.`, `-`, `:`, `_` or a radix prefix where the
/// suffix is.
fn is_plain_quantity(b: &[u8]) -> bool {
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    matches!(
        &b[digits..],
        b"Ki"
            | b"Mi"
            | b"Gi"
            | b"Ti"
            | b"Pi"
            | b"Ei"
            | b"k"
            | b"m"
            | b"M"
            | b"G"
            | b"T"
            | b"P"
            | b"E"
    )
}

/// Writes `s` as a YAML string scalar: plain when safe, else double-quoted.
fn write_str_scalar<W: Write + ?Sized>(s: &str, out: &mut W) -> fmt::Result {
    if is_plain_safe(s) {
        return out.write_str(s);
    }
    out.write_char('"')?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let short = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\t' => "\\t",
            '\r' => "\\r",
            // Outside YAML's printable set, or read as a line break / BOM.
            '\0'..='\u{1f}'
            | '\u{7f}'..='\u{9f}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{feff}'
            | '\u{fffe}'
            | '\u{ffff}' => "",
            _ => continue,
        };
        out.write_str(&s[start..i])?;
        if short.is_empty() {
            write!(out, "\\u{:04X}", c as u32)?;
        } else {
            out.write_str(short)?;
        }
        start = i + c.len_utf8();
    }
    out.write_str(&s[start..])?;
    out.write_char('"')
}

fn pad<W: Write + ?Sized>(out: &mut W, n: usize) -> fmt::Result {
    const SPACES: &str = "                                                                ";
    let mut n = n;
    while n > SPACES.len() {
        out.write_str(SPACES)?;
        n -= SPACES.len();
    }
    out.write_str(&SPACES[..n])
}

/// Why the emitter stopped.
#[derive(Debug)]
struct EmitError(String);

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for EmitError {}

impl ser::Error for EmitError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        EmitError(msg.to_string())
    }
}

impl From<fmt::Error> for EmitError {
    fn from(_: fmt::Error) -> Self {
        EmitError("the output refused the write".to_string())
    }
}

type Res<T = ()> = std::result::Result<T, EmitError>;

/// Where a value is being written.
#[derive(Clone, Copy)]
enum Pos {
    /// The document itself: at column 0 of a fresh line.
    Doc,
    /// After `key:` of a map entry whose key is at this column.
    AfterKey(usize),
    /// After the `-` of a sequence item whose dash is at this column.
    SeqItem(usize),
    /// A map key (scalars only), written where the cursor is.
    Key,
}

struct ValueSer<'a, W: Write + ?Sized> {
    out: &'a mut W,
    pos: Pos,
}

impl<'a, W: Write + ?Sized> ValueSer<'a, W> {
    /// Writes a scalar already formatted by `f`, with what the position
    /// needs before and after it.
    fn scalar(self, f: impl FnOnce(&mut W) -> fmt::Result) -> Res {
        match self.pos {
            Pos::Doc => {
                f(self.out)?;
                self.out.write_char('\n')?;
            }
            Pos::AfterKey(_) | Pos::SeqItem(_) => {
                self.out.write_char(' ')?;
                f(self.out)?;
                self.out.write_char('\n')?;
            }
            Pos::Key => f(self.out)?,
        }
        Ok(())
    }

    fn display(self, v: impl fmt::Display) -> Res {
        self.scalar(|o| write!(o, "{v}"))
    }

    fn compound(self, seq: bool) -> Res<Compound<'a, W>> {
        let col = match (self.pos, seq) {
            (Pos::Doc, _) => 0,
            (Pos::AfterKey(k), false) => k + 2,
            // `key:` then `- item` lines at the key's column, as kubectl does.
            (Pos::AfterKey(k), true) => k,
            (Pos::SeqItem(d), _) => d + 2,
            (Pos::Key, _) => {
                return Err(EmitError(
                    "map keys must be strings, numbers or booleans".to_string(),
                ));
            }
        };
        Ok(Compound {
            out: self.out,
            pos: self.pos,
            seq,
            first: true,
            col,
        })
    }
}

/// A map, struct or sequence being written.
struct Compound<'a, W: Write + ?Sized> {
    out: &'a mut W,
    pos: Pos,
    seq: bool,
    /// Nothing written yet (an empty collection ends as `{}` or `[]`).
    first: bool,
    /// Column of the keys (map) or dashes (sequence).
    col: usize,
}

impl<W: Write + ?Sized> Compound<'_, W> {
    /// Moves to where the next key or `-` goes.
    fn start_item(&mut self) -> fmt::Result {
        if !self.first {
            return pad(self.out, self.col);
        }
        self.first = false;
        match self.pos {
            Pos::Doc | Pos::Key => Ok(()),
            Pos::AfterKey(_) => {
                self.out.write_char('\n')?;
                pad(self.out, self.col)
            }
            // The first entry of a map or sequence in a sequence shares the
            // item's line: `- key: value`, `- - item`.
            Pos::SeqItem(_) => self.out.write_char(' '),
        }
    }

    fn key<K: Serialize + ?Sized>(&mut self, key: &K) -> Res {
        self.start_item()?;
        key.serialize(ValueSer {
            out: &mut *self.out,
            pos: Pos::Key,
        })?;
        self.out.write_char(':')?;
        Ok(())
    }

    fn value<V: Serialize + ?Sized>(&mut self, value: &V) -> Res {
        value.serialize(ValueSer {
            out: &mut *self.out,
            pos: Pos::AfterKey(self.col),
        })
    }

    fn item<V: Serialize + ?Sized>(&mut self, value: &V) -> Res {
        self.start_item()?;
        self.out.write_char('-')?;
        value.serialize(ValueSer {
            out: &mut *self.out,
            pos: Pos::SeqItem(self.col),
        })
    }

    fn finish(self) -> Res {
        if self.first {
            let empty = if self.seq { "[]\n" } else { "{}\n" };
            if !matches!(self.pos, Pos::Doc) {
                self.out.write_char(' ')?;
            }
            self.out.write_str(empty)?;
        }
        Ok(())
    }
}

impl<'a, W: Write + ?Sized> ser::Serializer for ValueSer<'a, W> {
    type Ok = ();
    type Error = EmitError;
    type SerializeSeq = Compound<'a, W>;
    type SerializeTuple = Compound<'a, W>;
    type SerializeTupleStruct = Compound<'a, W>;
    type SerializeTupleVariant = Impossible<(), EmitError>;
    type SerializeMap = Compound<'a, W>;
    type SerializeStruct = Compound<'a, W>;
    type SerializeStructVariant = Impossible<(), EmitError>;

    fn serialize_bool(self, v: bool) -> Res {
        self.scalar(|o| o.write_str(if v { "true" } else { "false" }))
    }
    fn serialize_i8(self, v: i8) -> Res {
        self.display(v)
    }
    fn serialize_i16(self, v: i16) -> Res {
        self.display(v)
    }
    fn serialize_i32(self, v: i32) -> Res {
        self.display(v)
    }
    fn serialize_i64(self, v: i64) -> Res {
        self.display(v)
    }
    fn serialize_i128(self, v: i128) -> Res {
        self.display(v)
    }
    fn serialize_u8(self, v: u8) -> Res {
        self.display(v)
    }
    fn serialize_u16(self, v: u16) -> Res {
        self.display(v)
    }
    fn serialize_u32(self, v: u32) -> Res {
        self.display(v)
    }
    fn serialize_u64(self, v: u64) -> Res {
        self.display(v)
    }
    fn serialize_u128(self, v: u128) -> Res {
        self.display(v)
    }
    fn serialize_f32(self, v: f32) -> Res {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Res {
        if v.is_nan() {
            self.scalar(|o| o.write_str(".nan"))
        } else if v.is_infinite() {
            self.scalar(|o| o.write_str(if v > 0.0 { ".inf" } else { "-.inf" }))
        } else {
            // Debug keeps a `.0` or an exponent, so it reads back as a float.
            self.scalar(|o| write!(o, "{v:?}"))
        }
    }
    fn serialize_char(self, v: char) -> Res {
        let mut buf = [0u8; 4];
        self.serialize_str(v.encode_utf8(&mut buf))
    }
    fn serialize_str(self, v: &str) -> Res {
        self.scalar(|o| write_str_scalar(v, o))
    }
    fn serialize_bytes(self, _: &[u8]) -> Res {
        Err(EmitError("byte strings are not supported".to_string()))
    }
    fn serialize_none(self) -> Res {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Res {
        self.scalar(|o| o.write_str("null"))
    }
    fn serialize_unit_struct(self, _: &'static str) -> Res {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Res {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, value: &T) -> Res {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Res {
        let mut map = self.compound(false)?;
        map.key(variant)?;
        map.value(value)?;
        map.finish()
    }
    fn serialize_seq(self, _: Option<usize>) -> Res<Self::SerializeSeq> {
        self.compound(true)
    }
    fn serialize_tuple(self, _: usize) -> Res<Self::SerializeTuple> {
        self.compound(true)
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Res<Self::SerializeTupleStruct> {
        self.compound(true)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Res<Self::SerializeTupleVariant> {
        Err(EmitError(format!(
            "tuple variant {name}::{variant} is not supported"
        )))
    }
    fn serialize_map(self, _: Option<usize>) -> Res<Self::SerializeMap> {
        self.compound(false)
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Res<Self::SerializeStruct> {
        self.compound(false)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Res<Self::SerializeStructVariant> {
        Err(EmitError(format!(
            "struct variant {name}::{variant} is not supported"
        )))
    }
}

/// Sequences, tuples and tuple structs are all written as YAML sequences.
macro_rules! sequence_like {
    ($($trait:ident :: $method:ident),* $(,)?) => {$(
        impl<W: Write + ?Sized> ser::$trait for Compound<'_, W> {
            type Ok = ();
            type Error = EmitError;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
                self.item(value)
            }
            fn end(self) -> Res {
                self.finish()
            }
        }
    )*};
}

sequence_like!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
);

impl<W: Write + ?Sized> ser::SerializeMap for Compound<'_, W> {
    type Ok = ();
    type Error = EmitError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Res {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Res {
        self.value(value)
    }
    fn end(self) -> Res {
        self.finish()
    }
}

impl<W: Write + ?Sized> ser::SerializeStruct for Compound<'_, W> {
    type Ok = ();
    type Error = EmitError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Res {
        self.key(key)?;
        self.value(value)
    }
    fn end(self) -> Res {
        self.finish()
    }
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
            assert!(!is_plain_safe(s), "{s:?} must be quoted");
        }
        for s in [
            "sandbox01",
            "golden.dev/namespace",
            "ReadWriteOnce",
            "snap-0a",
            "v1",
        ] {
            assert!(is_plain_safe(s), "{s:?} can be plain");
        }
        assert_eq!(emit(&BTreeMap::from([("a", "yes")])), "---\na: \"yes\"\n");
        assert_eq!(
            emit(&BTreeMap::from([("k", "x\ny\u{85}\"\\")])),
            "---\nk: \"x\\ny\\u0085\\\"\\\\\"\n"
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
            // handle the driver does not accept
            (
                Snapshot::new("snap-1", "snap-1", 1 << 30)
                    .with_source_pvc(crate::PvcRef::new("production", "db").unwrap()),
                memory_targets(),
            ),
        ];
        for (snap, targets) in cases {
            let mut out = String::new();
            let err = render_targets(&builder, &snap, &targets, &policy, &mut out);
            assert!(err.is_err(), "{targets:?} must be rejected");
            assert!(out.is_empty(), "nothing written on bad input, got:\n{out}");
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
    fn unsupported_values_fail_instead_of_writing_bad_yaml() {
        #[derive(Serialize)]
        enum E {
            T(u8, u8),
        }
        let mut out = String::new();
        assert!(write_document(&E::T(1, 2), &mut out).is_err());
        let mut out = String::new();
        let bad_key = BTreeMap::from([(vec![1u8], 1u8)]);
        assert!(write_document(&bad_key, &mut out).is_err());
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
