//! A binary decoder for the generated types that gives what `prost::Message::decode` gives.
//!
//! prost's decoding goes through the `bytes::Buf` abstraction and an out-of-line varint reader
//! for every key, length and value: on the OEF corpus that reader alone was 29 % of decoding.
//! Here a [`Reader`] walks a byte slice by index with the one-byte case inline, and the
//! [`MergeField`] impls are generated at build time from the same descriptors as the prost
//! types (`build/one_pass.rs`).
//!
//! Behaviour is prost's, decision for decision: the last value of a scalar wins, messages
//! merge, a oneof member merges into the same member or replaces another one, repeated scalars
//! accept packed and unpacked input, a map entry's missing key or value is the default, unknown
//! fields (groups included) are skipped, strings must be UTF-8, and the recursion limit is
//! prost's 100. Tests compare the result (`Ok` value or error) with prost's over the corpus,
//! 100 k mutated inputs and random messages of every type. The error says what was wrong and
//! at which byte offset; it is not prost's error type.
//!
//! ```
//! use oef_proto::{decoder, encoder, v0};
//! use prost::Message;
//!
//! let mut experiment = v0::Experiment::default();
//! experiment.seed = Some(7);
//! let bytes = encoder::to_vec(&experiment);
//! assert_eq!(decoder::decode::<v0::Experiment>(&bytes).unwrap(), experiment);
//! assert!(decoder::decode::<v0::Experiment>(&bytes[..1]).is_err());
//! ```

/// prost's recursion limit (`prost::RECURSION_LIMIT`): nested messages, map entries and
/// skipped groups deeper than this are an error.
pub const RECURSION_LIMIT: u32 = 100;

/// Bytes that could not be decoded: what was wrong, and where.
///
/// One pointer wide (the details are boxed), so that the `Result<(), DecodeError>` every
/// field read returns stays in a register: with the details inline, every field paid for a
/// 40-byte return through memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(transparent)]
pub struct DecodeError(Box<DecodeErrorKind>);

impl DecodeError {
    /// What was wrong.
    pub fn kind(&self) -> &DecodeErrorKind {
        &self.0
    }
}

impl From<DecodeErrorKind> for DecodeError {
    #[cold]
    fn from(kind: DecodeErrorKind) -> Self {
        DecodeError(Box::new(kind))
    }
}

/// Why bytes could not be decoded, and where (offset in the input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// A varint ran past the end of the input or past ten bytes.
    #[error("invalid varint at byte {at}")]
    InvalidVarint {
        /// Offset of the varint.
        at: usize,
    },
    /// A field key larger than 32 bits, with field number 0 or an unknown wire type.
    #[error("invalid field key {key} at byte {at}")]
    InvalidKey {
        /// The key's value.
        key: u64,
        /// Offset after the key.
        at: usize,
    },
    /// A known field with another wire type than its type has.
    #[error("wire type {found} where {expected} was expected (byte {at})")]
    WireType {
        /// The wire type of the field's type.
        expected: u8,
        /// The wire type found.
        found: u8,
        /// Offset after the key.
        at: usize,
    },
    /// A length or fixed-size value that goes past the end of the input.
    #[error("{needed} bytes needed at byte {at}, {left} left")]
    Truncated {
        /// Bytes needed.
        needed: u64,
        /// Bytes left in the input.
        left: usize,
        /// Offset.
        at: usize,
    },
    /// A nested message whose fields go past its length.
    #[error("fields past the end of a nested message ending at byte {end} (reached {at})")]
    LengthExceeded {
        /// Where the nested message should end.
        end: usize,
        /// Where its last field ended.
        at: usize,
    },
    /// Messages nested deeper than [`RECURSION_LIMIT`].
    #[error("messages nested deeper than {RECURSION_LIMIT} levels (byte {at})")]
    RecursionLimit {
        /// Offset.
        at: usize,
    },
    /// A string field that is not UTF-8.
    #[error("string at byte {at} is not UTF-8")]
    Utf8 {
        /// Offset of the string's content.
        at: usize,
    },
    /// An end-group key without its start, or with another field number.
    #[error("unexpected end-group key at byte {at}")]
    EndGroup {
        /// Offset after the key.
        at: usize,
    },
}

/// A message whose fields can be read one at a time from a [`Reader`].
pub trait MergeField {
    /// Merges field `number`, whose key (with wire type `wire`) was just read, into `self`.
    /// `depth` is how many more nesting levels may be entered.
    fn merge_field(&mut self, number: u32, wire: u8, r: &mut Reader<'_>, depth: u32) -> Result<(), DecodeError>;
}

impl<M: MergeField + ?Sized> MergeField for Box<M> {
    #[inline]
    fn merge_field(&mut self, number: u32, wire: u8, r: &mut Reader<'_>, depth: u32) -> Result<(), DecodeError> {
        (**self).merge_field(number, wire, r, depth)
    }
}

/// Decodes a whole message, as `M::decode(bytes)` does with prost.
pub fn decode<M: MergeField + Default>(bytes: &[u8]) -> Result<M, DecodeError> {
    let mut message = M::default();
    merge(&mut message, bytes)?;
    Ok(message)
}

/// Merges the fields encoded in `bytes` into `message`, as `message.merge(bytes)` does with
/// prost. On error `message` may hold part of the input.
pub fn merge<M: MergeField>(message: &mut M, bytes: &[u8]) -> Result<(), DecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    while r.pos < bytes.len() {
        let (number, wire) = r.key()?;
        message.merge_field(number, wire, &mut r, RECURSION_LIMIT)?;
    }
    Ok(())
}

