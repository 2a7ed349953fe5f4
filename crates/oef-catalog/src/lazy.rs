//! [`LazyJson`]: a JSON value kept as its source text until first read.
//!
//! The catalog's `default_args` are 1.7 MB of JSON that become ~15 MB of `serde_json::Value`
//! trees (each small object is a B-tree node). Most commands need one architecture (`oef build`)
//! or none (`oef models`), so each entry's defaults are parsed on first access only.

use std::{
    borrow::Cow,
    fmt,
    ops::{Deref, DerefMut},
    sync::OnceLock,
};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Value, value::RawValue};

/// A JSON value parsed from its text on first access (through `Deref`), then kept.
///
/// It reads and compares like the [`Value`] it holds. Text that is syntactically valid JSON
/// (which the catalog checks when it splits its files) always parses to a `Value` except past
/// serde_json's nesting limit (128) or for a number beyond `f64`: [`LazyJson::from_raw`] takes
/// only text already known to parse (the catalog checks its embedded files in its tests and
/// every other source eagerly, see [`crate::Catalog::from_sources`]).
pub struct LazyJson {
    /// The text: borrowed from the binary for the embedded catalog (a copy costs nothing).
    raw: Option<Cow<'static, RawValue>>,
    value: OnceLock<Value>,
}

impl LazyJson {
    /// A value to be parsed from `raw` on first access.
    pub(crate) fn from_raw(raw: Cow<'static, RawValue>) -> Self {
        Self {
            raw: Some(raw),
            value: OnceLock::new(),
        }
    }

    /// Parses now; an error names what does not parse. Later reads return the parsed value.
    pub fn try_parse(&self) -> Result<&Value, serde_json::Error> {
        if let Some(value) = self.value.get() {
            return Ok(value);
        }
        let parsed = match &self.raw {
            Some(raw) => serde_json::from_str(raw.get())?,
            None => Value::Null,
        };
        Ok(self.value.get_or_init(|| parsed))
    }

    /// Whether the text has been parsed.
    pub fn is_parsed(&self) -> bool {
        self.value.get().is_some()
    }
}

impl From<Value> for LazyJson {
    fn from(value: Value) -> Self {
        Self {
            raw: None,
            value: OnceLock::from(value),
        }
    }
}

impl Deref for LazyJson {
    type Target = Value;

    fn deref(&self) -> &Value {
        // Invariant (see the type's docs): the text parses.
        self.try_parse().unwrap_or_else(|e| panic!("catalog JSON that was checked no longer parses: {e}"))
    }
}

impl DerefMut for LazyJson {
    fn deref_mut(&mut self) -> &mut Value {
        let _ = &**self;
        self.raw = None;
        match self.value.get_mut() {
            Some(value) => value,
            None => unreachable!("parsed just above"),
        }
    }
}

impl Clone for LazyJson {
    /// Clones the text while it is unparsed (cheap), the value after.
    fn clone(&self) -> Self {
        match (self.value.get(), &self.raw) {
            (Some(value), _) => Self::from(value.clone()),
            (None, Some(raw)) => Self::from_raw(raw.clone()),
            (None, None) => Self::from(Value::Null),
        }
    }
}

impl PartialEq for LazyJson {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl PartialEq<Value> for LazyJson {
    fn eq(&self, other: &Value) -> bool {
        **self == *other
    }
}

impl PartialEq<LazyJson> for Value {
    fn eq(&self, other: &LazyJson) -> bool {
        *self == **other
    }
}

impl fmt::Debug for LazyJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Serialize for LazyJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for LazyJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lazy(text: &str) -> LazyJson {
        LazyJson::from_raw(Cow::Owned(RawValue::from_string(text.to_owned()).unwrap()))
    }

    #[test]
    fn parses_on_first_read_only() {
        let value = lazy(r#"{"a": {"b": [1, 2.5, "x"]}}"#);
        assert!(!value.is_parsed());
        let copy = value.clone();
        assert!(!copy.is_parsed());
        assert_eq!(value["a"]["b"][1], json!(2.5));
        assert!(value.is_parsed());
        assert!(!copy.is_parsed());
        assert_eq!(copy, value);
        assert_eq!(copy, json!({"a": {"b": [1, 2.5, "x"]}}));
    }

    #[test]
    fn writes_go_to_the_parsed_value() {
        let mut value = lazy(r#"{"a": 1}"#);
        value["a"] = json!(2);
        assert_eq!(*value, json!({"a": 2}));
        assert_eq!(value.clone(), json!({"a": 2}));
        assert_eq!(serde_json::to_string(&value).unwrap(), r#"{"a":2}"#);
    }

    #[test]
    fn reports_text_that_does_not_parse_as_a_value() {
        // Valid JSON syntax, but beyond f64.
        let value = lazy("1e999");
        assert!(value.try_parse().is_err());
    }
}
