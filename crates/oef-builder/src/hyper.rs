//! Hyperparameters: path resolution, default distributions from the schema's custom options,
//! and the check of explicit values against a distribution.

use oef_proto::v0::hyperparameter::{HyperParameter, hyper_parameter::Distribution, value};
use prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, MessageDescriptor};
use serde_json::Value;

use crate::{
    BuildError,
    build::{BuildPass, Path},
    pyvalue::{as_number, py_eq, py_float, py_repr, py_str, py_type},
    schema::{FieldPlan, Schema},
};

/// A stored distribution: the message as given (presence kept) and its typed form.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HpEntry {
    pub(crate) message: DynamicMessage,
    pub(crate) typed: HyperParameter,
}

impl HpEntry {
    fn from_typed(schema: &Schema, typed: HyperParameter) -> Result<HpEntry, String> {
        let message = DynamicMessage::decode(
            schema.hyperparameter_message.clone(),
            typed.encode_to_vec().as_slice(),
        )
        .map_err(|e| e.to_string())?;
        Ok(HpEntry { message, typed })
    }

    fn from_json(schema: &Schema, value: &Value) -> Result<HpEntry, String> {
        let message = DynamicMessage::deserialize(schema.hyperparameter_message.clone(), value)
            .map_err(|e| e.to_string())?;
        let typed = HyperParameter::decode(message.encode_to_vec().as_slice())
            .map_err(|e| e.to_string())?;
        Ok(HpEntry { message, typed })
    }
}

/// What a hyperparameter path resolves to.
enum Target {
    /// A scalar or repeated scalar field (later segments are ignored, like the reference).
    Field(prost_reflect::FieldDescriptor),
    /// A message: its single oneof is the hyperparameter.
    Message(MessageDescriptor),
}

fn resolve(key: &str, root: &MessageDescriptor, path: &str) -> Result<Target, BuildError> {
    let mut desc = root.clone();
    let segments: Vec<&str> = path.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let Some(field) = desc.get_field_by_name(segment) else {
            return Err(BuildError::UnknownHyperparameterPath {
                key: key.to_owned(),
                path: path.to_owned(),
                segment: (*segment).to_owned(),
                message: desc.name().to_owned(),
            });
        };
        match field.kind() {
            Kind::Message(m) if i + 1 < segments.len() => desc = m,
            Kind::Message(m) => return Ok(Target::Message(m)),
            _ => return Ok(Target::Field(field)),
        }
    }
    Ok(Target::Message(desc))
}

/// The reference's `add_hyperparameter(path, distribution)`: the checks, in its order, and the
/// entry to store.
pub(crate) fn add(
    schema: &Schema,
    key: &str,
    path: &str,
    distribution: DistributionArg<'_>,
) -> Result<HpEntry, BuildError> {
    if schema.not_optimizable.contains(&path) {
        return Err(BuildError::NotOptimizable {
            key: key.to_owned(),
            path: path.to_owned(),
        });
    }
    let target = resolve(key, &schema.root().desc, path)?;
    let invalid = |reason: String| BuildError::InvalidDistribution {
        key: key.to_owned(),
        path: path.to_owned(),
        reason,
    };
    match distribution {
        DistributionArg::Typed(typed) => HpEntry::from_typed(schema, typed).map_err(invalid),
        DistributionArg::Json(value) => HpEntry::from_json(schema, value).map_err(invalid),
        DistributionArg::Default => {
            let (space, name) = match target {
                Target::Field(field) => (
                    oef_proto::descriptor::field_space(&field),
                    field.name().to_owned(),
                ),
                Target::Message(message) => {
                    let oneofs: Vec<_> = message.oneofs().filter(|o| !o.is_synthetic()).collect();
                    let [oneof] = oneofs.as_slice() else {
                        return Err(BuildError::NotAOneof {
                            key: key.to_owned(),
                            path: path.to_owned(),
                            message: message.name().to_owned(),
                            oneofs: oneofs.len(),
                        });
                    };
                    (
                        oef_proto::descriptor::oneof_space(oneof),
                        oneof.name().to_owned(),
                    )
                }
            };
            let Some(space) = space else {
                return Err(BuildError::NoDefaultDistribution {
                    key: key.to_owned(),
                    path: path.to_owned(),
                    name,
                });
            };
            HpEntry::from_typed(schema, space).map_err(invalid)
        }
    }
}

