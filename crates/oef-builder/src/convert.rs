//! JSON values to protobuf field values, with the type rules of the Python protobuf message
//! constructor the reference hands its arguments to.
//!
//! * `None` (`null`) leaves a field unset; for a repeated field, empty.
//! * integers: an `int` or a `bool` in range (`float` and `str` are type errors);
//!   `float`/`double`: any number or `bool`, stored as float32 for `float` (overflow gives ±inf);
//!   `bool`: an `int` or a `bool` (non-zero is true); `string`: a `str`;
//!   enums: a value name or a defined number.
//! * repeated fields take any Python iterable: a list, a string (its characters), a dict (its
//!   keys); messages inside are built from dicts whose keys must be fields.
//! * map fields take a dict.

use std::collections::HashMap;

use prost_reflect::{
    DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    Value as PValue,
};
use serde_json::Value;

use crate::pyvalue::{py_repr, py_type};

/// A conversion failure: the dotted path (relative to the field) and the reason.
pub(crate) struct ConvertError {
    pub(crate) suffix: String,
    pub(crate) reason: String,
}

type Result<T> = std::result::Result<T, ConvertError>;

fn fail<T>(reason: String) -> Result<T> {
    Err(ConvertError {
        suffix: String::new(),
        reason,
    })
}

fn at<T>(suffix: String, r: Result<T>) -> Result<T> {
    r.map_err(|mut e| {
        e.suffix = format!("{suffix}{}", e.suffix);
        e
    })
}

/// Converts `value` for `field`; `Ok(None)` leaves the field unset.
pub(crate) fn field_value(field: &FieldDescriptor, value: &Value) -> Result<Option<PValue>> {
    if value.is_null() {
        return Ok(None);
    }
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return fail("map field without an entry message".into());
        };
        let Some(object) = value.as_object() else {
            return fail(format!(
                "expected a dict (map), got {} {}",
                py_type(value),
                py_repr(value)
            ));
        };
        let key_field = entry.map_entry_key_field();
        let value_field = entry.map_entry_value_field();
        let mut map = HashMap::with_capacity(object.len());
        for (k, v) in object {
            let key = match key_field.kind() {
                Kind::String => MapKey::String(k.clone()),
                other => {
                    return at(
                        format!("[{k:?}]"),
                        fail(format!(
                            "map keys must be {other:?}, got str {}",
                            crate::pyvalue::py_str_repr(k)
                        )),
                    );
                }
            };
            let converted = at(format!("[{k:?}]"), single(&value_field.kind(), v))?;
            map.insert(key, converted);
        }
        return Ok(Some(PValue::Map(map)));
    }
    if field.is_list() {
        let kind = field.kind();
        let items: Vec<PValue> = match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| at(format!("[{i}]"), single(&kind, item)))
                .collect::<Result<_>>()?,
            Value::String(s) => s
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    at(
                        format!("[{i}]"),
                        single(&kind, &Value::String(c.to_string())),
                    )
                })
                .collect::<Result<_>>()?,
            Value::Object(map) => map
                .keys()
                .enumerate()
                .map(|(i, k)| at(format!("[{i}]"), single(&kind, &Value::String(k.clone()))))
                .collect::<Result<_>>()?,
            other => {
                return fail(format!(
                    "expected a list (the value must be iterable), got {} {}",
                    py_type(other),
                    py_repr(other)
                ));
            }
        };
        return Ok(Some(PValue::List(items)));
    }
    single(&field.kind(), value).map(Some)
}

/// Builds a message from a dict, like `Message(**dict)`.
pub(crate) fn message_from_dict(desc: &MessageDescriptor, value: &Value) -> Result<DynamicMessage> {
    let Some(object) = value.as_object() else {
        return fail(format!(
            "expected a dict for message {}, got {} {}",
            desc.name(),
            py_type(value),
            py_repr(value)
        ));
    };
    let mut message = DynamicMessage::new(desc.clone());
    for (name, v) in object {
        let Some(field) = desc.get_field_by_name(name) else {
            return fail(format!("message {} has no field '{name}'", desc.name()));
        };
        if let Some(converted) = at(format!(".{name}"), field_value(&field, v))? {
            message.set_field(&field, converted);
        }
    }
    Ok(message)
}

