//! The proto3 JSON reader for numbers, used by the generated serde code in place of
//! `pbjson::private::NumberDeserialize` (`build.rs` rewrites the path).
//!
//! proto3 JSON accepts a number either as a JSON number or as a string holding one
//! (`"1.5"`, `"NaN"`, 64-bit integers as strings). pbjson reads that through an untagged serde
//! enum: the value is first buffered, then tried as a string, and for every plain number that
//! first try builds a formatted error (message, then a search for its line and column) before the
//! number arm succeeds. That was a quarter of the JSON parse time of an experiment. This visitor
//! takes the value in one pass and accepts exactly the same inputs: strings go through
//! [`FromStr`], numbers through `T`'s own `Deserialize` (so range checks and float narrowing are
//! serde's, as before).

use std::{fmt, marker::PhantomData, str::FromStr};

use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, Visitor};

/// A number read from a JSON number or from a string holding one. Same shape as pbjson's type,
/// so the generated code only changes its path.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NumberDeserialize<T>(pub T);

impl<'de, T> Deserialize<'de> for NumberDeserialize<T>
where
    T: FromStr + Deserialize<'de>,
    <T as FromStr>::Err: std::error::Error,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NumberVisitor(PhantomData)).map(NumberDeserialize)
    }
}

/// Visits one JSON scalar as a `T`.
struct NumberVisitor<T>(PhantomData<T>);

impl<'de, T> Visitor<'de> for NumberVisitor<T>
where
    T: FromStr + Deserialize<'de>,
    <T as FromStr>::Err: std::error::Error,
{
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a number, or a string holding a number")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        value.parse().map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        T::deserialize(value.into_deserializer())
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        T::deserialize(value.into_deserializer())
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        T::deserialize(value.into_deserializer())
    }
}

#[cfg(test)]
mod tests {
    use super::NumberDeserialize;

    /// Both readers, on the same JSON text: `Ok` values equal (by `Debug`, so NaN equals NaN),
    /// or both `Err`.
    fn same<T>(json: &str)
    where
        T: std::str::FromStr + for<'de> serde::Deserialize<'de> + std::fmt::Debug,
        <T as std::str::FromStr>::Err: std::error::Error,
    {
        let ours = serde_json::from_str::<NumberDeserialize<T>>(json).map(|n| n.0);
        let pbjson = serde_json::from_str::<pbjson::private::NumberDeserialize<T>>(json).map(|n| n.0);
        match (&ours, &pbjson) {
            (Ok(a), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{json} as {}", std::any::type_name::<T>()),
            (Err(_), Err(_)) => {}
            _ => panic!("{json} as {}: ours {ours:?}, pbjson {pbjson:?}", std::any::type_name::<T>()),
        }
    }

    #[test]
    fn accepts_and_rejects_what_pbjson_does() {
        let inputs = [
            "0", "1", "-1", "42", "1.5", "-2.25", "1e3", "1e400", "-0", "0.1", "3.4028235e38", "1e39",
            "2147483647", "2147483648", "-2147483648", "-2147483649", "4294967295", "4294967296",
            "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551616",
            "\"7\"", "\"-7\"", "\"1.5\"", "\"NaN\"", "\"Infinity\"", "\"-Infinity\"", "\"inf\"", "\"\"",
            "\" 1\"", "\"1e3\"", "\"0x10\"", "\"9223372036854775808\"", "\"abc\"", "true", "null", "[]",
            "{}",
        ];
        for json in inputs {
            same::<i32>(json);
            same::<u32>(json);
            same::<i64>(json);
            same::<u64>(json);
            same::<f32>(json);
            same::<f64>(json);
        }
    }

    #[test]
    fn nan_strings_read_as_nan() {
        let n: NumberDeserialize<f64> = serde_json::from_str("\"NaN\"").expect("NaN");
        assert!(n.0.is_nan());
    }
}
