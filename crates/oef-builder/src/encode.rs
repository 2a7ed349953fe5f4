//! Binary encoding of a built message, for the conversion to the prost type.
//!
//! `prost::Message::encode` on a [`DynamicMessage`] recomputes the length of every nested
//! message at every level above it. Here each singular sub-message is encoded once, bottom-up,
//! and appended length-delimited after its parent's other fields (field order is free on the
//! wire; decoding merges).

use prost::{
    Message as _,
    encoding::{WireType, encode_key, encode_varint},
};
use prost_reflect::{DynamicMessage, Value};

/// Encodes `message` (consumed) to protobuf binary.
pub(crate) fn encode(message: DynamicMessage) -> Vec<u8> {
    let mut buf = Vec::with_capacity(2048);
    encode_into(message, &mut buf);
    buf
}

fn encode_into(mut message: DynamicMessage, buf: &mut Vec<u8>) {
    let nested: Vec<_> = message
        .fields()
        .filter(|(_, v)| matches!(v, Value::Message(_)))
        .map(|(f, _)| f)
        .collect();
    let mut children = Vec::with_capacity(nested.len());
    for field in nested {
        if let Some(Value::Message(child)) = message.take_field(&field) {
            children.push((field.number(), child));
        }
    }
    message.encode_raw(buf);
    let mut scratch = Vec::new();
    for (number, child) in children {
        scratch.clear();
        encode_into(child, &mut scratch);
        encode_key(number, WireType::LengthDelimited, buf);
        encode_varint(scratch.len() as u64, buf);
        buf.extend_from_slice(&scratch);
    }
}
