//! Pretty JSON output: the layout of `serde_json`'s pretty printer (two-space indent), written
//! with fewer, larger writes.
//!
//! `serde_json::ser::PrettyFormatter` writes the line break and then the indent one level at a
//! time, so a key eight levels deep costs nine small writes. An experiment is ~8 levels deep and
//! mostly keys, so those writes were a tenth of printing it. [`PrettyFormatter`] writes the line
//! break and the whole indent as one slice. The bytes are the same (tested over the reference
//! corpus and nested arrays and objects).
//!
//! [`to_writer_pretty`] and [`extend_pretty`] go further: a serializer of our own writes the
//! same layout straight into a `Vec<u8>` (see `json_writer.rs`); [`PrettyFormatter`] remains
//! for callers that need a `serde_json::Serializer`.

use std::io;

use serde::Serialize;

/// A line break followed by the indent of the deepest level written in one slice.
const BREAK_AND_INDENT: &[u8; 1 + 2 * 32] = b"\n                                                                ";

/// Hands `write` a line break and the indent of `depth` levels: one slice up to 32 levels, then
/// more pieces.
pub(crate) fn break_line<E>(depth: usize, mut write: impl FnMut(&'static [u8]) -> Result<(), E>) -> Result<(), E> {
    match BREAK_AND_INDENT.get(..1 + 2 * depth) {
        Some(slice) => write(slice),
        None => {
            write(b"\n")?;
            (0..depth).try_for_each(|_| write(b"  "))
        }
    }
}

/// `serde_json`'s pretty layout (two spaces per level), each line break and indent one write.
#[derive(Debug, Clone, Default)]
pub struct PrettyFormatter {
    depth: usize,
    has_value: bool,
}

impl PrettyFormatter {
    /// A formatter at the top level.
    pub fn new() -> Self {
        Self::default()
    }

    /// Writes a line break and the indent of the current depth.
    fn break_line<W: ?Sized + io::Write>(&self, writer: &mut W) -> io::Result<()> {
        break_line(self.depth, |piece| writer.write_all(piece))
    }

    fn open<W: ?Sized + io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + io::Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            self.break_line(writer)?;
        }
        writer.write_all(bracket)
    }

    fn next_item<W: ?Sized + io::Write>(&self, writer: &mut W, first: bool) -> io::Result<()> {
        if !first {
            writer.write_all(b",")?;
        }
        self.break_line(writer)
    }
}

impl serde_json::ser::Formatter for PrettyFormatter {
    fn begin_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.next_item(writer, first)
    }

    fn end_array_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        self.next_item(writer, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + io::Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Serializes `value` as pretty JSON (the bytes `serde_json::to_writer_pretty` writes), in
/// one write.
pub fn to_writer_pretty<W: io::Write, T: ?Sized + Serialize>(mut writer: W, value: &T) -> serde_json::Result<()> {
    let mut out = Vec::with_capacity(4096);
    crate::json_writer::write_pretty(&mut out, value)?;
    writer.write_all(&out).map_err(serde_json::Error::io)
}

/// A dynamic message serialized with prost-reflect's options (canonical proto3 JSON).
#[derive(Debug, Clone, Copy)]
pub struct WithOptions<'a>(pub &'a prost_reflect::DynamicMessage, pub &'a prost_reflect::SerializeOptions);

impl Serialize for WithOptions<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_with_options(serializer, self.1)
    }
}

/// Appends the pretty JSON of `value` to `out` (the bytes `serde_json::to_vec_pretty` gives),
/// without going through `io::Write`: strings that need no escaping (keys, enum names) are
/// copied in one piece.
pub fn extend_pretty<T: ?Sized + Serialize>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    crate::json_writer::write_pretty(out, value)
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use serde_json::json;

    /// Ours (the writer and the formatter) and serde_json's pretty printer, byte for byte.
    fn same(value: &serde_json::Value) {
        let mut ours = Vec::new();
        super::to_writer_pretty(&mut ours, value).expect("ours");
        let theirs = serde_json::to_vec_pretty(value).expect("serde_json");
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
        let mut formatted = Vec::new();
        value
            .serialize(&mut serde_json::Serializer::with_formatter(&mut formatted, super::PrettyFormatter::new()))
            .expect("formatter");
        assert_eq!(String::from_utf8_lossy(&formatted), String::from_utf8_lossy(&theirs));
    }

    #[test]
    fn same_bytes_as_serde_json_pretty() {
        same(&json!({}));
        same(&json!([]));
        same(&json!({"a": {}, "b": [], "c": [[], {}], "d": [1, [2, [3, {"e": null}]], "x"]}));
        same(&json!([{"a": 1}, {"b": {"c": {"d": true}}}, "s", 1.5]));
        // Deeper than the one-slice indent (32 levels).
        let mut deep = json!({"leaf": [1, 2]});
        for i in 0..40 {
            deep = json!({ format!("k{i}"): deep, "n": [i] });
        }
        same(&deep);
    }

    #[test]
    fn same_bytes_for_escapes_numbers_and_keys() {
        same(&json!({"quote\"d": "a\"b\\c\n\u{1}\u{1f}é✓\u{7f}", "": "", "tab\t": ["\r", "/"]}));
        same(&json!([0, -1, i64::MIN, u64::MAX, 1.5, -0.0, 1e300, 2.5e-8, f64::MAX, f64::MIN_POSITIVE, true, false, null]));
        // Typed values: NaN and infinities are `null`, integer map keys are quoted.
        let typed = (f32::NAN, f64::INFINITY, 0.1f32, std::collections::BTreeMap::from([(-3i32, "x"), (7, "y")]));
        let mut ours = Vec::new();
        super::extend_pretty(&mut ours, &typed).expect("ours");
        assert_eq!(String::from_utf8_lossy(&ours), serde_json::to_string_pretty(&typed).expect("serde_json"));
    }

    fn random_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let text = "([a-zA-Z_]|[\\x00-\\x1f\"\\\\/]|\\PC){0,8}";
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
            text.prop_map(Value::from),
        ];
        leaf.prop_recursive(5, 64, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::btree_map(text, inner, 0..5).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3_000, failure_persistence: None, ..Default::default() })]
        #[test]
        fn same_bytes_for_random_values(value in random_value()) {
            same(&value);
        }
    }

    #[test]
    fn same_bytes_for_typed_experiments() {
        use prost::Message;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/legacy-oef/defaults");
        for entry in std::fs::read_dir(&dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "pb") {
                let bytes = std::fs::read(&path).expect("read");
                let mut experiment = crate::v0::Experiment::decode(bytes.as_slice()).expect("decode");
                experiment.seed = Some(-5);
                let mut ours = Vec::new();
                super::extend_pretty(&mut ours, &experiment).expect("ours");
                let theirs = serde_json::to_vec_pretty(&experiment).expect("serde_json");
                assert!(ours == theirs, "{}", path.display());
            }
        }
    }

    #[test]
    fn same_bytes_over_the_reference_corpus() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/legacy-oef/defaults");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).expect("fixtures") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.ends_with(".json") && !name.ends_with(".kwargs.json") && !name.ends_with(".case.json") {
                let text = std::fs::read(&path).expect("read");
                same(&serde_json::from_slice(&text).expect("JSON"));
                seen += 1;
            }
        }
        assert_eq!(seen, 404);
    }
}
