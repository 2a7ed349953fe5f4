//! Pretty JSON output: the layout of `serde_json`'s pretty printer (two-space indent), written
//! with fewer, larger writes.
//!
//! `serde_json::ser::PrettyFormatter` writes the line break and then the indent one level at a
//! time, so a key eight levels deep costs nine small writes. An experiment is ~8 levels deep and
//! mostly keys, so those writes were a tenth of printing it. [`PrettyFormatter`] writes the line
//! break and the whole indent as one slice. The bytes are the same (tested over the reference
//! corpus and nested arrays and objects).

use std::io;

use serde::Serialize;

/// A line break followed by the indent of the deepest level written in one slice.
const BREAK_AND_INDENT: &[u8; 1 + 2 * 32] = b"\n                                                                ";

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
        let spaces = 2 * self.depth;
        match BREAK_AND_INDENT.get(..1 + spaces) {
            Some(slice) => writer.write_all(slice),
            None => {
                writer.write_all(b"\n")?;
                for _ in 0..self.depth {
                    writer.write_all(b"  ")?;
                }
                Ok(())
            }
        }
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

/// Serializes `value` as pretty JSON (the bytes `serde_json::to_writer_pretty` writes).
pub fn to_writer_pretty<W: io::Write, T: ?Sized + Serialize>(writer: W, value: &T) -> serde_json::Result<()> {
    value.serialize(&mut serde_json::Serializer::with_formatter(writer, PrettyFormatter::new()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    /// Ours and serde_json's pretty printer, byte for byte.
    fn same(value: &serde_json::Value) {
        let mut ours = Vec::new();
        super::to_writer_pretty(&mut ours, value).expect("ours");
        let theirs = serde_json::to_vec_pretty(value).expect("serde_json");
        assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
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
