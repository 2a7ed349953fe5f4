//! A one-pass binary encoder for the generated types, byte for byte prost's encoding.
//!
//! prost writes a nested message's length before its content, so it computes the length
//! first, and every level computes the lengths of all the levels below it again: an OEF
//! experiment is ~8 levels deep and half of `prost::Message::encode` was spent in
//! `encoded_len`. This encoder writes backwards instead, from the last field to the first,
//! into a buffer that grows towards its front: a nested message's content is written before
//! its length, which is then known. No length is ever computed twice, nothing is moved.
//!
//! The [`EncodeReverse`] impls are generated at build time from the same descriptors as the
//! prost types (`build/encoder.rs`), following prost's rules (field order, presence, packing,
//! map entries), and tests compare the two encoders' bytes over the whole corpus and 100 k
//! mutated messages. Well-known types (`google.protobuf.*`) are encoded through prost.
//!
//! ```
//! use oef_proto::{encoder, v0};
//! use prost::Message;
//!
//! let experiment = v0::Experiment::default();
//! assert_eq!(encoder::to_vec(&experiment), experiment.encode_to_vec());
//! ```

/// A message that can be written backwards into a [`ReverseBuffer`].
pub trait EncodeReverse {
    /// Writes the message's fields (not its own key or length), last field first.
    fn encode_reverse(&self, buf: &mut ReverseBuffer);
}

impl<M: EncodeReverse + ?Sized> EncodeReverse for Box<M> {
    #[inline]
    fn encode_reverse(&self, buf: &mut ReverseBuffer) {
        (**self).encode_reverse(buf);
    }
}

/// Well-known types, which come from `pbjson-types`: encoded forwards by prost, then copied.
macro_rules! through_prost {
    ($($ty:ty),*) => {$(
        impl EncodeReverse for $ty {
            fn encode_reverse(&self, buf: &mut ReverseBuffer) {
                buf.put_slice(&prost::Message::encode_to_vec(self));
            }
        }
    )*};
}
through_prost!(pbjson_types::Timestamp, pbjson_types::Duration, pbjson_types::Struct, pbjson_types::Value);

/// The encoding of `message`, as `prost::Message::encode_to_vec` gives it.
pub fn to_vec<M: EncodeReverse>(message: &M) -> Vec<u8> {
    let mut buf = ReverseBuffer::with_capacity(512);
    message.encode_reverse(&mut buf);
    buf.into_vec()
}

/// A byte buffer written from its end towards its front.
///
/// The bytes written so far are `bytes[start..]`; [`ReverseBuffer::as_slice`] gives them in
/// order. Reuse one buffer (with [`ReverseBuffer::clear`]) to encode many messages without
/// allocating.
#[derive(Debug, Clone, Default)]
pub struct ReverseBuffer {
    bytes: Vec<u8>,
    start: usize,
}

