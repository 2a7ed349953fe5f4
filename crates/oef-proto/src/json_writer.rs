//! A serde `Serializer` that writes `serde_json`'s pretty layout straight into a `Vec<u8>`.
//!
//! `serde_json::Serializer` writes through `io::Write` in many small pieces (quote, key, quote,
//! colon...) and scans every key for characters to escape one byte at a time; an experiment's
//! JSON is mostly keys. Here a string without such characters (every key, nearly every value)
//! is checked with one pass the compiler vectorizes and copied once; numbers are formatted by
//! `serde_json`'s own formatter, and the rare string that needs escaping is handed to
//! `serde_json`, so the bytes are `serde_json::to_vec_pretty`'s (tested over the corpus and
//! random values).

use serde::ser::{self, Serialize};
use serde_json::ser::{CompactFormatter, Formatter};

type Error = serde_json::Error;
type Result<T = ()> = std::result::Result<T, Error>;

/// Appends the pretty JSON of `value` to `out`.
pub(crate) fn write_pretty<T: ?Sized + Serialize>(out: &mut Vec<u8>, value: &T) -> Result {
    value.serialize(&mut PrettyWriter { out, depth: 0 })
}

struct PrettyWriter<'a> {
    out: &'a mut Vec<u8>,
    depth: usize,
}

fn io(e: std::io::Error) -> Error {
    Error::io(e)
}

impl PrettyWriter<'_> {
    #[inline]
    fn break_line(&mut self) {
        let out = &mut *self.out;
        let Ok(()) = crate::json::break_line(self.depth, |piece| {
            out.extend_from_slice(piece);
            Ok::<_, std::convert::Infallible>(())
        });
    }

    #[inline]
    fn string(&mut self, value: &str) -> Result {
        let bytes = value.as_bytes();
        // One pass without early exit, so that it is vectorized.
        let plain = bytes.iter().fold(true, |ok, &b| ok & (b >= 0x20 && b != b'"' && b != b'\\'));
        if plain {
            self.out.reserve(bytes.len() + 2);
            self.out.push(b'"');
            self.out.extend_from_slice(bytes);
            self.out.push(b'"');
            Ok(())
        } else {
            serde_json::to_writer(&mut *self.out, value)
        }
    }

    fn open(&mut self, bracket: u8, len: Option<usize>) -> Compound<'_, Self> {
        self.out.push(bracket);
        let close = bracket + 2;
        if len == Some(0) {
            self.out.push(close);
            return Compound { writer: self, state: State::Closed, close };
        }
        self.depth += 1;
        Compound { writer: self, state: State::First, close }
    }

    /// `{"variant": ` around a tuple or struct variant's content (closed by [`end_variant`]).
    fn open_variant(&mut self, variant: &str) -> Result {
        self.out.push(b'{');
        self.depth += 1;
        self.break_line();
        self.string(variant)?;
        self.out.extend_from_slice(b": ");
        Ok(())
    }
}

#[derive(PartialEq)]
enum State {
    /// Nothing written in the container yet.
    First,
    /// At least one element written.
    Rest,
    /// An empty container, already closed (`{}` / `[]`).
    Closed,
}

/// An open object or array (`close` is its closing bracket: `{` + 2 = `}`, `[` + 2 = `]`).
struct Compound<'w, W> {
    writer: &'w mut W,
    state: State,
    close: u8,
}

impl<'a, 'w> Compound<'w, PrettyWriter<'a>> {
    #[inline]
    fn next(&mut self) {
        if self.state == State::Rest {
            self.writer.out.push(b',');
        }
        self.state = State::Rest;
        self.writer.break_line();
    }

    fn close(&mut self) {
        if self.state != State::Closed {
            self.writer.depth -= 1;
            if self.state == State::Rest {
                self.writer.break_line();
            }
            self.writer.out.push(self.close);
        }
    }

    fn finish(mut self) -> Result {
        self.close();
        Ok(())
    }

