//! v0 proto3 JSON read straight into v0 binary for the fast route, guided by the plan.
//!
//! The serde route (pbjson's generated deserializers into the v0 types, then prost's encoder)
//! spent more time per JSON file than transcoding it. This reader takes JSON as
//! `deepomatic-oef` writes it and declines (`None`, and the serde route runs) on anything else,
//! so that what it accepts it reads exactly as serde does:
//!
//! * keys: a field's JSON name or proto name, without escapes; an unknown key, a key given
//!   twice (under either name), a second member of a oneof or a field the plan leaves to the
//!   general route (maps, bytes) declines;
//! * strings without escapes or control characters; enums by name; `true` / `false`;
//! * numbers as JSON numbers, through serde_json's own number parser and serde's conversions
//!   (an integer literal into a float field is converted directly, a fraction or exponent into
//!   an integer field is refused, ranges are checked), or as strings through `FromStr`, as
//!   `oef_proto`'s number reader does;
//! * `null` anywhere declines (serde reads it as "unset" in some places, an error in others).
//!
//! Fields are written in the order they come, repeated scalars unpacked: the transcoder reads
//! fields in any order and both forms of repeated scalars, and gives the same result for the
//! same values (tested in `tests/fast_route.rs` over the corpus, and here against serde).

use prost::encoding::{WireType, encode_key};

use super::{Field, Message, Scalar, Ty, begin_len, end_len, put_value};

/// Nesting deeper than this declines (serde_json stops at 128; v0 experiments nest ~10 deep).
const MAX_DEPTH: u32 = 64;

/// The v0 `Experiment` (plan message 0) in `json`, encoded as binary; `None` to decline.
pub(super) fn read(plan: &[Message], json: &[u8]) -> Option<Vec<u8>> {
    let mut reader = Reader { json, at: 0 };
    let mut out = Vec::with_capacity(json.len());
    reader.object(plan, 0, &mut out, 0)?;
    reader.skip_whitespace();
    (reader.at == json.len()).then_some(out)
}