impl ReverseBuffer {
    /// An empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        ReverseBuffer { bytes: vec![0; capacity], start: capacity }
    }

    /// Encodes `message` into this buffer, replacing what it held, and returns the bytes.
    pub fn encode<M: EncodeReverse>(&mut self, message: &M) -> &[u8] {
        self.clear();
        message.encode_reverse(self);
        self.as_slice()
    }

    /// Forgets the bytes written; the capacity stays.
    pub fn clear(&mut self) {
        self.start = self.bytes.len();
    }

    /// The number of bytes written.
    #[inline]
    pub fn len(&self) -> usize {
        self.bytes.len() - self.start
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes written, in order.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// The bytes written, in order, as a vector (moved to its front).
    pub fn into_vec(mut self) -> Vec<u8> {
        self.bytes.drain(..self.start);
        self.bytes
    }

    #[inline]
    fn reserve(&mut self, additional: usize) {
        if additional > self.start {
            self.grow(additional);
        }
    }

    #[cold]
    fn grow(&mut self, additional: usize) {
        let len = self.len();
        let capacity = (self.bytes.len() * 2).max(len + additional + 256);
        let mut bytes = vec![0; capacity];
        bytes[capacity - len..].copy_from_slice(self.as_slice());
        self.bytes = bytes;
        self.start = capacity - len;
    }

    /// Writes one byte before the others.
    #[inline(always)]
    pub fn put_u8(&mut self, byte: u8) {
        self.reserve(1);
        self.start -= 1;
        self.bytes[self.start] = byte;
    }

    /// Writes `bytes` before the others.
    #[inline]
    pub fn put_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        let start = self.start - bytes.len();
        self.bytes[start..self.start].copy_from_slice(bytes);
        self.start = start;
    }

    /// Writes `N` bytes before the others (a store of known size, no `memcpy` call).
    #[inline(always)]
    pub fn put_array<const N: usize>(&mut self, bytes: [u8; N]) {
        self.reserve(N);
        let start = self.start - N;
        self.bytes[start..start + N].copy_from_slice(&bytes);
        self.start = start;
    }

    /// Writes a base-128 varint.
    #[inline(always)]
    pub fn put_varint(&mut self, value: u64) {
        if value < 0x80 {
            self.put_u8(value as u8);
        } else {
            self.put_long_varint(value);
        }
    }

    /// A varint of two bytes or more, written in place.
    #[inline(never)]
    fn put_long_varint(&mut self, mut value: u64) {
        let len = (70 - value.leading_zeros() as usize) / 7;
        self.reserve(len);
        let start = self.start - len;
        for byte in &mut self.bytes[start..self.start - 1] {
            *byte = (value as u8) | 0x80;
            value >>= 7;
        }
        self.bytes[self.start - 1] = value as u8;
        self.start = start;
    }

    /// Writes the length of what was written since the buffer's length was `end`.
    #[inline]
    pub fn put_len(&mut self, end: usize) {
        self.put_varint((self.len() - end) as u64);
    }

    /// A nested message: its fields, then its length before them.
    #[inline]
    pub fn put_message<M: EncodeReverse + ?Sized>(&mut self, message: &M) {
        let end = self.len();
        message.encode_reverse(self);
        self.put_len(end);
    }

    /// A length-delimited string.
    #[inline]
    pub fn put_string(&mut self, value: &str) {
        self.put_bytes(value.as_bytes());
    }

    /// Length-delimited bytes.
    #[inline]
    pub fn put_bytes(&mut self, value: &[u8]) {
        self.put_slice(value);
        self.put_varint(value.len() as u64);
    }

    /// `int32` and enums: negative values take ten bytes, as the wire format says.
    #[inline]
    pub fn put_int32(&mut self, value: i32) {
        self.put_varint(i64::from(value) as u64);
    }

    /// `int64`.
    #[inline]
    pub fn put_int64(&mut self, value: i64) {
        self.put_varint(value as u64);
    }

    /// `uint32`.
    #[inline]
    pub fn put_uint32(&mut self, value: u32) {
        self.put_varint(u64::from(value));
    }

    /// `uint64`.
    #[inline]
    pub fn put_uint64(&mut self, value: u64) {
        self.put_varint(value);
    }

    /// `sint32` (zigzag).
    #[inline]
    pub fn put_sint32(&mut self, value: i32) {
        self.put_varint(u64::from(((value << 1) ^ (value >> 31)) as u32));
    }

    /// `sint64` (zigzag).
    #[inline]
    pub fn put_sint64(&mut self, value: i64) {
        self.put_varint(((value << 1) ^ (value >> 63)) as u64);
    }

    /// `bool`.
    #[inline]
    pub fn put_bool(&mut self, value: bool) {
        self.put_u8(u8::from(value));
    }

    /// `float`, little-endian.
    #[inline]
    pub fn put_float(&mut self, value: f32) {
        self.put_array(value.to_le_bytes());
    }

    /// `double`, little-endian.
    #[inline]
    pub fn put_double(&mut self, value: f64) {
        self.put_array(value.to_le_bytes());
    }

    /// `fixed32`.
    #[inline]
    pub fn put_fixed32(&mut self, value: u32) {
        self.put_array(value.to_le_bytes());
    }

    /// `fixed64`.
    #[inline]
    pub fn put_fixed64(&mut self, value: u64) {
        self.put_array(value.to_le_bytes());
    }

    /// `sfixed32`.
    #[inline]
    pub fn put_sfixed32(&mut self, value: i32) {
        self.put_array(value.to_le_bytes());
    }

    /// `sfixed64`.
    #[inline]
    pub fn put_sfixed64(&mut self, value: i64) {
        self.put_array(value.to_le_bytes());
    }
}

/// The generated impls, one per message (`build/one_pass.rs`); lints are for hand-written code.
#[allow(clippy::all)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/oef_encoder.rs"));
}