    #[inline]
    fn field<T: ?Sized + Serialize>(&mut self, key: &str, value: &T) -> Result {
        self.next();
        self.writer.string(key)?;
        self.writer.out.extend_from_slice(b": ");
        value.serialize(&mut *self.writer)
    }
}

macro_rules! numbers {
    ($($method:ident $ty:ty => $write:ident;)*) => {$(
        #[inline]
        fn $method(self, value: $ty) -> Result {
            CompactFormatter.$write(&mut *self.out, value).map_err(io)
        }
    )*};
}

impl<'a, 'b> ser::Serializer for &'b mut PrettyWriter<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'b, PrettyWriter<'a>>;
    type SerializeTuple = Compound<'b, PrettyWriter<'a>>;
    type SerializeTupleStruct = Compound<'b, PrettyWriter<'a>>;
    type SerializeTupleVariant = Compound<'b, PrettyWriter<'a>>;
    type SerializeMap = Compound<'b, PrettyWriter<'a>>;
    type SerializeStruct = Compound<'b, PrettyWriter<'a>>;
    type SerializeStructVariant = Compound<'b, PrettyWriter<'a>>;

    numbers! {
        serialize_i8 i8 => write_i8;
        serialize_i16 i16 => write_i16;
        serialize_i32 i32 => write_i32;
        serialize_i64 i64 => write_i64;
        serialize_i128 i128 => write_i128;
        serialize_u8 u8 => write_u8;
        serialize_u16 u16 => write_u16;
        serialize_u32 u32 => write_u32;
        serialize_u64 u64 => write_u64;
        serialize_u128 u128 => write_u128;
    }

    fn serialize_bool(self, value: bool) -> Result {
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
        Ok(())
    }

    fn serialize_f32(self, value: f32) -> Result {
        if value.is_finite() { CompactFormatter.write_f32(&mut *self.out, value).map_err(io) } else { self.serialize_unit() }
    }

    fn serialize_f64(self, value: f64) -> Result {
        if value.is_finite() { CompactFormatter.write_f64(&mut *self.out, value).map_err(io) } else { self.serialize_unit() }
    }

    fn serialize_char(self, value: char) -> Result {
        self.string(value.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, value: &str) -> Result {
        self.string(value)
    }

    fn serialize_bytes(self, value: &[u8]) -> Result {
        use ser::SerializeSeq;
        let mut seq = self.serialize_seq(Some(value.len()))?;
        for byte in value {
            seq.serialize_element(byte)?;
        }
        seq.end()
    }

    fn serialize_none(self) -> Result {
        self.serialize_unit()
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        self.serialize_unit()
    }

    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result {
        self.string(variant)
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, name: &'static str, value: &T) -> Result {
        if name == RAW_VALUE_TOKEN {
            return Err(ser::Error::custom("serde_json raw values are not supported by the pretty writer"));
        }
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        let mut object = self.open(b'{', Some(1));
        object.field(variant, value)?;
        object.finish()
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq> {
        Ok(self.open(b'[', len))
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self::SerializeTupleStruct> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        self.open_variant(variant)?;
        Ok(self.open(b'[', Some(len)))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap> {
        Ok(self.open(b'{', len))
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self::SerializeStruct> {
        if name == RAW_VALUE_TOKEN {
            return Err(ser::Error::custom("serde_json raw values are not supported by the pretty writer"));
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        self.open_variant(variant)?;
        Ok(self.open(b'{', Some(len)))
    }
}

/// The name `serde_json` gives its `RawValue` (feature `raw_value`).
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl ser::SerializeSeq for Compound<'_, PrettyWriter<'_>> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.next();
        value.serialize(&mut *self.writer)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeTuple for Compound<'_, PrettyWriter<'_>> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Compound<'_, PrettyWriter<'_>> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

/// Closes the variant's array or object, then the object around it.
fn end_variant(mut compound: Compound<'_, PrettyWriter<'_>>) -> Result {
    compound.close();
    let writer = compound.writer;
    writer.depth -= 1;
    writer.break_line();
    writer.out.push(b'}');
    Ok(())
}

impl ser::SerializeTupleVariant for Compound<'_, PrettyWriter<'_>> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result {
        end_variant(self)
    }
}

impl ser::SerializeMap for Compound<'_, PrettyWriter<'_>> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result {
        self.next();
        key.serialize(MapKey { writer: &mut *self.writer })
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result {
        self.writer.out.extend_from_slice(b": ");
        value.serialize(&mut *self.writer)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeStruct for Compound<'_, PrettyWriter<'_>> {
    type Ok = ();
    type Error = Error;

    #[inline]
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        self.field(key, value)
    }

    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Compound<'_, PrettyWriter<'_>> {
    type Ok = ();
    type Error = Error;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result {
        self.field(key, value)
    }

    fn end(self) -> Result {
        end_variant(self)
    }
}

/// A map key: strings as they are, numbers, booleans and chars quoted, as `serde_json` does.
struct MapKey<'w, 'a> {
    writer: &'w mut PrettyWriter<'a>,
}

impl MapKey<'_, '_> {
    fn quoted(self, write: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> Result {
        self.writer.out.push(b'"');
        write(&mut *self.writer.out).map_err(io)?;
        self.writer.out.push(b'"');
        Ok(())
    }
}

fn key_must_be_a_string() -> Error {
    ser::Error::custom("key must be a string")
}

macro_rules! quoted_numbers {
    ($($method:ident $ty:ty => $write:ident;)*) => {$(
        fn $method(self, value: $ty) -> Result {
            self.quoted(|out| CompactFormatter.$write(out, value))
        }
    )*};
}

impl ser::Serializer for MapKey<'_, '_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    quoted_numbers! {
        serialize_i8 i8 => write_i8;
        serialize_i16 i16 => write_i16;
        serialize_i32 i32 => write_i32;
        serialize_i64 i64 => write_i64;
        serialize_i128 i128 => write_i128;
        serialize_u8 u8 => write_u8;
        serialize_u16 u16 => write_u16;
        serialize_u32 u32 => write_u32;
        serialize_u64 u64 => write_u64;
        serialize_u128 u128 => write_u128;
    }

    fn serialize_str(self, value: &str) -> Result {
        self.writer.string(value)
    }
    fn serialize_char(self, value: char) -> Result {
        self.writer.string(value.encode_utf8(&mut [0; 4]))
    }
    fn serialize_bool(self, value: bool) -> Result {
        self.quoted(|out| {
            out.extend_from_slice(if value { b"true" } else { b"false" });
            Ok(())
        })
    }
    fn serialize_f32(self, value: f32) -> Result {
        if !value.is_finite() {
            return Err(ser::Error::custom("float key must be finite (got NaN or +/-inf)"));
        }
        self.quoted(|out| CompactFormatter.write_f32(out, value))
    }
    fn serialize_f64(self, value: f64) -> Result {
        if !value.is_finite() {
            return Err(ser::Error::custom("float key must be finite (got NaN or +/-inf)"));
        }
        self.quoted(|out| CompactFormatter.write_f64(out, value))
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result {
        self.writer.string(variant)
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _name: &'static str, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_bytes(self, _value: &[u8]) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_none(self) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, _value: &T) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_unit(self) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(self, _: &'static str, _: u32, _: &'static str, _: &T) -> Result {
        Err(key_must_be_a_string())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTupleStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_tuple_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeTupleVariant> {
        Err(key_must_be_a_string())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        Err(key_must_be_a_string())
    }
    fn serialize_struct_variant(self, _: &'static str, _: u32, _: &'static str, _: usize) -> Result<Self::SerializeStructVariant> {
        Err(key_must_be_a_string())
    }
}