struct Reader<'a> {
    json: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn skip_whitespace(&mut self) {
        // Indentation, eight spaces at a time.
        while self.json.get(self.at..self.at + 8) == Some(b"        ") {
            self.at += 8;
        }
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.json.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace (not consumed).
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.json.get(self.at).copied()
    }

    /// Consumes `byte` after whitespace.
    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Consumes `word` (`true`, `false`).
    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.json[self.at..].starts_with(word).then(|| self.at += word.len())
    }

    /// A string without escapes or control characters: the bytes between its quotes.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        let len = super::first_to_escape(&self.json[start..])?;
        let end = start + len;
        (self.json[end] == b'"').then_some(())?;
        self.at = end + 1;
        Some(&self.json[start..end])
    }

    /// The text of a JSON number (its grammar is checked by serde_json when parsed).
    fn number_token(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.at;
        while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.json.get(self.at) {
            self.at += 1;
        }
        (self.at > start).then_some(())?;
        std::str::from_utf8(&self.json[start..self.at]).ok()
    }

    /// One object of plan message `m`, its fields appended to `out`.
    fn object(&mut self, plan: &[Message], m: usize, out: &mut Vec<u8>, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let message = plan.get(m)?;
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        // Fields seen, by index: a second key for one of them is serde's "duplicate field"; so
        // is a second member of one oneof.
        let mut seen = [0u64; 4];
        let mut oneofs = 0u64;
        loop {
            let key = self.plain_string()?;
            let i = message.keys.get(key)?;
            let (word, bit) = (i / 64, 1u64 << (i % 64));
            if *seen.get(word)? & bit != 0 {
                return None;
            }
            seen[word] |= bit;
            self.expect(b':')?;
            let field = &message.fields[i];
            if field.unsupported {
                return None;
            }
            if let Some(o) = field.oneof {
                if oneofs & (1 << o) != 0 {
                    return None;
                }
                oneofs |= 1 << o;
            }
            if field.repeated {
                self.expect(b'[')?;
                if self.peek()? == b']' {
                    self.at += 1;
                } else {
                    loop {
                        self.value(plan, field, out, depth)?;
                        match self.peek()? {
                            b',' => self.at += 1,
                            b']' => {
                                self.at += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
            } else {
                self.value(plan, field, out, depth)?;
            }
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// One value of `field` (one item of a repeated field), appended to `out` with its key.
    fn value(&mut self, plan: &[Message], field: &Field, out: &mut Vec<u8>, depth: u32) -> Option<()> {
        let value = match (field.ty, self.peek()?) {
            (Ty::Message, _) => {
                encode_key(field.number, WireType::LengthDelimited, out);
                let at = begin_len(out);
                self.object(plan, field.message, out, depth + 1)?;
                end_len(out, at);
                return Some(());
            }
            (Ty::Bytes, _) => return None, // base64: left to serde
            (Ty::String, b'"') => Scalar::String(std::str::from_utf8(self.plain_string()?).ok()?),
            (Ty::Enum, b'"') => {
                let name = self.plain_string()?;
                let i = field.enum_names.binary_search_by(|(n, _)| n.as_ref().cmp(name)).ok()?;
                Scalar::EnumNumber(field.enum_names[i].1)
            }
            (Ty::Bool, b't') => self.literal(b"true").map(|()| Scalar::Bool(true))?,
            (Ty::Bool, b'f') => self.literal(b"false").map(|()| Scalar::Bool(false))?,
            (Ty::String | Ty::Enum | Ty::Bool, _) => return None,
            (ty, b'"') => number_from_str(ty, std::str::from_utf8(self.plain_string()?).ok()?)?,
            (ty, _) => number_from_json(ty, self.number_token()?)?,
        };
        encode_key(field.number, field.ty.wire(), out);
        put_value(field.ty, value, out);
        Some(())
    }
}

/// A number given as a string: `FromStr` of the field's type, as `oef_proto`'s reader does.
fn number_from_str(ty: Ty, text: &str) -> Option<Scalar<'static>> {
    Some(match ty {
        Ty::Int32 | Ty::Sint32 | Ty::Sfixed32 => Scalar::I32(text.parse().ok()?),
        Ty::Int64 | Ty::Sint64 | Ty::Sfixed64 => Scalar::I64(text.parse().ok()?),
        Ty::Uint32 | Ty::Fixed32 => Scalar::U32(text.parse().ok()?),
        Ty::Uint64 | Ty::Fixed64 => Scalar::U64(text.parse().ok()?),
        Ty::Float => Scalar::F32(text.parse().ok()?),
        Ty::Double => Scalar::F64(text.parse().ok()?),
        _ => return None,
    })
}

/// A JSON number: parsed by serde_json (a non-negative integer as `u64`, a negative one as
/// `i64`, anything else as `f64`), then converted as serde's visitors convert each of those.
fn number_from_json(ty: Ty, token: &str) -> Option<Scalar<'static>> {
    // Digits without a leading zero, few enough to fit: what serde_json reads as a `u64`, read
    // here without it (most integers of a file).
    let digits = token.bytes().all(|b| b.is_ascii_digit()) && (token.len() == 1 || !token.starts_with('0'));
    let number: serde_json::Number = if digits && token.len() <= 19 {
        token.parse::<u64>().ok()?.into()
    } else {
        serde_json::from_str(token).ok()?
    };
    let (unsigned, signed) = (number.as_u64(), number.as_i64());
    // Integers: a float (fraction or exponent) is refused, ranges checked.
    let int = || unsigned.map(i128::from).or(signed.map(i128::from));
    Some(match ty {
        Ty::Int32 | Ty::Sint32 | Ty::Sfixed32 => Scalar::I32(i32::try_from(int()?).ok()?),
        Ty::Int64 | Ty::Sint64 | Ty::Sfixed64 => Scalar::I64(i64::try_from(int()?).ok()?),
        Ty::Uint32 | Ty::Fixed32 => Scalar::U32(u32::try_from(int()?).ok()?),
        Ty::Uint64 | Ty::Fixed64 => Scalar::U64(u64::try_from(int()?).ok()?),
        // Floats: each of the three straight to the field's type (an integer is not rounded to
        // `f64` first, as serde does not).
        Ty::Float => Scalar::F32(match (unsigned, signed) {
            (Some(u), _) => u as f32,
            (None, Some(i)) => i as f32,
            _ => number.as_f64()? as f32,
        }),
        Ty::Double => Scalar::F64(match (unsigned, signed) {
            (Some(u), _) => u as f64,
            (None, Some(i)) => i as f64,
            _ => number.as_f64()?,
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use oef_proto::v0;
    use prost::Message as _;
    use proptest::prelude::*;

    use super::super::PLAN;

    static FIXTURES: std::sync::LazyLock<Vec<(String, Vec<u8>)>> = std::sync::LazyLock::new(fixtures);

    fn fixtures() -> Vec<(String, Vec<u8>)> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/legacy-oef");
        let mut out = Vec::new();
        for dir in ["defaults", "overrides"] {
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "json") && !path.to_str().unwrap().ends_with(".args.json") {
                    out.push((path.display().to_string(), std::fs::read(&path).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    /// serde's reading of `json`, re-encoded by prost (canonical bytes; NaN compares by bits).
    fn serde(json: &[u8]) -> Option<Vec<u8>> {
        let experiment: v0::Experiment = serde_json::from_slice(json).ok()?;
        Some(experiment.encode_to_vec())
    }

    /// Ours, decoded and re-encoded by prost.
    fn ours(json: &[u8]) -> Option<Vec<u8>> {
        let binary = super::read(&PLAN.as_ref().unwrap().v0, json)?;
        Some(v0::Experiment::decode(binary.as_slice()).expect("ours decodes").encode_to_vec())
    }

    #[test]
    fn every_fixture_is_read_as_serde_reads_it() {
        let files = fixtures();
        assert!(files.len() > 404, "{}", files.len());
        let mut declined = Vec::new();
        for (name, json) in &files {
            match ours(json) {
                Some(bytes) => assert!(Some(&bytes) == serde(json).as_ref(), "{name}"),
                None => declined.push(name.clone()),
            }
        }
        // Files with hyperparameter maps are left to serde; the others are read here.
        let plain = declined.iter().filter(|n| !String::from_utf8_lossy(&std::fs::read(n).unwrap()).contains("hyperparameters")).count();
        assert_eq!(plain, 0, "{declined:?}");
    }

    /// Edits a JSON text the way hand-made and foreign files differ from deepomatic-oef's.
    fn edit(json: &[u8], at: usize, kind: u8) -> Vec<u8> {
        let text = String::from_utf8_lossy(json).into_owned();
        let at = at % text.len().max(1);
        let at = (0..=at).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        let (head, tail) = text.split_at(at);
        let replacements = [
            "1.0", "1e0", "-0", "\"7\"", "\"NaN\"", "\"-Infinity\"", "1e400", "18446744073709551616",
            "-9223372036854775809", "2147483648", "null", "\"\\u0041\"", "\"x\"", "true", "[]", "{}", "0.1",
            "16777217", "9007199254740993", "\" 5\"", "\"+5\"", "01",
        ];
        match kind % 8 {
            // A value replaced: the next one after `at` (after a `": "`).
            0..=3 => {
                let Some(colon) = tail.find("\": ") else { return json.to_vec() };
                let (before, rest) = tail.split_at(colon + 3);
                let end = if let Some(string) = rest.strip_prefix('"') {
                    string.find('"').map(|e| e + 2).unwrap_or(rest.len())
                } else if rest.starts_with(['{', '[']) {
                    return json.to_vec(); // objects and arrays stay
                } else {
                    rest.find([',', '}', ']', '\n']).unwrap_or(rest.len())
                };
                let new = replacements[usize::from(kind / 8) % replacements.len()];
                format!("{head}{before}{new}{}", &rest[end..]).into_bytes()
            }
            // One byte removed.
            4 => format!("{head}{}", tail.get(1..).unwrap_or("")).into_bytes(),
            // A line repeated (a key given twice, or a stray value).
            5 => {
                let line_start = head.rfind('\n').map(|i| i + 1).unwrap_or(0);
                let line_end = tail.find('\n').map(|i| at + i).unwrap_or(text.len());
                let line = &text[line_start..line_end];
                format!("{}{line}\n{}", &text[..line_end], &text[line_start..]).into_bytes()
            }
            // A key renamed to its proto name (snake_case).
            6 => {
                let mut out = String::new();
                let mut upper_seen = false;
                for c in tail.chars() {
                    if !upper_seen && c.is_ascii_uppercase() {
                        out.push('_');
                        out.push(c.to_ascii_lowercase());
                        upper_seen = true;
                    } else {
                        out.push(c);
                    }
                }
                format!("{head}{out}").into_bytes()
            }
            // Whitespace inserted.
            _ => format!("{head} \t\r\n{tail}").into_bytes(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3_000, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn edited_json_is_read_as_serde_reads_it_or_declined(
            file in 0usize..10_000,
            edits in prop::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        ) {
            let files = &*FIXTURES;
            let (name, json) = &files[file % files.len()];
            let mut json = json.clone();
            for (at, kind) in edits {
                json = edit(&json, at, kind);
            }
            if let Some(bytes) = ours(&json) {
                let theirs = serde(&json);
                prop_assert!(theirs.is_some(), "{name}: read what serde rejects:\n{}", String::from_utf8_lossy(&json));
                prop_assert!(Some(&bytes) == theirs.as_ref(), "{name}: read differently:\n{}", String::from_utf8_lossy(&json));
            }
        }
    }
}