/// A position in the input. The generated code calls its methods; they are public for it only.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const DELIMITED: u8 = 2;
const START_GROUP: u8 = 3;
const END_GROUP: u8 = 4;
const FIXED32: u8 = 5;

impl<'a> Reader<'a> {
    /// A varint (one or two bytes inline, longer ones out of line).
    #[inline(always)]
    fn varint(&mut self) -> Result<u64, DecodeError> {
        if let Some(&byte) = self.bytes.get(self.pos) {
            if byte < 0x80 {
                self.pos += 1;
                return Ok(u64::from(byte));
            }
            if let Some(&second) = self.bytes.get(self.pos + 1) {
                if second < 0x80 {
                    self.pos += 2;
                    return Ok(u64::from(byte & 0x7f) | u64::from(second) << 7);
                }
            }
        }
        self.long_varint()
    }

    /// prost's rules: at most ten bytes, and the tenth holds at most one bit.
    #[inline(never)]
    fn long_varint(&mut self) -> Result<u64, DecodeError> {
        let at = self.pos;
        let mut value = 0u64;
        for (count, &byte) in self.bytes[self.pos..].iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f) << (count * 7);
            if byte < 0x80 {
                if count == 9 && byte >= 0x02 {
                    break;
                }
                self.pos += count + 1;
                return Ok(value);
            }
        }
        Err(DecodeErrorKind::InvalidVarint { at }.into())
    }

    /// A field key: (field number, wire type).
    #[inline(always)]
    fn key(&mut self) -> Result<(u32, u8), DecodeError> {
        let key = self.varint()?;
        let wire = (key & 7) as u8;
        match u32::try_from(key >> 3) {
            Ok(number) if number > 0 && key <= u64::from(u32::MAX) && wire <= FIXED32 => Ok((number, wire)),
            _ => Err(DecodeErrorKind::InvalidKey { key, at: self.pos }.into()),
        }
    }

    #[inline(always)]
    fn expect(&self, found: u8, expected: u8) -> Result<(), DecodeError> {
        if found == expected {
            Ok(())
        } else {
            Err(DecodeErrorKind::WireType { expected, found, at: self.pos }.into())
        }
    }

    /// The next `len` bytes.
    #[inline(always)]
    fn take(&mut self, len: u64) -> Result<&'a [u8], DecodeError> {
        let left = self.bytes.len() - self.pos;
        if len > left as u64 {
            return Err(DecodeErrorKind::Truncated { needed: len, left, at: self.pos }.into());
        }
        let start = self.pos;
        self.pos += len as usize;
        Ok(&self.bytes[start..self.pos])
    }

    #[inline(always)]
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N as u64)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Reads a length and returns where the region it announces ends.
    #[inline(always)]
    fn region(&mut self) -> Result<usize, DecodeError> {
        let len = self.varint()?;
        let left = self.bytes.len() - self.pos;
        if len > left as u64 {
            return Err(DecodeErrorKind::Truncated { needed: len, left, at: self.pos }.into());
        }
        Ok(self.pos + len as usize)
    }

    /// Runs `step` until the end of a length-delimited region, as prost's `merge_loop`: a step
    /// that reads past the end is an error once it returns.
    #[inline(always)]
    fn within(&mut self, mut step: impl FnMut(&mut Self) -> Result<(), DecodeError>) -> Result<(), DecodeError> {
        let end = self.region()?;
        while self.pos < end {
            step(self)?;
        }
        if self.pos != end {
            return Err(DecodeErrorKind::LengthExceeded { end, at: self.pos }.into());
        }
        Ok(())
    }

    /// Reads the fields of a length-delimited region.
    #[inline(always)]
    fn delimited(
        &mut self,
        depth: u32,
        mut field: impl FnMut(&mut Self, u32, u8, u32) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        self.within(|r| {
            let (number, wire) = r.key()?;
            field(r, number, wire, depth)
        })
    }

    /// A nested message, merged into `message`.
    #[inline]
    pub fn message<M: MergeField>(&mut self, wire: u8, message: &mut M, depth: u32) -> Result<(), DecodeError> {
        self.expect(wire, DELIMITED)?;
        if depth == 0 {
            return Err(DecodeErrorKind::RecursionLimit { at: self.pos }.into());
        }
        self.delimited(depth - 1, |r, number, wire, depth| message.merge_field(number, wire, r, depth))
    }

    /// A map entry: its key and value fields go to `field`.
    #[inline]
    pub fn map_entry(
        &mut self,
        wire: u8,
        depth: u32,
        field: impl FnMut(&mut Self, u32, u8, u32) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        self.expect(wire, DELIMITED)?;
        if depth == 0 {
            return Err(DecodeErrorKind::RecursionLimit { at: self.pos }.into());
        }
        self.delimited(depth - 1, field)
    }

    /// An unknown field, skipped.
    pub fn skip(&mut self, number: u32, wire: u8, depth: u32) -> Result<(), DecodeError> {
        if depth == 0 {
            return Err(DecodeErrorKind::RecursionLimit { at: self.pos }.into());
        }
        let len = match wire {
            VARINT => self.varint().map(|_| 0)?,
            FIXED64 => 8,
            DELIMITED => self.varint()?,
            FIXED32 => 4,
            START_GROUP => loop {
                let (inner, inner_wire) = self.key()?;
                if inner_wire == END_GROUP {
                    if inner != number {
                        return Err(DecodeErrorKind::EndGroup { at: self.pos }.into());
                    }
                    break 0;
                }
                self.skip(inner, inner_wire, depth - 1)?;
            },
            _ => return Err(DecodeErrorKind::EndGroup { at: self.pos }.into()),
        };
        self.take(len).map(|_| ())
    }

    /// A repeated scalar: a packed run (wire type 2) or one value of wire type `element`.
    #[inline]
    pub fn repeated<T>(
        &mut self,
        wire: u8,
        element: u8,
        values: &mut Vec<T>,
        read: fn(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<(), DecodeError> {
        if wire == DELIMITED {
            self.within(|r| read(r).map(|value| values.push(value)))
        } else {
            self.expect(wire, element)?;
            values.push(read(self)?);
            Ok(())
        }
    }

    /// A string, replacing `value`.
    #[inline]
    pub fn string(&mut self, wire: u8, value: &mut String) -> Result<(), DecodeError> {
        self.expect(wire, DELIMITED)?;
        let len = self.varint()?;
        let at = self.pos;
        let bytes = self.take(len)?;
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeErrorKind::Utf8 { at })?;
        value.clear();
        value.push_str(text);
        Ok(())
    }

    /// Bytes, replacing `value`.
    #[inline]
    pub fn bytes(&mut self, wire: u8, value: &mut Vec<u8>) -> Result<(), DecodeError> {
        self.expect(wire, DELIMITED)?;
        let len = self.varint()?;
        let bytes = self.take(len)?;
        value.clear();
        value.extend_from_slice(bytes);
        Ok(())
    }
}