fn int_in(value: &Value, lo: i128, hi: i128, kind: &str) -> Result<i128> {
    let n: i128 = match value {
        Value::Bool(b) => i128::from(*b),
        Value::Number(n) if n.is_i64() => i128::from(n.as_i64().unwrap_or_default()),
        Value::Number(n) if n.is_u64() => i128::from(n.as_u64().unwrap_or_default()),
        other => {
            return fail(format!(
                "expected an integer ({kind}), got {} {}",
                py_type(other),
                py_repr(other)
            ));
        }
    };
    if n < lo || n > hi {
        return fail(format!("value out of range for {kind}: {n}"));
    }
    Ok(n)
}

fn float_of(value: &Value, kind: &str) -> Result<f64> {
    match value {
        Value::Bool(b) => Ok(f64::from(u8::from(*b))),
        Value::Number(n) => Ok(n.as_f64().unwrap_or(f64::NAN)),
        other => fail(format!(
            "expected a number ({kind}), got {} {}",
            py_type(other),
            py_repr(other)
        )),
    }
}

fn enum_value(e: &EnumDescriptor, value: &Value) -> Result<i32> {
    match value {
        Value::String(name) => match e.get_value_by_name(name) {
            Some(v) => Ok(v.number()),
            None => fail(format!(
                "unknown value name {} for enum {} (expected one of {})",
                crate::pyvalue::py_str_repr(name),
                e.name(),
                e.values()
                    .map(|v| v.name().to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
        Value::Bool(_) | Value::Number(_) => {
            let n = int_in(value, i32::MIN.into(), i32::MAX.into(), "enum number")?;
            let n = i32::try_from(n).unwrap_or_default();
            if e.get_value(n).is_some() {
                Ok(n)
            } else {
                fail(format!("{n} is not a number of enum {}", e.name()))
            }
        }
        other => fail(format!(
            "expected a name or number of enum {}, got {} {}",
            e.name(),
            py_type(other),
            py_repr(other)
        )),
    }
}

/// Converts one (non-repeated) value of the given kind.
fn single(kind: &Kind, value: &Value) -> Result<PValue> {
    Ok(match kind {
        Kind::Message(m) => PValue::Message(message_from_dict(m, value)?),
        Kind::Enum(e) => PValue::EnumNumber(enum_value(e, value)?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
            PValue::I32(int_in(value, i32::MIN.into(), i32::MAX.into(), "int32")? as i32)
        }
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            PValue::I64(int_in(value, i64::MIN.into(), i64::MAX.into(), "int64")? as i64)
        }
        Kind::Uint32 | Kind::Fixed32 => {
            PValue::U32(int_in(value, 0, u32::MAX.into(), "uint32")? as u32)
        }
        Kind::Uint64 | Kind::Fixed64 => {
            PValue::U64(int_in(value, 0, u64::MAX.into(), "uint64")? as u64)
        }
        Kind::Float => PValue::F32(float_of(value, "float")? as f32),
        Kind::Double => PValue::F64(float_of(value, "double")?),
        Kind::Bool => PValue::Bool(int_in(value, i128::MIN, i128::MAX, "bool")? != 0),
        Kind::String => match value {
            Value::String(s) => PValue::String(s.clone()),
            other => {
                return fail(format!(
                    "expected a str, got {} {}",
                    py_type(other),
                    py_repr(other)
                ));
            }
        },
        Kind::Bytes => match value {
            Value::String(s) => PValue::Bytes(s.clone().into_bytes().into()),
            other => {
                return fail(format!(
                    "expected bytes, got {} {}",
                    py_type(other),
                    py_repr(other)
                ));
            }
        },
    })
}