/// A distribution as handed to [`add`].
pub(crate) enum DistributionArg<'v> {
    /// None given: the schema's default for the field or oneof.
    Default,
    /// A typed distribution.
    Typed(HyperParameter),
    /// The proto3 JSON of a distribution.
    Json(&'v Value),
}

fn categorical_value(v: &oef_proto::v0::hyperparameter::Value) -> Option<Value> {
    Some(match v.value.as_ref()? {
        value::Value::IntegerValue(i) => Value::from(*i),
        value::Value::FloatValue(f) => Value::from(f64::from(*f)),
        value::Value::BooleanValue(b) => Value::Bool(*b),
        value::Value::StringValue(s) => Value::String(s.clone()),
    })
}

impl BuildPass<'_, '_> {
    /// The reference's `check_valid_hp_value`: a kwarg named like the last segment of a
    /// hyperparameter path must lie in its distribution.
    pub(crate) fn check_space(
        &self,
        field: &FieldPlan,
        value: &Value,
        path: &Path<'_>,
    ) -> Result<(), BuildError> {
        let Some(&(hp_path, entry)) = self.hps.get(field.name.as_str()) else {
            return Ok(());
        };
        let invalid_value = |reason: String| BuildError::InvalidValue {
            key: self.key.to_owned(),
            path: path.to_string(),
            reason,
        };
        let out_of_space = |shown: String, reason: String| BuildError::OutOfSpace {
            key: self.key.to_owned(),
            path: path.to_string(),
            value: shown,
            hyperparameter: hp_path.to_owned(),
            reason,
        };
        let member;
        let candidate = if field.is_message_type {
            let Some(object) = value.as_object() else {
                return Err(invalid_value(format!(
                    "a value for the oneof hyperparameter '{hp_path}' must be a dict naming one member, got {} {}",
                    py_type(value),
                    py_repr(value)
                )));
            };
            if object.len() != 1 {
                let keys: Vec<Value> = object.keys().map(|k| Value::String(k.clone())).collect();
                return Err(out_of_space(
                    py_str(value),
                    format!(
                        "the value must name exactly one member of the oneof, got keys {}",
                        py_repr(&Value::Array(keys))
                    ),
                ));
            }
            member = object
                .keys()
                .next()
                .map(|k| Value::String(k.clone()))
                .unwrap_or_default();
            &member
        } else {
            value
        };
        let invalid_distribution = |what: &str| BuildError::InvalidDistribution {
            key: self.key.to_owned(),
            path: hp_path.to_owned(),
            reason: what.to_owned(),
        };
        let (kind, lo, hi) = match &entry.typed.distribution {
            None => return Err(invalid_distribution("it sets no distribution type")),
            Some(Distribution::Categorical(c)) => {
                let values: Option<Vec<Value>> = c.values.iter().map(categorical_value).collect();
                let Some(values) = values else {
                    return Err(invalid_distribution("a categorical value sets nothing"));
                };
                if values.iter().any(|v| py_eq(v, candidate)) {
                    return Ok(());
                }
                return Err(out_of_space(
                    py_str(candidate),
                    format!(
                        "not in the categorical distribution ({})",
                        py_repr(&Value::Array(values))
                    ),
                ));
            }
            Some(Distribution::Uniform(u)) => ("uniform", f64::from(u.min), f64::from(u.max)),
            Some(Distribution::LogUniform(u)) => {
                ("log_uniform", f64::from(u.min), f64::from(u.max))
            }
            Some(Distribution::Normal(n)) => {
                let (mu, sigma) = (f64::from(n.mu), f64::from(n.sigma));
                ("normal", mu - 5.0 * sigma, mu + 5.0 * sigma)
            }
        };
        // The reference compares the raw value (the dict, for a message field).
        let Some(x) = as_number(value) else {
            return Err(invalid_value(format!(
                "cannot compare {} {} with the bounds of the {kind} distribution of hyperparameter '{hp_path}'",
                py_type(value),
                py_repr(value)
            )));
        };
        if lo <= x && x <= hi {
            Ok(())
        } else {
            Err(out_of_space(
                py_str(value),
                format!(
                    "not in the {kind} distribution ({}, {})",
                    py_float(lo),
                    py_float(hi)
                ),
            ))
        }
    }
}