/// Scalar readers: `raw_*` reads a value, the plain one checks the wire type first.
macro_rules! scalars {
    ($($name:ident $raw:ident $wire:ident -> $ty:ty = |$r:ident| $read:expr;)*) => {
        impl Reader<'_> {
            $(
                #[doc = concat!("A `", stringify!($name), "` value, without its key.")]
                #[inline(always)]
                pub fn $raw(&mut self) -> Result<$ty, DecodeError> {
                    let $r = self;
                    $read
                }

                #[doc = concat!("A `", stringify!($name), "` field's value (wire type checked).")]
                #[inline(always)]
                pub fn $name(&mut self, wire: u8) -> Result<$ty, DecodeError> {
                    self.expect(wire, $wire)?;
                    self.$raw()
                }
            )*
        }
    };
}

scalars! {
    int32 raw_int32 VARINT -> i32 = |r| r.varint().map(|v| v as i32);
    int64 raw_int64 VARINT -> i64 = |r| r.varint().map(|v| v as i64);
    uint32 raw_uint32 VARINT -> u32 = |r| r.varint().map(|v| v as u32);
    uint64 raw_uint64 VARINT -> u64 = |r| r.varint();
    sint32 raw_sint32 VARINT -> i32 = |r| r.varint().map(|v| {
        let v = v as u32;
        ((v >> 1) as i32) ^ (-((v & 1) as i32))
    });
    sint64 raw_sint64 VARINT -> i64 = |r| r.varint().map(|v| ((v >> 1) as i64) ^ (-((v & 1) as i64)));
    bool raw_bool VARINT -> bool = |r| r.varint().map(|v| v != 0);
    float raw_float FIXED32 -> f32 = |r| r.array().map(f32::from_le_bytes);
    double raw_double FIXED64 -> f64 = |r| r.array().map(f64::from_le_bytes);
    fixed32 raw_fixed32 FIXED32 -> u32 = |r| r.array().map(u32::from_le_bytes);
    fixed64 raw_fixed64 FIXED64 -> u64 = |r| r.array().map(u64::from_le_bytes);
    sfixed32 raw_sfixed32 FIXED32 -> i32 = |r| r.array().map(i32::from_le_bytes);
    sfixed64 raw_sfixed64 FIXED64 -> i64 = |r| r.array().map(i64::from_le_bytes);
}

/// The generated impls, one per message (`build/one_pass.rs`); lints are for hand-written code.
#[allow(clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/oef_decoder.rs"));
}
